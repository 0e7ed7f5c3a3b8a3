import { validationError } from './errors';
import { echoOfInput } from './echo';

/**
 * ISO 4217 active currencies and their minor-unit exponents (the number of decimals an amount may
 * carry). Funds codes without minor units (XAU, XDR, XTS, XXX…) are deliberately absent: they cannot
 * be booked in minor units.
 */
const EXPONENT_ZERO = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF';
const EXPONENT_THREE = 'BHD IQD JOD KWD LYD OMR TND';
const EXPONENT_FOUR = 'CLF UYW';
const EXPONENT_TWO =
  'AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD ' +
  'CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP ' +
  'GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD ' +
  'MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP ' +
  'PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT ' +
  'TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG';

const CURRENCY_EXPONENTS: ReadonlyMap<string, number> = new Map([
  ...EXPONENT_ZERO.split(' ').map((code) => [code, 0] as const),
  ...EXPONENT_TWO.split(' ').map((code) => [code, 2] as const),
  ...EXPONENT_THREE.split(' ').map((code) => [code, 3] as const),
  ...EXPONENT_FOUR.split(' ').map((code) => [code, 4] as const),
]);

/** Largest amount a BIGINT column holds: 2^63 - 1 minor units. */
export const MAX_MINOR_UNITS = 2n ** 63n - 1n;
export const MIN_MINOR_UNITS = -(2n ** 63n);

export function isKnownCurrency(code: string): boolean {
  return CURRENCY_EXPONENTS.has(code);
}

export function currencyExponent(currency: string): number {
  const exponent = CURRENCY_EXPONENTS.get(currency);
  if (exponent === undefined) {
    const echo = echoOfInput(currency);
    throw validationError(`Unknown currency "${echo}": expected an ISO 4217 code`, { currency: echo });
  }
  return exponent;
}

export function requireCurrency(currency: string, field = 'currency'): string {
  if (!isKnownCurrency(currency)) {
    const echo = echoOfInput(currency);
    throw validationError(`Unknown currency "${echo}": expected an active ISO 4217 code such as USD`, { field, currency: echo });
  }
  return currency;
}

const DECIMAL_PATTERN = /^(-)?(\d+)(?:\.(\d+))?$/;

/**
 * Parses a decimal string in major units ("12.34") into minor units, exactly. Refuses, rather than
 * rounds, anything that does not fit the currency: more decimals than its exponent allows, or a value
 * outside the signed 64-bit range. Signs are accepted here; callers decide whether a negative or zero
 * amount makes sense.
 */
export function parseDecimalToMinor(amount: string, currency: string, field = 'amount'): bigint {
  const exponent = currencyExponent(currency);
  const match = DECIMAL_PATTERN.exec(amount);
  const echo = echoOfInput(amount);
  if (!match) {
    throw validationError(`${field} "${echo}" is not a decimal number such as "12.34"`, { field, amount: echo });
  }
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > exponent) {
    throw validationError(
      `${field} "${echo}" has ${fraction.length} decimals; ${currency} allows at most ${exponent}`,
      { field, amount: echo, currency, maxDecimals: exponent },
    );
  }
  // More than 19 significant digits is out of range whatever they are: refused before BigInt reads a
  // 100 kB string of digits.
  if (whole.replace(/^0+/, '').length + exponent > 19) {
    throw validationError(`${field} "${echo}" is out of range: at most ${MAX_MINOR_UNITS} minor units`, { field, amount: echo });
  }
  const digits = whole + fraction.padEnd(exponent, '0');
  const magnitude = BigInt(digits);
  const minor = sign ? -magnitude : magnitude;
  if (minor > MAX_MINOR_UNITS || minor < MIN_MINOR_UNITS) {
    throw validationError(`${field} "${echo}" is out of range: at most ${MAX_MINOR_UNITS} minor units`, { field, amount: echo });
  }
  return minor;
}

/** Same as parseDecimalToMinor, and the result must be greater than zero. */
export function parsePositiveAmount(amount: string, currency: string, field = 'amount'): bigint {
  const minor = parseDecimalToMinor(amount, currency, field);
  if (minor <= 0n) {
    const echo = echoOfInput(amount);
    throw validationError(`${field} must be greater than zero, got "${echo}"`, { field, amount: echo });
  }
  return minor;
}

/** Formats minor units as a decimal string in major units with exactly the currency's decimals. */
export function formatMinorAsDecimal(minor: bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString();
  if (exponent === 0) return (negative ? '-' : '') + digits;
  const padded = digits.padStart(exponent + 1, '0');
  const whole = padded.slice(0, padded.length - exponent);
  const fraction = padded.slice(padded.length - exponent);
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

/** Converts a database or driver value (string, number or bigint) into bigint without losing precision. */
export function toBigInt(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`Unsafe integer from the database: ${value}`);
    return BigInt(value);
  }
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (value === null || value === undefined) return 0n;
  throw new RangeError(`Not an integer: ${String(value)}`);
}

export function isWithinInt64(value: bigint): boolean {
  return value <= MAX_MINOR_UNITS && value >= MIN_MINOR_UNITS;
}
