import crypto from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import type { FieldCipher } from '../../common/encryption';
import { AppError, ErrorCode, validationError } from '../../common/errors';
import { newId } from '../../common/ids';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { executeCountingRows } from '../../db/affected-rows';
import { type DatabaseKind, databaseKindOfSource, primaryKeyHint } from '../../db/data-source';
import { DatabaseUnavailableError, isConnectionError, isUniqueViolation, runInTransaction, serializeOnSqlite } from '../../db/transaction';
import type { MutationAudit } from '../audit/audit.types';
import type { Metrics } from '../../common/metrics';
import { type QueuedWrite, WriteCoalescer } from './coalesced-writes';
import { differingPaths, type Fingerprint } from './fingerprint';

/** Who may reuse a key: the same credential of the same tenant, on the same mutation field. */
export interface IdempotencyScope {
  tenantId: string;
  credentialId: string;
  operation: string;
  key: string;
}

/** Proof that this request holds the claim on a key; the business transaction completes it. */
export interface IdempotencyHandle {
  recordId: string;
  claimToken: string;
  scope: IdempotencyScope;
  /** The mutation's audit event, written by the transaction that completes this claim (README, Audit). */
  audit?: MutationAudit;
  /**
   * Set while the claim is not in the database yet (IdempotentOperation.claimWithChange): the row the
   * ledger writer inserts in the batch transaction that makes the change and completes the claim.
   */
  claimRow?: readonly unknown[];
}

/**
 * A claim prepared for the change's own transaction found its key taken (a retry, a copy, a record
 * from earlier): nothing was changed, and the request goes the usual way (IdempotencyService.claim),
 * which tells a replay, a key in use or a key reused with other arguments apart.
 */
export class ClaimTakenError extends AppError {
  override name = 'ClaimTakenError';
  constructor(key: string) {
    super(ErrorCode.IDEMPOTENCY_KEY_IN_USE, 'This idempotency key is already claimed; nothing was changed. Retry with the same key.', { key });
  }
}

/**
 * Writes the audit events of mutations inside the transaction that completes their claims: every
 * mutation completes its claim in its change's transaction, so this one hook puts each mutation's
 * event in the same transaction as its change without touching any service.
 */
export interface MutationAuditSink {
  mutationsCompletedWithin(manager: EntityManager, completions: { audit: MutationAudit; resultRef?: unknown; error?: AppError }[]): Promise<void>;
}

/** What a completed record gives back. */
export interface StoredOutcome {
  /** The mutation field's data exactly as first sent, when it was stored after the response. */
  responseJson: string | null;
  /** What the change produced (ids), written with the change: enough to rebuild the payload. */
  resultRef: unknown;
  /** A business refusal decided by the first request, replayed as it was. */
  error: { code: ErrorCode; message: string; details: Record<string, unknown> } | null;
}

export type Claim = { kind: 'new'; handle: IdempotencyHandle } | { kind: 'replay'; outcome: StoredOutcome };

export interface IdempotencyOptions {
  /** How long a completed record answers retries. */
  ttlMs: number;
  /** How long an in-progress claim is honoured before another request may take it over. */
  leaseMs: number;
  /** Counts replays (reckon_idempotent_replays_total). */
  metrics?: Pick<Metrics, 'idempotentReplays'>;
}

const KEY_PATTERN = /^[\x21-\x7E][\x20-\x7E]{6,253}[\x21-\x7E]$/;
const TABLE = 'idempotency_records';
/** Stored answers, encrypted: a response may hold a one-time secret, a refusal names references and balances. */
export const IDEMPOTENCY_ENCRYPTED_COLUMNS = { table: TABLE, columns: ['response_ciphertext', 'error_json'] } as const;
/** Claims completed by one UPDATE in completeMany (5 parameters each). */
const COMPLETE_MANY_CHUNK = 200;
/** Claims inserted by one statement (10 parameters each). */
const CLAIM_INSERTS_CHUNK = 100;
/** Responses stored by one UPDATE: at most this many, and no more once they reach this many bytes. */
const STORE_RESPONSES_CHUNK = 100;
const STORE_RESPONSES_BYTES = 1 << 20;
const CLAIM_COLUMNS = `(id, tenant_id, credential_id, operation, idempotency_key, fingerprint, status, claim_token,
                       lease_expires_at, created_at, expires_at)`;
