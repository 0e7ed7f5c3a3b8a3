import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { assert } from '../../common/assert';
import type { Clock } from '../../common/clock';
import type { Metrics } from '../../common/metrics';
import { AppError, ErrorCode } from '../../common/errors';
import { newId } from '../../common/ids';
import { isWithinInt64, toBigInt } from '../../common/money';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource, type DatabaseKind, primaryKeyHint } from '../../db/data-source';
import { DatabaseUnavailableError, isUniqueViolation, runInTransaction } from '../../db/transaction';
import { type EventOutbox, NO_EVENT_OUTBOX, type OutboxEvent } from '../webhooks/event-outbox';
import { ClaimTakenError, type IdempotencyHandle, type IdempotencyService } from '../idempotency/idempotency.service';
import type { MutationAudit } from '../audit/audit.types';
import { LedgerErrors } from './ledger.errors';
import { recordPeriodTotals } from './period-totals';
import {
  type AccountTotals,
  type AccountType,
  balancesOf,
  EntryDirection,
  JournalEntryStatus,
  netOf,
  normalBalanceOf,
  PostingPhase,
} from './ledger.types';

/**
 * The ledger writer: the only code that inserts postings and changes account balances.
 *
 * Every change arrives as a command. Commands are written in batches, one database transaction per
 * batch: referenced entries are locked first, then every touched account, both in id order, so two
 * batches can never wait on each other in a cycle. Each command is then checked in order against the
 * balances left by the commands before it; a command that fails its checks is refused alone and its
 * neighbours commit (group commit), unless the caller asked for all-or-nothing.
 */

export interface LineDraft {
  accountId: string;
  direction: EntryDirection;
  amountMinor: bigint;
  currency: string;
  /** Names the input field in error messages, e.g. "lines[2]". */
  field: string;
}

export type LedgerCommand = LedgerChange & {
  /** The request's idempotency claim, completed in the same transaction as this command's outcome. */
  idempotency?: IdempotencyHandle;
  /**
   * The audit event of an unkeyed mutation that is this one command, written with the command's
   * outcome in its batch transaction (a keyed mutation's travels on its claim).
   */
  audit?: MutationAudit;
  /** Another module's rows written with this command in its batch's transaction (see CommandRows). */
  rows?: CommandRows;
};

/**
 * The rows of another module that a queued command carries (a payment, its event, its webhook), so a
 * step of that module shares the ledger's group commit: the accounts every payment of a currency
 * touches are then locked once per batch, not once per payment. Within a batch transaction:
 * 1. `lock` of every command that has one, in `lockKey` order, before any entry or account is locked:
 *    the module's rows come first in every transaction that takes them with ledger locks, so the
 *    order stays acyclic. An AppError refuses the command alone, before anything of it is written, and
 *    leaves its idempotency claim to the caller (it may settle the step its own way, or report it).
 *    Two commands of one batch with the same lockKey fail the batch, which then writes each alone.
 * 2. the ledger's checks of the command and of `with`, all or none of them;
 * 3. `write`, only when they passed, with their writes (the command's first), after the postings.
 * A throw from either hook fails the batch; the writer then writes each command alone, so the
 * offender fails by itself and its rows roll back with its entries.
 */
export interface CommandRows {
  /** Orders the lock hooks of a batch (a payment's id). */
  lockKey: string;
  /** Further changes written with the command, all or none (a capture's fee). */
  with?: LedgerChange[];
  lock?(manager: EntityManager): Promise<AppError | undefined>;
  write(manager: EntityManager, writes: LedgerWrite[]): Promise<void>;
  /** What the command's idempotency claim records as its result, instead of the entry ids. */
  resultRef?: unknown;
}

export type LedgerChange =
  | {
      type: 'create';
      /**
       * The new entry's id, when the caller needs it before the write: a module that records the id
       * in its own rows writes them first, so the accounts are locked last and held for less time.
       */
      entryId?: string;
      tenantId: string;
      status: JournalEntryStatus.POSTED | JournalEntryStatus.PENDING;
      description: string;
      effectiveAt: Date;
      externalRef: string | null;
      metadata: Record<string, unknown> | null;
      lines: LineDraft[];
    }
  | { type: 'post-pending'; tenantId: string; entryId: string; effectiveAt: Date | null; lines: LineDraft[] | null }
  | { type: 'void-pending'; tenantId: string; entryId: string; effectiveAt: Date | null }
  | {
      type: 'reverse';
      tenantId: string;
      entryId: string;
      description: string | null;
      effectiveAt: Date | null;
      externalRef: string | null;
      metadata: Record<string, unknown> | null;
    };

export interface JournalEntryRecord {
  id: string;
  tenantId: string;
  status: JournalEntryStatus;
  description: string;
  effectiveAt: Date;
  externalRef: string | null;
  metadata: Record<string, unknown> | null;
  reversalOfId: string | null;
  createdAt: Date;
  resolvedAt: Date | null;
}

export interface PostingRecord {
  id: string;
  tenantId: string;
  journalEntryId: string;
  accountId: string;
  direction: EntryDirection;
  amountMinor: bigint;
  currency: string;
  phase: PostingPhase;
  effectiveAt: Date;
  createdAt: Date;
}

/** What a command wrote: the entry as it now stands, and the postings this command added. */
export interface LedgerWrite {
  entry: JournalEntryRecord;
  postings: PostingRecord[];
}

export type LedgerOutcome = { ok: true; write: LedgerWrite; /** The writes of `rows.with`, in order. */ also?: LedgerWrite[] } | { ok: false; error: AppError };

