import type { DataSource, EntityManager } from 'typeorm';
import { toBigInt } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import { type DatabaseKind, databaseKindOfSource } from '../../db/data-source';
import { runInTransaction } from '../../db/transaction';
import { withoutStatementLimit } from '../../db/statement-scope';
import { type AccountTotals, EntryDirection, PostingPhase } from './ledger.types';
import type { PostingRecord } from './ledger-writer';

/**
 * Balance checkpoints: per account, the change its postings made in each UTC month ('M') and each
 * UTC day ('D'), in the four columns of AccountTotals (posted debits and credits; debits and credits
 * of both phases). They are deltas, not running balances, so a posting backdated into an old period
 * changes one month row and one day row and nothing after them.
 *
 * A balance up to an instant is then: the month rows before its month, the day rows of its month
 * before its day, and the account's postings of that one day, read by an index seek. Its cost grows
 * with the months of history and one day's postings of the account, not with all its postings.
 *
 * The ledger writer keeps the rows in the transaction that inserts the postings. Whatever inserts
 * postings another way (bulk loads, benches) calls rebuildPeriodTotals after. Reads check each
 * account's month rows against the totals kept on its row (same statement, same snapshot): an account
 * whose checkpoints do not add up to them is summed from its postings instead, so missing or stale
 * checkpoints cost time, never a wrong balance.
 */
export const PERIOD_TOTALS_TABLE = 'account_period_totals';

const MONTH = 'M';
const DAY = 'D';

const COLUMNS = ['posted_debits_minor', 'posted_credits_minor', 'pending_debits_minor', 'pending_credits_minor'] as const;

/** Start of the UTC month and of the UTC day of an instant, as stored (toDbTimestamp form). */
export function periodStartsOf(at: Date): { month: string; day: string } {
  const text = toDbTimestamp(at);
  return { month: `${text.slice(0, 7)}-01 00:00:00.000`, day: `${text.slice(0, 10)} 00:00:00.000` };
}

const zeroTotals = (): AccountTotals => ({ postedDebitsMinor: 0n, postedCreditsMinor: 0n, pendingDebitsMinor: 0n, pendingCreditsMinor: 0n });

/** Adds one posting to totals as the writer does: POSTED counts in both, PENDING in the pending pair only. */
function addPosting(totals: AccountTotals, direction: string, phase: string, amount: bigint): void {
  const debit = direction === EntryDirection.DEBIT;
  if (phase === PostingPhase.POSTED) {
    if (debit) totals.postedDebitsMinor += amount;
    else totals.postedCreditsMinor += amount;
  }
  if (debit) totals.pendingDebitsMinor += amount;
  else totals.pendingCreditsMinor += amount;
}

const ROWS_PER_UPSERT = 250;

/**
 * Adds new postings to their accounts' month and day rows, inside the writer's transaction. The
 * writer holds every touched account's row lock, so two transactions never change one account's
 * checkpoints at once; rows are written in key order all the same.
 */
export async function recordPeriodTotals(manager: EntityManager, kind: DatabaseKind, postings: readonly PostingRecord[]): Promise<void> {
  if (postings.length === 0) return;
  const deltas = new Map<string, { accountId: string; tenantId: string; periodKind: string; start: string; totals: AccountTotals }>();
  for (const posting of postings) {
    const starts = periodStartsOf(posting.effectiveAt);
    for (const [periodKind, start] of [[MONTH, starts.month], [DAY, starts.day]] as const) {
      const key = `${posting.accountId}|${periodKind}|${start}`;
      let delta = deltas.get(key);
      if (!delta) {
        delta = { accountId: posting.accountId, tenantId: posting.tenantId, periodKind, start, totals: zeroTotals() };
        deltas.set(key, delta);
      }
      addPosting(delta.totals, posting.direction, posting.phase, posting.amountMinor);
    }
  }
  const rows = [...deltas.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, delta]) => delta);
  const minor = (value: bigint) => (kind === 'sqlite' ? value : value.toString());
  const update =
    kind === 'mysql'
      ? `ON DUPLICATE KEY UPDATE ${COLUMNS.map((column) => `${column} = ${column} + VALUES(${column})`).join(', ')}`
      : `ON CONFLICT (account_id, period_kind, period_start) DO UPDATE SET ${COLUMNS.map((column) => `${column} = ${column} + excluded.${column}`).join(', ')}`;
  for (let start = 0; start < rows.length; start += ROWS_PER_UPSERT) {
    const part = rows.slice(start, start + ROWS_PER_UPSERT);
    await manager.query(
      `INSERT INTO ${PERIOD_TOTALS_TABLE} (account_id, period_kind, period_start, tenant_id, ${COLUMNS.join(', ')})
       VALUES ${part.map(() => '(?,?,?,?,?,?,?,?)').join(',')} ${update}`,
      part.flatMap((row) => [
        row.accountId,
        row.periodKind,
        row.start,
        row.tenantId,
        minor(row.totals.postedDebitsMinor),
        minor(row.totals.postedCreditsMinor),
        minor(row.totals.pendingDebitsMinor),
        minor(row.totals.pendingCreditsMinor),
      ]),
    );
  }
}

