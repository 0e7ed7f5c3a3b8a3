import crypto from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { DecryptionError, type FieldCipher, type FieldContext } from '../../common/encryption';
import { validationError } from '../../common/errors';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { formatMinorAsDecimal, requireCurrency } from '../../common/money';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
import { insertRows } from '../../db/bulk-insert';
import { keysetSql } from '../../db/keyset';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import type { LedgerService } from '../ledger/ledger.service';
import { AccountType } from '../ledger/ledger.types';
import {
  type BankAccountMatchingSettingsChange,
  changedMatchingSettings,
  DEFAULT_BANK_ACCOUNT_MATCHING,
  decodeMatchRules,
  encodeMatchRules,
} from './bank-account-matching';
import { accountNumberOf, statementNamesAccount } from './bank-account-number';
import { balanceCheckOf } from './importers/importer-common';
import { encodingOf, eventsOfParsedFile, type StatementEvent, type StatementHeader, type StatementTrailer, type StreamOptions, type TextEncodingName } from './importers';
import { type BalanceCheck, type CsvMapping, type ParsedFile, type ParsedLine, StatementFormat } from './importers/statement-types';
import { LineFingerprinter, statementFingerprint } from './line-fingerprint';
import { confirmNotifiedLines } from './notification-confirmation';
import type { ReconciliationFlagsService } from './reconciliation-flags.service';
import { ReconciliationErrors } from './reconciliation.errors';
import {
  type AccountNumberKind,
  BANK_ACCOUNT_ENCRYPTED_COLUMNS,
  type BankAccountRecord,
  type BankStatementRecord,
  flagFromRow,
  lineFromRow,
  ReconciliationFlagKind,
  type ReconciliationFlagRecord,
  ReconciliationFlagStatus,
  type StatementLineRecord,
  StatementSource,
  statementFromRow,
} from './reconciliation.types';
import { parseTransactionPush } from './transaction-push';

/**
 * Reads a statement file as it streams, in batches of events; throws StatementFormatError
 * (VALIDATION_FAILED, naming the location) where a malformed file goes wrong. See readStatementEvents.
 */
export type StatementEventReader = (format: StatementFormat, chunks: AsyncIterable<Buffer | string>, options: StreamOptions) => AsyncIterable<StatementEvent[]>;

export interface CreateBankAccountInput {
  name: string;
  iban?: string | null;
  accountNumber?: string | null;
  currency: string;
  ledgerAccountId: string;
  /** Deprecated: matching.windowBusinessDays says the same. Both may be given only when equal. */
  matchWindowBusinessDays?: number | null;
  /** Left out: the defaults (every rule, in the engine's order). */
  matching?: BankAccountMatchingSettingsChange | null;
}

export interface UpdateBankAccountMatchingSettingsInput extends BankAccountMatchingSettingsChange {
  bankAccountId: string;
}

export interface BankAccountFilter {
  currency?: string | null;
  ledgerAccountId?: string | null;
}

export interface ImportStatementInput {
  bankAccountId: string;
  format: StatementFormat;
  content: Buffer | string;
  csvMapping?: CsvMapping | null;
}

export interface ImportStatementStreamInput {
  bankAccountId: string;
  format: StatementFormat;
  csvMapping?: CsvMapping | null;
  /** The file's bytes, from the start, each time it is called (an import that lost a race runs again). */
  open: () => AsyncIterable<Buffer | string>;
  byteLength: number;
  /** The bytes' encoding, decided beforehand (see createEncodingDetector); strings need none. */
  encoding?: TextEncodingName;
  /** The largest camt or OFX file, which is read whole (CSV and MT940 stream); readStatementEvents' default when absent. */
  wholeDocumentLimitBytes?: number;
}

export interface ImportResult {
  /** The statements of the file that belong to the bank account, in file order (existing rows for ones imported before). */
  statements: BankStatementRecord[];
  importedLineCount: number;
  duplicateLineCount: number;
  /** Lines a notification had stored before, which this statement confirms (not counted as duplicates). */
  confirmedLineCount: number;
  /** Statements of the file for other accounts or currencies (a multi-account OFX or MT940 file), left out. */
  otherAccountStatementCount: number;
  /** Flags this import raised. */
  flags: ReconciliationFlagRecord[];
  /** The statements that stored lines in this import, or whose PENDING lines it booked (what matching after it has to look at); not in the API's answer. */
  storedStatementIds: string[];
}

/** What an import's idempotency record keeps, to rebuild its answer after a crash. */
export interface ImportResultRef {
  statementIds: string[];
  importedLineCount: number;
  duplicateLineCount: number;
  /** Absent in records kept before notifications existed. */
  confirmedLineCount?: number;
  otherAccountStatementCount: number;
  flagIds: string[];
}

/** What a bank sent to POST /bank-accounts/:id/notifications: a camt.054 message, or a single-transaction JSON push. */
export type BankNotification = { kind: 'CAMT054'; content: Buffer } | { kind: 'PUSH'; json: unknown };

/** The encrypted column of the secret that signs a bank account's notifications: one at a time, replaced whole by a roll. */
const NOTIFICATION_SECRET_COLUMN = BANK_ACCOUNT_ENCRYPTED_COLUMNS.columns[1];

export interface FlagFilter {
  bankAccountId?: string | null;
  kind?: ReconciliationFlagKind | null;
  status?: ReconciliationFlagStatus | null;
}

