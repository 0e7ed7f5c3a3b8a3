import type { ApolloServer } from '@apollo/server';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import express, { type NextFunction, type Request, type Response } from 'express';
import { getNamedType, type GraphQLSchema, isListType, isNonNullType } from 'graphql';
import type { Logger } from 'pino';
import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';
import { runWithRequestId } from '../../common/log-context';
import { runInStatementScope, type StatementScope } from '../../db/statement-scope';
import type { RequestContext } from '../../graphql/context';
import type { Services } from '../../services/services';
import { invoicePdfHandler } from '../invoice-pdf.routes';
import { expectedErrorOf } from '../rest-errors';
import { docsRoutes } from './rest-docs.routes';
import { buildRestApi, openApiPathOf, type RestApi } from './rest-openapi';
import { EXPECTED_VERSION_FIELD, type RestPlan } from './rest-plan';
import { problemOfError, sendProblem } from './rest-problem';
import { type RestStreams, restStreamRoutes } from './rest-streams.routes';

export interface RestRoutesOptions {
  services: Services;
  apollo: ApolloServer<RequestContext>;
  /** The guarded schema Apollo serves: the document is read off it. */
  schema: GraphQLSchema;
  log: Logger;
  /**
   * Authenticates the request as /graphql does (credential, lockout, rate limit) and builds the
   * resolvers' context; `auditEntry` names the route in the audit record of a refused credential
   * (null: the route's own audit record covers it).
   */
  authenticate(req: Request, requestId: string, idempotencyKey: string | null, auditEntry: string | null): Promise<RequestContext>;
  /** The statement scope of one request (cancelled when its client leaves or its deadline passes). */
  statementScope(res: Response): StatementScope;
  /** The largest JSON body, as express.json takes it ("2mb"). */
  bodyLimit: string;
  /** The interval of the event streams' heartbeat comments (rest-streams.routes.ts); tests shorten it. */
  streamHeartbeatMs?: number;
  /** How often an open event stream re-checks its credential (WS_CREDENTIAL_CHECK_INTERVAL_MS). */
  credentialCheckIntervalMs: number;
}

const REPLAYED_HEADER = 'Idempotent-Replayed';

/** Paths in OpenAPI's form (`/payments/{paymentId}`) as Express routes (`/payments/:paymentId`). */
function expressPathOf(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

/** A JSON Pointer into the body as a field path, `lines[0].amount`, for messages and details.field. */
function fieldOfPointer(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

/** A schema taken out of the document, its references pointing into the document (added to ajv as "openapi"). */
function rebased(schema: unknown): object {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) => (key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `openapi${value}` : value)) as object;
}

/** An ajv error's complaint in words; an enum lists its values. */
function describedError(error: ErrorObject | undefined): string {
  if (!error) return 'is not valid';
  if (error.keyword === 'enum') return `must be one of ${((error.params as { allowedValues: unknown[] }).allowedValues ?? []).filter((value) => value !== null).join(', ')}`;
  return error.message ?? 'is not valid';
}

/** The body's first refusal in words, with every refusal (at most 10) in details. */
function bodyRefusal(errors: ErrorObject[]): AppError {
  const described = errors.slice(0, 10).map((error) => {
    const at = fieldOfPointer(error.instancePath);
    if (error.keyword === 'additionalProperties') {
      const extra = String((error.params as { additionalProperty: string }).additionalProperty);
      const field = at ? `${at}.${extra}` : extra;
      return { field, message: `Unknown field "${echoOfInput(field)}": this operation does not take it` };
    }
    if (error.keyword === 'required') {
      const missing = String((error.params as { missingProperty: string }).missingProperty);
      const field = at ? `${at}.${missing}` : missing;
      return { field, message: `${field} is required` };
    }
    return { field: at || 'body', message: `${at || 'The body'} ${describedError(error)}` };
  });
  const [first] = described;
  return validationError(`${first.message}. See this operation in /v1/openapi.json.`, { field: first.field, errors: described });
}

/** Turns a query-string value into the argument's type (the GraphQL scalar checks it further). */
function queryValueOf(name: string, raw: string, typeName: string): unknown {
  switch (typeName) {
    case 'Int':
      if (!/^-?\d{1,10}$/.test(raw)) throw validationError(`${name} must be an integer; got "${echoOfInput(raw)}"`, { field: name });
      return Number(raw);
    case 'Float':
      if (!Number.isFinite(Number(raw)) || raw.trim() === '') throw validationError(`${name} must be a number; got "${echoOfInput(raw)}"`, { field: name });
      return Number(raw);
    case 'Boolean':
      if (raw !== 'true' && raw !== 'false') throw validationError(`${name} must be true or false; got "${echoOfInput(raw)}"`, { field: name });
      return raw === 'true';
    default:
      return raw;
  }
}

