import fc from 'fast-check';
import type { Json } from './rest-client';

/**
 * fast-check arbitraries read off an OpenAPI document's JSON Schemas: `shapedBy` gives values of the
 * schema's shape whose leaves are wrong in every way the shape allows (unknown ids, codes nobody
 * issued, negative and 20-decimal amounts in the decimal pattern, dates long gone); `offSchema`
 * takes such a value and breaks the shape (wrong types, extra fields, missing fields, huge strings,
 * deep nesting, unicode, numbers where decimals are strings). Neither knows an operation: both follow
 * `$ref`, `anyOf`, type arrays, enums, objects (required and optional properties), arrays, strings by
 * pattern or format, integers and booleans, as the document has them.
 */

export interface ArbitraryOptions {
  /** Real ids (of any kind) the strings of an id-like schema draw from, beside ids nobody issued. */
  knownIds: readonly string[];
}

const DECIMAL_PATTERN = '^-?[0-9]+(\\.[0-9]+)?$';
const CURRENCY_PATTERN = '^[A-Z]{3}$';

/** Decimal strings that fit the pattern and are wrong for money: negative, zero, too precise, too large. */
const hostileDecimals = fc.constantFrom(
  '-12.34',
  '0',
  '0.00',
  '-0.01',
  '12.345',
  '0.00000000000000000001',
  '12.34567890123456789012',
  '99999999999999999999999999.99',
  '9223372036854775807',
  '1.5',
  '100',
);

const currencies = fc.constantFrom('USD', 'EUR', 'JPY', 'KWD', 'XXX', 'ABC', 'ZZZ');

/** An id of the ids' shape that nobody issued: a known prefix and a fresh ULID, or the prefix alone. */
function idLike(knownIds: readonly string[]): fc.Arbitrary<string> {
  const prefixes = [...new Set(knownIds.map((id) => id.split('_')[0]))];
  const ulid = fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...knownIds) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...prefixes), ulid).map(([prefix, suffix]) => `${prefix}_${suffix}`) },
    { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  );
}

const hostileStrings = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('', ' ', '\u0000', '\u202e\u0644\u0627', '💸💸', 'Ω≈ç√∫', "'; DROP TABLE accounts; --", '<script>alert(1)</script>', '../../etc/passwd', '%s%n', 'NaN'),
);

function dateTimes(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString()),
    fc.constantFrom('1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-02-30T00:00:00Z', '2026-01-01T00:00:00+14:00'),
  );
}

function dates(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString().slice(0, 10)),
    fc.constantFrom('2026-02-30', '0000-01-01', '2026-13-01', '31/12/2026'),
  );
}

function stringOf(schema: Json, options: ArbitraryOptions): fc.Arbitrary<string> {
  if (schema.pattern === DECIMAL_PATTERN) return fc.oneof(hostileDecimals, fc.stringMatching(new RegExp(DECIMAL_PATTERN)));
  if (schema.pattern === CURRENCY_PATTERN) return fc.oneof(currencies, fc.stringMatching(new RegExp(CURRENCY_PATTERN)));
  if (typeof schema.pattern === 'string') return fc.stringMatching(new RegExp(schema.pattern));
  if (schema.format === 'date-time') return dateTimes();
  if (schema.format === 'date') return dates();
  // An id-like string (the document's ID scalar has minLength 1): known ids and ids nobody issued.
  if (schema.minLength === 1) return idLike(options.knownIds);
  return hostileStrings;
}

function integerOf(schema: Json): fc.Arbitrary<number> {
  const min = typeof schema.minimum === 'number' ? schema.minimum : -2147483648;
  const max = typeof schema.maximum === 'number' ? schema.maximum : 2147483647;
  return fc.oneof(fc.integer({ min: Math.max(min, -5), max: Math.min(max, 100) }), fc.constantFrom(min, max, 0, -1));
}

const smallJson = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 3 });

export class SchemaArbitraries {
  private readonly cache = new Map<string, fc.Arbitrary<unknown>>();

  constructor(
    private readonly document: Json,
    private readonly options: ArbitraryOptions,
  ) {}

  private resolve(ref: string): Json {
    if (!ref.startsWith('#/')) throw new Error(`Only local references are followed: ${ref}`);
    return ref
      .slice(2)
      .split('/')
      .reduce((node: Json, part) => node[part.replace(/~1/g, '/').replace(/~0/g, '~')], this.document);
  }

