import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Mutation, Query, Resolver, Root } from 'type-graphql';
import { idKindOf } from '../../common/ids';
import { readPageRequest } from '../../common/pagination';
import type { RequestContext } from '../../graphql/context';
import { listPageSizes, Money, PageArgs, toConnection, toMoney } from '../../graphql/common.objects';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import type { JournalEntryRecord } from '../ledger/ledger-writer';
import { JournalEntry } from '../ledger/ledger.objects';
import { CreditNoteErrors } from './credit-notes.errors';
import { CreateCreditNoteInput, CreditNoteFilterInput } from './credit-notes.inputs';
import { CreateCreditNotePayload, CreditNote, CreditNoteConnection, CreditNoteLine } from './credit-notes.objects';
import type { CreditNoteRecord } from './credit-notes.types';
import { CustomerErrors } from './customers.errors';
import { Customer } from './customers.objects';
import type { CustomerRecord } from './customers.types';
import { InvoiceErrors } from './invoices.errors';
import { Invoice, InvoiceTaxRateTotal } from './invoices.objects';
import type { InvoiceRecord } from './invoices.types';
import { InvoiceTaxBehaviour } from './invoices.types';

/** An invoice's credit notes are few: a small page by default, which the query cost limit counts the same. */
const INVOICE_CREDIT_NOTE_SIZES = listPageSizes('Invoice.creditNotes', { defaultSize: 20, maxSize: 100 });

async function loadCreditNote(ctx: RequestContext, id: string): Promise<CreditNoteRecord> {
  const note = await ctx.loaders.invoicing.creditNoteById.load(id);
  if (!note) throw CreditNoteErrors.creditNoteNotFound(id);
  return note;
}

async function loadInvoice(ctx: RequestContext, id: string): Promise<InvoiceRecord> {
  const invoice = await ctx.loaders.invoicing.invoiceById.load(id);
  if (!invoice) throw InvoiceErrors.invoiceNotFound(id);
  return invoice;
}

