import {
  getNamedType,
  type GraphQLField,
  type GraphQLInputObjectType,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';

/**
 * How the REST interface shows the GraphQL schema's types: which fields an object carries over REST
 * (its selection) and the JSON Schema of objects and inputs, both read off the schema, so the REST
 * representation, the OpenAPI document and the handlers' validation come from one definition.
 *
 * A REST object carries its type's own fields: scalars and enums, Money as `{ amount, currency }`,
 * embedded values (a card, an address, a posting list) in full, and another object it points at
 * (a Node: the payment's customer) as `{ id }` only. Fields that take arguments (a nested page, a
 * balance as of a date) are left out: REST has an operation of its own for each.
 */

export type JsonSchema = Record<string, unknown>;

/** The JSON Schema of each scalar; the GraphQL scalar still checks the value (a Currency must exist). */
const SCALAR_SCHEMAS: Record<string, JsonSchema> = {
  ID: { type: 'string', minLength: 1 },
  String: { type: 'string' },
  Int: { type: 'integer', format: 'int32', minimum: -2147483648, maximum: 2147483647 },
  Float: { type: 'number' },
  Boolean: { type: 'boolean' },
  DateTime: { type: 'string', format: 'date-time', examples: ['2026-01-31T09:30:00Z'] },
  LocalDate: { type: 'string', format: 'date', examples: ['2026-01-31'] },
  Decimal: { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]+)?$', description: 'A decimal number in major units, as a string such as "12.34". Never a float.', examples: ['12.34'] },
  BigInt: { type: 'string', pattern: '^-?[0-9]{1,19}$', description: 'A signed 64-bit integer as a string, such as "1234".', examples: ['1234'] },
  Currency: { type: 'string', pattern: '^[A-Z]{3}$', description: 'An active ISO 4217 currency code, such as "USD", "JPY" or "KWD".', examples: ['USD'] },
  JSONObject: { type: 'object', additionalProperties: true },
};

/** REST's money: the decimal amount and its currency (GraphQL's Money without minorUnits). */
export const MONEY_TYPE = 'Money';
const MONEY_SELECTION = '{ amount currency }';

/** A nested list's paging, as GraphQL pages it, turned into REST's list envelope (see rest.routes.ts). */
export const CONNECTION_SELECTION_TAIL = 'pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';

export function isNodeType(type: GraphQLNamedType): boolean {
  return isInterfaceType(type) || (isObjectType(type) && type.getInterfaces().some((face) => face.name === 'Node'));
}

export function isConnectionType(type: GraphQLNamedType): boolean {
  return isObjectType(type) && 'edges' in type.getFields() && 'pageInfo' in type.getFields();
}

function isListOf(type: GraphQLOutputType | GraphQLInputType): boolean {
  const inner = isNonNullType(type) ? type.ofType : type;
  return isListType(inner);
}

/** Whether a field is part of its type's REST representation, and how (see the module comment). */
function representationOf(field: GraphQLField<unknown, unknown>): 'leaf' | 'money' | 'reference' | 'embedded' | null {
  if (field.deprecationReason || field.args.length > 0) return null;
  const type = getNamedType(field.type);
  if (isLeafType(type)) return 'leaf';
  if (type.name === MONEY_TYPE) return 'money';
  if (isConnectionType(type)) return null;
  // A list of nodes without paging belongs to its parent (an entry's postings): embedded, not referenced.
  if (isNodeType(type) && !isListOf(field.type)) return 'reference';
  return 'embedded';
}

const MAX_EMBEDDING_DEPTH = 4;

/** The GraphQL selection set of a type's REST representation. */
export function selectionOf(type: GraphQLObjectType, depth = 0): string {
  if (type.name === MONEY_TYPE) return MONEY_SELECTION;
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    const kind = representationOf(field);
    if (kind === 'leaf') parts.push(field.name);
    else if (kind === 'money') parts.push(`${field.name} ${MONEY_SELECTION}`);
    else if (kind === 'reference') parts.push(`${field.name} { id }`);
    else if (kind === 'embedded' && depth < MAX_EMBEDDING_DEPTH) parts.push(`${field.name} ${selectionOf(getNamedType(field.type) as GraphQLObjectType, depth + 1)}`);
  }
  return `{ ${parts.join(' ')} }`;
}

/** A `$ref` to a component, and a nullable one. */
export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
function nullable(schema: JsonSchema): JsonSchema {
  if (typeof schema.$ref === 'string') return { anyOf: [schema, { type: 'null' }] };
  if (schema.enum) return { ...schema, type: [schema.type, 'null'], enum: [...(schema.enum as unknown[]), null] };
  return { ...schema, type: [schema.type, 'null'] };
}

function described(schema: JsonSchema, description: string | null | undefined): JsonSchema {
  if (!description) return schema;
  // Beside a $ref, 3.1 allows a description of its own.
  return { ...schema, description };
}

