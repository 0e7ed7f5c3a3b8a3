import { Args, Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { idKindOf } from '../../common/ids';
import { readPageRequest } from '../../common/pagination';
import { listPageSizes, PageArgs } from '../../graphql/common.objects';
import type { RequestContext } from '../../graphql/context';
import { journalEntryPageOf } from '../ledger/journal-entry-pages';
import { JournalEntryConnection } from '../ledger/ledger.objects';
import { Invoice } from './invoices.objects';
import type { InvoiceRecord } from './invoices.types';

/** An invoice's entries are few (finalisation, each payment and credit note, a void or write-off). */
const JOURNAL_ENTRY_PAGE_SIZES = listPageSizes('Invoice.journalEntries', { defaultSize: 20, maxSize: 100 });

@Resolver(() => Invoice)
export class InvoiceJournalEntriesResolver {
  @FieldResolver(() => JournalEntryConnection, {
    description:
      'Every journal entry the invoice caused, oldest first: its finalisation, the entries of its payments and credit notes, and its void or write-off. 20 per page by default, at most 100.',
  })
  async journalEntries(@Root() invoice: InvoiceRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const window = readPageRequest(page, JOURNAL_ENTRY_PAGE_SIZES, (key) => idKindOf(key) === 'journalEntry');
    const own = [invoice.journalEntryId, invoice.voidEntryId, invoice.writeOffEntryId].filter((id): id is string => id !== null);
    const settlement = await ctx.loaders.invoicing.settlementEntryIdsByInvoiceId.load(invoice.id);
    return journalEntryPageOf(ctx.loaders.ledger.journalEntryById, [...own, ...settlement], window);
  }
}

export const INVOICE_ENTRY_RESOLVERS = [InvoiceJournalEntriesResolver] as const;
