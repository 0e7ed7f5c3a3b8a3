import {
  getNamedType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputObjectType,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLSchema,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  parse,
  validate,
} from 'graphql';
import { CONNECTION_SELECTION_TAIL, isConnectionType, type JsonSchema, ref, type RestSchemas, selectionOf } from './rest-representation';
import type { RestOperation } from './rest-operation';

/** The input field a versioned write takes the version its caller read in (If-Match over REST). */
export const EXPECTED_VERSION_FIELD = 'expectedVersion';

/** REST's page size parameter, and the cursors of its list envelope (see rest.routes.ts). */
export const PAGING_PARAMETERS = ['limit', 'starting_after', 'ending_before'] as const;

/** A query-string parameter and the argument (or input object field) it fills. */
export interface QueryParameter {
  name: string;
  /** The field argument it belongs to. */
  argument: string;
  /** Set when the argument is an input object: the parameter is this field of it. */
  inputField?: string;
  type: GraphQLInputType;
  description?: string | null;
}

/** Everything the handler and the document need of one operation, worked out once at start-up. */
export interface RestPlan {
  operation: RestOperation;
  kind: 'query' | 'mutation';
  /** The GraphQL document the handler runs. */
  document: string;
  /** Each path parameter, the argument or input field it fills (`id`, `input.paymentId`) and that one's type. */
  pathParameters: { name: string; target: string; type: GraphQLInputType; description?: string | null }[];
  queryParameters: QueryParameter[];
  /** The JSON Schema component of the request body (mutations), or null when the body is empty. */
  bodySchema: string | null;
  /** Whether the body may be left out (every input field is optional, or given by the path). */
  bodyOptional: boolean;
  /** A write that takes If-Match: its input's `expectedVersion` comes from the header, not the body. */
  takesIfMatch: boolean;
  /** The JSON Schema of a successful response. */
  responseSchema: JsonSchema;
  /** The largest page the list allows (its connection's own maximum is checked by the service too). */
  pageSize?: { defaultSize: number; maxSize: number };
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

const PAGE_ARGUMENTS = '(first: $first, after: $after, last: $last, before: $before)';

/** A field's selection with its connection turned into edges and page info, for the paged path. */
function pagedSelection(type: GraphQLObjectType, path: readonly string[], schemas: RestSchemas): { selection: string; schema: JsonSchema } {
  if (path.length === 0) {
    if (!isConnectionType(type)) throw new Error(`${type.name} is not a connection`);
    const edgeType = getNamedType(type.getFields().edges.type) as GraphQLObjectType;
    const nodeType = getNamedType(edgeType.getFields().node.type) as GraphQLObjectType;
    const list = `${nodeType.name}List`;
    schemas.components[list] ??= {
      type: 'object',
      description: `A page of ${nodeType.name} objects. Follow nextCursor (starting_after) or previousCursor (ending_before), or the Link header, for the next and previous pages.`,
      properties: {
        data: { type: 'array', items: schemas.output(nodeType) },
        hasMore: { type: 'boolean', description: 'Whether more items follow in the direction of paging.' },
        nextCursor: { type: ['string', 'null'], description: 'Give as starting_after for the page after this one; null when there is none.' },
        previousCursor: { type: ['string', 'null'], description: 'Give as ending_before for the page before this one; null when there is none.' },
      },
      required: ['data', 'hasMore', 'nextCursor', 'previousCursor'],
      additionalProperties: false,
    };
    return { selection: `{ edges { cursor node ${selectionOf(nodeType)} } ${CONNECTION_SELECTION_TAIL} }`, schema: ref(list) };
  }
  const [first, ...rest] = path;
  const field = type.getFields()[first];
  if (!field) throw new Error(`${type.name} has no field ${first}`);
  const inner = pagedSelection(getNamedType(field.type) as GraphQLObjectType, rest, schemas);
  const base = selectionOf(type);
  // The type's own representation, with the paged field added as a list envelope.
  const component = `${type.name}Page`;
  if (!schemas.components[component]) {
    schemas.output(type);
    const own = schemas.components[type.name] as { properties: Record<string, JsonSchema>; required: string[] };
    schemas.components[component] = {
      ...own,
      properties: { ...own.properties, [first]: inner.schema },
      required: [...own.required, first],
    };
  }
  // A connection pages by its own arguments, or (an account statement's lines) by its parent field's.
  const pagesItself = field.args.some((argument) => argument.name === 'first');
  const innerSelection = rest.length === 0 && pagesItself ? `${first}${PAGE_ARGUMENTS} ${inner.selection}` : `${first} ${inner.selection}`;
  return { selection: `${base.slice(0, -1)} ${innerSelection} }`, schema: ref(component) };
}

/** Whether the connection at `path` takes the paging arguments itself (rather than the field above it). */
function pagesItself(type: GraphQLObjectType, path: readonly string[]): boolean {
  let parent = type;
  for (const step of path.slice(0, -1)) parent = getNamedType(parent.getFields()[step].type) as GraphQLObjectType;
  return parent.getFields()[path[path.length - 1]].args.some((argument) => argument.name === 'first');
}

/** The document's variable definitions, and the arguments passed at each call site. */
class Arguments {
  private readonly definitions: string[] = [];
  private readonly passed = new Map<string, string[]>();

