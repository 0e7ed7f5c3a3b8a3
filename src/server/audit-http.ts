import type { ApolloServerPlugin } from '@apollo/server';
import type express from 'express';
import { type DocumentNode, getOperationAST, Kind } from 'graphql';
import { AppError, ErrorCode } from '../common/errors';
import { idKindOf } from '../common/ids';
import { argumentsDigestOf, redactArguments, resourceIdsOf } from '../modules/audit/audit-redaction';
import { actorKindOf } from '../modules/audit/audit.middleware';
import { AuditActorKind, AuditEventKind, AuditOperationType, SYSTEM_CHAIN_ID } from '../modules/audit/audit.types';
import type { Principal } from '../modules/auth/auth.service';
import type { Services } from '../services/services';
import type { RequestContext } from './context';
import { sourceAddressOf, type TrustProxy } from './source-address';

/** Who made a REST call, once the route has established it (res.locals.auditActor). */
export interface AuditActor {
  tenantId: string;
  actorKind: AuditActorKind;
  credentialId: string;
}

export function auditActorOf(principal: Principal): AuditActor {
  return { tenantId: principal.tenantId, actorKind: actorKindOf(principal), credentialId: principal.credentialId };
}

/**
 * The audited REST routes, by shape: the route's name keeps its ids out (they go to resourceIds), and
 * a path of no known shape (a 404) is not a call to record.
 */
const AUDITED_ROUTES: { method: string; pattern: RegExp; name: string }[] = [
  { method: 'POST', pattern: /^\/oauth\/token\/?$/, name: 'POST /oauth/token' },
  { method: 'POST', pattern: /^\/webhooks\/gateways\/([^/]+)\/?$/, name: 'POST /webhooks/gateways/:gatewayId' },
  { method: 'POST', pattern: /^\/bank-accounts\/([^/]+)\/statements\/?$/, name: 'POST /bank-accounts/:id/statements' },
  { method: 'POST', pattern: /^\/bank-accounts\/([^/]+)\/notifications\/?$/, name: 'POST /bank-accounts/:id/notifications' },
  { method: 'GET', pattern: /^\/invoices\/([^/]+)\/pdf\/?$/, name: 'GET /invoices/:id/pdf' },
  { method: 'GET', pattern: /^\/v1\/invoices\/([^/]+)\/pdf\/?$/, name: 'GET /v1/invoices/:invoiceId/pdf' },
];

function errorCodeOfStatus(status: number): ErrorCode {
  if (status === 401) return ErrorCode.UNAUTHENTICATED;
  if (status === 403) return ErrorCode.FORBIDDEN;
  if (status === 404) return ErrorCode.NOT_FOUND;
  if (status === 409) return ErrorCode.ALREADY_EXISTS;
  if (status === 429) return ErrorCode.RATE_LIMITED;
  if (status === 503) return ErrorCode.SERVICE_UNAVAILABLE;
  if (status >= 500) return ErrorCode.INTERNAL_SERVER_ERROR;
  return ErrorCode.VALIDATION_FAILED;
}

/**
 * Records every call to the REST routes beside GraphQL once its answer is sent: in the caller's
 * tenant chain when the route established who called (an API key, a verified gateway or bank
 * signature, an OAuth client), else in the system chain. A 401 is an AUTHENTICATION_FAILED event.
 * Written through the buffer, after the response (README, Audit: REST calls are outside the
 * same-transaction rule).
 */
export function restAuditMiddleware(services: Services, trustProxy: TrustProxy): express.RequestHandler {
  return (req, res, next) => {
    const route = AUDITED_ROUTES.find((candidate) => candidate.method === req.method && candidate.pattern.test(req.path));
    if (!route) {
      next();
      return;
    }
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const actor = res.locals.auditActor as AuditActor | undefined;
      const pathId = route.pattern.exec(req.path)?.[1];
      const resourceIds = pathId && idKindOf(decodeURIComponent(pathId)) ? [decodeURIComponent(pathId)] : [];
      // A response cut off before it was complete has no meaningful status: recorded as an error.
      const status = res.writableFinished ? res.statusCode : 499;
      const failed = status >= 400;
      const code = failed ? ((res.locals.errorCode as string | undefined) ?? errorCodeOfStatus(status === 499 ? 500 : status)) : null;
      services.audit.enqueue(
        services.audit.draft({
          tenantId: actor?.tenantId ?? SYSTEM_CHAIN_ID,
          actorKind: actor?.actorKind ?? AuditActorKind.ANONYMOUS,
          actorCredentialId: actor?.credentialId ?? null,
          originIp: sourceAddressOf(req, trustProxy),
          requestId: typeof res.locals.requestId === 'string' ? res.locals.requestId : null,
          kind: status === 401 ? AuditEventKind.AUTHENTICATION_FAILED : AuditEventKind.REST,
          operationType: AuditOperationType.REST,
          operationName: route.name,
          resourceIds,
          errorCode: code,
          // The path's ids and the query string; bodies (statement files, signed events) are not digested.
          argumentsDigest: argumentsDigestOf({ path: resourceIds, query: req.query }),
        }),
      );
    };
    res.on('finish', record);
    res.on('close', record);
    next();
  };
}

