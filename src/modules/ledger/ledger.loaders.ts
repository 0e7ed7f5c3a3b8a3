import DataLoader from 'dataloader';
import type { AccountEntity } from './account.entity';
import type { LedgerService } from './ledger.service';
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
  private readonly recentEntriesByCount = new Map<number, DataLoader<string, JournalEntryRecord[]>>();
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
    this.postingsByJournalEntryId = new DataLoader(async (ids) => {
      const byEntry = new Map<string, PostingRecord[]>(ids.map((id) => [id, []]));
      for (const posting of await ledger.postingsByEntryIds(tenantId, ids)) byEntry.get(posting.journalEntryId)?.push(posting);
      return ids.map((id) => byEntry.get(id) ?? []);
    });
  }

  /** The `count` most recent entries of an account; one loader per distinct count in the request. */
  recentEntriesByAccountId(count: number): DataLoader<string, JournalEntryRecord[]> {
    let loader = this.recentEntriesByCount.get(count);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const byAccount = await this.ledger.recentEntriesByAccountIds(this.tenantId, ids, count);
        return ids.map((id) => byAccount.get(id) ?? []);
      });
      this.recentEntriesByCount.set(count, loader);
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
