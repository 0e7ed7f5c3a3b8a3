import type { Logger } from 'pino';
import type { DataSource, EntityManager, EntitySubscriberInterface, QueryRunner, TransactionCommitEvent, TransactionRollbackEvent } from 'typeorm';
import type { Clock } from '../../common/clock';
import { validationError } from '../../common/errors';
import { newId } from '../../common/ids';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
import { runInTransaction } from '../../db/transaction';
import { type PubSub, subscribeDecoded } from '../../graphql/pubsub';
import { Scope } from '../auth/scopes';

/**
 * The tenant's event stream (GET /v1/events/stream): the events the webhook outbox stores (journal
 * entry posted, payment captured, invoice paid, flag raised, …), each given a position in its
 * tenant's stream once its transaction has committed.
 *
 * Why positions are given after the commit: an event's id is taken inside its transaction, and
 * transactions commit out of id order (a ledger batch waiting on a lock commits after a later one),
 * so "every event after id X" would miss an event that committed late with an earlier id. The
 * sequencer instead locks the tenant's event_streams row, reads the committed events that have no
 * position yet (a plain read: it waits for no writer and blocks none), and numbers them after the
 * last one; runs are serialised by the lock, so an event that commits later always gets a later
 * number, and a client resuming after n can miss nothing. Producers never take that lock.
 *
 * The outbox stores an event only when someone needs it: a subscribed webhook endpoint, or a stream
 * opened by the tenant within the last EVENT_STREAM_RETENTION_MS (renewed while one is open), so a
 * client that reconnects within that window resumes without loss.
 */

/** How long a tenant's events are kept for its stream's clients after its last stream closed. */
export const EVENT_STREAM_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Each open stream checks this often for events whose announcement was lost (pub/sub is at most once). */
export const EVENT_STREAM_POLL_MS = 5000;
/** Events read from the database per query while catching up, and numbered per sequencer transaction. */
const PAGE = 500;

/** One event of a tenant's stream: its position, and the exact body webhooks POST for it. */
export interface StreamedEvent {
  sequence: number;
  id: string;
  type: string;
  /** `{ id, type, timestamp, tenantId, data }`, as encodeWebhookPayload wrote it. */
  payload: string;
}

/** The scope that reads an event type's area: journal_entry.* ledger:read, payment.* payments:read, invoice.* invoices:read, reconciliation.* reconciliation:read. */
export function scopeOfEventType(type: string): Scope {
  const area = type.slice(0, type.indexOf('.'));
  switch (area) {
    case 'journal_entry':
      return Scope.LEDGER_READ;
    case 'payment':
      return Scope.PAYMENTS_READ;
    case 'invoice':
      return Scope.INVOICES_READ;
    case 'reconciliation':
      return Scope.RECONCILIATION_READ;
    default:
      throw new Error(`No scope reads events of type ${type}`);
  }
}

export function eventStreamChannel(tenantId: string): string {
  return `reckon:tenant:${tenantId}:event-stream`;
}

/** What the channel carries: the tenant's stream has events up to `upTo` (read them from the database). */
interface StreamAnnouncement {
  tenantId: string;
  upTo: number;
}

/** Tenants whose streamed events a transaction stored, told to the sequencer once it commits. */
class AfterCommitTenants implements EntitySubscriberInterface {
  private readonly pending = new WeakMap<QueryRunner, Set<string>>();

  constructor(private readonly committed: (tenantIds: readonly string[]) => void) {}

  add(manager: EntityManager, tenantIds: readonly string[]): boolean {
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) return false;
    const tenants = this.pending.get(runner) ?? new Set<string>();
    for (const tenantId of tenantIds) tenants.add(tenantId);
    this.pending.set(runner, tenants);
    return true;
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    // A released savepoint: the outer transaction can still roll back.
    if (event.queryRunner.isTransactionActive) return;
    const tenants = this.pending.get(event.queryRunner);
    if (!tenants) return;
    this.pending.delete(event.queryRunner);
    this.committed([...tenants]);
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    if (!event.queryRunner.isTransactionActive) this.pending.delete(event.queryRunner);
  }
}

export interface EventStreamOptions {
  retentionMs?: number;
  pollMs?: number;
}

export class EventStreamService {
  private readonly kind: 'mysql' | 'sqlite';
  private readonly afterCommit: AfterCommitTenants;
  /** Per tenant, the sequencer run of this process under way, and whether another must follow it. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly retentionMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly pubSub: PubSub,
    options: EventStreamOptions = {},
    private readonly log?: Logger,
  ) {
    this.kind = databaseKindOfSource(dataSource) === 'mysql' ? 'mysql' : 'sqlite';
    this.afterCommit = new AfterCommitTenants((tenantIds) => {
      for (const tenantId of tenantIds) this.sequenceSoon(tenantId);
    });
    this.retentionMs = options.retentionMs ?? EVENT_STREAM_RETENTION_MS;
    this.pollMs = options.pollMs ?? EVENT_STREAM_POLL_MS;
  }

  /** Called by the outbox in the transaction that stored streamed events: they are numbered once it commits. */
  eventsStored(manager: EntityManager, tenantIds: readonly string[]): void {
    const subscribers = manager.connection.subscribers;
    if (!subscribers.includes(this.afterCommit)) subscribers.push(this.afterCommit);
    if (!this.afterCommit.add(manager, tenantIds)) for (const tenantId of tenantIds) this.sequenceSoon(tenantId);
  }

