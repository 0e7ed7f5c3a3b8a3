import { echoOfInput } from '../../common/echo';
import { validationError } from '../../common/errors';
import { parseDecimalToMinor } from '../../common/money';
import { AccountNumberKind, type BankAccountRecord } from './reconciliation.types';
import { type ParsedFile, type ParsedLine, StatementFormat } from './importers/statement-types';

/**
 * A single-transaction push: the JSON body a bank sends to `POST /bank-accounts/:id/notifications`
 * (Content-Type application/json) for one transaction as it happens:
 *
 *     { "transactionId": "TX-2026-000123",        required: the bank's id of the transaction (its camt AcctSvcrRef)
 *       "amount": "-12.50",                      required: decimal major units, signed (money in positive) …
 *       "creditDebit": "DEBIT",                  … or unsigned with CREDIT (money in) / DEBIT (money out)
 *       "currency": "EUR",                       required: the bank account's currency
 *       "bookingDate": "2026-12-01",             required, YYYY-MM-DD
 *       "valueDate": "2026-12-01",               optional
 *       "status": "BOOKED",                      optional: BOOKED (default), PENDING or INFO
 *       "endToEndId": "INV-1001",                optional, and the rest too
 *       "counterpartyName": "…", "counterpartyAccount": "…",
 *       "remittanceInformation": "…", "description": "…" }
 *
 * It becomes one statement line, the way the camt importer reads a camt entry: transactionId is the
 * bank reference, so the line's fingerprint is the one the same transaction has in the later camt.053
 * statement (reference, end-to-end id, amount, currency and booking date). Unknown fields and every
 * malformed value are refused with VALIDATION_FAILED naming the field; null counts as absent.
 */
export const TRANSACTION_PUSH_FIELDS = [
  'transactionId',
  'amount',
  'creditDebit',
  'currency',
  'bookingDate',
  'valueDate',
  'status',
  'endToEndId',
  'counterpartyName',
  'counterpartyAccount',
  'remittanceInformation',
  'description',
] as const;

/** statement_lines' reference, name and account columns hold 255 characters. */
const SHORT_TEXT_MAX_LENGTH = 255;
/** Remittance information and descriptions: camt's Ustrd is 140 characters, several of them joined. */
const LONG_TEXT_MAX_LENGTH = 2000;
/** Printable ASCII, neither beginning nor ending with a space: ids are compared byte for byte. */
const IDENTIFIER_PATTERN = /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/;
const UNSIGNED_DECIMAL_PATTERN = /^\d+(?:\.\d+)?$/;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
/** C0 and C1 control characters, DEL included: texts are shown in dashboards and written to exports. */
const CONTROL_CHARACTERS = /\p{Cc}/u;
const STATUSES: readonly ParsedLine['status'][] = ['BOOKED', 'PENDING', 'INFO'];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireIdentifier(value: unknown, field: string): string {
  if (typeof value !== 'string') throw validationError(`${field} must be a string`, { field });
  if (value.length === 0 || value.length > SHORT_TEXT_MAX_LENGTH) {
    throw validationError(`${field} must be 1 to ${SHORT_TEXT_MAX_LENGTH} characters`, { field, maxLength: SHORT_TEXT_MAX_LENGTH });
  }
  if (!IDENTIFIER_PATTERN.test(value)) throw validationError(`${field} may hold only printable ASCII characters, and must not begin or end with a space`, { field });
  return value;
}

function requireText(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string') throw validationError(`${field} must be a string`, { field });
  if (value.trim().length === 0) throw validationError(`${field} must not be empty; leave it out instead`, { field });
  if (value.length > maxLength) throw validationError(`${field} is longer than ${maxLength} characters`, { field, maxLength });
  if (CONTROL_CHARACTERS.test(value)) throw validationError(`${field} must not contain control characters`, { field });
  return value.trim();
}

function requireDate(value: unknown, field: string): string {
  const match = typeof value === 'string' ? DATE_PATTERN.exec(value) : null;
  if (!match) throw validationError(`${field} must be a date as YYYY-MM-DD`, { field });
  const [, year, month, day] = match.map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (year < 1900 || date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw validationError(`${field} "${echoOfInput(value)}" is not a calendar date`, { field });
  }
  return value as string;
}

