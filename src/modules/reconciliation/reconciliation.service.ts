import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { DecryptionError, type FieldCipher, type FieldContext } from '../../common/encryption';
import { validationError } from '../../common/errors';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { formatMinorAsDecimal, requireCurrency } from '../../common/money';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
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
import type { CsvMapping, ParsedFile, ParsedStatement, ParseOptions, StatementFormat } from './importers/statement-types';
import { lineFingerprints, statementFingerprint } from './line-fingerprint';
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
  statementFromRow,
} from './reconciliation.types';

/** Reads a whole statement file; throws StatementFormatError (VALIDATION_FAILED, naming the location) for a malformed one. */
export type StatementParser = (format: StatementFormat, content: Buffer | string, options?: ParseOptions) => ParsedFile;

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

export interface ImportResult {
  /** The statements of the file that belong to the bank account, in file order (existing rows for ones imported before). */
  statements: BankStatementRecord[];
  importedLineCount: number;
  duplicateLineCount: number;
  /** Statements of the file for other accounts or currencies (a multi-account OFX or MT940 file), left out. */
  otherAccountStatementCount: number;
  /** Flags this import raised. */
  flags: ReconciliationFlagRecord[];
}

/** What an import's idempotency record keeps, to rebuild its answer after a crash. */
export interface ImportResultRef {
  statementIds: string[];
  importedLineCount: number;
  duplicateLineCount: number;
  otherAccountStatementCount: number;
  flagIds: string[];
}

export interface FlagFilter {
  bankAccountId?: string | null;
  kind?: ReconciliationFlagKind | null;
  status?: ReconciliationFlagStatus | null;
}