  /**
   * Starts keeping the tenant's events for its stream, or renews that, and numbers what has committed.
   * A stream that lapsed (no stream for the retention period) starts again: events of the lapse may
   * not have been stored, so positions before it can no longer be resumed from.
   */
  async open(tenantId: string): Promise<{ lastSequence: number; resumableAfter: number }> {
    const forUpdate = this.kind === 'mysql' ? ' FOR UPDATE' : '';
    await runInTransaction(this.dataSource, async (manager) => {
      const now = this.clock.now();
      const retainUntil = toDbTimestamp(new Date(now.getTime() + this.retentionMs));
      await manager.query(
        `${this.kind === 'mysql' ? 'INSERT IGNORE' : 'INSERT OR IGNORE'} INTO event_streams (tenant_id, last_sequence, resumable_after, sequencing_after_id, retain_until, created_at) VALUES (?, 0, 0, ?, ?, ?)`,
        [tenantId, newId('webhookEvent'), retainUntil, toDbTimestamp(now)],
      );
      const [row]: Record<string, unknown>[] = await manager.query(`SELECT last_sequence, retain_until FROM event_streams WHERE tenant_id = ?${forUpdate}`, [tenantId]);
      if (fromDbTimestamp(row.retain_until).getTime() <= now.getTime()) {
        await manager.query('UPDATE event_streams SET resumable_after = last_sequence, sequencing_after_id = ?, retain_until = ? WHERE tenant_id = ?', [
          newId('webhookEvent'),
          retainUntil,
          tenantId,
        ]);
      } else {
        await manager.query('UPDATE event_streams SET retain_until = ? WHERE tenant_id = ?', [retainUntil, tenantId]);
      }
    });
    await this.sequence(tenantId);
    const [row]: Record<string, unknown>[] = await this.dataSource.query('SELECT last_sequence, resumable_after FROM event_streams WHERE tenant_id = ?', [tenantId]);
    return { lastSequence: Number(row.last_sequence), resumableAfter: Number(row.resumable_after) };
  }

  /** Numbers the tenant's committed events that have no position yet, in id order after its last one; returns the last position. */
  async sequence(tenantId: string): Promise<number> {
    const forUpdate = this.kind === 'mysql' ? ' FOR UPDATE' : '';
    for (;;) {
      const { last, full } = await runInTransaction(this.dataSource, async (manager) => {
        const [stream]: Record<string, unknown>[] = await manager.query(`SELECT last_sequence, sequencing_after_id FROM event_streams WHERE tenant_id = ?${forUpdate}`, [tenantId]);
        if (!stream) return { last: 0, full: false };
        let next = Number(stream.last_sequence);
        // A plain read after the lock: it sees every event committed before the lock was granted.
        const rows: { id: string }[] = await manager.query(
          `SELECT id FROM webhook_events WHERE tenant_id = ? AND stream_sequence IS NULL AND id > ? ORDER BY id LIMIT ${PAGE}`,
          [tenantId, String(stream.sequencing_after_id)],
        );
        if (rows.length === 0) return { last: next, full: false };
        const numbered = rows.map((row) => [String(row.id), (next += 1)] as const);
        await manager.query(
          `UPDATE webhook_events SET stream_sequence = CASE id ${numbered.map(() => 'WHEN ? THEN ?').join(' ')} END
            WHERE tenant_id = ? AND stream_sequence IS NULL AND id IN (${numbered.map(() => '?').join(', ')})`,
          [...numbered.flat(), tenantId, ...numbered.map(([id]) => id)],
        );
        await manager.query('UPDATE event_streams SET last_sequence = ? WHERE tenant_id = ?', [next, tenantId]);
        return { last: next, full: rows.length === PAGE };
      });
      if (!full) return last;
    }
  }

