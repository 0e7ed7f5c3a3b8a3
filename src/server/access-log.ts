import type express from 'express';
import { type DocumentNode, getOperationAST, type GraphQLSchema, Kind, type SelectionSetNode } from 'graphql';
import type { Logger } from 'pino';
import { ErrorCode } from '../common/errors';
import { runWithRequestId } from '../common/log-context';
import type { Principal } from '../modules/auth/auth.service';
import { routeLabelOf } from './metrics';
import { sourceAddressOf, type TrustProxy } from './source-address';

/**
 * Access logs: one line per HTTP request (`msg: "request"`) and per GraphQL operation over WebSocket
 * (`msg: "ws operation"`, plus `"ws subscription started"` when a subscription begins), with the same
 * fields (README "Logs"). The fields are filled in as the request goes: the query guard hands over the
 * parsed document, authentication the caller, Apollo's plugin or a REST route the error codes. Headers,
 * query strings, variables and bodies are never logged: the line says who did what and how it went,
 * not with what.
 *
 * Levels: `info`; `debug` for a successful health probe or scrape (GET /healthz, /readyz, /metrics),
 * which would otherwise drown the rest; `warn` for a client that left before the answer (status 499,
 * `aborted: true`) and for answers that say the service failed (5xx, or SERVICE_UNAVAILABLE,
 * STATEMENT_TIMEOUT, GATEWAY_UNAVAILABLE, INTERNAL_SERVER_ERROR among the error codes). A user's
 * error (VALIDATION_FAILED, NOT_FOUND, UNAUTHENTICATED, …) stays at `info` with its code.
 */

export const ACCESS_LOG_MESSAGE = 'request';
export const WS_OPERATION_MESSAGE = 'ws operation';
export const WS_SUBSCRIPTION_STARTED_MESSAGE = 'ws subscription started';

/** What the access line says of a GraphQL operation. */
export interface OperationDescription {
  operationType: string;
  /** The client's operation name, when the document gives one. */
  operationName?: string;
  /** The root fields it asks for, as the schema names them ("(unknown)" for one the schema lacks). */
  rootFields: string[];
}

/** What the layers of one HTTP request tell its access line. */
export interface AccessRecord {
  caller?: Pick<Principal, 'tenantId' | 'credentialId' | 'credentialKind'>;
  /** A credential named but not proven (the client_id of a refused /oauth/token call). */
  credentialId?: string;
  tenantId?: string;
  errorCodes: string[];
  /** Set by the query guard for /graphql: the parsed document (null when it was refused or absent). */
  graphqlDocument?: DocumentNode | null;
  graphqlOperationName?: unknown;
}

const ACCESS_RECORD = 'accessRecord';

/** This request's access record (made by accessLogMiddleware; a fresh one for a request it never saw). */
export function accessRecordOf(res: express.Response): AccessRecord {
  let record = res.locals[ACCESS_RECORD] as AccessRecord | undefined;
  if (!record) {
    record = { errorCodes: [] };
    res.locals[ACCESS_RECORD] = record;
  }
  return record;
}

/** Records who called; `res` is reached through the request when a helper only has `req`. */
export function noteCaller(target: express.Response | express.Request, principal: Pick<Principal, 'tenantId' | 'credentialId' | 'credentialKind'>): void {
  const res = 'locals' in target ? target : target.res;
  if (!res) return;
  accessRecordOf(res).caller = { tenantId: principal.tenantId, credentialId: principal.credentialId, credentialKind: principal.credentialKind };
}

export function noteErrorCodes(res: express.Response, codes: Iterable<unknown>): void {
  const record = accessRecordOf(res);
  for (const code of codes) if (typeof code === 'string' && !record.errorCodes.includes(code)) record.errorCodes.push(code);
}

/**
 * The HTTP response of a GraphQL request's context, for Apollo's plugins to note error codes on. A
 * symbol-keyed property rather than a WeakMap: Apollo hands plugins a shallow copy of the context,
 * which keeps the property (Object.assign copies symbols) but is another object.
 */
const ACCESS_RESPONSE = Symbol('accessResponse');

export function attachAccessResponse(context: object, res: express.Response): void {
  Object.defineProperty(context, ACCESS_RESPONSE, { value: res, enumerable: true, configurable: true });
}

export function accessResponseOf(context: object): express.Response | undefined {
  return (context as { [ACCESS_RESPONSE]?: express.Response })[ACCESS_RESPONSE];
}

