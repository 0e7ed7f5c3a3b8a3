import { currencyExponent, isKnownCurrency, MAX_MINOR_UNITS } from '../../../common/money';
import { StatementFormatError, quoted } from './statement-format.errors';
import { type BalanceCheck, type ParsedBalance, type ParsedLine, type StatementFormat } from './statement-types';

/**
 * Currencies replaced by the euro that old statements still carry (the cmxl MT940 sample is in DEM).
 * money.ts knows active codes only, since nothing is booked in them; a statement may still be read.
 */
const WITHDRAWN_CURRENCY_EXPONENTS: ReadonlyMap<string, number> = new Map([
  ['ATS', 2], ['BEF', 0], ['DEM', 2], ['ESP', 0], ['FIM', 2], ['FRF', 2], ['GRD', 0], ['IEP', 2], ['ITL', 0],
  ['LUF', 0], ['NLG', 2], ['PTE', 0], ['SIT', 2], ['CYP', 2], ['MTL', 2], ['SKK', 2], ['EEK', 2], ['LVL', 2], ['LTL', 2], ['HRK', 2],
]);

export function statementCurrencyExponent(format: StatementFormat, currency: string, location: string): number {
  if (isKnownCurrency(currency)) return currencyExponent(currency);
  const withdrawn = WITHDRAWN_CURRENCY_EXPONENTS.get(currency);
  if (withdrawn !== undefined) return withdrawn;
  throw new StatementFormatError(format, location, `unknown currency ${quoted(currency)}: expected an ISO 4217 code such as EUR`);
}

/**
 * An unsigned decimal ("1234.56", or "1234,56" with decimalComma; "500," and "500" too, as MT940 banks
 * write them) to minor units, exactly: more decimals than the currency has is refused, never rounded.
 */
export function parseUnsignedAmount(
  format: StatementFormat,
  text: string,
  currency: string,
  location: string,
  decimalMark: '.' | ',' = '.',
): bigint {
  const exponent = statementCurrencyExponent(format, currency, location);
  const pattern = decimalMark === ',' ? /^(\d+)(?:,(\d*))?$/ : /^(\d+)(?:\.(\d*))?$/;
  const match = pattern.exec(text);
  if (!match) throw new StatementFormatError(format, location, `amount ${quoted(text)} is not a decimal number`);
  const [, whole, rawFraction = ''] = match;
  // "8.850" EUR is exactly 8.85: zeros past the currency's decimals change nothing. Any other digit
  // there would need rounding, which never happens.
  const fraction = rawFraction.length > exponent && /^0+$/.test(rawFraction.slice(exponent)) ? rawFraction.slice(0, exponent) : rawFraction;
  if (fraction.length > exponent) {
    throw new StatementFormatError(format, location, `amount ${quoted(text)} has ${fraction.length} decimals; ${currency} has ${exponent} and amounts are never rounded`);
  }
  if (whole.replace(/^0+/, '').length + exponent > 19) {
    throw new StatementFormatError(format, location, `amount ${quoted(text)} is out of range`);
  }
  const minor = BigInt(whole + fraction.padEnd(exponent, '0'));
  if (minor > MAX_MINOR_UNITS) throw new StatementFormatError(format, location, `amount ${quoted(text)} is out of range`);
  return minor;
}

/** A decimal with an optional leading sign ("-12.30", "+5", "12.30"). */
export function parseSignedAmount(format: StatementFormat, text: string, currency: string, location: string, decimalMark: '.' | ',' = '.'): bigint {
  const trimmed = text.trim();
  const sign = trimmed.startsWith('-') ? -1n : 1n;
  const magnitude = parseUnsignedAmount(format, trimmed.replace(/^[-+]/, ''), currency, location, decimalMark);
  return sign * magnitude;
}

export function isoDate(format: StatementFormat, year: number, month: number, day: number, location: string, original: string): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (month < 1 || month > 12 || day < 1 || date.getUTCDate() !== day || date.getUTCMonth() !== month - 1) {
    throw new StatementFormatError(format, location, `date ${quoted(original)} is not a calendar date`);
  }
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** Opening + lines in the statement's currency against the stated closing balance; null when either balance is missing or in another currency. */
export function checkBalance(currency: string, opening: ParsedBalance | null, closing: ParsedBalance | null, lines: ParsedLine[]): BalanceCheck | null {
  let sum = 0n;
  let excluded = 0;
  for (const line of lines) {
    if (line.currency === currency) sum += line.amountMinor;
    else excluded += 1;
  }
  return balanceCheckOf(currency, opening, closing, sum, excluded);
}

/** The same check from running totals: the sum of the lines in the statement's currency and how many lines were in another. */
export function balanceCheckOf(currency: string, opening: ParsedBalance | null, closing: ParsedBalance | null, sumInCurrency: bigint, excludedLineCount: number): BalanceCheck | null {
  if (!opening || !closing || opening.currency !== currency || closing.currency !== currency) return null;
  const expected = opening.amountMinor + sumInCurrency;
  return {
    expectedClosingMinor: expected,
    statedClosingMinor: closing.amountMinor,
    differenceMinor: closing.amountMinor - expected,
    excludedLineCount,
  };
}

/** Text from a byte file: UTF-8 when the bytes are valid UTF-8, else Latin-1 (Windows-1252 for the printable range), which never fails. */
export function decodeText(content: Buffer | string, encoding?: 'utf-8' | 'latin1'): string {
  if (typeof content === 'string') return content;
  if (encoding === 'latin1') return new TextDecoder('windows-1252').decode(content);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    return new TextDecoder('windows-1252').decode(content);
  }
}

export function nonEmpty(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * fast-xml-parser's validator reports elements left open at the end of the input (a cut-off file) as
 * "Invalid '[\"a\", \"b\"]' found." at line 1: that becomes the path of the open elements.
 */
export function xmlValidationFailure(format: StatementFormat, error: { code: string; msg: string; line: number }): StatementFormatError {
  const open = /^Invalid '(\[[\s\S]*\])' found\.$/.exec(error.msg);
  if (error.code === 'InvalidXml' && open) {
    try {
      const names = JSON.parse(open[1]) as string[];
      return new StatementFormatError(format, names.join('/'), `the file ends before <${names[names.length - 1]}> and the elements around it are closed: it is cut short or incomplete`);
    } catch {
      // Not the list it usually is: fall through to the validator's own words.
    }
  }
  return new StatementFormatError(format, `line ${error.line}`, `not well-formed XML (${error.msg})`);
}

/** Bank statements never carry a DTD; one could only declare entities to expand (a billion-laughs file). */
export function refuseDoctype(format: StatementFormat, text: string): void {
  const doctype = /<!DOCTYPE/i.exec(text);
  if (doctype) {
    const line = text.slice(0, doctype.index).split('\n').length;
    throw new StatementFormatError(format, `line ${line}`, 'a <!DOCTYPE> declaration is not allowed in a bank statement');
  }
}