interface LockedAccount extends AccountTotals {
  id: string;
  tenantId: string;
  type: AccountType;
  currency: string;
  availableFloorMinor: bigint | null;
}

interface ReferencedEntry {
  record: JournalEntryRecord;
  postings: PostingRecord[];
  reversed: boolean;
}

/** Rows per multi-row INSERT: keeps every statement well under SQLite's and MySQL's parameter limits. */
const INSERT_CHUNK_ROWS = 400;

function placeholders(count: number, width: number): string {
  const row = `(${new Array(width).fill('?').join(',')})`;
  return new Array(count).fill(row).join(',');
}

function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

class BatchWriter {
  private readonly dbNow: string;

  constructor(
    private readonly manager: EntityManager,
    private readonly kind: DatabaseKind,
    private readonly now: Date,
    private readonly idempotency?: IdempotencyService,
    private readonly outbox: EventOutbox = NO_EVENT_OUTBOX,
  ) {
    this.dbNow = toDbTimestamp(now);
  }

  /** Binds minor units exactly: native bigint for better-sqlite3, decimal text for mysql2. */
  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }

  private forUpdate(): string {
    return this.kind === 'mysql' ? ' FOR UPDATE' : '';
  }

  async write(commands: LedgerCommand[]): Promise<LedgerOutcome[]> {
    // Claims prepared for this transaction first (before any row, entry or account lock): a command
    // whose key turns out taken is refused here, alone, and its request claims the usual way.
    const claimed = await this.insertPreparedClaims(commands);
    const claimTaken = (command: LedgerCommand) => command.idempotency?.claimRow !== undefined && !claimed.has(command.idempotency.recordId);
    const rowRefusals = await this.lockCommandRows(commands, claimTaken);
    const changes = commands.flatMap((command, index) =>
      rowRefusals.has(index) || claimTaken(command) ? [] : [command, ...(command.rows?.with ?? [])],
    );
    const referenced = await this.lockReferencedEntries(changes);
    const accounts = await this.lockAccounts(accountIdsTouchedBy(changes, referenced));
    const takenRefs = await this.findTakenExternalRefs(changes);

    const outcomes: LedgerOutcome[] = [];
    const newEntries: JournalEntryRecord[] = [];
    const resolvedEntries: JournalEntryRecord[] = [];
    const newPostings: PostingRecord[] = [];
    const state: BatchState = { referenced, accounts, takenRefs, changed: new Map(), original: new Map() };

    for (const [index, command] of commands.entries()) {
      if (claimTaken(command)) {
        outcomes.push({ ok: false, error: new ClaimTakenError((command.idempotency as IdempotencyHandle).scope.key) });
        continue;
      }
      const refusal = rowRefusals.get(index);
      if (refusal) {
        outcomes.push({ ok: false, error: refusal });
        continue;
      }
      const applied = this.applyUnit([command, ...(command.rows?.with ?? [])], state);
      if (!applied.ok) {
        outcomes.push(applied);
        continue;
      }
      for (const draft of applied.drafts) {
        if (draft.isNewEntry) newEntries.push(draft.entry);
        else resolvedEntries.push(draft.entry);
        newPostings.push(...draft.postings);
      }
      const [write, ...also] = applied.drafts.map((draft) => ({ entry: draft.entry, postings: draft.postings }));
      outcomes.push(also.length > 0 ? { ok: true, write, also } : { ok: true, write });
    }

    await this.insertEntries(newEntries);
    await this.markResolved(resolvedEntries);
    await this.insertPostings(newPostings);
    await this.updateBalances(state.changed, state.original);
    // Balance checkpoints (period-totals.ts) change with the balances, in the same transaction.
    await recordPeriodTotals(this.manager, this.kind, newPostings);
    await this.writeCommandRows(commands, outcomes);
    await this.completeIdempotency(commands, outcomes, rowRefusals);
    await this.auditUnkeyed(commands, outcomes);
    // journal_entry.* webhooks, in this transaction: an entry that rolls back is never announced.
    await this.outbox.record(this.manager, journalEntryOutboxEvents(outcomes));
    return outcomes;
  }

  private async insertPreparedClaims(commands: LedgerCommand[]): Promise<Set<string>> {
    const prepared = commands.flatMap((command) => (command.idempotency?.claimRow ? [command.idempotency] : []));
    if (prepared.length === 0 || !this.idempotency) return new Set();
    return this.idempotency.insertClaimsWithin(this.manager, prepared);
  }

  /** Step 1 of CommandRows: the lock hooks in lockKey order; returns the refusals by command index. */
  private async lockCommandRows(commands: LedgerCommand[], skip: (command: LedgerCommand) => boolean): Promise<Map<number, AppError>> {
    const refusals = new Map<number, AppError>();
    const withRows = commands.flatMap((command, index) => (command.rows && !skip(command) ? [{ rows: command.rows, index }] : []));
    withRows.sort((a, b) => (a.rows.lockKey < b.rows.lockKey ? -1 : a.rows.lockKey > b.rows.lockKey ? 1 : a.index - b.index));
    for (const [position, { rows, index }] of withRows.entries()) {
      // Both would read the rows as they were before either writes: the batch is written command by command instead.
      if (position > 0 && withRows[position - 1].rows.lockKey === rows.lockKey) throw new Error(`two commands of one ledger batch lock the rows of ${rows.lockKey}`);
      const refusal = await rows.lock?.(this.manager);
      if (refusal) refusals.set(index, refusal);
    }
    return refusals;
  }

  /** Step 3 of CommandRows: each accepted command's own rows, in the batch's order. */
  private async writeCommandRows(commands: LedgerCommand[], outcomes: LedgerOutcome[]): Promise<void> {
    for (const [index, command] of commands.entries()) {
      const outcome = outcomes[index];
      if (command.rows && outcome.ok) await command.rows.write(this.manager, [outcome.write, ...(outcome.also ?? [])]);
    }
  }

  /**
   * Checks and applies a command with the changes it carries (rows.with), all or none: a refusal of any
   * of them undoes what the earlier ones did to the batch's running state.
   */
  private applyUnit(unit: LedgerChange[], state: BatchState): { ok: true; drafts: Draft[] } | { ok: false; error: AppError } {
    const saved =
      unit.length > 1
        ? {
            changed: new Map(state.changed),
            takenRefs: new Set(state.takenRefs),
            referenced: [...state.referenced.values()].map((entry) => ({ entry, record: entry.record, postings: entry.postings.length, reversed: entry.reversed })),
          }
        : null;
    const drafts: Draft[] = [];
    for (const change of unit) {
      const applied = this.applyOne(change, state);
      if (applied.ok) {
        drafts.push(applied);
        continue;
      }
      if (saved) {
        state.changed.clear();
        for (const [id, totals] of saved.changed) state.changed.set(id, totals);
        state.takenRefs.clear();
        for (const ref of saved.takenRefs) state.takenRefs.add(ref);
        for (const { entry, record, postings, reversed } of saved.referenced) {
          entry.record = record;
          entry.postings.length = postings;
          entry.reversed = reversed;
        }
      }
      return applied;
    }
    return { ok: true, drafts };
  }

  /** Checks one change against the balances left by the changes before it in the batch and, if it passes, applies it. */
  private applyOne(command: LedgerChange, state: BatchState): Draft | { ok: false; error: AppError } {
    const { referenced, accounts, takenRefs } = state;
    const draft = this.draft(command, referenced);
    if (!draft.ok) return draft;
    const refusal = this.checkExternalRef(draft, takenRefs) ?? this.checkAccountsAndApply(draft, accounts, state.changed, state.original);
    if (refusal) return { ok: false, error: refusal };
    // Later commands in the batch see this one's effects: its reference is taken, a reversed entry
    // cannot be reversed again, a resolved entry is no longer pending and has the postings just
    // drafted for it (a reversal later in the same batch must reverse what this command posted).
    if (draft.entry.externalRef && draft.isNewEntry) takenRefs.add(refKey(draft.entry.tenantId, draft.entry.externalRef));
    if (command.type !== 'create') {
      const original = referenced.get(command.entryId) as ReferencedEntry;
      if (command.type === 'reverse') original.reversed = true;
      else {
        original.record = draft.entry;
        original.postings.push(...draft.postings);
      }
    }
    return draft;
  }

  /**
   * Each keyed command's outcome, success or refusal, is recorded with the change itself: a crash can
   * leave neither a change without its record nor a record without its change.
   */
  private async completeIdempotency(commands: LedgerCommand[], outcomes: LedgerOutcome[], refusedByRows?: Map<number, AppError>): Promise<void> {
    if (!this.idempotency) return;
    // Successes in one statement for the whole batch (each a round trip inside the transaction that
    // holds the batch's account locks, otherwise); refusals, rare, one by one.
    const written: { handle: IdempotencyHandle; resultRef: unknown }[] = [];
    for (const [index, command] of commands.entries()) {
      if (!command.idempotency) continue;
      const outcome = outcomes[index];
      // Its key was taken by another request, or it was refused by its own rows' lock hook: it holds
      // no claim to complete here (the caller's, for CommandRows).
      if ((!outcome.ok && outcome.error instanceof ClaimTakenError) || refusedByRows?.has(index)) continue;
      if (outcome.ok) written.push({ handle: command.idempotency, resultRef: command.rows?.resultRef ?? { journalEntryIds: [outcome.write.entry.id] } });
      else await this.idempotency.complete(this.manager, command.idempotency, { error: outcome.error });
    }
    await this.idempotency.completeMany(this.manager, written);
  }

  /** Each unkeyed mutation's audit event with its outcome, in the batch transaction like a keyed one's. */
  private async auditUnkeyed(commands: LedgerCommand[], outcomes: LedgerOutcome[]): Promise<void> {
    if (!this.idempotency) return;
    const completions = commands.flatMap((command, index) => {
      if (!command.audit || command.idempotency) return [];
      const outcome = outcomes[index];
      return [outcome.ok ? { audit: command.audit, resultRef: { journalEntryIds: [outcome.write.entry.id] } } : { audit: command.audit, error: outcome.error }];
    });
    await this.idempotency.auditUnkeyedWithin(this.manager, completions);
  }

  private async lockReferencedEntries(commands: LedgerChange[]): Promise<Map<string, ReferencedEntry>> {
    const ids = [...new Set(commands.flatMap((c) => (c.type === 'create' ? [] : [c.entryId])))].sort();
    const referenced = new Map<string, ReferencedEntry>();
    if (ids.length === 0) return referenced;
    const list = placeholders(ids.length, 1).replace(/[()]/g, '');
    const rows: Record<string, unknown>[] = await this.manager.query(
      `SELECT id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at
         FROM journal_entries WHERE id IN (${list}) ORDER BY id${this.forUpdate()}`,
      ids,
    );
    const postingRows: Record<string, unknown>[] = await this.manager.query(
      `SELECT id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at
         FROM postings WHERE journal_entry_id IN (${list}) ORDER BY id`,
      ids,
    );
    // Only a reversal needs to know whether its entry was reversed already.
    const reversedCandidates = [...new Set(commands.flatMap((c) => (c.type === 'reverse' ? [c.entryId] : [])))];
    const reversals: Record<string, unknown>[] = reversedCandidates.length
      ? await this.manager.query(
          `SELECT reversal_of_id FROM journal_entries WHERE reversal_of_id IN (${placeholders(reversedCandidates.length, 1).replace(/[()]/g, '')})`,
          reversedCandidates,
        )
      : [];
    const reversedIds = new Set(reversals.map((row) => String(row.reversal_of_id)));
    for (const row of rows) {
      const record = entryFromRow(row);
      referenced.set(record.id, { record, postings: [], reversed: reversedIds.has(record.id) });
    }
    for (const row of postingRows) referenced.get(String(row.journal_entry_id))?.postings.push(postingFromRow(row));
    return referenced;
  }

  private draft(command: LedgerChange, referenced: Map<string, ReferencedEntry>): Draft | { ok: false; error: AppError } {
    if (command.type === 'create') {
      const entry: JournalEntryRecord = {
        id: command.entryId ?? newId('journalEntry'),
        tenantId: command.tenantId,
        status: command.status,
        description: command.description,
        effectiveAt: command.effectiveAt,
        externalRef: command.externalRef,
        metadata: command.metadata,
        reversalOfId: null,
        createdAt: this.now,
        resolvedAt: null,
      };
      const phase = command.status === JournalEntryStatus.PENDING ? PostingPhase.PENDING : PostingPhase.POSTED;
      const postings = command.lines.map((line) => this.posting(entry, line, line.amountMinor, phase, command.effectiveAt));
      return { ok: true, isNewEntry: true, entry, postings, fields: command.lines.map((l) => l.field) };
    }

    const original = referenced.get(command.entryId);
    if (!original || original.record.tenantId !== command.tenantId) {
      return { ok: false, error: LedgerErrors.journalEntryNotFound(command.entryId) };
    }
    const effectiveAt = command.effectiveAt ?? this.now;

    if (command.type === 'reverse') {
      if (original.record.status !== JournalEntryStatus.POSTED) {
        return { ok: false, error: LedgerErrors.notReversible(command.entryId, original.record.status) };
      }
      if (original.reversed) return { ok: false, error: LedgerErrors.alreadyReversed(command.entryId) };
      const entry: JournalEntryRecord = {
        id: newId('journalEntry'),
        tenantId: command.tenantId,
        status: JournalEntryStatus.POSTED,
        description: command.description ?? `Reversal of ${original.record.id}`,
        effectiveAt,
        externalRef: command.externalRef,
        metadata: command.metadata,
        reversalOfId: original.record.id,
        createdAt: this.now,
        resolvedAt: null,
      };
      const postings = original.postings
        .filter((p) => p.phase === PostingPhase.POSTED)
        .map((p) =>
          this.posting(entry, { ...p, direction: opposite(p.direction) }, p.amountMinor, PostingPhase.POSTED, effectiveAt),
        );
      // The reversal is checked against limits like any entry: reversing a deposit already spent is refused.
      return { ok: true, isNewEntry: true, entry, postings, fields: postings.map((_, i) => `postings[${i}]`) };
    }

    if (original.record.status !== JournalEntryStatus.PENDING) {
      return { ok: false, error: LedgerErrors.notPending(command.entryId, original.record.status) };
    }
    const holds = original.postings.filter((p) => p.phase === PostingPhase.PENDING && p.amountMinor > 0n);
    const resolved: JournalEntryRecord = {
      ...original.record,
      status: command.type === 'post-pending' ? JournalEntryStatus.POSTED : JournalEntryStatus.VOIDED,
      resolvedAt: this.now,
    };
    const releases = holds.map((hold) => this.posting(resolved, hold, -hold.amountMinor, PostingPhase.PENDING, effectiveAt));
    let posted: PostingRecord[] = [];
    if (command.type === 'post-pending') {
      const lines = command.lines ?? holds.map((hold, i) => ({ ...hold, field: `lines[${i}]` }));
      const remaining = new Map<string, bigint>();
      for (const hold of holds) {
        const key = `${hold.accountId}|${hold.direction}`;
        remaining.set(key, (remaining.get(key) ?? 0n) + hold.amountMinor);
      }
      for (const line of lines) {
        const key = `${line.accountId}|${line.direction}`;
        const left = remaining.get(key) ?? 0n;
        if (line.amountMinor > left || line.currency !== holds.find((h) => h.accountId === line.accountId)?.currency) {
          return { ok: false, error: LedgerErrors.postExceedsHold(command.entryId, line.field) };
        }
        remaining.set(key, left - line.amountMinor);
      }
      posted = lines.map((line) => this.posting(resolved, line, line.amountMinor, PostingPhase.POSTED, effectiveAt));
    }
    return { ok: true, isNewEntry: false, entry: resolved, postings: [...releases, ...posted], fields: [] };
  }

  private posting(
    entry: JournalEntryRecord,
    line: { accountId: string; direction: EntryDirection; currency: string },
    amountMinor: bigint,
    phase: PostingPhase,
    effectiveAt: Date,
  ): PostingRecord {
    return {
      id: newId('posting'),
      tenantId: entry.tenantId,
      journalEntryId: entry.id,
      accountId: line.accountId,
      direction: line.direction,
      amountMinor,
      currency: line.currency,
      phase,
      effectiveAt,
      createdAt: this.now,
    };
  }

  private async lockAccounts(ids: string[]): Promise<Map<string, LockedAccount>> {
    const accounts = new Map<string, LockedAccount>();
    if (ids.length === 0) return accounts;
    ids.sort();
    for (const part of chunk(ids, INSERT_CHUNK_ROWS)) {
      const rows: Record<string, unknown>[] = await this.manager.query(
        `SELECT id, tenant_id, type, currency, available_floor_minor,
                posted_debits_minor, posted_credits_minor, pending_debits_minor, pending_credits_minor
           FROM accounts WHERE id IN (${part.map(() => '?').join(',')}) ORDER BY id${this.forUpdate()}`,
        part,
      );
      for (const row of rows) {
        accounts.set(String(row.id), {
          id: String(row.id),
          tenantId: String(row.tenant_id),
          type: row.type as AccountType,
          currency: String(row.currency),
          availableFloorMinor: row.available_floor_minor === null ? null : toBigInt(row.available_floor_minor),
          postedDebitsMinor: toBigInt(row.posted_debits_minor),
          postedCreditsMinor: toBigInt(row.posted_credits_minor),
          pendingDebitsMinor: toBigInt(row.pending_debits_minor),
          pendingCreditsMinor: toBigInt(row.pending_credits_minor),
        });
      }
    }
    return accounts;
  }

  private async findTakenExternalRefs(commands: LedgerChange[]): Promise<Set<string>> {
    const refsByTenant = new Map<string, string[]>();
    for (const command of commands) {
      if ((command.type !== 'create' && command.type !== 'reverse') || !command.externalRef) continue;
      const refs = refsByTenant.get(command.tenantId) ?? [];
      refs.push(command.externalRef);
      refsByTenant.set(command.tenantId, refs);
    }
    const taken = new Set<string>();
    for (const [tenantId, refs] of refsByTenant) {
      for (const part of chunk(refs, INSERT_CHUNK_ROWS)) {
        const rows: Record<string, unknown>[] = await this.manager.query(
          `SELECT external_ref FROM journal_entries WHERE tenant_id = ? AND external_ref IN (${part.map(() => '?').join(',')})`,
          [tenantId, ...part],
        );
        for (const row of rows) taken.add(refKey(tenantId, String(row.external_ref)));
      }
    }
    return taken;
  }

  private checkExternalRef(draft: Draft, taken: Set<string>): AppError | undefined {
    const ref = draft.isNewEntry ? draft.entry.externalRef : null;
    if (ref && taken.has(refKey(draft.entry.tenantId, ref))) return LedgerErrors.externalRefTaken(ref);
    return undefined;
  }

  /**
   * Applies a draft's postings to the running totals if every touched account exists in the tenant,
   * has the line's currency, stays within 64 bits and, where the entry lowers its available balance,
   * stays at or above its floor. Either all of the draft applies or none of it.
   */
  private checkAccountsAndApply(
    draft: Draft,
    accounts: Map<string, LockedAccount>,
    changed: Map<string, AccountTotals>,
    original: Map<string, AccountTotals>,
  ): AppError | undefined {
    const tentative = new Map<string, AccountTotals>();
    for (const [index, posting] of draft.postings.entries()) {
      const account = accounts.get(posting.accountId);
      if (!account || account.tenantId !== draft.entry.tenantId) return LedgerErrors.accountNotFound(posting.accountId);
      if (account.currency !== posting.currency) {
        return LedgerErrors.currencyMismatch(account.id, account.currency, posting.currency, draft.fields[index] ?? 'lines');
      }
      const totals = { ...(tentative.get(account.id) ?? changed.get(account.id) ?? account) };
      const amount = posting.amountMinor;
      const debit = posting.direction === EntryDirection.DEBIT;
      if (posting.phase === PostingPhase.POSTED) {
        if (debit) totals.postedDebitsMinor += amount;
        else totals.postedCreditsMinor += amount;
      }
      if (debit) totals.pendingDebitsMinor += amount;
      else totals.pendingCreditsMinor += amount;
      tentative.set(account.id, totals);
    }
    for (const [accountId, after] of tentative) {
      const account = accounts.get(accountId);
      assert(account, 'tentative totals exist only for locked accounts');
      if (![after.postedDebitsMinor, after.postedCreditsMinor, after.pendingDebitsMinor, after.pendingCreditsMinor].every(isWithinInt64)) {
        return LedgerErrors.balanceOverflow(accountId);
      }
      if (account.availableFloorMinor === null) continue;
      const normal = normalBalanceOf(account.type);
      const before = changed.get(accountId) ?? account;
      const availableBefore = netOf(balancesOf(before, normal).available, normal);
      const availableAfter = netOf(balancesOf(after, normal).available, normal);
      if (availableAfter < account.availableFloorMinor && availableAfter < availableBefore) {
        return LedgerErrors.insufficientFunds(accountId, availableBefore, account.availableFloorMinor, account.currency);
      }
    }
    for (const [accountId, after] of tentative) {
      if (!original.has(accountId)) original.set(accountId, { ...(accounts.get(accountId) as LockedAccount) });
      changed.set(accountId, after);
    }
    return undefined;
  }

  private async insertEntries(entries: JournalEntryRecord[]): Promise<void> {
    for (const part of chunk(entries, INSERT_CHUNK_ROWS)) {
      await this.manager.query(
        `INSERT INTO journal_entries
           (id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at)
         VALUES ${placeholders(part.length, 10)}`,
        part.flatMap((e) => [
          e.id,
          e.tenantId,
          e.status,
          e.description,
          toDbTimestamp(e.effectiveAt),
          e.externalRef,
          e.metadata === null ? null : JSON.stringify(e.metadata),
          e.reversalOfId,
          this.dbNow,
          null,
        ]),
      );
    }
  }

  private async markResolved(entries: JournalEntryRecord[]): Promise<void> {
    for (const entry of entries) {
      await this.manager.query(`UPDATE journal_entries SET status = ?, resolved_at = ? WHERE id = ? AND status = ?`, [
        entry.status,
        this.dbNow,
        entry.id,
        JournalEntryStatus.PENDING,
      ]);
    }
  }

  private async insertPostings(postings: PostingRecord[]): Promise<void> {
    for (const part of chunk(postings, INSERT_CHUNK_ROWS)) {
      await this.manager.query(
        `INSERT INTO postings
           (id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at)
         VALUES ${placeholders(part.length, 10)}`,
        part.flatMap((p) => [
          p.id,
          p.tenantId,
          p.journalEntryId,
          p.accountId,
          p.direction,
          this.minor(p.amountMinor),
          p.currency,
          p.phase,
          toDbTimestamp(p.effectiveAt),
          this.dbNow,
        ]),
      );
    }
  }

  /**
   * Adds each account's change as an increment: the rows are locked, and an increment cannot lose an
   * update. One statement per chunk of accounts rather than one per account: a batch's time is mostly
   * round trips, and a batch of n entries touches up to 2n accounts. On MySQL the increment is cast to
   * SIGNED, because BIGINT plus a string is computed in DOUBLE and rounds past 2^53.
   */
  private async updateBalances(changed: Map<string, AccountTotals>, original: Map<string, AccountTotals>): Promise<void> {
    const columns: [string, keyof AccountTotals][] = [
      ['posted_debits_minor', 'postedDebitsMinor'],
      ['posted_credits_minor', 'postedCreditsMinor'],
      ['pending_debits_minor', 'pendingDebitsMinor'],
      ['pending_credits_minor', 'pendingCreditsMinor'],
    ];
    const increment = this.kind === 'mysql' ? 'CAST(? AS SIGNED)' : '?';
    for (const part of chunk([...changed.keys()].sort(), INSERT_CHUNK_ROWS)) {
      const whens = part.map(() => `WHEN ? THEN ${increment}`).join(' ');
      const params: (string | bigint)[] = [];
      for (const [, field] of columns) {
        for (const accountId of part) {
          const after = changed.get(accountId) as AccountTotals;
          const before = original.get(accountId) as AccountTotals;
          params.push(accountId, this.minor(after[field] - before[field]));
        }
      }
      params.push(...part);
      await this.manager.query(
        `UPDATE accounts${primaryKeyHint(this.kind)} SET ${columns.map(([column]) => `${column} = ${column} + CASE id ${whens} ELSE 0 END`).join(', ')}
         WHERE id IN (${part.map(() => '?').join(',')})`,
        params,
      );
    }
  }
}

