import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { Money, Node } from '../../graphql/common.objects';
import { CurrencyScalar } from '../../graphql/scalars';
import { Payment } from '../payments/payments.objects';
import { Invoice } from './invoices.objects';
import { InvoicePaymentMethod, InvoicePaymentStatus, RecordedPaymentMethod } from './invoice-payments.types';

registerEnumType(InvoicePaymentMethod, {
  name: 'InvoicePaymentMethod',
  description: 'How an invoice was paid.',
  valuesConfig: {
    CARD: { description: 'By card through a gateway (payInvoice): a payment of the payments module, linked to the invoice.' },
    BANK_TRANSFER: { description: 'A bank transfer, recorded by hand or matched by reconciliation.' },
    CASH: { description: 'Cash, recorded by hand.' },
    CUSTOMER_CREDIT: { description: 'The customer’s unapplied credit, applied when the invoice was finalised.' },
  },
});
registerEnumType(RecordedPaymentMethod, {
  name: 'RecordedPaymentMethod',
  description: 'How money recorded with recordInvoicePayment arrived.',
  valuesConfig: {
    BANK_TRANSFER: { description: 'A bank transfer; needs its reference.' },
    CASH: { description: 'Cash.' },
  },
});
registerEnumType(InvoicePaymentStatus, {
  name: 'InvoicePaymentStatus',
  description: 'Where a payment of an invoice is.',
  valuesConfig: {
    PENDING: { description: 'A card payment still at the gateway; its amount is held against the invoice until it settles.' },
    SUCCEEDED: { description: 'Paid: applied to the invoice (and any excess credited to the customer).' },
    FAILED: { description: 'Declined, failed or released: it paid nothing.' },
  },
});

@ObjectType({ implements: Node, description: 'One payment of an invoice: by card, bank transfer, cash, or the customer’s credit.' })
export class InvoicePayment extends Node {
  @Field(() => InvoicePaymentMethod, { description: 'CARD, BANK_TRANSFER, CASH or CUSTOMER_CREDIT.' })
  method!: InvoicePaymentMethod;

  @Field(() => InvoicePaymentStatus, { description: 'PENDING, SUCCEEDED or FAILED.' })
  status!: InvoicePaymentStatus;

  @Field(() => CurrencyScalar, { description: 'The invoice’s currency.' })
  currency!: string;

  @Field(() => String, { nullable: true, description: 'The bank’s reference of a transfer, or what was given for cash; null otherwise.' })
  reference!: string | null;

  @Field({ description: 'The day the money arrived, YYYY-MM-DD (UTC).' })
  receivedOn!: string;

  @Field(() => String, { nullable: true, description: 'Why a FAILED card payment failed (the gateway’s decline code); null otherwise.' })
  failureCode!: string | null;

  @Field({ description: 'When it was recorded.' })
  createdAt!: Date;

  @Field({ description: 'When it last changed (settled, refunded).' })
  updatedAt!: Date;
}

@ObjectType({ description: 'What recordInvoicePayment answers.' })
export class RecordInvoicePaymentPayload {
  @Field(() => Invoice, { description: 'The invoice after the payment.' })
  invoice!: Invoice;

  @Field(() => InvoicePayment, { description: 'The payment recorded.' })
  invoicePayment!: InvoicePayment;
}

@ObjectType({ description: 'What payInvoice answers once the card was charged.' })
export class PayInvoicePayload {
  @Field(() => Invoice, { description: 'The invoice after the payment.' })
  invoice!: Invoice;

  @Field(() => InvoicePayment, { description: 'The invoice’s record of the card payment.' })
  invoicePayment!: InvoicePayment;

  @Field(() => Payment, { description: 'The card payment of the payments module (CAPTURED), linked to the invoice.' })
  payment!: Payment;
}

@ObjectType({ description: 'What refundInvoicePayment answers.' })
export class RefundInvoicePaymentPayload {
  @Field(() => Invoice, { description: 'The invoice after the refund (OPEN again when the refund took back what paid it).' })
  invoice!: Invoice;

  @Field(() => InvoicePayment, { description: 'The payment refunded, with its refunded amount.' })
  invoicePayment!: InvoicePayment;
}

@ObjectType({ description: 'What a customer owes and is owed in one currency.' })
export class CustomerBalance {
  @Field(() => CurrencyScalar, { description: 'The currency of both amounts.' })
  currency!: string;

  @Field(() => Money, { description: 'Σ amountRemaining of the customer’s OPEN invoices in this currency.' })
  openReceivables!: Money;

  @Field(() => Money, { description: 'Credit the customer has not used yet (overpayments, credit notes beyond what an invoice owed); their next invoices use it.' })
  unappliedCredit!: Money;
}
