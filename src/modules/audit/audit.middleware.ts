import type { GraphQLResolveInfo } from 'graphql';
import { AppError, ErrorCode } from '../../common/errors';
import { newId } from '../../common/ids';
import { isConnectionError, isStatementTimeout } from '../../db/transaction';
import type { RequestContext } from '../../graphql/context';
import type { Principal } from '../auth/auth.service';
import { replayedDataOf } from '../idempotency/idempotent-request';
import { argumentsDigestOf, normalizedResourceIds, redactArguments, resourceIdsOf } from './audit-redaction';
import { type AuditActorKind, type AuditDraft, AuditEventKind, AuditOperationType, AuditOutcome, type MutationAudit } from './audit.types';

/** Mutations that create, revoke or roll a credential or a secret: recorded as CREDENTIAL_CHANGE. */
export const CREDENTIAL_MUTATIONS: ReadonlySet<string> = new Set([
  'createApiKey',
  'revokeApiKey',
  'rollApiKey',
  'createOAuthClient',
  'revokeOAuthClient',
  'createWebhookEndpoint',
  'disableWebhookEndpoint',
  'createGateway',
  'createBankAccount',
  'rollBankAccountNotificationSecret',
]);

/** Reads of the audit trail itself: recorded as AUDIT_READ. */
export const AUDIT_READ_FIELDS: ReadonlySet<string> = new Set(['auditEvents', 'verifyAuditChain']);

export function actorKindOf(principal: Principal): AuditActorKind {
  return principal.credentialKind as unknown as AuditActorKind;
}

/** The stable code an error reaches the client with (formatError's mapping, without its masking). */
export function auditErrorCodeOf(error: unknown): string {
  if (error instanceof AppError) return error.code;
  const extensions = (error as { extensions?: { code?: unknown } } | null)?.extensions;
  if (typeof extensions?.code === 'string') return extensions.code;
  const original = (error as { originalError?: unknown } | null)?.originalError;
  if (original instanceof AppError) return original.code;
  if (isStatementTimeout(error) || isStatementTimeout(original)) return ErrorCode.STATEMENT_TIMEOUT;
  if (isConnectionError(error) || isConnectionError(original)) return ErrorCode.SERVICE_UNAVAILABLE;
  return ErrorCode.INTERNAL_SERVER_ERROR;
}

type Resolve = (root: unknown, args: Record<string, unknown>, context: RequestContext, info: GraphQLResolveInfo) => unknown;

/**
 * A field middleware (graphql-middleware) for every root Query and Mutation field, outside the
 * permission rules so that refused calls are recorded too: one audit event per root field, over
 * HTTP and WebSocket alike.
 *
 * - A query's event goes to the buffer (written within AUDIT_FLUSH_INTERVAL_MS, never dropped).
 * - A mutation's event rides on its idempotency claim (IdempotentRequest.audits) and is written by the
 *   transaction that completes the claim, with the change; without a key, a mutation that is one
 *   ledger command has it written by that command's batch (unkeyedMutationAudit). A mutation that
 *   wrote no event with its change (other unkeyed mutations, a
 *   replay, bad input, a refusal before any decision, a rollback) has its event written after, in a
 *   transaction of its own, before its answer is sent.
 */
export async function auditRootField(resolve: Resolve, root: unknown, args: Record<string, unknown>, context: RequestContext, info: GraphQLResolveInfo): Promise<unknown> {
  const audit = context?.services?.audit;
  if (!audit || !context.principal || info.path.prev !== undefined) return resolve(root, args, context, info);
  const { principal } = context;
  const mutation = info.operation.operation === 'mutation';
  const kind = mutation
    ? CREDENTIAL_MUTATIONS.has(info.fieldName)
      ? AuditEventKind.CREDENTIAL_CHANGE
      : AuditEventKind.MUTATION
    : AUDIT_READ_FIELDS.has(info.fieldName)
      ? AuditEventKind.AUDIT_READ
      : AuditEventKind.QUERY;
  const draft = audit.draft({
    tenantId: principal.tenantId,
    actorKind: actorKindOf(principal),
    actorCredentialId: principal.credentialId,
    originIp: context.sourceAddress,
    requestId: context.requestId,
    kind,
    operationType: mutation ? AuditOperationType.MUTATION : AuditOperationType.QUERY,
    operationName: info.fieldName,
    // From the redacted copy: an id-shaped value under a secret's key is not kept either.
    resourceIds: resourceIdsOf(redactArguments(args)),
    argumentsDigest: argumentsDigestOf(args),
  });
  let mutationAudit: MutationAudit | undefined;
  if (mutation) {
    mutationAudit = { draft, writtenWithin: false };
    context.idempotency.audits.set(String(info.path.key), mutationAudit);
    // Outside the mutation's transaction, so that it only has to lock the head row.
    await audit.ensureChain(principal.tenantId).catch(() => undefined);
  }

  let value: unknown;
  let thrown: unknown;
  let failed = false;
  try {
    value = await resolve(root, args, context, info);
  } catch (error) {
    thrown = error;
    failed = true;
  }
  // graphql-shield hands a refusal back as the field's value.
  const error = failed ? thrown : value instanceof Error ? value : undefined;
  const finished: AuditDraft = {
    ...draft,
    // A replayed mutation's value wraps the stored response: its ids are read from there.
    resourceIds: error === undefined ? normalizedResourceIds([...draft.resourceIds, ...resourceIdsOf(replayedDataOf(value) ?? value)]) : draft.resourceIds,
    outcome: error === undefined ? AuditOutcome.SUCCESS : AuditOutcome.ERROR,
    errorCode: error === undefined ? null : auditErrorCodeOf(error),
  };
  if (!mutationAudit) {
    audit.enqueue(finished);
  } else {
    // Written with the change, unless that transaction rolled back after writing it (rare: then the
    // mutation failed, and the event's absence says so).
    const committed = mutationAudit.writtenWithin && (error === undefined || (await audit.exists(principal.tenantId, draft.id).catch(() => false)));
    // A fresh id: should the transaction's event exist after all, both are kept rather than one lost.
    if (!committed) await audit.appendOrBuffer([{ ...finished, id: newId('auditEvent') }]);
  }
  if (failed) throw thrown;
  return value;
}

/** graphql-middleware's shape: the root types only, so nested fields pay nothing. */
export const auditMiddleware = { Query: auditRootField, Mutation: auditRootField };