interface Paging {
  first?: number;
  last?: number;
  after?: string;
  before?: string;
}

/** The variables of the plan's document from the request's path, query string and body. */
/** The document's schemas of one operation's body and query parameters, compiled. */
interface Validators {
  body: ValidateFunction | null;
  query: Map<string, ValidateFunction>;
}

function variablesOf(plan: RestPlan, req: Request, validators: Validators): { variables: Record<string, unknown>; paging: Paging | null } {
  const variables: Record<string, unknown> = {};
  const input: Record<string, unknown> = {};
  const query = req.query as Record<string, unknown>;
  const accepted = new Set([...plan.queryParameters.map((parameter) => parameter.name), ...(plan.operation.paged ? ['limit', 'starting_after', 'ending_before'] : [])]);
  for (const [name, value] of Object.entries(query)) {
    if (!accepted.has(name)) {
      const known = [...accepted];
      throw validationError(`Unknown query parameter "${echoOfInput(name)}"; ${known.length ? `this operation takes ${known.join(', ')}` : 'this operation takes none'}`, {
        field: echoOfInput(name),
      });
    }
    if (typeof value !== 'string') throw validationError(`Give ${name} once`, { field: name });
  }
  for (const parameter of plan.queryParameters) {
    const raw = query[parameter.name] as string | undefined;
    if (raw === undefined || raw === '') continue;
    const type = isNonNullType(parameter.type) ? parameter.type.ofType : parameter.type;
    const value = isListType(type)
      ? raw.split(',').map((item) => queryValueOf(parameter.name, item, getNamedType(type).name))
      : queryValueOf(parameter.name, raw, getNamedType(type).name);
    const validate = validators.query.get(parameter.name);
    if (validate && !validate(value)) throw validationError(`${parameter.name} ${describedError((validate.errors ?? [])[0])}`, { field: parameter.name });
    if (parameter.inputField) variables[parameter.argument] = { ...(variables[parameter.argument] as object | undefined), [parameter.inputField]: value };
    else variables[parameter.argument] = value;
  }
  for (const parameter of plan.pathParameters) {
    const value = req.params[parameter.name];
    if (parameter.target.startsWith('input.')) input[parameter.target.slice(6)] = value;
    else variables[parameter.target] = value;
  }
  let paging: Paging | null = null;
  if (plan.operation.paged) {
    const rawLimit = query.limit as string | undefined;
    const after = (query.starting_after as string | undefined) || undefined;
    const before = (query.ending_before as string | undefined) || undefined;
    if (after && before) throw validationError('Give starting_after (to page forward) or ending_before (to page backward), not both', { field: 'ending_before' });
    const maxSize = plan.pageSize?.maxSize ?? 100;
    let limit: number | undefined;
    if (rawLimit !== undefined && rawLimit !== '') {
      limit = /^\d{1,6}$/.test(rawLimit) ? Number(rawLimit) : NaN;
      if (!(limit >= 1 && limit <= maxSize)) throw validationError(`limit must be an integer from 1 to ${maxSize}; got "${echoOfInput(rawLimit)}"`, { field: 'limit', max: maxSize });
    }
    paging = before ? { last: limit ?? plan.pageSize?.defaultSize ?? maxSize, before } : { ...(limit ? { first: limit } : {}), ...(after ? { after } : {}) };
    Object.assign(variables, paging);
  }
  if (plan.kind === 'mutation') {
    const body: unknown = req.body ?? {};
    if (validators.body && !validators.body(body)) throw bodyRefusal(validators.body.errors ?? []);
    if (!validators.body && body !== null && typeof body === 'object' && Object.keys(body).length > 0) {
      throw validationError('This operation takes no body: its path says everything. See /v1/openapi.json.', { field: 'body' });
    }
    variables.input = { ...(body as Record<string, unknown>), ...input };
  }
  return { variables, paging };
}

