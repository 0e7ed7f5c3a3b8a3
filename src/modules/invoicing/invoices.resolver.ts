import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { Money, PageArgs, toConnection, toMoney } from '../../graphql/common.objects';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import type { JournalEntryRecord } from '../ledger/ledger-writer';
import { JournalEntry } from '../ledger/ledger.objects';
import { CustomerErrors } from './customers.errors';
import { Customer } from './customers.objects';
import type { CustomerRecord } from './customers.types';
import { InvoiceErrors } from './invoices.errors';
import { CreateInvoiceInput, FinalizeInvoiceInput, InvoiceFilterInput, UpdateInvoiceInput } from './invoices.inputs';
import { Invoice, InvoiceConnection, InvoiceLine, InvoicePayload, InvoiceTaxRateTotal } from './invoices.objects';
import type { InvoiceRecord } from './invoices.types';
import { amountDueOf, amountRemainingOf, InvoiceTaxBehaviour } from './invoices.types';

async function loadInvoice(ctx: RequestContext, id: string): Promise<InvoiceRecord> {
  const invoice = await ctx.loaders.invoicing.invoiceById.load(id);
  if (!invoice) throw InvoiceErrors.invoiceNotFound(id);
  return invoice;
}

const rebuildInvoice = (ctx: RequestContext) => async (ref: unknown) => ({ invoice: await loadInvoice(ctx, (ref as { invoiceId: string }).invoiceId) });

@Resolver(() => Invoice)
export class InvoicesResolver {
  @Query(() => Invoice, { nullable: true, description: 'One invoice of the caller’s tenant; NOT_FOUND otherwise.' })
  invoice(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<InvoiceRecord> {
    return ctx.services.invoices.getInvoice(ctx.principal.tenantId, id);
  }

  @Query(() => InvoiceConnection, { nullable: true, description: 'The tenant’s invoices, oldest first; filter by status, customer, overdue, issue and due dates.' })
  async invoices(
    @Args() page: PageArgs,
    @Arg('filter', () => InvoiceFilterInput, { nullable: true }) filter: InvoiceFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.invoices.listInvoices(tenantId, filter ?? {}, page);
    for (const invoice of result.items) ctx.loaders.invoicing.invoiceById.prime(invoice.id, invoice);
    return toConnection(result, (i) => i.id, (i) => i, () => ctx.services.invoices.countInvoices(tenantId, filter ?? {}));
  }

  @Mutation(() => InvoicePayload, {
    nullable: true,
    description: 'Creates a DRAFT invoice with its amounts computed. A bad field is VALIDATION_FAILED naming it, and nothing is stored; another tenant’s customer is NOT_FOUND.',
  })
  createInvoice(
    @Arg('input') input: CreateInvoiceInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ invoice: await ctx.services.invoices.createInvoice(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: rebuildInvoice(ctx),
    });
  }