export const DEFAULT_MATCH_WINDOW_BUSINESS_DAYS = 3;
const MAX_MATCH_WINDOW_BUSINESS_DAYS = 30;
const TABLE = BANK_ACCOUNT_ENCRYPTED_COLUMNS.table;
const NUMBER_COLUMN = BANK_ACCOUNT_ENCRYPTED_COLUMNS.columns[0];
/** Lines written per batch (and held in memory per statement at most): one fingerprint look-up and one bulk insert each. */
const LINE_INSERT_CHUNK = 500;
/** Fingerprints per IN (…) lookup. */
const FINGERPRINT_LOOKUP_CHUNK = 500;
/** A concurrent import of the same lines on another connection lost the race: run the import again. */
const IMPORT_ATTEMPTS = 3;

const LINE_COLUMNS = [
  'id',
  'tenant_id',
  'bank_account_id',
  'statement_id',
  'amount_minor',
  'currency',
  'booking_date',
  'value_date',
  'bank_reference',
  'end_to_end_id',
  'counterparty_name',
  'counterparty_account',
  'remittance_information',
  'description',
  'status',
  'source_location',
  'fingerprint',
  'created_at',
];

/** A statement whose lines are streaming in: its fingerprints, its running balance, the lines not yet written. */
class StatementInProgress {
  readonly fingerprinter = new LineFingerprinter();
  pending: { line: ParsedLine; fingerprint: string }[] = [];
  lineCount = 0;
  importedCount = 0;
  /** Lines notifications stored before, which this statement confirms. */
  confirmedCount = 0;
  /** Statements holding PENDING lines this one reports BOOKED (see bookPendingLines): matched again after the import. */
  readonly bookedStatementIds = new Set<string>();
  private sumInCurrency = 0n;
  private linesInOtherCurrencies = 0;

  constructor(
    readonly id: string,
    readonly header: StatementHeader,
    readonly source: StatementSource,
  ) {}

  add(line: ParsedLine): void {
    this.pending.push({ line, fingerprint: this.fingerprinter.next(line) });
    this.lineCount += 1;
    if (line.currency === this.header.currency) this.sumInCurrency += line.amountMinor;
    else this.linesInOtherCurrencies += 1;
  }

  takePending(): { line: ParsedLine; fingerprint: string }[] {
    const taken = this.pending;
    this.pending = [];
    return taken;
  }

  /** Opening + lines against the stated closing balance, as checkBalance computes it for a whole statement. */
  balanceCheck(trailer: StatementTrailer): BalanceCheck | null {
    return balanceCheckOf(this.header.currency, trailer.openingBalance, trailer.closingBalance, this.sumInCurrency, this.linesInOtherCurrencies);
  }
}

/** A notification signing secret: 32 random bytes, prefixed so a leaked one is recognisable (as gwsec_ is). */
function newNotificationSecret(): string {
  return `bnsec_${crypto.randomBytes(32).toString('base64url')}`;
}

/** A file held in memory, as the one chunk of a stream. */
async function* oneChunk(content: Buffer | string): AsyncGenerator<Buffer | string> {
  yield content;
}