interface Connection {
  edges: { cursor: string; node: unknown }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** REST's list: the page's items, whether more follow, and the cursors of the pages either side. */
export interface ListEnvelope {
  data: unknown[];
  hasMore: boolean;
  nextCursor: string | null;
  previousCursor: string | null;
}

function envelopeOf(connection: Connection, paging: Paging): ListEnvelope {
  const { edges, pageInfo } = connection;
  const backward = paging.last !== undefined;
  // Paging forward from a cursor, the cursor's own item lies before this page (and the other way round).
  const previous = edges.length > 0 && (pageInfo.hasPreviousPage || (!backward && paging.after !== undefined));
  const next = edges.length > 0 && (pageInfo.hasNextPage || (backward && paging.before !== undefined));
  return {
    data: edges.map((edge) => edge.node),
    hasMore: backward ? pageInfo.hasPreviousPage : pageInfo.hasNextPage,
    nextCursor: next ? pageInfo.endCursor : null,
    previousCursor: previous ? pageInfo.startCursor : null,
  };
}

/** Replaces the connection at `path` in `value` with its list envelope, which it returns. */
function replaceConnection(value: Record<string, unknown>, path: readonly string[], paging: Paging): { value: unknown; envelope: ListEnvelope } {
  if (path.length === 0) {
    const envelope = envelopeOf(value as unknown as Connection, paging);
    return { value: envelope, envelope };
  }
  const [first, ...rest] = path;
  const inner = replaceConnection(value[first] as Record<string, unknown>, rest, paging);
  return { value: { ...value, [first]: inner.value }, envelope: inner.envelope };
}

/** RFC 8288 links to the pages either side: the request's own URL with the cursor changed. */
function linkHeaderOf(req: Request, envelope: ListEnvelope): string | null {
  const links: string[] = [];
  const pageUrl = (name: 'starting_after' | 'ending_before', cursor: string) => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(req.query as Record<string, string>)) if (key !== 'starting_after' && key !== 'ending_before') params.set(key, value);
    params.set(name, cursor);
    return `<${req.baseUrl}${req.path}?${params.toString()}>`;
  };
  if (envelope.nextCursor) links.push(`${pageUrl('starting_after', envelope.nextCursor)}; rel="next"`);
  if (envelope.previousCursor) links.push(`${pageUrl('ending_before', envelope.previousCursor)}; rel="prev"`);
  return links.length ? links.join(', ') : null;
}

/** The largest version GraphQL's Int carries: a tag beyond it was never an ETag of ours. */
const MAX_VERSION = 2_147_483_647;

/**
 * The version a versioned write's If-Match names, or null when it names none (absent, or `*`: any
 * version, which an existing object always has). ETags are versions in quotes, `"3"`; the weak form of
 * one (`W/"3"`, as a compressing proxy may rewrite it) and a bare `3` name the same version. A
 * well-formed tag that is no version (`"abc"`) can never match the object's ETag, which RFC 9110 calls
 * a false condition: 412, like a stale version. A header that is not one entity tag (a list, stray
 * quotes) is malformed: 400.
 */
function expectedVersionOfIfMatch(header: string | undefined): number | null {
  if (header === undefined || header.trim() === '*') return null;
  const match = /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(header) ?? /^\s*([^\s",]+)\s*$/.exec(header);
  if (!match) throw validationError('If-Match must be one entity tag, as the ETag header gave it (such as "3")', { field: 'If-Match' });
  const version = /^\d{1,10}$/.test(match[1]) ? Number(match[1]) : NaN;
  if (!(version <= MAX_VERSION)) {
    throw new AppError(
      ErrorCode.PRECONDITION_FAILED,
      `If-Match names "${echoOfInput(match[1])}", which is not a version this API gave as an ETag (they are numbers such as "3"); read the object again and send its ETag`,
      { field: 'If-Match' },
    );
  }
  return version;
}

/**
 * Whether a GET's If-None-Match names the object's current ETag (`*`, or any tag of its list, weak or
 * not: RFC 9110 compares weakly here), so the client's copy is current: 304. Express's own check
 * (req.fresh) is not used: it answers 200 to every request with Cache-Control: no-cache, which fetch
 * adds to each request that carries If-None-Match, and that directive is for caches, not the origin.
 */
function noneMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed === etag || trimmed === `W/${etag}`;
  });
}

/** A write without a version refuses If-Match rather than make the change unconditionally. `*` asks only that the object exist, which the write needs anyway. */
function refuseIfMatch(header: string | undefined, operation: string): void {
  if (header === undefined || header.trim() === '*') return;
  throw validationError(`${operation} does not take If-Match: it has no version to compare. Send the request without it.`, { field: 'If-Match' });
}

/** The document and its validators, once per schema: every server of a process (a test file starts many) shares them. */
const COMPILED = new WeakMap<GraphQLSchema, { api: RestApi; validatorsOf(plan: RestPlan): Validators }>();

