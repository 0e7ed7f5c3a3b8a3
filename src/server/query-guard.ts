import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  type GraphQLCompositeType,
  GraphQLError,
  type GraphQLField,
  type GraphQLFormattedError,
  type GraphQLSchema,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  SchemaMetaFieldDef,
  type SelectionNode,
  type SelectionSetNode,
  type SourceLocation,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  type ValueNode,
  valueFromASTUntyped,
  visit,
} from 'graphql';
import { Parser } from 'graphql/language/parser';
import { accessRecordOf } from './access-log';
import { withShortEchoes } from '../common/echo';
import { ErrorCode, errorCodeTraits } from '../common/errors';
import { pageSizesOf } from '../graphql/common.objects';
import type { LimitsConfig } from '../config';
import { buildReckonSchema } from './graphql/schema';
import { sendGraphQLErrors } from './response-media-type';

/**
 * Query limits. Every GraphQL document is measured here before authentication, Apollo or any resolver
 * sees it, so a hostile document costs one bounded parse and a walk of its syntax tree, and never a
 * database statement (the API-key lookup included). Verdicts are cached per document text, so the
 * documents a client sends again and again cost a map lookup.
 */

export type QueryLimits = Pick<
  LimitsConfig,
  'queryMaxDepth' | 'queryMaxCost' | 'queryMaxAliases' | 'queryMaxTokens' | 'queryMaxDirectives' | 'queryMaxBytes'
>;

/** Which limit refused a request: `details.limit` in the error. */
export type QueryLimitName = 'batch' | 'bytes' | 'tokens' | 'depth' | 'aliases' | 'directives' | 'cost';

export interface QueryRefusal {
  /**
   * QUERY_REFUSED or QUERY_TOO_LARGE for a limit; Apollo's own GRAPHQL_PARSE_FAILED for a syntax error
   * and GRAPHQL_VALIDATION_FAILED for introspection where it is off, as Apollo would answer them later.
   */
  code: string;
  message: string;
  httpStatus: number;
  details?: { limit: QueryLimitName; max: number; actual?: number };
  locations?: readonly SourceLocation[];
}

/** One GraphQL request: an HTTP body, GET parameters, or a graphql-ws `subscribe` payload. */
export interface GraphQLRequestShape {
  query?: unknown;
  operationName?: unknown;
  variables?: unknown;
}

/**
 * Lists without `first`/`last` arguments (an entry's postings) are counted as this many items: a
 * typical entry has two to four postings.
 */
export const UNBOUNDED_LIST_SIZE = 5;
const DOCUMENT_CACHE_ENTRIES = 500;
/** Cached document texts are also bounded in total size: the parsed trees kept with them grow with it. */
const DOCUMENT_CACHE_CHARS = 2_000_000;
/** Costs remembered per document, one per set of values of the variables that change the cost. */
const COSTS_PER_DOCUMENT = 32;
const INTROSPECTION_FIELDS = new Set(['__schema', '__type']);
/** Arguments that set how many items a list returns. */
const PAGE_SIZE_ARGUMENTS = new Set(['first', 'last']);

function refusal(limit: QueryLimitName, max: number, actual: number | undefined, message: string): QueryRefusal {
  const code = limit === 'bytes' ? ErrorCode.QUERY_TOO_LARGE : ErrorCode.QUERY_REFUSED;
  return {
    code,
    message,
    httpStatus: errorCodeTraits(code).httpStatus,
    details: { limit, max, ...(actual === undefined ? {} : { actual: Math.min(actual, Number.MAX_SAFE_INTEGER) }) },
  };
}

/** How a document's operations measure once every fragment spread is expanded. */
export interface DocumentShape {
  depth: number;
  aliases: number;
  directives: number;
  /** Selections after expansion: where a "fragment bomb" shows. */
  selections: number;
  introspection: boolean;
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return fragments;
}

const EMPTY_SHAPE: DocumentShape = { depth: 0, aliases: 0, directives: 0, selections: 0, introspection: false };

/**
 * Depth, aliases and directives of the largest operation, counted as executed (a fragment counts at
 * every spread). Each fragment is measured once and its figures reused, so a "fragment bomb" whose
 * expansion doubles at each level is measured in linear time and refused by its huge counts.
 */
