import type { DataSource, EntityManager, EntitySubscriberInterface, QueryRunner, TransactionCommitEvent, TransactionRollbackEvent } from 'typeorm';
import type { Clock } from '../../common/clock';
import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';
import { newId, requireIdOfKind } from '../../common/ids';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
import { executeCountingRows } from '../../db/affected-rows';
import { keysetSql } from '../../db/keyset';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import { type EventOutbox, NO_EVENT_OUTBOX } from '../webhooks/event-outbox';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import {
  type FlagEventPublisher,
  NO_FLAG_EVENTS,
  RAISING_ACTIONS,
  ReconciliationFlagAction,
  type ReconciliationFlagEventRecord,
  ReconciliationFlagResolution,
} from './reconciliation-flags.events';
import { flagFromRow, ReconciliationFlagKind, type ReconciliationFlagRecord, ReconciliationFlagStatus } from './reconciliation.types';

export interface RaiseFlagInput {
  tenantId: string;
  /** Null for gateway-side flags, which no bank account owns. */
  bankAccountId: string | null;
  kind: ReconciliationFlagKind;
  /**
   * A stable key of what the flag is about (`statement:<id>`, `line:<id>`, `posting:<id>`,
   * `payout:<id>`, at most 128 characters): the same cause raised again finds its flag by it.
   */
  subject: string;
  /** The values that differ, shown to auditors; replaced by each new occurrence. */
  details: Record<string, unknown>;
}

export interface AcknowledgeFlagInput {
  flagId: string;
  note?: string | null;
}

export interface ResolveFlagInput {
  flagId: string;
  resolution: ReconciliationFlagResolution;
  note?: string | null;
  journalEntryId?: string | null;
}

/** A match just recorded, whose items' flags it resolves. */
export interface ResolvingMatch {
  tenantId: string;
  bankAccountId: string;
  matchId: string;
  rule: string;
  origin: string;
  /** The credential that matched by hand; null for the engine. */
  matchedBy: string | null;
  /** The note given with a match by hand, kept in the step. */
  note: string | null;
  statementLineIds: readonly string[];
  postingIds: readonly string[];
}

/**
 * The kinds a match ends: their cause is that the item is not matched (UNMATCHED_*) or could not be
 * matched automatically (AMBIGUOUS_MATCH, AMOUNT_MISMATCH). A duplicated line or a balance stays a
 * problem whatever is matched.
 */
export const KINDS_RESOLVED_BY_A_MATCH: readonly ReconciliationFlagKind[] = [
  ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE,
  ReconciliationFlagKind.UNMATCHED_LEDGER_ENTRY,
  ReconciliationFlagKind.AMBIGUOUS_MATCH,
  ReconciliationFlagKind.AMOUNT_MISMATCH,
  // The line it names is unmatched: once it is matched (by hand, say), what the money was is settled.
  ReconciliationFlagKind.INVOICE_NOT_PAYABLE,
];

export interface FlagEventFilter {
  bankAccountId?: string | null;
  kind?: ReconciliationFlagKind | null;
  /** Only steps that raise a flag (RAISED, REOPENED). */
  raisingOnly?: boolean;
}

const MAX_NOTE_LENGTH = 2000;
/** Subjects per look-up of the flags a match resolves. */
const SUBJECT_CHUNK = 200;
const MAX_SUBJECT_LENGTH = 128;

/**
 * Collects the flag steps of each open transaction and hands them to the publisher once that
 * transaction has committed; a rollback drops them. Registered on the DataSource as a TypeORM
 * subscriber, so that no caller can forget to publish, nor publish what was rolled back.
 */
class AfterCommitOutbox implements EntitySubscriberInterface {
  private readonly pending = new WeakMap<QueryRunner, ReconciliationFlagEventRecord[]>();

  constructor(private readonly publisher: FlagEventPublisher) {}