  define(name: string, type: GraphQLInputType | string): void {
    this.definitions.push(`$${name}: ${String(type)}`);
  }

  pass(site: string, name: string): void {
    this.passed.set(site, [...(this.passed.get(site) ?? []), `${name}: $${name}`]);
  }

  add(site: string, name: string, type: GraphQLInputType | string): void {
    this.define(name, type);
    this.pass(site, name);
  }

  get variables(): string {
    return this.definitions.length ? `(${this.definitions.join(', ')})` : '';
  }

  call(site: string): string {
    const passed = this.passed.get(site) ?? [];
    return passed.length ? `(${passed.join(', ')})` : '';
  }
}

function argumentOf(field: GraphQLField<unknown, unknown>, name: string): GraphQLArgument {
  const argument = field.args.find((candidate) => candidate.name === name);
  if (!argument) throw new Error(`${field.name} has no argument ${name}`);
  return argument;
}

/** The selection and schema of a mutation payload: its objects in full, not as references. */
function payloadSelection(type: GraphQLObjectType, schemas: RestSchemas): { selection: string; schema: JsonSchema } {
  const parts: string[] = [];
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const field of Object.values(type.getFields())) {
    const named = getNamedType(field.type);
    const list = isListType(isNonNullType(field.type) ? field.type.ofType : field.type);
    if (isLeafType(named)) {
      parts.push(field.name);
      properties[field.name] = schemas.inputValue(field.type as GraphQLInputType);
    } else {
      parts.push(`${field.name} ${selectionOf(named as GraphQLObjectType)}`);
      const one = schemas.output(named as GraphQLObjectType);
      const value = list ? { type: 'array', items: one } : one;
      properties[field.name] = isNonNullType(field.type) ? value : { anyOf: [value, { type: 'null' }] };
    }
    if (field.description) properties[field.name] = { ...properties[field.name], description: field.description };
    required.push(field.name);
  }
  schemas.components[type.name] ??= {
    type: 'object',
    ...(type.description ? { description: type.description } : {}),
    properties,
    required,
    additionalProperties: false,
  };
  return { selection: `{ ${parts.join(' ')} }`, schema: ref(type.name) };
}

