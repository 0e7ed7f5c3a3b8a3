import { validationError } from '../../common/errors';
import { idKindOf, requireIdOfKind } from '../../common/ids';
import { type KeysetSlice, type Page, type PageRequest, type PageWindow, readPage, readPages } from '../../common/pagination';
import { requireStorableDate, toDbTimestamp } from '../../common/timestamps';
import { keysetSql } from '../../db/keyset';
import type { PaymentFilter } from './payment-requests';
import type { PaymentsContext } from './payment-settlement';
import { PaymentStatus } from './payment-state';
import { PaymentErrors } from './payments.errors';
import {
  type DisputeRecord,
  disputeFromRow,
  type PaymentEventRecord,
  paymentEventFromRow,
  type PaymentRecord,
  type PayoutRecord,
  payoutFromRow,
  type RefundRecord,
  refundFromRow,
} from './payments.types';

const compareText = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Reads of payments and their refunds, disputes, events and payouts, every one scoped to the tenant. */
export class PaymentReadsService {
  constructor(private readonly ctx: PaymentsContext) {}

  async paymentsByIds(tenantId: string, ids: readonly string[]): Promise<PaymentRecord[]> {
    if (ids.length === 0) return [];
    return this.ctx.rows.paymentsWhere(`tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`, [tenantId, ...ids]);
  }

  async getPayment(tenantId: string, id: string): Promise<PaymentRecord> {
    requireIdOfKind(id, 'payment', 'id');
    const [payment] = await this.paymentsByIds(tenantId, [id]);
    if (!payment) throw PaymentErrors.paymentNotFound(id);
    return payment;
  }

  async listPayments(tenantId: string, filter: PaymentFilter, pageRequest: PageRequest): Promise<Page<PaymentRecord>> {
    const where = await this.paymentConditions(tenantId, filter);
    // Newest first; ids are time-ordered, so the id alone is the cursor.
    return readPage(
      pageRequest,
      (slice) => {
        const keyset = keysetSql(slice, ['id'], 'DESC');
        return this.ctx.rows.paymentsWhere(`${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`, [
          ...where.params,
          ...keyset.params,
        ]);
      },
      (payment) => payment.id,
      { isKey: (key) => idKindOf(key) === 'payment' },
    );
  }