  @Mutation(() => InvoicePayload, {
    nullable: true,
    description: 'Changes a DRAFT invoice (lines are replaced whole and recomputed). Any other status is INVALID_STATE_TRANSITION, and nothing changes.',
  })
  updateInvoice(
    @Arg('input') input: UpdateInvoiceInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ invoice: await ctx.services.invoices.updateInvoice(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: rebuildInvoice(ctx),
    });
  }

  @Mutation(() => InvoicePayload, {
    nullable: true,
    description:
      'DRAFT → OPEN in one transaction: takes the next invoice number, sets the issue and due dates, and posts receivable, revenue and tax payable. A second finalisation is INVALID_STATE_TRANSITION.',
  })
  finalizeInvoice(
    @Arg('input') input: FinalizeInvoiceInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ invoice: await ctx.services.invoices.finalizeInvoice(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: rebuildInvoice(ctx),
    });
  }

  @FieldResolver(() => Customer, { description: 'The customer invoiced.' })
  async customer(@Root() invoice: InvoiceRecord, @Ctx() ctx: RequestContext): Promise<CustomerRecord> {
    const customer = await ctx.loaders.invoicing.customerById.load(invoice.customerId);
    if (!customer) throw CustomerErrors.customerNotFound(invoice.customerId);
    return customer;
  }

  @FieldResolver(() => [InvoiceLine], { description: 'The lines, in the order given (at most 1,000).' })
  async lines(@Root() invoice: InvoiceRecord, @Ctx() ctx: RequestContext): Promise<InvoiceLine[]> {
    const money = (minor: bigint) => toMoney(minor, invoice.currency);
    return (await ctx.loaders.invoicing.linesByInvoiceId.load(invoice.id)).map((line) => ({
      description: line.description,
      quantity: line.quantity,
      unitPrice: money(line.unitPriceMinor),
      taxRate: line.taxRate,
      taxBehaviour: line.taxBehaviour as InvoiceTaxBehaviour,
      discountPercent: line.discountPercent,
      gross: money(line.grossMinor),
      discount: money(line.discountMinor),
      net: money(line.netMinor),
      tax: money(line.taxMinor),
      total: money(line.totalMinor),
    }));
  }

  @FieldResolver(() => Money, { description: 'Σ line net: excluding tax, after discounts.' })
  subtotal(@Root() invoice: InvoiceRecord): Money {
    return toMoney(invoice.subtotalMinor, invoice.currency);
  }

  @FieldResolver(() => Money, { description: 'Σ line discounts (already out of subtotal).' })
  discountTotal(@Root() invoice: InvoiceRecord): Money {
    return toMoney(invoice.discountTotalMinor, invoice.currency);
  }

  @FieldResolver(() => Money, { description: 'Σ line tax.' })
  taxTotal(@Root() invoice: InvoiceRecord): Money {
    return toMoney(invoice.taxTotalMinor, invoice.currency);
  }

  @FieldResolver(() => [InvoiceTaxRateTotal], { description: 'Tax per rate, in ascending order of rate.' })
  taxByRate(@Root() invoice: InvoiceRecord): InvoiceTaxRateTotal[] {
    return invoice.taxByRate.map((group) => ({ rate: group.rate, taxable: toMoney(group.taxableMinor, invoice.currency), tax: toMoney(group.taxMinor, invoice.currency) }));
  }

  @FieldResolver(() => Money, { description: 'Σ line totals = subtotal + taxTotal.' })
  total(@Root() invoice: InvoiceRecord): Money {
    return toMoney(invoice.totalMinor, invoice.currency);
  }

  @FieldResolver(() => Money, { description: 'What the customer owes in all: the total less what credit notes took off it.' })
  amountDue(@Root() invoice: InvoiceRecord): Money {
    return toMoney(amountDueOf(invoice), invoice.currency);
  }

  @FieldResolver(() => Money, { description: 'Payments applied to the invoice (card, bank transfer, cash, customer credit), less refunds of them.' })
  amountPaid(@Root() invoice: InvoiceRecord): Money {
    return toMoney(invoice.amountPaidMinor, invoice.currency);
  }

  @FieldResolver(() => Money, { description: 'What credit notes took off the total (the part of them that became customer credit is not counted).' })
  amountCredited(@Root() invoice: InvoiceRecord): Money {
    return toMoney(invoice.amountCreditedMinor, invoice.currency);
  }

  @FieldResolver(() => Money, { description: 'Written off as bad debt when marked UNCOLLECTIBLE.' })
  amountWrittenOff(@Root() invoice: InvoiceRecord): Money {
    return toMoney(invoice.amountWrittenOffMinor, invoice.currency);
  }

  @FieldResolver(() => Money, { description: 'amountDue − amountPaid − amountWrittenOff: what is still to be paid (zero on a VOID invoice).' })
  amountRemaining(@Root() invoice: InvoiceRecord): Money {
    return toMoney(amountRemainingOf(invoice), invoice.currency);
  }

  @FieldResolver(() => Boolean, { description: 'OPEN and past its due date (UTC days, by the server’s clock); due today is not overdue.' })
  overdue(@Root() invoice: InvoiceRecord, @Ctx() ctx: RequestContext): boolean {
    return ctx.services.invoices.isOverdue(invoice);
  }

  @FieldResolver(() => JournalEntry, { nullable: true, description: 'The entry finalisation posted; null while DRAFT (or for an invoice totalling zero).' })
  async journalEntry(@Root() invoice: InvoiceRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return invoice.journalEntryId === null ? null : ctx.loaders.ledger.journalEntryById.load(invoice.journalEntryId);
  }
}

export const INVOICE_RESOLVERS = [InvoicesResolver] as const;
