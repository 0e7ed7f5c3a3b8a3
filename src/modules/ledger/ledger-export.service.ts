import type { DataSource } from 'typeorm';
import { validationError } from '../../common/errors';
import { encodeCursor, type KeysetSlice } from '../../common/pagination';
import { requireStorableDate, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
import { keysetSql } from '../../db/keyset';
import type { AccountEntity } from './account.entity';
import { type JournalEntryRecord, type PostingRecord, postingFromRow } from './ledger-writer';
import { postingKey, type LedgerService, type TrialBalanceLine, type TrialBalanceReport } from './ledger.service';
import { PostingPhase } from './ledger.types';

/** Rows an export reads per statement: a few thousand, so memory stays flat whatever the export's size. */
export const EXPORT_PAGE_ROWS_DEFAULT = 2000;
/** The trial balance is paged like the API's trialBalance lines, which take at most this many. */
const TRIAL_BALANCE_PAGE_MAX = 500;

/** Which postings an export covers: booked (effective) from `from` inclusive to `to` exclusive; null is open. */
export interface ExportRange {
  from: Date | null;
  to: Date | null;
}

/** A posted posting with its entry and account, as an export line shows it. */
export interface ExportPosting {
  posting: PostingRecord;
  entry: JournalEntryRecord;
  account: AccountEntity;
}

/** A posted entry with its posted postings, in posting id order: one transaction of the journal export. */
export interface ExportEntry {
  entry: JournalEntryRecord;
  /** When its postings were booked (a pending entry's capture books later than the entry's own date). */
  bookedAt: Date;
  postings: ExportPosting[];
}

export interface LedgerExportOptions {
  /** EXPORT_PAGE_ROWS: postings (or trial balance lines, up to 500) read per statement. */
  pageRows: number;
}

/**
 * The ledger's exports, read in keyset pages so that a million postings cost the memory of one page:
 * every method here is an async generator of pages, and the caller (the export routes) writes each
 * page out before asking for the next. Stopping the iteration (`return()`, or `signal` aborting when
 * the client goes away) stops the reads. Only the books are exported: postings of the POSTED phase,
 * which exist only on POSTED entries (a pending hold, its release and a voided authorization are not
 * in the books, as they are not in the trial balance's posted balances).
 */
export class LedgerExportService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly ledger: LedgerService,
    private readonly options: LedgerExportOptions,
  ) {}

  /** Checks a range before any read: both ends storable, `to` after `from`. */
  requireRange(range: ExportRange): ExportRange {
    if (range.from) requireStorableDate(range.from, 'from');
    if (range.to) requireStorableDate(range.to, 'to');
    if (range.from && range.to && range.to.getTime() <= range.from.getTime()) {
      throw validationError('to must be later than from (from is inclusive, to exclusive)', { field: 'to' });
    }
    return range;
  }

  /**
   * One page of the tenant's posted postings in the range, in (effective_at, id) order, after the
   * posting key `after` (`effective_at|id`, postingKey). The order is the one the index
   * (tenant_id, phase, effective_at) gives (InnoDB appends the primary key), so each page is an index
   * range read that stops after `limit` rows, however far into the export it is.
   */
  async postingsPage(tenantId: string, range: ExportRange, after: string | null, limit: number): Promise<PostingRecord[]> {
    const slice: KeysetSlice = { after: after === null ? null : { key: after, inclusive: false }, before: null, fromEnd: false, limit };
    const keyset = keysetSql(slice, ['p.effective_at', 'p.id'], 'ASC', (key) => key.split('|'));
    const conditions = ['p.tenant_id = ?', 'p.phase = ?'];
    const params: unknown[] = [tenantId, PostingPhase.POSTED];
    if (range.from) {
      conditions.push('p.effective_at >= ?');
      params.push(toDbTimestamp(range.from));
    }
    if (range.to) {
      conditions.push('p.effective_at < ?');
      params.push(toDbTimestamp(range.to));
    }
    if (after !== null) {
      // Implied by the keyset's OR below, but stated on its own it is what SQLite seeks the index to:
      // without it each page scanned the tenant's postings from their start (quadratic over an export).
      conditions.push('p.effective_at >= ?');
      params.push(after.split('|')[0]);
    }
    // MariaDB reads this with `ref` on (tenant_id, phase) and filters effective_at row by row from the
    // tenant's first posting, so each page cost more than the last (1M postings: 139 s); told the
    // index, it takes the range on effective_at too (key_len 365 against 196) and every page costs alike.
    const index = databaseKindOfSource(this.dataSource) === 'mysql' ? ' FORCE INDEX (ix_postings_tenant_phase_effective)' : '';
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT p.* FROM postings p${index} WHERE ${[...conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
      [...params, ...keyset.params],
    );
    return rows.map(postingFromRow);
  }

  /** Pages of posted postings with their entries and accounts: the rows of journal-entries.csv. */
  async *postingPages(tenantId: string, range: ExportRange, signal?: AbortSignal): AsyncGenerator<ExportPosting[]> {
    const pageRows = this.options.pageRows;
    let after: string | null = null;
    for (;;) {
      if (signal?.aborted) return;
      const postings = await this.postingsPage(tenantId, range, after, pageRows);
      if (postings.length === 0) return;
      yield await this.withEntriesAndAccounts(tenantId, postings);
      if (postings.length < pageRows) return;
      after = postingKey(postings[postings.length - 1]);
    }
  }

  /**
   * Pages of posted entries, each with all its posted postings: the transactions of journal.ledger.
   * Entries come in the order of their first posted posting. An entry whose postings straddle two
   * pages is given whole with the page that holds its first posting (its postings are read by entry
   * id), and skipped on the next: nothing is remembered from page to page but the cursor.
   */
  async *entryPages(tenantId: string, range: ExportRange, signal?: AbortSignal): AsyncGenerator<ExportEntry[]> {
    const pageRows = this.options.pageRows;
    let after: string | null = null;
    for (;;) {
      if (signal?.aborted) return;
      const page = await this.postingsPage(tenantId, range, after, pageRows);
      if (page.length === 0) return;
      const onPage = new Set(page.map((posting) => posting.id));
      const entryIds = [...new Set(page.map((posting) => posting.journalEntryId))];
      const all = await this.postedPostingsOfEntries(tenantId, entryIds);
      const byEntry = new Map<string, PostingRecord[]>(entryIds.map((id) => [id, []]));
      for (const posting of all) byEntry.get(posting.journalEntryId)?.push(posting);
      // An entry belongs to the page that holds its first posting in export order.
      const firsts = entryIds.filter((id) => {
        const [first] = sortedForExport(byEntry.get(id) ?? []);
        return first !== undefined && onPage.has(first.id);
      });
      const postings = await this.withEntriesAndAccounts(tenantId, firsts.flatMap((id) => sortedForExport(byEntry.get(id) ?? [])));
      const entries: ExportEntry[] = [];
      for (const row of postings) {
        const last = entries[entries.length - 1];
        if (last && last.entry.id === row.entry.id) last.postings.push(row);
        else entries.push({ entry: row.entry, bookedAt: row.posting.effectiveAt, postings: [row] });
      }
      yield entries;
      if (page.length < pageRows) return;
      after = postingKey(page[page.length - 1]);
    }
  }

  /** The trial balance's report (its asOf and per-currency totals) and its lines in pages, in account code order. */
  async trialBalance(tenantId: string, asOf: Date | null): Promise<TrialBalanceReport> {
    return this.ledger.trialBalance(tenantId, { asOf });
  }

  async *trialBalancePages(tenantId: string, report: TrialBalanceReport, signal?: AbortSignal): AsyncGenerator<TrialBalanceLine[]> {
    const first = Math.min(this.options.pageRows, TRIAL_BALANCE_PAGE_MAX);
    let after: string | null = null;
    for (;;) {
      if (signal?.aborted) return;
      const page = await this.ledger.trialBalanceLines(tenantId, report, { first, after });
      if (page.items.length > 0) yield page.items;
      if (!page.hasNextPage || page.items.length === 0) return;
      after = page.endCursor ?? encodeCursor(page.items[page.items.length - 1].account.code);
    }
  }

  private async postedPostingsOfEntries(tenantId: string, entryIds: readonly string[]): Promise<PostingRecord[]> {
    if (entryIds.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM postings WHERE tenant_id = ? AND phase = ? AND journal_entry_id IN (${entryIds.map(() => '?').join(',')})`,
      [tenantId, PostingPhase.POSTED, ...entryIds],
    );
    return rows.map(postingFromRow);
  }

  /** Joins each posting to its entry and account: one statement for each, on the page's distinct ids. */
  private async withEntriesAndAccounts(tenantId: string, postings: readonly PostingRecord[]): Promise<ExportPosting[]> {
    const [entries, accounts] = await Promise.all([
      this.ledger.entriesByIds(tenantId, [...new Set(postings.map((p) => p.journalEntryId))]),
      this.ledger.accountsByIds(tenantId, [...new Set(postings.map((p) => p.accountId))]),
    ]);
    const entryById = new Map(entries.map((entry) => [entry.id, entry]));
    const accountById = new Map(accounts.map((account) => [account.id, account]));
    return postings.flatMap((posting) => {
      const entry = entryById.get(posting.journalEntryId);
      const account = accountById.get(posting.accountId);
      // Postings, entries and accounts are never deleted: a miss would be a broken database, not a case to export.
      if (!entry || !account) throw new Error(`posting ${posting.id} has no entry or account`);
      return [{ posting, entry, account }];
    });
  }
}

/** Export order: effective time, then id (as postingsPage reads them). */
function sortedForExport(postings: PostingRecord[]): PostingRecord[] {
  return [...postings].sort((a, b) => {
    const [ka, kb] = [postingKey(a), postingKey(b)];
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}