/** The signed amount in minor units, from a signed decimal or an unsigned one with creditDebit. */
function amountOf(json: Record<string, unknown>, currency: string, given: (field: string) => boolean): bigint {
  if (typeof json.amount !== 'string') throw validationError('amount must be a decimal string such as "-12.50"', { field: 'amount' });
  let minor: bigint;
  if (given('creditDebit')) {
    if (json.creditDebit !== 'CREDIT' && json.creditDebit !== 'DEBIT') {
      throw validationError('creditDebit must be CREDIT or DEBIT', { field: 'creditDebit', allowed: ['CREDIT', 'DEBIT'] });
    }
    // Two ways of giving the sign at once could disagree: the amount is unsigned when creditDebit is given.
    if (!UNSIGNED_DECIMAL_PATTERN.test(json.amount)) {
      throw validationError('amount must be unsigned when creditDebit gives the direction', { field: 'amount' });
    }
    const magnitude = parseDecimalToMinor(json.amount, currency, 'amount');
    minor = json.creditDebit === 'DEBIT' ? -magnitude : magnitude;
  } else {
    minor = parseDecimalToMinor(json.amount, currency, 'amount');
  }
  if (minor === 0n) throw validationError('amount must not be zero', { field: 'amount' });
  return minor;
}

/**
 * Reads a push for `account` into the shape every importer returns: one statement of one line, named
 * for the account itself (the URL chose it; the push names no account). Throws VALIDATION_FAILED with
 * `details.field` on the first field at fault.
 */
export function parseTransactionPush(json: unknown, account: Pick<BankAccountRecord, 'accountNumberKind' | 'accountNumber' | 'currency'>): ParsedFile {
  if (!isPlainObject(json)) throw validationError('the body must be a JSON object', { field: 'body' });
  const unknown = Object.keys(json).find((key) => !(TRANSACTION_PUSH_FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) {
    const field = echoOfInput(unknown);
    throw validationError(`${field} is not a field of a transaction push`, { field });
  }
  // An optional field sent as null is taken as absent, as most JSON encoders write a missing value.
  const given = (field: string) => json[field] !== undefined && json[field] !== null;

  const transactionId = requireIdentifier(json.transactionId, 'transactionId');
  if (typeof json.currency !== 'string') throw validationError('currency must be a string such as "EUR"', { field: 'currency' });
  if (json.currency !== account.currency) {
    throw validationError(`currency must be the bank account's currency, ${account.currency}`, { field: 'currency', expected: account.currency });
  }
  const currency = account.currency;
  const amountMinor = amountOf(json, currency, given);
  const bookingDate = requireDate(json.bookingDate, 'bookingDate');
  const valueDate = given('valueDate') ? requireDate(json.valueDate, 'valueDate') : null;
  let status: ParsedLine['status'] = 'BOOKED';
  if (given('status')) {
    if (!(STATUSES as readonly unknown[]).includes(json.status)) throw validationError(`status must be one of ${STATUSES.join(', ')}`, { field: 'status', allowed: [...STATUSES] });
    status = json.status as ParsedLine['status'];
  }
  const optional = (field: string, read: (value: unknown, name: string) => string) => (given(field) ? read(json[field], field) : null);

  const line: ParsedLine = {
    amountMinor,
    currency,
    bookingDate,
    valueDate,
    bankReference: transactionId,
    endToEndId: optional('endToEndId', requireIdentifier),
    counterpartyName: optional('counterpartyName', (value, field) => requireText(value, field, SHORT_TEXT_MAX_LENGTH)),
    counterpartyAccount: optional('counterpartyAccount', requireIdentifier),
    remittanceInformation: optional('remittanceInformation', (value, field) => requireText(value, field, LONG_TEXT_MAX_LENGTH)),
    description: optional('description', (value, field) => requireText(value, field, LONG_TEXT_MAX_LENGTH)),
    status,
    sourceLocation: 'push',
  };
  const iban = account.accountNumberKind === AccountNumberKind.IBAN;
  return {
    format: StatementFormat.PUSH,
    statements: [
      {
        format: StatementFormat.PUSH,
        statementId: transactionId,
        accountIban: iban ? account.accountNumber : null,
        accountNumber: iban ? null : account.accountNumber,
        currency,
        fromDate: bookingDate,
        toDate: bookingDate,
        openingBalance: null,
        closingBalance: null,
        balances: [],
        lines: [line],
        entryCount: 1,
        balanceCheck: null,
      },
    ],
  };
}