  /** Values of the schema's shape (see the module comment); `depth` bounds recursive schemas. */
  shapedBy(schema: Json, depth = 0): fc.Arbitrary<unknown> {
    if (typeof schema.$ref === 'string') {
      const key = `${schema.$ref}@${depth}`;
      let cached = this.cache.get(key);
      if (!cached) {
        cached = this.shapedBy(this.resolve(schema.$ref), depth);
        this.cache.set(key, cached);
      }
      return cached;
    }
    if (Array.isArray(schema.anyOf)) return fc.oneof(...schema.anyOf.map((option: Json) => this.shapedBy(option, depth)));
    if (Array.isArray(schema.oneOf)) return fc.oneof(...schema.oneOf.map((option: Json) => this.shapedBy(option, depth)));
    if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum);
    if (Array.isArray(schema.type)) return fc.oneof(...schema.type.map((type: string) => this.shapedBy({ ...schema, type }, depth)));
    switch (schema.type) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'integer':
        return integerOf(schema);
      case 'number':
        return fc.double({ noNaN: true, noDefaultInfinity: true });
      case 'string':
        return stringOf(schema, this.options);
      case 'array':
        return depth > 3 ? fc.constant([]) : fc.array(this.shapedBy(schema.items ?? {}, depth + 1), { maxLength: 3 });
      case 'object': {
        const properties: Record<string, Json> = schema.properties ?? {};
        if (!Object.keys(properties).length) return schema.additionalProperties === false ? fc.constant({}) : smallJson;
        if (depth > 3) return fc.constant({});
        const record: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [name, property] of Object.entries(properties)) record[name] = this.shapedBy(property, depth + 1);
        return fc.record(record, { requiredKeys: (schema.required ?? []) as never[] });
      }
      default:
        return fc.oneof(hostileStrings, fc.integer(), fc.boolean(), fc.constant(null));
    }
  }

  /** A value of the schema's shape with its shape broken in one place (see the module comment). */
  offSchema(schema: Json): fc.Arbitrary<unknown> {
    const shaped = this.shapedBy(schema);
    return fc.oneof(
      fc.tuple(shaped, hostileValue(), fc.nat()).map(([value, replacement, pick]) => replaceSomewhere(value, replacement, pick)),
      fc.tuple(shaped, fc.string({ minLength: 1, maxLength: 20 }), hostileValue()).map(([value, name, extra]) => (isObject(value) ? { ...value, [name]: extra } : value)),
      fc.tuple(shaped, fc.nat()).map(([value, pick]) => removeSomewhere(value, pick)),
      hostileValue(),
    );
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function nested(depth: number, leaf: unknown, asArray: boolean): unknown {
  let value: unknown = leaf;
  for (let level = 0; level < depth; level += 1) value = asArray ? [value] : { a: value };
  return value;
}

/** A value that fits no field of any input: the wrong type, a number for a decimal, far too big, far too deep. */
export function hostileValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(12.34, -12.34, 1e308, -0, 0.1 + 0.2, 2 ** 53 + 1)) },
    { weight: 2, arbitrary: fc.oneof(fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({})) },
    { weight: 2, arbitrary: hostileStrings },
    { weight: 1, arbitrary: fc.constantFrom(70_000, 300_000).map((length) => 'x'.repeat(length)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(64, 500), fc.boolean()).map(([depth, asArray]) => nested(depth, 'deep', asArray)) },
    { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 5 }), { minLength: 200, maxLength: 400 }) },
  );
}

/** Every place in a value (objects' properties, arrays' items), as paths. */
function placesOf(value: unknown, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (Array.isArray(value)) value.forEach((item, index) => { out.push([...path, index]); placesOf(item, [...path, index], out); });
  else if (isObject(value)) for (const [key, item] of Object.entries(value)) { out.push([...path, key]); placesOf(item, [...path, key], out); }
  return out;
}

function cloned(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function replaceSomewhere(value: unknown, replacement: unknown, pick: number): unknown {
  const places = placesOf(value);
  if (!places.length) return replacement;
  const path = places[pick % places.length];
  const copy = cloned(value) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  parent[path[path.length - 1]] = replacement;
  return copy;
}

function removeSomewhere(value: unknown, pick: number): unknown {
  const places = placesOf(value).filter((path) => typeof path[path.length - 1] === 'string');
  if (!places.length) return value;
  const path = places[pick % places.length];
  const copy = cloned(value) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  delete parent[path[path.length - 1]];
  return copy;
}
