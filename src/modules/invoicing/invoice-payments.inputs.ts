import { Field, ID, InputType } from 'type-graphql';
import { DecimalScalar } from '../../graphql/scalars';
import { RecordedPaymentMethod } from './invoice-payments.types';

@InputType({ description: 'Money for an OPEN invoice that arrived outside the gateways: a bank transfer or cash.' })
export class RecordInvoicePaymentInput {
  @Field(() => ID, { description: 'The invoice paid (inv_…); it must be OPEN.' })
  invoiceId!: string;

  @Field(() => DecimalScalar, {
    description: 'What arrived, in the invoice’s currency, greater than zero. More than amountRemaining is accepted: the excess becomes the customer’s credit.',
  })
  amount!: string;

  @Field(() => RecordedPaymentMethod, { description: 'BANK_TRANSFER or CASH.' })
  method!: RecordedPaymentMethod;

  @Field(() => String, { nullable: true, description: 'The bank’s reference of the transfer (required for BANK_TRANSFER), at most 255 characters.' })
  reference?: string | null;

  @Field(() => String, { nullable: true, description: 'The day the money arrived, YYYY-MM-DD, not after today; today (UTC) when left out.' })
  receivedOn?: string | null;

  @Field(() => ID, {
    nullable: true,
    description: 'The bank account it arrived on (bac_…, same currency as the invoice): its ledger account is debited instead of the default cash at bank.',
  })
  bankAccountId?: string | null;
}

@InputType({ description: 'A card payment of an OPEN invoice, authorized and captured at once through a gateway.' })
export class PayInvoiceInput {
  @Field(() => ID, { description: 'The invoice paid (inv_…); it must be OPEN.' })
  invoiceId!: string;

  @Field({ description: 'The gateway’s token for the card (never a card number).' })
  paymentToken!: string;

  @Field(() => DecimalScalar, {
    nullable: true,
    description: 'What to charge, in the invoice’s currency; at most what is left to pay (a card never overpays). Left out: everything left to pay.',
  })
  amount?: string | null;

  @Field(() => ID, { nullable: true, description: 'The gateway to charge through (gw_…); the tenant’s gateway for the currency when left out.' })
  gatewayId?: string | null;
}

@InputType({ description: 'Money of a bank transfer or cash payment given back to the customer.' })
export class RefundInvoicePaymentInput {
  @Field(() => ID, { description: 'The BANK_TRANSFER or CASH invoice payment (ipy_…).' })
  invoicePaymentId!: string;

  @Field(() => DecimalScalar, {
    nullable: true,
    description: 'How much to give back; everything the payment can still give back when left out (its unused credit first, then what it paid of the invoice).',
  })
  amount?: string | null;

  @Field(() => String, { nullable: true, description: 'Why, at most 500 characters.' })
  reason?: string | null;
}
