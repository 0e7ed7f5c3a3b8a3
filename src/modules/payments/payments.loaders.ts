import DataLoader from 'dataloader';
import type { Page, PageWindow } from '../../common/pagination';
import type { PaymentGatewaysService } from './payment-gateways.service';
import type { PaymentsService } from './payments.service';
import type { DisputeRecord, PaymentEventRecord, PaymentGatewayRecord, PaymentRecord, PayoutRecord, RefundRecord } from './payments.types';

/** A by-id loader: one statement for every id asked for in a tick, null for ids not found. */
function byIdLoader<T extends { id: string }>(fetch: (ids: readonly string[]) => Promise<T[]>): DataLoader<string, T | null> {
  return new DataLoader(async (ids) => {
    const found = new Map((await fetch(ids)).map((item) => [item.id, item]));
    return ids.map((id) => found.get(id) ?? null);
  });
}

function groupBy<T>(ids: readonly string[], items: T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>(ids.map((id) => [id, []]));
  for (const item of items) groups.get(keyOf(item))?.push(item);
  return ids.map((id) => groups.get(id) ?? []);
}

type ChildTable = 'refunds' | 'disputes' | 'payment_events';

/** The payments module's DataLoaders, one set per request and tenant: one statement per kind per tick. */
export class PaymentLoaders {
  readonly paymentById: DataLoader<string, PaymentRecord | null>;
  readonly gatewayById: DataLoader<string, PaymentGatewayRecord | null>;
  readonly refundById: DataLoader<string, RefundRecord | null>;
  readonly disputeById: DataLoader<string, DisputeRecord | null>;
  readonly payoutById: DataLoader<string, PayoutRecord | null>;
  readonly paymentEventById: DataLoader<string, PaymentEventRecord | null>;
  /** Every event of a payment: its journal entries are gathered from the whole timeline. */
  readonly eventsByPaymentId: DataLoader<string, PaymentEventRecord[]>;
  /** Pages of a payment's lists, one loader per list and distinct page request in the request. */
  private readonly pages = new Map<string, DataLoader<string, Page<unknown>>>();
  private readonly counts = new Map<ChildTable, DataLoader<string, number>>();

  constructor(
    private readonly payments: PaymentsService,
    gateways: PaymentGatewaysService,
    private readonly tenantId: string,
  ) {
    this.paymentById = new DataLoader(async (ids) => {
      const found = new Map((await payments.paymentsByIds(tenantId, ids)).map((p) => [p.id, p]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.gatewayById = new DataLoader(async (ids) => {
      const found = new Map((await gateways.gatewaysByIds(tenantId, ids)).map((g) => [g.id, g]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.refundById = byIdLoader((ids) => payments.refundsByIds(tenantId, ids));
    this.disputeById = byIdLoader((ids) => payments.disputesByIds(tenantId, ids));
    this.payoutById = byIdLoader((ids) => payments.payoutsByIds(tenantId, ids));
    this.paymentEventById = byIdLoader((ids) => payments.eventsByIds(tenantId, ids));
    this.eventsByPaymentId = new DataLoader(async (ids) => groupBy(ids, await payments.eventsByPaymentIds(tenantId, ids), (e) => e.paymentId));
  }

  private pageLoader<T>(list: ChildTable, window: PageWindow, read: (ids: readonly string[]) => Promise<Map<string, Page<T>>>): DataLoader<string, Page<T>> {
    const key = `${list}|${JSON.stringify(window)}`;
    let loader = this.pages.get(key) as DataLoader<string, Page<T>> | undefined;
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const pages = await read(ids);
        return ids.map((id) => pages.get(id) as Page<T>);
      });
      this.pages.set(key, loader as DataLoader<string, Page<unknown>>);
    }
    return loader;
  }

  refundsPageByPaymentId(window: PageWindow): DataLoader<string, Page<RefundRecord>> {
    return this.pageLoader('refunds', window, (ids) => this.payments.refundsPagesByPaymentIds(this.tenantId, ids, window));
  }

  disputesPageByPaymentId(window: PageWindow): DataLoader<string, Page<DisputeRecord>> {
    return this.pageLoader('disputes', window, (ids) => this.payments.disputesPagesByPaymentIds(this.tenantId, ids, window));
  }

  eventsPageByPaymentId(window: PageWindow): DataLoader<string, Page<PaymentEventRecord>> {
    return this.pageLoader('payment_events', window, (ids) => this.payments.eventsPagesByPaymentIds(this.tenantId, ids, window));
  }

  /** How many rows of a child list each payment has: one grouped COUNT for the request's payments. */
  countByPaymentId(list: ChildTable): DataLoader<string, number> {
    let loader = this.counts.get(list);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const counts = await this.payments.countChildrenByPaymentIds(list, this.tenantId, ids);
        return ids.map((id) => counts.get(id) ?? 0);
      });
      this.counts.set(list, loader);
    }
    return loader;
  }

  /** Seeds the loaders with what a write returned, so its payload is served as written. */
  primePayment(payment: PaymentRecord): void {
    this.paymentById.clear(payment.id).prime(payment.id, payment);
    // The timeline, refunds and disputes changed with the write: read them fresh.
    this.eventsByPaymentId.clear(payment.id);
    for (const loader of this.pages.values()) loader.clear(payment.id);
    for (const loader of this.counts.values()) loader.clear(payment.id);
  }
}
