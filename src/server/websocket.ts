import type http from 'node:http';
import type https from 'node:https';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import {
  type DocumentNode,
  execute,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  getOperationAST,
  GraphQLError,
  Kind,
  type GraphQLFormattedError,
  type GraphQLSchema,
  parse,
  subscribe,
  validate,
} from 'graphql';
import { CloseCode, type Context, type SubscribePayload } from 'graphql-ws';
import { type Extra, useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { assert } from '../common/assert';
import { AppError, ErrorCode } from '../common/errors';
import type { Config } from '../config';
import { runWithRequestId } from '../common/log-context';
import { databaseOutageCause, isConnectionError } from '../db/transaction';
import { argumentsDigestOf, redactArguments, resourceIdsOf } from '../modules/audit/audit-redaction';
import { actorKindOf, auditErrorCodeOf } from '../modules/audit/audit.middleware';
import { AuditEventKind, AuditOperationType } from '../modules/audit/audit.types';
import { accessLevelOf, describeOperation, type OperationDescription, WS_OPERATION_MESSAGE, WS_SUBSCRIPTION_STARTED_MESSAGE } from './access-log';
import { authenticationError, type Principal } from '../modules/auth/auth.service';
import { createRequestContext, CREDENTIAL_QUERY_PARAMETERS, newRequestId, type RequestContext } from './context';
import { formatError, isInternalError } from './format-error';
import { errorCodeLabel, operationLabelOf } from './metrics';
import { consumeRequestAllowance } from '../services/limiters';
import { QueryLimiter, queryRefusalError, withoutSuggestions } from './query-guard';
import { recordRefusedRequest } from './audit-http';
import type { Services } from '../services/services';

/**
 * GraphQL over WebSocket (graphql-ws, protocol `graphql-transport-ws`) on the API's own HTTP(S) server.
 *
 * The credential travels in the `connection_init` payload, `{ "authorization": "Bearer …" }`, and is
 * checked like an HTTP request's (AuthService.authenticate and the per-credential rate limit). A
 * refused connection is closed with 4403 and a reason that starts with the error code; a database
 * outage during authentication closes it with 1013 (try again later).
 *
 * Every operation on the socket (subscription, query or mutation) is one request: the query limits,
 * a fresh check that the credential still holds, the rate limit, validation, the guarded schema
 * (shield rules) and the one formatError, with its own request id in every error.
 *
 * A stream ends when its credential does. The connection checks the credential every
 * WS_CREDENTIAL_CHECK_INTERVAL_MS (revoked key or OAuth client, key expiry changed by a roll) and at
 * the credential's expiry instant, and then closes the whole socket with 4403: the credential belongs
 * to the connection, so every operation on it has lost its authority at once. Closing rather than
 * completing the subscriptions one by one is also what makes graphql-ws clients reconnect, calling
 * their `connectionParams` again, which is where a client puts its new token.
 *
 * On shutdown (dispose) the endpoint refuses new connections and operations, lets the queries and
 * mutations already running send their results (until the shutdown deadline), then closes every
 * connection with 1001 (going away), which graphql-ws clients answer by reconnecting, to another
 * instance behind the load balancer. Subscriptions end then: they never finish by themselves.
 */

export const GRAPHQL_WS_PATH = '/graphql';

/** WebSocket close code 1001, "Going Away" (RFC 6455): the server is shutting down. */
const CLOSE_GOING_AWAY = 1001;
const CLOSE_REASON_SHUTTING_DOWN = 'Server shutting down; reconnect';
/** How often shutdown looks whether the operations it waits for have finished. */
const SHUTDOWN_POLL_MS = 10;
/** WebSocket close code 1013, "Try Again Later" (RFC 6455 registry): graphql-ws clients retry it. */
const CLOSE_TRY_AGAIN_LATER = 1013;
/** RFC 6455 limits a close reason to 123 bytes. */
const CLOSE_REASON_MAX_BYTES = 123;
/** Largest message accepted, as for an HTTP body (express.json's limit in app.ts). */
const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;
/** Operations running at once on one connection. */
const MAX_OPERATIONS_PER_CONNECTION = 100;
/** setTimeout's largest delay (about 24.8 days); later expiries are left to the periodic check. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export type WebSocketConfig = Pick<Config, 'nodeEnv' | 'limits' | 'wsCredentialCheckIntervalMs'>;

export interface WebSocketEndpointOptions {
  httpServer: http.Server | https.Server;
  /** The guarded schema (shield rules), the same one Apollo serves over HTTP. */
  schema: GraphQLSchema;
  services: Services;
  log: Logger;
  config: WebSocketConfig;
  /**
   * Authenticates and rate-limits exactly as an HTTP request is (app.ts's authenticateRequest);
   * `request` is the upgrade request, whose address failed authentications are counted by.
   */
  authenticate(authorization: string | undefined, requestId: string, request: http.IncomingMessage): Promise<RequestContext>;
  /** The HTTP endpoint's limiter, to share its document cache; one with the same limits otherwise. */
  queryLimiter?: QueryLimiter;
  /** The caller's address of an upgrade request (sourceAddressOf with the server's TRUST_PROXY), for the logs. */
  sourceAddress?(request: http.IncomingMessage): string;
}