  add(manager: EntityManager, event: ReconciliationFlagEventRecord): void {
    const runner = manager.queryRunner;
    if (!runner?.isTransactionActive) throw new Error('Reconciliation flags change only inside a transaction (runInTransaction)');
    const events = this.pending.get(runner);
    if (events) events.push(event);
    else this.pending.set(runner, [event]);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    // A released savepoint: the outer transaction can still roll back.
    if (event.queryRunner.isTransactionActive) return;
    const events = this.pending.get(event.queryRunner);
    if (!events) return;
    this.pending.delete(event.queryRunner);
    this.publisher.flagEventsCommitted(events);
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    if (!event.queryRunner.isTransactionActive) this.pending.delete(event.queryRunner);
  }
}

function eventFromRow(row: Record<string, unknown>): ReconciliationFlagEventRecord {
  const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
  return {
    tenantId: String(row.tenant_id),
    flagId: String(row.flag_id),
    bankAccountId: text(row.bank_account_id),
    kind: row.kind as ReconciliationFlagKind,
    sequence: Number(row.sequence),
    action: row.action as ReconciliationFlagAction,
    statusFrom: text(row.status_from) as ReconciliationFlagStatus | null,
    statusTo: row.status_to as ReconciliationFlagStatus,
    occurrenceCount: Number(row.occurrence_count),
    details: row.details === null || row.details === undefined ? null : (JSON.parse(String(row.details)) as Record<string, unknown>),
    actorCredentialId: text(row.actor_credential_id),
    note: text(row.note),
    resolution: text(row.resolution) as ReconciliationFlagResolution | null,
    journalEntryId: text(row.journal_entry_id),
    createdAt: fromDbTimestamp(row.created_at),
  };
}

const EVENT_COLUMNS = 'e.*, f.bank_account_id, f.kind';

/**
 * The one way flags are raised and changed. Every step (raise, recurrence, reopening,
 * acknowledgement, resolution) takes the tenant's next flag sequence number, becomes the flag's
 * `sequence`, and is appended to reconciliation_flag_events, which is never updated: the flag's
 * history, and what a subscriber resuming with `since:` reads. The sequence counter row stays locked
 * to the commit, so steps commit in sequence order and the sequence has no holes: a subscriber that
 * sees n+2 after n knows n+1 is in the database.
 */