function compiledApiOf(schema: GraphQLSchema): { api: RestApi; validatorsOf(plan: RestPlan): Validators } {
  const known = COMPILED.get(schema);
  if (known) return known;
  const api = buildRestApi(schema);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(api.document, 'openapi');
  // Compiled when an operation is first called: most processes call a few of them.
  const validators = new Map<RestPlan, Validators>();
  const validatorsOf = (plan: RestPlan): Validators => {
    let known = validators.get(plan);
    if (!known) {
      const query = new Map<string, ValidateFunction>();
      const paths = api.document.paths as Record<string, Record<string, { parameters?: { name: string; in: string; schema?: object }[] }>>;
      for (const parameter of paths[openApiPathOf(plan.operation)][plan.operation.method].parameters ?? []) {
        if (parameter.in === 'query' && parameter.schema) query.set(parameter.name, ajv.compile(rebased(parameter.schema)));
      }
      known = { body: plan.bodySchema ? (ajv.getSchema(`openapi#/components/schemas/${plan.bodySchema}`) as ValidateFunction) : null, query };
      validators.set(plan, known);
    }
    return known;
  };
  const compiled = { api, validatorsOf };
  COMPILED.set(schema, compiled);
  return compiled;
}

/**
 * The REST interface under /v1 (see rest-operations.ts for the table and the README's REST section):
 * each operation authenticates like /graphql, checks its parameters and body against the OpenAPI
 * document's schemas, runs its GraphQL document through Apollo (so permissions, idempotency, audit,
 * metrics and error masking are the ones /graphql has), and answers JSON, or an RFC 9457 problem.
 */
