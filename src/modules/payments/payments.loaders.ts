import DataLoader from 'dataloader';
import type { PaymentGatewaysService } from './payment-gateways.service';
import type { PaymentsService } from './payments.service';
import type { DisputeRecord, PaymentEventRecord, PaymentGatewayRecord, PaymentRecord, RefundRecord } from './payments.types';

function groupBy<T>(ids: readonly string[], items: T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>(ids.map((id) => [id, []]));
  for (const item of items) groups.get(keyOf(item))?.push(item);
  return ids.map((id) => groups.get(id) ?? []);
}

/** The payments module's DataLoaders, one set per request and tenant: one statement per kind per tick. */
export class PaymentLoaders {
  readonly paymentById: DataLoader<string, PaymentRecord | null>;
  readonly gatewayById: DataLoader<string, PaymentGatewayRecord | null>;
  readonly refundsByPaymentId: DataLoader<string, RefundRecord[]>;
  readonly disputesByPaymentId: DataLoader<string, DisputeRecord[]>;
  readonly eventsByPaymentId: DataLoader<string, PaymentEventRecord[]>;

  constructor(payments: PaymentsService, gateways: PaymentGatewaysService, tenantId: string) {
    this.paymentById = new DataLoader(async (ids) => {
      const found = new Map((await payments.paymentsByIds(tenantId, ids)).map((p) => [p.id, p]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.gatewayById = new DataLoader(async (ids) => {
      const found = new Map((await gateways.gatewaysByIds(tenantId, ids)).map((g) => [g.id, g]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.refundsByPaymentId = new DataLoader(async (ids) => groupBy(ids, await payments.refundsByPaymentIds(tenantId, ids), (r) => r.paymentId));
    this.disputesByPaymentId = new DataLoader(async (ids) => groupBy(ids, await payments.disputesByPaymentIds(tenantId, ids), (d) => d.paymentId));
    this.eventsByPaymentId = new DataLoader(async (ids) => groupBy(ids, await payments.eventsByPaymentIds(tenantId, ids), (e) => e.paymentId));
  }

  /** Seeds the loaders with what a write returned, so its payload is served as written. */
  primePayment(payment: PaymentRecord): void {
    this.paymentById.clear(payment.id).prime(payment.id, payment);
    // The timeline, refunds and disputes changed with the write: read them fresh.
    this.refundsByPaymentId.clear(payment.id);
    this.disputesByPaymentId.clear(payment.id);
    this.eventsByPaymentId.clear(payment.id);
  }
}
