import type { DataSource } from 'typeorm';
import type { Clock } from '../../common/clock';
import type { Metrics, ScrapeReader } from '../../common/metrics';
import { ReconciliationFlagKind, ReconciliationFlagStatus } from './reconciliation.types';

/** Reconciliation accuracy looks at statement lines booked in this many days up to today. */
export const ACCURACY_WINDOW_DAYS = 30;
const WINDOW_LABEL = `${ACCURACY_WINDOW_DAYS}d`;
const DAY_MS = 86_400_000;
const UNRESOLVED = [ReconciliationFlagStatus.OPEN, ReconciliationFlagStatus.ACKNOWLEDGED];

/**
 * The reconciliation figures of GET /metrics, read at scrape across all tenants: open flags by kind, and
 * reconciliation accuracy, defined as the share of BOOKED statement lines booked in the last
 * ACCURACY_WINDOW_DAYS days that a match (automatic or by hand) claims now. A line the matcher and the
 * sweep could not place stays unmatched and lowers it; a match undone by hand frees its line and lowers it
 * too. Both queries start from the small tables (tenants, bank accounts) and reach the large ones through
 * their per-tenant and per-account indexes, so a scrape reads the unresolved flags and the window's lines,
 * not the whole history.
 */
export function reconciliationScrapeReader(dataSource: DataSource, clock: Clock, metrics: Metrics): ScrapeReader {
  return async () => {
    const flagRows: Record<string, unknown>[] = await dataSource.query(
      `SELECT f.kind AS kind, COUNT(*) AS count
         FROM tenants t JOIN reconciliation_flags f ON f.tenant_id = t.id AND f.status IN (${UNRESOLVED.map(() => '?').join(', ')})
        GROUP BY f.kind`,
      UNRESOLVED,
    );
    const since = new Date(clock.now().getTime() - (ACCURACY_WINDOW_DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
    const lineRows: Record<string, unknown>[] = await dataSource.query(
      `SELECT CASE WHEN EXISTS (SELECT 1 FROM reconciliation_match_items i WHERE i.statement_line_id = l.id) THEN 1 ELSE 0 END AS matched,
              COUNT(*) AS count
         FROM bank_accounts b JOIN statement_lines l ON l.bank_account_id = b.id AND l.booking_date >= ?
        WHERE l.status = 'BOOKED'
        GROUP BY 1`,
      [since],
    );
    const flags = new Map(flagRows.map((row) => [String(row.kind), Number(row.count)]));
    // Every kind, zero included: an alert on one kind then has a series to read before its first flag.
    for (const kind of Object.values(ReconciliationFlagKind)) metrics.openReconciliationFlags.set({ kind }, flags.get(kind) ?? 0);
    const lines = (matched: number) => Number(lineRows.find((row) => Number(row.matched) === matched)?.count ?? 0);
    const matched = lines(1);
    const total = matched + lines(0);
    metrics.reconciliationStatementLines.set({ window: WINDOW_LABEL, matched: 'true' }, matched);
    metrics.reconciliationStatementLines.set({ window: WINDOW_LABEL, matched: 'false' }, total - matched);
    metrics.reconciliationAccuracy.reset();
    if (total > 0) metrics.reconciliationAccuracy.set({ window: WINDOW_LABEL }, matched / total);
  };
}