export interface WebSocketEndpoint {
  /**
   * Stops accepting connections and operations, waits until `deadline` (ms since the epoch) at most
   * for the running queries and mutations to send their results, then closes every connection with
   * 1001 (going away). Connections that do not finish the closing handshake by the deadline are cut.
   */
  dispose(options?: { deadline?: number }): Promise<void>;
}

/** What one authenticated connection carries. */
interface Connection {
  principal: Principal;
  /** The request id of each running operation, by graphql-ws operation id. */
  requestIds: Map<string, string>;
  /** Queries and mutations running (not subscriptions): shutdown lets them send their results. */
  running: Set<string>;
  /** When each running query or mutation started and its metric labels, for reckon_graphql_operation_duration_seconds. */
  timings: Map<string, { started: number; labels: { operation: string; type: string } }>;
  /** Every operation from its subscribe message to its end, for its access line (README "Logs"). */
  operations: Map<string, OperationLog>;
  /** The request id of the connection's authentication, which its open and close lines carry. */
  requestId: string;
  openedAt: number;
  /** Where the connection came from, as failed authentications are counted. */
  ip: string;
  stopWatching(): void;
  /** The caller's address at the upgrade, for the audit trail. */
  source: string | null;
  /** Subscriptions by graphql-ws operation id, for their audit events (started: the start was recorded as accepted). */
  subscriptions: Map<string, AuditedSubscription>;
}

/** What a subscription's start and end events say. */
interface AuditedSubscription {
  context: RequestContext;
  fieldName: string;
  resourceIds: string[];
  argumentsDigest: string;
  started: boolean;
}

/** What the access line of one WebSocket operation says, gathered while it runs. */
interface OperationLog {
  requestId: string;
  started: number;
  description: OperationDescription;
  errorCodes: Set<string>;
  /** Past onSubscribe: graphql-ws will call onComplete for it. Refused before: onError is its end. */
  executing: boolean;
}

type ConnectionContext = Context<Record<string, unknown>, Extra & Partial<{ connection: Connection }>>;

function closeSocket(socket: WebSocket, code: number, reason: string): void {
  let text = reason;
  while (Buffer.byteLength(text, 'utf8') > CLOSE_REASON_MAX_BYTES) text = `${text.slice(0, text.length - 2)}…`;
  if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, text);
}

/** The Authorization value from the connection_init payload; "Authorization" is accepted as well. */
function authorizationOf(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? value : undefined;
}

/** An error raised before execution, as a GraphQLError that formatError maps like any other. */
function requestError(error: AppError): GraphQLError {
  return new GraphQLError(error.message, { originalError: error });
}

/** graphql-js leaves parse and validation errors without a code; Apollo gives them one, and so do we. */
function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code },
  });
}

/**
 * Apollo would run a subscription sent over HTTP as if it were a query, with no event to resolve:
 * refused before execution instead, pointing at the WebSocket endpoint.
 */
