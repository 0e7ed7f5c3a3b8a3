import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType } from '../../graphql/common.objects';
import { AuditActorKind, AuditEventKind, AuditOperationType, AuditOutcome, type AuditEventRecord } from './audit.types';

registerEnumType(AuditEventKind, {
  name: 'AuditEventKind',
  description: 'What kind of call an audit event records.',
  valuesConfig: {
    QUERY: { description: 'A root field of a GraphQL query, over HTTP or WebSocket.' },
    MUTATION: { description: 'A root field of a GraphQL mutation (written in the same transaction as its change).' },
    CREDENTIAL_CHANGE: { description: 'A mutation that creates, revokes or rolls a credential or a secret: API keys, OAuth clients, webhook endpoints, gateways, bank notification secrets.' },
    SUBSCRIPTION_START: { description: 'A subscription accepted (SUCCESS) or refused (ERROR) on a WebSocket.' },
    SUBSCRIPTION_END: { description: 'A subscription ended: completed by the client, or its connection closed.' },
    REST: { description: 'A call to an HTTP route beside GraphQL: statement uploads, invoice PDFs, inbound gateway and bank webhooks, the token endpoint.' },
    AUTHENTICATION_FAILED: { description: 'A request refused for its credentials. Those naming no tenant go to the operators’ system chain.' },
    AUDIT_READ: { description: 'A read of the audit trail itself: auditEvents or verifyAuditChain.' },
  },
});

registerEnumType(AuditOperationType, {
  name: 'AuditOperationType',
  description: 'The kind of operation the call was, by transport.',
  valuesConfig: {
    QUERY: { description: 'A GraphQL query.' },
    MUTATION: { description: 'A GraphQL mutation.' },
    SUBSCRIPTION: { description: 'A GraphQL subscription (its start or its end).' },
    REST: { description: 'An HTTP route beside GraphQL.' },
    AUTHENTICATION: { description: 'The credential check before any operation is read: a failed authentication.' },
  },
});

registerEnumType(AuditActorKind, {
  name: 'AuditActorKind',
  description: 'What kind of credential made the call.',
  valuesConfig: {
    API_KEY: { description: 'An API key; actorCredentialId is its key_… id.' },
    OAUTH_TOKEN: { description: 'An access token issued to an OAuth client; actorCredentialId is the client’s cli_… id.' },
    EXTERNAL_TOKEN: { description: 'An access token of the configured external issuer; actorCredentialId is its subject.' },
    OAUTH_CLIENT: { description: 'An OAuth client at POST /oauth/token; actorCredentialId is its cli_… id.' },
    GATEWAY: { description: 'A payment gateway’s signed event; actorCredentialId is the gateway’s gw_… id.' },
    BANK: { description: 'A bank’s signed notification; actorCredentialId is the bank account’s bac_… id.' },
    ANONYMOUS: { description: 'No credential could be established (a failed authentication).' },
  },
});

registerEnumType(AuditOutcome, {
  name: 'AuditOutcome',
  description: 'How the call ended.',
  valuesConfig: {
    SUCCESS: { description: 'Answered without error.' },
    ERROR: { description: 'Refused or failed; errorCode says why.' },
  },
});

@ObjectType({ description: 'One API call on the tenant’s tamper-evident audit trail (README, Audit). Events are never changed or deleted, except archived ones past retention.' })
export class AuditEvent {
  @Field(() => Int, { description: 'Position in the tenant’s chain: 1, 2, 3, … with no gap.' })
  sequence!: number;

  @Field({ description: 'When the call was made (UTC, millisecond precision).' })
  occurredAt!: Date;

  @Field(() => AuditActorKind, { description: 'What kind of credential made the call.' })
  actorKind!: AuditActorKind;

  @Field(() => String, { nullable: true, description: 'The credential’s id (key_…, cli_…, a token subject, gw_…, bac_…); null for an anonymous caller.' })
  actorCredentialId!: string | null;

  @Field(() => String, { nullable: true, description: 'The caller’s address, read as TRUST_PROXY says.' })
  originIp!: string | null;

  @Field(() => String, { nullable: true, description: 'The request id (X-Request-Id, and `requestId` in errors).' })
  requestId!: string | null;

  @Field(() => AuditEventKind, { description: 'What kind of call this was.' })
  kind!: AuditEventKind;

  @Field(() => AuditOperationType, { description: 'Query, mutation, subscription or REST.' })
  operationType!: AuditOperationType;

  @Field({ description: 'The root field (`createInvoice`, `payments`) or the route (`POST /bank-accounts/:id/statements`).' })
  operationName!: string;

  @Field(() => [String], { description: 'Ids the call named in its arguments or got back in its payload (at most 100).' })
  resourceIds!: string[];

  @Field(() => AuditOutcome, { description: 'SUCCESS or ERROR.' })
  outcome!: AuditOutcome;

  @Field(() => String, { nullable: true, description: 'The error code the caller got (an ErrorCode value), when outcome is ERROR.' })
  errorCode!: string | null;

  @Field(() => String, { nullable: true, description: 'SHA-256 (hex) of the arguments as JSON with sorted keys, sensitive values replaced by "[REDACTED]".' })
  argumentsDigest!: string | null;

  @Field({ description: 'The hash of the event before it in the chain (64 zeros for the first).' })
  previousHash!: string;

  @Field({ description: 'SHA-256 (hex) of this event’s canonical encoding (README, Audit), previousHash included.' })
  hash!: string;
}

export function toAuditEvent(record: AuditEventRecord): AuditEvent {
  return {
    sequence: record.sequence,
    occurredAt: record.occurredAt,
    actorKind: record.actorKind,
    actorCredentialId: record.actorCredentialId,
    originIp: record.originIp,
    requestId: record.requestId,
    kind: record.kind,
    operationType: record.operationType,
    operationName: record.operationName,
    resourceIds: record.resourceIds,
    outcome: record.outcome,
    errorCode: record.errorCode,
    argumentsDigest: record.argumentsDigest,
    previousHash: record.previousHash,
    hash: record.hash,
  };
}

export const AuditEventConnection = ConnectionType(AuditEvent, 'AuditEvent', { description: 'Audit events, oldest first (page with `last` for the newest).' });

@ObjectType({ description: 'The result of recomputing the tenant’s audit chain.' })
export class AuditChainVerification {
  @Field({ description: 'True when every event checked is present, in place and unaltered.' })
  valid!: boolean;

  @Field(() => Int, { nullable: true, description: 'The first sequence number whose event is missing, altered or out of order; null when valid.' })
  firstBrokenSequence!: number | null;

  @Field(() => Int, { description: 'How many events were checked and found intact (those before firstBrokenSequence).' })
  checkedCount!: number;

  @Field(() => Int, { description: 'The first sequence checked: `from`, or the first event kept after retention.' })
  fromSequence!: number;

  @Field(() => Int, { description: 'The last sequence checked: `to`, or the chain’s last event.' })
  toSequence!: number;
}