export function planOperation(operation: RestOperation, schema: GraphQLSchema, schemas: RestSchemas): RestPlan {
  const mutation = operation.method !== 'get';
  const root = (mutation ? schema.getMutationType() : schema.getQueryType()) as GraphQLObjectType;
  const field = root.getFields()[operation.field];
  if (!field) throw new Error(`${operation.operationId}: no ${mutation ? 'mutation' : 'query'} field ${operation.field}`);
  const through = operation.through ? (getNamedType(field.type) as GraphQLObjectType).getFields()[operation.through] : undefined;
  if (operation.through && !through) throw new Error(`${operation.operationId}: ${String(field.type)} has no field ${operation.through}`);
  /** Where an argument goes: the root field, or the field the response is read through. */
  const siteOf = (name: string): { site: 'root' | 'through'; argument: GraphQLArgument } => {
    const own = field.args.find((candidate) => candidate.name === name);
    if (own) return { site: 'root', argument: own };
    const nested = through?.args.find((candidate) => candidate.name === name);
    if (nested) return { site: 'through', argument: nested };
    throw new Error(`${operation.operationId}: neither ${field.name} nor ${through?.name ?? 'a nested field'} takes ${name}`);
  };
  const args = new Arguments();
  const pathNames = [...operation.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
  const params = operation.params ?? {};
  for (const name of pathNames) if (!params[name]) throw new Error(`${operation.operationId}: path parameter ${name} goes nowhere`);
  const pathParameters = pathNames.map((name) => {
    const target = params[name];
    if (target.startsWith('input.')) {
      const inputType = getNamedType(argumentOf(field, 'input').type) as GraphQLInputObjectType;
      const inputField = inputType.getFields()[target.slice(6)];
      if (!inputField) throw new Error(`${operation.operationId}: ${inputType.name} has no ${target.slice(6)}`);
      return { name, target, type: inputField.type, description: inputField.description ?? null };
    }
    const { argument } = siteOf(target);
    return { name, target, type: argument.type, description: argument.description ?? null };
  });

  let bodySchema: string | null = null;
  let bodyOptional = true;
  let takesIfMatch = false;
  if (mutation) {
    const input = argumentOf(field, 'input');
    const inputType = getNamedType(input.type) as GraphQLInputObjectType;
    // The variable is the input's own type, non-null: a mutation whose input is nullable only while
    // deprecated arguments exist still needs it.
    args.add('root', 'input', `${inputType.name}!`);
    const fromPath = pathParameters.filter((parameter) => parameter.target.startsWith('input.')).map((parameter) => parameter.target.slice(6));
    // One way to say the version over REST: the If-Match header (see RestOperation.version).
    takesIfMatch = Boolean(operation.version) && EXPECTED_VERSION_FIELD in inputType.getFields();
    const body = schemas.inputObject(inputType, takesIfMatch ? [...fromPath, EXPECTED_VERSION_FIELD] : fromPath);
    if (Object.keys(body.properties as object).length > 0) {
      bodySchema = `${pascal(operation.operationId)}Request`;
      schemas.components[bodySchema] = body;
      bodyOptional = !(body.required as string[] | undefined)?.length;
    }
  }
  for (const parameter of pathParameters) {
    if (parameter.target.startsWith('input.')) continue;
    const { site, argument } = siteOf(parameter.target);
    args.add(site, parameter.target, argument.type);
  }

  const queryParameters: QueryParameter[] = [];
  for (const name of operation.query ?? []) {
    const { site, argument } = siteOf(name);
    args.add(site, name, argument.type);
    const type = getNamedType(argument.type);
    if (isInputObjectType(type)) {
      for (const inputField of Object.values(type.getFields())) {
        queryParameters.push({ name: inputField.name, argument: name, inputField: inputField.name, type: inputField.type, description: inputField.description });
      }
    } else {
      queryParameters.push({ name, argument: name, type: argument.type, description: argument.description });
    }
  }

  const valueField = through ?? field;
  const valueType = (operation.as ? schemas.type(operation.as) : getNamedType(valueField.type)) as GraphQLObjectType;
  let selection: string;
  let responseSchema: JsonSchema;
  if (operation.paged) {
    for (const name of ['first', 'after', 'last', 'before']) {
      args.define(name, name === 'first' || name === 'last' ? 'Int' : 'String');
      if (operation.paged.length === 0 || !pagesItself(valueType, operation.paged)) args.pass(through ? 'through' : 'root', name);
    }
    ({ selection, schema: responseSchema } = pagedSelection(valueType, operation.paged, schemas));
  } else if (mutation && operation.returns) {
    const returned = valueType.getFields()[operation.returns];
    if (!returned) throw new Error(`${operation.operationId}: ${valueType.name} has no ${operation.returns}`);
    const type = getNamedType(returned.type) as GraphQLObjectType;
    selection = `{ ${operation.returns} ${selectionOf(type)} }`;
    responseSchema = schemas.output(type);
  } else if (mutation) {
    ({ selection, schema: responseSchema } = payloadSelection(valueType, schemas));
  } else {
    selection = selectionOf(valueType);
    responseSchema = schemas.output(valueType);
  }
  if (operation.version) {
    const represented = mutation && operation.returns ? (getNamedType(valueType.getFields()[operation.returns].type) as GraphQLObjectType) : valueType;
    if (!represented.getFields()[operation.version]) throw new Error(`${operation.operationId}: ${represented.name} has no version field ${operation.version}`);
  }
  // The type is checked by the handler: another kind's id answers an empty fragment.
  if (operation.as) selection = `{ __typename ... on ${operation.as} ${selection} }`;
  if (through) selection = `{ ${through.name}${args.call('through')} ${selection} }`;
  const document = `${mutation ? 'mutation' : 'query'} ${pascal(operation.operationId)}${args.variables} { ${operation.field}${args.call('root')} ${selection} }`;
  const errors = validate(schema, parse(document));
  if (errors.length) throw new Error(`${operation.operationId}: ${errors.map((error) => error.message).join('; ')}\n${document}`);
  return { operation, kind: mutation ? 'mutation' : 'query', document, pathParameters, queryParameters, bodySchema, bodyOptional, takesIfMatch, responseSchema };
}
