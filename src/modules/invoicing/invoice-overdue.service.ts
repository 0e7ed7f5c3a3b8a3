import type { DataSource } from 'typeorm';
import type { Clock } from '../../common/clock';
import { toDbTimestamp } from '../../common/timestamps';
import { executeCountingRows } from '../../db/affected-rows';
import { runInTransaction } from '../../db/transaction';
import { type InvoiceEvent, type InvoiceEventPublisher, InvoiceEventType, recordInvoiceEvents } from './invoices.events';
import { utcDateOf, type InvoicesService } from './invoices.service';
import { InvoiceStatus } from './invoices.types';

/** Invoices marked in one transaction; a run goes on batch after batch until none is left (or the cap). */
const SWEEP_BATCH_SIZE = 100;
const SWEEP_MAX_BATCHES = 20;

/**
 * invoice.overdue, once per invoice: a periodic sweep (every API process runs it) finds OPEN invoices
 * past their due date by the service clock (UTC days, the rule of `InvoicesService.isOverdue`: due
 * today is not overdue) that were never notified, marks each with overdue_notified_at, and emits OVERDUE
 * for the ones it marked once the mark has committed.
 *
 * The mark is a conditional UPDATE (… AND overdue_notified_at IS NULL AND status = OPEN) whose changed
 * rows are counted: of several processes sweeping at once, exactly one changes the row and emits; an
 * invoice paid or voided between the read and the mark is left alone. Delivery is at most once, like
 * every live event: an event published while nobody listens is not sent again.
 */
export class InvoiceOverdueService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly invoices: InvoicesService,
    private readonly events: InvoiceEventPublisher,
  ) {}

  /** One run of the sweep; returns how many invoices this run marked (and emitted invoice.overdue for). */
  async sweep(): Promise<number> {
    let marked = 0;
    for (let batch = 0; batch < SWEEP_MAX_BATCHES; batch += 1) {
      const { found, changed } = await this.sweepBatch();
      marked += changed;
      if (found < SWEEP_BATCH_SIZE) break;
    }
    return marked;
  }

  private async sweepBatch(): Promise<{ found: number; changed: number }> {
    const now = this.clock.now();
    const today = utcDateOf(now);
    const candidates: { tenant_id: string; id: string }[] = await this.dataSource.query(
      `SELECT tenant_id, id FROM invoices WHERE status = ? AND overdue_notified_at IS NULL AND due_date < ? ORDER BY due_date, id LIMIT ${SWEEP_BATCH_SIZE}`,
      [InvoiceStatus.OPEN, today],
    );
    if (candidates.length === 0) return { found: 0, changed: 0 };
    // Rows are marked in the order read, the same in every process, so racing sweeps wait on each other
    // rather than deadlock; a retried transaction starts its count again.
    const overdue = await runInTransaction(this.dataSource, async (manager) => {
      const marked = new Map<string, string[]>();
      for (const candidate of candidates) {
        const changed = await executeCountingRows(
          manager,
          // Invoice.overdue follows the clock, so it turned true at midnight UTC without a write; the mark is
          // the first write since, and the version changes with it so that a client's stale ETag stops matching.
          'UPDATE invoices SET overdue_notified_at = ?, version = version + 1 WHERE tenant_id = ? AND id = ? AND status = ? AND overdue_notified_at IS NULL AND due_date < ?',
          [toDbTimestamp(now), candidate.tenant_id, candidate.id, InvoiceStatus.OPEN, today],
        );
        if (changed === 1) marked.set(candidate.tenant_id, [...(marked.get(candidate.tenant_id) ?? []), candidate.id]);
      }
      // Read in the transaction: the invoices as stored with their mark, announced to the webhook
      // outbox with it and to subscribers after the commit.
      const events: InvoiceEvent[] = [];
      for (const [tenantId, ids] of marked) {
        const invoices = await this.invoices.invoicesByIds(tenantId, ids, manager);
        invoices.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
        events.push(...invoices.map((invoice) => ({ type: InvoiceEventType.OVERDUE, invoice, occurredAt: now })));
      }
      await recordInvoiceEvents(this.events, manager, events);
      return events;
    });
    if (overdue.length > 0) this.events.invoiceEventsCommitted(overdue);
    return { found: candidates.length, changed: overdue.length };
  }
}