/** SQL of the start of a timestamp column's UTC month or day, as periodStartsOf gives it. */
function periodStartSql(kind: DatabaseKind, periodKind: string, column: string): string {
  if (kind === 'mysql') return `DATE_FORMAT(${column}, '${periodKind === MONTH ? '%Y-%m-01' : '%Y-%m-%d'} 00:00:00')`;
  return periodKind === MONTH ? `substr(${column}, 1, 7) || '-01 00:00:00.000'` : `substr(${column}, 1, 10) || ' 00:00:00.000'`;
}

/**
 * Recomputes every checkpoint (of one tenant, or of all) from the postings, in one transaction and
 * without a statement time limit. For what inserted postings past the ledger writer (bulk loads,
 * benches, a restore) and for the migration that creates the table. On MySQL it locks the postings it
 * reads, so writes wait for it rather than slip between its delete and its insert.
 */
export async function rebuildPeriodTotals(dataSource: DataSource, tenantId?: string): Promise<void> {
  const kind = databaseKindOfSource(dataSource);
  await withoutStatementLimit(() => runInTransaction(dataSource, (manager) => rebuildPeriodTotalsWithin(manager, kind, tenantId)));
}

/** The rebuild inside the caller's transaction (a migration's). */
export async function rebuildPeriodTotalsWithin(manager: EntityManager | { query: EntityManager['query'] }, kind: DatabaseKind, tenantId?: string): Promise<void> {
  const scope = tenantId === undefined ? '' : ' WHERE tenant_id = ?';
  const params = tenantId === undefined ? [] : [tenantId];
  await manager.query(`DELETE FROM ${PERIOD_TOTALS_TABLE}${scope}`, params);
  // Days from the postings, then months from the days (fewer rows to group than the postings).
  const day = periodStartSql(kind, DAY, 'effective_at');
  await manager.query(
    `INSERT INTO ${PERIOD_TOTALS_TABLE} (account_id, period_kind, period_start, tenant_id, ${COLUMNS.join(', ')})
     SELECT account_id, '${DAY}', ${day}, tenant_id,
            SUM(CASE WHEN phase = '${PostingPhase.POSTED}' AND direction = '${EntryDirection.DEBIT}' THEN amount_minor ELSE 0 END),
            SUM(CASE WHEN phase = '${PostingPhase.POSTED}' AND direction = '${EntryDirection.CREDIT}' THEN amount_minor ELSE 0 END),
            SUM(CASE WHEN direction = '${EntryDirection.DEBIT}' THEN amount_minor ELSE 0 END),
            SUM(CASE WHEN direction = '${EntryDirection.CREDIT}' THEN amount_minor ELSE 0 END)
       FROM postings${scope}
      GROUP BY account_id, tenant_id, ${day}`,
    params,
  );
  const month = periodStartSql(kind, MONTH, 'period_start');
  await manager.query(
    `INSERT INTO ${PERIOD_TOTALS_TABLE} (account_id, period_kind, period_start, tenant_id, ${COLUMNS.join(', ')})
     SELECT account_id, '${MONTH}', ${month}, tenant_id, ${COLUMNS.map((column) => `SUM(${column})`).join(', ')}
       FROM ${PERIOD_TOTALS_TABLE} WHERE period_kind = '${DAY}'${tenantId === undefined ? '' : ' AND tenant_id = ?'}
      GROUP BY account_id, tenant_id, ${month}`,
    params,
  );
}

/** Where a balance stops: postings effective before `at` (or at it, when inclusive), and optionally, at `at` itself, those with a smaller id. */
export interface BalanceBound {
  at: Date;
  inclusive: boolean;
  /** With `inclusive: false`: postings effective exactly at `at` with an id below this one count too. */
  beforePostingId?: string;
}

