import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { newId } from '../../common/ids';
import { toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource, type DatabaseKind } from '../../db/data-source';
import { type EventOutbox, NO_EVENT_OUTBOX } from '../webhooks/event-outbox';
import { PaymentErrors } from './payments.errors';
import {
  type DisputeRecord,
  disputeFromRow,
  type PaymentEventSource,
  type PaymentEventType,
  paymentFromRow,
  type PaymentRecord,
  type RefundRecord,
  refundFromRow,
} from './payments.types';

/**
 * The payments module's own rows: payments, their events (with the payment.* webhook of each settled
 * one) and the lookups every use case shares. Callers lock what they change (lockPayment first).
 */
export class PaymentRows {
  private readonly kind: DatabaseKind;
  /** The webhook outbox: each settled payment step (payment.*) is stored in the transaction that records it. */
  outbox: EventOutbox = NO_EVENT_OUTBOX;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {
    this.kind = databaseKindOfSource(dataSource);
  }

  minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }

  forUpdate(): string {
    return this.kind === 'mysql' ? ' FOR UPDATE' : '';
  }

  async lockPayment(manager: EntityManager, tenantId: string, paymentId: string): Promise<PaymentRecord> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM payments WHERE tenant_id = ? AND id = ?${this.forUpdate()}`, [
      tenantId,
      paymentId,
    ]);
    if (rows.length === 0) throw PaymentErrors.paymentNotFound(paymentId);
    return paymentFromRow(rows[0]);
  }

  async lockDispute(manager: EntityManager, disputeId: string): Promise<DisputeRecord> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM disputes WHERE id = ?${this.forUpdate()}`, [disputeId]);
    if (rows.length === 0) throw PaymentErrors.disputeNotFound(disputeId);
    return disputeFromRow(rows[0]);
  }

  async findByAuthorizeKey(tenantId: string, key: string): Promise<PaymentRecord | null> {
    const [payment] = await this.paymentsWhere('tenant_id = ? AND authorize_key = ?', [tenantId, key]);
    return payment ?? null;
  }

  async refundByKey(manager: EntityManager, tenantId: string, key: string): Promise<RefundRecord | null> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM refunds WHERE tenant_id = ? AND gateway_key = ?`, [tenantId, key]);
    return rows.length ? refundFromRow(rows[0]) : null;
  }

  async paymentsWhere(where: string, params: unknown[]): Promise<PaymentRecord[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT * FROM payments WHERE ${where}`, params);
    return rows.map(paymentFromRow);
  }

  async refundsWhere(where: string, params: unknown[]): Promise<RefundRecord[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT * FROM refunds WHERE ${where}`, params);
    return rows.map(refundFromRow);
  }

  async insertPayment(manager: EntityManager, p: PaymentRecord): Promise<void> {
    await manager.query(
      `INSERT INTO payments (id, tenant_id, gateway_id, status, currency, authorized_minor, captured_minor, refunded_minor,
                             refund_pending_minor, disputed_minor, dispute_lost_minor, fee_minor, customer_id, description,
                             external_ref, metadata, gateway_payment_id, card_brand, card_last4, authorize_key, authorize_request_hash,
                             authorization_entry_id, pending_operation, pending_amount_minor, pending_key, pending_request_hash,
                             pending_since, failure_code, failure_message, expires_at, created_at, updated_at, invoice_id)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)`,
      [
        p.id,
        p.tenantId,
        p.gatewayId,
        p.status,
        p.currency,
        this.minor(p.authorizedMinor),
        p.customerId,
        p.description,
        p.externalRef,
        p.metadata === null ? null : JSON.stringify(p.metadata),
        p.authorizeKey,
        p.authorizeRequestHash,
        p.pendingOperation,
        p.pendingAmountMinor === null ? null : this.minor(p.pendingAmountMinor),
        p.pendingKey,
        p.pendingRequestHash,
        p.pendingSince ? toDbTimestamp(p.pendingSince) : null,
        toDbTimestamp(p.expiresAt),
        toDbTimestamp(p.createdAt),
        toDbTimestamp(p.updatedAt),
        p.invoiceId,
      ],
    );
  }

  /** Writes every column a step may change; the row is locked by the caller. */
  async updatePayment(manager: EntityManager, p: PaymentRecord): Promise<void> {
    await manager.query(
      `UPDATE payments SET status = ?, captured_minor = ?, refunded_minor = ?, refund_pending_minor = ?, disputed_minor = ?,
              dispute_lost_minor = ?, fee_minor = ?, gateway_payment_id = ?, card_brand = ?, card_last4 = ?,
              authorization_entry_id = ?, pending_operation = ?, pending_amount_minor = ?, pending_key = ?, pending_request_hash = ?,
              pending_since = ?,
              failure_code = ?, failure_message = ?, expires_at = ?, updated_at = ?
        WHERE id = ?`,
      [
        p.status,
        this.minor(p.capturedMinor),
        this.minor(p.refundedMinor),
        this.minor(p.refundPendingMinor),
        this.minor(p.disputedMinor),
        this.minor(p.disputeLostMinor),
        this.minor(p.feeMinor),
        p.gatewayPaymentId,
        p.cardBrand,
        p.cardLast4,
        p.authorizationEntryId,
        p.pendingOperation,
        p.pendingAmountMinor === null ? null : this.minor(p.pendingAmountMinor),
        p.pendingKey,
        p.pendingRequestHash,
        p.pendingSince ? toDbTimestamp(p.pendingSince) : null,
        p.failureCode,
        p.failureMessage,
        toDbTimestamp(p.expiresAt),
        toDbTimestamp(p.updatedAt),
        p.id,
      ],
    );
  }

  async insertEvent(
    manager: EntityManager,
    payment: PaymentRecord,
    type: PaymentEventType,
    options: {
      source: PaymentEventSource;
      amountMinor?: bigint | null;
      entries?: string[];
      refundId?: string;
      disputeId?: string;
      detail?: string | null;
      operationKey?: string;
      /** The hash of the request that started the step this event settles (see begin). */
      requestHash?: string | null;
    },
  ): Promise<void> {
    const id = newId('paymentEvent');
    const now = this.clock.now();
    await manager.query(
      `INSERT INTO payment_events (id, tenant_id, payment_id, type, amount_minor, journal_entry_ids, refund_id, dispute_id, source, detail,
                                   operation_key, request_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        id,
        payment.tenantId,
        payment.id,
        type,
        options.amountMinor === null || options.amountMinor === undefined ? null : this.minor(options.amountMinor),
        options.entries?.length ? options.entries.join(' ') : null,
        options.refundId ?? null,
        options.disputeId ?? null,
        options.source,
        options.detail ?? null,
        options.operationKey ?? null,
        options.requestHash ?? null,
        toDbTimestamp(now),
      ],
    );
    // A step under way (*_REQUESTED) is not announced: its outcome is, as another event.
    if (type.endsWith('_REQUESTED')) return;
    await this.outbox.record(manager, [
      {
        tenantId: payment.tenantId,
        type: `payment.${type.toLowerCase()}`,
        occurredAt: now,
        data: {
          payment: publicPayment(payment),
          paymentEvent: {
            id,
            type,
            amountMinor: options.amountMinor ?? null,
            journalEntryIds: options.entries ?? [],
            refundId: options.refundId ?? null,
            disputeId: options.disputeId ?? null,
            source: options.source,
          },
        },
      },
    ]);
  }
}

