import type { ErrorCode } from '../../common/errors';

/** What kind of call an audit event records. */
export enum AuditEventKind {
  /** A root field of a GraphQL query (over HTTP or WebSocket). */
  QUERY = 'QUERY',
  /** A root field of a GraphQL mutation that is not a credential change. */
  MUTATION = 'MUTATION',
  /** A mutation that creates, revokes or rolls a credential or a secret (API keys, OAuth clients, webhook and notification secrets, gateways). */
  CREDENTIAL_CHANGE = 'CREDENTIAL_CHANGE',
  /** A GraphQL subscription accepted, or refused, on a WebSocket. */
  SUBSCRIPTION_START = 'SUBSCRIPTION_START',
  /** A GraphQL subscription ended: completed by the client, or its connection closed. */
  SUBSCRIPTION_END = 'SUBSCRIPTION_END',
  /** A call to an HTTP route beside GraphQL (statement uploads, PDFs, inbound webhooks, the token endpoint). */
  REST = 'REST',
  /** A request refused for its credentials (missing, unknown, revoked, expired, locked, bad signature). */
  AUTHENTICATION_FAILED = 'AUTHENTICATION_FAILED',
  /** A read of the audit trail itself (auditEvents, verifyAuditChain). */
  AUDIT_READ = 'AUDIT_READ',
}

/** The transport-level type of the call. */
export enum AuditOperationType {
  QUERY = 'QUERY',
  MUTATION = 'MUTATION',
  SUBSCRIPTION = 'SUBSCRIPTION',
  REST = 'REST',
  /** The credential check that comes before any operation is read (a failed authentication). */
  AUTHENTICATION = 'AUTHENTICATION',
}

/** Who made the call: the credential kinds of auth.service plus the signers of inbound webhooks. */
export enum AuditActorKind {
  API_KEY = 'API_KEY',
  OAUTH_TOKEN = 'OAUTH_TOKEN',
  EXTERNAL_TOKEN = 'EXTERNAL_TOKEN',
  /** An OAuth client at the token endpoint (client credentials). */
  OAUTH_CLIENT = 'OAUTH_CLIENT',
  /** A payment gateway's signed event (POST /webhooks/gateways/:id). */
  GATEWAY = 'GATEWAY',
  /** A bank's signed notification (POST /bank-accounts/:id/notifications). */
  BANK = 'BANK',
  /** No credential could be established (failed authentications). */
  ANONYMOUS = 'ANONYMOUS',
}

export enum AuditOutcome {
  SUCCESS = 'SUCCESS',
  ERROR = 'ERROR',
}

/**
 * The chain of events that belong to no tenant: failed authentications (the credential named no
 * tenant, or could not be trusted to) and refused inbound webhooks whose signer is unknown. Not
 * readable through the API (every API read is a tenant's); operators read it in the database.
 */
export const SYSTEM_CHAIN_ID = '_system';

/** An event before it has its place in a chain. */
export interface AuditDraft {
  id: string;
  tenantId: string;
  occurredAt: Date;
  actorKind: AuditActorKind;
  actorCredentialId: string | null;
  originIp: string | null;
  requestId: string | null;
  kind: AuditEventKind;
  operationType: AuditOperationType;
  operationName: string;
  /** Sorted, distinct, at most MAX_RESOURCE_IDS. */
  resourceIds: string[];
  outcome: AuditOutcome;
  errorCode: ErrorCode | string | null;
  argumentsDigest: string | null;
}

/** A stored event: its draft, its place in its tenant's chain and the two hashes. */
export interface AuditEventRecord extends AuditDraft {
  sequence: number;
  previousHash: string;
  hash: string;
}

/** The state of one chain, locked by every writer. */
export interface AuditChainHead {
  tenantId: string;
  lastSequence: number;
  lastHash: string;
  archivedThroughSequence: number;
  archivedBoundaryHash: string;
}

export interface AuditEventFilter {
  actorCredentialId?: string | null;
  operationName?: string | null;
  resourceId?: string | null;
  from?: Date | null;
  to?: Date | null;
}

export interface AuditChainVerification {
  valid: boolean;
  /** The first sequence number whose event is missing, altered or out of place; null when valid. */
  firstBrokenSequence: number | null;
  checkedCount: number;
  /** The sequences the check covered (after clamping to what is kept). */
  fromSequence: number;
  toSequence: number;
}

/** The most resource ids one event keeps: enough for any payload, bounded for a giant batch. */
export const MAX_RESOURCE_IDS = 100;

/** A mutation's audit event, carried by its idempotency claim to the transaction that completes it. */
export interface MutationAudit {
  draft: AuditDraft;
  /** Set when a transaction wrote it; that transaction may still roll back (AuditService.exists tells). */
  writtenWithin: boolean;
}