@Resolver(() => CreditNote)
export class CreditNotesResolver {
  @Query(() => CreditNote, { nullable: true, description: 'One credit note of the caller’s tenant; NOT_FOUND otherwise.' })
  creditNote(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<CreditNoteRecord> {
    return ctx.services.creditNotes.getCreditNote(ctx.principal.tenantId, id);
  }

  @Query(() => CreditNoteConnection, {
    nullable: true,
    description: 'The tenant’s credit notes, oldest first; filter by invoice and customer (one that is not the tenant’s is NOT_FOUND).',
  })
  async creditNotes(
    @Args() page: PageArgs,
    @Arg('filter', () => CreditNoteFilterInput, { nullable: true }) filter: CreditNoteFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.creditNotes.listCreditNotes(tenantId, filter ?? {}, page);
    for (const note of result.items) ctx.loaders.invoicing.creditNoteById.prime(note.id, note);
    return toConnection(result, (n) => n.id, (n) => n, () => ctx.services.creditNotes.countCreditNotes(tenantId, filter ?? {}));
  }

  @Mutation(() => CreateCreditNotePayload, {
    nullable: true,
    description:
      'Credits an OPEN or PAID invoice, for some of its lines or for a tax-inclusive amount, never more than its total less earlier credit notes: numbered CN-…, posted (refunds and tax payable against receivable and customer credit); what the invoice still owed is reduced first and the rest becomes customer credit. An OPEN invoice left owing nothing becomes PAID.',
  })
  createCreditNote(
    @Arg('input') input: CreateCreditNoteInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: (handle) => ctx.services.creditNotes.createCreditNote(ctx.principal.tenantId, input, handle ?? undefined),
      rebuild: async (ref) => {
        const { creditNoteId, invoiceId } = ref as { creditNoteId: string; invoiceId: string };
        return { creditNote: await loadCreditNote(ctx, creditNoteId), invoice: await loadInvoice(ctx, invoiceId) };
      },
    });
  }

  @FieldResolver(() => Invoice, { description: 'The invoice credited.' })
  invoice(@Root() note: CreditNoteRecord, @Ctx() ctx: RequestContext): Promise<InvoiceRecord> {
    return loadInvoice(ctx, note.invoiceId);
  }

  @FieldResolver(() => Customer, { description: 'The invoice’s customer.' })
  async customer(@Root() note: CreditNoteRecord, @Ctx() ctx: RequestContext): Promise<CustomerRecord> {
    const customer = await ctx.loaders.invoicing.customerById.load(note.customerId);
    if (!customer) throw CustomerErrors.customerNotFound(note.customerId);
    return customer;
  }

  @FieldResolver(() => [CreditNoteLine], { nullable: true, description: 'The invoice lines credited; null for a credit note of an amount.' })
  lines(@Root() note: CreditNoteRecord): CreditNoteLine[] | null {
    const money = (minor: bigint) => toMoney(minor, note.currency);
    return (
      note.lines?.map((line) => ({
        position: line.position,
        description: line.description,
        quantity: line.quantity,
        taxRate: line.taxRate,
        taxBehaviour: line.taxBehaviour as InvoiceTaxBehaviour,
        net: money(line.netMinor),
        tax: money(line.taxMinor),
        total: money(line.totalMinor),
      })) ?? null
    );
  }

  @FieldResolver(() => Money, { description: 'Credited, excluding tax: Σ net of taxByRate.' })
  subtotal(@Root() note: CreditNoteRecord): Money {
    return toMoney(note.subtotalMinor, note.currency);
  }

  @FieldResolver(() => Money, { description: 'Tax credited: Σ tax of taxByRate.' })
  taxTotal(@Root() note: CreditNoteRecord): Money {
    return toMoney(note.taxTotalMinor, note.currency);
  }

  @FieldResolver(() => [InvoiceTaxRateTotal], { description: 'Net and tax credited per rate, in ascending order of rate (only the rates it credits).' })
  taxByRate(@Root() note: CreditNoteRecord): InvoiceTaxRateTotal[] {
    return note.taxByRate.map((group) => ({ rate: group.rate, taxable: toMoney(group.taxableMinor, note.currency), tax: toMoney(group.taxMinor, note.currency) }));
  }

  @FieldResolver(() => Money, { description: 'Credited, including tax: subtotal + taxTotal = appliedToInvoice + creditedToCustomer.' })
  total(@Root() note: CreditNoteRecord): Money {
    return toMoney(note.totalMinor, note.currency);
  }

  @FieldResolver(() => Money, { description: 'The part that reduced what the invoice still owed (its amountRemaining at the time, at most).' })
  appliedToInvoice(@Root() note: CreditNoteRecord): Money {
    return toMoney(note.appliedToInvoiceMinor, note.currency);
  }

  @FieldResolver(() => Money, { description: 'The rest, given to the customer as credit for later invoices.' })
  creditedToCustomer(@Root() note: CreditNoteRecord): Money {
    return toMoney(note.creditedToCustomerMinor, note.currency);
  }

  @FieldResolver(() => JournalEntry, { description: 'The entry the credit note posted.' })
  async journalEntry(@Root() note: CreditNoteRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return note.journalEntryId === null ? null : ctx.loaders.ledger.journalEntryById.load(note.journalEntryId);
  }
}

/** The invoice's fields that credit notes, void and write-off add. */
@Resolver(() => Invoice)
export class InvoiceCreditNotesResolver {
  @FieldResolver(() => CreditNoteConnection, { description: 'The invoice’s credit notes, oldest first; 20 per page by default, at most 100.' })
  async creditNotes(@Root() invoice: InvoiceRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const window = readPageRequest(page, INVOICE_CREDIT_NOTE_SIZES, (key) => idKindOf(key) === 'creditNote');
    const result = await ctx.loaders.invoicing.creditNotesPageByInvoiceId(window).load(invoice.id);
    return toConnection(result, (n) => n.id, (n) => n, () => ctx.loaders.invoicing.creditNoteCountByInvoiceId.load(invoice.id));
  }

  @FieldResolver(() => JournalEntry, { nullable: true, description: 'The entry that reversed the finalisation’s when the invoice was voided (null otherwise, or when it totalled zero).' })
  async voidEntry(@Root() invoice: InvoiceRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return invoice.voidEntryId === null ? null : ctx.loaders.ledger.journalEntryById.load(invoice.voidEntryId);
  }

  @FieldResolver(() => JournalEntry, { nullable: true, description: 'The bad-debt entry posted when the invoice was marked UNCOLLECTIBLE (null otherwise).' })
  async writeOffEntry(@Root() invoice: InvoiceRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return invoice.writeOffEntryId === null ? null : ctx.loaders.ledger.journalEntryById.load(invoice.writeOffEntryId);
  }
}
export const CREDIT_NOTE_RESOLVERS = [CreditNotesResolver, InvoiceCreditNotesResolver] as const;