export function measureDocument(document: DocumentNode): DocumentShape {
  const fragments = fragmentsOf(document);
  const measured = new Map<string, DocumentShape>();
  const measuring = new Set<string>();

  function measureFragment(name: string): DocumentShape {
    const known = measured.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    // Unknown and cyclic fragments make the document invalid; Apollo's validation refuses it.
    if (!fragment || measuring.has(name)) return EMPTY_SHAPE;
    measuring.add(name);
    const inner = measureSelections(fragment.selectionSet);
    measuring.delete(name);
    const shape = { ...inner, directives: inner.directives + (fragment.directives?.length ?? 0) };
    measured.set(name, shape);
    return shape;
  }

  function measureSelections(selectionSet: SelectionSetNode | undefined): DocumentShape {
    const shape = { ...EMPTY_SHAPE };
    for (const selection of selectionSet?.selections ?? []) {
      shape.selections += 1;
      shape.directives += selection.directives?.length ?? 0;
      let inner: DocumentShape;
      let depth: number;
      if (selection.kind === Kind.FIELD) {
        inner = measureSelections(selection.selectionSet);
        if (selection.alias) shape.aliases += 1;
        const introspection = INTROSPECTION_FIELDS.has(selection.name.value);
        if (introspection) shape.introspection = true;
        // Tools' standard introspection query reaches 15 fields deep through nested `ofType`s. It reads
        // static type data (its cost still counts), and is refused outright where introspection is off.
        depth = introspection ? 1 : 1 + inner.depth;
      } else {
        inner = selection.kind === Kind.INLINE_FRAGMENT ? measureSelections(selection.selectionSet) : measureFragment(selection.name.value);
        depth = inner.depth;
      }
      shape.depth = Math.max(shape.depth, depth);
      shape.aliases += inner.aliases;
      shape.directives += inner.directives;
      shape.selections += inner.selections;
      shape.introspection ||= inner.introspection;
    }
    return shape;
  }

  const result = { ...EMPTY_SHAPE };
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const operation = measureSelections(definition.selectionSet);
    const ownDirectives =
      (definition.directives?.length ?? 0) + (definition.variableDefinitions ?? []).reduce((sum, v) => sum + (v.directives?.length ?? 0), 0);
    result.depth = Math.max(result.depth, operation.depth);
    result.aliases = Math.max(result.aliases, operation.aliases);
    result.directives = Math.max(result.directives, operation.directives + ownDirectives);
    result.selections += operation.selections;
    result.introspection ||= operation.introspection;
  }
  return result;
}

type Values = Record<string, unknown>;

/** An argument's value as far as it is known before execution: literals, and variables given or defaulted. */
function argumentValue(node: ValueNode | undefined, values: Values): unknown {
  if (!node) return undefined;
  return node.kind === Kind.VARIABLE ? values[node.name.value] : valueFromASTUntyped(node, values);
}

/** False only when @skip or @include surely drops the selection; an unknown condition counts it in. */
function isIncluded(selection: SelectionNode, values: Values): boolean {
  for (const directive of selection.directives ?? []) {
    const condition = argumentValue(directive.arguments?.find((arg) => arg.name.value === 'if')?.value, values);
    if (directive.name.value === 'skip' && condition === true) return false;
    if (directive.name.value === 'include' && condition === false) return false;
  }
  return true;
}

