import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { isKnownCurrency } from '../common/money';
import { echoOfInput } from '../common/echo';

function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'VALIDATION_FAILED' } });
}

/**
 * A decimal number in major units, as a string ("12.34"). Strings only: a JSON number may already have
 * lost digits before it reached us. How many decimals are allowed depends on the currency, which the
 * service checks next to it.
 */
export const DecimalScalar = new GraphQLScalarType({
  name: 'Decimal',
  description: 'A decimal number in major units, as a string such as "12.34". Never a float.',
  serialize: (value) => String(value),
  parseValue: (value) => {
    if (typeof value !== 'string') throw badInput('Decimal values are strings such as "12.34", not numbers');
    return value;
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badInput('Decimal values are strings such as "12.34", not numbers');
    return ast.value;
  },
});

/** A signed 64-bit integer, as a string: JSON numbers lose precision past 2^53. */
export const BigIntScalar = new GraphQLScalarType({
  name: 'BigInt',
  description: 'A signed 64-bit integer as a string, such as "1234". Minor units of money use it.',
  serialize: (value) => {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'string' && /^-?\d+$/.test(value)) return value;
    throw new TypeError(`BigInt cannot represent ${String(value)}`);
  },
  parseValue: (value) => {
    if (typeof value !== 'string' || !/^-?\d{1,19}$/.test(value)) throw badInput('BigInt values are integer strings such as "1234"');
    return BigInt(value);
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING || !/^-?\d{1,19}$/.test(ast.value)) throw badInput('BigInt values are integer strings such as "1234"');
    return BigInt(ast.value);
  },
});

function parseCurrency(value: unknown): string {
  if (typeof value !== 'string' || !isKnownCurrency(value)) {
    throw badInput(`Unknown currency ${JSON.stringify(echoOfInput(value))}: expected an active ISO 4217 code such as "USD"`);
  }
  return value;
}

export const CurrencyScalar = new GraphQLScalarType({
  name: 'Currency',
  description: 'An active ISO 4217 currency code, such as "USD", "JPY" or "KWD".',
  serialize: (value) => String(value),
  parseValue: parseCurrency,
  parseLiteral: (ast) => parseCurrency(ast.kind === Kind.STRING ? ast.value : undefined),
});
