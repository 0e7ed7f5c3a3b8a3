import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';
import { newId, requireIdOfKind } from '../../common/ids';
import { formatMinorAsDecimal, toBigInt } from '../../common/money';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { insertRows } from '../../db/bulk-insert';
import { databaseKindOfSource } from '../../db/data-source';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import type { LedgerEventPublisher } from '../ledger/ledger.events';
import type { ReconciliationFlagsService } from './reconciliation-flags.service';
import { type Match, type MatcherPosting, type MatcherStatementLine, type MatchProblem, matchStatementLines } from './matcher';
import { matcherSettingsOf } from './bank-account-matching';
import { type InvoiceRemittancePort, invoiceNumberCandidates, type RemittanceInvoice } from './invoice-remittance';
import { MatchRule } from './matcher-rules';
import { ReconciliationFlagKind, type BankAccountRecord, type ReconciliationFlagRecord, type StatementLineRecord, lineFromRow } from './reconciliation.types';

/**
 * Wires the pure matcher (matcher.ts) to the database: reads the candidates of one bank account
 * within a bounded date range, stores the matches it finds, resolves the flags of what they match
 * and turns its problems into flags. Runs after a statement import, after a posting to a bank's
 * ledger account commits, and in a periodic sweep that also ages what stays unmatched, however old. Matching of one bank account is serialised by locking
 * its row (SQLite has one writer anyway); the unique claim columns of reconciliation_match_items make
 * a double match impossible even so, and a unique violation only means another process won: the run
 * is repeated on fresh reads, never reported as an error.
 */

export enum MatchOrigin {
  AUTOMATIC = 'AUTOMATIC',
  MANUAL = 'MANUAL',
}

/** The rule of a match made by hand. */
export const MANUAL_RULE = 'MANUAL';

export interface ReconciliationMatchRecord {
  id: string;
  tenantId: string;
  bankAccountId: string;
  rule: string;
  score: number;
  compared: Record<string, unknown>;
  origin: MatchOrigin;
  createdBy: string | null;
  note: string | null;
  createdAt: Date;
  unmatchedAt: Date | null;
  unmatchedBy: string | null;
  unmatchNote: string | null;
  statementLineIds: string[];
  postingIds: string[];
}

export interface MatchRunResult {
  matches: ReconciliationMatchRecord[];
  flags: ReconciliationFlagRecord[];
}

export interface ManualMatchInput {
  statementLineId: string;
  postingIds: readonly string[];
  note?: string | null;
}

export interface ManualUnmatchInput {
  statementLineId: string;
  note?: string | null;
}

/** How far back the sweep retries matching unmatched lines (aging has no horizon: see ageUnmatched). */
export const SWEEP_LOOKBACK_DAYS = 62;
/** Lines of an import matched per run: a slice's items and their competitors are what a run holds in memory. */
export const MATCH_SLICE_LINES = 10_000;
/** Items of each side examined for aging per bank account and sweep, so that a backlog is worked off over several sweeps. */
export const SWEEP_AGING_BATCH = 500;

export interface SweepOptions {
  /** Items of each side examined for aging per bank account (SWEEP_AGING_BATCH unless given; tests make it small). */
  agingBatchSize?: number;
}

/** An item's place in aging order: its date (a line's booking date, a posting's effective time as stored) and id. */
interface AgingPosition {
  date: string;
  id: string;
}

/** How far aging has examined a bank account's items, per side: the frontier, and the audit behind it (null: from the start). */
interface AgingPositions {
  line: AgingPosition | null;
  posting: AgingPosition | null;
  auditLine: AgingPosition | null;
  auditPosting: AgingPosition | null;
}

interface AgingCursor extends AgingPositions {
  /** Whether the account's row exists yet. */
  stored: boolean;
}

/** One side (lines or postings) of aging: examines up to `limit` items after a position, dated before `before`. */
interface AgingSide {
  frontier: 'line' | 'posting';
  audit: 'auditLine' | 'auditPosting';
  /** The frontier's bound for the day before which items are past their window, in the side's date format. */
  before(pastWindow: string): string;
  age(manager: EntityManager, after: AgingPosition | null, before: string, limit: number): Promise<{ raised: ReconciliationFlagRecord[]; examined: number; last: AgingPosition | null }>;
}
const RUN_ATTEMPTS = 3;
const ID_CHUNK = 500;
const NOTE_MAX = 500;
const MAX_MANUAL_POSTINGS = 100;
const MATCH_COLUMNS = ['id', 'tenant_id', 'bank_account_id', 'rule', 'score', 'details', 'origin', 'created_by', 'note', 'created_at'];
const MATCH_ITEM_COLUMNS = ['id', 'tenant_id', 'match_id', 'statement_line_id', 'posting_id', 'recorded_statement_line_id', 'recorded_posting_id'];
const MS_PER_DAY = 86_400_000;
const BANK_ACCOUNT_PRESENCE_TTL_MS = 10_000;

/** Calendar days that surely hold `window` business days (weekends, and a few bank holidays). */
export function windowCalendarDays(windowBusinessDays: number): number {
  return Math.ceil((windowBusinessDays * 7) / 5) + 4;
}

const addDays = (day: string, days: number) => new Date(Date.parse(`${day}T00:00:00Z`) + days * MS_PER_DAY).toISOString().slice(0, 10);
const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const stringify = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/**
 * Consecutive days, in order, grouped so that each group holds at most `maxLines` lines (a day with
 * more is a group of its own: a day is never split, since its lines compete with each other).
 */
export function daySlices(lineCountByDay: ReadonlyMap<string, number>, maxLines: number): { from: string; to: string; lineCount: number }[] {
  const slices: { from: string; to: string; lineCount: number }[] = [];
  for (const day of [...lineCountByDay.keys()].sort()) {
    const count = lineCountByDay.get(day) as number;
    const last = slices[slices.length - 1];
    if (last && last.lineCount + count <= maxLines) {
      last.to = day;
      last.lineCount += count;
    } else {
      slices.push({ from: day, to: day, lineCount: count });
    }
  }
  return slices;
}

/**
 * push(...items) passes every item as an argument: past about 100,000 (a year of postings read for one
 * import) it throws RangeError (call stack size exceeded). This appends one at a time.
 */