  /** Exactly how many payments the filter lists (indexed on tenant with status or creation time). */
  async countPayments(tenantId: string, filter: PaymentFilter): Promise<number> {
    const where = await this.paymentConditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.ctx.dataSource.query(`SELECT COUNT(*) AS total FROM payments WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  private async paymentConditions(tenantId: string, filter: PaymentFilter): Promise<{ conditions: string[]; params: unknown[] }> {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.status) {
      if (!Object.values(PaymentStatus).includes(filter.status)) throw validationError('status is not a payment status', { field: 'status' });
      conditions.push('status = ?');
      params.push(filter.status);
    }
    if (filter.customerId) {
      conditions.push('customer_id = ?');
      params.push(filter.customerId);
    }
    if (filter.gatewayId) {
      // Another tenant's gateway is NOT_FOUND, as every id argument is, not an empty page.
      await this.ctx.gateways.getGateway(tenantId, filter.gatewayId);
      conditions.push('gateway_id = ?');
      params.push(filter.gatewayId);
    }
    if (filter.createdFrom) {
      conditions.push('created_at >= ?');
      params.push(toDbTimestamp(requireStorableDate(filter.createdFrom, 'createdFrom')));
    }
    if (filter.createdTo) {
      conditions.push('created_at < ?');
      params.push(toDbTimestamp(requireStorableDate(filter.createdTo, 'createdTo')));
    }
    return { conditions, params };
  }

  /** One page of each payment's refunds, oldest first: one statement for every payment of a request. */
  refundsPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<RefundRecord>>> {
    return readPages(paymentIds, window, (ids, slice) => this.childSlices('refunds', refundFromRow, tenantId, ids, slice), (refund) => refund.id);
  }

  disputesPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<DisputeRecord>>> {
    return readPages(paymentIds, window, (ids, slice) => this.childSlices('disputes', disputeFromRow, tenantId, ids, slice), (dispute) => dispute.id);
  }

  eventsPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<PaymentEventRecord>>> {
    return readPages(paymentIds, window, (ids, slice) => this.childSlices('payment_events', paymentEventFromRow, tenantId, ids, slice), (event) => event.id);
  }

  /**
   * The same slice of each payment's rows of a child table, oldest first: a UNION ALL of seeks on the
   * table's (payment_id, id) index, each stopping after the slice's limit.
   */
  private async childSlices<T extends { id: string; paymentId: string }>(
    table: 'refunds' | 'disputes' | 'payment_events',
    fromRow: (row: Record<string, unknown>) => T,
    tenantId: string,
    paymentIds: readonly string[],
    slice: KeysetSlice,
  ): Promise<Map<string, T[]>> {
    const result = new Map<string, T[]>(paymentIds.map((id) => [id, []]));
    if (paymentIds.length === 0) return result;
    const keyset = keysetSql(slice, ['id'], 'ASC');
    const seeks = paymentIds.map(
      (_, index) =>
        `SELECT * FROM (SELECT * FROM ${table} WHERE ${['payment_id = ?', 'tenant_id = ?', ...keyset.conditions].join(' AND ')}
                         ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}) seek${index}`,
    );
    const rows: Record<string, unknown>[] = await this.ctx.dataSource.query(
      seeks.join(' UNION ALL '),
      paymentIds.flatMap((id) => [id, tenantId, ...keyset.params]),
    );
    const records = rows.map(fromRow).sort((a, b) => (slice.fromEnd ? compareText(b, a) : compareText(a, b)));
    for (const record of records) result.get(record.paymentId)?.push(record);
    return result;
  }

  /** Exactly how many rows of a child table each payment has: one grouped COUNT on (payment_id, id). */
  async countChildrenByPaymentIds(table: 'refunds' | 'disputes' | 'payment_events', tenantId: string, paymentIds: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>(paymentIds.map((id) => [id, 0]));
    if (paymentIds.length === 0) return counts;
    const rows: Record<string, unknown>[] = await this.ctx.dataSource.query(
      `SELECT payment_id, COUNT(*) AS total FROM ${table} WHERE tenant_id = ? AND payment_id IN (${paymentIds.map(() => '?').join(',')}) GROUP BY payment_id`,
      [tenantId, ...paymentIds],
    );
    for (const row of rows) counts.set(String(row.payment_id), Number(row.total));
    return counts;
  }

  /** Every event of each payment, oldest first (the timeline a payment's journal entries come from). */
  async eventsByPaymentIds(tenantId: string, paymentIds: readonly string[]): Promise<PaymentEventRecord[]> {
    if (paymentIds.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.ctx.dataSource.query(
      `SELECT * FROM payment_events WHERE tenant_id = ? AND payment_id IN (${paymentIds.map(() => '?').join(',')}) ORDER BY id`,
      [tenantId, ...paymentIds],
    );
    return rows.map(paymentEventFromRow);
  }

  /** Rows of one table by id, for node(id:) and nodes(ids:) through the loaders. */
  private async rowsByIds(table: 'refunds' | 'disputes' | 'payouts' | 'payment_events', tenantId: string, ids: readonly string[]) {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.ctx.dataSource.query(
      `SELECT * FROM ${table} WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows;
  }

  async refundsByIds(tenantId: string, ids: readonly string[]): Promise<RefundRecord[]> {
    return (await this.rowsByIds('refunds', tenantId, ids)).map(refundFromRow);
  }

  async disputesByIds(tenantId: string, ids: readonly string[]): Promise<DisputeRecord[]> {
    return (await this.rowsByIds('disputes', tenantId, ids)).map(disputeFromRow);
  }

  async payoutsByIds(tenantId: string, ids: readonly string[]): Promise<PayoutRecord[]> {
    return (await this.rowsByIds('payouts', tenantId, ids)).map(payoutFromRow);
  }

  async eventsByIds(tenantId: string, ids: readonly string[]): Promise<PaymentEventRecord[]> {
    return (await this.rowsByIds('payment_events', tenantId, ids)).map(paymentEventFromRow);
  }

  async disputeById(tenantId: string, id: string): Promise<DisputeRecord | null> {
    const rows: Record<string, unknown>[] = await this.ctx.dataSource.query(`SELECT * FROM disputes WHERE tenant_id = ? AND id = ?`, [tenantId, id]);
    return rows.length ? disputeFromRow(rows[0]) : null;
  }

  async getDispute(tenantId: string, id: string): Promise<DisputeRecord> {
    const dispute = await this.disputeById(tenantId, id);
    if (!dispute) throw PaymentErrors.disputeNotFound(id);
    return dispute;
  }

  async refundById(tenantId: string, id: string): Promise<RefundRecord | null> {
    const [refund] = await this.ctx.rows.refundsWhere('tenant_id = ? AND id = ?', [tenantId, id]);
    return refund ?? null;
  }

  async payoutById(tenantId: string, id: string): Promise<PayoutRecord | null> {
    const rows: Record<string, unknown>[] = await this.ctx.dataSource.query(`SELECT * FROM payouts WHERE tenant_id = ? AND id = ?`, [tenantId, id]);
    return rows.length ? payoutFromRow(rows[0]) : null;
  }
}
