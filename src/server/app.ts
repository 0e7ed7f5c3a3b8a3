import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLError } from 'graphql';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { type AppError, ErrorCode, errorCodeTraits } from '../common/errors';
import type { Config } from '../config';
import { databaseIsReachable } from '../db/mysql-guards';
import { currentStatementScope, runInStatementScope, type StatementScope, WorkCancelled } from '../db/statement-scope';
import { createRequestContext, CREDENTIAL_QUERY_PARAMETERS, newRequestId, type RequestContext } from './context';
import { formatError, isInternalError } from './format-error';
import { consumeRequestAllowance } from '../services/limiters';
import { auditActorOf, auditRefusedRequestsPlugin, recordAuthenticationFailure, restAuditMiddleware } from './audit-http';
import { bankNotificationRoutes } from './bank-notifications.routes';
import { bankStatementRoutes } from './bank-statements.routes';
import { gatewayWebhookRoutes } from './gateway-webhooks.routes';
import { invoicePdfRoutes } from './invoice-pdf.routes';
import { exportRoutes } from './exports.routes';
import { restRoutes } from './rest/rest.routes';
import { dashboardRoutes } from './dashboard.routes';
import { errorCodeLabel, graphqlMetricsPlugin, httpMetricsMiddleware, metricsRoutes } from './metrics';
import { expectedErrorOf, quoted } from './rest-errors';
import { oauthRoutes } from './oauth.routes';
import { buildGuardedSchema } from './permissions';
import { hideSuggestionsPlugin, QueryLimiter, queryGuard } from './query-guard';
import { responseMediaTypeOf, statusOfRefusal } from './response-media-type';
import { sourceAddressOf, type TrustProxy } from './source-address';
import type { Services } from '../services/services';
import { attachWebSocketServer, subscriptionsOverWebSocketOnly } from './websocket';
import { accessLogMiddleware, accessResponseOf, attachAccessResponse, noteCaller, noteErrorCodes } from './access-log';
import { databaseOutageCause } from '../db/transaction';
import { runWithRequestId } from '../common/log-context';

export type ServerConfig = Pick<
  Config,
  'nodeEnv' | 'dashboardDirectory' | 'limits' | 'tlsCertFile' | 'tlsKeyFile' | 'wsCredentialCheckIntervalMs' | 'shutdownTimeoutMs' | 'payments' | 'invoices' | 'requestTimeoutMs' | 'trustProxy' | 'statementUploads' | 'metrics' | 'audit'
>;

export interface ServerOptions {
  services: Services;
  log: Logger;
  config: ServerConfig;
}

export interface RunningServer {
  httpServer: http.Server;
  url: string;
  /**
   * Graceful stop, in this order: stop listening (new connections are refused), let the WebSocket
   * queries and mutations in flight answer and close every WebSocket with 1001, then let the HTTP
   * requests in flight answer and close the HTTP connections. Everything still running at `deadline`
   * (ms since the epoch; default now + SHUTDOWN_TIMEOUT_MS) is cut off.
   */
  close(options?: { deadline?: number }): Promise<void>;
}

const IDEMPOTENCY_REAP_INTERVAL_MS = 60_000;
const RECONCILIATION_SWEEP_INTERVAL_MS = 60_000;
/** /readyz's own bound, connect included: a load balancer's probe gets its 503 before it gives up. */
const READINESS_TIMEOUT_MS = 2000;
/** The largest JSON body of /graphql and /v1 (statement files past it go to the upload route). */
const REQUEST_BODY_LIMIT = '2mb';
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A caller may send its own X-Request-Id to correlate logs; otherwise we make one. */
function requestIdOf(req: express.Request): string {
  const given = req.header('x-request-id');
  return given && REQUEST_ID_PATTERN.test(given) ? given : newRequestId();
}

/**
 * Adds the request id to every error, logs the unexpected ones in full under the same id, and answers
 * a missing scope with 403 and RFC 6750's `insufficient_scope` challenge.
 */