function appendAll<T>(target: T[], items: readonly T[]): void {
  for (const item of items) target.push(item);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface Focus {
  /** Days whose items are looked at (inclusive). */
  from: string;
  to: string;
  /** Only matches and problems touching these count; absent: every item dated within from..to. */
  lineIds?: ReadonlySet<string>;
  postingIds?: ReadonlySet<string>;
}

/** What an UNMATCHED_LEDGER_ENTRY flag says of its posting. */
interface AgedPosting {
  id: string;
  journalEntryId: string;
  /** Signed: money in is positive. */
  amountMinor: bigint;
  currency: string;
  effectiveDate: string;
}

function agedPostingOf(row: Record<string, unknown>): AgedPosting {
  return {
    id: String(row.id),
    journalEntryId: String(row.journal_entry_id),
    amountMinor: signedAmount(row),
    currency: String(row.currency),
    effectiveDate: dayOf(fromDbTimestamp(row.effective_at)),
  };
}

interface CandidatePosting extends MatcherPosting {
  createdAt: Date;
}

/** A line the INVOICE_NUMBER rule records as the payment of the one OPEN invoice it names (payInvoice). */
interface InvoicePaymentPlan {
  line: StatementLineRecord;
  invoice: RemittanceInvoice;
  /** Where on the line the number was found. */
  foundIn: InvoiceNumberField;
}

type InvoiceNumberField = 'remittanceInformation' | 'description' | 'endToEndId' | 'bankReference';
const INVOICE_NUMBER_FIELDS: readonly InvoiceNumberField[] = ['remittanceInformation', 'description', 'endToEndId', 'bankReference'];

/** Why a line that names an invoice does not pay it (INVOICE_NOT_PAYABLE's details.reason). */
export enum InvoiceNotPayableReason {
  /** The invoice is PAID, VOID or UNCOLLECTIBLE (a draft has no number to name). */
  INVOICE_NOT_OPEN = 'INVOICE_NOT_OPEN',
  CURRENCY_DIFFERS = 'CURRENCY_DIFFERS',
  /** The line names several of the tenant's invoices: which one it pays (or how it splits) is a person's call. */
  SEVERAL_INVOICES = 'SEVERAL_INVOICES',
}

export class MatchingService {
  private readonly kind: 'mysql' | 'sqlite';
  /** Lines of an import per run (MATCH_SLICE_LINES; tests make it small to see slices at work). */
  sliceLines = MATCH_SLICE_LINES;
  /** Per bank account, the run in progress in this process: runs of one account queue behind each other. */
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly tenantsWithBankAccounts = new Map<string, { has: boolean; until: number }>();
  /** Per bank account, the run for new postings that has not started yet. */
  private readonly waitingPostingRuns = new Map<string, { postingIds: Set<string>; from: string; to: string; result: Promise<MatchRunResult> }>();
  /**
   * Invoicing as the INVOICE_NUMBER rule sees it, set once invoicing is wired (src/services/services.ts);
   * while null, the rule records nothing.
   */
  invoiceRemittance: InvoiceRemittancePort | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    /** Raises flags in the matching transaction; they are published once it commits. */
    private readonly flags: Pick<ReconciliationFlagsService, 'raise' | 'resolveMatched'>,
    private readonly loadBankAccounts: (tenantId: string, ids: readonly string[]) => Promise<BankAccountRecord[]>,
    private readonly idempotency?: IdempotencyService,
    private readonly log?: Logger,
  ) {
    this.kind = databaseKindOfSource(dataSource) === 'mysql' ? 'mysql' : 'sqlite';
  }

  // ---------------------------------------------------------------------------------------------
  // Incremental runs

  /**
   * After an import committed: matches the lines the given statements stored, in slices of
   * consecutive booking days holding at most MATCH_SLICE_LINES of them, one run (and transaction)
   * each, so a statement of a million lines is matched with the memory of a slice, not of the file.
   */
  async matchImportedStatements(account: BankAccountRecord, statementIds: readonly string[]): Promise<{ matchCount: number; flagCount: number }> {
    // Counts, not the matches: a million of them would be the memory the slices save.
    const result = { matchCount: 0, flagCount: 0 };
    if (statementIds.length === 0) return result;
    const lineCountByDay = new Map<string, number>();
    for (const chunk of chunks(statementIds, ID_CHUNK)) {
      const rows: Record<string, unknown>[] = await this.dataSource.query(
        `SELECT booking_date, COUNT(*) AS line_count FROM statement_lines WHERE tenant_id = ? AND statement_id IN (${chunk.map(() => '?').join(',')}) AND booking_date IS NOT NULL GROUP BY booking_date`,
        [account.tenantId, ...chunk],
      );
      for (const row of rows) {
        const day = String(row.booking_date);
        lineCountByDay.set(day, (lineCountByDay.get(day) ?? 0) + Number(row.line_count));
      }
    }
    for (const slice of daySlices(lineCountByDay, this.sliceLines)) {
      const lineIds = new Set<string>();
      for (const chunk of chunks(statementIds, ID_CHUNK)) {
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT id FROM statement_lines WHERE tenant_id = ? AND statement_id IN (${chunk.map(() => '?').join(',')}) AND booking_date >= ? AND booking_date <= ?`,
          [account.tenantId, ...chunk, slice.from, slice.to],
        );
        for (const row of rows) lineIds.add(String(row.id));
      }
      const one = await this.run(account, { from: slice.from, to: slice.to, lineIds, postingIds: new Set() });
      result.matchCount += one.matches.length;
      result.flagCount += one.flags.length;
    }
    return result;
  }

  /** The ledger's committed-entry events, as a publisher: postings to a bank's ledger account get matched. */
  ledgerEvents(): LedgerEventPublisher {
    return {
      entriesCommitted: (entries) => {
        const byTenant = new Map<string, string[]>();
        for (const entry of entries) byTenant.set(entry.tenantId, [...(byTenant.get(entry.tenantId) ?? []), entry.id]);
        for (const [tenantId, entryIds] of byTenant) {
          this.matchEntries(tenantId, entryIds).catch((error: unknown) => this.log?.warn({ err: error, tenantId }, 'matching new postings failed; the sweep retries'));
        }
      },
    };
  }

  /** Matches the POSTED postings of these journal entries that went to a bank account's ledger account. */
  async matchEntries(tenantId: string, entryIds: readonly string[]): Promise<MatchRunResult> {
    if (!(await this.hasBankAccounts(tenantId))) return { matches: [], flags: [] };
    const byAccount = new Map<string, { ids: Set<string>; from: string; to: string }>();
    for (const chunk of chunks(entryIds, ID_CHUNK)) {
      const rows: Record<string, unknown>[] = await this.dataSource.query(
        `SELECT p.id, p.effective_at, b.id AS bank_account_id FROM postings p JOIN bank_accounts b ON b.ledger_account_id = p.account_id AND b.tenant_id = p.tenant_id
         WHERE p.journal_entry_id IN (${chunk.map(() => '?').join(',')}) AND p.tenant_id = ? AND p.phase = 'POSTED'`,
        [...chunk, tenantId],
      );
      for (const row of rows) {
        const day = dayOf(fromDbTimestamp(row.effective_at));
        const key = String(row.bank_account_id);
        const entry = byAccount.get(key) ?? { ids: new Set<string>(), from: day, to: day };
        entry.ids.add(String(row.id));
        if (day < entry.from) entry.from = day;
        if (day > entry.to) entry.to = day;
        byAccount.set(key, entry);
      }
    }
    const result: MatchRunResult = { matches: [], flags: [] };
    if (byAccount.size === 0) return result;
    for (const account of await this.loadBankAccounts(tenantId, [...byAccount.keys()])) {
      const focus = byAccount.get(account.id)!;
      const one = await this.runForPostings(account, focus.ids, focus.from, focus.to);
      appendAll(result.matches, one.matches);
      appendAll(result.flags, one.flags);
    }
    return result;
  }

  /**
   * Whether the tenant has a bank account, remembered for a while: the ledger's hot write path then
   * costs tenants without one no query. A bank account created meanwhile is caught up by the sweep.
   */
  private async hasBankAccounts(tenantId: string): Promise<boolean> {
    const now = Date.now();
    const known = this.tenantsWithBankAccounts.get(tenantId);
    if (known && known.until > now) return known.has;
    const rows: Record<string, unknown>[] = await this.dataSource.query('SELECT id FROM bank_accounts WHERE tenant_id = ? LIMIT 1', [tenantId]);
    if (this.tenantsWithBankAccounts.size >= 10_000) this.tenantsWithBankAccounts.clear();
    this.tenantsWithBankAccounts.set(tenantId, { has: rows.length > 0, until: now + BANK_ACCOUNT_PRESENCE_TTL_MS });
    return rows.length > 0;
  }

  /**
   * Every bank account of every tenant: retries the unmatched lines of the last SWEEP_LOOKBACK_DAYS,
   * then ages what stays unmatched past its window, whatever its age (ageUnmatched). Every API
   * process runs it; the per-account lock makes concurrent sweeps harmless.
   */
  async sweep(options: SweepOptions = {}): Promise<MatchRunResult> {
    const batchSize = Math.max(1, Math.floor(options.agingBatchSize ?? SWEEP_AGING_BATCH));
    const rows: Record<string, unknown>[] = await this.dataSource.query('SELECT id, tenant_id FROM bank_accounts ORDER BY id');
    const result: MatchRunResult = { matches: [], flags: [] };
    const today = dayOf(this.clock.now());
    for (const row of rows) {
      const [account] = await this.loadBankAccounts(String(row.tenant_id), [String(row.id)]);
      if (!account) continue;
      try {
        const one = await this.run(account, { from: addDays(today, -SWEEP_LOOKBACK_DAYS), to: today });
        const aged = await this.ageUnmatched(account, today, batchSize);
        appendAll(result.matches, one.matches);
        appendAll(result.flags, one.flags);
        appendAll(result.flags, aged);
      } catch (error) {
        this.log?.warn({ err: error, bankAccountId: account.id }, 'reconciliation sweep of a bank account failed');
      }
    }
    return result;
  }

  /**
   * Raises UNMATCHED_STATEMENT_LINE for lines and UNMATCHED_LEDGER_ENTRY for postings unmatched once
   * their window has passed, however old. Per bank account and side, a frontier cursor (date, then
   * id) marks what sweeps have examined; this one examines at most `batchSize` items after it and
   * dated before the window, by index, and moves it to the last: the whole history, however long, is
   * aged over successive sweeps, and the frontier never rereads it. Items that arrive behind the
   * frontier are flagged when they arrive (a run flags new lines and postings already past their
   * window; undoing a match by hand re-raises, see reraiseUnmatched). Should that run have failed
   * (it runs after the commit), the audit cursor catches them: with what is left of the batch, it
   * walks from the oldest item up to the frontier, and starts over when it gets there.
   * A flag already raised for the item is left as it is, whatever its status (flagUnmatchedLine).
   */
  private async ageUnmatched(account: BankAccountRecord, today: string, batchSize: number): Promise<ReconciliationFlagRecord[]> {
    const pastWindow = addDays(today, -windowCalendarDays(account.matchWindowBusinessDays));
    return this.serialised(account.id, () =>
      runInTransaction(this.dataSource, async (manager) => {
        await this.lockAccount(manager, account);
        const cursor = await this.agingCursor(manager, account);
        const next: AgingPositions = { ...cursor };
        const raised: ReconciliationFlagRecord[] = [];
        for (const side of [this.lineAging(account), this.postingAging(account, pastWindow)]) {
          const frontier = await side.age(manager, next[side.frontier], side.before(pastWindow), batchSize);
          raised.push(...frontier.raised);
          next[side.frontier] = frontier.last ?? next[side.frontier];
          const auditLimit = batchSize - frontier.examined;
          const bound = next[side.frontier];
          if (auditLimit <= 0 || bound === null) continue;
          // Strictly before the frontier's date: what lies on it is the frontier's until it moves on.
          const audit = await side.age(manager, next[side.audit], bound.date, auditLimit);
          raised.push(...audit.raised);
          next[side.audit] = audit.examined < auditLimit ? null : audit.last;
        }
        await this.moveAgingCursor(manager, account, cursor, next);
        return raised;
      }),
    );
  }

  /** How lines age: read after a position in (booking_date, id) order, flagged when BOOKED, unmatched and never flagged. */
  private lineAging(account: BankAccountRecord): AgingSide {
    return {
      frontier: 'line',
      audit: 'auditLine',
      before: (pastWindow) => pastWindow,
      age: async (manager, after, before, limit) => {
        const rows = await this.readAfterCursor(manager, {
          select: 'SELECT l.* FROM statement_lines l WHERE l.bank_account_id = ?',
          params: [account.id],
          dateColumn: 'l.booking_date',
          idColumn: 'l.id',
          after,
          before,
          limit,
        });
        const lines = rows.map(lineFromRow);
        const matched = await this.currentMatchIdsOfLines(manager, lines.map((l) => l.id));
        const unmatched = lines.filter((l) => l.status === 'BOOKED' && !matched.has(l.id));
        const flagged = await this.flaggedSubjects(manager, account, ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE, unmatched.map((l) => `line:${l.id}`));
        const raised: ReconciliationFlagRecord[] = [];
        for (const line of unmatched) {
          if (flagged.has(`line:${line.id}`)) continue;
          raised.push(await this.raise(manager, account, ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE, `line:${line.id}`, this.unmatchedLineDetails(account, line)));
        }
        const last = lines.at(-1);
        return { raised, examined: lines.length, last: last ? { date: last.bookingDate!, id: last.id } : null };
      },
    };
  }

  /** How postings age: POSTED ones on the bank's ledger account, read after a position in (effective_at, id) order. */
  private postingAging(account: BankAccountRecord, pastWindow: string): AgingSide {
    return {
      frontier: 'posting',
      audit: 'auditPosting',
      before: () => this.dayStart(pastWindow),
      age: async (manager, after, before, limit) => {
        const rows = await this.readAfterCursor(manager, {
          select: `SELECT p.id, p.journal_entry_id, p.direction, p.amount_minor, p.currency, p.effective_at FROM postings p WHERE p.account_id = ? AND p.phase = 'POSTED'`,
          params: [account.ledgerAccountId],
          dateColumn: 'p.effective_at',
          idColumn: 'p.id',
          after,
          before,
          limit,
        });
        const postings = rows.map(agedPostingOf);
        const matched = postings.length ? await this.currentMatchIdsOfPostings(manager, postings.map((p) => p.id)) : new Map<string, string>();
        const unmatched = postings.filter((p) => !matched.has(p.id));
        const flagged = await this.flaggedSubjects(manager, account, ReconciliationFlagKind.UNMATCHED_LEDGER_ENTRY, unmatched.map((p) => `posting:${p.id}`));
        const raised: ReconciliationFlagRecord[] = [];
        for (const posting of unmatched) {
          if (flagged.has(`posting:${posting.id}`)) continue;
          raised.push(await this.raise(manager, account, ReconciliationFlagKind.UNMATCHED_LEDGER_ENTRY, `posting:${posting.id}`, this.unmatchedPostingDetails(account, posting)));
        }
        const last = rows.at(-1);
        return { raised, examined: rows.length, last: last ? { date: toDbTimestamp(fromDbTimestamp(last.effective_at)), id: String(last.id) } : null };
      },
    };
  }

  /**
   * Up to `limit` rows of `select` after the cursor in (date, id) order, dated before `before`: the
   * rest of the cursor's date, then later dates. Two range reads rather than one with an OR, which
   * MariaDB reads from the start of the account instead of seeking; both are in index order on both
   * databases (lines: ix_statement_lines_account_date_id; postings: ix_postings_account_effective_id
   * on SQLite, ix_postings_account_phase_effective and its primary key suffix on MariaDB).
   */
  private async readAfterCursor(
    manager: EntityManager,
    read: { select: string; params: unknown[]; dateColumn: string; idColumn: string; after: { date: string; id: string } | null; before: string; limit: number },
  ): Promise<Record<string, unknown>[]> {
    const { select, params, dateColumn, idColumn, after, before, limit } = read;
    const rows: Record<string, unknown>[] = [];
    if (after) {
      rows.push(
        ...((await manager.query(`${select} AND ${dateColumn} = ? AND ${idColumn} > ? AND ${dateColumn} < ? ORDER BY ${idColumn} LIMIT ${limit}`, [
          ...params,
          after.date,
          after.id,
          before,
        ])) as Record<string, unknown>[]),
      );
    }
    if (rows.length < limit) {
      rows.push(
        ...((await manager.query(`${select}${after ? ` AND ${dateColumn} > ?` : ''} AND ${dateColumn} < ? ORDER BY ${dateColumn}, ${idColumn} LIMIT ${limit - rows.length}`, [
          ...params,
          ...(after ? [after.date] : []),
          before,
        ])) as Record<string, unknown>[]),
      );
    }
    return rows;
  }

  private async agingCursor(manager: EntityManager, account: BankAccountRecord): Promise<AgingCursor> {
    const rows: Record<string, unknown>[] = await manager.query('SELECT * FROM reconciliation_aging_cursors WHERE bank_account_id = ?', [account.id]);
    if (!rows.length) return { stored: false, line: null, posting: null, auditLine: null, auditPosting: null };
    const row = rows[0];
    const day = (date: unknown, id: unknown) => (id === null ? null : { date: String(date), id: String(id) });
    const instant = (at: unknown, id: unknown) => (id === null ? null : { date: toDbTimestamp(fromDbTimestamp(at)), id: String(id) });
    return {
      stored: true,
      line: day(row.line_booking_date, row.line_id),
      posting: instant(row.posting_effective_at, row.posting_id),
      auditLine: day(row.audit_line_booking_date, row.audit_line_id),
      auditPosting: instant(row.audit_posting_effective_at, row.audit_posting_id),
    };
  }

  private async moveAgingCursor(manager: EntityManager, account: BankAccountRecord, from: AgingCursor, to: AgingPositions): Promise<void> {
    const positions = [to.line, to.posting, to.auditLine, to.auditPosting];
    const same = (a: AgingPosition | null, b: AgingPosition | null) => a?.date === b?.date && a?.id === b?.id;
    if (from.stored && same(from.line, to.line) && same(from.posting, to.posting) && same(from.auditLine, to.auditLine) && same(from.auditPosting, to.auditPosting)) return;
    const values = [...positions.flatMap((p) => [p?.date ?? null, p?.id ?? null]), toDbTimestamp(this.clock.now())];
    if (from.stored) {
      await manager.query(
        `UPDATE reconciliation_aging_cursors SET line_booking_date = ?, line_id = ?, posting_effective_at = ?, posting_id = ?,
           audit_line_booking_date = ?, audit_line_id = ?, audit_posting_effective_at = ?, audit_posting_id = ?, updated_at = ? WHERE bank_account_id = ?`,
        [...values, account.id],
      );
    } else {
      await manager.query(
        `INSERT INTO reconciliation_aging_cursors (line_booking_date, line_id, posting_effective_at, posting_id,
           audit_line_booking_date, audit_line_id, audit_posting_effective_at, audit_posting_id, updated_at, bank_account_id, tenant_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [...values, account.id, account.tenantId],
      );
    }
  }

  /** Which of these subjects have a flag of the kind on the account, whatever its status. */
  private async flaggedSubjects(manager: EntityManager, account: BankAccountRecord, kind: ReconciliationFlagKind, subjects: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const chunk of chunks(subjects, ID_CHUNK)) {
      const rows: Record<string, unknown>[] = await manager.query(
        `SELECT subject FROM reconciliation_flags WHERE tenant_id = ? AND bank_account_id = ? AND kind = ? AND subject IN (${chunk.map(() => '?').join(',')})`,
        [account.tenantId, account.id, kind, ...chunk],
      );
      for (const row of rows) found.add(String(row.subject));
    }
    return found;
  }

  // ---------------------------------------------------------------------------------------------
  // One run

  private serialised<T>(bankAccountId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.running.get(bankAccountId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.running.set(bankAccountId, settled);
    void settled.then(() => {
      if (this.running.get(bankAccountId) === settled) this.running.delete(bankAccountId);
    });
    return next;
  }

  /**
   * Matches within `focus`: postings within the window of its days, lines within twice that (every
   * item that could compete for a focus item is read), and keeps only the matches and problems that
   * touch a focus item, since items at the edge of the read range may lack competitors that were not read.
   */
  run(account: BankAccountRecord, focus: Focus): Promise<MatchRunResult> {
    return this.serialised(account.id, () => this.runNow(account, focus));
  }

  /**
   * Postings written while a run of their bank account waits its turn join that run instead of
   * queueing one each: under a busy ledger, runs per account stay one at work and one waiting.
   */
  private runForPostings(account: BankAccountRecord, postingIds: ReadonlySet<string>, from: string, to: string): Promise<MatchRunResult> {
    const waiting = this.waitingPostingRuns.get(account.id);
    if (waiting) {
      for (const id of postingIds) waiting.postingIds.add(id);
      if (from < waiting.from) waiting.from = from;
      if (to > waiting.to) waiting.to = to;
      return waiting.result;
    }
    const next = { postingIds: new Set(postingIds), from, to, result: Promise.resolve<MatchRunResult>({ matches: [], flags: [] }) };
    this.waitingPostingRuns.set(account.id, next);
    next.result = this.serialised(account.id, () => {
      this.waitingPostingRuns.delete(account.id);
      return this.runNow(account, { from: next.from, to: next.to, lineIds: new Set(), postingIds: next.postingIds });
    });
    return next.result;
  }

  private async runNow(account: BankAccountRecord, focus: Focus): Promise<MatchRunResult> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const { result, invoicePayments } = await runInTransaction(this.dataSource, (manager) => this.runWithin(manager, account, focus));
        if (invoicePayments.length) {
          const paid = await this.payInvoices(account, invoicePayments);
          appendAll(result.matches, paid.matches);
          appendAll(result.flags, paid.flags);
        }
        return result;
      } catch (error) {
        // Another process matched one of these items first: read again, without the items it took.
        if (!isUniqueViolation(error) || attempt >= RUN_ATTEMPTS) throw error;
      }
    }
  }

  private async runWithin(manager: EntityManager, account: BankAccountRecord, focus: Focus): Promise<{ result: MatchRunResult; invoicePayments: InvoicePaymentPlan[] }> {
    await this.lockAccount(manager, account);
    const margin = windowCalendarDays(account.matchWindowBusinessDays);
    const postings = await this.candidatePostings(manager, account, { from: addDays(focus.from, -margin), to: addDays(focus.to, margin) });
    const lines = await this.candidateLines(manager, account, addDays(focus.from, -2 * margin), addDays(focus.to, 2 * margin));
    const focusLines = focus.lineIds ?? new Set(lines.filter((l) => l.bookingDate! >= focus.from && l.bookingDate! <= focus.to).map((l) => l.id));
    const focusPostings = focus.postingIds ?? new Set(postings.filter((p) => p.effectiveDate >= focus.from && p.effectiveDate <= focus.to).map((p) => p.id));
    // The reference rule ignores dates: what a focus item names exactly is read wherever it lies.
    await this.addReferencedItems(manager, account, { lines, postings, focusLines, focusPostings });
    const touches = (item: { lineIds: string[]; postingIds: string[] }) => item.lineIds.some((id) => focusLines.has(id)) || item.postingIds.some((id) => focusPostings.has(id));

    const outcome =
      lines.length && postings.length
        ? matchStatementLines({ lines: lines.map(toMatcherLine), postings, settings: matcherSettingsOf(account.matching) })
        : { matches: [], problems: [] };
    const matches = await this.storeMatches(manager, account, outcome.matches.filter(touches));
    await this.resolveFlagsOf(manager, matches);

    const linesById = new Map(lines.map((l) => [l.id, l]));
    const flags: ReconciliationFlagRecord[] = [];
    const problems = outcome.problems.filter(touches);
    for (const problem of problems) {
      const flag = await this.flagProblem(manager, account, problem, linesById);
      if (flag) flags.push(flag);
    }
    const settled = new Set([...matches.flatMap((m) => m.statementLineIds), ...problems.flatMap((p) => p.lineIds)]);
    // INVOICE_NUMBER, after every rule of the engine: only money the books do not hold yet is recorded.
    const invoicePayments = await this.planInvoicePayments(
      manager,
      account,
      lines.filter((l) => focusLines.has(l.id) && !settled.has(l.id)),
      flags,
    );
    for (const plan of invoicePayments) settled.add(plan.line.id);
    // A new line whose window has passed already (an old statement) is a line the books lack now,
    // not at the next sweep; one within its window waits for the postings that may still come.
    const pastWindow = addDays(dayOf(this.clock.now()), -windowCalendarDays(account.matchWindowBusinessDays));
    for (const line of lines) {
      if (!focusLines.has(line.id) || settled.has(line.id) || line.bookingDate === null || line.bookingDate >= pastWindow) continue;
      const flag = await this.flagUnmatchedLine(manager, account, line);
      if (flag) flags.push(flag);
    }
    // Likewise a posting written (or backdated) past its window: the aging cursor may be beyond its
    // date. The sweep's run repeats this over its look-back, in case the run after the write failed.
    const settledPostings = new Set([...matches.flatMap((m) => m.postingIds), ...problems.flatMap((p) => p.postingIds)]);
    const lonelyPostings = postings.filter((p) => focusPostings.has(p.id) && !settledPostings.has(p.id) && p.effectiveDate < pastWindow);
    const flaggedPostings = await this.flaggedSubjects(manager, account, ReconciliationFlagKind.UNMATCHED_LEDGER_ENTRY, lonelyPostings.map((p) => `posting:${p.id}`));
    for (const posting of lonelyPostings) {
      if (flaggedPostings.has(`posting:${posting.id}`)) continue;
      flags.push(await this.raise(manager, account, ReconciliationFlagKind.UNMATCHED_LEDGER_ENTRY, `posting:${posting.id}`, this.unmatchedPostingDetails(account, posting)));
    }
    return { result: { matches, flags }, invoicePayments };
  }

  // ---------------------------------------------------------------------------------------------
  // INVOICE_NUMBER

  /**
   * The INVOICE_NUMBER rule's reading, inside the run's transaction: each line of money in that the
   * engine left alone (no match, no problem) is searched for invoice numbers (invoiceNumberCandidates),
   * all of them looked up among the tenant's invoices in one statement per chunk. A line naming exactly
   * one invoice, OPEN and in the account's currency, is planned for payment; one naming an invoice it
   * cannot pay raises INVOICE_NOT_PAYABLE (once, like the engine's problems) and is left to the usual
   * handling of unmatched lines. Another tenant's invoices are never read.
   */
  private async planInvoicePayments(
    manager: EntityManager,
    account: BankAccountRecord,
    lines: readonly StatementLineRecord[],
    flags: ReconciliationFlagRecord[],
  ): Promise<InvoicePaymentPlan[]> {
    const port = this.invoiceRemittance;
    if (!port || !account.matching.rules.includes(MatchRule.INVOICE_NUMBER)) return [];
    const candidates = new Map<string, Map<InvoiceNumberField, string[]>>();
    for (const line of lines) {
      if (line.amountMinor <= 0n) continue;
      const byField = new Map<InvoiceNumberField, string[]>();
      for (const field of INVOICE_NUMBER_FIELDS) {
        const found = invoiceNumberCandidates(line[field]);
        if (found.length) byField.set(field, found);
      }
      if (byField.size) candidates.set(line.id, byField);
    }
    if (candidates.size === 0) return [];
    const numbers = [...new Set([...candidates.values()].flatMap((byField) => [...byField.values()].flat()))];
    const invoices = new Map<string, RemittanceInvoice>();
    for (const chunk of chunks(numbers, ID_CHUNK)) {
      for (const invoice of await port.findInvoicesByNumbers(manager, account.tenantId, chunk)) invoices.set(invoice.number, invoice);
    }
    const plans: InvoicePaymentPlan[] = [];
    for (const line of lines) {
      const byField = candidates.get(line.id);
      if (!byField) continue;
      const named = new Map<string, { invoice: RemittanceInvoice; foundIn: InvoiceNumberField }>();
      for (const [field, found] of byField) {
        for (const number of found) {
          const invoice = invoices.get(number);
          if (invoice && !named.has(invoice.id)) named.set(invoice.id, { invoice, foundIn: field });
        }
      }
      if (named.size === 0) continue;
      const [first] = [...named.values()];
      const reason =
        named.size > 1
          ? InvoiceNotPayableReason.SEVERAL_INVOICES
          : first.invoice.status !== 'OPEN'
            ? InvoiceNotPayableReason.INVOICE_NOT_OPEN
            : first.invoice.currency !== line.currency
              ? InvoiceNotPayableReason.CURRENCY_DIFFERS
              : null;
      if (reason === null) {
        plans.push({ line, invoice: first.invoice, foundIn: first.foundIn });
        continue;
      }
      const flag = await this.flagNotPayable(manager, account, line, reason, [...named.values()].map((n) => n.invoice));
      if (flag) flags.push(flag);
    }
    return plans;
  }

  /** INVOICE_NOT_PAYABLE for the line, unless it has that flag already, whatever its status (as flagProblem). */
  private async flagNotPayable(
    manager: EntityManager,
    account: BankAccountRecord,
    line: StatementLineRecord,
    reason: InvoiceNotPayableReason,
    invoices: readonly RemittanceInvoice[],
  ): Promise<ReconciliationFlagRecord | null> {
    const subject = `line:${line.id}`;
    if (await this.hasFlag(manager, account, ReconciliationFlagKind.INVOICE_NOT_PAYABLE, subject)) return null;
    const [invoice] = invoices;
    const why =
      reason === InvoiceNotPayableReason.SEVERAL_INVOICES
        ? `the line names ${invoices.length} invoices (${invoices.map((i) => i.number).join(', ')}); record each payment by hand (recordInvoicePayment)`
        : reason === InvoiceNotPayableReason.INVOICE_NOT_OPEN
          ? `invoice ${invoice.number} is ${invoice.status}; only an OPEN invoice is paid: refund the money or record what it pays by hand`
          : `invoice ${invoice.number} is in ${invoice.currency}, the line in ${line.currency}; record the payment by hand in the invoice’s currency`;
    return this.raise(manager, account, ReconciliationFlagKind.INVOICE_NOT_PAYABLE, subject, {
      statementLineIds: [line.id],
      amount: formatMinorAsDecimal(line.amountMinor, line.currency),
      currency: line.currency,
      bookingDate: line.bookingDate,
      reason,
      invoices: invoices.map((i) => ({ id: i.id, number: i.number, status: i.status, currency: i.currency })),
      message: `Nothing was recorded: ${why}`,
    });
  }

  /**
   * Records each planned line as its invoice's payment, one transaction per line, after the run's has
   * committed, and publishes each once it commits. A line another process matched meanwhile is left
   * alone; a failure is logged and left to the sweep, which plans the line again.
   *
   * One transaction per payment keeps the lock order acyclic: each takes the bank account's row, then
   * (through invoicing) the invoice, the customer's credit balance and the ledger's accounts, then the
   * tenant's flag counter. payInvoice and recordInvoicePayment lock invoice → credit → ledger accounts
   * too and never a bank account; nothing locks a bank account after an invoice. Paying several
   * invoices in the run's transaction instead would hold the ledger's accounts from the first payment
   * while locking the next invoice, which a recordInvoicePayment could hold while waiting for those
   * accounts: a deadlock.
   */
  private async payInvoices(account: BankAccountRecord, plans: readonly InvoicePaymentPlan[]): Promise<MatchRunResult> {
    const port = this.invoiceRemittance!;
    const result: MatchRunResult = { matches: [], flags: [] };
    const context = await port.prepare(account.tenantId, account.currency);
    for (const plan of plans) {
      try {
        const done = await runInTransaction(this.dataSource, (manager) => this.payInvoiceWithin(manager, account, plan, context));
        done.committed?.();
        appendAll(result.matches, done.matches);
        appendAll(result.flags, done.flags);
      } catch (error) {
        // A unique violation: another process recorded or matched this line first.
        if (!isUniqueViolation(error)) this.log?.warn({ err: error, statementLineId: plan.line.id, invoiceId: plan.invoice.id }, 'recording an invoice payment from a statement line failed; the sweep retries');
      }
    }
    return result;
  }

  /**
   * Under the bank account's lock: the line, still unmatched, recorded as the invoice's payment (the
   * whole line, whatever it owes: an underpayment leaves it OPEN, an overpayment is customer credit)
   * and matched to the posting that wrote to the bank's ledger account. A line paying another amount
   * than the invoice still owed raises INVOICE_AMOUNT_MISMATCH; an invoice that changed meanwhile (paid,
   * voided) raises INVOICE_NOT_PAYABLE and records nothing.
   */
  private async payInvoiceWithin(
    manager: EntityManager,
    account: BankAccountRecord,
    plan: InvoicePaymentPlan,
    context: unknown,
  ): Promise<MatchRunResult & { committed: (() => void) | null }> {
    const { line } = plan;
    await this.lockAccount(manager, account);
    // Read again under the lock: another process may have matched the line (and recorded its payment).
    const still: Record<string, unknown>[] = await manager.query(
      `SELECT l.id FROM statement_lines l WHERE l.id = ? AND l.tenant_id = ? AND l.status = 'BOOKED'
         AND NOT EXISTS (SELECT 1 FROM reconciliation_match_items i WHERE i.recorded_statement_line_id = l.id)`,
      [line.id, account.tenantId],
    );
    if (still.length === 0) return { matches: [], flags: [], committed: null };
    const recorded = await this.invoiceRemittance!.recordBankTransfer(
      manager,
      account.tenantId,
      {
        invoiceId: plan.invoice.id,
        amountMinor: line.amountMinor,
        currency: line.currency,
        reference: (line.bankReference ?? line.endToEndId ?? plan.invoice.number).slice(0, 255),
        receivedOn: line.bookingDate!,
        bankAccountId: account.id,
        statementLineId: line.id,
      },
      context,
    );
    if (!recorded.recorded) {
      const reason = recorded.invoice.status !== 'OPEN' ? InvoiceNotPayableReason.INVOICE_NOT_OPEN : InvoiceNotPayableReason.CURRENCY_DIFFERS;
      const flag = await this.flagNotPayable(manager, account, line, reason, [recorded.invoice]);
      return { matches: [], flags: flag ? [flag] : [], committed: null };
    }
    const postings: Record<string, unknown>[] = await manager.query(
      `SELECT id, direction, amount_minor FROM postings WHERE tenant_id = ? AND journal_entry_id = ? AND account_id = ? AND phase = 'POSTED'`,
      [account.tenantId, recorded.journalEntryId, account.ledgerAccountId],
    );
    if (postings.length !== 1 || signedAmount(postings[0]) !== line.amountMinor) {
      throw new Error(`invoice payment entry ${recorded.journalEntryId} does not hold one posting of ${line.amountMinor} to ${account.ledgerAccountId}`);
    }
    const expected = recorded.before.amountRemainingMinor;
    const [match] = await this.insertMatches(manager, account, [
      {
        rule: MatchRule.INVOICE_NUMBER,
        score: 1,
        compared: JSON.parse(
          stringify({
            amount: { line: line.amountMinor, postings: line.amountMinor, equal: true },
            currency: { line: line.currency, postings: line.currency, equal: true },
            reference: { how: 'INVOICE_NUMBER', line: { field: plan.foundIn, text: line[plan.foundIn] }, invoiceNumber: recorded.before.number },
            invoice: {
              id: recorded.before.id,
              number: recorded.before.number,
              amountRemainingBefore: expected,
              applied: recorded.appliedMinor,
              credited: recorded.creditedMinor,
              status: recorded.after.status,
            },
            invoicePaymentId: recorded.invoicePaymentId,
            dateDistanceBusinessDays: null,
          }),
        ) as Record<string, unknown>,
        origin: MatchOrigin.AUTOMATIC,
        createdBy: null,
        note: null,
        statementLineIds: [line.id],
        postingIds: [String(postings[0].id)],
      },
    ]);
    await this.resolveFlagsOf(manager, [match]);
    const flags: ReconciliationFlagRecord[] = [];
    if (line.amountMinor !== expected) {
      const difference = line.amountMinor - expected;
      flags.push(
        await this.raise(manager, account, ReconciliationFlagKind.INVOICE_AMOUNT_MISMATCH, `line:${line.id}`, {
          statementLineIds: [line.id],
          postingIds: match.postingIds,
          matchId: match.id,
          invoiceId: recorded.before.id,
          invoiceNumber: recorded.before.number,
          invoicePaymentId: recorded.invoicePaymentId,
          currency: line.currency,
          expected: formatMinorAsDecimal(expected, line.currency),
          received: formatMinorAsDecimal(line.amountMinor, line.currency),
          difference: formatMinorAsDecimal(difference < 0n ? -difference : difference, line.currency),
          direction: difference < 0n ? 'UNDERPAID' : 'OVERPAID',
          invoiceStatus: recorded.after.status,
          customerCredit: formatMinorAsDecimal(recorded.creditedMinor, line.currency),
        }),
      );
    }
    return { matches: [match], flags, committed: recorded.committed };
  }

  /**
   * UNMATCHED_STATEMENT_LINE for a line past its window, unless the line has that flag already,
   * whatever its status: a cause that persists is not a new occurrence (the sweep and every run find
   * it again), and a flag a person resolved stays resolved. A new occurrence is only a line unmatched
   * by hand again (reraiseUnmatched).
   */
  private async flagUnmatchedLine(manager: EntityManager, account: BankAccountRecord, line: StatementLineRecord): Promise<ReconciliationFlagRecord | null> {
    const subject = `line:${line.id}`;
    if (await this.hasFlag(manager, account, ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE, subject)) return null;
    return this.raise(manager, account, ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE, subject, this.unmatchedLineDetails(account, line));
  }

  private unmatchedLineDetails(account: BankAccountRecord, line: StatementLineRecord): Record<string, unknown> {
    return {
      statementLineIds: [line.id],
      amount: formatMinorAsDecimal(line.amountMinor, line.currency),
      currency: line.currency,
      bookingDate: line.bookingDate,
      windowBusinessDays: account.matchWindowBusinessDays,
    };
  }

  private unmatchedPostingDetails(account: BankAccountRecord, posting: AgedPosting): Record<string, unknown> {
    return {
      postingIds: [posting.id],
      journalEntryId: posting.journalEntryId,
      amount: formatMinorAsDecimal(posting.amountMinor, posting.currency),
      currency: posting.currency,
      effectiveDate: posting.effectiveDate,
      windowBusinessDays: account.matchWindowBusinessDays,
    };
  }

  private async hasFlag(manager: EntityManager, account: BankAccountRecord, kind: ReconciliationFlagKind, subject: string): Promise<boolean> {
    const rows: Record<string, unknown>[] = await manager.query('SELECT id FROM reconciliation_flags WHERE tenant_id = ? AND bank_account_id = ? AND kind = ? AND subject = ?', [
      account.tenantId,
      account.id,
      kind,
      subject,
    ]);
    return rows.length > 0;
  }

  /** The flags about the items of matches just stored end: resolved MATCHED, naming the match. */
  private resolveFlagsOf(manager: EntityManager, matches: readonly ReconciliationMatchRecord[]): Promise<ReconciliationFlagRecord[]> {
    return this.flags.resolveMatched(
      manager,
      matches.map((m) => ({
        tenantId: m.tenantId,
        bankAccountId: m.bankAccountId,
        matchId: m.id,
        rule: m.rule,
        origin: m.origin,
        matchedBy: m.createdBy,
        note: m.note,
        statementLineIds: m.statementLineIds,
        postingIds: m.postingIds,
      })),
    );
  }

  private raise(manager: EntityManager, account: BankAccountRecord, kind: ReconciliationFlagKind, subject: string, details: Record<string, unknown>) {
    return this.flags.raise(manager, { tenantId: account.tenantId, bankAccountId: account.id, kind, subject, details });
  }

  private async lockAccount(manager: EntityManager, account: BankAccountRecord): Promise<void> {
    if (this.kind === 'mysql') await manager.query('SELECT id FROM bank_accounts WHERE id = ? FOR UPDATE', [account.id]);
  }

  /** Booked lines of the account dated from..to that were never matched (a line unmatched by hand is a person's to match again). */
  private async candidateLines(manager: EntityManager, account: BankAccountRecord, from: string, to: string): Promise<StatementLineRecord[]> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT l.* FROM statement_lines l
       WHERE l.bank_account_id = ? AND l.booking_date >= ? AND l.booking_date <= ? AND l.status = 'BOOKED' AND l.currency = ?
         AND NOT EXISTS (SELECT 1 FROM reconciliation_match_items i WHERE i.recorded_statement_line_id = l.id)`,
      [account.id, from, to, account.currency],
    );
    return rows.map(lineFromRow);
  }

  /** POSTED postings on the bank's ledger account effective from..to that were never matched, with their entries' references. */
  private async candidatePostings(manager: EntityManager, account: BankAccountRecord, scope: { from: string; to: string } | { entryIds: readonly string[] }): Promise<CandidatePosting[]> {
    const select = `SELECT p.id, p.journal_entry_id, p.direction, p.amount_minor, p.currency, p.effective_at, p.created_at, j.external_ref, j.description, j.metadata
       FROM postings p JOIN journal_entries j ON j.id = p.journal_entry_id
       WHERE p.account_id = ? AND p.phase = 'POSTED'
         AND NOT EXISTS (SELECT 1 FROM reconciliation_match_items i WHERE i.recorded_posting_id = p.id)`;
    const rows: Record<string, unknown>[] = [];
    if ('from' in scope) {
      appendAll(rows, (await manager.query(`${select} AND p.effective_at >= ? AND p.effective_at < ?`, [account.ledgerAccountId, this.dayStart(scope.from), this.dayStart(addDays(scope.to, 1))])) as Record<string, unknown>[]);
    } else {
      for (const chunk of chunks(scope.entryIds, ID_CHUNK)) {
        appendAll(rows, (await manager.query(`${select} AND p.journal_entry_id IN (${chunk.map(() => '?').join(',')})`, [account.ledgerAccountId, ...chunk])) as Record<string, unknown>[]);
      }
    }
    const payouts = new Map<string, string[]>();
    const entryIds = [...new Set(rows.map((row) => String(row.journal_entry_id)))];
    for (const chunk of chunks(entryIds, ID_CHUNK)) {
      const found: Record<string, unknown>[] = await manager.query(
        `SELECT id, external_ref, journal_entry_id FROM payouts WHERE tenant_id = ? AND journal_entry_id IN (${chunk.map(() => '?').join(',')})`,
        [account.tenantId, ...chunk],
      );
      for (const payout of found) {
        const ids = [String(payout.id)];
        if (payout.external_ref !== null) ids.push(String(payout.external_ref));
        payouts.set(String(payout.journal_entry_id), ids);
      }
    }
    return rows.map((row) => {
      const entryId = String(row.journal_entry_id);
      const related = [...(payouts.get(entryId) ?? []), ...metadataIds(row.metadata)];
      return {
        id: String(row.id),
        journalEntryId: entryId,
        amountMinor: signedAmount(row),
        currency: String(row.currency),
        effectiveDate: dayOf(fromDbTimestamp(row.effective_at)),
        externalRef: row.external_ref === null ? null : String(row.external_ref),
        description: row.description === null ? null : String(row.description),
        relatedIds: [...new Set(related)],
        createdAt: fromDbTimestamp(row.created_at),
      };
    });
  }

  /**
   * Adds, by indexed exact look-ups, the postings whose journal entry's externalRef (or payout's
   * reference) a focus line carries, and the lines whose end-to-end id or bank reference is a focus posting's
   * externalRef, however far from the dates read. Truncated or embedded references are only found
   * within the date range.
   */
  private async addReferencedItems(
    manager: EntityManager,
    account: BankAccountRecord,
    items: { lines: StatementLineRecord[]; postings: CandidatePosting[]; focusLines: ReadonlySet<string>; focusPostings: ReadonlySet<string> },
  ): Promise<void> {
    const { lines, postings, focusLines, focusPostings } = items;
    const lineRefs = new Set<string>();
    for (const line of lines) if (focusLines.has(line.id)) for (const text of referencesOfLine(line)) lineRefs.add(text);
    const knownEntries = new Set(postings.map((p) => p.journalEntryId));
    const entryIds = new Set<string>();
    for (const chunk of chunks([...lineRefs], ID_CHUNK)) {
      const marks = chunk.map(() => '?').join(',');
      const entries: Record<string, unknown>[] = await manager.query(`SELECT id FROM journal_entries WHERE tenant_id = ? AND external_ref IN (${marks})`, [account.tenantId, ...chunk]);
      const payouts: Record<string, unknown>[] = await manager.query(`SELECT journal_entry_id AS id FROM payouts WHERE tenant_id = ? AND external_ref IN (${marks})`, [account.tenantId, ...chunk]);
      for (const row of [...entries, ...payouts]) if (!knownEntries.has(String(row.id))) entryIds.add(String(row.id));
    }
    if (entryIds.size) {
      const known = new Set(postings.map((p) => p.id));
      for (const posting of await this.candidatePostings(manager, account, { entryIds: [...entryIds] })) if (!known.has(posting.id)) postings.push(posting);
    }

    const postingRefs = [...new Set(postings.filter((p) => focusPostings.has(p.id) && p.externalRef).map((p) => p.externalRef!))];
    const knownLines = new Set(lines.map((l) => l.id));
    for (const chunk of chunks(postingRefs, ID_CHUNK)) {
      // Two queries, one per index, rather than an OR that may read the whole account.
      for (const column of ['end_to_end_id', 'bank_reference']) {
        const rows: Record<string, unknown>[] = await manager.query(
          `SELECT l.* FROM statement_lines l
           WHERE l.bank_account_id = ? AND l.${column} IN (${chunk.map(() => '?').join(',')}) AND l.status = 'BOOKED' AND l.currency = ? AND l.booking_date IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM reconciliation_match_items i WHERE i.recorded_statement_line_id = l.id)`,
          [account.id, ...chunk, account.currency],
        );
        for (const line of rows.map(lineFromRow)) {
          if (knownLines.has(line.id)) continue;
          knownLines.add(line.id);
          lines.push(line);
        }
      }
    }
  }

  private storeMatches(manager: EntityManager, account: BankAccountRecord, matches: readonly Match[]): Promise<ReconciliationMatchRecord[]> {
    return this.insertMatches(
      manager,
      account,
      matches.map((match) => ({
        rule: match.rule,
        score: match.score,
        compared: JSON.parse(stringify(match.compared)) as Record<string, unknown>,
        origin: MatchOrigin.AUTOMATIC,
        createdBy: null,
        note: null,
        statementLineIds: match.lineIds,
        postingIds: match.postingIds,
      })),
    );
  }

  /**
   * Multi-row inserts (a statement per statement-kind per chunk, not per match: an import of thousands
   * of lines matches in a few dozen statements). A unique violation in any chunk fails the run, which
   * is then repeated on fresh reads.
   */
  private async insertMatches(
    manager: EntityManager,
    account: BankAccountRecord,
    matches: readonly Pick<ReconciliationMatchRecord, 'rule' | 'score' | 'compared' | 'origin' | 'createdBy' | 'note' | 'statementLineIds' | 'postingIds'>[],
  ): Promise<ReconciliationMatchRecord[]> {
    const now = this.clock.now();
    const records: ReconciliationMatchRecord[] = matches.map((match) => ({
      ...match,
      id: newId('reconciliationMatch'),
      tenantId: account.tenantId,
      bankAccountId: account.id,
      createdAt: now,
      unmatchedAt: null,
      unmatchedBy: null,
      unmatchNote: null,
    }));
    await insertRows(
      manager,
      'reconciliation_matches',
      MATCH_COLUMNS,
      // The score is stored in thousandths (an int column); the record keeps the engine's value.
      records.map((r) => [r.id, r.tenantId, r.bankAccountId, r.rule, Math.round(r.score * 1000), stringify(r.compared), r.origin, r.createdBy, r.note, toDbTimestamp(now)]),
    );
    const items: unknown[][] = [];
    for (const record of records) {
      for (const lineId of record.statementLineIds) items.push([newId('reconciliationMatch'), record.tenantId, record.id, lineId, null, lineId, null]);
      for (const postingId of record.postingIds) items.push([newId('reconciliationMatch'), record.tenantId, record.id, null, postingId, null, postingId]);
    }
    await insertRows(manager, 'reconciliation_match_items', MATCH_ITEM_COLUMNS, items);
    return records;
  }

  /**
   * A problem of the engine as a flag, once: a flag already raised for the same kind and subject is
   * left alone, whatever its status (the sweep finds the same problem again every time it runs, and a
   * person's resolution stands). The problem cannot return after its item was matched: the engine
   * only reads items that were never matched (one unmatched by hand is a person's to match again, and
   * ages as UNMATCHED_* instead). An ambiguity between
   * identical lines that outnumber the postings they compete for is a duplicated statement line.
   */
  private async flagProblem(
    manager: EntityManager,
    account: BankAccountRecord,
    problem: MatchProblem,
    linesById: Map<string, StatementLineRecord>,
  ): Promise<ReconciliationFlagRecord | null> {
    let kind: ReconciliationFlagKind;
    let details: Record<string, unknown>;
    const subject = problem.lineIds.length ? `line:${problem.lineIds[0]}` : `posting:${problem.postingIds[0]}`;
    if (problem.kind === 'AMOUNT_MISMATCH') {
      kind = ReconciliationFlagKind.AMOUNT_MISMATCH;
      details = {
        statementLineIds: problem.lineIds,
        postingIds: problem.postingIds,
        lineAmount: formatMinorAsDecimal(problem.lineAmountMinor, problem.lineCurrency),
        postingAmount: formatMinorAsDecimal(problem.postingAmountMinor, problem.postingCurrency),
        difference: formatMinorAsDecimal(problem.differenceMinor, problem.lineCurrency),
        currency: problem.lineCurrency,
        reference: problem.reference,
        reason: problem.reason,
      };
    } else {
      const lines = problem.lineIds.map((id) => linesById.get(id)).filter((l): l is StatementLineRecord => l !== undefined);
      const duplicated = lines.length >= 2 && lines.length > problem.postingIds.length && lines.every((l) => sameLineContent(l, lines[0]));
      kind = duplicated ? ReconciliationFlagKind.DUPLICATE_STATEMENT_LINE : ReconciliationFlagKind.AMBIGUOUS_MATCH;
      details = {
        statementLineIds: problem.lineIds,
        postingIds: problem.postingIds,
        rule: problem.rule,
        reason: duplicated ? `${lines.length} identical statement lines where the books have ${problem.postingIds.length} posting(s); nothing was matched` : problem.reason,
        ...(lines.length ? { amount: formatMinorAsDecimal(lines[0].amountMinor, lines[0].currency), currency: lines[0].currency } : {}),
      };
    }
    if (await this.hasFlag(manager, account, kind, subject)) return null;
    return this.raise(manager, account, kind, subject, details);
  }

  // ---------------------------------------------------------------------------------------------
  // By hand

  /**
   * Matches a line to postings chosen by a person: each posting POSTED on the bank's ledger account,
   * neither side currently matched, and the postings adding up to the line (VALIDATION_FAILED naming
   * both sums otherwise). Recorded with the credential that made it.
   */
  async matchByHand(tenantId: string, credentialId: string, input: ManualMatchInput, handle?: IdempotencyHandle): Promise<ReconciliationMatchRecord> {
    requireIdOfKind(input.statementLineId, 'bankStatementLine', 'statementLineId');
    const postingIds = [...new Set(input.postingIds)];
    if (postingIds.length === 0 || postingIds.length > MAX_MANUAL_POSTINGS) {
      throw validationError(`postingIds must name 1 to ${MAX_MANUAL_POSTINGS} postings`, { field: 'postingIds', max: MAX_MANUAL_POSTINGS });
    }
    if (postingIds.length !== input.postingIds.length) throw validationError('postingIds names a posting twice; name each once', { field: 'postingIds' });
    postingIds.forEach((id, i) => requireIdOfKind(id, 'posting', `postingIds[${i}]`));
    const note = this.noteOf(input.note);
    const line = await this.requireLine(tenantId, input.statementLineId);
    const [account] = await this.loadBankAccounts(tenantId, [line.bankAccountId]);
    if (!account) throw notFoundError('Bank account', line.bankAccountId);

    try {
      return await this.serialised(account.id, () =>
        runInTransaction(this.dataSource, async (manager) => {
          await this.lockAccount(manager, account);
          const current = await this.currentMatchIdsOfLines(manager, [line.id]);
          if (current.size) throw alreadyMatched('statementLineId', line.id, [...current.values()][0]);
          const rows: Record<string, unknown>[] = await manager.query(
            `SELECT id, account_id, phase, direction, amount_minor, currency FROM postings WHERE tenant_id = ? AND id IN (${postingIds.map(() => '?').join(',')})`,
            [tenantId, ...postingIds],
          );
          const byId = new Map(rows.map((row) => [String(row.id), row]));
          let total = 0n;
          postingIds.forEach((id, i) => {
            const row = byId.get(id);
            if (!row) throw notFoundError('Posting', id);
            if (String(row.account_id) !== account.ledgerAccountId) {
              throw validationError(`postingIds[${i}] ${id} is not on the bank account’s ledger account ${account.ledgerAccountId}; choose postings to that account`, {
                field: `postingIds[${i}]`,
                ledgerAccountId: account.ledgerAccountId,
              });
            }
            if (row.phase !== 'POSTED') throw validationError(`postingIds[${i}] ${id} is pending; only posted postings are matched`, { field: `postingIds[${i}]` });
            total += signedAmount(row);
          });
          const taken = await this.currentMatchIdsOfPostings(manager, postingIds);
          for (const [postingId, matchId] of taken) throw alreadyMatched(`postingIds[${postingIds.indexOf(postingId)}]`, postingId, matchId);
          if (total !== line.amountMinor) {
            const lineSum = formatMinorAsDecimal(line.amountMinor, line.currency);
            const postingSum = formatMinorAsDecimal(total, line.currency);
            throw validationError(`The postings add up to ${postingSum} ${line.currency} but the statement line is ${lineSum} ${line.currency}; choose postings that add up to the line`, {
              field: 'postingIds',
              lineAmount: lineSum,
              postingsAmount: postingSum,
              currency: line.currency,
            });
          }
          const [record] = await this.insertMatches(manager, account, [{
            rule: MANUAL_RULE,
            score: 1,
            compared: { amount: { line: line.amountMinor.toString(), postings: total.toString(), equal: true }, currency: { line: line.currency, postings: line.currency, equal: true } },
            origin: MatchOrigin.MANUAL,
            createdBy: credentialId,
            note,
            statementLineIds: [line.id],
            postingIds,
          }]);
          await this.resolveFlagsOf(manager, [record]);
          if (handle && this.idempotency) await this.idempotency.complete(manager, handle, { resultRef: { matchId: record.id } });
          return record;
        }),
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError(ErrorCode.INVALID_STATE_TRANSITION, 'The line or one of the postings was matched meanwhile; read them again and retry', {});
      throw error;
    }
  }

  /**
   * Undoes the line's current match. Nothing is deleted: the match row keeps who unmatched it and why,
   * and its items keep what they held while giving up their claim, so the line and the postings can be
   * matched again (by hand: automatic matching leaves alone what a person unmatched). Undoing an
   * INVOICE_NUMBER match leaves the invoice payment it recorded as it is: the money did arrive, and
   * the match only said which line brought it; taking the payment back is invoicing's (a refund). The
   * line is never recorded again (automatic matching leaves it alone, and one payment per line).
   */
  async unmatchByHand(tenantId: string, credentialId: string, input: ManualUnmatchInput, handle?: IdempotencyHandle): Promise<ReconciliationMatchRecord> {
    requireIdOfKind(input.statementLineId, 'bankStatementLine', 'statementLineId');
    const note = this.noteOf(input.note);
    const line = await this.requireLine(tenantId, input.statementLineId);
    const [account] = await this.loadBankAccounts(tenantId, [line.bankAccountId]);
    if (!account) throw notFoundError('Bank account', line.bankAccountId);
    const matchId = await this.serialised(account.id, () =>
      runInTransaction(this.dataSource, async (manager) => {
        await this.lockAccount(manager, account);
        const current = await this.currentMatchIdsOfLines(manager, [line.id]);
        const id = current.get(line.id);
        if (!id) {
          throw new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Statement line ${line.id} is not matched; nothing to unmatch`, { field: 'statementLineId', id: line.id });
        }
        const now = this.clock.now();
        await manager.query('UPDATE reconciliation_matches SET unmatched_at = ?, unmatched_by = ?, unmatch_note = ? WHERE id = ? AND unmatched_at IS NULL', [
          toDbTimestamp(now),
          credentialId,
          note,
          id,
        ]);
        await manager.query('UPDATE reconciliation_match_items SET statement_line_id = NULL, posting_id = NULL WHERE match_id = ?', [id]);
        await this.reraiseUnmatched(manager, account, id);
        if (handle && this.idempotency) await this.idempotency.complete(manager, handle, { resultRef: { matchId: id } });
        return id;
      }),
    );
    const [record] = await this.matchesByIds(tenantId, [matchId]);
    return record;
  }

  /**
   * After a match is undone by hand, its items are unmatched again: a new occurrence of their cause.
   * Each line and posting already past its window is flagged at once through raise(): its RESOLVED
   * flag REOPENS with one more occurrence (the match had resolved it), or a first flag is RAISED. An
   * item still within its window is aged when it passes it, like any other.
   */
  private async reraiseUnmatched(manager: EntityManager, account: BankAccountRecord, matchId: string): Promise<void> {
    const pastWindow = addDays(dayOf(this.clock.now()), -windowCalendarDays(account.matchWindowBusinessDays));
    const lines: Record<string, unknown>[] = await manager.query(
      `SELECT l.* FROM statement_lines l JOIN reconciliation_match_items i ON i.recorded_statement_line_id = l.id
       WHERE i.match_id = ? AND l.tenant_id = ? AND l.status = 'BOOKED' AND l.booking_date < ? ORDER BY l.id`,
      [matchId, account.tenantId, pastWindow],
    );
    for (const line of lines.map(lineFromRow)) {
      await this.raise(manager, account, ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE, `line:${line.id}`, this.unmatchedLineDetails(account, line));
    }
    const postings: Record<string, unknown>[] = await manager.query(
      `SELECT p.id, p.journal_entry_id, p.direction, p.amount_minor, p.currency, p.effective_at FROM postings p JOIN reconciliation_match_items i ON i.recorded_posting_id = p.id
       WHERE i.match_id = ? AND p.tenant_id = ? AND p.effective_at < ? ORDER BY p.id`,
      [matchId, account.tenantId, this.dayStart(pastWindow)],
    );
    for (const posting of postings.map(agedPostingOf)) {
      await this.raise(manager, account, ReconciliationFlagKind.UNMATCHED_LEDGER_ENTRY, `posting:${posting.id}`, this.unmatchedPostingDetails(account, posting));
    }
  }

  private noteOf(note: string | null | undefined): string | null {
    if (note === null || note === undefined) return null;
    const trimmed = note.trim();
    if (trimmed.length > NOTE_MAX) throw validationError(`note is longer than ${NOTE_MAX} characters`, { field: 'note', max: NOTE_MAX });
    return trimmed.length ? trimmed : null;
  }

  private async requireLine(tenantId: string, id: string): Promise<StatementLineRecord> {
    const rows: Record<string, unknown>[] = await this.dataSource.query('SELECT * FROM statement_lines WHERE tenant_id = ? AND id = ?', [tenantId, id]);
    if (!rows.length) throw notFoundError('Statement line', id);
    return lineFromRow(rows[0]);
  }

  private async currentMatchIdsOfLines(manager: EntityManager | DataSource, lineIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const chunk of chunks(lineIds, ID_CHUNK)) {
      const rows: Record<string, unknown>[] = await manager.query(
        `SELECT statement_line_id, match_id FROM reconciliation_match_items WHERE statement_line_id IN (${chunk.map(() => '?').join(',')})`,
        [...chunk],
      );
      for (const row of rows) found.set(String(row.statement_line_id), String(row.match_id));
    }
    return found;
  }

  private async currentMatchIdsOfPostings(manager: EntityManager, postingIds: readonly string[]): Promise<Map<string, string>> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT posting_id, match_id FROM reconciliation_match_items WHERE posting_id IN (${postingIds.map(() => '?').join(',')})`,
      [...postingIds],
    );
    return new Map(rows.map((row) => [String(row.posting_id), String(row.match_id)]));
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  /** The current match of each line (null for an unmatched line), in the order asked. */
  async currentMatchesOfLines(tenantId: string, lineIds: readonly string[]): Promise<(ReconciliationMatchRecord | null)[]> {
    const matchIds = await this.currentMatchIdsOfLines(this.dataSource, lineIds);
    const matches = new Map((await this.matchesByIds(tenantId, [...new Set(matchIds.values())])).map((m) => [m.id, m]));
    return lineIds.map((id) => {
      const matchId = matchIds.get(id);
      return matchId ? (matches.get(matchId) ?? null) : null;
    });
  }

  async matchesByIds(tenantId: string, ids: readonly string[]): Promise<ReconciliationMatchRecord[]> {
    if (ids.length === 0) return [];
    const out: ReconciliationMatchRecord[] = [];
    for (const chunk of chunks(ids, ID_CHUNK)) {
      const rows: Record<string, unknown>[] = await this.dataSource.query(
        `SELECT * FROM reconciliation_matches WHERE tenant_id = ? AND id IN (${chunk.map(() => '?').join(',')})`,
        [tenantId, ...chunk],
      );
      const items: Record<string, unknown>[] = await this.dataSource.query(
        `SELECT match_id, recorded_statement_line_id, recorded_posting_id FROM reconciliation_match_items WHERE tenant_id = ? AND match_id IN (${chunk.map(() => '?').join(',')}) ORDER BY id`,
        [tenantId, ...chunk],
      );
      for (const row of rows) {
        const own = items.filter((item) => item.match_id === row.id);
        out.push({
          id: String(row.id),
          tenantId: String(row.tenant_id),
          bankAccountId: String(row.bank_account_id),
          rule: String(row.rule),
          score: Number(row.score) / 1000,
          compared: JSON.parse(String(row.details)) as Record<string, unknown>,
          origin: row.origin as MatchOrigin,
          createdBy: row.created_by === null ? null : String(row.created_by),
          note: row.note === null || row.note === undefined ? null : String(row.note),
          createdAt: fromDbTimestamp(row.created_at),
          unmatchedAt: row.unmatched_at === null ? null : fromDbTimestamp(row.unmatched_at),
          unmatchedBy: row.unmatched_by === null || row.unmatched_by === undefined ? null : String(row.unmatched_by),
          unmatchNote: row.unmatch_note === null || row.unmatch_note === undefined ? null : String(row.unmatch_note),
          statementLineIds: own.filter((item) => item.recorded_statement_line_id !== null).map((item) => String(item.recorded_statement_line_id)),
          postingIds: own.filter((item) => item.recorded_posting_id !== null).map((item) => String(item.recorded_posting_id)),
        });
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------

  private dayStart(day: string): string {
    return toDbTimestamp(new Date(`${day}T00:00:00.000Z`));
  }
}

function alreadyMatched(field: string, id: string, matchId: string): AppError {
  return new AppError(ErrorCode.INVALID_STATE_TRANSITION, `${id} is already matched (match ${matchId}); unmatch it first`, { field, id, matchId });
}

/** Money in positive: a DEBIT to the cash-at-bank asset is money arriving. */
function signedAmount(row: Record<string, unknown>): bigint {
  const amount = toBigInt(row.amount_minor);
  return row.direction === 'DEBIT' ? amount : -amount;
}

/** Ids a journal entry's metadata names: the payment it belongs to, the gateway's payout reference. */
function metadataIds(metadata: unknown): string[] {
  if (metadata === null || metadata === undefined) return [];
  try {
    const parsed = JSON.parse(String(metadata)) as Record<string, unknown>;
    return ['paymentId', 'payoutId', 'payoutRef', 'invoiceNumber'].map((key) => parsed[key]).filter((v): v is string => typeof v === 'string' && v.length > 0);
  } catch {
    return [];
  }
}

const REFERENCE_WORD = /^(?=.*\d)[A-Za-z0-9][A-Za-z0-9\-_/.]{5,254}$/;
const MAX_WORDS_PER_LINE = 8;

/** Whole strings of a line that could be a posting's externalRef: its ids, and reference-like words of its text. */
function referencesOfLine(line: StatementLineRecord): string[] {
  const out = [line.endToEndId, line.bankReference].filter((v): v is string => v !== null && v.length > 0 && v.length <= 255);
  const words = `${line.remittanceInformation ?? ''} ${line.description ?? ''}`.split(/\s+/).filter((w) => REFERENCE_WORD.test(w));
  return [...out, ...words.slice(0, MAX_WORDS_PER_LINE)];
}

function toMatcherLine(line: StatementLineRecord): MatcherStatementLine {
  return {
    id: line.id,
    amountMinor: line.amountMinor,
    currency: line.currency,
    bookingDate: line.bookingDate,
    valueDate: line.valueDate,
    bankReference: line.bankReference,
    endToEndId: line.endToEndId,
    remittanceInformation: line.remittanceInformation ?? line.description,
    counterpartyName: line.counterpartyName,
  };
}

function sameLineContent(a: StatementLineRecord, b: StatementLineRecord): boolean {
  return (
    a.amountMinor === b.amountMinor &&
    a.currency === b.currency &&
    a.bookingDate === b.bookingDate &&
    a.valueDate === b.valueDate &&
    a.endToEndId === b.endToEndId &&
    a.remittanceInformation === b.remittanceInformation &&
    a.description === b.description &&
    a.counterpartyName === b.counterpartyName
  );
}

