import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, Info, Mutation, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { Money, toMoney } from '../../graphql/common.objects';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import type { JournalEntryRecord } from '../ledger/ledger-writer';
import { JournalEntry } from '../ledger/ledger.objects';
import { Payment } from '../payments/payments.objects';
import type { PaymentRecord } from '../payments/payments.types';
import { Customer } from './customers.objects';
import type { CustomerRecord } from './customers.types';
import { InvoicePaymentErrors } from './invoice-payments.errors';
import { PayInvoiceInput, RecordInvoicePaymentInput, RefundInvoicePaymentInput } from './invoice-payments.inputs';
import { CustomerBalance, InvoicePayment, PayInvoicePayload, RecordInvoicePaymentPayload, RefundInvoicePaymentPayload } from './invoice-payments.objects';
import type { InvoicePaymentRecord } from './invoice-payments.types';
import { InvoiceErrors } from './invoices.errors';
import { Invoice } from './invoices.objects';
import type { InvoiceRecord } from './invoices.types';

async function loadInvoice(ctx: RequestContext, id: string): Promise<InvoiceRecord> {
  const invoice = await ctx.loaders.invoicing.invoiceById.load(id);
  if (!invoice) throw InvoiceErrors.invoiceNotFound(id);
  return invoice;
}

async function loadInvoicePayment(ctx: RequestContext, id: string): Promise<InvoicePaymentRecord> {
  const payment = await ctx.loaders.invoicing.payments.invoicePaymentById.load(id);
  if (!payment) throw InvoicePaymentErrors.invoicePaymentNotFound(id);
  return payment;
}

/** The payload of an invoice payment from its id, when no response was stored (a crash between commit and answer). */
const rebuildInvoicePayment = (ctx: RequestContext) => async (ref: unknown) => {
  const invoicePayment = await loadInvoicePayment(ctx, (ref as { invoicePaymentId: string }).invoicePaymentId);
  return { invoice: await loadInvoice(ctx, invoicePayment.invoiceId), invoicePayment };
};

@Resolver(() => InvoicePayment)
export class InvoicePaymentsResolver {
  @Mutation(() => RecordInvoicePaymentPayload, {
    nullable: true,
    description:
      'Records a bank transfer or cash payment of an OPEN invoice: debit cash (the bank account’s ledger account, or cash at bank), credit accounts receivable what it applies, credit customer credit any excess. Nothing left to pay makes the invoice PAID. Another status is INVALID_STATE_TRANSITION, and nothing changes.',
  })
  recordInvoicePayment(
    @Arg('input') input: RecordInvoicePaymentInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ctx.services.invoicePayments.recordInvoicePayment(ctx.principal.tenantId, input, handle ?? undefined),
      rebuild: rebuildInvoicePayment(ctx),
    });
  }

  @Mutation(() => PayInvoicePayload, {
    nullable: true,
    description:
      'Charges a card for an OPEN invoice: authorizes and captures at once through a gateway, as a payment linked to the invoice (its capture credits accounts receivable). At most what is left to pay (VALIDATION_FAILED otherwise, nothing charged); a partial payment leaves the invoice OPEN. A decline is GATEWAY_DECLINED and leaves the invoice unchanged. Retried under the same idempotencyKey, it never charges twice. Needs invoices:write and payments:write.',
  })
  payInvoice(
    @Arg('input') input: PayInvoiceInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const { tenantId } = ctx.principal;
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ctx.services.invoiceCardPayments.payInvoice(tenantId, input, handle ?? undefined),
      rebuild: async (ref) => ctx.services.invoiceCardPayments.resultOfPayment(tenantId, await ctx.services.payments.getPayment(tenantId, (ref as { paymentId: string }).paymentId)),
    });
  }

  @Mutation(() => RefundInvoicePaymentPayload, {
    nullable: true,
    description:
      'Gives back money of a BANK_TRANSFER or CASH invoice payment: its unused customer credit first, then what it paid of the invoice, which reopens the invoice (PAID → OPEN). Never more than the payment can still give back (VALIDATION_FAILED). Card payments are refunded with refundPayment on their payment, which reopens the invoice the same way.',
  })
  refundInvoicePayment(
    @Arg('input') input: RefundInvoicePaymentInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ctx.services.invoicePayments.refundInvoicePayment(ctx.principal.tenantId, input, handle ?? undefined),
      rebuild: rebuildInvoicePayment(ctx),
    });
  }

  @FieldResolver(() => Invoice, { description: 'The invoice paid.' })
  invoice(@Root() payment: InvoicePaymentRecord, @Ctx() ctx: RequestContext): Promise<InvoiceRecord> {
    return loadInvoice(ctx, payment.invoiceId);
  }

  @FieldResolver(() => Money, { description: 'What the customer paid (for a PENDING card payment: what is being charged).' })
  amount(@Root() payment: InvoicePaymentRecord): Money {
    return toMoney(payment.amountMinor, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'The part that paid the invoice (counted in its amountPaid, less refunds).' })
  applied(@Root() payment: InvoicePaymentRecord): Money {
    return toMoney(payment.appliedMinor, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'The part beyond what the invoice still owed, which became the customer’s credit.' })
  credited(@Root() payment: InvoicePaymentRecord): Money {
    return toMoney(payment.creditedMinor, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'Given back to the customer so far.' })
  refunded(@Root() payment: InvoicePaymentRecord): Money {
    return toMoney(payment.refundedMinor, payment.currency);
  }

  @FieldResolver(() => Payment, { nullable: true, description: 'The card payment of the payments module, for CARD; null otherwise.' })
  async payment(@Root() payment: InvoicePaymentRecord, @Ctx() ctx: RequestContext): Promise<PaymentRecord | null> {
    return payment.paymentId === null ? null : ctx.loaders.payments.paymentById.load(payment.paymentId);
  }

  @FieldResolver(() => JournalEntry, {
    nullable: true,
    description: 'The entry that booked it (for CARD, the capture’s entry is on the payment’s timeline); null while PENDING or when FAILED.',
  })
  async journalEntry(@Root() payment: InvoicePaymentRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return payment.journalEntryId === null ? null : ctx.loaders.ledger.journalEntryById.load(payment.journalEntryId);
  }
}

@Resolver(() => Invoice)
export class InvoicePaymentsOfInvoiceResolver {
  @FieldResolver(() => [InvoicePayment], { description: 'Every payment of the invoice, oldest first (failed card attempts included).' })
  payments(@Root() invoice: InvoiceRecord, @Ctx() ctx: RequestContext): Promise<InvoicePaymentRecord[]> {
    return ctx.loaders.invoicing.payments.paymentsByInvoiceId.load(invoice.id);
  }
}

@Resolver(() => Customer)
export class CustomerBalancesResolver {
  @FieldResolver(() => [CustomerBalance], {
    description: 'Per currency (in currency order, only currencies with something owed or credited): open receivables and unapplied credit.',
  })
  async balances(@Root() customer: CustomerRecord, @Ctx() ctx: RequestContext): Promise<CustomerBalance[]> {
    return (await ctx.loaders.invoicing.payments.balancesByCustomerId.load(customer.id)).map((balance) => ({
      currency: balance.currency,
      openReceivables: toMoney(balance.openReceivablesMinor, balance.currency),
      unappliedCredit: toMoney(balance.unappliedCreditMinor, balance.currency),
    }));
  }
}

export const INVOICE_PAYMENT_RESOLVERS = [InvoicePaymentsResolver, InvoicePaymentsOfInvoiceResolver, CustomerBalancesResolver] as const;
