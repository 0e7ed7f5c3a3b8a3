import type { DataSource, EntityManager } from 'typeorm';
import { assert } from '../../common/assert';
import type { Clock } from '../../common/clock';
import { validationError } from '../../common/errors';
import { METADATA_MAX_BYTES, requireMetadata, requireText } from '../../common/input';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { isWithinInt64, parseDecimalToMinor, parsePositiveAmount, requireCurrency, toBigInt } from '../../common/money';
import { type KeysetSlice, type Page, type PageRequest, type PageSizes, type PageWindow, readPage, readPages } from '../../common/pagination';
import { applyKeyset, keysetSql } from '../../db/keyset';
import { databaseKindOfSource } from '../../db/data-source';
import { fromDbTimestamp, requireStorableDate, toDbTimestamp } from '../../common/timestamps';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import { AccountEntity } from './account.entity';
import { type ChartAccounts, DEFAULT_CHART, SYSTEM_ACCOUNT_CODE_PREFIX, systemAccountCode } from './default-chart';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { unkeyedMutationAudit } from '../idempotency/unkeyed-mutation-audit';
import { LedgerErrors } from './ledger.errors';
import { type LedgerEventPublisher, NO_LEDGER_EVENTS } from './ledger.events';
import {
  type AccountTotals,
  AccountType,
  EntryDirection,
  JournalEntryStatus,
  normalBalanceOf,
  PostingPhase,
} from './ledger.types';
import { type BalanceBound, totalsUpTo } from './period-totals';
import {
  entryFromRow,
  type JournalEntryRecord,
  type CommandRows,
  type LedgerCommand,
  type LedgerOutcome,
  type LedgerWrite,
  type LedgerWriter,
  type LineDraft,
  type PostingRecord,
  postingFromRow,
} from './ledger-writer';

/** Limits on what one request may ask of the ledger (TigerBeetle style: everything has a bound). */
export const LEDGER_LIMITS = {
  linesPerEntry: 100,
  entriesPerBatch: 1000,
  descriptionLength: 500,
  externalRefLength: 255,
  accountCodeLength: 64,
  accountNameLength: 200,
  metadataBytes: METADATA_MAX_BYTES,
} as const;

export interface CreateAccountInput {
  code: string;
  name: string;
  type: AccountType;
  currency: string;
  /** Refuse any entry that would take the available balance below zero. */
  noOverdraft?: boolean | null;
  /** Allow the available balance to go down to minus this amount (decimal, major units). */
  creditLimit?: string | null;
}

export interface LineInput {
  accountId: string;
  direction: EntryDirection;
  amount: string;
  currency: string;
}

export interface EntryInput {
  lines: LineInput[];
  description?: string | null;
  effectiveAt?: Date | null;
  externalRef?: string | null;
  metadata?: Record<string, unknown> | null;
  /** PENDING holds funds (pending balances only); POSTED (the default) books them. */
  status?: JournalEntryStatus | null;
}

export interface ReverseEntryInput {
  description?: string | null;
  effectiveAt?: Date | null;
  externalRef?: string | null;
  metadata?: Record<string, unknown> | null;
}

export interface AccountFilter {
  type?: AccountType | null;
  currency?: string | null;
  codePrefix?: string | null;
}

export interface EntryFilter {
  accountId?: string | null;
  status?: JournalEntryStatus | null;
}

export interface TrialBalanceLine {
  account: AccountEntity;
  debitsMinor: bigint;
  creditsMinor: bigint;
}

export interface TrialBalanceOptions {
  asOf?: Date | null;
  currency?: string | null;
}

/** Column totals of one currency over every account of the trial balance. */
export interface TrialBalanceTotal {
  currency: string;
  debitsMinor: bigint;
  creditsMinor: bigint;
}

export interface TrialBalanceReport {
  asOf: Date;
  /** True when balances are summed from postings up to asOf rather than read from the accounts. */
  fromPostings: boolean;
  currency: string | null;
  totals: TrialBalanceTotal[];
}

/** An entry listed for an account, with the key of its newest posting on that account. */
export interface AccountEntry {
  entry: JournalEntryRecord;
  /** `effective_at|posting id` of the entry's newest posting on the account: its place in the list. */
  key: string;
}

export interface StatementLine {
  posting: PostingRecord;
  description: string;
  runningBalanceMinor: bigint;
}

export interface AccountStatement {
  account: AccountEntity;
  from: Date;
  to: Date;
  openingBalanceMinor: bigint;
  closingBalanceMinor: bigint;
  page: Page<StatementLine>;
}