  /** The tenant's streamed events after a position, in order; `types` (null: all) filters by type. */
  async eventsAfter(tenantId: string, after: number, limit: number, types: readonly string[] | null = null): Promise<StreamedEvent[]> {
    const typeCondition = types ? ` AND type IN (${types.map(() => '?').join(', ')})` : '';
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT id, type, payload, stream_sequence FROM webhook_events WHERE tenant_id = ? AND stream_sequence > ?${typeCondition} ORDER BY stream_sequence LIMIT ${Math.max(1, Math.floor(limit))}`,
      [tenantId, after, ...(types ?? [])],
    );
    return rows.map((row) => ({ sequence: Number(row.stream_sequence), id: String(row.id), type: String(row.type), payload: String(row.payload) }));
  }

  /**
   * The tenant's events after `since` (null: from now), then live ones, in position order, without
   * loss or repetition: it listens before it reads, so nothing numbered meanwhile is missed. Returns
   * the position it starts from with the feed.
   */
  async openFeed(tenantId: string, since: number | null, types: readonly string[] | null): Promise<{ from: number; feed: AsyncIterableIterator<StreamedEvent> }> {
    const live = await subscribeDecoded(this.pubSub, eventStreamChannel(tenantId), (message) => JSON.parse(message) as StreamAnnouncement, (message) => message.tenantId === tenantId);
    let state: { lastSequence: number; resumableAfter: number };
    try {
      state = await this.open(tenantId);
      if (since !== null && (since > state.lastSequence || since < state.resumableAfter)) {
        throw validationError(
          since > state.lastSequence
            ? `Last-Event-ID ${since} is past this tenant's event stream (it has reached ${state.lastSequence}): give the id of an event this stream sent`
            : `Events after ${since} were not kept (no stream was open for ${Math.round(this.retentionMs / 3_600_000)} hours); reconnect without Last-Event-ID and read what you missed through the list operations`,
          { field: 'Last-Event-ID', lastEventId: String(state.lastSequence) },
        );
      }
    } catch (error) {
      await live.return?.();
      throw error;
    }
    let position = since ?? state.lastSequence;
    let known = state.lastSequence;
    const ready: StreamedEvent[] = [];
    let ended = false;
    let pendingLive: Promise<IteratorResult<StreamAnnouncement>> | null = null;
    let cancelTick: (() => void) | null = null;

    /** Resolves after the poll interval, or at once when cancelled (the live message came first, or the feed ended). */
    const tick = () =>
      new Promise<'tick'>((resolve) => {
        const timer = setTimeout(() => resolve('tick'), this.pollMs);
        cancelTick = () => {
          clearTimeout(timer);
          resolve('tick');
        };
      });

    const feed: AsyncIterableIterator<StreamedEvent> = {
      next: async () => {
        for (;;) {
          if (ended) return { value: undefined, done: true };
          const queued = ready.shift();
          if (queued) return { value: queued, done: false };
          if (position < known) {
            const page = await this.eventsAfter(tenantId, position, PAGE);
            if (page.length === 0) position = known;
            for (const event of page) {
              position = event.sequence;
              if (!types || types.includes(event.type)) ready.push(event);
            }
            known = Math.max(known, position);
            continue;
          }
          pendingLive ??= live.next();
          const outcome = await Promise.race([pendingLive, tick()]);
          (cancelTick as (() => void) | null)?.();
          cancelTick = null;
          if (outcome === 'tick') {
            if (!ended) known = Math.max(known, await this.poll(tenantId));
            continue;
          }
          pendingLive = null;
          if (outcome.done) return { value: undefined, done: true };
          known = Math.max(known, outcome.value.upTo);
        }
      },
      return: async () => {
        ended = true;
        ready.length = 0;
        (cancelTick as (() => void) | null)?.();
        await live.return?.();
        return { value: undefined, done: true };
      },
      throw: async (error?: unknown) => {
        ended = true;
        await live.return?.();
        throw error;
      },
      [Symbol.asyncIterator]: () => feed,
    };
    return { from: position, feed };
  }

  /**
   * An open stream's safety net: numbers events whose announcement never came (pub/sub is at most once,
   * and a process can stop between its commit and its announcement), and keeps the tenant's events kept.
   */
  private async poll(tenantId: string): Promise<number> {
    const [waiting] = await this.dataSource.query('SELECT 1 AS waiting FROM webhook_events WHERE tenant_id = ? AND stream_sequence IS NULL LIMIT 1', [tenantId]);
    const [stream]: Record<string, unknown>[] = await this.dataSource.query('SELECT last_sequence, retain_until FROM event_streams WHERE tenant_id = ?', [tenantId]);
    const now = this.clock.now().getTime();
    if (stream && fromDbTimestamp(stream.retain_until).getTime() - now < this.retentionMs / 2) {
      await this.dataSource.query('UPDATE event_streams SET retain_until = ? WHERE tenant_id = ? AND retain_until > ?', [
        toDbTimestamp(new Date(now + this.retentionMs)),
        tenantId,
        toDbTimestamp(new Date(now)),
      ]);
    }
    return waiting ? this.sequence(tenantId) : Number(stream?.last_sequence ?? 0);
  }

  /** Numbers the tenant's new events and announces them; runs of one tenant in this process follow each other. */
  private sequenceSoon(tenantId: string): void {
    if (this.running.has(tenantId)) {
      this.again.add(tenantId);
      return;
    }
    const run = (async () => {
      try {
        do {
          this.again.delete(tenantId);
          const upTo = await this.sequence(tenantId);
          await this.pubSub.publish(eventStreamChannel(tenantId), JSON.stringify({ tenantId, upTo } satisfies StreamAnnouncement));
        } while (this.again.has(tenantId));
      } catch (error) {
        // The events have committed; an open stream's poll numbers them.
        this.log?.warn({ err: error, tenantId }, 'could not number or announce streamed events');
      } finally {
        this.running.delete(tenantId);
      }
    })();
    this.running.set(tenantId, run);
  }

  /** Waits for this process's sequencer runs (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()]);
  }
}
