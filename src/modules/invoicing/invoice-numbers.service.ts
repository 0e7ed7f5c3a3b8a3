import type { EntityManager } from 'typeorm';
import { executeCountingRows } from '../../db/affected-rows';
import { isUniqueViolation } from '../../db/transaction';
import { formatInvoiceNumber, type InvoiceNumberSettings, invoiceNumberSeriesKey } from './invoice-numbers';

export interface IssuedInvoiceNumber {
  /** "INV-2026-000042": what the invoice shows; unique within the tenant. */
  number: string;
  /** "INV-2026": the series the value was counted in. */
  seriesKey: string;
  /** 42: consecutive within the series from 1. */
  value: number;
}

/**
 * Takes the tenant's next invoice number in the caller's transaction: the finalising one, which must
 * be open (runInTransaction). The counter row stays locked until that transaction ends (MySQL: the
 * UPDATE's row lock; SQLite: transactions run one at a time, see serializeOnSqlite), so concurrent
 * finalisations queue on it and take consecutive values. If the transaction rolls back, the increment
 * rolls back with it and the next finalisation takes the same value: no number is ever burnt. That is
 * what "gap-free" means here: the committed numbers of a series are exactly 1, 2, …, n. Numbers are
 * never taken back after the commit either: a voided invoice keeps its number (void, never delete).
 */
export async function nextInvoiceNumber(manager: EntityManager, tenantId: string, settings: InvoiceNumberSettings, finalizedAt: Date): Promise<IssuedInvoiceNumber> {
  // Outside a transaction each statement would commit on its own, and a failure after it would burn the number.
  if (!manager.queryRunner?.isTransactionActive) throw new Error('Invoice numbers are taken only inside the finalising transaction (runInTransaction)');
  const seriesKey = invoiceNumberSeriesKey(settings, finalizedAt);
  const value = await takeNextValue(manager, tenantId, seriesKey);
  return { number: formatInvoiceNumber(seriesKey, value, settings.padding), seriesKey, value };
}

/** The reconciliation flag sequence's pattern (reconciliation-flags.service.ts nextSequence): bump, or create at 1. */
async function takeNextValue(manager: EntityManager, tenantId: string, seriesKey: string): Promise<number> {
  const bump = () =>
    executeCountingRows(manager, 'UPDATE invoice_number_sequences SET next_value = next_value + 1 WHERE tenant_id = ? AND series_key = ?', [tenantId, seriesKey]);
  if ((await bump()) === 0) {
    try {
      await manager.query('INSERT INTO invoice_number_sequences (tenant_id, series_key, next_value) VALUES (?, ?, 2)', [tenantId, seriesKey]);
      return 1;
    } catch (error) {
      // Another transaction created the series meanwhile (MySQL: this statement alone failed; its
      // row is now committed and the bump waits for nothing).
      if (!isUniqueViolation(error)) throw error;
      await bump();
    }
  }
  // Our own UPDATE is visible to our read, whatever the isolation level; the row is locked to us.
  const rows: Record<string, unknown>[] = await manager.query('SELECT next_value FROM invoice_number_sequences WHERE tenant_id = ? AND series_key = ?', [
    tenantId,
    seriesKey,
  ]);
  return Number(rows[0].next_value) - 1;
}