export function restRoutes(options: RestRoutesOptions): { router: express.Router; api: RestApi; streams: RestStreams } {
  const { apollo, log } = options;
  const { api, validatorsOf } = compiledApiOf(options.schema);
  const router = express.Router({ caseSensitive: true, strict: false });
  const json = express.json({ limit: options.bodyLimit, type: ['application/json', 'application/*+json'] });

  // Where to start: a client that lands on /v1 learns where the operations are described.
  router.get('/', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json({ openapi: '/v1/openapi.json', docs: '/v1/docs', graphql: '/graphql' });
  });
  router.get('/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(api.document);
  });
  router.use(docsRoutes());
  // A PDF, not JSON: the handler GET /invoices/:id/pdf has, with problem+json refusals. Its call is
  // audited as a REST route (audit-http.ts), which records a refused credential too.
  router.get(
    '/invoices/:invoiceId/pdf',
    invoicePdfHandler(options.services, log, (req, requestId) => options.authenticate(req, requestId, null, null), 'invoiceId', (req, res, error) =>
      sendProblem(req, res, problemOfError(error)),
    ),
  );
  // Before the operations: /reconciliation-flags/stream would otherwise be read as a flag's id.
  const streams = restStreamRoutes({
    authenticate: (req, requestId, auditEntry) => options.authenticate(req, requestId, null, auditEntry),
    log,
    heartbeatMs: options.streamHeartbeatMs,
    isStillValid: (principal) => options.services.auth.isStillValid(principal),
    credentialCheckIntervalMs: options.credentialCheckIntervalMs,
  });
  router.use(streams.router);

  const handle = (plan: RestPlan) => async (req: Request, res: Response) => {
    const requestId = String(res.locals.requestId);
    const { operation } = plan;
    try {
      if (plan.kind === 'mutation' && req.body === undefined && Number(req.header('content-length') ?? 0) > 0) {
        throw new AppError(ErrorCode.VALIDATION_FAILED, 'Send the body as JSON, with Content-Type: application/json', { field: 'Content-Type' });
      }
      const idempotencyKey = plan.kind === 'mutation' ? (req.header('idempotency-key') ?? null) : null;
      const context = await options.authenticate(req, requestId, idempotencyKey, `${req.method} /v1${operation.path}`);
      const { variables, paging } = variablesOf(plan, req, validatorsOf(plan));
      if (plan.takesIfMatch) {
        const expected = expectedVersionOfIfMatch(req.header('if-match'));
        if (expected !== null) (variables.input as Record<string, unknown>)[EXPECTED_VERSION_FIELD] = expected;
      } else if (plan.kind === 'mutation') {
        refuseIfMatch(req.header('if-match'), `${operation.method.toUpperCase()} /v1${operation.path}`);
      }
      const response = await runInStatementScope(options.statementScope(res), () =>
        runWithRequestId(requestId, () => apollo.executeOperation({ query: plan.document, variables }, { contextValue: context })),
      );
      if (response.body.kind !== 'single') throw new Error('A REST operation answered incrementally');
      const { data, errors, extensions } = response.body.singleResult;
      // A stored refusal is replayed as much as a stored success is: both say so.
      if ((extensions?.idempotency as { replayed?: boolean } | undefined)?.replayed) res.set(REPLAYED_HEADER, 'true');
      let value = (data as Record<string, unknown> | null | undefined)?.[operation.field] as Record<string, unknown> | null | undefined;
      if (value && operation.through) value = value[operation.through] as Record<string, unknown> | null;
      if (value === null || value === undefined) {
        const error = errors?.[0];
        if (!error) throw new Error(`${operation.operationId} answered neither data nor an error`);
        const code = String(error.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR);
        const details = error.extensions?.details as Record<string, unknown> | undefined;
        const retryable = typeof error.extensions?.retryable === 'boolean' ? error.extensions.retryable : undefined;
        sendProblem(req, res, { code, message: error.message, details, retryable }, { counted: true });
        return;
      }
      // A nested field that failed beside a root value that did not: the change (if any) is done, so
      // the answer is the value, with the failure logged under the request id.
      if (errors?.length) log.warn({ requestId, operation: operation.operationId, errors }, 'REST operation answered with field errors');
      if (operation.as) {
        const { __typename: typename, ...rest } = value;
        if (typename !== operation.as) {
          sendProblem(req, res, problemOfError(notFoundError(operation.as, String(req.params[plan.pathParameters[0].name]))));
          return;
        }
        value = rest;
      }
      let body: unknown = operation.returns ? value[operation.returns] : value;
      if (operation.paged && paging) {
        const replaced = replaceConnection(body as Record<string, unknown>, operation.paged, paging);
        body = replaced.value;
        const link = linkHeaderOf(req, replaced.envelope);
        if (link) res.set('Link', link);
      }
      // A strong ETag: the version changes with every change of what the object shows.
      const version = operation.version ? (body as Record<string, unknown>)[operation.version] : undefined;
      if (typeof version === 'number' || typeof version === 'string') {
        const etag = `"${version}"`;
        res.set('ETag', etag);
        if (plan.kind === 'query' && noneMatches(req.header('if-none-match'), etag)) {
          res.status(304).set('Cache-Control', 'no-store').end();
          return;
        }
      }
      if (operation.created) res.status(201).set('Location', `/v1${operation.created(body as Record<string, unknown>)}`);
      res.set('Cache-Control', 'no-store').json(body);
    } catch (error) {
      const expected = expectedErrorOf(error);
      if (expected) {
        sendProblem(req, res, problemOfError(expected));
        return;
      }
      log.error({ err: error, requestId, operation: operation.operationId }, 'REST operation failed unexpectedly');
      sendProblem(req, res, { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'Internal server error' });
    }
  };

  const methodsByPath = new Map<string, string[]>();
  for (const plan of api.plans) {
    const path = expressPathOf(plan.operation.path);
    methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), plan.operation.method.toUpperCase()]);
    if (plan.kind === 'mutation') router[plan.operation.method](path, json, handle(plan));
    else router.get(path, handle(plan));
  }
  // A known path asked with another method: 405 with the methods it takes.
  for (const [path, methods] of methodsByPath) {
    router.all(path, (req, res) => {
      const allowed = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
      sendProblem(
        req,
        res,
        { code: ErrorCode.VALIDATION_FAILED, message: `${req.method} is not an operation of ${req.baseUrl}${req.path}; it takes ${allowed.join(', ')}`, details: { field: 'method' } },
        { status: 405, headers: { Allow: allowed.join(', ') } },
      );
    });
  }
  router.use((req, res) => {
    sendProblem(req, res, { code: ErrorCode.NOT_FOUND, message: `No operation at ${req.baseUrl}${req.path}; /v1/openapi.json lists them all` });
  });
  // A body express.json could not read (malformed, too large, in a charset it does not know).
  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: number }).status;
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') {
      sendProblem(req, res, { code: ErrorCode.QUERY_TOO_LARGE, message: `The body is over the ${options.bodyLimit} limit` });
    } else if (typeof status === 'number' && status >= 400 && status < 500) {
      sendProblem(req, res, { code: ErrorCode.VALIDATION_FAILED, message: 'The body is not valid JSON', details: { field: 'body' } }, { status: status === 415 ? 415 : 400 });
    } else {
      log.error({ err: error, requestId: res.locals.requestId }, 'unhandled REST error');
      sendProblem(req, res, { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'Internal server error' });
    }
  });
  return { router, api, streams };
}