/** A posting's place in (effective_at, id) order: the cursor key of per-account lists. */
export function postingKey(posting: PostingRecord): string {
  return `${toDbTimestamp(posting.effectiveAt)}|${posting.id}`;
}

/** Cursor key of a statement line. */
export function statementLineKey(line: StatementLine): string {
  return postingKey(line.posting);
}

/** The text form toDbTimestamp gives an instant, which statement cursors carry. */
const DB_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/;

/**
 * A `effective_at|posting id` cursor key. Keys are compared with DATETIME values and posting ids in
 * SQL: anything else would be compared (or refused) differently by each database.
 */
export function isPostingKey(key: string): boolean {
  const [effectiveAt, id, ...rest] = key.split('|');
  return DB_TIMESTAMP.test(effectiveAt) && idKindOf(id ?? '') === 'posting' && rest.length === 0;
}

const splitPostingKey = (key: string) => key.split('|');
const isKeyOf = (kind: 'account' | 'journalEntry') => (key: string) => idKindOf(key) === kind;

/** An account's entries: a nested list, so a small page by default. */
export const ACCOUNT_ENTRIES_PAGE_SIZES: PageSizes = { defaultSize: 5, maxSize: 50 };

/**
 * The ledger's use cases. Every method takes the caller's tenant first and reads or writes only that
 * tenant's rows; an id of another tenant behaves exactly like an id that does not exist.
 */
