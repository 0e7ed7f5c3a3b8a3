import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';
import { idKindOf, newId, newUlid, requireIdOfKind } from '../../common/ids';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { executeCountingRows } from '../../db/affected-rows';
import { databaseKindOfSource, primaryKeyHint } from '../../db/data-source';
import { keysetSql } from '../../db/keyset';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import type { EventOutbox, OutboxEvent } from './event-outbox';
import type { EventStreamService } from './event-stream.service';
import { ALL_WEBHOOK_EVENTS } from './webhook-rules';

/** Where a delivery stands. */
export enum WebhookDeliveryStatus {
  /** Waiting for its first attempt or a retry. */
  PENDING = 'PENDING',
  /** The endpoint answered 2xx. */
  DELIVERED = 'DELIVERED',
  /** Failed past the retry budget, or its endpoint was disabled: waits for redeliverWebhookEvent. */
  DEAD_LETTERED = 'DEAD_LETTERED',
}

export interface WebhookDeliveryRecord {
  id: string;
  tenantId: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  status: WebhookDeliveryStatus;
  attemptCount: number;
  nextAttemptAt: Date | null;
  retryUntil: Date;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  deadLetteredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookDeliveryAttemptRecord {
  deliveryId: string;
  attemptNumber: number;
  startedAt: Date;
  latencyMs: number;
  statusCode: number | null;
  error: string | null;
  outcome: string;
}

/** A delivery leased by one worker: what it needs to send it. */
export interface LeasedDelivery extends WebhookDeliveryRecord {
  leaseOwner: string;
  payload: string;
}

export interface WebhookDeliveryFilter {
  endpointId?: string | null;
  status?: WebhookDeliveryStatus | null;
  eventType?: string | null;
}

export type RedeliverInput = { deliveryId: string } | { eventId: string; endpointId: string };

/** The outcome of one attempt, as the worker saw it. */
export interface AttemptResult {
  startedAt: Date;
  latencyMs: number;
  statusCode: number | null;
  error: string | null;
}

export interface WebhookDeliveriesOptions {
  /** How long after its event (or a redelivery) a delivery is retried before it dead-letters. */
  retryBudgetMs: number;
}

/** Events whose tenants have no subscribed endpoint are not stored; this many rows per INSERT. */
const INSERT_CHUNK_ROWS = 200;
const ERROR_TEXT_LENGTH = 300;

/** The JSON of a payload: bigints as decimal strings (JSON has no 64-bit integers), dates ISO-8601. */
export function encodeWebhookPayload(event: { id: string; type: string; tenantId: string; occurredAt: Date; data: unknown }): string {
  return JSON.stringify(
    { id: event.id, type: event.type, timestamp: event.occurredAt.toISOString(), tenantId: event.tenantId, data: event.data },
    (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
  );
}

function placeholders(rows: number, width: number): string {
  return new Array(rows).fill(`(${new Array(width).fill('?').join(', ')})`).join(', ');
}

function subscribes(events: string, type: string): boolean {
  const list = events.split(' ');
  return list.includes(ALL_WEBHOOK_EVENTS) || list.includes(type);
}

function deliveryFromRow(row: Record<string, unknown>): WebhookDeliveryRecord {
  const date = (value: unknown) => (value === null || value === undefined ? null : fromDbTimestamp(value));
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    eventId: String(row.event_id),
    endpointId: String(row.endpoint_id),
    eventType: String(row.event_type),
    status: row.status as WebhookDeliveryStatus,
    attemptCount: Number(row.attempt_count),
    nextAttemptAt: row.status === WebhookDeliveryStatus.PENDING ? date(row.next_attempt_at) : null,
    retryUntil: fromDbTimestamp(row.retry_until),
    lastStatusCode: row.last_status_code === null || row.last_status_code === undefined ? null : Number(row.last_status_code),
    lastError: row.last_error === null || row.last_error === undefined ? null : String(row.last_error),
    deliveredAt: date(row.delivered_at),
    deadLetteredAt: date(row.dead_lettered_at),
    createdAt: fromDbTimestamp(row.created_at),
    updatedAt: fromDbTimestamp(row.updated_at),
  };
}

export const WebhookDeliveryErrors = {
  deliveryNotFound: (id: string) => notFoundError('Webhook delivery', id),
  eventNotFound: (id: string) => notFoundError('Webhook event', id),
  pending: (id: string, nextAttemptAt: Date | null) =>
    new AppError(
      ErrorCode.INVALID_STATE_TRANSITION,
      `Webhook delivery ${id} is PENDING: it is attempted again${nextAttemptAt ? ` at ${nextAttemptAt.toISOString()}` : ' shortly'}; redeliver it once it is DELIVERED or DEAD_LETTERED`,
      { id, status: WebhookDeliveryStatus.PENDING },
    ),
  endpointDisabled: (id: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Webhook endpoint ${id} is disabled: nothing is sent to it; create a new endpoint`, { id }),
  badInput: () => validationError('Give either deliveryId, or both eventId and endpointId', { field: 'input' }),
};

/**
 * The outbox and its deliveries: events stored in the transaction of their cause, one delivery per
 * subscribed endpoint, leased by the delivery workers, every attempt recorded; and what the API
 * reads and redelivers. Every read and write the API makes is scoped to the tenant given.
 */
export class WebhookDeliveriesService implements EventOutbox {
  private readonly kind: 'mysql' | 'sqlite';
  /** The tenants' event stream: their events are stored while it keeps them, and numbered once committed. */
  streams: Pick<EventStreamService, 'eventsStored'> | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly options: WebhookDeliveriesOptions,
    private readonly idempotency?: IdempotencyService,
  ) {
    this.kind = databaseKindOfSource(dataSource) === 'mysql' ? 'mysql' : 'sqlite';
  }

  /**
   * Stores the events, each with one delivery per enabled endpoint of its tenant subscribed to its
   * type, in the caller's transaction. The endpoints are read here, in the same transaction, by one
   * indexed query per call (not cached): an event of a tenant without a subscribed endpoint is not
   * stored at all, so the outbox costs one small read per committing transaction until a tenant
   * subscribes, and a cache could not tell a process about an endpoint another one just created.
   * A tenant whose event stream is kept (event-stream.service.ts) has every event stored, with
   * deliveries only for its endpoints; the stream numbers them once the transaction commits.
   */
  async record(manager: EntityManager, events: readonly OutboxEvent[]): Promise<void> {
    if (events.length === 0) return;
    const tenantIds = [...new Set(events.map((event) => event.tenantId))];
    const marks = tenantIds.map(() => '?').join(', ');
    // One read either way: with the event stream, its kept tenants come in the same answer (id NULL).
    const rows: { id: string | null; tenant_id: string; events: string | null }[] = this.streams
      ? await manager.query(
          `SELECT id, tenant_id, events FROM webhook_endpoints WHERE tenant_id IN (${marks}) AND disabled_at IS NULL
           UNION ALL SELECT NULL, tenant_id, NULL FROM event_streams WHERE tenant_id IN (${marks}) AND retain_until > ?`,
          [...tenantIds, ...tenantIds, toDbTimestamp(this.clock.now())],
        )
      : await manager.query(`SELECT id, tenant_id, events FROM webhook_endpoints WHERE tenant_id IN (${marks}) AND disabled_at IS NULL`, tenantIds);
    if (rows.length === 0) return;
    const endpoints = rows.filter((row): row is { id: string; tenant_id: string; events: string } => row.id !== null);
    const streamed = new Set(rows.filter((row) => row.id === null).map((row) => String(row.tenant_id)));
    const now = this.clock.now();
    const eventRows: unknown[][] = [];
    const deliveryRows: unknown[][] = [];
    const streamedStored = new Set<string>();
    for (const event of events) {
      const targets = endpoints.filter((endpoint) => endpoint.tenant_id === event.tenantId && subscribes(endpoint.events, event.type));
      if (targets.length === 0 && !streamed.has(event.tenantId)) continue;
      if (streamed.has(event.tenantId)) streamedStored.add(event.tenantId);
      const id = newId('webhookEvent');
      eventRows.push([id, event.tenantId, event.type, encodeWebhookPayload({ ...event, id }), toDbTimestamp(now)]);
      for (const endpoint of targets) {
        deliveryRows.push([
          newId('webhookDelivery'),
          event.tenantId,
          id,
          endpoint.id,
          event.type,
          WebhookDeliveryStatus.PENDING,
          0,
          toDbTimestamp(now),
          toDbTimestamp(new Date(now.getTime() + this.options.retryBudgetMs)),
          toDbTimestamp(now),
          toDbTimestamp(now),
        ]);
      }
    }
    for (let i = 0; i < eventRows.length; i += INSERT_CHUNK_ROWS) {
      const rows = eventRows.slice(i, i + INSERT_CHUNK_ROWS);
      await manager.query(`INSERT INTO webhook_events (id, tenant_id, type, payload, created_at) VALUES ${placeholders(rows.length, 5)}`, rows.flat());
    }
    for (let i = 0; i < deliveryRows.length; i += INSERT_CHUNK_ROWS) {
      const rows = deliveryRows.slice(i, i + INSERT_CHUNK_ROWS);
      await manager.query(
        `INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, event_type, status, attempt_count, next_attempt_at, retry_until, created_at, updated_at)
         VALUES ${placeholders(rows.length, 11)}`,
        rows.flat(),
      );
    }
    if (streamedStored.size) this.streams?.eventsStored(manager, [...streamedStored]);
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  /** The tenant's deliveries, newest first, filtered. */
  async listDeliveries(tenantId: string, filter: WebhookDeliveryFilter, request: PageRequest): Promise<Page<WebhookDeliveryRecord>> {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.endpointId) {
      requireIdOfKind(filter.endpointId, 'webhookEndpoint', 'filter.endpointId');
      // Another tenant's endpoint is NOT_FOUND, as a missing one is, rather than an empty page.
      const [endpoint] = await this.dataSource.query('SELECT id FROM webhook_endpoints WHERE tenant_id = ? AND id = ?', [tenantId, filter.endpointId]);
      if (!endpoint) throw notFoundError('Webhook endpoint', filter.endpointId);
      conditions.push('endpoint_id = ?');
      params.push(filter.endpointId);
    }
    if (filter.status) {
      conditions.push('status = ?');
      params.push(filter.status);
    }
    if (filter.eventType) {
      conditions.push('event_type = ?');
      params.push(filter.eventType);
    }
    const page = await readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'DESC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM webhook_deliveries WHERE ${[...conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...params, ...keyset.params],
        );
        return rows.map(deliveryFromRow);
      },
      (delivery) => delivery.id,
      { isKey: (key) => idKindOf(key) === 'webhookDelivery' },
    );
    return page;
  }

  async deliveriesByIds(tenantId: string, ids: readonly string[]): Promise<WebhookDeliveryRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(', ')})`,
      [tenantId, ...ids],
    );
    return rows.map(deliveryFromRow);
  }

  async getDelivery(tenantId: string, id: string): Promise<WebhookDeliveryRecord> {
    requireIdOfKind(id, 'webhookDelivery', 'deliveryId');
    const [found] = await this.deliveriesByIds(tenantId, [id]);
    if (!found) throw WebhookDeliveryErrors.deliveryNotFound(id);
    return found;
  }

  /** Every attempt of each delivery, in order (bounded: the retry budget bounds the attempts). */
  async attemptsOf(tenantId: string, deliveryIds: readonly string[]): Promise<Map<string, WebhookDeliveryAttemptRecord[]>> {
    const result = new Map<string, WebhookDeliveryAttemptRecord[]>(deliveryIds.map((id) => [id, []]));
    if (deliveryIds.length === 0) return result;
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM webhook_delivery_attempts WHERE tenant_id = ? AND delivery_id IN (${deliveryIds.map(() => '?').join(', ')}) ORDER BY delivery_id, attempt_number`,
      [tenantId, ...deliveryIds],
    );
    for (const row of rows) {
      result.get(String(row.delivery_id))?.push({
        deliveryId: String(row.delivery_id),
        attemptNumber: Number(row.attempt_number),
        startedAt: fromDbTimestamp(row.started_at),
        latencyMs: Number(row.latency_ms),
        statusCode: row.status_code === null ? null : Number(row.status_code),
        error: row.error === null ? null : String(row.error),
        outcome: String(row.outcome),
      });
    }
    return result;
  }

  /** The exact bodies of events, by id (what every attempt POSTs). */
  async payloadsOf(tenantId: string, eventIds: readonly string[]): Promise<Map<string, string>> {
    if (eventIds.length === 0) return new Map();
    const rows: { id: string; payload: string }[] = await this.dataSource.query(
      `SELECT id, payload FROM webhook_events WHERE tenant_id = ? AND id IN (${eventIds.map(() => '?').join(', ')})`,
      [tenantId, ...eventIds],
    );
    return new Map(rows.map((row) => [String(row.id), String(row.payload)]));
  }

  // ---------------------------------------------------------------------------------------------
  // Redelivery

  /**
   * Sends a delivery again, with a fresh retry budget: a DEAD_LETTERED one after the receiver is back,
   * or a DELIVERED one a receiver lost. By event and endpoint, an event that was never delivered to that
   * endpoint (it was created or subscribed later) gets a delivery of its own. A PENDING delivery is
   * refused: it is being retried already.
   */
  async redeliver(tenantId: string, input: { deliveryId?: string | null; eventId?: string | null; endpointId?: string | null }, idempotency?: IdempotencyHandle): Promise<WebhookDeliveryRecord> {
    const byEvent = Boolean(input.eventId) || Boolean(input.endpointId);
    if (input.deliveryId ? byEvent : !(input.eventId && input.endpointId)) throw WebhookDeliveryErrors.badInput();
    if (input.deliveryId) requireIdOfKind(input.deliveryId, 'webhookDelivery', 'input.deliveryId');
    if (input.eventId) requireIdOfKind(input.eventId, 'webhookEvent', 'input.eventId');
    if (input.endpointId) requireIdOfKind(input.endpointId, 'webhookEndpoint', 'input.endpointId');
    const forUpdate = this.kind === 'mysql' ? ' FOR UPDATE' : '';
    const id = await runInTransaction(this.dataSource, async (manager) => {
      const now = this.clock.now();
      let row: Record<string, unknown> | undefined;
      if (input.deliveryId) {
        [row] = await manager.query(`SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND id = ?${forUpdate}`, [tenantId, input.deliveryId]);
        if (!row) throw WebhookDeliveryErrors.deliveryNotFound(input.deliveryId);
      } else {
        const eventId = input.eventId as string;
        const endpointId = input.endpointId as string;
        const [event] = await manager.query('SELECT id, type FROM webhook_events WHERE tenant_id = ? AND id = ?', [tenantId, eventId]);
        if (!event) throw WebhookDeliveryErrors.eventNotFound(eventId);
        const [endpoint] = await manager.query(`SELECT id, disabled_at FROM webhook_endpoints WHERE tenant_id = ? AND id = ?${forUpdate}`, [tenantId, endpointId]);
        if (!endpoint) throw notFoundError('Webhook endpoint', endpointId);
        [row] = await manager.query(`SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND event_id = ? AND endpoint_id = ?${forUpdate}`, [
          tenantId,
          eventId,
          endpointId,
        ]);
        if (!row) {
          if (endpoint.disabled_at !== null) throw WebhookDeliveryErrors.endpointDisabled(endpointId);
          const deliveryId = newId('webhookDelivery');
          await manager.query(
            `INSERT INTO webhook_deliveries (id, tenant_id, event_id, endpoint_id, event_type, status, attempt_count, next_attempt_at, retry_until, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
            [
              deliveryId,
              tenantId,
              eventId,
              endpointId,
              String(event.type),
              WebhookDeliveryStatus.PENDING,
              toDbTimestamp(now),
              toDbTimestamp(new Date(now.getTime() + this.options.retryBudgetMs)),
              toDbTimestamp(now),
              toDbTimestamp(now),
            ],
          );
          if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { webhookDeliveryId: deliveryId } });
          return deliveryId;
        }
      }
      const delivery = deliveryFromRow(row);
      if (delivery.status === WebhookDeliveryStatus.PENDING) throw WebhookDeliveryErrors.pending(delivery.id, delivery.nextAttemptAt);
      const [endpoint] = await manager.query('SELECT disabled_at FROM webhook_endpoints WHERE tenant_id = ? AND id = ?', [tenantId, delivery.endpointId]);
      if (!endpoint || endpoint.disabled_at !== null) throw WebhookDeliveryErrors.endpointDisabled(delivery.endpointId);
      await manager.query(
        `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, retry_until = ?, lease_owner = NULL, lease_expires_at = NULL,
                dead_lettered_at = NULL, updated_at = ? WHERE tenant_id = ? AND id = ?`,
        [
          WebhookDeliveryStatus.PENDING,
          toDbTimestamp(now),
          toDbTimestamp(new Date(now.getTime() + this.options.retryBudgetMs)),
          toDbTimestamp(now),
          tenantId,
          delivery.id,
        ],
      );
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { webhookDeliveryId: delivery.id } });
      return delivery.id;
    });
    return this.getDelivery(tenantId, id);
  }

  // ---------------------------------------------------------------------------------------------
  // For the delivery worker (every tenant)

  /**
   * Leases up to `limit` due deliveries for `leaseMs`: one conditional UPDATE takes the rows whose lease
   * is free or expired, under a token of this claim, and only the rows that UPDATE changed are
   * returned. Two processes polling at once each get their own rows, never the same one.
   */
  async lease(limit: number, leaseMs: number): Promise<LeasedDelivery[]> {
    // In a transaction of its own: on SQLite (one connection) a bare UPDATE would otherwise join, and
    // roll back with, whatever transaction is open; on MySQL the UPDATE's row locks make a second
    // process's UPDATE wait and then find the lease taken.
    return runInTransaction(this.dataSource, async (manager) => {
      const now = this.clock.now();
      const nowText = toDbTimestamp(now);
      const candidates: { id: string }[] = await manager.query(
        `SELECT id FROM webhook_deliveries WHERE status = ? AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
          ORDER BY next_attempt_at LIMIT ${Math.max(1, Math.floor(limit))}`,
        [WebhookDeliveryStatus.PENDING, nowText, nowText],
      );
      if (candidates.length === 0) return [];
      const token = newUlid();
      const ids = candidates.map((row) => String(row.id));
      const taken = await executeCountingRows(
        manager,
        `UPDATE webhook_deliveries${primaryKeyHint(this.kind)} SET lease_owner = ?, lease_expires_at = ?
          WHERE id IN (${ids.map(() => '?').join(', ')}) AND status = ? AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at <= ?)`,
        [token, toDbTimestamp(new Date(now.getTime() + leaseMs)), ...ids, WebhookDeliveryStatus.PENDING, nowText, nowText],
      );
      if (taken === 0) return [];
      const rows: Record<string, unknown>[] = await manager.query(
        `SELECT d.*, e.payload FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id WHERE d.lease_owner = ? AND d.status = ?`,
        [token, WebhookDeliveryStatus.PENDING],
      );
      return rows.map((row) => ({ ...deliveryFromRow(row), leaseOwner: token, payload: String(row.payload) }));
    });
  }

  /**
   * Records an attempt and its consequence, if this worker still holds the lease (a worker that
   * overran its lease finds the row taken and records nothing; the other worker's attempt counts).
   * `nextAttemptAt` null means dead-letter (or delivered, when `delivered`).
   */
  async finishAttempt(
    delivery: LeasedDelivery,
    result: AttemptResult,
    decision: { outcome: 'delivered' | 'retry_scheduled' | 'dead_lettered'; nextAttemptAt: Date | null },
  ): Promise<boolean> {
    return runInTransaction(this.dataSource, async (manager) => {
      const now = this.clock.now();
      const status =
        decision.outcome === 'delivered'
          ? WebhookDeliveryStatus.DELIVERED
          : decision.outcome === 'dead_lettered'
            ? WebhookDeliveryStatus.DEAD_LETTERED
            : WebhookDeliveryStatus.PENDING;
      const error = result.error === null ? null : result.error.slice(0, ERROR_TEXT_LENGTH);
      const changed = await executeCountingRows(
        manager,
        `UPDATE webhook_deliveries SET status = ?, attempt_count = attempt_count + 1, next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                last_status_code = ?, last_error = ?, delivered_at = ?, dead_lettered_at = ?, updated_at = ?
          WHERE id = ? AND lease_owner = ? AND status = ?`,
        [
          status,
          toDbTimestamp(decision.nextAttemptAt ?? now),
          result.statusCode,
          error,
          status === WebhookDeliveryStatus.DELIVERED ? toDbTimestamp(now) : null,
          status === WebhookDeliveryStatus.DEAD_LETTERED ? toDbTimestamp(now) : null,
          toDbTimestamp(now),
          delivery.id,
          delivery.leaseOwner,
          WebhookDeliveryStatus.PENDING,
        ],
      );
      if (changed === 0) return false;
      const [{ count }] = await manager.query('SELECT attempt_count AS count FROM webhook_deliveries WHERE id = ?', [delivery.id]);
      await manager.query(
        `INSERT INTO webhook_delivery_attempts (id, tenant_id, delivery_id, attempt_number, started_at, latency_ms, status_code, error, outcome)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          newId('webhookDeliveryAttempt'),
          delivery.tenantId,
          delivery.id,
          Number(count),
          toDbTimestamp(result.startedAt),
          Math.max(0, Math.round(result.latencyMs)),
          result.statusCode,
          error,
          decision.outcome,
        ],
      );
      return true;
    });
  }
}
