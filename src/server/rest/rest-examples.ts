import { ID_PREFIXES } from '../../common/ids';
import type { JsonSchema } from './rest-representation';

/**
 * Example values for the OpenAPI document, built from its own JSON Schemas so that every operation
 * shows a response (and every body a request) without a hand-written copy per type that would drift
 * from the schema. A value is built from the schema alone: a scalar's `examples`, an enum's first
 * value, an id with the prefix of the kind the property names (`paymentId`: `pay_…`), and for other
 * strings a word the property's name suggests. The unit test
 * `tests/unit/rest-openapi-document-current-and-examples-valid.test.ts` validates every example of the
 * document against its schema, so a schema this builder reads wrongly fails there, not in a reader's
 * client.
 */

const EXAMPLE_ULID = '01JFZQ7Y0C3V6D8M2N4P5Q6R7S';
const EXAMPLE_INSTANT = '2026-01-31T09:30:00Z';
const EXAMPLE_DATE = '2026-01-31';

/** Strings whose property name says what they hold; any other string is "string", as Swagger UI shows it. */
const STRINGS_BY_NAME: Record<string, string> = {
  name: 'Cash at bank',
  code: '1010',
  description: 'Table 12',
  email: 'billing@acme.example',
  url: 'https://books.example.com/hooks/reckon',
  reason: 'One item returned',
  note: 'Checked against the bank statement',
  memo: 'Thank you for your business',
  reference: 'TRF-1042',
  externalRef: 'order-1042',
  brand: 'visa',
  last4: '4242',
  line1: '1 Main Street',
  city: 'Springfield',
  postalCode: '12345',
  country: 'US',
  number: 'INV-2026-000042',
  paymentToken: 'tok_visa',
  prefix: 'rk_live_7Hq2',
  secret: 'rk_live_7Hq2…',
  iban: 'DE89370400440532013000',
  taxId: 'DE123456789',
  endToEndId: 'E2E-ORDER-1042',
  hash: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
  previousHash: '60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752',
  originIp: '203.0.113.7',
  requestId: `req_${EXAMPLE_ULID}`,
  // The gateway's own ids, not Reckon's.
  gatewayPaymentId: 'sim_pay_5f2c9a1e',
  gatewayRefundId: 'sim_re_7b1d3c2a',
  gatewayDisputeId: 'sim_dp_3e8a6f0b',
  dueDate: '2026-02-28',
  issueDate: EXAMPLE_DATE,
  receivedOn: EXAMPLE_DATE,
  cursor: 'Y3Vyc29yOjQy',
  nextCursor: 'Y3Vyc29yOjQy',
  previousCursor: 'Y3Vyc29yOjE',
};

/** Booleans that read best true in an example (a page with more after it, a balanced trial balance). */
const TRUE_BY_NAME = new Set(['hasMore', 'balanced', 'valid', 'hasHeader']);

/** The kinds of ids by their lower-camel name (`bankStatementLine`), and their prefixes. */
const ID_PREFIX_BY_KIND = new Map<string, string>(Object.entries(ID_PREFIXES));
ID_PREFIX_BY_KIND.set('endpoint', ID_PREFIXES.webhookEndpoint);
ID_PREFIX_BY_KIND.set('delivery', ID_PREFIXES.webhookDelivery);
ID_PREFIX_BY_KIND.set('event', ID_PREFIXES.webhookEvent);
ID_PREFIX_BY_KIND.set('gateway', ID_PREFIXES.paymentGateway);
ID_PREFIX_BY_KIND.set('flag', ID_PREFIXES.reconciliationFlag);
ID_PREFIX_BY_KIND.set('statement', ID_PREFIXES.bankStatement);
ID_PREFIX_BY_KIND.set('statementLine', ID_PREFIXES.bankStatementLine);
ID_PREFIX_BY_KIND.set('credential', ID_PREFIXES.apiKey);
ID_PREFIX_BY_KIND.set('actorCredential', ID_PREFIXES.apiKey);
// References named by their role rather than their type (an invoice's voidEntry is a journal entry).
ID_PREFIX_BY_KIND.set('entry', ID_PREFIXES.journalEntry);
ID_PREFIX_BY_KIND.set('reversalOf', ID_PREFIXES.journalEntry);
ID_PREFIX_BY_KIND.set('match', ID_PREFIXES.reconciliationMatch);
ID_PREFIX_BY_KIND.set('confirmedBy', ID_PREFIXES.bankStatement);

function lowerCamel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/**
 * The prefix of an id whose kind a name gives (`Payment`, `ledgerAccount`, `postingIds`): the whole
 * name, else its last words (`ledgerAccount` is an account).
 */
function idPrefixOf(kindName: string): string | undefined {
  const words = lowerCamel(kindName).replace(/s$/, '').split(/(?=[A-Z])/);
  for (let start = 0; start < words.length; start++) {
    const prefix = ID_PREFIX_BY_KIND.get(lowerCamel(words.slice(start).join('')));
    if (prefix) return prefix;
  }
  return undefined;
}

/** Where a value sits: the property's name and the component it belongs to, which name ids. */
interface Place {
  property?: string;
  component?: string;
}

/** Whether a property holds an id, and of which kind (by name). */
function idKindOf(place: Place): string | undefined {
  const { property, component } = place;
  if (property === 'id') return component;
  if (property && /Ids?$/.test(property)) return property.replace(/Ids?$/, '');
  return undefined;
}