/**
 * Whether a payment row, locked now, still holds what the caller read before: every column a step
 * writes back (updatePayment) is the same, so writing the caller's copy loses nobody's change.
 */
export function unchangedSince(locked: PaymentRecord, expected: PaymentRecord): boolean {
  const columns = [
    'status', 'capturedMinor', 'refundedMinor', 'refundPendingMinor', 'disputedMinor', 'disputeLostMinor', 'feeMinor',
    'gatewayPaymentId', 'cardBrand', 'cardLast4', 'authorizationEntryId', 'pendingOperation', 'pendingAmountMinor',
    'pendingKey', 'pendingRequestHash', 'pendingSince', 'failureCode', 'failureMessage', 'expiresAt', 'updatedAt',
  ] as const;
  const same = (a: unknown, b: unknown) => (a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b);
  return columns.every((column) => same(locked[column], expected[column]));
}

/** A payment as webhooks carry it: without the idempotency keys and request hashes that are Reckon's own bookkeeping. */
function publicPayment(payment: PaymentRecord): Omit<PaymentRecord, 'authorizeKey' | 'authorizeRequestHash' | 'pendingKey' | 'pendingRequestHash'> {
  const { authorizeKey: _authorizeKey, authorizeRequestHash: _authorizeHash, pendingKey: _pendingKey, pendingRequestHash: _pendingHash, ...rest } = payment;
  return rest;
}