function clip(value: string | null, max: number): string | null {
  return value === null ? null : value.length > max ? value.slice(0, max) : value;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Bank accounts, the statements imported into them and the flags raised on them. Every read and
 * write is scoped to the tenant given; another tenant's bank account is NOT_FOUND.
 */
export class ReconciliationService {
  private readonly kind: 'mysql' | 'sqlite';

  /** Runs once an import has committed (the services container matches the new lines here); must not throw. */
  afterImport: ((account: BankAccountRecord, result: ImportResult) => Promise<void>) | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly cipher: FieldCipher,
    private readonly ledger: LedgerService,
    private readonly readEvents: StatementEventReader,
    /** The one way flags are raised (and published once their transaction commits). */
    private readonly flags: ReconciliationFlagsService,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
  ) {
    this.kind = databaseKindOfSource(dataSource) === 'mysql' ? 'mysql' : 'sqlite';
  }

  // ---------------------------------------------------------------------------------------------
  // Bank accounts

  /** Adds a bank account, with the secret that signs its notifications: returned here once, stored encrypted. */
  async createBankAccount(
    tenantId: string,
    input: CreateBankAccountInput,
    idempotency?: IdempotencyHandle,
  ): Promise<{ bankAccount: BankAccountRecord; notificationSecret: string }> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200) throw ReconciliationErrors.invalidName();
    const currency = requireCurrency(input.currency);
    const { kind, number } = accountNumberOf(input);
    const legacyWindow = input.matchWindowBusinessDays ?? null;
    if (legacyWindow !== null && (!Number.isInteger(legacyWindow) || legacyWindow < 0 || legacyWindow > MAX_MATCH_WINDOW_BUSINESS_DAYS)) {
      throw ReconciliationErrors.invalidMatchWindow(MAX_MATCH_WINDOW_BUSINESS_DAYS);
    }
    const requestedWindow = input.matching?.windowBusinessDays ?? null;
    if (legacyWindow !== null && requestedWindow !== null && legacyWindow !== requestedWindow) throw ReconciliationErrors.matchWindowGivenTwice();
    const matching = changedMatchingSettings(
      { ...DEFAULT_BANK_ACCOUNT_MATCHING, rules: [...DEFAULT_BANK_ACCOUNT_MATCHING.rules], windowBusinessDays: legacyWindow ?? DEFAULT_MATCH_WINDOW_BUSINESS_DAYS },
      input.matching ?? {},
      'matching',
    );
    const window = matching.windowBusinessDays;
    requireIdOfKind(input.ledgerAccountId, 'account', 'ledgerAccountId');
    const [ledgerAccount] = await this.ledger.accountsByIds(tenantId, [input.ledgerAccountId]);
    if (!ledgerAccount) throw ReconciliationErrors.ledgerAccountNotFound(input.ledgerAccountId);
    if (ledgerAccount.type !== AccountType.ASSET) throw ReconciliationErrors.ledgerAccountNotAsset(ledgerAccount.id, ledgerAccount.type);
    if (ledgerAccount.currency !== currency) throw ReconciliationErrors.ledgerAccountCurrency(ledgerAccount.id, ledgerAccount.currency, currency);

    const record: BankAccountRecord = {
      id: newId('bankAccount'),
      tenantId,
      name,
      accountNumberKind: kind,
      accountNumber: number,
      last4: number.slice(-4),
      currency,
      ledgerAccountId: ledgerAccount.id,
      matchWindowBusinessDays: window,
      matching,
      createdAt: this.clock.now(),
    };
    const index = this.numberIndexOf(tenantId, number);
    const notificationSecret = newNotificationSecret();
    try {
      await runInTransaction(this.dataSource, async (manager) => {
        await manager.query(
          `INSERT INTO bank_accounts (id, tenant_id, name, account_number_kind, ${NUMBER_COLUMN}, account_number_index, account_last4, currency,
                                      ledger_account_id, match_window_business_days, match_rules, match_max_group_size, match_max_group_candidates,
                                      ${NOTIFICATION_SECRET_COLUMN}, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            record.id,
            tenantId,
            name,
            kind,
            this.cipher.encrypt(number, this.contextOf(tenantId, NUMBER_COLUMN)),
            index,
            record.last4,
            currency,
            record.ledgerAccountId,
            window,
            encodeMatchRules(matching.rules),
            matching.maxGroupSize,
            matching.maxGroupCandidates,
            this.cipher.encrypt(notificationSecret, this.contextOf(tenantId, NOTIFICATION_SECRET_COLUMN)),
            toDbTimestamp(record.createdAt),
          ],
        );
        if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { bankAccountId: record.id } });
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing: Record<string, unknown>[] = await this.dataSource.query(
        'SELECT id FROM bank_accounts WHERE tenant_id = ? AND account_number_index = ? AND currency = ?',
        [tenantId, index, currency],
      );
      throw ReconciliationErrors.numberTaken(existing[0] ? String(existing[0].id) : undefined);
    }
    return { bankAccount: record, notificationSecret };
  }

  /**
   * Replaces the secret that signs the bank account's notifications, as createGateway's webhook
   * secret is held: one secret at a time, so the old one stops working at once. The new one is
   * returned here once.
   */
  async rollNotificationSecret(
    tenantId: string,
    bankAccountId: string,
    idempotency?: IdempotencyHandle,
  ): Promise<{ bankAccount: BankAccountRecord; notificationSecret: string }> {
    const bankAccount = await this.getBankAccount(tenantId, bankAccountId, 'bankAccountId');
    const notificationSecret = newNotificationSecret();
    await runInTransaction(this.dataSource, async (manager) => {
      await manager.query(`UPDATE bank_accounts SET ${NOTIFICATION_SECRET_COLUMN} = ? WHERE tenant_id = ? AND id = ?`, [
        this.cipher.encrypt(notificationSecret, this.contextOf(tenantId, NOTIFICATION_SECRET_COLUMN)),
        tenantId,
        bankAccount.id,
      ]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { bankAccountId: bankAccount.id } });
    });
    return { bankAccount, notificationSecret };
  }

  /**
   * The secret that signs a bank account's notifications, and its tenant. Looked up by id alone: the
   * notification route has no credential, and the signature is what authenticates it. Null when there
   * is no such account or it has no secret yet (answered like a bad signature, so ids cannot be probed).
   */
  async notificationSecretOf(bankAccountId: string): Promise<{ tenantId: string; secret: string } | null> {
    const [row]: Record<string, unknown>[] = await this.dataSource.query(`SELECT tenant_id, ${NOTIFICATION_SECRET_COLUMN} FROM bank_accounts WHERE id = ?`, [
      bankAccountId,
    ]);
    if (!row || row[NOTIFICATION_SECRET_COLUMN] === null || row[NOTIFICATION_SECRET_COLUMN] === undefined) return null;
    const tenantId = String(row.tenant_id);
    return { tenantId, secret: this.cipher.decrypt(String(row[NOTIFICATION_SECRET_COLUMN]), this.contextOf(tenantId, NOTIFICATION_SECRET_COLUMN)) };
  }

  async bankAccountsByIds(tenantId: string, ids: readonly string[]): Promise<BankAccountRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM bank_accounts WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map((row) => this.bankAccountFromRow(row));
  }

  async getBankAccount(tenantId: string, id: string, field = 'id'): Promise<BankAccountRecord> {
    requireIdOfKind(id, 'bankAccount', field);
    const [account] = await this.bankAccountsByIds(tenantId, [id]);
    if (!account) throw ReconciliationErrors.bankAccountNotFound(id);
    return account;
  }

  /**
   * Changes which matching rules run for a bank account, in what order, and its limits; what the input
   * leaves out stays. Runs from now on use them: matches made before stand. Another tenant's account is
   * NOT_FOUND; a bad setting is VALIDATION_FAILED naming it, and nothing changes.
   */
  async updateBankAccountMatchingSettings(tenantId: string, input: UpdateBankAccountMatchingSettingsInput, idempotency?: IdempotencyHandle): Promise<BankAccountRecord> {
    requireIdOfKind(input.bankAccountId, 'bankAccount', 'bankAccountId');
    const { bankAccountId, ...change } = input;
    if (Object.values(change).every((value) => value === undefined || value === null)) throw ReconciliationErrors.noMatchingSettingGiven();
    return runInTransaction(this.dataSource, async (manager) => {
      const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM bank_accounts WHERE tenant_id = ? AND id = ?${this.forUpdate()}`, [tenantId, bankAccountId]);
      if (!rows[0]) throw ReconciliationErrors.bankAccountNotFound(bankAccountId);
      const account = this.bankAccountFromRow(rows[0]);
      const matching = changedMatchingSettings(account.matching, change, 'input');
      await manager.query(
        'UPDATE bank_accounts SET match_rules = ?, match_window_business_days = ?, match_max_group_size = ?, match_max_group_candidates = ? WHERE tenant_id = ? AND id = ?',
        [encodeMatchRules(matching.rules), matching.windowBusinessDays, matching.maxGroupSize, matching.maxGroupCandidates, tenantId, bankAccountId],
      );
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { bankAccountId } });
      return { ...account, matchWindowBusinessDays: matching.windowBusinessDays, matching };
    });
  }

  /** The tenant's bank accounts, oldest first. */
  async listBankAccounts(tenantId: string, filter: BankAccountFilter, request: PageRequest): Promise<Page<BankAccountRecord>> {
    const where = await this.bankAccountConditions(tenantId, filter);
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM bank_accounts WHERE ${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...where.params, ...keyset.params],
        );
        return rows.map((row) => this.bankAccountFromRow(row));
      },
      (account) => account.id,
      { isKey: (key) => idKindOf(key) === 'bankAccount' },
    );
  }

  async countBankAccounts(tenantId: string, filter: BankAccountFilter): Promise<number> {
    const where = await this.bankAccountConditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM bank_accounts WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  private async bankAccountConditions(tenantId: string, filter: BankAccountFilter): Promise<{ conditions: string[]; params: unknown[] }> {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.currency) {
      conditions.push('currency = ?');
      params.push(requireCurrency(filter.currency, 'filter.currency'));
    }
    if (filter.ledgerAccountId) {
      requireIdOfKind(filter.ledgerAccountId, 'account', 'filter.ledgerAccountId');
      // Another tenant's ledger account is NOT_FOUND, as every id argument is, not an empty page.
      const [ledgerAccount] = await this.ledger.accountsByIds(tenantId, [filter.ledgerAccountId]);
      if (!ledgerAccount) throw ReconciliationErrors.ledgerAccountNotFound(filter.ledgerAccountId);
      conditions.push('ledger_account_id = ?');
      params.push(filter.ledgerAccountId);
    }
    return { conditions, params };
  }

  // ---------------------------------------------------------------------------------------------
  // Statement import

  /**
   * Imports a statement file held in memory (importBankStatement's `content`): the same import as
   * importStatementStream, over one chunk.
   */
  importStatement(tenantId: string, input: ImportStatementInput, idempotency?: IdempotencyHandle): Promise<ImportResult> {
    const { content } = input;
    return this.importStatementStream(
      tenantId,
      {
        bankAccountId: input.bankAccountId,
        format: input.format,
        csvMapping: input.csvMapping,
        byteLength: typeof content === 'string' ? Buffer.byteLength(content) : content.length,
        encoding: typeof content === 'string' ? undefined : encodingOf(content),
        open: () => oneChunk(content),
      },
      idempotency,
    );
  }

  /**
   * Imports a statement file as it streams (the upload route reads it from its spool file): lines are
   * parsed, fingerprinted and written in batches, so memory stays flat whatever the file's size.
   * Everything happens in one transaction with the idempotency completion: a malformed file (refused
   * with VALIDATION_FAILED naming the line or element, wherever in the file it is found), a file with
   * no statement for this account, or any failure rolls back every line written so far. Statements of
   * the file that name another account or currency are left out. A statement imported before (found by
   * its fingerprint) is answered with its row; of the others, only lines not stored before (by their
   * fingerprints) are stored; a statement whose opening balance plus its lines is not its closing
   * balance raises STATEMENT_BALANCE_MISMATCH.
   */
  async importStatementStream(tenantId: string, input: ImportStatementStreamInput, idempotency?: IdempotencyHandle): Promise<ImportResult> {
    const account = await this.getBankAccount(tenantId, input.bankAccountId, 'bankAccountId');
    if (input.format === 'CSV' && !input.csvMapping) throw ReconciliationErrors.csvMappingRequired();
    if (input.format !== 'CSV' && input.csvMapping) throw ReconciliationErrors.csvMappingNotApplicable(input.format);
    if (input.byteLength === 0) throw ReconciliationErrors.emptyFile();
    const options: StreamOptions = { encoding: input.encoding, wholeDocumentLimitBytes: input.wholeDocumentLimitBytes, ...(input.csvMapping ? { csv: input.csvMapping } : {}) };
    return this.importEvents(account, input.format, () => this.readEvents(input.format, input.open(), options), StatementSource.STATEMENT, idempotency);
  }

  /**
   * Stores a notification the bank sent (already authenticated by its signature): its lines become
   * statement lines exactly as an import's do, under a statement row of source NOTIFICATION, and are
   * matched at once. The same notification again stores nothing and counts its lines as duplicates.
   */
  async receiveNotification(tenantId: string, bankAccountId: string, notification: BankNotification): Promise<ImportResult> {
    const account = await this.getBankAccount(tenantId, bankAccountId, 'bankAccountId');
    if (notification.kind === 'PUSH') return this.importParsed(account, parseTransactionPush(notification.json, account), StatementSource.NOTIFICATION);
    const { content } = notification;
    const options: StreamOptions = { encoding: encodingOf(content) };
    return this.importEvents(
      account,
      StatementFormat.CAMT054,
      () => this.readEvents(StatementFormat.CAMT054, oneChunk(content), options),
      StatementSource.NOTIFICATION,
    );
  }

  /** An import of a file already parsed (a JSON push): the same path as a file's, over its events. */
  private importParsed(account: BankAccountRecord, parsed: ParsedFile, source: StatementSource, idempotency?: IdempotencyHandle): Promise<ImportResult> {
    return this.importEvents(
      account,
      parsed.format,
      async function* () {
        yield [...eventsOfParsedFile(parsed)];
      },
      source,
      idempotency,
    );
  }

  private async importEvents(
    account: BankAccountRecord,
    format: StatementFormat,
    events: () => AsyncIterable<StatementEvent[]>,
    source: StatementSource,
    idempotency?: IdempotencyHandle,
  ): Promise<ImportResult> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await runInTransaction(this.dataSource, (manager) => this.storeStatements(manager, account, format, events(), source, idempotency));
        if (this.afterImport) await this.afterImport(account, result);
        return result;
      } catch (error) {
        // Lines of an overlapping file committed by another process meanwhile (SQLite runs imports
        // one after another; MySQL locks the bank account row, so this is a last resort).
        if (!isUniqueViolation(error) || attempt >= IMPORT_ATTEMPTS) throw error;
      }
    }
  }

  private async storeStatements(
    manager: EntityManager,
    account: BankAccountRecord,
    format: StatementFormat,
    events: AsyncIterable<StatementEvent[]>,
    source: StatementSource,
    idempotency: IdempotencyHandle | undefined,
  ): Promise<ImportResult> {
    // One import at a time per bank account: the fingerprint look-ups below then see every line committed before.
    if (this.kind === 'mysql') await manager.query('SELECT id FROM bank_accounts WHERE id = ? FOR UPDATE', [account.id]);
    const now = this.clock.now();
    const statements: BankStatementRecord[] = [];
    const flags: ReconciliationFlagRecord[] = [];
    let importedLineCount = 0;
    let duplicateLineCount = 0;
    let confirmedLineCount = 0;
    let statementCount = 0;
    let otherAccountStatementCount = 0;
    let firstHeader: StatementHeader | null = null;
    let current: StatementInProgress | null = null;
    const storedStatementIds: string[] = [];

    for await (const batch of events) {
      for (const event of batch) {
        if (event.type === 'start') {
          statementCount += 1;
          firstHeader ??= event.header;
          const own =
            event.header.currency === account.currency &&
            statementNamesAccount({ kind: account.accountNumberKind, number: account.accountNumber }, { iban: event.header.accountIban, number: event.header.accountNumber });
          if (!own) otherAccountStatementCount += 1;
          current = own ? await this.startStatement(manager, account, event.header, source, now) : null;
        } else if (event.type === 'line') {
          if (!current) continue;
          current.add(event.line);
          if (current.pending.length >= LINE_INSERT_CHUNK) await this.storePendingLines(manager, account, current, now);
        } else if (current) {
          await this.storePendingLines(manager, account, current, now);
          const { record, flag } = await this.finishStatement(manager, account, current, event.trailer, now);
          if (record.id === current.id) {
            importedLineCount += record.importedLineCount;
            duplicateLineCount += record.duplicateLineCount;
            confirmedLineCount += record.confirmedLineCount;
            if (record.importedLineCount > 0) storedStatementIds.push(record.id);
          } else {
            // Imported before: every line is a duplicate of that import's.
            duplicateLineCount += current.lineCount;
          }
          for (const id of current.bookedStatementIds) if (!storedStatementIds.includes(id)) storedStatementIds.push(id);
          statements.push(record);
          if (flag) flags.push(flag);
          current = null;
        }
      }
    }
    if (statementCount === 0) throw ReconciliationErrors.noStatement(format);
    if (statements.length === 0 && firstHeader) {
      throw ReconciliationErrors.otherAccount(
        account.id,
        { account: firstHeader.accountIban ?? firstHeader.accountNumber, currency: firstHeader.currency },
        { last4: account.last4, currency: account.currency },
      );
    }

    if (idempotency && this.idempotency) {
      const ref: ImportResultRef = {
        statementIds: statements.map((s) => s.id),
        importedLineCount,
        duplicateLineCount,
        confirmedLineCount,
        otherAccountStatementCount,
        flagIds: flags.map((f) => f.id),
      };
      await this.idempotency.complete(manager, idempotency, { resultRef: ref });
    }
    return { statements, importedLineCount, duplicateLineCount, confirmedLineCount, otherAccountStatementCount, flags, storedStatementIds };
  }

  /** The statement's row goes in first, under a placeholder fingerprint, so its lines can name it as they stream in. */
  private async startStatement(manager: EntityManager, account: BankAccountRecord, header: StatementHeader, source: StatementSource, now: Date): Promise<StatementInProgress> {
    const id = newId('bankStatement');
    await manager.query(
      `INSERT INTO bank_statements (id, tenant_id, bank_account_id, format, statement_ref, currency, line_count, imported_line_count, duplicate_line_count,
                                    confirmed_line_count, source, fingerprint, imported_at)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?, ?, ?)`,
      [id, account.tenantId, account.id, header.format, clip(header.statementId, 255), header.currency, source, `pending:${id}`, toDbTimestamp(now)],
    );
    return new StatementInProgress(id, header, source);
  }

  private async storePendingLines(manager: EntityManager, account: BankAccountRecord, statement: StatementInProgress, now: Date): Promise<void> {
    const pending = statement.takePending();
    if (pending.length === 0) return;
    // Lines stored earlier in this transaction (an earlier statement of the same file) are seen here too.
    const known = await this.knownFingerprints(manager, account, pending.map((p) => p.fingerprint));
    // A statement's lines that notifications stored before are confirmed by it, not duplicated.
    if (known.size > 0 && statement.source === StatementSource.STATEMENT) statement.confirmedCount += await confirmNotifiedLines(manager, account, statement.id, known);
    if (known.size > 0) await this.bookPendingLines(manager, account, statement, pending.filter((p) => p.line.status === 'BOOKED' && known.has(p.fingerprint)));
    const fresh = pending.filter(({ fingerprint }) => !known.has(fingerprint));
    if (fresh.length === 0) return;
    await insertRows(
      manager,
      'statement_lines',
      LINE_COLUMNS,
      fresh.map(({ line, fingerprint }) => [
        newId('bankStatementLine'),
        account.tenantId,
        account.id,
        statement.id,
        this.minor(line.amountMinor),
        line.currency,
        line.bookingDate,
        line.valueDate,
        clip(line.bankReference, 255),
        clip(line.endToEndId, 255),
        clip(line.counterpartyName, 255),
        clip(line.counterpartyAccount, 255),
        line.remittanceInformation,
        line.description,
        line.status,
        clip(line.sourceLocation, 255),
        fingerprint,
        toDbTimestamp(now),
      ]),
    );
    statement.importedCount += fresh.length;
  }

  /**
   * A transaction the bank first reported as PENDING (an intraday camt.052, a pending push) and now
   * reports as BOOKED has the same fingerprint (its status is not part of it): the stored line becomes
   * BOOKED rather than the booked one being dropped as a duplicate, and its statement is matched again
   * after the import, since matching only looks at booked lines.
   */
  private async bookPendingLines(manager: EntityManager, account: BankAccountRecord, statement: StatementInProgress, booked: readonly { fingerprint: string }[]): Promise<void> {
    if (booked.length === 0) return;
    const marks = booked.map(() => '?').join(',');
    const params = [account.tenantId, account.id, ...booked.map((b) => b.fingerprint)];
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT DISTINCT statement_id FROM statement_lines WHERE tenant_id = ? AND bank_account_id = ? AND status = 'PENDING' AND fingerprint IN (${marks})`,
      params,
    );
    if (rows.length === 0) return;
    await manager.query(`UPDATE statement_lines SET status = 'BOOKED' WHERE tenant_id = ? AND bank_account_id = ? AND status = 'PENDING' AND fingerprint IN (${marks})`, params);
    for (const row of rows) statement.bookedStatementIds.add(String(row.statement_id));
  }

  /**
   * Completes the statement's row once its trailer is read (balances, period), or, when the same
   * statement was imported before, drops the new row (it stored no line: all were known) and answers
   * with the earlier one.
   */
  private async finishStatement(
    manager: EntityManager,
    account: BankAccountRecord,
    statement: StatementInProgress,
    trailer: StatementTrailer,
    now: Date,
  ): Promise<{ record: BankStatementRecord; flag: ReconciliationFlagRecord | null }> {
    const { tenantId } = account;
    const header = statement.header;
    const fingerprint = statementFingerprint(header, trailer, statement.fingerprinter.linesDigest());
    if (statement.importedCount === 0 && statement.confirmedCount === 0) {
      const existing = await this.statementByFingerprint(manager, account, fingerprint);
      if (existing) {
        await manager.query('DELETE FROM bank_statements WHERE id = ?', [statement.id]);
        return { record: existing, flag: null };
      }
    }
    const record: BankStatementRecord = {
      id: statement.id,
      tenantId,
      bankAccountId: account.id,
      format: header.format,
      statementRef: clip(header.statementId, 255),
      fromDate: trailer.fromDate,
      toDate: trailer.toDate,
      currency: header.currency,
      openingBalanceMinor: trailer.openingBalance?.amountMinor ?? null,
      openingBalanceDate: trailer.openingBalance?.date ?? null,
      closingBalanceMinor: trailer.closingBalance?.amountMinor ?? null,
      closingBalanceDate: trailer.closingBalance?.date ?? null,
      lineCount: statement.lineCount,
      importedLineCount: statement.importedCount,
      duplicateLineCount: statement.lineCount - statement.importedCount - statement.confirmedCount,
      confirmedLineCount: statement.confirmedCount,
      source: statement.source,
      importedAt: now,
    };
    await manager.query(
      `UPDATE bank_statements SET from_date = ?, to_date = ?, opening_balance_minor = ?, opening_balance_date = ?, closing_balance_minor = ?, closing_balance_date = ?,
                                  line_count = ?, imported_line_count = ?, duplicate_line_count = ?, confirmed_line_count = ?, fingerprint = ?
       WHERE id = ?`,
      [
        record.fromDate,
        record.toDate,
        this.minorOrNull(record.openingBalanceMinor),
        record.openingBalanceDate,
        this.minorOrNull(record.closingBalanceMinor),
        record.closingBalanceDate,
        record.lineCount,
        record.importedLineCount,
        record.duplicateLineCount,
        record.confirmedLineCount,
        fingerprint,
        statement.id,
      ],
    );

    const check = statement.balanceCheck(trailer);
    if (!check || (check.differenceMinor === 0n && check.excludedLineCount === 0)) return { record, flag: null };
    const flag = await this.flags.raise(manager, {
      tenantId,
      bankAccountId: account.id,
      kind: ReconciliationFlagKind.STATEMENT_BALANCE_MISMATCH,
      subject: `statement:${record.id}`,
      details: {
        statementId: record.id,
        statementRef: record.statementRef,
        currency: record.currency,
        openingBalance: formatMinorAsDecimal(trailer.openingBalance?.amountMinor ?? 0n, record.currency),
        statedClosingBalance: formatMinorAsDecimal(check.statedClosingMinor, record.currency),
        expectedClosingBalance: formatMinorAsDecimal(check.expectedClosingMinor, record.currency),
        difference: formatMinorAsDecimal(check.differenceMinor, record.currency),
        linesInOtherCurrencies: check.excludedLineCount,
      },
    });
    return { record, flag };
  }

  /** An import's answer again, from what its idempotency record kept (after a crash before its response was stored). */
  async importResultOf(tenantId: string, ref: ImportResultRef): Promise<ImportResult> {
    const statements = await this.statementsByIds(tenantId, ref.statementIds);
    const byId = new Map(statements.map((s) => [s.id, s]));
    const flags = await this.flagsByIds(tenantId, ref.flagIds);
    return {
      statements: ref.statementIds.map((id) => byId.get(id)).filter((s): s is BankStatementRecord => s !== undefined),
      importedLineCount: ref.importedLineCount,
      duplicateLineCount: ref.duplicateLineCount,
      confirmedLineCount: ref.confirmedLineCount ?? 0,
      otherAccountStatementCount: ref.otherAccountStatementCount,
      flags,
      // A replayed answer matches nothing: the import it answers for was matched when it ran.
      storedStatementIds: [],
    };
  }

  private async statementByFingerprint(manager: EntityManager, account: BankAccountRecord, fingerprint: string): Promise<BankStatementRecord | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      'SELECT * FROM bank_statements WHERE tenant_id = ? AND bank_account_id = ? AND fingerprint = ?',
      [account.tenantId, account.id, fingerprint],
    );
    return rows.length ? statementFromRow(rows[0]) : null;
  }

  private async knownFingerprints(manager: EntityManager, account: BankAccountRecord, fingerprints: readonly string[]): Promise<Set<string>> {
    const known = new Set<string>();
    for (const chunk of chunks([...new Set(fingerprints)], FINGERPRINT_LOOKUP_CHUNK)) {
      const rows: Record<string, unknown>[] = await manager.query(
        `SELECT fingerprint FROM statement_lines WHERE tenant_id = ? AND bank_account_id = ? AND fingerprint IN (${chunk.map(() => '?').join(',')})`,
        [account.tenantId, account.id, ...chunk],
      );
      for (const row of rows) known.add(String(row.fingerprint));
    }
    return known;
  }

  // ---------------------------------------------------------------------------------------------
  // Statements and lines

  async statementsByIds(tenantId: string, ids: readonly string[]): Promise<BankStatementRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM bank_statements WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map(statementFromRow);
  }

  async getStatement(tenantId: string, id: string): Promise<BankStatementRecord> {
    requireIdOfKind(id, 'bankStatement', 'id');
    const [statement] = await this.statementsByIds(tenantId, [id]);
    if (!statement) throw ReconciliationErrors.statementNotFound(id);
    return statement;
  }

  async linesByIds(tenantId: string, ids: readonly string[]): Promise<StatementLineRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM statement_lines WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map(lineFromRow);
  }

  /** The lines a statement stored (not those an earlier import had stored), in file order. */
  listLines(tenantId: string, statementId: string, request: PageRequest, sizes?: { defaultSize: number; maxSize: number }): Promise<Page<StatementLineRecord>> {
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM statement_lines WHERE ${['statement_id = ?', 'tenant_id = ?', ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [statementId, tenantId, ...keyset.params],
        );
        return rows.map(lineFromRow);
      },
      (line) => line.id,
      { sizes, isKey: (key) => idKindOf(key) === 'bankStatementLine' },
    );
  }

  /**
   * The lines real-time notifications stored in a bank account, oldest first; `confirmed` false keeps
   * those no statement has held yet (a transaction the bank notified and never stated), true those one has.
   */
  listNotificationLines(tenantId: string, bankAccountId: string, confirmed: boolean | null, request: PageRequest): Promise<Page<StatementLineRecord>> {
    const where = this.notificationLineConditions(tenantId, bankAccountId, confirmed);
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM statement_lines WHERE ${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...where.params, ...keyset.params],
        );
        return rows.map(lineFromRow);
      },
      (line) => line.id,
      { isKey: (key) => idKindOf(key) === 'bankStatementLine' },
    );
  }

  async countNotificationLines(tenantId: string, bankAccountId: string, confirmed: boolean | null): Promise<number> {
    const where = this.notificationLineConditions(tenantId, bankAccountId, confirmed);
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM statement_lines WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  private notificationLineConditions(tenantId: string, bankAccountId: string, confirmed: boolean | null): { conditions: string[]; params: unknown[] } {
    const conditions = [
      'tenant_id = ?',
      'bank_account_id = ?',
      'statement_id IN (SELECT id FROM bank_statements WHERE tenant_id = ? AND bank_account_id = ? AND source = ?)',
    ];
    if (confirmed !== null) conditions.push(confirmed ? 'confirmed_by_statement_id IS NOT NULL' : 'confirmed_by_statement_id IS NULL');
    return { conditions, params: [tenantId, bankAccountId, tenantId, bankAccountId, StatementSource.NOTIFICATION] };
  }

  async countLines(tenantId: string, statementId: string): Promise<number> {
    const rows: Record<string, unknown>[] = await this.dataSource.query('SELECT COUNT(*) AS total FROM statement_lines WHERE statement_id = ? AND tenant_id = ?', [
      statementId,
      tenantId,
    ]);
    return Number(rows[0].total);
  }

  // ---------------------------------------------------------------------------------------------
  // Flags

  async flagsByIds(tenantId: string, ids: readonly string[]): Promise<ReconciliationFlagRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM reconciliation_flags WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')}) ORDER BY sequence`,
      [tenantId, ...ids],
    );
    return rows.map(flagFromRow);
  }

  /** The tenant's flags in sequence order (the order of their last steps: raised, recurred, reopened, acknowledged, resolved). */
  async listFlags(tenantId: string, filter: FlagFilter, request: PageRequest): Promise<Page<ReconciliationFlagRecord>> {
    const where = await this.flagConditions(tenantId, filter);
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['sequence'], 'ASC', (key) => [Number(key)]);
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM reconciliation_flags WHERE ${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...where.params, ...keyset.params],
        );
        return rows.map(flagFromRow);
      },
      (flag) => String(flag.sequence),
      { isKey: (key) => /^[1-9]\d{0,15}$/.test(key) },
    );
  }

  async countFlags(tenantId: string, filter: FlagFilter): Promise<number> {
    const where = await this.flagConditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM reconciliation_flags WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  private async flagConditions(tenantId: string, filter: FlagFilter): Promise<{ conditions: string[]; params: unknown[] }> {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.bankAccountId) {
      // Another tenant's bank account is NOT_FOUND, as every id argument is, not an empty page.
      await this.getBankAccount(tenantId, filter.bankAccountId, 'filter.bankAccountId');
      conditions.push('bank_account_id = ?');
      params.push(filter.bankAccountId);
    }
    if (filter.kind) {
      if (!Object.values(ReconciliationFlagKind).includes(filter.kind)) throw validationError('filter.kind is not a flag kind', { field: 'filter.kind' });
      conditions.push('kind = ?');
      params.push(filter.kind);
    }
    if (filter.status) {
      if (!Object.values(ReconciliationFlagStatus).includes(filter.status)) throw validationError('filter.status is not a flag status', { field: 'filter.status' });
      conditions.push('status = ?');
      params.push(filter.status);
    }
    return { conditions, params };
  }

  // ---------------------------------------------------------------------------------------------

  private bankAccountFromRow(row: Record<string, unknown>): BankAccountRecord {
    const tenantId = String(row.tenant_id);
    return {
      id: String(row.id),
      tenantId,
      name: String(row.name),
      accountNumberKind: row.account_number_kind as AccountNumberKind,
      accountNumber: this.decryptNumber(String(row.id), tenantId, String(row[NUMBER_COLUMN])),
      last4: String(row.account_last4),
      currency: String(row.currency),
      ledgerAccountId: String(row.ledger_account_id),
      matchWindowBusinessDays: Number(row.match_window_business_days),
      matching: {
        rules: decodeMatchRules(String(row.match_rules), String(row.id)),
        windowBusinessDays: Number(row.match_window_business_days),
        maxGroupSize: Number(row.match_max_group_size),
        maxGroupCandidates: Number(row.match_max_group_candidates),
      },
      createdAt: fromDbTimestamp(row.created_at),
    };
  }

  /** A number that does not decrypt is an operator's problem (moved row, missing key): an internal error, logged with the row. */
  private decryptNumber(id: string, tenantId: string, ciphertext: string): string {
    try {
      return this.cipher.decrypt(ciphertext, this.contextOf(tenantId, NUMBER_COLUMN));
    } catch (error) {
      if (error instanceof DecryptionError) throw new DecryptionError(`${TABLE}.${NUMBER_COLUMN} of ${id}: ${error.message}`);
      throw error;
    }
  }

  private contextOf(tenantId: string, column: string): FieldContext {
    return { table: TABLE, column, tenantId };
  }

  private numberIndexOf(tenantId: string, number: string): string {
    return this.cipher.blindIndex(number, this.contextOf(tenantId, 'account_number_index'));
  }

  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }

  private minorOrNull(value: bigint | null): bigint | string | null {
    return value === null ? null : this.minor(value);
  }

  private forUpdate(): string {
    return this.kind === 'mysql' ? ' FOR UPDATE' : '';
  }
}