export class LedgerService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly writer: LedgerWriter,
    private readonly clock: Clock,
    /** Told of every entry a write changed, after the write has committed. */
    private readonly events: LedgerEventPublisher = NO_LEDGER_EVENTS,
    /** Completes idempotency claims of the writes this service makes outside the ledger writer. */
    private readonly idempotency?: IdempotencyService,
  ) {}

  private readonly chartCache = new Map<string, ChartAccounts>();

  private get accounts() {
    return this.dataSource.getRepository(AccountEntity);
  }

  async createAccount(tenantId: string, input: CreateAccountInput, idempotency?: IdempotencyHandle): Promise<AccountEntity> {
    const code = requireText(input.code, 'code', LEDGER_LIMITS.accountCodeLength, { printable: true, identifier: true });
    if (code.toUpperCase().startsWith(SYSTEM_ACCOUNT_CODE_PREFIX)) {
      throw validationError(`Account codes beginning with "${SYSTEM_ACCOUNT_CODE_PREFIX}" are kept for the default chart of accounts`, {
        field: 'code',
      });
    }
    const name = requireText(input.name, 'name', LEDGER_LIMITS.accountNameLength);
    if (!Object.values(AccountType).includes(input.type)) throw validationError('type is not an account type', { field: 'type' });
    const currency = requireCurrency(input.currency);
    let availableFloorMinor: bigint | null = null;
    if (input.noOverdraft && input.creditLimit !== null && input.creditLimit !== undefined) {
      throw validationError('Give either noOverdraft or creditLimit, not both', { field: 'creditLimit' });
    }
    if (input.noOverdraft) availableFloorMinor = 0n;
    if (input.creditLimit !== null && input.creditLimit !== undefined) {
      const limit = parseDecimalToMinor(input.creditLimit, currency, 'creditLimit');
      if (limit < 0n) throw validationError('creditLimit must not be negative', { field: 'creditLimit' });
      availableFloorMinor = -limit;
    }
    const account = this.accounts.create({
      id: newId('account'),
      tenantId,
      code,
      name,
      type: input.type,
      currency,
      availableFloorMinor,
      postedDebitsMinor: 0n,
      postedCreditsMinor: 0n,
      pendingDebitsMinor: 0n,
      pendingCreditsMinor: 0n,
      createdAt: this.clock.now(),
    });
    try {
      await runInTransaction(this.dataSource, async (manager) => {
        await manager.insert(AccountEntity, account);
        if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { accountId: account.id } });
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw LedgerErrors.accountCodeTaken(code);
      throw error;
    }
    return account;
  }

  /**
   * The default chart of accounts in one currency (see default-chart.ts), created the first time it is
   * asked for. Accounts are never deleted, so what was found once is kept in memory. Concurrent first
   * calls (in this process or another) race on the unique code and each ends up reading the winner's.
   */
  async defaultChartAccounts(tenantId: string, currency: string): Promise<ChartAccounts> {
    const cacheKey = `${tenantId}|${currency}`;
    const cached = this.chartCache.get(cacheKey);
    if (cached) return cached;
    const codes = DEFAULT_CHART.map((spec) => systemAccountCode(spec, currency));
    const read = async () =>
      new Map(
        (await this.accounts.createQueryBuilder('a').where('a.tenant_id = :tenantId AND a.code IN (:...codes)', { tenantId, codes }).getMany()).map(
          (account) => [account.code, account.id],
        ),
      );
    let found = await read();
    const missing = DEFAULT_CHART.filter((spec) => !found.has(systemAccountCode(spec, currency)));
    for (const spec of missing) {
      try {
        await runInTransaction(this.dataSource, (manager) =>
          manager.insert(AccountEntity, {
            id: newId('account'),
            tenantId,
            code: systemAccountCode(spec, currency),
            name: `${spec.name} (${currency})`,
            type: spec.type,
            currency,
            availableFloorMinor: null,
            postedDebitsMinor: 0n,
            postedCreditsMinor: 0n,
            pendingDebitsMinor: 0n,
            pendingCreditsMinor: 0n,
            createdAt: this.clock.now(),
          }),
        );
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    }
    if (missing.length > 0) found = await read();
    const chart = Object.fromEntries(
      DEFAULT_CHART.map((spec) => {
        const id = found.get(systemAccountCode(spec, currency));
        assert(id, `default chart account ${spec.role} exists once created`);
        return [spec.role, id];
      }),
    ) as ChartAccounts;
    this.chartCache.set(cacheKey, chart);
    return chart;
  }

  /**
   * Writes ledger commands inside the caller's transaction, all or nothing (see LedgerWriter.writeWithin).
   * The caller publishes the entries with `entriesCommitted` once its transaction has committed.
   */
  writeWithin(manager: EntityManager, commands: LedgerCommand[]): Promise<LedgerWrite[]> {
    return this.writer.writeWithin(manager, commands);
  }

  /**
   * Queues a command that carries another module's rows (CommandRows) into the writer's group commit
   * and resolves with its outcome once its batch has committed; the caller publishes the entries with
   * `entriesCommitted`, as after writeWithin.
   */
  submitWithRows(command: LedgerCommand & { rows: CommandRows }): Promise<LedgerOutcome> {
    return this.writer.submit(command);
  }

  /** Tells subscribers of entries another module wrote with writeWithin, after its commit. */
  entriesCommitted(entries: readonly JournalEntryRecord[]): void {
    if (entries.length > 0) this.events.entriesCommitted(entries);
  }

  async accountsByIds(tenantId: string, ids: readonly string[]): Promise<AccountEntity[]> {
    if (ids.length === 0) return [];
    return this.accounts
      .createQueryBuilder('a')
      .where('a.tenant_id = :tenantId AND a.id IN (:...ids)', { tenantId, ids: [...ids] })
      .getMany();
  }

  async getAccount(tenantId: string, id: string): Promise<AccountEntity> {
    const [account] = await this.accountsByIds(tenantId, [id]);
    if (!account) throw LedgerErrors.accountNotFound(id);
    return account;
  }

  async listAccounts(tenantId: string, filter: AccountFilter, pageRequest: PageRequest): Promise<Page<AccountEntity>> {
    const filtered = this.filteredAccounts(tenantId, filter);
    return readPage(pageRequest, (slice) => applyKeyset(filtered.clone(), slice, 'a.id', 'ASC').getMany(), (account) => account.id, {
      isKey: isKeyOf('account'),
    });
  }

  /** Exactly how many accounts the filter lists (indexed on tenant, then the filter's columns). */
  countAccounts(tenantId: string, filter: AccountFilter): Promise<number> {
    return this.filteredAccounts(tenantId, filter).getCount();
  }

  private filteredAccounts(tenantId: string, filter: AccountFilter) {
    const query = this.accounts.createQueryBuilder('a').where('a.tenant_id = :tenantId', { tenantId });
    if (filter.type) query.andWhere('a.type = :type', { type: filter.type });
    if (filter.currency) query.andWhere('a.currency = :currency', { currency: requireCurrency(filter.currency) });
    if (filter.codePrefix) {
      const prefix = requireText(filter.codePrefix, 'codePrefix', LEDGER_LIMITS.accountCodeLength, { printable: true });
      // LIKE wildcards in a code are matched literally. LIKE narrows by index but ignores case on SQLite;
      // the SUBSTR comparison keeps the match exact there, as the binary collation does on MySQL.
      query.andWhere("a.code LIKE :pattern ESCAPE '!' AND SUBSTR(a.code, 1, :prefixLength) = :prefix", {
        pattern: `${prefix.replace(/[!%_]/g, '!$&')}%`,
        prefixLength: prefix.length,
        prefix,
      });
    }
    return query;
  }

  /** Validates one entry's input and turns it into a writer command. Refuses before any database work. */
  private toCreateCommand(tenantId: string, input: EntryInput, prefix = '', entryIndex?: number): LedgerCommand {
    const lines = this.toLineDrafts(input.lines, `${prefix}lines`, 2, entryIndex);
    if (input.status === JournalEntryStatus.VOIDED) {
      throw validationError(`${prefix}status: a new entry is PENDING or POSTED`, { field: `${prefix}status` });
    }
    return {
      type: 'create',
      tenantId,
      status: input.status === JournalEntryStatus.PENDING ? JournalEntryStatus.PENDING : JournalEntryStatus.POSTED,
      description: requireText(input.description ?? '', `${prefix}description`, LEDGER_LIMITS.descriptionLength, { allowEmpty: true }),
      effectiveAt: requireStorableDate(input.effectiveAt ?? this.clock.now(), `${prefix}effectiveAt`),
      externalRef:
        input.externalRef === null || input.externalRef === undefined
          ? null
          : requireText(input.externalRef, `${prefix}externalRef`, LEDGER_LIMITS.externalRefLength, { printable: true, identifier: true }),
      metadata: requireMetadata(input.metadata),
      lines,
    };
  }

  /** Lines must be positive, in known currencies, and balance: per currency, debits equal credits. */
  private toLineDrafts(lines: LineInput[], field: string, minimum: number, entryIndex?: number): LineDraft[] {
    if (lines.length < minimum) {
      throw validationError(`${field}: a journal entry needs at least ${minimum} lines, got ${lines.length}`, { field });
    }
    if (lines.length > LEDGER_LIMITS.linesPerEntry) {
      throw validationError(`${field}: at most ${LEDGER_LIMITS.linesPerEntry} lines per entry`, { field });
    }
    const totals = new Map<string, { debits: bigint; credits: bigint }>();
    const drafts = lines.map((line, index) => {
      const lineField = `${field}[${index}]`;
      requireIdOfKind(line.accountId, 'account', `${lineField}.accountId`);
      const currency = requireCurrency(line.currency, `${lineField}.currency`);
      if (!Object.values(EntryDirection).includes(line.direction)) {
        throw validationError(`${lineField}.direction must be DEBIT or CREDIT`, { field: `${lineField}.direction` });
      }
      const amountMinor = parsePositiveAmount(line.amount, currency, `${lineField}.amount`);
      const total = totals.get(currency) ?? { debits: 0n, credits: 0n };
      if (line.direction === EntryDirection.DEBIT) total.debits += amountMinor;
      else total.credits += amountMinor;
      totals.set(currency, total);
      return { accountId: line.accountId, direction: line.direction, amountMinor, currency, field: lineField };
    });
    // As TigerBeetle refuses a transfer whose debit and credit accounts are one: such a pair moves
    // nothing, yet would inflate the account's debit and credit totals (and its holds when pending).
    const firstLineOnSide = new Map<string, number>();
    drafts.forEach((draft, index) => {
      const opposite = firstLineOnSide.get(`${draft.accountId}:${draft.direction === EntryDirection.DEBIT ? EntryDirection.CREDIT : EntryDirection.DEBIT}`);
      if (opposite !== undefined) {
        const [debitLine, creditLine] = draft.direction === EntryDirection.DEBIT ? [index, opposite] : [opposite, index];
        throw LedgerErrors.sameAccount(field, draft.accountId, debitLine, creditLine, entryIndex);
      }
      const side = `${draft.accountId}:${draft.direction}`;
      if (!firstLineOnSide.has(side)) firstLineOnSide.set(side, index);
    });
    for (const [currency, total] of totals) {
      if (!isWithinInt64(total.debits) || !isWithinInt64(total.credits)) {
        throw validationError(`${field}: the ${currency} total is past the 64-bit range`, { field, currency });
      }
      if (total.debits !== total.credits) {
        throw validationError(
          `${field}: unbalanced entry: ${currency} debits ${total.debits} and credits ${total.credits} (minor units) must be equal`,
          { field, currency, debitsMinorUnits: total.debits.toString(), creditsMinorUnits: total.credits.toString() },
        );
      }
    }
    return drafts;
  }

  /** The writer resolves only after its transaction has committed, so the events follow the commit. */
  private async submitOne(command: LedgerCommand): Promise<LedgerWrite> {
    // The command is the whole mutation: an unkeyed one's audit event is written in its batch.
    const outcome = await this.writer.submit(command.idempotency ? command : { ...command, audit: unkeyedMutationAudit() });
    if (!outcome.ok) throw outcome.error;
    this.events.entriesCommitted([outcome.write.entry]);
    return outcome.write;
  }

  postEntry(tenantId: string, input: EntryInput, idempotency?: IdempotencyHandle): Promise<LedgerWrite> {
    return this.submitOne({ ...this.toCreateCommand(tenantId, input), idempotency });
  }

  /** Posts up to 1,000 entries in one transaction: all of them, or none. */
  async postEntries(tenantId: string, inputs: EntryInput[], idempotency?: IdempotencyHandle): Promise<LedgerWrite[]> {
    if (inputs.length < 1 || inputs.length > LEDGER_LIMITS.entriesPerBatch) {
      throw validationError(`entries: between 1 and ${LEDGER_LIMITS.entriesPerBatch} entries per call, got ${inputs.length}`, {
        field: 'entries',
        max: LEDGER_LIMITS.entriesPerBatch,
      });
    }
    const commands = inputs.map((input, index) => this.toCreateCommand(tenantId, input, `entries[${index}].`, index));
    const writes = await this.writer.writeAll(commands, idempotency, idempotency ? undefined : unkeyedMutationAudit());
    this.events.entriesCommitted(writes.map((write) => write.entry));
    return writes;
  }

  /** Posts a pending entry in full, or in part with `lines` (which must balance); the rest is released. */
  postPendingEntry(
    tenantId: string,
    id: string,
    lines: LineInput[] | null | undefined,
    effectiveAt?: Date | null,
    idempotency?: IdempotencyHandle,
  ): Promise<LedgerWrite> {
    requireIdOfKind(id, 'journalEntry', 'id');
    return this.submitOne({
      idempotency,
      type: 'post-pending',
      tenantId,
      entryId: id,
      lines: lines ? this.toLineDrafts(lines, 'lines', 2) : null,
      effectiveAt: effectiveAt ? requireStorableDate(effectiveAt, 'effectiveAt') : null,
    });
  }

  voidPendingEntry(tenantId: string, id: string, idempotency?: IdempotencyHandle): Promise<LedgerWrite> {
    requireIdOfKind(id, 'journalEntry', 'id');
    return this.submitOne({ type: 'void-pending', tenantId, entryId: id, effectiveAt: null, idempotency });
  }

  reverseEntry(tenantId: string, id: string, input: ReverseEntryInput, idempotency?: IdempotencyHandle): Promise<LedgerWrite> {
    requireIdOfKind(id, 'journalEntry', 'id');
    return this.submitOne({
      idempotency,
      type: 'reverse',
      tenantId,
      entryId: id,
      description:
        input.description === null || input.description === undefined
          ? null
          : requireText(input.description, 'description', LEDGER_LIMITS.descriptionLength, { allowEmpty: true }),
      effectiveAt: input.effectiveAt ? requireStorableDate(input.effectiveAt, 'effectiveAt') : null,
      externalRef:
        input.externalRef === null || input.externalRef === undefined
          ? null
          : requireText(input.externalRef, 'externalRef', LEDGER_LIMITS.externalRefLength, { printable: true, identifier: true }),
      metadata: requireMetadata(input.metadata),
    });
  }

  async entriesByIds(tenantId: string, ids: readonly string[]): Promise<JournalEntryRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM journal_entries WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map(entryFromRow);
  }

  async getEntry(tenantId: string, id: string): Promise<JournalEntryRecord> {
    const [entry] = await this.entriesByIds(tenantId, [id]);
    if (!entry) throw LedgerErrors.journalEntryNotFound(id);
    return entry;
  }

  /**
   * Entries newest first. With an account, the entries that have a posting on it; an account that is
   * not the tenant's is NOT_FOUND, as everywhere else, rather than an empty list.
   */
  async listEntries(tenantId: string, filter: EntryFilter, pageRequest: PageRequest): Promise<Page<JournalEntryRecord>> {
    // Checks the filter first (an account not the tenant's is NOT_FOUND), whichever way the list is read.
    const where = await this.entryConditions(tenantId, filter);
    if (filter.accountId) return this.listEntriesOfAccount(tenantId, filter.accountId, filter.status ?? null, pageRequest);
    return readPage(
      pageRequest,
      async (slice) => {
        const keyset = keysetSql(slice, ['e.id'], 'DESC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT e.* FROM journal_entries e WHERE ${[...where.conditions, ...keyset.conditions].join(' AND ')}
            ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...where.params, ...keyset.params],
        );
        return rows.map(entryFromRow);
      },
      (entry) => entry.id,
      { isKey: isKeyOf('journalEntry') },
    );
  }

  /**
   * The entries of one account, newest first by entry id, as listEntries orders them: a backward walk
   * of postings (account_id, journal_entry_id) that stops after a page, each entry taken at its first
   * posting on the account (a hold, its release and its posting are one entry). The postings lead the
   * join (STRAIGHT_JOIN on MySQL): read from the tenant's entries instead, a quiet account's page would
   * scan the tenant's whole history.
   */
  private listEntriesOfAccount(tenantId: string, accountId: string, status: JournalEntryStatus | null, pageRequest: PageRequest): Promise<Page<JournalEntryRecord>> {
    const join = databaseKindOfSource(this.dataSource) === 'mysql' ? 'STRAIGHT_JOIN' : 'JOIN';
    return readPage(
      pageRequest,
      async (slice) => {
        const keyset = keysetSql(slice, ['p.journal_entry_id'], 'DESC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT e.* FROM postings p ${join} journal_entries e ON e.id = p.journal_entry_id
            WHERE p.account_id = ? AND e.tenant_id = ?${status ? ' AND e.status = ?' : ''}
                  ${keyset.conditions.map((condition) => `AND ${condition}`).join(' ')}
              AND NOT EXISTS (SELECT 1 FROM postings q WHERE q.account_id = p.account_id AND q.journal_entry_id = p.journal_entry_id AND q.id < p.id)
            ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [accountId, tenantId, ...(status ? [status] : []), ...keyset.params],
        );
        return rows.map(entryFromRow);
      },
      (entry) => entry.id,
      { isKey: isKeyOf('journalEntry') },
    );
  }

  /** Exactly how many entries the filter lists: one COUNT on the tenant's entries (or the account's postings). */
  async countEntries(tenantId: string, filter: EntryFilter): Promise<number> {
    const where = await this.entryConditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT COUNT(*) AS total FROM journal_entries e WHERE ${where.conditions.join(' AND ')}`,
      where.params,
    );
    return Number(rows[0].total);
  }

  private async entryConditions(tenantId: string, filter: EntryFilter): Promise<{ conditions: string[]; params: unknown[] }> {
    if (filter.status && !Object.values(JournalEntryStatus).includes(filter.status)) {
      throw validationError('status is not a journal entry status', { field: 'status' });
    }
    if (filter.accountId) {
      requireIdOfKind(filter.accountId, 'account', 'accountId');
      await this.getAccount(tenantId, filter.accountId);
    }
    const conditions = ['e.tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.status) {
      conditions.push('e.status = ?');
      params.push(filter.status);
    }
    if (filter.accountId) {
      conditions.push('e.id IN (SELECT p.journal_entry_id FROM postings p WHERE p.account_id = ? AND p.tenant_id = ?)');
      params.push(filter.accountId, tenantId);
    }
    return { conditions, params };
  }

  async postingsByIds(tenantId: string, ids: readonly string[]): Promise<PostingRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM postings WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map(postingFromRow);
  }

  async postingsByEntryIds(tenantId: string, entryIds: readonly string[]): Promise<PostingRecord[]> {
    if (entryIds.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM postings WHERE tenant_id = ? AND journal_entry_id IN (${entryIds.map(() => '?').join(',')}) ORDER BY id`,
      [tenantId, ...entryIds],
    );
    return rows.map(postingFromRow);
  }

  /**
   * One page of each account's entries, newest first: ordered by each entry's newest posting on the
   * account (effective time, then posting id), each entry once however many postings it has there.
   * Every account's page is an index seek on postings (account_id, effective_at, id) that stops after
   * `limit + 1` entries, so its cost does not grow with the postings the account holds; the accounts
   * of one request share one statement (a UNION ALL of the seeks), and one more when a cursor is given.
   */
  async entriesPagesByAccountIds(tenantId: string, accountIds: readonly string[], window: PageWindow): Promise<Map<string, Page<AccountEntry>>> {
    return readPages(accountIds, window, (ids, slice) => this.accountEntriesSlice(tenantId, ids, slice), (row) => row.key);
  }

  private async accountEntriesSlice(tenantId: string, accountIds: readonly string[], slice: KeysetSlice): Promise<Map<string, AccountEntry[]>> {
    const result = new Map<string, AccountEntry[]>(accountIds.map((id) => [id, []]));
    if (accountIds.length === 0) return result;
    const keyset = keysetSql(slice, ['p.effective_at', 'p.id'], 'DESC', splitPostingKey);
    const seeks: string[] = [];
    const params: unknown[] = [];
    accountIds.forEach((accountId, index) => {
      // A posting stands for its entry only if it is the entry's newest on the account: older postings
      // of the same entry there (a hold, its release, its posting) are skipped by a lookup on the entry.
      seeks.push(
        `SELECT * FROM (SELECT p.account_id AS for_account_id, p.journal_entry_id AS for_entry_id, p.effective_at AS key_effective_at, p.id AS key_posting_id
             FROM postings p
            WHERE p.account_id = ? AND p.tenant_id = ?${keyset.conditions.map((condition) => ` AND ${condition}`).join('')}
              AND NOT EXISTS (SELECT 1 FROM postings q
                               WHERE q.journal_entry_id = p.journal_entry_id AND q.account_id = p.account_id
                                 AND (q.effective_at > p.effective_at OR (q.effective_at = p.effective_at AND q.id > p.id)))
            ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}) seek${index}`,
      );
      params.push(accountId, tenantId, ...keyset.params);
    });
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT s.for_account_id, s.key_effective_at, s.key_posting_id, e.*
         FROM (${seeks.join(' UNION ALL ')}) s JOIN journal_entries e ON e.id = s.for_entry_id`,
      params,
    );
    const sign = slice.fromEnd ? 1 : -1;
    const keyed = rows.map((row) => ({
      accountId: String(row.for_account_id),
      key: `${toDbTimestamp(fromDbTimestamp(row.key_effective_at))}|${String(row.key_posting_id)}`,
      entry: entryFromRow(row),
    }));
    // The join may return rows in any order: put each account's back in the order they were read.
    keyed.sort((a, b) => (a.key < b.key ? -sign : a.key > b.key ? sign : 0));
    for (const row of keyed) result.get(row.accountId)?.push({ entry: row.entry, key: row.key });
    return result;
  }

  /**
   * Each account's totals from its postings with effective dates up to and including `asOf`: from the
   * balance checkpoints and the postings of asOf's day (period-totals.ts), not every posting.
   */
  totalsAsOf(tenantId: string, accountIds: readonly string[], asOf: Date): Promise<Map<string, AccountTotals>> {
    const at = requireStorableDate(asOf, 'asOf');
    return totalsUpTo((sql, params) => this.dataSource.query(sql, params), tenantId, accountIds, { at, inclusive: true });
  }

  /**
   * The trial balance's column totals per currency, over every account: each account's net posted
   * balance goes in its debit or its credit column. Without `asOf` they come from the balances kept on
   * the accounts; with it, from postings up to that instant. Per currency, the two columns are equal.
   * The lines are paged apart (trialBalanceLines).
   */
  async trialBalance(tenantId: string, options: TrialBalanceOptions): Promise<TrialBalanceReport> {
    const currency = options.currency ? requireCurrency(options.currency) : null;
    const asOf = options.asOf ? requireStorableDate(options.asOf, 'asOf') : this.clock.now();
    const net = options.asOf ? 'COALESCE(t.net, 0)' : '(a.posted_debits_minor - a.posted_credits_minor)';
    const asOfJoin = options.asOf
      ? `LEFT JOIN (SELECT account_id, SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE -amount_minor END) AS net
                      FROM postings WHERE tenant_id = ? AND phase = ? AND effective_at <= ? GROUP BY account_id) t ON t.account_id = a.id`
      : '';
    const params: unknown[] = options.asOf ? [tenantId, PostingPhase.POSTED, toDbTimestamp(asOf)] : [];
    params.push(tenantId);
    if (currency) params.push(currency);
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT a.currency,
              SUM(CASE WHEN ${net} > 0 THEN ${net} ELSE 0 END) AS debits,
              SUM(CASE WHEN ${net} < 0 THEN -${net} ELSE 0 END) AS credits
         FROM accounts a ${asOfJoin}
        WHERE a.tenant_id = ?${currency ? ' AND a.currency = ?' : ''}
        GROUP BY a.currency ORDER BY a.currency`,
      params,
    );
    const totals = rows.map((row) => ({ currency: String(row.currency), debitsMinor: toBigInt(row.debits ?? 0), creditsMinor: toBigInt(row.credits ?? 0) }));
    return { asOf, fromPostings: Boolean(options.asOf), currency, totals };
  }

  /** One page of the trial balance's lines, in account code order. */
  async trialBalanceLines(tenantId: string, report: TrialBalanceReport, pageRequest: PageRequest): Promise<Page<TrialBalanceLine>> {
    const accounts = await readPage(
      pageRequest,
      (slice) => applyKeyset(this.filteredAccounts(tenantId, { currency: report.currency }), slice, 'a.code', 'ASC').getMany(),
      (account) => account.code,
    );
    const totals: Map<string, AccountTotals> = report.fromPostings
      ? await this.totalsAsOf(tenantId, accounts.items.map((a) => a.id), report.asOf)
      : new Map(accounts.items.map((a) => [a.id, a]));
    return {
      ...accounts,
      items: accounts.items.map((account) => {
        const t = totals.get(account.id) as AccountTotals;
        const net = t.postedDebitsMinor - t.postedCreditsMinor;
        return { account, debitsMinor: net > 0n ? net : 0n, creditsMinor: net < 0n ? -net : 0n };
      }),
    };
  }

  /** Exactly how many lines the trial balance has: one COUNT of the tenant's accounts (in the currency). */
  countTrialBalanceLines(tenantId: string, report: TrialBalanceReport): Promise<number> {
    return this.countAccounts(tenantId, { currency: report.currency });
  }

  /**
   * Posted postings of one account with effective dates in [from, to), oldest first, each with the
   * account's net posted balance (in its normal direction) after it.
   */
  async accountStatement(
    tenantId: string,
    accountId: string,
    from: Date,
    to: Date,
    pageRequest: PageRequest,
  ): Promise<AccountStatement> {
    requireStorableDate(from, 'from');
    requireStorableDate(to, 'to');
    if (to.getTime() <= from.getTime()) throw validationError('to must be later than from', { field: 'to' });
    const account = await this.getAccount(tenantId, accountId);
    const normal = normalBalanceOf(account.type);
    const sign = (direction: string, amount: bigint) => (direction === normal ? amount : -amount);
    const [fromDb, toDb] = [toDbTimestamp(from), toDbTimestamp(to)];

    /** Net posted balance (in the normal direction) of the postings before a bound: checkpoints and a short seek. */
    const netBefore = async (bound: BalanceBound) => {
      const totals = (await totalsUpTo((sql, params) => this.dataSource.query(sql, params), tenantId, [accountId], bound, true)).get(accountId);
      assert(totals, 'totalsUpTo answers every account asked for');
      return sign(EntryDirection.DEBIT, totals.postedDebitsMinor) + sign(EntryDirection.CREDIT, totals.postedCreditsMinor);
    };

    const [opening, closing] = await Promise.all([netBefore({ at: from, inclusive: false }), netBefore({ at: to, inclusive: false })]);
    const postings = await readPage(
      pageRequest,
      async (slice) => {
        const keyset = keysetSql(slice, ['p.effective_at', 'p.id'], 'ASC', splitPostingKey);
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT p.*, e.description AS entry_description FROM postings p JOIN journal_entries e ON e.id = p.journal_entry_id
            WHERE p.tenant_id = ? AND p.account_id = ? AND p.phase = ? AND p.effective_at >= ? AND p.effective_at < ?
                  ${keyset.conditions.map((condition) => `AND ${condition}`).join(' ')}
            ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [tenantId, accountId, PostingPhase.POSTED, fromDb, toDb, ...keyset.params],
        );
        return rows.map((row) => ({ posting: postingFromRow(row), description: String(row.entry_description) }));
      },
      (line) => postingKey(line.posting),
      { isKey: isPostingKey },
    );
    // Running balances start from everything posted before the page's first line.
    let running = opening;
    if (postings.items.length > 0) {
      const first = postings.items[0].posting;
      running = await netBefore({ at: first.effectiveAt, inclusive: false, beforePostingId: first.id });
    }
    const page: Page<StatementLine> = {
      ...postings,
      items: postings.items.map((line) => {
        running += sign(line.posting.direction, line.posting.amountMinor);
        return { ...line, runningBalanceMinor: running };
      }),
    };
    return { account, from, to, openingBalanceMinor: opening, closingBalanceMinor: closing, page };
  }

  /** Exactly how many lines the statement has: one COUNT on postings (account_id, phase, effective_at). */
  async countStatementLines(tenantId: string, accountId: string, from: Date, to: Date): Promise<number> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT COUNT(*) AS total FROM postings
        WHERE tenant_id = ? AND account_id = ? AND phase = ? AND effective_at >= ? AND effective_at < ?`,
      [tenantId, accountId, PostingPhase.POSTED, toDbTimestamp(from), toDbTimestamp(to)],
    );
    return Number(rows[0].total);
  }

}
