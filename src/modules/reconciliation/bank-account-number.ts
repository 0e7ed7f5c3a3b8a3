import { electronicFormatIBAN, ValidationErrorsIBAN, validateIBAN } from 'ibantools';
import { AccountNumberKind } from './reconciliation.types';
import { ReconciliationErrors } from './reconciliation.errors';

const IBAN_ERROR_TEXT: Partial<Record<ValidationErrorsIBAN, string>> = {
  [ValidationErrorsIBAN.NoIBANProvided]: 'empty',
  [ValidationErrorsIBAN.NoIBANCountry]: 'unknown country code',
  [ValidationErrorsIBAN.WrongBBANLength]: 'wrong length for its country',
  [ValidationErrorsIBAN.WrongBBANFormat]: 'wrong format for its country',
  [ValidationErrorsIBAN.ChecksumNotNumber]: 'check digits are not digits',
  [ValidationErrorsIBAN.WrongIBANChecksum]: 'check digits do not match',
  [ValidationErrorsIBAN.WrongAccountBankBranchChecksum]: 'national check digits do not match',
  [ValidationErrorsIBAN.QRIBANNotAllowed]: 'QR-IBAN not allowed',
};

const OTHER_NUMBER = /^[A-Z0-9]{4,34}$/;

/** An IBAN in electronic format (no spaces, upper case), checksum and country format checked; else VALIDATION_FAILED. */
export function normaliseIban(iban: string): string {
  const electronic = electronicFormatIBAN(iban) ?? '';
  const { valid, errorCodes } = validateIBAN(electronic);
  if (!valid) throw ReconciliationErrors.invalidIban(errorCodes.map((code) => IBAN_ERROR_TEXT[code] ?? `error ${code}`));
  return electronic;
}

/**
 * An account number without an IBAN, as compared with statements: letters and digits only, upper
 * case. Banks write the same number with spaces, dashes, slashes or a "~" check-digit separator.
 */
export function normaliseOtherNumber(number: string): string {
  return number.replace(/[^A-Za-z0-9]/g, '').toUpperCase();
}

export function requireOtherNumber(number: string): string {
  const normal = normaliseOtherNumber(number);
  if (!OTHER_NUMBER.test(normal)) throw ReconciliationErrors.invalidAccountNumber();
  return normal;
}

/** The IBAN a statement gives, in electronic format, or null when it is not a valid IBAN. */
function ibanOrNull(value: string | null): string | null {
  if (!value) return null;
  const electronic = electronicFormatIBAN(value);
  return electronic && validateIBAN(electronic).valid ? electronic : null;
}

/**
 * Whether the account a statement names is this bank account. A statement that names no account
 * (CSV exports) is taken as the account's. A national number (MT940's legacy :25:, an OFX ACCTID) is
 * the account's when it equals its number, or when it ends the account's IBAN (the IBAN's BBAN ends
 * with the national number in the countries that send such files: NL, DE, …).
 */
export function statementNamesAccount(
  account: { kind: AccountNumberKind; number: string },
  named: { iban: string | null; number: string | null },
): boolean {
  const namedIban = ibanOrNull(named.iban) ?? ibanOrNull(named.number);
  // An "IBAN" whose check digits fail (sample files have them) is compared as a plain number.
  const rawNumber = named.number ?? (namedIban ? null : named.iban);
  const namedNumber = rawNumber ? normaliseOtherNumber(rawNumber) : null;
  if (!namedIban && !namedNumber) return true;
  if (account.kind === AccountNumberKind.IBAN) {
    if (namedIban) return namedIban === account.number;
    return namedNumber !== null && (namedNumber === account.number || (namedNumber.length >= 6 && account.number.endsWith(namedNumber)));
  }
  if (namedNumber && namedNumber === account.number) return true;
  return namedIban !== null && namedIban === account.number;
}

export function accountNumberOf(input: { iban?: string | null; accountNumber?: string | null }): { kind: AccountNumberKind; number: string } {
  const hasIban = typeof input.iban === 'string' && input.iban.trim() !== '';
  const hasNumber = typeof input.accountNumber === 'string' && input.accountNumber.trim() !== '';
  if (hasIban === hasNumber) throw ReconciliationErrors.accountNumberRequired();
  return hasIban
    ? { kind: AccountNumberKind.IBAN, number: normaliseIban(input.iban as string) }
    : { kind: AccountNumberKind.OTHER, number: requireOtherNumber(input.accountNumber as string) };
}