function fitted(value: string, schema: JsonSchema): string {
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Infinity;
  const long = value.length < min ? value.padEnd(min, 'x') : value;
  return long.length > max ? long.slice(0, max) : long;
}

const NO_VALUE = Symbol('no value');

export class ExampleBuilder {
  constructor(private readonly components: Record<string, JsonSchema>) {}

  /**
   * An example value of a schema. `requiredOnly`: an input's example leaves optional fields out
   * (a request needs only those). Throws for a schema it cannot build a valid value for.
   */
  of(schema: JsonSchema, options: { requiredOnly?: boolean } = {}): unknown {
    const value = this.build(schema, {}, [], options.requiredOnly ?? false);
    if (value === NO_VALUE) throw new Error(`No example for ${JSON.stringify(schema).slice(0, 200)}`);
    return value;
  }

  /** An example of an id of a kind named by a path parameter (`paymentId`), if the name gives one. */
  static idExampleOf(name: string): string | undefined {
    const kind = idKindOf({ property: name });
    const prefix = kind ? idPrefixOf(kind) : undefined;
    return prefix ? `${prefix}_${EXAMPLE_ULID}` : undefined;
  }

  /** What a path parameter that names an id (`journalEntryId`) is, in words: "The journal entry’s id (je_…)." */
  static idDescriptionOf(name: string): string | undefined {
    const kind = idKindOf({ property: name });
    const prefix = kind ? idPrefixOf(kind) : undefined;
    if (!kind || !prefix) return undefined;
    return `The ${kind.replace(/[A-Z]/g, (letter) => ` ${letter.toLowerCase()}`)}’s id (${prefix}_…).`;
  }

  private build(schema: JsonSchema, place: Place, visiting: string[], requiredOnly: boolean): unknown {
    if (typeof schema.$ref === 'string') {
      const name = schema.$ref.split('/').pop() as string;
      const target = this.components[name];
      if (!target) throw new Error(`Unresolved ${schema.$ref}`);
      // A type inside itself (directly or further down) ends the example there: a nullable or list
      // place above it takes null or [] instead.
      if (visiting.includes(name)) return NO_VALUE;
      // A reference (`customer: { id }`) names its kind by the property that holds it.
      const component = name === 'Reference' ? (place.property ?? place.component) : name;
      return this.build(target, { ...place, component }, [...visiting, name], requiredOnly);
    }
    if (Array.isArray(schema.examples) && schema.examples.length > 0) return structuredClone(schema.examples[0]);
    if (schema.example !== undefined) return structuredClone(schema.example);
    if (Array.isArray(schema.enum)) return schema.enum.find((value) => value !== null) ?? null;
    if (Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf)) {
      const branches = (schema.anyOf ?? schema.oneOf) as JsonSchema[];
      for (const branch of branches) {
        if (branch.type === 'null') continue;
        const value = this.build(branch, place, visiting, requiredOnly);
        if (value !== NO_VALUE) return value;
      }
      return branches.some((branch) => branch.type === 'null') ? null : NO_VALUE;
    }
    const types = (Array.isArray(schema.type) ? schema.type : [schema.type]) as (string | undefined)[];
    const type = types.find((candidate) => candidate !== 'null');
    const orNull = (value: unknown) => (value === NO_VALUE && types.includes('null') ? null : value);
    switch (type) {
      case 'string':
        return this.string(schema, place);
      case 'integer': {
        const minimum = typeof schema.minimum === 'number' ? schema.minimum : 0;
        const maximum = typeof schema.maximum === 'number' ? schema.maximum : Infinity;
        return Math.min(Math.max(minimum, 1), maximum);
      }
      case 'number':
        return typeof schema.minimum === 'number' ? Math.max(schema.minimum, 0.5) : 0.5;
      case 'boolean':
        return TRUE_BY_NAME.has(place.property ?? '');
      case 'array': {
        const item = this.build((schema.items ?? {}) as JsonSchema, { ...place, property: place.property }, visiting, requiredOnly);
        return item === NO_VALUE ? [] : [item];
      }
      case 'object':
        return orNull(this.object(schema, place, visiting, requiredOnly));
      default:
        return types.includes('null') ? null : NO_VALUE;
    }
  }

  private string(schema: JsonSchema, place: Place): unknown {
    if (schema.format === 'date-time') return EXAMPLE_INSTANT;
    if (schema.format === 'date') return EXAMPLE_DATE;
    if (typeof schema.pattern === 'string') {
      // A pattern's value cannot be guessed; a schema with one carries its own examples.
      throw new Error(`A string schema with the pattern ${schema.pattern} has no examples`);
    }
    const known = place.property ? STRINGS_BY_NAME[place.property] : undefined;
    if (known) return fitted(known, schema);
    const kind = idKindOf(place);
    const prefix = kind ? idPrefixOf(kind) : undefined;
    return fitted(prefix ? `${prefix}_${EXAMPLE_ULID}` : 'string', schema);
  }

  private object(schema: JsonSchema, place: Place, visiting: string[], requiredOnly: boolean): unknown {
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required ?? []) as string[]);
    const value: Record<string, unknown> = {};
    for (const [property, propertySchema] of Object.entries(properties)) {
      if (requiredOnly && !required.has(property)) continue;
      const built = this.build(propertySchema, { property, component: place.component }, visiting, requiredOnly);
      if (built === NO_VALUE) {
        if (required.has(property)) return NO_VALUE;
        continue;
      }
      value[property] = built;
    }
    return value;
  }
}
