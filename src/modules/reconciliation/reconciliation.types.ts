import { toBigInt } from '../../common/money';
import { fromDbTimestamp } from '../../common/timestamps';
import type { BankAccountMatchingSettings } from './bank-account-matching';
import type { StatementFormat } from './importers/statement-types';

/** Plain records of the reconciliation module, as the service reads and returns them. */

/** The encrypted columns of bank_accounts, for the service and for `keys reencrypt`. */
export const BANK_ACCOUNT_ENCRYPTED_COLUMNS = { table: 'bank_accounts', columns: ['account_number_ciphertext', 'notification_secret_ciphertext'] } as const;

export enum AccountNumberKind {
  IBAN = 'IBAN',
  OTHER = 'OTHER',
}

export enum StatementLineStatus {
  BOOKED = 'BOOKED',
  PENDING = 'PENDING',
  INFO = 'INFO',
}

/** How a statement row came: an imported statement file, or a real-time notification from the bank. */
export enum StatementSource {
  STATEMENT = 'STATEMENT',
  NOTIFICATION = 'NOTIFICATION',
}

export enum ReconciliationFlagKind {
  UNMATCHED_STATEMENT_LINE = 'UNMATCHED_STATEMENT_LINE',
  UNMATCHED_LEDGER_ENTRY = 'UNMATCHED_LEDGER_ENTRY',
  AMOUNT_MISMATCH = 'AMOUNT_MISMATCH',
  AMBIGUOUS_MATCH = 'AMBIGUOUS_MATCH',
  DUPLICATE_STATEMENT_LINE = 'DUPLICATE_STATEMENT_LINE',
  STATEMENT_BALANCE_MISMATCH = 'STATEMENT_BALANCE_MISMATCH',
  PAYOUT_MISMATCH = 'PAYOUT_MISMATCH',
  GATEWAY_MISMATCH = 'GATEWAY_MISMATCH',
  INVOICE_AMOUNT_MISMATCH = 'INVOICE_AMOUNT_MISMATCH',
  INVOICE_NOT_PAYABLE = 'INVOICE_NOT_PAYABLE',
}

export enum ReconciliationFlagStatus {
  OPEN = 'OPEN',
  ACKNOWLEDGED = 'ACKNOWLEDGED',
  RESOLVED = 'RESOLVED',
}

export interface BankAccountRecord {
  id: string;
  tenantId: string;
  name: string;
  accountNumberKind: AccountNumberKind;
  /** Decrypted, normalised (an IBAN in electronic format). Never leaves the service for a client. */
  accountNumber: string;
  last4: string;
  currency: string;
  ledgerAccountId: string;
  /** The same as matching.windowBusinessDays (one column holds it), kept for the code that reads it here. */
  matchWindowBusinessDays: number;
  matching: BankAccountMatchingSettings;
  createdAt: Date;
}

export interface BankStatementRecord {
  id: string;
  tenantId: string;
  bankAccountId: string;
  format: StatementFormat;
  statementRef: string | null;
  fromDate: string | null;
  toDate: string | null;
  currency: string;
  openingBalanceMinor: bigint | null;
  openingBalanceDate: string | null;
  closingBalanceMinor: bigint | null;
  closingBalanceDate: string | null;
  lineCount: number;
  importedLineCount: number;
  duplicateLineCount: number;
  /** Lines a notification had stored before that this statement holds too (0 for a notification). */
  confirmedLineCount: number;
  source: StatementSource;
  importedAt: Date;
}

export interface StatementLineRecord {
  id: string;
  tenantId: string;
  bankAccountId: string;
  statementId: string;
  amountMinor: bigint;
  currency: string;
  bookingDate: string | null;
  valueDate: string | null;
  bankReference: string | null;
  endToEndId: string | null;
  counterpartyName: string | null;
  counterpartyAccount: string | null;
  remittanceInformation: string | null;
  description: string | null;
  status: StatementLineStatus;
  sourceLocation: string;
  fingerprint: string;
  /** For a line a notification stored: the statement that later held it too; null until then (and for statement lines). */
  confirmedByStatementId: string | null;
  createdAt: Date;
}

export interface ReconciliationFlagRecord {
  id: string;
  tenantId: string;
  /** Null for gateway-side flags (PAYOUT_MISMATCH, GATEWAY_MISMATCH), which no bank account causes. */
  bankAccountId: string | null;
  kind: ReconciliationFlagKind;
  status: ReconciliationFlagStatus;
  subject: string;
  sequence: number;
  details: Record<string, unknown>;
  occurrenceCount: number;
  createdAt: Date;
  updatedAt: Date;
}

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const minorOrNull = (value: unknown): bigint | null => (value === null || value === undefined ? null : toBigInt(value));

export function statementFromRow(row: Record<string, unknown>): BankStatementRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    bankAccountId: String(row.bank_account_id),
    format: row.format as StatementFormat,
    statementRef: text(row.statement_ref),
    fromDate: text(row.from_date),
    toDate: text(row.to_date),
    currency: String(row.currency),
    openingBalanceMinor: minorOrNull(row.opening_balance_minor),
    openingBalanceDate: text(row.opening_balance_date),
    closingBalanceMinor: minorOrNull(row.closing_balance_minor),
    closingBalanceDate: text(row.closing_balance_date),
    lineCount: Number(row.line_count),
    importedLineCount: Number(row.imported_line_count),
    duplicateLineCount: Number(row.duplicate_line_count),
    confirmedLineCount: Number(row.confirmed_line_count ?? 0),
    source: (row.source ?? StatementSource.STATEMENT) as StatementSource,
    importedAt: fromDbTimestamp(row.imported_at),
  };
}

export function lineFromRow(row: Record<string, unknown>): StatementLineRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    bankAccountId: String(row.bank_account_id),
    statementId: String(row.statement_id),
    amountMinor: toBigInt(row.amount_minor),
    currency: String(row.currency),
    bookingDate: text(row.booking_date),
    valueDate: text(row.value_date),
    bankReference: text(row.bank_reference),
    endToEndId: text(row.end_to_end_id),
    counterpartyName: text(row.counterparty_name),
    counterpartyAccount: text(row.counterparty_account),
    remittanceInformation: text(row.remittance_information),
    description: text(row.description),
    status: row.status as StatementLineStatus,
    sourceLocation: String(row.source_location),
    fingerprint: String(row.fingerprint),
    confirmedByStatementId: text(row.confirmed_by_statement_id),
    createdAt: fromDbTimestamp(row.created_at),
  };
}

export function flagFromRow(row: Record<string, unknown>): ReconciliationFlagRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    bankAccountId: text(row.bank_account_id),
    kind: row.kind as ReconciliationFlagKind,
    status: row.status as ReconciliationFlagStatus,
    subject: String(row.subject),
    sequence: Number(row.sequence),
    details: JSON.parse(String(row.details)) as Record<string, unknown>,
    occurrenceCount: Number(row.occurrence_count),
    createdAt: fromDbTimestamp(row.created_at),
    updatedAt: fromDbTimestamp(row.updated_at),
  };
}