const CLAIM_VALUES = "(?, ?, ?, ?, ?, ?, 'IN_PROGRESS', ?, ?, ?, ?)";

/** 8 to 255 printable ASCII characters, not starting or ending with a space. Checked before any lookup. */
export function requireIdempotencyKey(key: string, field = 'idempotencyKey'): string {
  if (!KEY_PATTERN.test(key)) {
    throw validationError(`${field} must be 8 to 255 printable ASCII characters (no leading or trailing space)`, { field });
  }
  return key;
}

/**
 * Idempotency keys (DESIGN.md, Principles). A request first claims its key in a short transaction of
 * its own; the business transaction then marks the claim completed together with the change, so
 * there is never a change without its record nor a completed record without its change. A claim whose
 * holder died is taken over after its lease; claims that never completed carry no change.
 */
export class IdempotencyService {
  /**
   * Claims and stored responses of concurrent requests are written together, a statement and a commit
   * for many (a ledger batch answers its requests at once, and they come back at once).
   */
  private readonly claimInserts = new WriteCoalescer<unknown[]>((group) => this.insertClaims(group), { maxItems: CLAIM_INSERTS_CHUNK });
  private readonly responseStores = new WriteCoalescer<{ handle: IdempotencyHandle; ciphertext: string }>(
    (group) => this.storeResponses(group),
    { maxItems: STORE_RESPONSES_CHUNK, maxSize: STORE_RESPONSES_BYTES, size: (item) => item.ciphertext.length },
  );

  /** Set once the audit service exists (services.ts); without it mutations are audited after their transaction. */
  auditSink: MutationAuditSink | null = null;

