import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { AppError, ErrorCode, validationError } from '../../common/errors';
import { newId } from '../../common/ids';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { insertRows } from '../../db/bulk-insert';
import { databaseKindOfSource } from '../../db/data-source';
import { keysetSql } from '../../db/keyset';
import { isConnectionError, isRetryableConflict, runInTransaction, serializeOnSqlite } from '../../db/transaction';
import { GENESIS_HASH, hashOfEvent } from './audit-chain';
import { WriteCoalescer } from '../idempotency/coalesced-writes';
import type { MutationAuditSink } from '../idempotency/idempotency.service';
import { normalizedResourceIds, resourceIdsOf } from './audit-redaction';
import {
  type AuditActorKind,
  type AuditChainHead,
  type AuditChainVerification,
  type AuditDraft,
  type AuditEventFilter,
  type AuditEventKind,
  type AuditEventRecord,
  type AuditOperationType,
  AuditOutcome,
  type MutationAudit,
} from './audit.types';

export interface AuditOptions {
  /** How often buffered events (reads) are written (AUDIT_FLUSH_INTERVAL_MS). */
  flushIntervalMs: number;
  log?: Logger;
}

/** Buffered events written by one transaction at most; a larger buffer takes several. */
const FLUSH_BATCH = 500;
/** A buffer this long is written at once rather than at the next tick. */
const FLUSH_EARLY_AT = 200;
/** Rows the verifier reads per statement. */
const VERIFY_PAGE = 1000;

const EVENT_COLUMNS = [
  'tenant_id',
  'sequence',
  'id',
  'occurred_at',
  'actor_kind',
  'actor_credential_id',
  'origin_ip',
  'request_id',
  'kind',
  'operation_type',
  'operation_name',
  'resource_ids',
  'outcome',
  'error_code',
  'arguments_digest',
  'previous_hash',
  'hash',
] as const;

export interface NewAuditEvent {
  tenantId: string;
  actorKind: AuditActorKind;
  actorCredentialId: string | null;
  originIp: string | null;
  requestId: string | null;
  kind: AuditEventKind;
  operationType: AuditOperationType;
  operationName: string;
  resourceIds?: Iterable<string>;
  errorCode?: string | null;
  argumentsDigest?: string | null;
}

/**
 * The audit trail (README, Audit): one hash chain of events per tenant. Every writer locks the
 * chain's head row (FOR UPDATE on MySQL; SQLite has one writer), takes the next sequence numbers and
 * chains each event to the one before, so concurrent writers never fork a chain; (tenant, sequence)
 * being the primary key refuses a fork even from a writer that skipped the lock.
 *
 * Mutations are written inside their own transaction (appendWithin, called by the idempotency
 * service when it completes the mutation's claim); reads go through a buffer written every
 * flushIntervalMs and on close, never dropped: a failed write keeps them for the next attempt.
 */