function requestPlugin(log: Logger): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation }) {
          // Only a read's statements are cancelled when its client leaves or its deadline passes (see StatementScope).
          const scope = currentStatementScope();
          if (scope) scope.cancellable = operation?.operation === 'query';
        },
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            // A database outage is no bug: a warning with its cause, not an error with a stack.
            const outage = databaseOutageCause(error.originalError ?? error);
            if (outage) contextValue.log.warn({ cause: outage }, 'database unavailable');
            else if (isInternalError(error)) contextValue.log.error({ err: error.originalError ?? error }, 'internal error');
            else contextValue.log.debug({ err: error.message, code: error.extensions?.code }, 'request error');
          }
        },
        async willSendResponse({ request, response, contextValue }) {
          if (response.body.kind !== 'single') return;
          const res = accessResponseOf(contextValue);
          if (res) noteErrorCodes(res, (response.body.singleResult.errors ?? []).map((error) => error.extensions?.code));
          // Context building may have failed (no credentials): then there is no idempotency to finish.
          if (contextValue.idempotency) {
            const replay = await contextValue.idempotency.finish(response.body.singleResult.data);
            if (replay) response.body.singleResult.extensions = { ...response.body.singleResult.extensions, idempotency: replay };
          }
          if (!response.body.singleResult.errors) return;
          for (const error of response.body.singleResult.errors) {
            (error as { extensions: Record<string, unknown> }).extensions = { ...error.extensions, requestId: contextValue.requestId };
          }
          const result = response.body.singleResult;
          const errors = result.errors ?? [];
          // Refused before execution (no data entry): 200 or 400 by the media type (response-media-type.ts).
          if (result.data === undefined) {
            response.http.status = statusOfRefusal(responseMediaTypeOf(request.http?.headers.get('accept')), response.http.status ?? 200, errors);
            return;
          }
          // A document refused as a whole for want of scope (every field it asked for is FORBIDDEN) is a
          // request the client may not make: 403 with RFC 6750's challenge, and no data entry, since a
          // response with data is 200 (GraphQL over HTTP). A field refused beside others that ran is 200.
          const rootFields = Object.values(result.data ?? {});
          const wholeDocumentForbidden =
            rootFields.every((value) => value === null) && errors.every((error) => error.extensions?.code === ErrorCode.FORBIDDEN);
          const forbidden = errors.find((error) => error.extensions?.code === ErrorCode.FORBIDDEN);
          if (forbidden && wholeDocumentForbidden) {
            const scope = (forbidden.extensions?.details as { requiredScope?: string } | undefined)?.requiredScope ?? '';
            delete result.data;
            response.http.status = 403;
            response.http.headers.set(
              'www-authenticate',
              `Bearer realm="reckon", error="insufficient_scope", error_description=${quoted(forbidden.message)}, scope=${quoted(scope)}`,
            );
          }
        },
      };
    },
    async unexpectedErrorProcessingRequest({ error }) {
      log.error({ err: error }, 'unexpected error processing request');
    },
  };
}

/**
 * An error that ends the request before any resolver runs: authentication (401 with RFC 6750's
 * challenge) or the request rate limit (429 with Retry-After).
 */
function requestRefusal(error: AppError, requestId: string): GraphQLError {
  const headers = new Map<string, string>();
  const reason = error.details.reason;
  const retryAfter = error.details.retryAfterSeconds;
  if (error.code === ErrorCode.UNAUTHENTICATED) {
    headers.set(
      'www-authenticate',
      reason === 'missing' ? 'Bearer realm="reckon"' : `Bearer realm="reckon", error="invalid_token", error_description=${quoted(error.message)}`,
    );
  }
  if (typeof retryAfter === 'number') headers.set('retry-after', String(retryAfter));
  return new GraphQLError(error.message, {
    extensions: {
      code: error.code,
      // As formatError gives every expected error: SERVICE_UNAVAILABLE (a database outage during the
      // credential lookup) and RATE_LIMITED say so to clients that retry by this flag.
      retryable: errorCodeTraits(error.code).retryable,
      requestId,
      ...(Object.keys(error.details).length ? { details: error.details } : {}),
      http: { status: errorCodeTraits(error.code).httpStatus, headers },
    },
  });
}

