import type { DataSource } from 'typeorm';
import { validationError } from '../../common/errors';
import { toBigInt } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import type { LedgerService } from '../ledger/ledger.service';
import type { ReconciliationService } from './reconciliation.service';
import { type BankAccountRecord, ReconciliationFlagKind, ReconciliationFlagStatus } from './reconciliation.types';

/** Calendar days, inclusive, in UTC: statement lines by booking date, postings by effective date. */
export interface ReportPeriod {
  from: string;
  to: string;
}

export interface SideTally {
  count: number;
  /** Signed, in minor units: money in positive (a statement credit, a debit to the bank's ledger account). */
  amountMinor: bigint;
}

export interface SideSummary {
  matched: SideTally;
  unmatched: SideTally;
}

export interface ReconciliationReportRecord {
  bankAccount: BankAccountRecord;
  period: ReportPeriod;
  statementLines: SideSummary;
  ledgerPostings: SideSummary;
  openFlags: { kind: ReconciliationFlagKind; count: number }[];
  /** The latest statement of the account with a closing balance dated in or before the period's end; null without one. */
  balances: {
    statementId: string;
    date: string;
    statementClosingBalanceMinor: bigint;
    ledgerBalanceMinor: bigint;
    differenceMinor: bigint;
  } | null;
}

export interface ReconciliationAccuracyRecord {
  automaticMatches: number;
  automaticMatchesConfirmed: number;
  statementLines: number;
  statementLinesMatchedAutomatically: number;
}

const MAX_PERIOD_DAYS = 366 * 5;
const DAY_MS = 86_400_000;

function dayStart(day: string): Date {
  return new Date(`${day}T00:00:00.000Z`);
}

function addDays(day: string, days: number): string {
  return new Date(dayStart(day).getTime() + days * DAY_MS).toISOString().slice(0, 10);
}

/** A period of real calendar days, from ≤ to, at most five years. */
function requirePeriod(period: ReportPeriod, field: string): ReportPeriod {
  for (const [name, day] of [['from', period.from], ['to', period.to]] as const) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(dayStart(day).getTime()) || dayStart(day).toISOString().slice(0, 10) !== day) {
      throw validationError(`${field}.${name} must be a calendar date YYYY-MM-DD`, { field: `${field}.${name}` });
    }
  }
  if (period.from > period.to) throw validationError(`${field}.from must be on or before ${field}.to`, { field: `${field}.from` });
  if ((dayStart(period.to).getTime() - dayStart(period.from).getTime()) / DAY_MS > MAX_PERIOD_DAYS) {
    throw validationError(`${field} spans at most ${MAX_PERIOD_DAYS} days; ask for a shorter one`, { field });
  }
  return period;
}

const OPEN_STATUSES = [ReconciliationFlagStatus.OPEN, ReconciliationFlagStatus.ACKNOWLEDGED];

/**
 * What an operator reads to see how far a bank account is reconciled, from the committed tables only:
 * statement lines (BOOKED, by booking date) and POSTED postings on the account's ledger account (by
 * effective date) in the period, each matched (currently claimed by a match) or not; the flags not yet
 * resolved on the account, by kind, whatever their date; and the latest statement closing balance
 * against the ledger balance as of the end of that day.
 */