export class AuditService implements MutationAuditSink {
  private readonly kind: 'mysql' | 'sqlite';
  private readonly forUpdate: string;
  private readonly insertIgnore: string;
  private readonly knownChains = new Set<string>();
  private buffer: AuditDraft[] = [];
  private flushing: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly options: AuditOptions,
  ) {
    this.kind = databaseKindOfSource(dataSource) === 'mysql' ? 'mysql' : 'sqlite';
    this.forUpdate = this.kind === 'mysql' ? ' FOR UPDATE' : '';
    this.insertIgnore = this.kind === 'mysql' ? 'INSERT IGNORE' : 'INSERT OR IGNORE';
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  /** A draft with its id and time; SUCCESS unless an error code is given. */
  draft(event: NewAuditEvent): AuditDraft {
    const errorCode = event.errorCode ?? null;
    return {
      id: newId('auditEvent'),
      tenantId: event.tenantId,
      occurredAt: this.clock.now(),
      actorKind: event.actorKind,
      actorCredentialId: event.actorCredentialId,
      originIp: event.originIp,
      requestId: event.requestId,
      kind: event.kind,
      operationType: event.operationType,
      operationName: event.operationName.slice(0, 128),
      resourceIds: normalizedResourceIds(event.resourceIds ?? []),
      outcome: errorCode ? AuditOutcome.ERROR : AuditOutcome.SUCCESS,
      errorCode,
      argumentsDigest: event.argumentsDigest ?? null,
    };
  }

  /**
   * Creates the chain's head row if it is missing, in a statement of its own: a mutation's
   * transaction then only locks it. Remembered per process (a head is never deleted).
   */
  async ensureChain(tenantId: string): Promise<void> {
    if (this.knownChains.has(tenantId)) return;
    await serializeOnSqlite(this.dataSource, () => this.createHead(this.dataSource.manager, tenantId));
    this.knownChains.add(tenantId);
  }

  private createHead(manager: EntityManager, tenantId: string): Promise<unknown> {
    return manager.query(
      `${this.insertIgnore} INTO audit_chain_heads (tenant_id, last_sequence, last_hash, archived_through_sequence, archived_boundary_hash) VALUES (?, 0, ?, 0, ?)`,
      [tenantId, GENESIS_HASH, GENESIS_HASH],
    );
  }

  /**
   * Appends events inside the caller's transaction: the chains are locked in tenant order (a flush may
   * hold several), each event gets the next sequence and the previous event's hash, and the heads move.
   */
  async appendWithin(manager: EntityManager, drafts: readonly AuditDraft[]): Promise<AuditEventRecord[]> {
    if (drafts.length === 0) return [];
    const byTenant = new Map<string, AuditDraft[]>();
    for (const draft of drafts) byTenant.set(draft.tenantId, [...(byTenant.get(draft.tenantId) ?? []), draft]);
    const written: AuditEventRecord[] = [];
    for (const tenantId of [...byTenant.keys()].sort()) {
      let head = await this.lockHead(manager, tenantId);
      if (!head) {
        await this.createHead(manager, tenantId);
        head = await this.lockHead(manager, tenantId);
      }
      if (!head) throw new Error(`audit chain head of ${tenantId} could not be created`);
      let sequence = head.lastSequence;
      let previousHash = head.lastHash;
      const records: AuditEventRecord[] = [];
      for (const draft of byTenant.get(tenantId) ?? []) {
        sequence += 1;
        const unhashed = { ...draft, sequence, previousHash };
        const record = { ...unhashed, hash: hashOfEvent(unhashed) };
        records.push(record);
        previousHash = record.hash;
      }
      await insertRows(manager, 'audit_events', EVENT_COLUMNS, records.map(rowOf));
      const resources = records.flatMap((record) => record.resourceIds.map((resourceId) => [tenantId, resourceId, record.sequence]));
      await insertRows(manager, 'audit_event_resources', ['tenant_id', 'resource_id', 'sequence'], resources);
      await manager.query('UPDATE audit_chain_heads SET last_sequence = ?, last_hash = ? WHERE tenant_id = ?', [sequence, previousHash, tenantId]);
      this.knownChains.add(tenantId);
      written.push(...records);
    }
    return written;
  }

  private async lockHead(manager: EntityManager, tenantId: string): Promise<AuditChainHead | null> {
    const [row]: Record<string, unknown>[] = await manager.query(`SELECT * FROM audit_chain_heads WHERE tenant_id = ?${this.forUpdate}`, [tenantId]);
    return row ? headOf(row) : null;
  }

  /**
   * The idempotency service's hook: each mutation's event, with the ids its change produced and its
   * outcome (a refusal decided and stored with the claim is an ERROR), in the change's transaction.
   */
  async mutationsCompletedWithin(manager: EntityManager, completions: { audit: MutationAudit; resultRef?: unknown; error?: AppError }[]): Promise<void> {
    const drafts = completions.map(({ audit, resultRef, error }): AuditDraft => {
      audit.writtenWithin = true;
      return {
        ...audit.draft,
        resourceIds: normalizedResourceIds([...audit.draft.resourceIds, ...resourceIdsOf(resultRef)]),
        outcome: error ? AuditOutcome.ERROR : AuditOutcome.SUCCESS,
        errorCode: error ? error.code : null,
      };
    });
    await this.appendWithin(manager, drafts);
  }

  /**
   * Events written now, in a transaction of their own (mutations without an idempotency claim, or that
   * wrote nothing): those of concurrent requests share one transaction, so a burst of unkeyed
   * mutations takes each chain's head lock and commits once per group, not once per request. Each
   * caller still waits until its events are committed (or learns that they failed).
   */
  private readonly ownTransactionWrites = new WriteCoalescer<AuditDraft>(
    async (group) => {
      await runInTransaction(this.dataSource, (manager) => this.appendWithin(manager, group.map((queued) => queued.item)));
      for (const queued of group) queued.resolve();
    },
    { maxItems: 500 },
  );

  async append(drafts: readonly AuditDraft[]): Promise<void> {
    if (drafts.length === 0) return;
    await Promise.all(drafts.map((draft) => this.ownTransactionWrites.add(draft)));
  }

  /**
   * Appends now, and if that fails (the database is away), keeps the events in the buffer, which the
   * next flush retries: an event is never dropped while the process lives.
   */
  async appendOrBuffer(drafts: readonly AuditDraft[]): Promise<void> {
    try {
      await this.append(drafts);
    } catch (error) {
      this.options.log?.warn({ err: error, events: drafts.length }, 'audit events could not be written now; buffered for the next flush');
      this.buffer.push(...drafts);
    }
  }

  /** Buffers an event (a read): written within flushIntervalMs, or sooner when many wait. */
  enqueue(draft: AuditDraft): void {
    this.buffer.push(draft);
    if (this.buffer.length >= FLUSH_EARLY_AT) void this.flush();
  }

  get bufferedCount(): number {
    return this.buffer.length;
  }

  /** Writes what is buffered; a failed batch goes back to the front of the buffer. One flush at a time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.buffer.length ? this.flush() : undefined));
    if (this.buffer.length === 0) return Promise.resolve();
    this.flushing = (async () => {
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, FLUSH_BATCH);
        try {
          await this.append(batch);
        } catch (error) {
          if (isConnectionError(error) || isRetryableConflict(error) || (error instanceof AppError && error.code === ErrorCode.SERVICE_UNAVAILABLE)) {
            this.buffer.unshift(...batch);
            this.options.log?.warn({ err: error, buffered: this.buffer.length }, 'audit flush failed; the events stay buffered and are retried');
            return;
          }
          // Not an outage: one event the database refuses must not hold back the others forever.
          for (const draft of batch) {
            await this.append([draft]).catch((refused: unknown) => {
              this.options.log?.error({ err: refused, auditEvent: draft }, 'audit event refused by the database; logged here instead');
            });
          }
        }
      }
    })().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Stops the timer and writes everything buffered (graceful shutdown, before the pool closes). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.buffer.length) this.options.log?.error({ events: this.buffer.length }, 'audit events could not be written before shutdown');
  }

  /** Whether an event was committed (a mutation that failed after its transaction wrote one). */
  async exists(tenantId: string, id: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query('SELECT 1 AS found FROM audit_events WHERE id = ? AND tenant_id = ?', [id, tenantId]);
    return rows.length > 0;
  }

  /** The tenant's events, oldest first, filtered; a Relay page keyed by sequence. */
  async list(tenantId: string, filter: AuditEventFilter, request: PageRequest): Promise<Page<AuditEventRecord>> {
    const conditions = ['e.tenant_id = ?'];
    const params: unknown[] = [tenantId];
    let from = 'audit_events e';
    if (filter.resourceId) {
      from = 'audit_event_resources r JOIN audit_events e ON e.tenant_id = r.tenant_id AND e.sequence = r.sequence';
      conditions.push('r.tenant_id = ? AND r.resource_id = ?');
      params.push(tenantId, filter.resourceId);
    }
    if (filter.actorCredentialId) {
      conditions.push('e.actor_credential_id = ?');
      params.push(filter.actorCredentialId);
    }
    if (filter.operationName) {
      conditions.push('e.operation_name = ?');
      params.push(filter.operationName);
    }
    if (filter.from) {
      conditions.push('e.occurred_at >= ?');
      params.push(toDbTimestamp(filter.from));
    }
    if (filter.to) {
      conditions.push('e.occurred_at < ?');
      params.push(toDbTimestamp(filter.to));
    }
    if (filter.from && filter.to && filter.from.getTime() > filter.to.getTime()) {
      throw validationError('filter.from must not be after filter.to', { field: 'filter.from' });
    }
    return readPage(
      request,
      async (slice) => {
        const sql = keysetSql(slice, ['e.sequence'], 'ASC', (key) => [Number(key)]);
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT e.* FROM ${from} WHERE ${[...conditions, ...sql.conditions].join(' AND ')} ORDER BY ${sql.orderBy} LIMIT ${sql.limit}`,
          [...params, ...sql.params],
        );
        return rows.map(recordOf);
      },
      (record) => String(record.sequence),
      { isKey: (key) => /^[1-9][0-9]{0,15}$/.test(key) },
    );
  }

  /**
   * Recomputes the chain from `from` to `to` (clamped to the events kept): each event must be there
   * (no gap), carry the hash of the one before (the archived boundary hash for the first kept one),
   * and hash to what it stores; the last must be the head's. Names the first sequence that fails.
   */
  async verify(tenantId: string, from?: number | null, to?: number | null): Promise<AuditChainVerification> {
    if ((from !== null && from !== undefined && from < 1) || (to !== null && to !== undefined && to < 1)) {
      throw validationError('from and to are sequence numbers, 1 or more', { field: from !== null && from !== undefined && from < 1 ? 'from' : 'to' });
    }
    if (from && to && from > to) throw validationError('from must not be after to', { field: 'from' });
    const [headRow]: Record<string, unknown>[] = await this.dataSource.query('SELECT * FROM audit_chain_heads WHERE tenant_id = ?', [tenantId]);
    if (!headRow) return { valid: true, firstBrokenSequence: null, checkedCount: 0, fromSequence: from ?? 1, toSequence: to ?? 0 };
    const head = headOf(headRow);
    const first = Math.max(from ?? 1, head.archivedThroughSequence + 1);
    const last = Math.min(to ?? head.lastSequence, head.lastSequence);
    const result = (firstBrokenSequence: number | null, checkedCount: number): AuditChainVerification => ({
      valid: firstBrokenSequence === null,
      firstBrokenSequence,
      checkedCount,
      fromSequence: first,
      toSequence: last,
    });
    if (first > last) return result(null, 0);
    let expectedPrevious: string;
    if (first === head.archivedThroughSequence + 1) {
      expectedPrevious = head.archivedBoundaryHash;
    } else {
      const [before]: Record<string, unknown>[] = await this.dataSource.query('SELECT hash FROM audit_events WHERE tenant_id = ? AND sequence = ?', [
        tenantId,
        first - 1,
      ]);
      if (!before) return result(first - 1, 0);
      expectedPrevious = String(before.hash);
    }
    let expectedSequence = first;
    let checked = 0;
    while (expectedSequence <= last) {
      const rows: Record<string, unknown>[] = await this.dataSource.query(
        `SELECT * FROM audit_events WHERE tenant_id = ? AND sequence >= ? AND sequence <= ? ORDER BY sequence LIMIT ${VERIFY_PAGE}`,
        [tenantId, expectedSequence, last],
      );
      if (rows.length === 0) break;
      for (const row of rows) {
        let record: AuditEventRecord;
        try {
          record = recordOf(row);
        } catch {
          return result(Number(row.sequence), checked);
        }
        if (record.sequence !== expectedSequence) return result(expectedSequence, checked);
        if (record.previousHash !== expectedPrevious) return result(record.sequence, checked);
        const recomputed = hashOfEvent(record);
        if (recomputed !== record.hash) return result(record.sequence, checked);
        expectedPrevious = recomputed;
        expectedSequence += 1;
        checked += 1;
      }
    }
    if (expectedSequence <= last) return result(expectedSequence, checked);
    // The head names the last event's hash: a tail replaced wholesale shows here.
    if (last === head.lastSequence && expectedPrevious !== head.lastHash) return result(last, checked);
    return result(null, checked);
  }

  /** The chain's head, for the retention job and the README's verification story. */
  async head(tenantId: string): Promise<AuditChainHead | null> {
    const [row]: Record<string, unknown>[] = await this.dataSource.query('SELECT * FROM audit_chain_heads WHERE tenant_id = ?', [tenantId]);
    return row ? headOf(row) : null;
  }

  /** The data source and locking clause, for the retention job in this module. */
  get database(): { dataSource: DataSource; forUpdate: string } {
    return { dataSource: this.dataSource, forUpdate: this.forUpdate };
  }
}

function rowOf(record: AuditEventRecord): unknown[] {
  return [
    record.tenantId,
    record.sequence,
    record.id,
    toDbTimestamp(record.occurredAt),
    record.actorKind,
    record.actorCredentialId,
    record.originIp,
    record.requestId,
    record.kind,
    record.operationType,
    record.operationName,
    JSON.stringify(record.resourceIds),
    record.outcome,
    record.errorCode,
    record.argumentsDigest,
    record.previousHash,
    record.hash,
  ];
}

const nullableText = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

/** A stored row as a record; throws on a row too damaged to read (the verifier counts that as broken). */
export function recordOf(row: Record<string, unknown>): AuditEventRecord {
  const resourceIds = JSON.parse(String(row.resource_ids)) as unknown;
  if (!Array.isArray(resourceIds)) throw new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'resource_ids is not a list');
  return {
    tenantId: String(row.tenant_id),
    sequence: Number(row.sequence),
    id: String(row.id),
    occurredAt: fromDbTimestamp(row.occurred_at),
    actorKind: String(row.actor_kind) as AuditActorKind,
    actorCredentialId: nullableText(row.actor_credential_id),
    originIp: nullableText(row.origin_ip),
    requestId: nullableText(row.request_id),
    kind: String(row.kind) as AuditEventKind,
    operationType: String(row.operation_type) as AuditOperationType,
    operationName: String(row.operation_name),
    resourceIds: resourceIds.map(String),
    outcome: String(row.outcome) as AuditOutcome,
    errorCode: nullableText(row.error_code),
    argumentsDigest: nullableText(row.arguments_digest),
    previousHash: String(row.previous_hash),
    hash: String(row.hash),
  };
}

function headOf(row: Record<string, unknown>): AuditChainHead {
  return {
    tenantId: String(row.tenant_id),
    lastSequence: Number(row.last_sequence),
    lastHash: String(row.last_hash),
    archivedThroughSequence: Number(row.archived_through_sequence),
    archivedBoundaryHash: String(row.archived_boundary_hash),
  };
}
