import crypto from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import express from 'express';
import { type DocumentNode, getOperationAST, type GraphQLSchema, Kind, type SelectionSetNode } from 'graphql';
import { ErrorCode } from '../common/errors';
import { type Metrics, SEVERAL_OPERATIONS, UNKNOWN_OPERATION } from '../common/metrics';
import type { RequestContext } from './context';

/**
 * GET /metrics and the HTTP and GraphQL timings. The metrics themselves are defined in
 * src/common/metrics.ts; this file only feeds them from the HTTP and GraphQL layers.
 */

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** An error code as a label: one of ErrorCode, or OTHER (Apollo's own parse and validation codes, anything unforeseen). */
export function errorCodeLabel(code: unknown): string {
  if (typeof code === 'string' && KNOWN_CODES.has(code)) return code;
  if (code === 'GRAPHQL_PARSE_FAILED' || code === 'GRAPHQL_VALIDATION_FAILED' || code === 'BAD_USER_INPUT') return code;
  return 'OTHER';
}

/**
 * The `operation` label of a GraphQL document: the root field it runs (postJournalEntry,
 * authorizePayment, payments), which the schema bounds. Client-chosen operation names are not used:
 * any client could mint a new series per request. A document with several root fields is "(several)";
 * one that cannot be told (unparsed, no such operation, a field the schema lacks) is "(unknown)".
 */
export function operationLabelOf(schema: GraphQLSchema, document: DocumentNode | undefined, operationName?: string | null): { operation: string; type: string } {
  const definition = document ? getOperationAST(document, operationName ?? undefined) : null;
  if (!document || !definition) return { operation: UNKNOWN_OPERATION, type: 'unknown' };
  const root = schema.getRootType(definition.operation);
  const fields = new Set<string>();
  const seen = new Set<string>();
  const collect = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value !== '__typename') fields.add(selection.name.value);
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
  const type = definition.operation;
  if (fields.size > 1) return { operation: SEVERAL_OPERATIONS, type };
  const [field] = [...fields];
  // Introspection (__schema, __type) and fields the schema has; anything else never becomes a label.
  if (field && (field === '__schema' || field === '__type' || root?.getFields()[field])) return { operation: field, type };
  return { operation: UNKNOWN_OPERATION, type };
}

/**
 * Times every GraphQL operation over HTTP and counts its errors by code. The timer starts when Apollo
 * takes the request (after body parsing and the query guard) and stops when the response is ready.
 */
export function graphqlMetricsPlugin(metrics: Metrics): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      const started = performance.now();
      let labels = { operation: UNKNOWN_OPERATION, type: 'unknown' };
      return {
        async didResolveOperation({ schema, document, operationName }) {
          labels = operationLabelOf(schema, document, operationName);
        },
        async willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
          for (const error of errors) metrics.errors.inc({ code: errorCodeLabel(error.extensions?.code) });
          metrics.graphqlOperationDuration.observe({ ...labels, outcome: errors.length ? 'error' : 'ok' }, (performance.now() - started) / 1000);
        },
      };
    },
  };
}

/**
 * The route label of a finished request: the matched route's pattern (`/invoices/:id/pdf`), `/graphql`,
 * or "(unmatched)" for anything no route took (a 404, a scanner's probe): never the raw path.
 */
export function routeLabelOf(req: express.Request): string {
  const route = (req as { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  if (req.path === '/graphql' || req.originalUrl.split('?')[0] === '/graphql') return '/graphql';
  return '(unmatched)';
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/**
 * Times every HTTP request (first in the chain) and counts the errors REST routes answer, which they
 * name in res.locals.errorCode (sendRestError). A request whose client left before the answer is
 * counted with status 499, as nginx logs it.
 */
export function httpMetricsMiddleware(metrics: Metrics): express.RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    let done = false;
    const record = (status: number) => {
      if (done) return;
      done = true;
      const method = METHODS.has(req.method) ? req.method : 'OTHER';
      metrics.httpRequestDuration.observe({ route: routeLabelOf(req), method, status: String(status) }, (performance.now() - started) / 1000);
      const code = res.locals.errorCode;
      if (typeof code === 'string') metrics.errors.inc({ code: errorCodeLabel(code) });
    };
    res.on('finish', () => record(res.statusCode));
    res.on('close', () => record(res.writableFinished ? res.statusCode : 499));
    next();
  };
}

/** Compares in constant time, whatever the lengths, so that the answer's timing tells nothing of the token. */
function sameToken(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/**
 * GET /metrics, for a Prometheus scraper holding METRICS_TOKEN (`Authorization: Bearer …`). Without
 * METRICS_TOKEN set it refuses every scrape: the figures say how much business runs through the service
 * and where it fails, which is not for the public internet, and an unset token must not mean "open".
 */
export function metricsRoutes(metrics: Metrics, token: string | null): express.Router {
  const router = express.Router();
  router.get('/metrics', async (req, res, next) => {
    const refuse = (status: number, code: ErrorCode, message: string, challenge?: string) => {
      res.locals.errorCode = code;
      if (challenge) res.set('WWW-Authenticate', challenge);
      res.status(status).set('Cache-Control', 'no-store').json({ error: { code, message, requestId: res.locals.requestId } });
    };
    if (token === null) {
      refuse(403, ErrorCode.FORBIDDEN, 'Metrics are turned off: set METRICS_TOKEN (at least 32 characters) and scrape with "Authorization: Bearer <token>".');
      return;
    }
    const match = /^Bearer (\S+)$/.exec(req.header('authorization') ?? '');
    if (!match) {
      refuse(401, ErrorCode.UNAUTHENTICATED, 'Scrape /metrics with "Authorization: Bearer <METRICS_TOKEN>".', 'Bearer realm="reckon-metrics"');
      return;
    }
    if (!sameToken(match[1], token)) {
      refuse(
        401,
        ErrorCode.UNAUTHENTICATED,
        'This is not the metrics token: use the value of METRICS_TOKEN (API keys and access tokens are not accepted here).',
        'Bearer realm="reckon-metrics", error="invalid_token"',
      );
      return;
    }
    try {
      const { contentType, body } = await metrics.exposition();
      res.status(200).set({ 'Content-Type': contentType, 'Cache-Control': 'no-store' }).send(body);
    } catch (error) {
      next(error);
    }
  });
  return router;
}