/**
 * The JSON Schemas of REST's objects and inputs, collected as OpenAPI components by type name as
 * they are first needed.
 */
export class RestSchemas {
  readonly components: Record<string, JsonSchema> = {};

  constructor(private readonly schema: GraphQLSchema) {}

  type(name: string): GraphQLNamedType {
    const type = this.schema.getType(name);
    if (!type) throw new Error(`No GraphQL type ${name}`);
    return type;
  }

  private leaf(type: GraphQLNamedType): JsonSchema {
    if (isEnumType(type)) {
      if (!this.components[type.name]) {
        this.components[type.name] = {
          type: 'string',
          enum: type.getValues().map((value) => value.name),
          ...(type.description ? { description: type.description } : {}),
        };
      }
      return ref(type.name);
    }
    if (isScalarType(type)) {
      const known = SCALAR_SCHEMAS[type.name];
      if (!known) throw new Error(`No JSON Schema for the scalar ${type.name}`);
      return known;
    }
    throw new Error(`${type.name} is not a leaf type`);
  }

  /** The schema of an output type's REST representation: a component named after the type. */
  output(type: GraphQLObjectType, depth = 0): JsonSchema {
    if (type.name === MONEY_TYPE) {
      this.components.Money ??= {
        type: 'object',
        description: 'An amount of money: a decimal string in major units (never a float) and its ISO 4217 currency.',
        properties: { amount: SCALAR_SCHEMAS.Decimal, currency: SCALAR_SCHEMAS.Currency },
        required: ['amount', 'currency'],
        additionalProperties: false,
        examples: [{ amount: '12.34', currency: 'USD' }],
      };
      return ref(MONEY_TYPE);
    }
    if (this.components[type.name]) return ref(type.name);
    // Placed before the fields are read, so a type that contains itself refers to itself.
    const component: JsonSchema = { type: 'object' };
    this.components[type.name] = component;
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const field of Object.values(type.getFields())) {
      const kind = representationOf(field);
      if (kind === null || (kind === 'embedded' && depth >= MAX_EMBEDDING_DEPTH)) continue;
      properties[field.name] = described(this.outputField(field.type, kind, depth), field.description);
      required.push(field.name);
    }
    Object.assign(component, {
      ...(type.description ? { description: type.description } : {}),
      properties,
      required,
      additionalProperties: false,
    });
    return ref(type.name);
  }

  private outputField(type: GraphQLOutputType, kind: 'leaf' | 'money' | 'reference' | 'embedded', depth: number): JsonSchema {
    return isNonNullType(type) ? this.outputValue(type.ofType, kind, depth) : nullable(this.outputValue(type, kind, depth));
  }

  private outputValue(type: GraphQLOutputType, kind: 'leaf' | 'money' | 'reference' | 'embedded', depth: number): JsonSchema {
    if (isListType(type)) return { type: 'array', items: this.outputField(type.ofType, kind, depth) };
    const named = getNamedType(type);
    if (kind === 'leaf') return this.leaf(named);
    if (kind === 'reference') {
      this.components.Reference ??= {
        type: 'object',
        description: 'Another object, by its id: read it through its own operation.',
        properties: { id: SCALAR_SCHEMAS.ID },
        required: ['id'],
        additionalProperties: false,
      };
      return ref('Reference');
    }
    return this.output(named as GraphQLObjectType, depth + 1);
  }

  /** The schema of a GraphQL input object: a component named after it. */
  input(type: GraphQLInputObjectType): JsonSchema {
    if (!this.components[type.name]) {
      const component: JsonSchema = { type: 'object' };
      this.components[type.name] = component;
      Object.assign(component, this.inputObject(type, []));
    }
    return ref(type.name);
  }

  /** An input object's schema without some of its fields (those a path parameter gives). */
  inputObject(type: GraphQLInputObjectType, omitted: readonly string[]): JsonSchema {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const field of Object.values(type.getFields())) {
      if (omitted.includes(field.name) || field.deprecationReason) continue;
      properties[field.name] = described(this.inputValue(field.type), field.description);
      if (isNonNullType(field.type) && field.defaultValue === undefined) required.push(field.name);
    }
    return {
      type: 'object',
      ...(type.description ? { description: type.description } : {}),
      properties,
      ...(required.length ? { required } : {}),
      additionalProperties: false,
    };
  }

  inputValue(type: GraphQLInputType): JsonSchema {
    return isNonNullType(type) ? this.inputNonNull(type.ofType) : nullable(this.inputNonNull(type));
  }

  private inputNonNull(type: GraphQLInputType): JsonSchema {
    if (isListType(type)) return { type: 'array', items: this.inputValue(type.ofType) };
    const named = getNamedType(type);
    if (isInputObjectType(named)) return this.input(named);
    return this.leaf(named);
  }
}