/**
 * The statement scope of one HTTP request: aborted when its client closes the connection before the
 * answer, or when REQUEST_TIMEOUT_MS passes. Armed for queries only (didResolveOperation above).
 */
function requestScope(res: express.Response, timeoutMs: number): StatementScope {
  const controller = new AbortController();
  const deadline = setTimeout(() => {
    controller.abort(new WorkCancelled(`The request ran past its time limit (${timeoutMs} ms) and its database work was cancelled. Retry later, or ask for less.`));
  }, timeoutMs);
  deadline.unref();
  res.on('close', () => {
    clearTimeout(deadline);
    if (!res.writableFinished) controller.abort(new WorkCancelled('The client closed the connection before the answer.'));
  });
  return { signal: controller.signal, cancellable: false, limit: 'default' };
}

/** Authenticates the request, applies the per-credential rate limit and builds the resolvers' context. */
export async function authenticateRequest(
  services: Services,
  log: Logger,
  authorization: string | undefined,
  /** The caller's address (sourceAddressOf): failed authentications are locked per address. */
  source: string,
  requestId: string,
  idempotencyKeyHeader: string | null = null,
  /** Where the credential was presented ("POST /graphql"): a refusal is recorded in the audit trail under it. Null: the caller records. */
  auditEntry: string | null = null,
): Promise<RequestContext> {
  let principal;
  try {
    principal = await services.auth.authenticate(authorization, source);
  } catch (error) {
    if (auditEntry !== null) recordAuthenticationFailure(services, error, { source, requestId, operationName: auditEntry });
    throw error;
  }
  await consumeRequestAllowance(services.requestRateLimiter, principal.credentialId);
  return createRequestContext(requestId, principal, services, log, idempotencyKeyHeader, source);
}