export class ReconciliationReportService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly reconciliation: Pick<ReconciliationService, 'getBankAccount'>,
    private readonly ledger: Pick<LedgerService, 'totalsAsOf'>,
  ) {}

  async report(tenantId: string, bankAccountId: string, period: ReportPeriod): Promise<ReconciliationReportRecord> {
    const account = await this.reconciliation.getBankAccount(tenantId, bankAccountId, 'bankAccountId');
    const { from, to } = requirePeriod(period, 'period');

    const lineRows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT CASE WHEN EXISTS (SELECT 1 FROM reconciliation_match_items i WHERE i.statement_line_id = l.id) THEN 1 ELSE 0 END AS matched,
              COUNT(*) AS count, COALESCE(SUM(l.amount_minor), 0) AS amount
         FROM statement_lines l
        WHERE l.tenant_id = ? AND l.bank_account_id = ? AND l.status = 'BOOKED' AND l.booking_date >= ? AND l.booking_date <= ?
        GROUP BY 1`,
      [tenantId, account.id, from, to],
    );
    const postingRows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT CASE WHEN EXISTS (SELECT 1 FROM reconciliation_match_items i WHERE i.posting_id = p.id) THEN 1 ELSE 0 END AS matched,
              COUNT(*) AS count,
              COALESCE(SUM(CASE WHEN p.direction = 'DEBIT' THEN p.amount_minor ELSE -p.amount_minor END), 0) AS amount
         FROM postings p
        WHERE p.tenant_id = ? AND p.account_id = ? AND p.phase = 'POSTED' AND p.effective_at >= ? AND p.effective_at < ?
        GROUP BY 1`,
      [tenantId, account.ledgerAccountId, toDbTimestamp(dayStart(from)), toDbTimestamp(dayStart(addDays(to, 1)))],
    );
    const flagRows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT kind, COUNT(*) AS count FROM reconciliation_flags
        WHERE tenant_id = ? AND bank_account_id = ? AND status IN (${OPEN_STATUSES.map(() => '?').join(', ')})
        GROUP BY kind`,
      [tenantId, account.id, ...OPEN_STATUSES],
    );
    const counts = new Map(flagRows.map((row) => [String(row.kind), Number(row.count)]));
    const openFlags = Object.values(ReconciliationFlagKind)
      .filter((kind) => counts.has(kind))
      .map((kind) => ({ kind, count: counts.get(kind) ?? 0 }));

    return {
      bankAccount: account,
      period: { from, to },
      statementLines: sidesOf(lineRows),
      ledgerPostings: sidesOf(postingRows),
      openFlags,
      balances: await this.balancesAt(tenantId, account, to),
    };
  }

  /**
   * The closing date of a statement is its closing balance's date, else its last day. The ledger
   * balance is the posted balance of postings effective up to the end of that day (UTC).
   */
  private async balancesAt(tenantId: string, account: BankAccountRecord, to: string): Promise<ReconciliationReportRecord['balances']> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT id, closing_balance_minor, COALESCE(closing_balance_date, to_date) AS closing_date FROM bank_statements
        WHERE tenant_id = ? AND bank_account_id = ? AND closing_balance_minor IS NOT NULL
          AND COALESCE(closing_balance_date, to_date) IS NOT NULL AND COALESCE(closing_balance_date, to_date) <= ?
        ORDER BY closing_date DESC, imported_at DESC, id DESC LIMIT 1`,
      [tenantId, account.id, to],
    );
    if (rows.length === 0) return null;
    const date = String(rows[0].closing_date);
    const statementClosingBalanceMinor = toBigInt(rows[0].closing_balance_minor);
    const endOfDay = new Date(dayStart(addDays(date, 1)).getTime() - 1);
    const totals = (await this.ledger.totalsAsOf(tenantId, [account.ledgerAccountId], endOfDay)).get(account.ledgerAccountId);
    const ledgerBalanceMinor = totals ? totals.postedDebitsMinor - totals.postedCreditsMinor : 0n;
    return {
      statementId: String(rows[0].id),
      date,
      statementClosingBalanceMinor,
      ledgerBalanceMinor,
      differenceMinor: statementClosingBalanceMinor - ledgerBalanceMinor,
    };
  }

  /**
   * Automatic matches whose statement line (as recorded when matched) falls in the period, and how many
   * still stand (not unmatched by hand since); BOOKED lines in the period, and how many are now claimed
   * by an automatic match. Without a bank account, every one of the tenant's; without a period, all time.
   */
  async accuracy(tenantId: string, bankAccountId: string | null, period: ReportPeriod | null): Promise<ReconciliationAccuracyRecord> {
    const lineConditions = ['l.tenant_id = ?', "l.status = 'BOOKED'"];
    const params: unknown[] = [tenantId];
    if (bankAccountId) {
      await this.reconciliation.getBankAccount(tenantId, bankAccountId, 'bankAccountId');
      lineConditions.push('l.bank_account_id = ?');
      params.push(bankAccountId);
    }
    if (period) {
      const { from, to } = requirePeriod(period, 'period');
      lineConditions.push('l.booking_date >= ?', 'l.booking_date <= ?');
      params.push(from, to);
    }
    const lineWhere = lineConditions.join(' AND ');
    const [matches]: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN m.unmatched_at IS NULL THEN 1 ELSE 0 END), 0) AS confirmed
         FROM reconciliation_matches m
        WHERE m.tenant_id = ? AND m.origin = 'AUTOMATIC'
          AND EXISTS (SELECT 1 FROM reconciliation_match_items i JOIN statement_lines l ON l.id = i.recorded_statement_line_id
                       WHERE i.match_id = m.id AND ${lineWhere})`,
      [tenantId, ...params],
    );
    const [lines]: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT COUNT(*) AS total,
              COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM reconciliation_match_items i JOIN reconciliation_matches m ON m.id = i.match_id
                                             WHERE i.statement_line_id = l.id AND m.origin = 'AUTOMATIC') THEN 1 ELSE 0 END), 0) AS automatic
         FROM statement_lines l WHERE ${lineWhere}`,
      params,
    );
    return {
      automaticMatches: Number(matches.total),
      automaticMatchesConfirmed: Number(matches.confirmed),
      statementLines: Number(lines.total),
      statementLinesMatchedAutomatically: Number(lines.automatic),
    };
  }
}

function sidesOf(rows: Record<string, unknown>[]): SideSummary {
  const tally = (matched: number): SideTally => {
    const row = rows.find((r) => Number(r.matched) === matched);
    return row ? { count: Number(row.count), amountMinor: toBigInt(row.amount) } : { count: 0, amountMinor: 0n };
  };
  return { matched: tally(1), unmatched: tally(0) };
}