function fieldOf(schema: GraphQLSchema, parent: GraphQLCompositeType, name: string): GraphQLField<unknown, unknown> | undefined {
  if (name === TypeNameMetaFieldDef.name) return TypeNameMetaFieldDef;
  if (parent === schema.getQueryType() && name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef;
  if (parent === schema.getQueryType() && name === TypeMetaFieldDef.name) return TypeMetaFieldDef;
  return isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
}

/** How many items a field returns, as far as its arguments tell before it runs. */
function listSizeOf(parent: GraphQLCompositeType, field: GraphQLField<unknown, unknown>, node: FieldNode, values: Values): number {
  const pageArguments = field.args.filter((arg) => PAGE_SIZE_ARGUMENTS.has(arg.name));
  if (pageArguments.length > 0) {
    // `first` pages forward and `last` backward: either asks for that many. Both together are refused
    // by the list, so the larger is counted; a value that is not a number counts as absent.
    const given = pageArguments
      .map((arg) => argumentValue(node.arguments?.find((a) => a.name.value === arg.name)?.value, values))
      .filter((value): value is number => typeof value === 'number' && !Number.isNaN(value));
    if (given.length > 0) return Math.max(1, ...given);
    // Neither: the schema's default, else the list's default page (recentEntries 5, a payment's lists 20, others 100).
    const declared = pageArguments.map((arg) => arg.defaultValue).find((value): value is number => typeof value === 'number');
    return declared ?? pageSizesOf(parent.name, field.name).defaultSize;
  }
  if (!isListType(getNullableType(field.type))) return 1;
  // A connection's `first` already multiplied everything under it, its edges and their nodes.
  if (field.name === 'edges' && parent.name.endsWith('Connection')) return 1;
  return UNBOUNDED_LIST_SIZE;
}

/**
 * The estimated cost of an operation: every object it asks for counts 1 (scalars and enums 0). A field
 * that takes `first`/`last` (every connection) multiplies the cost of its selection by the one given,
 * or by the list's default page when neither is (100, 5 for recentEntries, 20 for a payment's lists);
 * the `edges` of a connection are not multiplied again; other lists multiply by UNBOUNDED_LIST_SIZE.
 * It estimates the objects the server would load: `accounts(last: 500) { edges { node {
 * recentEntries(first: 50) { edges { node { id } } } } } }` costs 500 × (1 + 1 + 1 + 50 × 3) = 76,500.
 *
 * It never fails: unknown fields and types count 0 (validation refuses them), invalid variables count
 * as absent, and each fragment is costed once per operation. Without `operationName`, the costliest
 * operation counts; a name that matches no operation costs null (Apollo refuses it: nothing runs).
 */
export function estimateCost(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined, variables: Values): number | null {
  const fragments = fragmentsOf(document);
  let costliest: number | null = null;
  for (const operation of document.definitions) {
    if (operation.kind !== Kind.OPERATION_DEFINITION) continue;
    if (operationName !== undefined && operation.name?.value !== operationName) continue;
    const root = schema.getRootType(operation.operation);
    if (!root) continue;
    const values: Values = {};
    for (const definition of operation.variableDefinitions ?? []) {
      if (definition.defaultValue) values[definition.variable.name.value] = valueFromASTUntyped(definition.defaultValue);
    }
    Object.assign(values, variables);
    const costed = new Map<string, number>();
    const costing = new Set<string>();

    const fragmentCost = (name: string): number => {
      const known = costed.get(name);
      if (known !== undefined) return known;
      const fragment = fragments.get(name);
      const type = fragment ? schema.getType(fragment.typeCondition.name.value) : undefined;
      // Cycles and unknown fragments or types are invalid; Apollo's validation refuses them.
      if (!fragment || !isCompositeType(type) || costing.has(name)) return 0;
      costing.add(name);
      const cost = selectionCost(fragment.selectionSet, type);
      costing.delete(name);
      costed.set(name, cost);
      return cost;
    };

    const selectionCost = (selectionSet: SelectionSetNode, parent: GraphQLCompositeType): number => {
      let cost = 0;
      for (const selection of selectionSet.selections) {
        if (!isIncluded(selection, values)) continue;
        if (selection.kind === Kind.FRAGMENT_SPREAD) {
          cost += fragmentCost(selection.name.value);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
          // Fragments on different types of an abstract field are added up: an overestimate, never an under one.
          if (isCompositeType(type)) cost += selectionCost(selection.selectionSet, type);
        } else {
          const field = fieldOf(schema, parent, selection.name.value);
          if (!field) continue;
          const type = getNamedType(field.type);
          const below = selection.selectionSet && isCompositeType(type) ? selectionCost(selection.selectionSet, type) : 0;
          cost += listSizeOf(parent, field, selection, values) * ((isCompositeType(type) ? 1 : 0) + below);
        }
      }
      return cost;
    };

    costliest = Math.max(costliest ?? 0, selectionCost(operation.selectionSet, root));
  }
  return costliest;
}

/** Names of the variables that change a document's cost: `first`/`last` arguments and @include/@skip conditions. */
function costVariablesOf(document: DocumentNode): string[] {
  const names = new Set<string>();
  visit(document, {
    Argument(argument) {
      if (!PAGE_SIZE_ARGUMENTS.has(argument.name.value) && argument.name.value !== 'if') return;
      visit(argument.value, {
        Variable(variable) {
          names.add(variable.name.value);
        },
      });
    },
  });
  return [...names].sort();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What is known of one document text, whatever its variables. */
interface DocumentVerdict {
  refusal: QueryRefusal | null;
  /** Kept only for accepted documents, whose cost is computed per set of cost variables. */
  document: DocumentNode | null;
  costVariables: string[];
  costs: Map<string, number | null>;
}

export interface QueryLimiterOptions {
  /** False refuses `__schema` and `__type` before authentication (production). */
  introspection: boolean;
  /** The schema costs are computed against; the API's own by default. */
  schema?: GraphQLSchema;
}

/**
 * Checks GraphQL requests against the query limits, independent of express so the WebSocket server
 * can check each `subscribe` message the same way.
 */
export class QueryLimiter {
  private readonly schema: GraphQLSchema;
  private readonly verdicts = new Map<string, DocumentVerdict>();
  private cachedChars = 0;

  constructor(
    readonly limits: QueryLimits,
    private readonly options: QueryLimiterOptions,
  ) {
    this.schema = options.schema ?? buildReckonSchema();
  }

  /** Null when the request may go on to authentication and execution; otherwise why it may not. */
  check(request: GraphQLRequestShape): QueryRefusal | null {
    return this.inspect(request).refusal;
  }

  /**
   * `check`, also handing back the parsed document of an accepted request (the cached one), so that
   * the WebSocket server executes it without parsing the text again. No document without a query.
   */
  inspect(request: GraphQLRequestShape): { refusal: QueryRefusal | null; document: DocumentNode | null } {
    const { query } = request;
    // No document, or not a string: nothing can run, and Apollo answers with its own BAD_REQUEST.
    // (Persisted queries are off, so a hash alone never stands for a document that skipped these checks.)
    if (typeof query !== 'string' || query.length === 0) return { refusal: null, document: null };
    const maxBytes = this.limits.queryMaxBytes;
    if (query.length > maxBytes || Buffer.byteLength(query, 'utf8') > maxBytes) {
      const bytes = Buffer.byteLength(query, 'utf8');
      return {
        refusal: refusal('bytes', maxBytes, bytes, `The query is ${bytes} bytes long; the limit is ${maxBytes} bytes (QUERY_MAX_BYTES)`),
        document: null,
      };
    }
    const verdict = this.verdictOf(query);
    if (verdict.refusal || !verdict.document) return { refusal: verdict.refusal, document: null };
    const cost = this.costOf(verdict, request);
    if (cost !== null && cost > this.limits.queryMaxCost) {
      return {
        refusal: refusal(
          'cost',
          this.limits.queryMaxCost,
          cost,
          `The query's estimated cost is ${cost}; the limit is ${this.limits.queryMaxCost} (QUERY_MAX_COST). ` +
            'Each object counts 1 and a list multiplies its selection by its `first` or `last` argument: ask for smaller pages or fewer nested lists.',
        ),
        document: null,
      };
    }
    return { refusal: null, document: verdict.document };
  }

  private verdictOf(query: string): DocumentVerdict {
    const cached = this.verdicts.get(query);
    if (cached) {
      // Map order is insertion order: re-inserting makes this the most recently used entry.
      this.verdicts.delete(query);
      this.verdicts.set(query, cached);
      return cached;
    }
    const verdict = this.judge(query);
    this.verdicts.set(query, verdict);
    this.cachedChars += query.length;
    for (const [oldest] of this.verdicts) {
      if (this.verdicts.size <= DOCUMENT_CACHE_ENTRIES && this.cachedChars <= DOCUMENT_CACHE_CHARS) break;
      this.verdicts.delete(oldest);
      this.cachedChars -= oldest.length;
    }
    return verdict;
  }

  private judge(query: string): DocumentVerdict {
    const refused = (reason: QueryRefusal): DocumentVerdict => ({ refusal: reason, document: null, costVariables: [], costs: new Map() });
    const { limits } = this;
    const parser = new Parser(query, { maxLexicalTokens: limits.queryMaxTokens });
    let document: DocumentNode;
    try {
      document = parser.parseDocument();
    } catch (error) {
      if (parser.tokenCount > limits.queryMaxTokens) {
        return refused(
          refusal('tokens', limits.queryMaxTokens, undefined, `The query has more than ${limits.queryMaxTokens} tokens (QUERY_MAX_TOKENS)`),
        );
      }
      if (!(error instanceof GraphQLError)) throw error;
      return refused({ code: ApolloServerErrorCode.GRAPHQL_PARSE_FAILED, message: error.message, httpStatus: 400, locations: error.locations });
    }
    const shape = measureDocument(document);
    if (shape.depth > limits.queryMaxDepth) {
      return refused(
        refusal('depth', limits.queryMaxDepth, shape.depth, `The query is ${shape.depth} fields deep; the limit is ${limits.queryMaxDepth} (QUERY_MAX_DEPTH)`),
      );
    }
    if (shape.aliases > limits.queryMaxAliases) {
      return refused(
        refusal('aliases', limits.queryMaxAliases, shape.aliases, `The query uses ${shape.aliases} aliases; the limit is ${limits.queryMaxAliases} (QUERY_MAX_ALIASES)`),
      );
    }
    if (shape.directives > limits.queryMaxDirectives) {
      return refused(
        refusal(
          'directives',
          limits.queryMaxDirectives,
          shape.directives,
          `The query uses ${shape.directives} directives; the limit is ${limits.queryMaxDirectives} (QUERY_MAX_DIRECTIVES)`,
        ),
      );
    }
    // Without fragments a document has fewer selections than tokens; only a "fragment bomb", spreads
    // nested and repeated to expand exponentially, goes past this. Whatever walks the document without
    // memoizing fragments (rules, middleware, tracing) would expand it.
    const maxSelections = 4 * limits.queryMaxTokens;
    if (shape.selections > maxSelections) {
      return refused(
        refusal(
          'cost',
          limits.queryMaxCost,
          undefined,
          `The query expands to ${shape.selections} selections once its fragments are spread; at most ${maxSelections} can be costed`,
        ),
      );
    }
    if (shape.introspection && !this.options.introspection) {
      return refused({
        code: ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
        message: 'GraphQL introspection is not allowed here, but the query contained __schema or __type',
        httpStatus: 400,
      });
    }
    return { refusal: null, document, costVariables: costVariablesOf(document), costs: new Map() };
  }

  /** The estimated cost, remembered per operation name and values of the variables it depends on. */
  private costOf(verdict: DocumentVerdict, request: GraphQLRequestShape): number | null {
    const variables = isRecord(request.variables) ? request.variables : {};
    const operationName = typeof request.operationName === 'string' ? request.operationName : undefined;
    const relevant = Object.fromEntries(verdict.costVariables.filter((name) => Object.hasOwn(variables, name)).map((name) => [name, variables[name]]));
    const key = `${operationName ?? ''}\n${JSON.stringify(relevant)}`;
    const known = verdict.costs.get(key);
    if (known !== undefined) return known;
    const cost = estimateCost(this.schema, verdict.document as DocumentNode, operationName, relevant);
    if (verdict.costs.size >= COSTS_PER_DOCUMENT) verdict.costs.clear();
    verdict.costs.set(key, cost);
    return cost;
  }
}

/** A refusal as a GraphQL error in a response, with the request id that ties it to the server's log. */
export function formatQueryRefusal(refused: QueryRefusal, requestId?: string): GraphQLFormattedError {
  const ours = refused.code === ErrorCode.QUERY_REFUSED || refused.code === ErrorCode.QUERY_TOO_LARGE;
  return {
    message: withShortEchoes(refused.message),
    ...(refused.locations ? { locations: refused.locations } : {}),
    extensions: {
      code: refused.code,
      ...(ours ? { retryable: false } : {}),
      ...(refused.details ? { details: refused.details } : {}),
      ...(requestId ? { requestId } : {}),
    },
  };
}

/** The same refusal as a GraphQLError, for graphql-ws's onSubscribe, which answers with errors. */
export function queryRefusalError(refused: QueryRefusal, requestId?: string): GraphQLError {
  const formatted = formatQueryRefusal(refused, requestId);
  return new GraphQLError(formatted.message, { extensions: formatted.extensions });
}

/**
 * In the media type the client asked for; a refused document (a syntax error, a query limit) is 400
 * under application/graphql-response+json and 200 under application/json (response-media-type.ts).
 */
function sendRefusal(req: Request, res: Response, refused: QueryRefusal): void {
  sendGraphQLErrors(req, res, refused.httpStatus, [formatQueryRefusal(refused, String(res.locals.requestId ?? ''))]);
}

function getRequestOf(url: string): GraphQLRequestShape {
  const params = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  let variables: unknown;
  try {
    variables = JSON.parse(params.get('variables') ?? 'null');
  } catch {
    // Apollo refuses invalid JSON itself; the document is still checked.
  }
  return { query: params.get('query') ?? undefined, operationName: params.get('operationName') ?? undefined, variables };
}

/**
 * Express handlers for /graphql, mounted after the JSON body parser and before Apollo and
 * authentication: they answer unreadable bodies and refused documents with GraphQL-shaped errors.
 */
export function queryGuard(limiter: QueryLimiter): [ErrorRequestHandler, RequestHandler] {
  const refuseUnreadableBody: ErrorRequestHandler = (error: { type?: unknown; status?: unknown; limit?: unknown; expose?: unknown; message?: unknown }, req, res, next) => {
    if (typeof error?.type !== 'string' || typeof error.status !== 'number' || error.status >= 500) {
      next(error);
      return;
    }
    if (error.status === 413) {
      const limit = typeof error.limit === 'number' ? error.limit : 0;
      sendRefusal(req, res, refusal('bytes', limit, undefined, `The request body is larger than ${limit} bytes`));
      return;
    }
    const message = error.type === 'entity.parse.failed' ? 'The request body is not valid JSON' : error.expose ? String(error.message) : 'Bad request';
    sendRefusal(req, res, { code: ApolloServerErrorCode.BAD_REQUEST, message, httpStatus: error.status });
  };

  const refuseOverLimits: RequestHandler = (req, res, next) => {
    let request: GraphQLRequestShape | undefined;
    if (req.method === 'POST') {
      if (Array.isArray(req.body)) {
        sendRefusal(
          req,
          res,
          refusal('batch', 1, req.body.length, 'HTTP batching is not supported: send one operation per request, as a JSON object rather than an array'),
        );
        return;
      }
      if (isRecord(req.body)) request = req.body;
    } else if (req.method === 'GET') {
      request = getRequestOf(req.url);
    }
    const { refusal: refused, document } = request ? limiter.inspect(request) : { refusal: null, document: null };
    // For the access line: the operation it ran (the document the limiter keeps, not parsed again).
    const access = accessRecordOf(res);
    access.graphqlDocument = document;
    access.graphqlOperationName = request?.operationName;
    if (refused) {
      sendRefusal(req, res, refused);
      return;
    }
    next();
  };

  return [refuseUnreadableBody, refuseOverLimits];
}

const SUGGESTION = / ?Did you mean .+\?$/;

/** An error message without its "Did you mean …?": in production, suggestions spell out the schema. */
export function withoutSuggestions(message: string): string {
  return message.replace(SUGGESTION, '');
}

/**
 * Removes "Did you mean …?" from every error message. Apollo's hideSchemaDetailsFromClientErrors does
 * it for validation errors only; variables that fail to coerce (`{"type": "ASSETS"}` for an enum, a
 * misspelt input field) would still name enum values and input fields that introspection hides.
 */
export function hideSuggestionsPlugin<TContext extends object>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          for (const error of response.body.singleResult.errors ?? []) {
            (error as { message: string }).message = withoutSuggestions(error.message);
          }
        },
      };
    },
  };
}