/** What a batch has locked and what its accepted commands changed so far. */
interface BatchState {
  referenced: Map<string, ReferencedEntry>;
  accounts: Map<string, LockedAccount>;
  takenRefs: Set<string>;
  changed: Map<string, AccountTotals>;
  original: Map<string, AccountTotals>;
}

interface Draft {
  ok: true;
  /** False when the command resolves an existing pending entry rather than inserting one. */
  isNewEntry: boolean;
  entry: JournalEntryRecord;
  postings: PostingRecord[];
  /** Input field of each posting, for error messages. */
  fields: string[];
}

function refKey(tenantId: string, externalRef: string): string {
  return `${tenantId}\u0000${externalRef}`;
}

/** Every account a batch may touch, known before any draft: lines given, and postings of referenced entries. */
function accountIdsTouchedBy(commands: LedgerChange[], referenced: Map<string, ReferencedEntry>): string[] {
  const ids = new Set<string>();
  for (const command of commands) {
    if (command.type === 'create' || command.type === 'post-pending') {
      for (const line of command.lines ?? []) ids.add(line.accountId);
    }
    if (command.type !== 'create') {
      for (const posting of referenced.get(command.entryId)?.postings ?? []) ids.add(posting.accountId);
    }
  }
  return [...ids];
}

function opposite(direction: EntryDirection): EntryDirection {
  return direction === EntryDirection.DEBIT ? EntryDirection.CREDIT : EntryDirection.DEBIT;
}