  private readonly kind: DatabaseKind;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly cipher: FieldCipher,
    private readonly options: IdempotencyOptions,
  ) {
    this.kind = databaseKindOfSource(dataSource);
  }

  private async auditWithin(manager: EntityManager, completions: { handle: IdempotencyHandle; resultRef?: unknown; error?: AppError }[]): Promise<void> {
    await this.auditUnkeyedWithin(
      manager,
      completions.flatMap(({ handle, resultRef, error }) => (handle.audit ? [{ audit: handle.audit, resultRef, error }] : [])),
    );
  }

  /**
   * The audit events of mutations without a key, in the transaction of their change: what a key's
   * completion does for a keyed one, for a service that knows its transaction decides the mutation
   * (the ledger writer's batch, for a mutation that is one ledger command).
   */
  async auditUnkeyedWithin(manager: EntityManager, completions: { audit: MutationAudit; resultRef?: unknown; error?: AppError }[]): Promise<void> {
    if (this.auditSink && completions.length) await this.auditSink.mutationsCompletedWithin(manager, completions);
  }

  private write<T>(work: () => Promise<T>): Promise<T> {
    return serializeOnSqlite(this.dataSource, work);
  }

  get ttlMs(): number {
    return this.options.ttlMs;
  }

  /**
   * The fingerprint as stored: each digest keyed with the server's blind-index key and the tenant. A
   * plain hash of an amount or a reference is read back by hashing likely values; a keyed one is not.
   */
  private sealed(fingerprint: Fingerprint, tenantId: string): Fingerprint {
    const context = { table: TABLE, column: 'fingerprint', tenantId };
    return Object.fromEntries(
      Object.entries(fingerprint).map(([path, digest]) => [path, this.cipher.blindIndex(`${path}\u0000${digest}`, context).slice(0, 22)]),
    );
  }

  /**
   * Claims the key for this request, or answers with what the request that holds it decided. The claim
   * runs outside any transaction, so a lost connection becomes DatabaseUnavailableError here, as
   * runInTransaction makes it for the business transaction. The driver's error is not passed on:
   * TypeORM wraps a statement that failed, but hands on the pool's own error when no connection could
   * be had, an object made by Node's socket code, which may come from another realm than graphql-js (it
   * does under jest). graphql-shield returns a resolver's error as its value, and graphql-js would take
   * such an object for the mutation's payload rather than an error: INTERNAL_SERVER_ERROR for a
   * non-null field it lacks, instead of SERVICE_UNAVAILABLE.
   */
  async claim(scope: IdempotencyScope, fingerprint: Fingerprint): Promise<Claim> {
    try {
      return await this.claimSealed(scope, this.sealed(fingerprint, scope.tenantId));
    } catch (error) {
      if (isConnectionError(error)) {
        throw new DatabaseUnavailableError('The database is unavailable; the request made no change. Retry with the same idempotency key.');
      }
      throw error;
    }
  }

  /** A new claim's handle and the row that records it (CLAIM_COLUMNS), not inserted yet. */
  private newClaim(scope: IdempotencyScope, fingerprint: Fingerprint, now: Date): { handle: IdempotencyHandle; row: unknown[] } {
    const handle: IdempotencyHandle = { recordId: newId('idempotencyRecord'), claimToken: crypto.randomUUID(), scope };
    const row = [
      handle.recordId,
      scope.tenantId,
      scope.credentialId,
      scope.operation,
      scope.key,
      JSON.stringify(fingerprint),
      handle.claimToken,
      toDbTimestamp(new Date(now.getTime() + this.options.leaseMs)),
      toDbTimestamp(now),
      toDbTimestamp(new Date(now.getTime() + this.options.ttlMs)),
    ];
    return { handle, row };
  }

  /**
   * A claim to be inserted by the transaction that makes the change and completes it
   * (insertClaimsWithin), for a request whose whole effect is that one transaction: a key then costs
   * no statement and no commit of its own. Nothing is written here.
   */
  prepareClaim(scope: IdempotencyScope, fingerprint: Fingerprint): IdempotencyHandle {
    const { handle, row } = this.newClaim(scope, this.sealed(fingerprint, scope.tenantId), this.clock.now());
    return { ...handle, claimRow: row };
  }

  /**
   * Inserts prepared claims in the caller's transaction and returns the record ids it inserted; a key
   * already recorded (or inserted by a transaction still open, which this waits for) is left alone,
   * and its request is refused with ClaimTakenError by the caller. Rows go in key order, so two
   * transactions inserting the same keys cannot wait on each other in a cycle.
   */
  async insertClaimsWithin(manager: EntityManager, handles: readonly IdempotencyHandle[]): Promise<Set<string>> {
    const rows = handles
      .flatMap((handle) => (handle.claimRow ? [handle.claimRow] : []))
      .sort((a, b) => compareText(a.slice(1, 5).join('\u0000'), b.slice(1, 5).join('\u0000')));
    const inserted = new Set<string>();
    const ignore = this.kind === 'mysql' ? 'INSERT IGNORE' : 'INSERT OR IGNORE';
    for (let start = 0; start < rows.length; start += CLAIM_INSERTS_CHUNK) {
      const part = rows.slice(start, start + CLAIM_INSERTS_CHUNK);
      const count = await executeCountingRows(manager, `${ignore} INTO ${TABLE} ${CLAIM_COLUMNS} VALUES ${part.map(() => CLAIM_VALUES).join(', ')}`, part.flat());
      const ids = part.map((row) => String(row[0]));
      if (count === part.length) {
        for (const id of ids) inserted.add(id);
        continue;
      }
      const found: { id: string }[] = await manager.query(`SELECT id FROM ${TABLE} WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
      for (const { id } of found) inserted.add(String(id));
    }
    return inserted;
  }

  private async claimSealed(scope: IdempotencyScope, fingerprint: Fingerprint): Promise<Claim> {
    const { handle, row } = this.newClaim(scope, fingerprint, this.clock.now());
    try {
      await this.claimInserts.add(row);
      return { kind: 'new', handle };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
    return this.resolveExisting(scope, fingerprint, this.clock.now());
  }

  /**
   * Inserts a group of claims in one statement. A statement that fails inserts none of its rows, so when
   * one of them fails (a key already claimed, a lost race) each claim is inserted again alone and only
   * the one at fault sees its error. A lost connection fails them all, as it would each alone: whether
   * the statement ran is unknown, and each request releases its claim.
   */
  private async insertClaims(group: QueuedWrite<unknown[]>[]): Promise<void> {
    const insert = (rows: unknown[][]) =>
      this.write(() => this.dataSource.query(`INSERT INTO ${TABLE} ${CLAIM_COLUMNS} VALUES ${rows.map(() => CLAIM_VALUES).join(', ')}`, rows.flat()));
    if (group.length > 1) {
      try {
        await insert(group.map((queued) => queued.item));
        for (const queued of group) queued.resolve();
        return;
      } catch (error) {
        if (isConnectionError(error)) throw error;
      }
    }
    await Promise.all(group.map((queued) => insert([queued.item]).then(queued.resolve, queued.reject)));
  }

  private async resolveExisting(scope: IdempotencyScope, fingerprint: Fingerprint, now: Date): Promise<Claim> {
    const [row]: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT id, fingerprint, status, claim_token, lease_expires_at, result_ref, error_json, response_ciphertext, expires_at
         FROM ${TABLE} WHERE tenant_id = ? AND credential_id = ? AND operation = ? AND idempotency_key = ?`,
      [scope.tenantId, scope.credentialId, scope.operation, scope.key],
    );
    // Deleted by the reaper between our insert and this read: claim again.
    if (!row) return this.claimSealed(scope, fingerprint);
    const recordId = String(row.id);
    if (fromDbTimestamp(row.expires_at).getTime() <= now.getTime()) {
      // Past its TTL the key behaves as new: the old record goes, and this request claims afresh.
      await this.write(() => this.dataSource.query(`DELETE FROM ${TABLE} WHERE id = ? AND expires_at <= ?`, [recordId, toDbTimestamp(now)]));
      return this.claimSealed(scope, fingerprint);
    }
    const differences = differingPaths(JSON.parse(String(row.fingerprint)) as Fingerprint, fingerprint);
    if (differences.length) {
      throw new AppError(
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        `This idempotency key was used with different arguments: ${differences.join(', ')} ${differences.length === 1 ? 'differs' : 'differ'}. Use a new key for a new request.`,
        { key: scope.key, differingArguments: differences },
      );
    }
    const leaseEndsAt = fromDbTimestamp(row.lease_expires_at).getTime();
    const inUse = () => {
      // The holder may finish any moment (retry shortly) or may have crashed: then its claim can be
      // taken over (or its change rebuilt) once the lease ends, which is the longest a client has to wait.
      const retryAfterSeconds = Math.max(1, Math.ceil((leaseEndsAt - now.getTime()) / 1000));
      return new AppError(
        ErrorCode.IDEMPOTENCY_KEY_IN_USE,
        `A request with this idempotency key is still being processed. Retry with the same key shortly; its claim ends within ${retryAfterSeconds} s.`,
        { key: scope.key, retryAfterSeconds },
      );
    };
    if (row.status === 'COMPLETED') {
      // Committed, but its answer not stored yet: the holder stores it right after its commit, so while
      // its lease runs it is alive and about to. A copy arriving in that gap waits for the first answer
      // rather than rebuilding one (which cannot show a one-time secret again); after the lease, the
      // holder is taken to have died between commit and store, and the payload is rebuilt.
      if (!row.response_ciphertext && !row.error_json && leaseEndsAt > now.getTime()) throw inUse();
      const outcome = this.outcomeOf(row, scope.tenantId);
      this.options.metrics?.idempotentReplays.inc({ operation: scope.operation });
      return { kind: 'replay', outcome };
    }
    if (leaseEndsAt > now.getTime()) throw inUse();
    // The holder's lease ran out (it crashed or hung): take the claim over. Its own completion, if
    // it ever comes, fails on the changed token and rolls its change back.
    const takeover = { recordId, claimToken: crypto.randomUUID(), scope };
    const taken = await this.write(() =>
      executeCountingRows(
        this.dataSource.manager,
        `UPDATE ${TABLE} SET claim_token = ?, lease_expires_at = ? WHERE id = ? AND status = 'IN_PROGRESS' AND claim_token = ?`,
        [takeover.claimToken, toDbTimestamp(new Date(now.getTime() + this.options.leaseMs)), recordId, String(row.claim_token)],
      ),
    );
    if (taken !== 1) return this.resolveExisting(scope, fingerprint, this.clock.now());
    return { kind: 'new', handle: takeover };
  }

  private outcomeOf(row: Record<string, unknown>, tenantId: string): StoredOutcome {
    const response = row.response_ciphertext
      ? this.cipher.decrypt(String(row.response_ciphertext), { table: TABLE, column: 'response_ciphertext', tenantId })
      : null;
    const error = row.error_json ? this.cipher.decrypt(String(row.error_json), { table: TABLE, column: 'error_json', tenantId }) : null;
    return {
      responseJson: response,
      resultRef: row.result_ref ? JSON.parse(String(row.result_ref)) : null,
      error: error === null ? null : (JSON.parse(error) as StoredOutcome['error']),
    };
  }

  /**
   * Marks the claim completed inside the business transaction. If the claim was taken over meanwhile
   * the update finds no row and this throws, so the transaction, change included, rolls back.
   */
  async complete(manager: EntityManager, handle: IdempotencyHandle, outcome: { resultRef?: unknown; error?: AppError }): Promise<void> {
    const completed = await executeCountingRows(
      manager,
      `UPDATE ${TABLE} SET status = 'COMPLETED', result_ref = ?, error_json = ?, completed_at = ?
        WHERE id = ? AND claim_token = ? AND status = 'IN_PROGRESS'`,
      [
        outcome.resultRef === undefined ? null : JSON.stringify(outcome.resultRef),
        // A refusal is a stored answer like a response, and as readable: its message and details may
        // name a reference or a balance, so it is encrypted too.
        outcome.error
          ? this.cipher.encrypt(JSON.stringify({ code: outcome.error.code, message: outcome.error.message, details: outcome.error.details }), {
              table: TABLE,
              column: 'error_json',
              tenantId: handle.scope.tenantId,
            })
          : null,
        toDbTimestamp(this.clock.now()),
        handle.recordId,
        handle.claimToken,
      ],
    );
    if (completed !== 1) {
      throw new AppError(
        ErrorCode.IDEMPOTENCY_KEY_IN_USE,
        'This request lost its idempotency claim to a retry (its lease ran out); nothing was changed by it.',
        { key: handle.scope.key },
      );
    }
    await this.auditWithin(manager, [{ handle, resultRef: outcome.resultRef, error: outcome.error }]);
  }

  /**
   * `complete` for many claims that succeeded, in one statement: what a group-commit batch of the
   * ledger writer records with its change (one UPDATE per batch instead of one per keyed command). If
   * any claim was taken over meanwhile fewer rows change and this throws, so the whole transaction
   * rolls back (the ledger writer then writes each command alone, and only the loser fails).
   */
  async completeMany(manager: EntityManager, completions: { handle: IdempotencyHandle; resultRef: unknown }[]): Promise<void> {
    for (let start = 0; start < completions.length; start += COMPLETE_MANY_CHUNK) {
      const part = completions.slice(start, start + COMPLETE_MANY_CHUNK);
      if (part.length === 1) {
        await this.complete(manager, part[0].handle, { resultRef: part[0].resultRef });
        continue;
      }
      const cases = part.map(() => 'WHEN ? THEN ?').join(' ');
      const completed = await executeCountingRows(
        manager,
        `UPDATE ${TABLE}${primaryKeyHint(this.kind)} SET status = 'COMPLETED', result_ref = CASE id ${cases} END, error_json = NULL, completed_at = ?
          WHERE id IN (${part.map(() => '?').join(',')}) AND status = 'IN_PROGRESS' AND claim_token = CASE id ${cases} END`,
        [
          ...part.flatMap(({ handle, resultRef }) => [handle.recordId, JSON.stringify(resultRef)]),
          toDbTimestamp(this.clock.now()),
          ...part.map(({ handle }) => handle.recordId),
          ...part.flatMap(({ handle }) => [handle.recordId, handle.claimToken]),
        ],
      );
      if (completed !== part.length) {
        throw new AppError(
          ErrorCode.IDEMPOTENCY_KEY_IN_USE,
          'A request of this batch lost its idempotency claim to a retry (its lease ran out); nothing was changed by the batch.',
        );
      }
      await this.auditWithin(manager, part);
    }
  }

  /** Stores a refusal decided outside any business transaction (an all-or-nothing batch that rolled back). */
  async completeWithError(handle: IdempotencyHandle, error: AppError): Promise<void> {
    // A transaction of its own: the audit event it writes locks its chain's head until the commit.
    await runInTransaction(this.dataSource, (manager) => this.complete(manager, handle, { error })).catch(() => undefined);
  }

  /**
   * Keeps the field's response for byte-identical replays. Best effort: without it replays rebuild from
   * resultRef. Resolves once it is written, before the response is sent; the responses of concurrent
   * requests are written by one UPDATE.
   */
  storeResponse(handle: IdempotencyHandle, responseJson: string): Promise<void> {
    const ciphertext = this.cipher.encrypt(responseJson, { table: TABLE, column: 'response_ciphertext', tenantId: handle.scope.tenantId });
    return this.responseStores.add({ handle, ciphertext });
  }

  private async storeResponses(group: QueuedWrite<{ handle: IdempotencyHandle; ciphertext: string }>[]): Promise<void> {
    const stores = group.map((queued) => queued.item);
    const cases = stores.map(() => 'WHEN ? THEN ?').join(' ');
    await this.write(() =>
      this.dataSource.query(
        `UPDATE ${TABLE}${primaryKeyHint(this.kind)} SET response_ciphertext = CASE id ${cases} END
          WHERE id IN (${stores.map(() => '?').join(',')}) AND status = 'COMPLETED' AND claim_token = CASE id ${cases} END`,
        [
          ...stores.flatMap(({ handle, ciphertext }) => [handle.recordId, ciphertext]),
          ...stores.map(({ handle }) => handle.recordId),
          ...stores.flatMap(({ handle }) => [handle.recordId, handle.claimToken]),
        ],
      ),
    );
    for (const queued of group) queued.resolve();
  }

  /** Gives a key back when the request failed before deciding anything (bad input, an outage). */
  async release(handle: IdempotencyHandle): Promise<void> {
    await this.write(() =>
      this.dataSource.query(`DELETE FROM ${TABLE} WHERE id = ? AND claim_token = ? AND status = 'IN_PROGRESS'`, [
        handle.recordId,
        handle.claimToken,
      ]),
    );
  }

  /** Deletes records past their TTL, a bounded number at a time; returns how many went. */
  async reap(limit = 1000): Promise<number> {
    const now = toDbTimestamp(this.clock.now());
    const rows: { id: string }[] = await this.dataSource.query(`SELECT id FROM ${TABLE} WHERE expires_at <= ? ORDER BY expires_at LIMIT ${limit}`, [now]);
    if (rows.length === 0) return 0;
    await this.write(() =>
      this.dataSource.query(`DELETE FROM ${TABLE} WHERE id IN (${rows.map(() => '?').join(',')}) AND expires_at <= ?`, [
        ...rows.map((row) => row.id),
        now,
      ]),
    );
    return rows.length;
  }
}

/** Byte order, as the databases' binary comparison of ASCII keys: the same on every process. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
