import DataLoader from 'dataloader';
import type { Page, PageWindow } from '../../common/pagination';
import type { AccountEntity } from './account.entity';
import type { AccountEntry, LedgerService } from './ledger.service';
import type { AccountTotals } from './ledger.types';
import type { JournalEntryRecord, PostingRecord } from './ledger-writer';

/**
 * The ledger's DataLoaders, one set per request and per tenant: every key a request asks for in one
 * tick of the event loop is fetched with one statement.
 */
export class LedgerLoaders {
  readonly accountById: DataLoader<string, AccountEntity | null>;
  readonly journalEntryById: DataLoader<string, JournalEntryRecord | null>;
  readonly postingsByJournalEntryId: DataLoader<string, PostingRecord[]>;
  readonly postingById: DataLoader<string, PostingRecord | null>;
  private readonly entriesPagesByWindow = new Map<string, DataLoader<string, Page<AccountEntry>>>();
  private readonly totalsByAsOf = new Map<number, DataLoader<string, AccountTotals>>();

  constructor(
    private readonly ledger: LedgerService,
    private readonly tenantId: string,
  ) {
    this.accountById = new DataLoader(async (ids) => {
      const found = new Map((await ledger.accountsByIds(tenantId, ids)).map((a) => [a.id, a]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.journalEntryById = new DataLoader(async (ids) => {
      const found = new Map((await ledger.entriesByIds(tenantId, ids)).map((e) => [e.id, e]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.postingById = new DataLoader(async (ids) => {
      const found = new Map((await ledger.postingsByIds(tenantId, ids)).map((p) => [p.id, p]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.postingsByJournalEntryId = new DataLoader(async (ids) => {
      const byEntry = new Map<string, PostingRecord[]>(ids.map((id) => [id, []]));
      for (const posting of await ledger.postingsByEntryIds(tenantId, ids)) byEntry.get(posting.journalEntryId)?.push(posting);
      return ids.map((id) => byEntry.get(id) ?? []);
    });
  }

  /** A page of an account's entries, newest first; one loader per distinct page request in the request. */
  entriesPageByAccountId(window: PageWindow): DataLoader<string, Page<AccountEntry>> {
    const key = JSON.stringify(window);
    let loader = this.entriesPagesByWindow.get(key);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const pages = await this.ledger.entriesPagesByAccountIds(this.tenantId, ids, window);
        return ids.map((id) => pages.get(id) as Page<AccountEntry>);
      });
      this.entriesPagesByWindow.set(key, loader);
    }
    return loader;
  }

  /** Account totals summed from postings up to `asOf`; one loader per distinct instant in the request. */
  totalsAsOf(asOf: Date): DataLoader<string, AccountTotals> {
    let loader = this.totalsByAsOf.get(asOf.getTime());
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const totals = await this.ledger.totalsAsOf(this.tenantId, ids, asOf);
        return ids.map((id) => totals.get(id) as AccountTotals);
      });
      this.totalsByAsOf.set(asOf.getTime(), loader);
    }
    return loader;
  }

  /** Seeds the loaders with what a write just returned, so its payload is served without reading back. */
  primeWrite(entry: JournalEntryRecord, postings: PostingRecord[] | null): void {
    this.journalEntryById.clear(entry.id).prime(entry.id, entry);
    if (postings) this.postingsByJournalEntryId.clear(entry.id).prime(entry.id, postings);
  }
}