export function entryFromRow(row: Record<string, unknown>): JournalEntryRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    status: row.status as JournalEntryStatus,
    description: String(row.description),
    effectiveAt: fromDbTimestamp(row.effective_at),
    externalRef: row.external_ref === null ? null : String(row.external_ref),
    metadata: typeof row.metadata === 'string' ? (JSON.parse(row.metadata) as Record<string, unknown>) : null,
    reversalOfId: row.reversal_of_id === null ? null : String(row.reversal_of_id),
    createdAt: fromDbTimestamp(row.created_at),
    resolvedAt: row.resolved_at === null ? null : fromDbTimestamp(row.resolved_at),
  };
}

export function postingFromRow(row: Record<string, unknown>): PostingRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    journalEntryId: String(row.journal_entry_id),
    accountId: String(row.account_id),
    direction: row.direction as EntryDirection,
    amountMinor: toBigInt(row.amount_minor),
    currency: String(row.currency),
    phase: row.phase as PostingPhase,
    effectiveAt: fromDbTimestamp(row.effective_at),
    createdAt: fromDbTimestamp(row.created_at),
  };
}

function shuttingDownError(): AppError {
  return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The server is shutting down; the change was not made. Retry (with the same idempotency key).');
}

/** A business refusal of an all-or-nothing batch (as opposed to an outage or a lost race). */
export class LedgerRefusal extends AppError {
  override name = 'LedgerRefusal';
}

