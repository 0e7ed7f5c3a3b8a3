import {
  currencyExponent,
  formatMinorAsDecimal,
  MAX_MINOR_UNITS,
  parseDecimalToMinor,
  parsePositiveAmount,
  toBigInt,
} from '../../src/common/money';
import { AppError, ErrorCode } from '../../src/common/errors';

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseDecimalToMinor', () => {
  it.each([
    ['12.34', 'USD', 1234n],
    ['0.01', 'USD', 1n],
    ['12', 'USD', 1200n],
    ['12.3', 'USD', 1230n],
    ['-5.00', 'EUR', -500n],
    ['100', 'JPY', 100n],
    ['1.234', 'KWD', 1234n],
    ['0.0001', 'CLF', 1n],
    ['92233720368547758.07', 'USD', MAX_MINOR_UNITS],
    ['000012.50', 'USD', 1250n],
  ])('%s %s is %s minor units', (amount, currency, expected) => {
    expect(parseDecimalToMinor(amount, currency)).toBe(expected);
  });

  it.each([
    ['1.001', 'USD', 'decimals'],
    ['1.5', 'JPY', 'decimals'],
    ['1.2345', 'KWD', 'decimals'],
    ['92233720368547758.08', 'USD', 'out of range'],
    ['9223372036854775808', 'JPY', 'out of range'],
    ['1e3', 'USD', 'not a decimal'],
    ['+1.00', 'USD', 'not a decimal'],
    [' 1.00', 'USD', 'not a decimal'],
    ['1,00', 'USD', 'not a decimal'],
    ['.5', 'USD', 'not a decimal'],
    ['5.', 'USD', 'not a decimal'],
    ['', 'USD', 'not a decimal'],
    ['NaN', 'USD', 'not a decimal'],
  ])('refuses %s %s (%s)', (amount, currency, reason) => {
    const error = refusal(() => parseDecimalToMinor(amount, currency));
    expect(error.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(error.message).toContain(reason);
  });

  it('refuses unknown currencies', () => {
    expect(refusal(() => parseDecimalToMinor('1.00', 'XYZ')).code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(refusal(() => parseDecimalToMinor('1.00', 'usd')).code).toBe(ErrorCode.VALIDATION_FAILED);
  });

  it('parsePositiveAmount refuses zero and negatives', () => {
    expect(refusal(() => parsePositiveAmount('0.00', 'USD')).message).toContain('greater than zero');
    expect(refusal(() => parsePositiveAmount('-1.00', 'USD')).message).toContain('greater than zero');
    expect(parsePositiveAmount('0.01', 'USD')).toBe(1n);
  });
});

describe('formatMinorAsDecimal', () => {
  it.each([
    [1234n, 'USD', '12.34'],
    [1n, 'USD', '0.01'],
    [0n, 'USD', '0.00'],
    [-5n, 'USD', '-0.05'],
    [100n, 'JPY', '100'],
    [-100n, 'JPY', '-100'],
    [1234n, 'KWD', '1.234'],
    [MAX_MINOR_UNITS, 'USD', '92233720368547758.07'],
  ])('%s %s is "%s"', (minor, currency, expected) => {
    expect(formatMinorAsDecimal(minor, currency)).toBe(expected);
  });

  it('round-trips with parsing for every exponent', () => {
    for (const currency of ['JPY', 'USD', 'KWD', 'CLF']) {
      for (const minor of [0n, 1n, -1n, 99n, 1000n, 123456789n, MAX_MINOR_UNITS, -MAX_MINOR_UNITS]) {
        expect(parseDecimalToMinor(formatMinorAsDecimal(minor, currency), currency)).toBe(minor);
      }
    }
  });
});

describe('currency exponents (ISO 4217)', () => {
  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['KWD', 3],
    ['BHD', 3],
    ['TND', 3],
    ['CLF', 4],
  ])('%s has %s decimals', (currency, exponent) => {
    expect(currencyExponent(currency)).toBe(exponent);
  });
});

describe('toBigInt', () => {
  it('reads driver values exactly', () => {
    expect(toBigInt('9223372036854775807')).toBe(MAX_MINOR_UNITS);
    expect(toBigInt(12n)).toBe(12n);
    expect(toBigInt(12)).toBe(12n);
    expect(() => toBigInt(2 ** 60)).toThrow(RangeError);
    expect(() => toBigInt('12.5')).toThrow(RangeError);
  });
});