export class ReconciliationFlagsService {
  private readonly kind: 'mysql' | 'sqlite';
  private readonly outbox: AfterCommitOutbox;
  /** The webhook outbox: reconciliation.flag_raised is stored in the transaction that raises (or reopens) the flag. */
  webhookOutbox: EventOutbox = NO_EVENT_OUTBOX;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    events: FlagEventPublisher = NO_FLAG_EVENTS,
    private readonly idempotency?: IdempotencyService,
  ) {
    this.kind = databaseKindOfSource(dataSource) === 'mysql' ? 'mysql' : 'sqlite';
    this.outbox = new AfterCommitOutbox(events);
  }

  /**
   * Raises a flag inside the caller's transaction, or records that its cause occurred again: the flag
   * of the same kind and subject (on the same bank account) that is OPEN or ACKNOWLEDGED gets one more
   * occurrence and keeps its status; a RESOLVED one is reopened (OPEN, one more occurrence). Each
   * case appends a step to its history and takes a new sequence number. Subscribers hear of it once
   * the caller's transaction commits.
   */
  async raise(manager: EntityManager, input: RaiseFlagInput): Promise<ReconciliationFlagRecord> {
    this.register(manager);
    if (input.subject.length < 1 || input.subject.length > MAX_SUBJECT_LENGTH) {
      throw new Error(`A flag subject is 1 to ${MAX_SUBJECT_LENGTH} characters: ${input.subject.slice(0, 40)}…`);
    }
    const { tenantId, bankAccountId, kind, subject, details } = input;
    // First: the counter row's lock serialises the tenant's flag changes, so the look-up below cannot
    // race another raise of the same cause (the unique index does not hold for a NULL bank account).
    const sequence = await this.nextSequence(manager, tenantId);
    const now = this.clock.now();
    const existing: Record<string, unknown>[] = await manager.query(
      `SELECT * FROM reconciliation_flags WHERE tenant_id = ? AND ${bankAccountId === null ? 'bank_account_id IS NULL' : 'bank_account_id = ?'} AND kind = ? AND subject = ?${this.forUpdate()}`,
      bankAccountId === null ? [tenantId, kind, subject] : [tenantId, bankAccountId, kind, subject],
    );
    if (existing.length) {
      const flag = flagFromRow(existing[0]);
      const reopened = flag.status === ReconciliationFlagStatus.RESOLVED;
      const updated: ReconciliationFlagRecord = {
        ...flag,
        status: ReconciliationFlagStatus.OPEN,
        sequence,
        details,
        occurrenceCount: flag.occurrenceCount + 1,
        updatedAt: now,
      };
      if (!reopened) updated.status = flag.status;
      await manager.query('UPDATE reconciliation_flags SET status = ?, sequence = ?, details = ?, occurrence_count = ?, updated_at = ? WHERE id = ?', [
        updated.status,
        sequence,
        JSON.stringify(details),
        updated.occurrenceCount,
        toDbTimestamp(now),
        flag.id,
      ]);
      await this.appendEvent(manager, updated, {
        action: reopened ? ReconciliationFlagAction.REOPENED : ReconciliationFlagAction.RECURRED,
        statusFrom: flag.status,
        details,
      });
      // A recurrence of a flag still open is news to nobody; a RESOLVED one reopened is raised again.
      if (reopened) await this.announceRaised(manager, updated, ReconciliationFlagAction.REOPENED);
      return updated;
    }
    const flag: ReconciliationFlagRecord = {
      id: newId('reconciliationFlag'),
      tenantId,
      bankAccountId,
      kind,
      status: ReconciliationFlagStatus.OPEN,
      subject,
      sequence,
      details,
      occurrenceCount: 1,
      createdAt: now,
      updatedAt: now,
    };
    await manager.query(
      `INSERT INTO reconciliation_flags (id, tenant_id, bank_account_id, kind, status, subject, sequence, details, occurrence_count, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [flag.id, tenantId, bankAccountId, kind, flag.status, subject, sequence, JSON.stringify(details), 1, toDbTimestamp(now), toDbTimestamp(now)],
    );
    await this.appendEvent(manager, flag, { action: ReconciliationFlagAction.RAISED, statusFrom: null, details });
    await this.announceRaised(manager, flag, ReconciliationFlagAction.RAISED);
    return flag;
  }

  private announceRaised(manager: EntityManager, flag: ReconciliationFlagRecord, action: ReconciliationFlagAction): Promise<void> {
    return this.webhookOutbox.record(manager, [{ tenantId: flag.tenantId, type: 'reconciliation.flag_raised', occurredAt: flag.updatedAt, data: { flag, action } }]);
  }

  /** OPEN → ACKNOWLEDGED: someone is looking into it. Anything else is INVALID_STATE_TRANSITION and changes nothing. */
  async acknowledge(tenantId: string, actorCredentialId: string | null, input: AcknowledgeFlagInput, idempotency?: IdempotencyHandle): Promise<ReconciliationFlagRecord> {
    requireIdOfKind(input.flagId, 'reconciliationFlag', 'flagId');
    const note = this.noteOf(input.note, false);
    return runInTransaction(this.dataSource, async (manager) => {
      const sequence = await this.nextSequence(manager, tenantId);
      const flag = await this.lockedFlag(manager, tenantId, input.flagId);
      if (flag.status !== ReconciliationFlagStatus.OPEN) {
        throw new AppError(
          ErrorCode.INVALID_STATE_TRANSITION,
          `Flag ${flag.id} is ${flag.status}; only an OPEN flag can be acknowledged${flag.status === ReconciliationFlagStatus.ACKNOWLEDGED ? ' (it already is)' : ''}`,
          { id: flag.id, status: flag.status },
        );
      }
      const updated = await this.changeStatus(manager, flag, sequence, ReconciliationFlagStatus.ACKNOWLEDGED, {
        action: ReconciliationFlagAction.ACKNOWLEDGED,
        actorCredentialId,
        note,
      });
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { flagId: flag.id } });
      return updated;
    });
  }

  /**
   * OPEN or ACKNOWLEDGED → RESOLVED, saying how: MATCHED_BY_HAND, ADJUSTMENT_POSTED (naming the
   * tenant's posted journal entry that touches the bank account's ledger account) or ACCEPTED (with a
   * note saying why). A RESOLVED flag is INVALID_STATE_TRANSITION; nothing changes on any refusal.
   * MATCHED is refused: only resolveMatched() records it, when a match is stored.
   */
  async resolve(tenantId: string, actorCredentialId: string | null, input: ResolveFlagInput, idempotency?: IdempotencyHandle): Promise<ReconciliationFlagRecord> {
    requireIdOfKind(input.flagId, 'reconciliationFlag', 'flagId');
    if (!Object.values(ReconciliationFlagResolution).includes(input.resolution) || input.resolution === ReconciliationFlagResolution.MATCHED) {
      throw validationError(
        'resolution must be MATCHED_BY_HAND, ADJUSTMENT_POSTED or ACCEPTED; MATCHED is recorded by the system when the item is matched (matchStatementLine)',
        { field: 'resolution' },
      );
    }
    const note = this.noteOf(input.note, input.resolution === ReconciliationFlagResolution.ACCEPTED);
    const journalEntryId = input.journalEntryId ?? null;
    if (input.resolution === ReconciliationFlagResolution.ADJUSTMENT_POSTED) {
      if (!journalEntryId) {
        throw validationError('ADJUSTMENT_POSTED needs journalEntryId: the posted entry that corrects the books', { field: 'journalEntryId' });
      }
      requireIdOfKind(journalEntryId, 'journalEntry', 'journalEntryId');
    } else if (journalEntryId) {
      throw validationError(`journalEntryId goes with ADJUSTMENT_POSTED only, not ${input.resolution}; leave it out`, { field: 'journalEntryId' });
    }
    return runInTransaction(this.dataSource, async (manager) => {
      const sequence = await this.nextSequence(manager, tenantId);
      const flag = await this.lockedFlag(manager, tenantId, input.flagId);
      if (flag.status === ReconciliationFlagStatus.RESOLVED) {
        throw new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Flag ${flag.id} is already RESOLVED; it reopens by itself if its cause returns`, {
          id: flag.id,
          status: flag.status,
        });
      }
      if (journalEntryId) await this.requireAdjustment(manager, flag, journalEntryId);
      const updated = await this.changeStatus(manager, flag, sequence, ReconciliationFlagStatus.RESOLVED, {
        action: ReconciliationFlagAction.RESOLVED,
        actorCredentialId,
        note,
        resolution: input.resolution,
        journalEntryId,
      });
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { flagId: flag.id } });
      return updated;
    });
  }

  /**
   * Inside the caller's transaction (the one that stored the match): resolves, with resolution
   * MATCHED, every OPEN or ACKNOWLEDGED flag of a kind in KINDS_RESOLVED_BY_A_MATCH on the match's
   * bank account whose subject is one of the match's lines or postings (`line:<id>`, `posting:<id>`;
   * an AMBIGUOUS_MATCH naming several items is about the item in its subject). The step records the
   * match in its details and, for a match by hand, the credential and note. Returns the flags resolved.
   */
  async resolveMatched(manager: EntityManager, matches: readonly ResolvingMatch[]): Promise<ReconciliationFlagRecord[]> {
    // Per bank account (a run stores the matches of one), each subject with the match that took it.
    const byAccount = new Map<string, { tenantId: string; bankAccountId: string; bySubject: Map<string, ResolvingMatch> }>();
    for (const match of matches) {
      const key = `${match.tenantId}/${match.bankAccountId}`;
      const group = byAccount.get(key) ?? { tenantId: match.tenantId, bankAccountId: match.bankAccountId, bySubject: new Map<string, ResolvingMatch>() };
      for (const id of match.statementLineIds) group.bySubject.set(`line:${id}`, match);
      for (const id of match.postingIds) group.bySubject.set(`posting:${id}`, match);
      byAccount.set(key, group);
    }
    const kindMarks = KINDS_RESOLVED_BY_A_MATCH.map(() => '?').join(',');
    const openFlags = async (tenantId: string, bankAccountId: string, subjects: readonly string[], lock: boolean) => {
      const rows: Record<string, unknown>[] = [];
      for (let i = 0; i < subjects.length; i += SUBJECT_CHUNK) {
        const chunk = subjects.slice(i, i + SUBJECT_CHUNK);
        rows.push(
          ...((await manager.query(
            // By the subject index alone (a status condition would let SQLite read every open flag of the tenant).
            `SELECT * FROM reconciliation_flags WHERE tenant_id = ? AND bank_account_id = ? AND kind IN (${kindMarks}) AND subject IN (${chunk.map(() => '?').join(',')})${lock ? this.forUpdate() : ''}`,
            [tenantId, bankAccountId, ...KINDS_RESOLVED_BY_A_MATCH, ...chunk],
          )) as Record<string, unknown>[]),
        );
      }
      return rows
        .map(flagFromRow)
        .filter((flag) => flag.status !== ReconciliationFlagStatus.RESOLVED)
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    };
    const resolved: ReconciliationFlagRecord[] = [];
    for (const { tenantId, bankAccountId, bySubject } of byAccount.values()) {
      // Most matches end no flag: plain reads first, a chunk of subjects each, taking no lock and no number.
      const candidates = await openFlags(tenantId, bankAccountId, [...bySubject.keys()], false);
      if (candidates.length === 0) continue;
      this.register(manager);
      // As in raise(): the tenant's counter row first, then the flag rows, read again under lock (a
      // person may have resolved one meanwhile); each step then takes the next number, leaving no hole.
      await this.lockSequence(manager, tenantId);
      for (const flag of await openFlags(tenantId, bankAccountId, [...new Set(candidates.map((f) => f.subject))], true)) {
        const match = bySubject.get(flag.subject)!;
        const sequence = await this.nextSequence(manager, tenantId);
        const updated = await this.changeStatus(manager, flag, sequence, ReconciliationFlagStatus.RESOLVED, {
          action: ReconciliationFlagAction.RESOLVED,
          actorCredentialId: match.matchedBy,
          note: match.note,
          resolution: ReconciliationFlagResolution.MATCHED,
          details: {
            matchId: match.matchId,
            rule: match.rule,
            origin: match.origin,
            statementLineIds: [...match.statementLineIds],
            postingIds: [...match.postingIds],
          },
        });
        resolved.push(updated);
      }
    }
    return resolved;
  }

  /** The flag's steps, oldest first. */
  listHistory(tenantId: string, flagId: string, request: PageRequest, sizes?: { defaultSize: number; maxSize: number }): Promise<Page<ReconciliationFlagEventRecord>> {
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['e.sequence'], 'ASC', (key) => [Number(key)]);
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT ${EVENT_COLUMNS} FROM reconciliation_flag_events e JOIN reconciliation_flags f ON f.id = e.flag_id
           WHERE ${['e.flag_id = ?', 'e.tenant_id = ?', ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [flagId, tenantId, ...keyset.params],
        );
        return rows.map(eventFromRow);
      },
      (event) => String(event.sequence),
      { sizes, isKey: (key) => /^[1-9]\d{0,15}$/.test(key) },
    );
  }

  async countHistory(tenantId: string, flagId: string): Promise<number> {
    const rows: Record<string, unknown>[] = await this.dataSource.query('SELECT COUNT(*) AS total FROM reconciliation_flag_events WHERE flag_id = ? AND tenant_id = ?', [
      flagId,
      tenantId,
    ]);
    return Number(rows[0].total);
  }

  /**
   * The tenant's steps with a sequence number above `after`, in sequence order, at most `limit`
   * (every step the tenant took, or those the filter keeps): what a subscriber resuming with
   * `since:` missed.
   */
  async eventsAfter(tenantId: string, after: number, limit: number, filter: FlagEventFilter = {}): Promise<ReconciliationFlagEventRecord[]> {
    const conditions = ['e.tenant_id = ?', 'e.sequence > ?'];
    const params: unknown[] = [tenantId, after];
    if (filter.bankAccountId) {
      conditions.push('f.bank_account_id = ?');
      params.push(filter.bankAccountId);
    }
    if (filter.kind) {
      conditions.push('f.kind = ?');
      params.push(filter.kind);
    }
    if (filter.raisingOnly) conditions.push(`e.action IN (${RAISING_ACTIONS.map((action) => `'${action}'`).join(', ')})`);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT ${EVENT_COLUMNS} FROM reconciliation_flag_events e JOIN reconciliation_flags f ON f.id = e.flag_id
       WHERE ${conditions.join(' AND ')} ORDER BY e.sequence LIMIT ${Math.max(1, Math.floor(limit))}`,
      params,
    );
    return rows.map(eventFromRow);
  }

  /** The tenant's last flag sequence number (0 before its first flag). */
  async lastSequence(tenantId: string): Promise<number> {
    const rows: Record<string, unknown>[] = await this.dataSource.query('SELECT last_flag_sequence FROM reconciliation_sequences WHERE tenant_id = ?', [tenantId]);
    return rows.length ? Number(rows[0].last_flag_sequence) : 0;
  }

  // ---------------------------------------------------------------------------------------------

  private register(manager: EntityManager): void {
    const subscribers = manager.connection.subscribers;
    if (!subscribers.includes(this.outbox)) subscribers.push(this.outbox);
  }

  /**
   * The flag, locked to the commit. Callers take the sequence number first, as raise() does: both lock
   * the tenant's counter row before a flag row, so concurrent steps queue instead of deadlocking (a
   * refused step rolls its number back with it).
   */
  private async lockedFlag(manager: EntityManager, tenantId: string, flagId: string): Promise<ReconciliationFlagRecord> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM reconciliation_flags WHERE tenant_id = ? AND id = ?${this.forUpdate()}`, [tenantId, flagId]);
    if (!rows.length) throw notFoundError('Reconciliation flag', flagId);
    return flagFromRow(rows[0]);
  }

  private async changeStatus(
    manager: EntityManager,
    flag: ReconciliationFlagRecord,
    sequence: number,
    status: ReconciliationFlagStatus,
    step: {
      action: ReconciliationFlagAction;
      actorCredentialId: string | null;
      note: string | null;
      resolution?: ReconciliationFlagResolution;
      journalEntryId?: string | null;
      details?: Record<string, unknown>;
    },
  ): Promise<ReconciliationFlagRecord> {
    this.register(manager);
    const now = this.clock.now();
    await manager.query('UPDATE reconciliation_flags SET status = ?, sequence = ?, updated_at = ? WHERE id = ?', [status, sequence, toDbTimestamp(now), flag.id]);
    const updated: ReconciliationFlagRecord = { ...flag, status, sequence, updatedAt: now };
    await this.appendEvent(manager, updated, { ...step, statusFrom: flag.status, details: step.details ?? null });
    return updated;
  }

  private async appendEvent(
    manager: EntityManager,
    flag: ReconciliationFlagRecord,
    step: {
      action: ReconciliationFlagAction;
      statusFrom: ReconciliationFlagStatus | null;
      details: Record<string, unknown> | null;
      actorCredentialId?: string | null;
      note?: string | null;
      resolution?: ReconciliationFlagResolution | null;
      journalEntryId?: string | null;
    },
  ): Promise<void> {
    const event: ReconciliationFlagEventRecord = {
      tenantId: flag.tenantId,
      flagId: flag.id,
      bankAccountId: flag.bankAccountId,
      kind: flag.kind,
      sequence: flag.sequence,
      action: step.action,
      statusFrom: step.statusFrom,
      statusTo: flag.status,
      occurrenceCount: flag.occurrenceCount,
      details: step.details,
      actorCredentialId: step.actorCredentialId ?? null,
      note: step.note ?? null,
      resolution: step.resolution ?? null,
      journalEntryId: step.journalEntryId ?? null,
      createdAt: flag.updatedAt,
    };
    await manager.query(
      `INSERT INTO reconciliation_flag_events (tenant_id, sequence, flag_id, action, status_from, status_to, occurrence_count, details,
                                               actor_credential_id, note, resolution, journal_entry_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        event.tenantId,
        event.sequence,
        event.flagId,
        event.action,
        event.statusFrom,
        event.statusTo,
        event.occurrenceCount,
        event.details === null ? null : JSON.stringify(event.details),
        event.actorCredentialId,
        event.note,
        event.resolution,
        event.journalEntryId,
        toDbTimestamp(event.createdAt),
      ],
    );
    this.outbox.add(manager, event);
  }

  /** An adjustment is a POSTED entry of the tenant with a posting on the flag's bank account's ledger account. */
  private async requireAdjustment(manager: EntityManager, flag: ReconciliationFlagRecord, journalEntryId: string): Promise<void> {
    const entries: Record<string, unknown>[] = await manager.query('SELECT status FROM journal_entries WHERE tenant_id = ? AND id = ?', [flag.tenantId, journalEntryId]);
    if (!entries.length) throw notFoundError('Journal entry', journalEntryId);
    if (entries[0].status !== 'POSTED') {
      throw validationError(`Journal entry ${journalEntryId} is ${String(entries[0].status)}; an adjustment must be POSTED`, { field: 'journalEntryId' });
    }
    if (flag.bankAccountId === null) return;
    const touching: Record<string, unknown>[] = await manager.query(
      `SELECT p.id FROM postings p JOIN bank_accounts b ON b.ledger_account_id = p.account_id
       WHERE p.journal_entry_id = ? AND p.tenant_id = ? AND b.id = ? LIMIT 1`,
      [journalEntryId, flag.tenantId, flag.bankAccountId],
    );
    if (!touching.length) {
      throw validationError(`Journal entry ${journalEntryId} does not post to the bank account's ledger account; name the entry that corrects it`, {
        field: 'journalEntryId',
      });
    }
  }

  private noteOf(value: string | null | undefined, required: boolean): string | null {
    const note = value?.trim() ?? '';
    if (note.length > MAX_NOTE_LENGTH) throw validationError(`note must be at most ${MAX_NOTE_LENGTH} characters`, { field: 'note' });
    if (required && note.length === 0) throw validationError('ACCEPTED needs a note saying why the difference is accepted', { field: 'note' });
    return note.length ? note : null;
  }

  /**
   * Locks the tenant's counter row without taking a number (a tenant without one has no flag to
   * change). SQLite has one writer: the transaction is the lock.
   */
  private async lockSequence(manager: EntityManager, tenantId: string): Promise<void> {
    if (this.kind === 'mysql') await manager.query('SELECT last_flag_sequence FROM reconciliation_sequences WHERE tenant_id = ? FOR UPDATE', [tenantId]);
  }

  /** The tenant's next flag sequence number; the counter row stays locked until the transaction ends. */
  private async nextSequence(manager: EntityManager, tenantId: string): Promise<number> {
    const bump = () => executeCountingRows(manager, 'UPDATE reconciliation_sequences SET last_flag_sequence = last_flag_sequence + 1 WHERE tenant_id = ?', [tenantId]);
    if ((await bump()) === 0) {
      try {
        await manager.query('INSERT INTO reconciliation_sequences (tenant_id, last_flag_sequence) VALUES (?, 1)', [tenantId]);
        return 1;
      } catch (error) {
        // Another transaction created the tenant's counter meanwhile (MySQL: this statement alone failed).
        if (!isUniqueViolation(error)) throw error;
        await bump();
      }
    }
    const rows: Record<string, unknown>[] = await manager.query('SELECT last_flag_sequence FROM reconciliation_sequences WHERE tenant_id = ?', [tenantId]);
    return Number(rows[0].last_flag_sequence);
  }

  private forUpdate(): string {
    return this.kind === 'mysql' ? ' FOR UPDATE' : '';
  }
}