/**
 * Every write of an all-or-nothing list, or its first refusal thrown as a LedgerRefusal with the
 * command's index in its details (and in its message, when the caller's input was a list of entries).
 */
function allWritesOrRefusal(outcomes: LedgerOutcome[], { entriesInput }: { entriesInput: boolean }): LedgerWrite[] {
  const index = outcomes.findIndex((outcome) => !outcome.ok);
  if (index >= 0) {
    const { error } = outcomes[index] as { ok: false; error: AppError };
    throw new LedgerRefusal(error.code, entriesInput ? `entries[${index}]: ${error.message}` : error.message, { ...error.details, index });
  }
  return outcomes.map((outcome) => (outcome as { ok: true; write: LedgerWrite }).write);
}

interface QueuedCommand {
  command: LedgerCommand;
  resolve: (outcome: LedgerOutcome) => void;
  reject: (error: unknown) => void;
}

export interface LedgerWriterOptions {
  /** Most commands in one group-commit transaction. */
  maxBatchSize: number;
  /** Group-commit transactions in flight at once; SQLite always uses one. */
  maxConcurrentBatches: number;
  /** Completes idempotency claims inside the batch transaction. */
  idempotency?: IdempotencyService;
  /** At debug level, one line per batch with its size and time: what the bench reads to see group commit work. */
  log?: Logger;
  /** Batch sizes and commit times (reckon_ledger_batch_size, reckon_ledger_commit_duration_seconds). */
  metrics?: Pick<Metrics, 'ledgerBatchSize' | 'ledgerCommitDuration' | 'ledgerPendingCommands'>;
  /** The webhook outbox: journal_entry.* events are stored in every write's transaction. */
  outbox?: EventOutbox;
}