type Query = (sql: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * Each account's totals from its postings up to `bound`: checkpoints plus a seek over the bound's day,
 * or, for an account whose checkpoints do not add up to its kept totals, a sum of its postings.
 * `postedOnly` walks POSTED postings only, by the (account_id, phase, effective_at) index: the pending
 * pair of its answer is then incomplete, for callers that read the posted pair only.
 */
export async function totalsUpTo(
  query: Query,
  tenantId: string,
  accountIds: readonly string[],
  bound: BalanceBound,
  postedOnly = false,
): Promise<Map<string, AccountTotals>> {
  const result = new Map<string, AccountTotals>(accountIds.map((id) => [id, zeroTotals()]));
  if (accountIds.length === 0) return result;
  const { month, day } = periodStartsOf(bound.at);
  const ids = accountIds.map(() => '?').join(',');
  const sums = (condition: string) => COLUMNS.map((column, index) => `SUM(CASE WHEN ${condition} THEN ${column} ELSE 0 END) AS c${index}`);
  const checkpoints = await query(
    `SELECT a.id, ${COLUMNS.map((column, index) => `a.${column} AS a${index}`).join(', ')},
            ${[0, 1, 2, 3].map((index) => `t.m${index}, t.b${index}`).join(', ')}
       FROM accounts a
       LEFT JOIN (SELECT account_id,
                         ${sums(`period_kind = '${MONTH}'`).map((sql, index) => sql.replace(/ AS c\d+$/, ` AS m${index}`)).join(', ')},
                         ${sums(`((period_kind = '${MONTH}' AND period_start < ?) OR (period_kind = '${DAY}' AND period_start < ?))`)
                           .map((sql, index) => sql.replace(/ AS c\d+$/, ` AS b${index}`))
                           .join(', ')}
                    FROM ${PERIOD_TOTALS_TABLE}
                   WHERE tenant_id = ? AND account_id IN (${ids})
                     AND (period_kind = '${MONTH}' OR (period_kind = '${DAY}' AND period_start >= ? AND period_start < ?))
                   GROUP BY account_id) t ON t.account_id = a.id
      WHERE a.tenant_id = ? AND a.id IN (${ids})`,
    [...COLUMNS.flatMap(() => [month, day]), tenantId, ...accountIds, month, day, tenantId, ...accountIds],
  );
  const checkpointed: string[] = [];
  const unchecked: string[] = [];
  for (const row of checkpoints) {
    const id = String(row.id);
    const kept = [0, 1, 2, 3].map((index) => toBigInt(row[`a${index}`] ?? 0));
    const months = [0, 1, 2, 3].map((index) => toBigInt(row[`m${index}`] ?? 0));
    if (kept.every((value, index) => value === months[index])) {
      const before = [0, 1, 2, 3].map((index) => toBigInt(row[`b${index}`] ?? 0));
      result.set(id, { postedDebitsMinor: before[0], postedCreditsMinor: before[1], pendingDebitsMinor: before[2], pendingCreditsMinor: before[3] });
      checkpointed.push(id);
    } else {
      unchecked.push(id);
    }
  }
  const upper = bound.inclusive ? 'effective_at <= ?' : bound.beforePostingId ? '(effective_at < ? OR (effective_at = ? AND id < ?))' : 'effective_at < ?';
  const upperParams = bound.inclusive || !bound.beforePostingId ? [toDbTimestamp(bound.at)] : [toDbTimestamp(bound.at), toDbTimestamp(bound.at), bound.beforePostingId];
  const phase = postedOnly ? ` AND phase = '${PostingPhase.POSTED}'` : '';
  const walk = async (accounts: string[], from: string | null) => {
    if (accounts.length === 0) return;
    const rows = await query(
      `SELECT account_id, direction, phase, SUM(amount_minor) AS total FROM postings
        WHERE tenant_id = ? AND account_id IN (${accounts.map(() => '?').join(',')})${phase}${from === null ? '' : ' AND effective_at >= ?'} AND ${upper}
        GROUP BY account_id, direction, phase`,
      [tenantId, ...accounts, ...(from === null ? [] : [from]), ...upperParams],
    );
    for (const row of rows) {
      const totals = result.get(String(row.account_id));
      if (totals) addPosting(totals, String(row.direction), String(row.phase), toBigInt(row.total));
    }
  };
  await walk(checkpointed, day);
  await walk(unchecked, null);
  return result;
}