export function subscriptionsOverWebSocketOnly(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          if (operation?.operation !== 'subscription') return;
          throw new GraphQLError(`Subscriptions run over WebSocket: connect to ${GRAPHQL_WS_PATH} with the graphql-transport-ws protocol`, {
            extensions: { code: ApolloServerErrorCode.BAD_REQUEST, http: { status: 400 } },
          });
        },
      };
    },
  };
}

export function attachWebSocketServer(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const { httpServer, schema, services, log, config } = options;
  const production = config.nodeEnv === 'production';
  const queryLimiter = options.queryLimiter ?? new QueryLimiter(config.limits, { introspection: !production });

  let shuttingDown = false;
  const connections = new Set<Connection>();

  const webSocketServer = new WebSocketServer({
    server: httpServer,
    path: GRAPHQL_WS_PATH,
    maxPayload: MAX_MESSAGE_BYTES,
    // The credential is in connection_init, never in a cookie, so another site's page cannot ride on
    // a browser's session here (no cross-site WebSocket hijacking) and any Origin may connect.
    verifyClient: (info, accept) => {
      if (shuttingDown) {
        accept(false, 503, CLOSE_REASON_SHUTTING_DOWN);
        return;
      }
      const url = new URL(info.req.url ?? '/', 'http://localhost');
      const leaked = [...url.searchParams.keys()].find((name) => CREDENTIAL_QUERY_PARAMETERS.has(name.toLowerCase()));
      if (leaked) accept(false, 400, `Credentials are never accepted in the URL (${leaked}); send them in connection_init`);
      else accept(true);
    },
  });

  /** Ends the connection when its credential no longer holds; returns the function that stops watching. */
  function watchCredential(socket: WebSocket, principal: Principal): () => void {
    const end = (why: string) => closeSocket(socket, CloseCode.Forbidden, `${ErrorCode.UNAUTHENTICATED}: ${why}`);
    let checking = false;
    const check = async () => {
      if (checking) return;
      checking = true;
      try {
        if (!(await services.auth.isStillValid(principal))) end('the credential has expired or was revoked');
      } catch (error) {
        // An unreadable database is not a revocation: the next check decides. Nothing is written
        // meanwhile either, so the stream has nothing to leak.
        log.warn({ err: error, credentialId: principal.credentialId }, 'could not recheck a WebSocket credential');
      } finally {
        checking = false;
      }
    };
    const interval = setInterval(() => void check(), config.wsCredentialCheckIntervalMs);
    interval.unref();
    let expiry: NodeJS.Timeout | undefined;
    if (principal.expiresAt) {
      const delayMs = principal.expiresAt.getTime() - services.clock.now().getTime();
      if (delayMs <= MAX_TIMER_DELAY_MS) {
        expiry = setTimeout(() => end('the credential has expired'), Math.max(0, delayMs));
        expiry.unref();
      }
    }
    return () => {
      clearInterval(interval);
      if (expiry) clearTimeout(expiry);
    };
  }

  /**
   * Validation errors by document. The limiter hands out the same document object each time a text
   * comes back, so a client's repeated operations are validated once, as Apollo's document store
   * does for HTTP.
   */
  const validations = new WeakMap<DocumentNode, readonly GraphQLError[]>();
  function validated(document: DocumentNode): readonly GraphQLError[] {
    let errors = validations.get(document);
    if (!errors) {
      errors = validate(schema, document);
      validations.set(document, errors);
    }
    return errors;
  }

  /** Query-limit refusals, which HTTP answers as formatQueryRefusal made them, limits and all. */
  const alreadyFormatted = new WeakSet<GraphQLError>();

  /** Formats errors exactly as over HTTP, adds the request id, and logs the unexpected ones in full. */
  function formatOperationErrors(errors: readonly GraphQLError[], requestId: string | undefined, requestFailed: boolean): GraphQLFormattedError[] {
    return errors.map((error) => {
      if (alreadyFormatted.has(error)) return error.toJSON();
      // An error raised outside a resolver (the subscribe step, a failing event stream) carries its
      // cause without a path, where Apollo's unwrapping does not look for it.
      let cause: unknown = error.path === undefined && error.originalError ? error.originalError : error;
      // Variables that fail to coerce end the request before execution (no data, no path) with no code;
      // Apollo calls them BAD_USER_INPUT, which formatError shows as VALIDATION_FAILED.
      if (requestFailed && error.path === undefined && error.extensions?.code === undefined && !(error.originalError instanceof AppError)) {
        cause = withCode(error, ApolloServerErrorCode.BAD_USER_INPUT);
      }
      // A database outage is no bug: a warning with its cause, not an error with a stack.
      const outage = databaseOutageCause(error.originalError ?? error);
      if (outage) log.warn({ cause: outage, requestId }, 'database unavailable');
      else if (isInternalError(cause)) log.error({ err: error.originalError ?? error, requestId }, 'internal error');
      else log.debug({ err: error.message, code: error.extensions?.code, requestId }, 'request error');
      const formatted = formatError(cause instanceof GraphQLError ? cause.toJSON() : error.toJSON(), cause);
      // No "Did you mean …?" in production, as over HTTP: suggestions spell out the schema.
      const message = production ? withoutSuggestions(formatted.message) : formatted.message;
      return { ...formatted, message, extensions: { ...formatted.extensions, ...(requestId ? { requestId } : {}) } };
    });
  }

  /** Checks one operation and prepares its execution; errors are answered to that operation alone. */
  async function prepareOperation(ctx: ConnectionContext, id: string, payload: SubscribePayload): Promise<ExecutionArgs | readonly GraphQLError[]> {
    const connection = ctx.extra.connection;
    assert(connection !== undefined, 'graphql-ws runs operations only on acknowledged connections');
    const started = performance.now();
    const requestId = newRequestId();
    connection.requestIds.set(id, requestId);
    const operationLog: OperationLog = {
      requestId,
      started,
      description: describeOperation(schema, null, payload.operationName),
      errorCodes: new Set(),
      executing: false,
    };
    connection.operations.set(id, operationLog);

    if (shuttingDown) {
      return [requestError(new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The server is shutting down; send this operation again on a new connection'))];
    }
    const { refusal: refused, document: checkedDocument } = queryLimiter.inspect(payload);
    if (refused) {
      const error = queryRefusalError(refused, requestId);
      alreadyFormatted.add(error);
      return [error];
    }
    if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_CONNECTION) {
      return [
        requestError(
          new AppError(ErrorCode.RATE_LIMITED, `At most ${MAX_OPERATIONS_PER_CONNECTION} operations may run at once on one connection`, {
            max: MAX_OPERATIONS_PER_CONNECTION,
          }),
        ),
      ];
    }
    const { principal } = connection;
    try {
      if (!(await services.auth.isStillValid(principal))) {
        closeSocket(ctx.extra.socket, CloseCode.Forbidden, `${ErrorCode.UNAUTHENTICATED}: the credential has expired or was revoked`);
        return [requestError(authenticationError('invalid_token', 'The credential has expired or was revoked'))];
      }
      await consumeRequestAllowance(services.requestRateLimiter, principal.credentialId);
    } catch (error) {
      if (error instanceof AppError) return [requestError(error)];
      if (isConnectionError(error)) return [requestError(new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable. Retry later.'))];
      throw error;
    }

    // The limiter parsed an accepted document already (and keeps it); only an empty query is parsed
    // here, for the syntax error it makes.
    let document = checkedDocument;
    if (!document) {
      try {
        document = parse(payload.query);
      } catch (error) {
        if (error instanceof GraphQLError) return [withCode(error, ApolloServerErrorCode.GRAPHQL_PARSE_FAILED)];
        throw error;
      }
    }
    operationLog.description = describeOperation(schema, document, payload.operationName);
    const validationErrors = validated(document);
    if (validationErrors.length > 0) return validationErrors.map((error) => withCode(error, ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED));
    const contextValue = createRequestContext(requestId, principal, services, log, null, connection.source);
    const operation = getOperationAST(document, payload.operationName);
    if (operation?.operation !== 'subscription') {
      connection.running.add(id);
      connection.timings.set(id, { started, labels: operationLabelOf(schema, document, payload.operationName) });
    } else {
      log.info({ transport: 'websocket', requestId, ...callerOf(connection), ...operationLog.description }, WS_SUBSCRIPTION_STARTED_MESSAGE);
      const root = operation.selectionSet.selections[0];
      const variables = payload.variables ?? {};
      const audited: AuditedSubscription = {
        context: contextValue,
        fieldName: root?.kind === Kind.FIELD ? root.name.value : 'subscription',
        resourceIds: [...resourceIdsOf(redactArguments(variables))],
        argumentsDigest: argumentsDigestOf(variables),
        started: false,
      };
      connection.subscriptions.set(id, audited);
      auditedSubscriptions.set(contextValue, audited);
    }
    operationLog.executing = true;
    return {
      schema,
      document,
      operationName: payload.operationName ?? undefined,
      variableValues: payload.variables ?? undefined,
      contextValue,
    };
  }

  function callerOf(connection: Connection): Record<string, unknown> {
    const { principal } = connection;
    return { tenantId: principal.tenantId, credentialId: principal.credentialId, credentialKind: principal.credentialKind, ip: connection.ip };
  }

  /** Notes the codes of errors answered to an operation, for its access line. */
  function noteOperationErrors(connection: Connection | undefined, id: string, errors: readonly { extensions?: Record<string, unknown> }[] | undefined): void {
    const operationLog = connection?.operations.get(id);
    for (const error of errors ?? []) {
      const code = error.extensions?.code;
      if (operationLog && typeof code === 'string') operationLog.errorCodes.add(code);
    }
  }

  /** The access line of an operation that has ended (answered, refused, completed, or cut by the connection's close), once. */
  function logOperationEnd(connection: Connection | undefined, id: string, endedBy?: string): void {
    const operationLog = connection?.operations.get(id);
    if (!connection || !operationLog) return;
    connection.operations.delete(id);
    const errorCodes = [...operationLog.errorCodes];
    log[accessLevelOf({ errorCodes })](
      {
        transport: 'websocket',
        requestId: operationLog.requestId,
        ...callerOf(connection),
        ...operationLog.description,
        durationMs: Math.round((performance.now() - operationLog.started) * 10) / 10,
        ...(errorCodes.length ? { errorCodes } : {}),
        ...(endedBy ? { endedBy } : {}),
      },
      WS_OPERATION_MESSAGE,
    );
  }

  /** Subscriptions by their context, for the subscribe step below (graphql-ws gives it no operation id). */
  const auditedSubscriptions = new WeakMap<RequestContext, AuditedSubscription>();

  /** A subscription's start (accepted, or refused by its subscribe step) or end, through the audit buffer. */
  function recordSubscription(audited: AuditedSubscription, kind: AuditEventKind, errorCode: string | null): void {
    const { context } = audited;
    services.audit.enqueue(
      services.audit.draft({
        tenantId: context.principal.tenantId,
        actorKind: actorKindOf(context.principal),
        actorCredentialId: context.principal.credentialId,
        originIp: context.sourceAddress,
        requestId: context.requestId,
        kind,
        operationType: AuditOperationType.SUBSCRIPTION,
        operationName: audited.fieldName,
        resourceIds: audited.resourceIds,
        argumentsDigest: audited.argumentsDigest,
        errorCode,
      }),
    );
  }

  function endSubscription(connection: Connection | undefined, id: string): void {
    const audited = connection?.subscriptions.get(id);
    if (!audited) return;
    connection?.subscriptions.delete(id);
    if (audited.started) recordSubscription(audited, AuditEventKind.SUBSCRIPTION_END, null);
  }

  /** A query or mutation answered (or refused) over the socket: its time, once, and its errors by code. */
  function countOperation(connection: Connection | undefined, id: string, errors: readonly { extensions?: Record<string, unknown> }[] | undefined): void {
    for (const error of errors ?? []) services.metrics.errors.inc({ code: errorCodeLabel(error.extensions?.code) });
    const timing = connection?.timings.get(id);
    if (!timing) return;
    connection?.timings.delete(id);
    services.metrics.graphqlOperationDuration.observe({ ...timing.labels, outcome: errors?.length ? 'error' : 'ok' }, (performance.now() - timing.started) / 1000);
  }

  const server = useServer<Record<string, unknown>, { connection: Connection }>(
    {
      schema,
      // Internal error text never reaches a client, in close reasons either.
      isProd: true,
      // Lines logged while the operation runs (a gateway retry, a killed statement) name its request id.
      execute: (args) => runWithRequestId((args.contextValue as RequestContext).requestId, () => execute(args)),
      onConnect: async (ctx) => {
        const requestId = newRequestId();
        try {
          if (shuttingDown) {
            closeSocket(ctx.extra.socket, CLOSE_GOING_AWAY, CLOSE_REASON_SHUTTING_DOWN);
            return false;
          }
          const authenticated = await options.authenticate(authorizationOf(ctx.connectionParams), requestId, ctx.extra.request);
          const { principal } = authenticated;
          // Gone while it was being authenticated: onClose has run already, so nothing would stop a watch.
          if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
          const connection: Connection = {
            principal,
            requestIds: new Map(),
            running: new Set(),
            timings: new Map(),
            operations: new Map(),
            requestId,
            openedAt: performance.now(),
            ip: options.sourceAddress?.(ctx.extra.request) ?? 'unknown',
            stopWatching: watchCredential(ctx.extra.socket, principal),
            source: authenticated.sourceAddress,
            subscriptions: new Map(),
          };
          ctx.extra.connection = connection;
          connections.add(connection);
          log.info({ transport: 'websocket', requestId, ...callerOf(connection) }, 'ws connection opened');
          return true;
        } catch (error) {
          const ip = options.sourceAddress?.(ctx.extra.request) ?? 'unknown';
          if (error instanceof AppError) {
            // A failed authentication is the client's error: info with its code, as an HTTP request's access line.
            log[accessLevelOf({ errorCodes: [error.code] })]({ transport: 'websocket', requestId, ip, errorCodes: [error.code] }, 'ws connection refused');
            closeSocket(ctx.extra.socket, CloseCode.Forbidden, `${error.code}: ${error.message}`);
          } else if (isConnectionError(error)) {
            log.warn({ transport: 'websocket', requestId, ip, cause: databaseOutageCause(error) }, 'ws connection refused: database unavailable');
            closeSocket(ctx.extra.socket, CLOSE_TRY_AGAIN_LATER, `${ErrorCode.SERVICE_UNAVAILABLE}: The database is unavailable. Retry later.`);
          } else {
            log.error({ err: error, requestId }, 'WebSocket authentication failed unexpectedly');
            closeSocket(ctx.extra.socket, CloseCode.InternalServerError, `${ErrorCode.INTERNAL_SERVER_ERROR}: Internal server error`);
          }
          // The socket is closing with the reason above; graphql-ws's own 4403 "Forbidden" is then a no-op.
          return false;
        }
      },
      // graphql-js's subscribe, and the subscription's start in the audit trail: accepted when it gives a
      // stream, refused (with its code) when it gives errors.
      subscribe: async (args) => {
        // Module log lines made while the subscription starts carry its request id.
        const result = await runWithRequestId((args.contextValue as RequestContext).requestId, () => subscribe(args));
        const audited = auditedSubscriptions.get(args.contextValue as RequestContext);
        if (audited) {
          const refused = 'errors' in result && !(Symbol.asyncIterator in result) ? result.errors?.[0] : undefined;
          audited.started = refused === undefined;
          recordSubscription(audited, AuditEventKind.SUBSCRIPTION_START, refused === undefined ? null : auditErrorCodeOf(refused));
        }
        return result;
      },
      onSubscribe: async (ctx, id, payload) => {
        try {
          return await prepareOperation(ctx, id, payload);
        } catch (error) {
          // Anything thrown here would close the whole connection; answer this operation alone.
          return [new GraphQLError('Internal server error', { originalError: error instanceof Error ? error : new Error(String(error)) })];
        }
      },
      onNext: async (ctx, id, _payload, args, result: ExecutionResult): Promise<FormattedExecutionResult | void> => {
        const context = args.contextValue as RequestContext;
        // Mutations over the socket keep their idempotency records exactly as over HTTP.
        const replay = await context.idempotency?.finish(result.data);
        const errors = result.errors?.length ? formatOperationErrors(result.errors, context.requestId, !('data' in result)) : undefined;
        countOperation(ctx.extra.connection, id, errors);
        noteOperationErrors(ctx.extra.connection, id, errors);
        if (!errors && !replay) return;
        return {
          ...result,
          ...(replay ? { extensions: { ...result.extensions, idempotency: replay } } : {}),
          ...(errors ? { errors } : {}),
        };
      },
      onError: (ctx, id, payload, errors) => {
        const requestId = ctx.extra.connection?.requestIds.get(id);
        // Refused before execution: no field ran for the schema's middleware to record.
        if (ctx.extra.connection) {
          const type = /^\s*(mutation|subscription)\b/.exec(payload.query)?.[1] ?? 'query';
          recordRefusedRequest(
            services,
            { principal: ctx.extra.connection.principal, requestId: requestId ?? newRequestId(), sourceAddress: ctx.extra.connection.source },
            { type, names: payload.operationName ? [payload.operationName] : [] },
            auditErrorCodeOf(errors[0]),
            payload.variables,
          );
        }
        ctx.extra.connection?.requestIds.delete(id);
        ctx.extra.connection?.running.delete(id);
        const formatted = formatOperationErrors(errors, requestId, false);
        countOperation(ctx.extra.connection, id, formatted);
        noteOperationErrors(ctx.extra.connection, id, formatted);
        // Refused before execution: graphql-ws sends no complete, so this is the operation's end.
        if (!ctx.extra.connection?.operations.get(id)?.executing) logOperationEnd(ctx.extra.connection, id);
        return formatted;
      },
      // Called once the result went out (graphql-ws sends the result before completing).
      onComplete: (ctx, id) => {
        logOperationEnd(ctx.extra.connection, id);
        endSubscription(ctx.extra.connection, id);
        ctx.extra.connection?.requestIds.delete(id);
        ctx.extra.connection?.running.delete(id);
        ctx.extra.connection?.timings.delete(id);
      },
      onClose: (ctx, code) => {
        const connection = ctx.extra.connection;
        connection?.stopWatching();
        if (!connection) return;
        connections.delete(connection);
        for (const id of [...connection.subscriptions.keys()]) endSubscription(connection, id);
        // Subscriptions the close cut short end here, unless graphql-ws's own completion came first.
        for (const id of [...connection.operations.keys()]) logOperationEnd(connection, id, 'connection closed');
        log.info(
          { transport: 'websocket', requestId: connection.requestId, ...callerOf(connection), closeCode: code, durationMs: Math.round(performance.now() - connection.openedAt) },
          'ws connection closed',
        );
      },
    },
    webSocketServer,
  );

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const operationsRunning = () => [...connections].reduce((count, connection) => count + connection.running.size, 0);

  return {
    dispose: async ({ deadline = Number.POSITIVE_INFINITY } = {}) => {
      shuttingDown = true;
      while (operationsRunning() > 0 && Date.now() < deadline) await sleep(Math.min(SHUTDOWN_POLL_MS, Math.max(0, deadline - Date.now())));
      const cutOff = operationsRunning();
      if (cutOff > 0) log.warn({ operations: cutOff }, 'WebSocket operations still running at the shutdown deadline: closing their connections');
      for (const socket of webSocketServer.clients) closeSocket(socket, CLOSE_GOING_AWAY, CLOSE_REASON_SHUTTING_DOWN);
      // graphql-ws's dispose waits for every closing handshake; a client that never answers is cut at the deadline.
      const disposed = Promise.resolve(server.dispose());
      if (Number.isFinite(deadline)) {
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([
          disposed.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now())))),
        ]);
        if (timer) clearTimeout(timer);
        if (!late) return;
        for (const socket of webSocketServer.clients) socket.terminate();
      }
      await disposed;
    },
  };
}