const JOURNAL_ENTRY_EVENT_TYPES: Record<JournalEntryStatus, string> = {
  [JournalEntryStatus.POSTED]: 'journal_entry.posted',
  [JournalEntryStatus.PENDING]: 'journal_entry.pending',
  [JournalEntryStatus.VOIDED]: 'journal_entry.voided',
};

/**
 * One event per written entry, named by the status the write left it in (a reversal is a new POSTED
 * entry), with the postings this write added: all of a new entry's, the posted ones of a pending entry
 * posted now, none of a voided one (its pending postings no longer count).
 */
function journalEntryOutboxEvents(outcomes: LedgerOutcome[]): OutboxEvent[] {
  return outcomes.flatMap((outcome) =>
    outcome.ok
      ? [outcome.write, ...(outcome.also ?? [])].map((write) => ({
          tenantId: write.entry.tenantId,
          type: JOURNAL_ENTRY_EVENT_TYPES[write.entry.status],
          occurredAt: write.entry.resolvedAt ?? write.entry.createdAt,
          data: { journalEntry: write.entry, postings: write.postings },
        }))
      : [],
  );
}

/**
 * Front door of the writer. `submit` queues one command and resolves with its own outcome; commands
 * that arrive while a batch is committing are written together in the next one, so under load many
 * entries share one commit and at low load nothing waits. `writeAll` writes a list all-or-nothing.
 */