export async function startServer(options: ServerOptions, port: number, host: string): Promise<RunningServer> {
  const { services, log, config } = options;
  const production = config.nodeEnv === 'production';
  const app = express();
  app.disable('x-powered-by');
  // No body-hash ETags: answers are no-store, and a weak tag on every JSON answer would read like a
  // version clients could send as If-Match. Objects that have a version (invoices) send their own.
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('trust proxy', config.trustProxy);
  const trustProxy = app.get('trust proxy fn') as TrustProxy;
  const tls = config.tlsCertFile && config.tlsKeyFile;
  const httpServer = tls
    ? https.createServer({ cert: fs.readFileSync(config.tlsCertFile as string), key: fs.readFileSync(config.tlsKeyFile as string) }, app)
    : http.createServer(app);

  const apollo = new ApolloServer<RequestContext>({
    schema: buildGuardedSchema(),
    formatError,
    introspection: !production,
    // No "Did you mean …?" in production: suggestions would spell out the schema introspection hides
    // (this covers validation errors; hideSuggestionsPlugin below covers variables' coercion errors).
    hideSchemaDetailsFromClientErrors: production,
    // A persisted-query hash alone would run a document the query guard never saw with these variables.
    persistedQueries: false,
    includeStacktraceInErrorResponses: false,
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    // main.ts owns SIGTERM and SIGINT: Apollo's own handler would stop the server behind its back, out of
    // order (WebSockets after the HTTP drain), then re-raise the signal, which main.ts reads as a second one.
    stopOnTerminationSignals: false,
    plugins: [
      // Waits for the HTTP requests in flight on stop, then ends their connections; at most this long.
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownTimeoutMs }),
      ApolloServerPluginLandingPageDisabled(),
      auditRefusedRequestsPlugin(services),
      requestPlugin(log),
      graphqlMetricsPlugin(services.metrics),
      subscriptionsOverWebSocketOnly(),
      ...(production ? [hideSuggestionsPlugin<RequestContext>()] : []),
    ],
  });
  await apollo.start();
  const queryLimiter = new QueryLimiter(config.limits, { introspection: !production });
  // Subscriptions, and queries and mutations too, over graphql-ws on the same server and path.
  const websockets = attachWebSocketServer({
    httpServer,
    schema: buildGuardedSchema(),
    services,
    log,
    config,
    queryLimiter,
    authenticate: (authorization, requestId, request) =>
      authenticateRequest(services, log, authorization, sourceAddressOf(request, trustProxy), requestId, null, 'WS /graphql'),
    sourceAddress: (request) => sourceAddressOf(request, trustProxy),
  });
  /** Authentication of the REST routes: the principal becomes the audited actor of the call (audit-http.ts). */
  // First, so that every request is timed and logged, refusals included.
  app.use(httpMetricsMiddleware(services.metrics));
  app.use(accessLogMiddleware(log, buildGuardedSchema(), requestIdOf));
  app.use(helmet({ hsts: Boolean(tls) }));
  app.use((req, res, next) => {
    const requestId = String(res.locals.requestId);
    res.setHeader('X-Request-Id', requestId);
    const leaked = Object.keys(req.query ?? {})
      .map((key) => key.toLowerCase())
      .find((name) => CREDENTIAL_QUERY_PARAMETERS.has(name));
    if (leaked) {
      res.locals.errorCode = ErrorCode.VALIDATION_FAILED;
      res.status(400).json({
        errors: [
          {
            message: `Credentials are never accepted in the URL (${leaked}); send "Authorization: Bearer …". Treat this credential as leaked and roll it.`,
            extensions: { code: ErrorCode.VALIDATION_FAILED, requestId },
          },
        ],
      });
      return;
    }
    next();
  });

  // Every REST call beside GraphQL is recorded once its answer is sent (GraphQL fields by the schema's middleware).
  app.use(restAuditMiddleware(services, trustProxy));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  let draining = false;
  app.get('/readyz', async (_req, res) => {
    if (draining) {
      res.status(503).json({ status: 'shutting down' });
      return;
    }
    // On a connection of its own with a short bound: the pool may be held by requests hung on a frozen database.
    if (await databaseIsReachable(services.dataSource, READINESS_TIMEOUT_MS)) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'database unavailable' });
  });
  app.use(metricsRoutes(services.metrics, config.metrics.token));
  app.use(dashboardRoutes(config.dashboardDirectory, log));
  /** API-key authentication of the REST routes, as /graphql's; the caller goes in the access line and the audit event. */
  const authenticateRoute = async (req: express.Request, requestId: string): Promise<RequestContext> => {
    const context = await authenticateRequest(services, log, req.header('authorization'), sourceAddressOf(req, trustProxy), requestId);
    noteCaller(req, context.principal);
    if (req.res) req.res.locals.auditActor = auditActorOf(context.principal);
    return context;
  };
  app.use(oauthRoutes(services, log));
  app.use(gatewayWebhookRoutes(services, log));
  // Signed by the bank, no API key: before the statement upload, whose error handler shares the prefix.
  app.use(bankNotificationRoutes(services, log));
  app.use(
    bankStatementRoutes(
      services,
      log,
      authenticateRoute,
      {
        maxBytes: config.statementUploads.maxBytes,
        wholeDocumentMaxBytes: config.statementUploads.wholeDocumentMaxBytes,
        spoolDirectory: config.statementUploads.spoolDirectory ?? undefined,
      },
    ),
  );
  app.use(invoicePdfRoutes(services, log, authenticateRoute));
  app.use(exportRoutes(services, log, authenticateRoute));
  // The REST interface: each operation runs its GraphQL field through this Apollo server (rest/rest.routes.ts).
  const rest = restRoutes({
    services,
    apollo,
    schema: buildGuardedSchema(),
    log,
    authenticate: async (req, requestId, idempotencyKey, auditEntry) => {
      const context = await authenticateRequest(services, log, req.header('authorization'), sourceAddressOf(req, trustProxy), requestId, idempotencyKey, auditEntry);
      noteCaller(req, context.principal);
      if (req.res) attachAccessResponse(context, req.res);
      return context;
    },
    statementScope: (res) => requestScope(res, config.requestTimeoutMs),
    bodyLimit: REQUEST_BODY_LIMIT,
    credentialCheckIntervalMs: config.wsCredentialCheckIntervalMs,
  });
  app.use('/v1', rest.router);

  app.use(
    '/graphql',
    express.json({ limit: REQUEST_BODY_LIMIT }),
    // Before authentication: a refused document costs no database statement, not even the key lookup.
    ...queryGuard(queryLimiter),
    // Last before Apollo: the scope then follows the request's own async chain to every statement.
    (_req: express.Request, res: express.Response, next: express.NextFunction) =>
      runInStatementScope(requestScope(res, config.requestTimeoutMs), () => runWithRequestId(String(res.locals.requestId), next)),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const requestId = String(res.locals.requestId);
        try {
          const context = await authenticateRequest(
            services,
            log,
            req.header('authorization'),
            sourceAddressOf(req, trustProxy),
            requestId,
            req.header('idempotency-key') ?? null,
            `${req.method} /graphql`,
          );
          noteCaller(res, context.principal);
          attachAccessResponse(context, res);
          return context;
        } catch (error) {
          // Refused before Apollo's request plugins run, so the metrics plugin never sees these: counted here.
          const refusal = expectedErrorOf(error);
          services.metrics.errors.inc({ code: errorCodeLabel(refusal?.code ?? ErrorCode.INTERNAL_SERVER_ERROR) });
          noteErrorCodes(res, [refusal?.code ?? ErrorCode.INTERNAL_SERVER_ERROR]);
          const outage = databaseOutageCause(error);
          if (outage) log.warn({ requestId, cause: outage }, 'database unavailable');
          if (refusal) throw requestRefusal(refusal, requestId);
          log.error({ err: error, requestId }, 'authentication failed unexpectedly');
          throw new GraphQLError('Internal server error', {
            extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId, http: { status: 500 } },
          });
        }
      },
    }),
  );

  // Anything no route answered, and any error no handler caught: JSON, never Express's HTML page
  // (which shows a stack trace outside NODE_ENV=production).
  app.use((_req: express.Request, res: express.Response) => {
    res.locals.errorCode = ErrorCode.NOT_FOUND;
    res.status(404).json({ errors: [{ message: 'Not found', extensions: { code: ErrorCode.NOT_FOUND, requestId: res.locals.requestId } }] });
  });
  app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const status = (error as { status?: number }).status;
    const clientError = typeof status === 'number' && status >= 400 && status < 500;
    if (!clientError) log.error({ err: error, requestId: res.locals.requestId }, 'unhandled HTTP error');
    res.locals.errorCode = clientError ? ErrorCode.VALIDATION_FAILED : ErrorCode.INTERNAL_SERVER_ERROR;
    res.status(clientError ? status : 500).json({
      errors: [
        {
          message: clientError ? 'The request could not be read' : 'Internal server error',
          extensions: { code: clientError ? ErrorCode.VALIDATION_FAILED : ErrorCode.INTERNAL_SERVER_ERROR, requestId: res.locals.requestId },
        },
      ],
    });
  });

  // Idempotency records past IDEMPOTENCY_TTL are deleted in small batches; every API process reaps,
  // and the deletes are safe to race.
  const reaper = setInterval(() => {
    services.idempotency.reap().catch((error: unknown) => log.warn({ err: error }, 'idempotency reaper failed'));
  }, IDEMPOTENCY_REAP_INTERVAL_MS);
  reaper.unref();

  // Authorizations past their window are expired (their holds released) and gateway calls left
  // unsettled are checked with the gateway. Every process runs both; each payment is locked and its
  // state checked again before any change, so two processes racing do the work once.
  let paymentJobsRunning = false;
  const paymentJobs = setInterval(() => {
    if (paymentJobsRunning) return;
    paymentJobsRunning = true;
    void Promise.all([services.payments.expireAuthorizations(), services.payments.settleUnknownOutcomes()])
      .catch((error: unknown) => log.warn({ err: error }, 'payment jobs failed'))
      .finally(() => {
        paymentJobsRunning = false;
      });
  }, config.payments.jobsIntervalMs);
  paymentJobs.unref();

  // Reconciliation: unmatched statement lines are retried and what stays unmatched past its window is
  // flagged. Every process sweeps; matching locks each bank account row, and an item already flagged
  // is not flagged again, so racing sweeps do the work once.
  let reconciliationSweepRunning = false;
  const reconciliationSweep = setInterval(() => {
    if (reconciliationSweepRunning) return;
    reconciliationSweepRunning = true;
    void services.matching
      .sweep()
      .catch((error: unknown) => log.warn({ err: error }, 'reconciliation sweep failed'))
      .finally(() => {
        reconciliationSweepRunning = false;
      });
  }, RECONCILIATION_SWEEP_INTERVAL_MS);
  reconciliationSweep.unref();

  // invoice.overdue: OPEN invoices past their due date are marked and announced once. Every process
  // sweeps; the mark is a conditional UPDATE whose changed rows are counted, so racing sweeps emit once.
  let invoiceOverdueSweepRunning = false;
  const invoiceOverdueSweep = setInterval(() => {
    if (invoiceOverdueSweepRunning) return;
    invoiceOverdueSweepRunning = true;
    void services.invoiceOverdue
      .sweep()
      .catch((error: unknown) => log.warn({ err: error }, 'invoice overdue sweep failed'))
      .finally(() => {
        invoiceOverdueSweepRunning = false;
      });
  }, config.invoices.overdueSweepIntervalMs);
  invoiceOverdueSweep.unref();

  // Audit retention: events past AUDIT_RETENTION_DAYS are archived to signed files, then pruned. Every
  // process runs it; the chain head is locked and its watermark checked before pruning, so racing
  // jobs prune once (and write the same files).
  let auditRetentionRunning = false;
  const auditRetention = setInterval(() => {
    if (auditRetentionRunning) return;
    auditRetentionRunning = true;
    void services.auditRetention
      .run()
      .catch((error: unknown) => log.warn({ err: error }, 'audit retention failed'))
      .finally(() => {
        auditRetentionRunning = false;
      });
  }, config.audit.retentionIntervalMs);
  auditRetention.unref();
  // Outbound webhooks: every process delivers; deliveries are leased row by row, so each is sent by
  // one process at a time (webhook-deliveries.service.ts).
  services.webhookWorker.start();

  // A port already taken fails the start (the WebSocket server would otherwise take the 'error' event and leave it waiting).
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const address = httpServer.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    httpServer,
    url: `${tls ? 'https' : 'http'}://${shownHost}:${address.port}/graphql`,
    close: async ({ deadline = Date.now() + config.shutdownTimeoutMs } = {}) => {
      clearInterval(reaper);
      clearInterval(paymentJobs);
      clearInterval(reconciliationSweep);
      clearInterval(invoiceOverdueSweep);
      clearInterval(auditRetention);
      draining = true;
      // No new delivery starts; the attempts in flight are recorded (until the deadline) while the rest drains.
      const webhooksStopped = services.webhookWorker.stop(deadline);
      // Listening stops at once, so a load balancer's next connection goes elsewhere; the drain plugin
      // below still waits for the connections already open (Server.close's callback fires when the
      // last one ends, even when called again).
      httpServer.close();
      log.info('shutdown: stopped accepting connections');
      // Before the HTTP drain, which would end the upgraded sockets without a WebSocket close frame.
      await websockets.dispose({ deadline });
      log.info('shutdown: WebSockets closed (1001)');
      // Event streams never end by themselves: ended here, or the HTTP drain below would wait for them until the deadline.
      await rest.streams.close();
      log.info('shutdown: event streams ended');
      await apollo.stop();
      log.info('shutdown: HTTP requests in flight answered, connections closed');
      await webhooksStopped;
      log.info('shutdown: webhook deliveries in flight recorded');
    },
  };
}
