import type { DataSource } from 'typeorm';
import type { Metrics, ScrapeReader } from '../../common/metrics';
import type { PaymentRecord } from './payments.types';
import type { PaymentEventPublisher } from './payments.events';
import { PaymentStatus } from './payment-state';

/** The statuses a payment leaves; few rows are in them at a time (authorizations expire). */
const IN_FLIGHT = [PaymentStatus.PROCESSING, PaymentStatus.AUTHORIZED];

/**
 * Payments in flight, all tenants, read at scrape. Only the unsettled statuses: their count stays small
 * and the (status, expires_at) index answers it, where counting every status would read the whole,
 * ever-growing payments table at each scrape. Settled outcomes are counted as they happen instead
 * (reckon_payment_changes_total, paymentChangeCounter).
 */
export function paymentsScrapeReader(dataSource: DataSource, metrics: Metrics): ScrapeReader {
  return async () => {
    const rows: Record<string, unknown>[] = await dataSource.query(
      `SELECT status, COUNT(*) AS count FROM payments WHERE status IN (${IN_FLIGHT.map(() => '?').join(', ')}) GROUP BY status`,
      IN_FLIGHT,
    );
    const counts = new Map(rows.map((row) => [String(row.status), Number(row.count)]));
    for (const status of IN_FLIGHT) metrics.paymentsInFlight.set({ status }, counts.get(status) ?? 0);
  };
}

/**
 * Counts each committed payment change by the status it left the payment in. It rides on the payment
 * events the service already emits once per committed change, so it counts exactly what subscribers see.
 */
export function paymentChangeCounter(metrics: Metrics, next: PaymentEventPublisher): PaymentEventPublisher {
  for (const status of Object.values(PaymentStatus)) metrics.paymentChanges.inc({ status }, 0);
  return {
    paymentUpdated(payment: PaymentRecord) {
      metrics.paymentChanges.inc({ status: payment.status });
      next.paymentUpdated(payment);
    },
  };
}