/**
 * Records a refused authentication of GraphQL over HTTP or of a WebSocket connection, in the system
 * chain: a credential that does not authenticate cannot be trusted to name its tenant.
 */
export function recordAuthenticationFailure(services: Services, error: unknown, entry: { source: string; requestId: string; operationName: string }): void {
  if (!(error instanceof AppError) || error.code !== ErrorCode.UNAUTHENTICATED) return;
  services.audit.enqueue(
    services.audit.draft({
      tenantId: SYSTEM_CHAIN_ID,
      actorKind: AuditActorKind.ANONYMOUS,
      actorCredentialId: null,
      originIp: entry.source,
      requestId: entry.requestId,
      kind: AuditEventKind.AUTHENTICATION_FAILED,
      operationType: AuditOperationType.AUTHENTICATION,
      operationName: entry.operationName,
      errorCode: error.code,
    }),
  );
}

/** The root field names of the operation a document runs, or null when it cannot be read. */
export function rootFieldNamesOf(document: DocumentNode | undefined, operationName: string | null | undefined): { type: string; names: string[] } | null {
  if (!document) return null;
  const operation = getOperationAST(document, operationName);
  if (!operation) return null;
  const names = operation.selectionSet.selections.flatMap((selection) => (selection.kind === Kind.FIELD ? [selection.name.value] : []));
  return { type: operation.operation, names };
}

/**
 * A GraphQL request refused before any field ran (variables that do not coerce, a document that does
 * not validate, a subscription sent over HTTP) has no field for the schema's middleware to record: it
 * is recorded here, as one event named by its root fields. Runs before requestPlugin, which removes
 * `data` from a response refused as a whole for want of scope (those fields ran, and were recorded).
 */
export function auditRefusedRequestsPlugin(services: Services): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue, document, request }) {
          if (response.body.kind !== 'single' || response.body.singleResult.data !== undefined || !contextValue?.principal) return;
          recordRefusedRequest(services, contextValue, rootFieldNamesOf(document, request.operationName), response.body.singleResult.errors?.[0]?.extensions?.code, request.variables);
        },
      };
    },
  };
}

/** The same for a WebSocket operation refused before execution. */
export function recordRefusedRequest(
  services: Services,
  context: Pick<RequestContext, 'principal' | 'requestId' | 'sourceAddress'>,
  operation: { type: string; names: string[] } | null,
  code: unknown,
  variables: unknown,
): void {
  const { principal } = context;
  const type = operation?.type === 'mutation' ? AuditOperationType.MUTATION : operation?.type === 'subscription' ? AuditOperationType.SUBSCRIPTION : AuditOperationType.QUERY;
  services.audit.enqueue(
    services.audit.draft({
      tenantId: principal.tenantId,
      actorKind: actorKindOf(principal),
      actorCredentialId: principal.credentialId,
      originIp: context.sourceAddress,
      requestId: context.requestId,
      kind:
        type === AuditOperationType.MUTATION
          ? AuditEventKind.MUTATION
          : type === AuditOperationType.SUBSCRIPTION
            ? AuditEventKind.SUBSCRIPTION_START
            : AuditEventKind.QUERY,
      operationType: type,
      operationName: operation?.names.length ? operation.names.join(',') : '(unreadable document)',
      resourceIds: resourceIdsOf(redactArguments(variables ?? {})),
      errorCode: typeof code === 'string' ? code : ErrorCode.VALIDATION_FAILED,
      argumentsDigest: argumentsDigestOf(variables ?? {}),
    }),
  );
}
