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
import { expectedErrorOf } from '../rest-errors';
import { docsRoutes } from './rest-docs.routes';
import { buildRestApi, type RestApi } from './rest-openapi';
import type { RestPlan } from './rest-plan';
import { problemOfError, sendProblem } from './rest-problem';
import { type RestStreams, restStreamRoutes } from './rest-streams.routes';

export interface RestRoutesOptions {
  apollo: ApolloServer<RequestContext>;
  /** The guarded schema Apollo serves: the document is read off it. */
  schema: GraphQLSchema;
  log: Logger;
  /**
   * Authenticates the request as /graphql does (credential, lockout, rate limit) and builds the
   * resolvers' context; `auditEntry` names the route in the audit record of a refused credential.
   */
  authenticate(req: Request, requestId: string, idempotencyKey: string | null, auditEntry: string): Promise<RequestContext>;
  /** The statement scope of one request (cancelled when its client leaves or its deadline passes). */
  statementScope(res: Response): StatementScope;
  /** The largest JSON body, as express.json takes it ("2mb"). */
  bodyLimit: string;
  /** The interval of the event streams' heartbeat comments (rest-streams.routes.ts); tests shorten it. */
  streamHeartbeatMs?: number;
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
    return { field: at || 'body', message: `${at || 'The body'} ${error.message ?? 'is not valid'}` };
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
function variablesOf(plan: RestPlan, req: Request, validateBody: ValidateFunction | null): { variables: Record<string, unknown>; paging: Paging | null } {
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
    if (validateBody && !validateBody(body)) throw bodyRefusal(validateBody.errors ?? []);
    if (!validateBody && body !== null && typeof body === 'object' && Object.keys(body).length > 0) {
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

/** The version an If-Match header names: its one entity tag, unquoted. `*` (any version) names none. */
function versionOfIfMatch(header: string | undefined): string | null {
  if (header === undefined || header.trim() === '*') return null;
  const match = /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(header) ?? /^\s*([^\s",]+)\s*$/.exec(header);
  if (!match) throw validationError('If-Match must be one entity tag, as the ETag header gave it', { field: 'If-Match' });
  return match[1];
}

/**
 * The REST interface under /v1 (see rest-operations.ts for the table and the README's REST section):
 * each operation authenticates like /graphql, checks its parameters and body against the OpenAPI
 * document's schemas, runs its GraphQL document through Apollo (so permissions, idempotency, audit,
 * metrics and error masking are the ones /graphql has), and answers JSON, or an RFC 9457 problem.
 */
export function restRoutes(options: RestRoutesOptions): { router: express.Router; api: RestApi; streams: RestStreams } {
  const { apollo, log } = options;
  const api = buildRestApi(options.schema);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(api.document, 'openapi');
  const bodyValidators = new Map<RestPlan, ValidateFunction>();
  for (const plan of api.plans) {
    if (plan.bodySchema) bodyValidators.set(plan, ajv.getSchema(`openapi#/components/schemas/${plan.bodySchema}`) as ValidateFunction);
  }
  const router = express.Router({ caseSensitive: true, strict: false });
  const json = express.json({ limit: options.bodyLimit, type: ['application/json', 'application/*+json'] });

  router.get('/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(api.document);
  });
  router.use(docsRoutes());
  // Before the operations: /reconciliation-flags/stream would otherwise be read as a flag's id.
  const streams = restStreamRoutes({
    authenticate: (req, requestId, auditEntry) => options.authenticate(req, requestId, null, auditEntry),
    log,
    heartbeatMs: options.streamHeartbeatMs,
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
      const { variables, paging } = variablesOf(plan, req, bodyValidators.get(plan) ?? null);
      if (operation.version && plan.kind === 'mutation') {
        const expected = versionOfIfMatch(req.header('if-match'));
        if (expected !== null) (variables.input as Record<string, unknown>).expectedVersion = expected;
      }
      const response = await runInStatementScope(options.statementScope(res), () =>
        runWithRequestId(requestId, () => apollo.executeOperation({ query: plan.document, variables }, { contextValue: context })),
      );
      if (response.body.kind !== 'single') throw new Error('A REST operation answered incrementally');
      const { data, errors, extensions } = response.body.singleResult;
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
      if ((extensions?.idempotency as { replayed?: boolean } | undefined)?.replayed) res.set(REPLAYED_HEADER, 'true');
      const version = operation.version ? (body as Record<string, unknown>)[operation.version] : undefined;
      if (typeof version === 'string') res.set('ETag', `"${version}"`);
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