export class LedgerWriter {
  private readonly queue: QueuedCommand[] = [];
  private batchesInFlight = 0;
  /** Commands in the batches being written (batchesInFlight counts batches). */
  private commandsWriting = 0;
  /** writeAll transactions running (they bypass the queue). */
  private directWritesInFlight = 0;
  /** Set by close(): new commands are refused, queued ones are still written. */
  private closing = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly kind: DatabaseKind;
  private readonly maxConcurrentBatches: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly options: LedgerWriterOptions,
  ) {
    this.kind = databaseKindOfSource(dataSource);
    this.maxConcurrentBatches = this.kind === 'sqlite' ? 1 : options.maxConcurrentBatches;
  }

  submit(command: LedgerCommand): Promise<LedgerOutcome> {
    if (this.closing) return Promise.reject(shuttingDownError());
    return new Promise((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      this.drain();
    });
  }

  /** Commands queued or being written, writeAll lists included. */
  get pendingCount(): number {
    return this.queue.length + this.batchesInFlight + this.directWritesInFlight;
  }

  /**
   * For shutdown: refuses new commands with SERVICE_UNAVAILABLE and waits until every command already
   * accepted is written (committed or refused by its checks). Commands still queued at `deadline` (ms
   * since the epoch) are failed with SERVICE_UNAVAILABLE without being written, so none is dropped
   * silently; a batch already committing is waited for until the deadline, no longer (the process's
   * forced exit then leaves it to the database, which rolls back a transaction whose client is gone).
   * Returns whether everything finished in time.
   */
  async close(deadline = Number.POSITIVE_INFINITY): Promise<boolean> {
    this.closing = true;
    if (this.pendingCount === 0) return true;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = Number.isFinite(deadline)
      ? new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()))))
      : new Promise<never>(() => undefined);
    const result = await Promise.race([idle.then(() => 'idle' as const), timedOut]);
    if (timer) clearTimeout(timer);
    if (result === 'idle') return true;
    for (const queued of this.queue.splice(0)) queued.reject(shuttingDownError());
    return false;
  }

  private notifyIfIdle(): void {
    if (this.pendingCount > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /**
   * Writes every command or none: the first refusal rolls the whole list back and is thrown. The
   * idempotency claim, if any, completes with the whole list.
   */
  async writeAll(commands: LedgerCommand[], idempotency?: IdempotencyHandle, audit?: MutationAudit): Promise<LedgerWrite[]> {
    if (this.closing) throw shuttingDownError();
    this.directWritesInFlight += 1;
    try {
      return await this.writeAllOnce(commands, idempotency, audit);
    } catch (error) {
      // The refusal rolled the batch back; it is still the decision, so it is kept for retries.
      if (error instanceof LedgerRefusal && idempotency && this.options.idempotency) {
        await this.options.idempotency.completeWithError(idempotency, error);
      }
      throw error;
    } finally {
      this.directWritesInFlight -= 1;
      this.notifyIfIdle();
    }
  }

  /**
   * Writes every command or none inside a transaction the caller already holds, for a module whose own
   * rows must commit with the entries (a payment and its journal entries). The first refusal is thrown
   * as a LedgerRefusal and the caller's transaction rolls back. It bypasses the group-commit queue: the
   * caller's transaction is the batch. Callers lock their own rows before calling, and the writer then
   * locks entries and accounts in id order, so the lock order stays acyclic.
   */
  async writeWithin(manager: EntityManager, commands: LedgerCommand[]): Promise<LedgerWrite[]> {
    if (this.closing) throw shuttingDownError();
    return allWritesOrRefusal(await this.batchWriter(manager).write(commands), { entriesInput: false });
  }

  private writeAllOnce(commands: LedgerCommand[], idempotency?: IdempotencyHandle, audit?: MutationAudit): Promise<LedgerWrite[]> {
    return this.measured('all_or_nothing', commands.length, () =>
      this.transact(async (manager) => {
        const writes = allWritesOrRefusal(await this.batchWriter(manager).write(commands), { entriesInput: true });
        const resultRef = { journalEntryIds: writes.map((w) => w.entry.id) };
        if (idempotency && this.options.idempotency) await this.options.idempotency.complete(manager, idempotency, { resultRef });
        else if (audit && this.options.idempotency) await this.options.idempotency.auditUnkeyedWithin(manager, [{ audit, resultRef }]);
        return writes;
      }),
    );
  }

  /** One transaction of the writer's own, timed; a refusal that rolls it back counts as failed. */
  private async measured<T>(mode: 'group' | 'all_or_nothing', size: number, work: () => Promise<T>): Promise<T> {
    const metrics = this.options.metrics;
    if (!metrics) return work();
    metrics.ledgerBatchSize.observe({ mode }, size);
    const stop = metrics.ledgerCommitDuration.startTimer({ mode });
    try {
      const result = await work();
      stop({ outcome: 'committed' });
      return result;
    } catch (error) {
      stop({ outcome: 'failed' });
      throw error;
    }
  }

  private batchWriter(manager: EntityManager): BatchWriter {
    return new BatchWriter(manager, this.kind, this.clock.now(), this.options.idempotency, this.options.outbox);
  }

  private drain(): void {
    while (this.queue.length > 0 && this.batchesInFlight < this.maxConcurrentBatches) {
      const batch = this.queue.splice(0, this.options.maxBatchSize);
      this.batchesInFlight += 1;
      this.commandsWriting += batch.length;
      void this.writeBatch(batch).finally(() => {
        this.batchesInFlight -= 1;
        this.commandsWriting -= batch.length;
        this.drain();
        this.notifyIfIdle();
        this.reportPending();
      });
    }
    this.reportPending();
  }

  /** reckon_ledger_writer_pending_commands: how deep the queue is, what the requests now wait on. */
  private reportPending(): void {
    this.options.metrics?.ledgerPendingCommands.set(this.queue.length + this.commandsWriting);
  }

  private async writeBatch(batch: QueuedCommand[]): Promise<void> {
    try {
      const startedAt = performance.now();
      const outcomes = await this.measured('group', batch.length, () =>
        this.transact((manager) => this.batchWriter(manager).write(batch.map((queued) => queued.command))),
      );
      if (this.options.log?.isLevelEnabled('debug')) {
        this.options.log.debug({ size: batch.length, ms: Math.round((performance.now() - startedAt) * 10) / 10 }, 'ledger batch');
      }
      batch.forEach((queued, i) => queued.resolve(outcomes[i]));
    } catch (error) {
      // A lost connection is not one command's fault, and the batch may even have committed (the loss
      // can come with the COMMIT): writing its commands again could write them twice. Every command
      // fails with SERVICE_UNAVAILABLE and its client retries with its idempotency key.
      if (batch.length > 1 && !(error instanceof DatabaseUnavailableError)) {
        // One command broke the shared transaction (a unique index raced by another process, an
        // idempotency claim taken over by a retry): write each alone so only the offender fails.
        await Promise.all(batch.map((queued) => this.writeBatch([queued])));
        return;
      }
      batch.forEach((queued) => queued.reject(error));
    }
  }

  /**
   * A unique index can refuse a write that the in-transaction checks passed, when another process
   * committed the same external reference or reversal in between. Running again re-reads and turns
   * that into the proper refusal.
   */
  private async transact<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await runInTransaction(this.dataSource, work);
    } catch (error) {
      if (isUniqueViolation(error)) return runInTransaction(this.dataSource, work);
      throw error;
    }
  }
}