export const DEFAULT_MATCH_WINDOW_BUSINESS_DAYS = 3;
const MAX_MATCH_WINDOW_BUSINESS_DAYS = 30;
const TABLE = BANK_ACCOUNT_ENCRYPTED_COLUMNS.table;
const NUMBER_COLUMN = BANK_ACCOUNT_ENCRYPTED_COLUMNS.columns[0];
/** Rows per multi-row INSERT of statement lines (19 parameters each). */
const LINE_INSERT_CHUNK = 200;
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
    private readonly parse: StatementParser,
    /** The one way flags are raised (and published once their transaction commits). */
    private readonly flags: ReconciliationFlagsService,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
  ) {
    this.kind = databaseKindOfSource(dataSource) === 'mysql' ? 'mysql' : 'sqlite';
  }

  // ---------------------------------------------------------------------------------------------
  // Bank accounts

  async createBankAccount(tenantId: string, input: CreateBankAccountInput, idempotency?: IdempotencyHandle): Promise<BankAccountRecord> {
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
    try {
      await runInTransaction(this.dataSource, async (manager) => {
        await manager.query(
          `INSERT INTO bank_accounts (id, tenant_id, name, account_number_kind, ${NUMBER_COLUMN}, account_number_index, account_last4, currency,
                                      ledger_account_id, match_window_business_days, match_rules, match_max_group_size, match_max_group_candidates, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
    return record;
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
   * Imports a statement file into a bank account. The file is parsed whole first: a malformed one is
   * refused (VALIDATION_FAILED naming the line or element) and nothing is written. Its statements
   * that name another account or currency are left out; a file with none for this account is
   * refused. Then, in one transaction with the idempotency completion: each statement not imported
   * before (by its fingerprint) is stored with the lines not already stored (by theirs), and a
   * statement whose opening balance plus its lines is not its closing balance raises
   * STATEMENT_BALANCE_MISMATCH.
   */
  async importStatement(tenantId: string, input: ImportStatementInput, idempotency?: IdempotencyHandle): Promise<ImportResult> {
    const account = await this.getBankAccount(tenantId, input.bankAccountId, 'bankAccountId');
    if (input.format === 'CSV' && !input.csvMapping) throw ReconciliationErrors.csvMappingRequired();
    if (input.format !== 'CSV' && input.csvMapping) throw ReconciliationErrors.csvMappingNotApplicable(input.format);
    if (input.content.length === 0) throw ReconciliationErrors.emptyFile();
    const parsed = this.parse(input.format, input.content, input.csvMapping ? { csv: input.csvMapping } : undefined);
    if (parsed.statements.length === 0) throw ReconciliationErrors.noStatement(input.format);

    const own = parsed.statements.filter(
      (statement) =>
        statement.currency === account.currency &&
        statementNamesAccount({ kind: account.accountNumberKind, number: account.accountNumber }, { iban: statement.accountIban, number: statement.accountNumber }),
    );
    if (own.length === 0) {
      const first = parsed.statements[0];
      throw ReconciliationErrors.otherAccount(
        account.id,
        { account: first.accountIban ?? first.accountNumber, currency: first.currency },
        { last4: account.last4, currency: account.currency },
      );
    }
    const prepared = own.map((statement) => {
      const fingerprints = lineFingerprints(statement);
      return { statement, fingerprints, fingerprint: statementFingerprint(statement, fingerprints) };
    });

    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await runInTransaction(this.dataSource, (manager) => this.storeStatements(manager, account, prepared, parsed.statements.length - own.length, idempotency));
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
    prepared: { statement: ParsedStatement; fingerprints: string[]; fingerprint: string }[],
    otherAccountStatementCount: number,
    idempotency: IdempotencyHandle | undefined,
  ): Promise<ImportResult> {
    const { tenantId } = account;
    // One import at a time per bank account: the fingerprint look-ups below then see every line committed before.
    if (this.kind === 'mysql') await manager.query('SELECT id FROM bank_accounts WHERE id = ? FOR UPDATE', [account.id]);
    const now = this.clock.now();
    const statements: BankStatementRecord[] = [];
    const flags: ReconciliationFlagRecord[] = [];
    let importedLineCount = 0;
    let duplicateLineCount = 0;
    const storedThisImport = new Set<string>();
    const statementsThisImport = new Map<string, BankStatementRecord>();

    for (const { statement, fingerprints, fingerprint } of prepared) {
      const existing = statementsThisImport.get(fingerprint) ?? (await this.statementByFingerprint(manager, account, fingerprint));
      if (existing) {
        statements.push(existing);
        duplicateLineCount += statement.lines.length;
        continue;
      }
      const known = await this.knownFingerprints(manager, account, fingerprints);
      const fresh = statement.lines
        .map((line, index) => ({ line, fingerprint: fingerprints[index] }))
        .filter(({ fingerprint: lineFingerprint }) => !known.has(lineFingerprint) && !storedThisImport.has(lineFingerprint));
      const record: BankStatementRecord = {
        id: newId('bankStatement'),
        tenantId,
        bankAccountId: account.id,
        format: statement.format,
        statementRef: clip(statement.statementId, 255),
        fromDate: statement.fromDate,
        toDate: statement.toDate,
        currency: statement.currency,
        openingBalanceMinor: statement.openingBalance?.amountMinor ?? null,
        openingBalanceDate: statement.openingBalance?.date ?? null,
        closingBalanceMinor: statement.closingBalance?.amountMinor ?? null,
        closingBalanceDate: statement.closingBalance?.date ?? null,
        lineCount: statement.lines.length,
        importedLineCount: fresh.length,
        duplicateLineCount: statement.lines.length - fresh.length,
        importedAt: now,
      };
      await manager.query(
        `INSERT INTO bank_statements (id, tenant_id, bank_account_id, format, statement_ref, from_date, to_date, currency, opening_balance_minor,
                                      opening_balance_date, closing_balance_minor, closing_balance_date, line_count, imported_line_count,
                                      duplicate_line_count, fingerprint, imported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          record.id,
          tenantId,
          account.id,
          record.format,
          record.statementRef,
          record.fromDate,
          record.toDate,
          record.currency,
          this.minorOrNull(record.openingBalanceMinor),
          record.openingBalanceDate,
          this.minorOrNull(record.closingBalanceMinor),
          record.closingBalanceDate,
          record.lineCount,
          record.importedLineCount,
          record.duplicateLineCount,
          fingerprint,
          toDbTimestamp(now),
        ],
      );
      for (const chunk of chunks(fresh, LINE_INSERT_CHUNK)) {
        const placeholders = chunk.map(() => `(${LINE_COLUMNS.map(() => '?').join(', ')})`).join(', ');
        const params = chunk.flatMap(({ line, fingerprint: lineFingerprint }) => [
          newId('bankStatementLine'),
          tenantId,
          account.id,
          record.id,
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
          lineFingerprint,
          toDbTimestamp(now),
        ]);
        await manager.query(`INSERT INTO statement_lines (${LINE_COLUMNS.join(', ')}) VALUES ${placeholders}`, params);
      }
      for (const { fingerprint: lineFingerprint } of fresh) storedThisImport.add(lineFingerprint);
      importedLineCount += record.importedLineCount;
      duplicateLineCount += record.duplicateLineCount;
      statements.push(record);
      statementsThisImport.set(fingerprint, record);

      const check = statement.balanceCheck;
      if (check && (check.differenceMinor !== 0n || check.excludedLineCount > 0)) {
        flags.push(
          await this.flags.raise(manager, {
            tenantId,
            bankAccountId: account.id,
            kind: ReconciliationFlagKind.STATEMENT_BALANCE_MISMATCH,
            subject: `statement:${record.id}`,
            details: {
              statementId: record.id,
              statementRef: record.statementRef,
              currency: record.currency,
              openingBalance: formatMinorAsDecimal(statement.openingBalance?.amountMinor ?? 0n, record.currency),
              statedClosingBalance: formatMinorAsDecimal(check.statedClosingMinor, record.currency),
              expectedClosingBalance: formatMinorAsDecimal(check.expectedClosingMinor, record.currency),
              difference: formatMinorAsDecimal(check.differenceMinor, record.currency),
              linesInOtherCurrencies: check.excludedLineCount,
            },
          }),
        );
      }
    }

    if (idempotency && this.idempotency) {
      const ref: ImportResultRef = {
        statementIds: statements.map((s) => s.id),
        importedLineCount,
        duplicateLineCount,
        otherAccountStatementCount,
        flagIds: flags.map((f) => f.id),
      };
      await this.idempotency.complete(manager, idempotency, { resultRef: ref });
    }
    return { statements, importedLineCount, duplicateLineCount, otherAccountStatementCount, flags };
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
      otherAccountStatementCount: ref.otherAccountStatementCount,
      flags,
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