const SERVICE_FAILURE_CODES = new Set<string>([
  ErrorCode.SERVICE_UNAVAILABLE,
  ErrorCode.STATEMENT_TIMEOUT,
  ErrorCode.GATEWAY_UNAVAILABLE,
  ErrorCode.INTERNAL_SERVER_ERROR,
]);
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);
/** Client-chosen text is cut to this; GraphQL names and request ids of real clients are shorter. */
const MAX_CLIENT_TEXT = 100;
const MAX_ROOT_FIELDS = 20;
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

export type AccessLevel = 'debug' | 'info' | 'warn';

/** The level of an access line (see the top of this file). */
export function accessLevelOf(entry: { status?: number; errorCodes: readonly string[]; aborted?: boolean; probe?: boolean }): AccessLevel {
  if (entry.aborted) return 'warn';
  if ((entry.status ?? 0) >= 500 || entry.errorCodes.some((code) => SERVICE_FAILURE_CODES.has(code))) return 'warn';
  if (entry.probe) return 'debug';
  return 'info';
}

/**
 * The operation type, the client's name and the root fields of a GraphQL document. Root fields are
 * checked against the schema, so that a document refused at validation cannot put text of its own
 * choosing in the log through a made-up field name.
 */
export function describeOperation(schema: GraphQLSchema, document: DocumentNode | null | undefined, operationName?: unknown): OperationDescription {
  const givenName = typeof operationName === 'string' && GRAPHQL_NAME.test(operationName) ? operationName.slice(0, MAX_CLIENT_TEXT) : undefined;
  const definition = document ? getOperationAST(document, givenName) : null;
  if (!document || !definition) return { operationType: 'unknown', ...(givenName ? { operationName: givenName } : {}), rootFields: [] };
  const root = schema.getRootType(definition.operation);
  const fields = new Set<string>();
  const seen = new Set<string>();
  const collect = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        fields.add(name === '__typename' || name === '__schema' || name === '__type' || root?.getFields()[name] ? name : '(unknown)');
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet);
      } else if (!seen.has(selection.name.value)) {
        seen.add(selection.name.value);
        const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
        if (fragment && fragment.kind === Kind.FRAGMENT_DEFINITION) collect(fragment.selectionSet);
      }
    }
  };
  collect(definition.selectionSet);
  const name = definition.name?.value.slice(0, MAX_CLIENT_TEXT);
  return { operationType: definition.operation, ...(name ? { operationName: name } : {}), rootFields: [...fields].slice(0, MAX_ROOT_FIELDS) };
}

function callerFields(record: AccessRecord): Record<string, unknown> {
  return {
    tenantId: record.caller?.tenantId ?? record.tenantId,
    credentialId: record.caller?.credentialId ?? record.credentialId,
    credentialKind: record.caller?.credentialKind,
  };
}

/**
 * First in the chain: times the request and writes its access line once it is answered, or once its
 * client has gone (`aborted: true`, status 499, as nginx logs it). Sets the request id (the caller's
 * X-Request-Id when well-formed) and enters it for currentRequestId(); body parsers lose that async
 * context, so /graphql enters it again just before Apollo.
 */
export function accessLogMiddleware(log: Logger, schema: GraphQLSchema, newRequestId: (req: express.Request) => string): express.RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const requestId = newRequestId(req);
    res.locals.requestId = requestId;
    const record = accessRecordOf(res);
    // Now: once the client has gone, its socket no longer says where it came from.
    const ip = sourceAddressOf(req, req.app.get('trust proxy fn') as TrustProxy);
    let done = false;
    const write = (aborted: boolean) => {
      if (done) return;
      done = true;
      const route = routeLabelOf(req);
      const status = aborted ? 499 : res.statusCode;
      const graphql = route === '/graphql' && record.graphqlDocument !== undefined ? describeOperation(schema, record.graphqlDocument, record.graphqlOperationName) : undefined;
      // REST routes name their one error in res.locals.errorCode (sendRestError), as the metrics read it.
      noteErrorCodes(res, [res.locals.errorCode]);
      const errorCodes = [...record.errorCodes];
      const level = accessLevelOf({ status, errorCodes, aborted, probe: req.method === 'GET' && PROBES.has(route) });
      log[level](
        {
          requestId,
          method: req.method,
          route,
          // The path only, never the query string; cut, since a scanner's path can be anything.
          path: req.originalUrl.split('?')[0].slice(0, MAX_CLIENT_TEXT * 2),
          status,
          durationMs: Math.round((performance.now() - started) * 10) / 10,
          ip,
          ...callerFields(record),
          ...(graphql ?? {}),
          ...(errorCodes.length ? { errorCodes } : {}),
          ...(aborted ? { aborted: true } : {}),
        },
        ACCESS_LOG_MESSAGE,
      );
    };
    res.on('finish', () => write(false));
    res.on('close', () => write(!res.writableFinished));
    runWithRequestId(requestId, next);
  };
}
