import type { Logger } from 'pino';
import { type PubSub, subscribeDecoded } from '../../graphql/pubsub';
import type { ReconciliationFlagKind, ReconciliationFlagStatus } from './reconciliation.types';

/** What happened to a flag at one step of its history. */
export enum ReconciliationFlagAction {
  /** First raised. */
  RAISED = 'RAISED',
  /** Its cause occurred again while it was open or acknowledged: one more occurrence. */
  RECURRED = 'RECURRED',
  /** Its cause occurred again after it was resolved: open again, one more occurrence. */
  REOPENED = 'REOPENED',
  ACKNOWLEDGED = 'ACKNOWLEDGED',
  RESOLVED = 'RESOLVED',
}

export enum ReconciliationFlagResolution {
  MATCHED_BY_HAND = 'MATCHED_BY_HAND',
  /** Recorded by the system only, when the flag's item is matched (automatically or by matchStatementLine). */
  MATCHED = 'MATCHED',
  ADJUSTMENT_POSTED = 'ADJUSTMENT_POSTED',
  ACCEPTED = 'ACCEPTED',
}

/** One step of a flag's history; never changed once written. Also what the live feed carries. */
export interface ReconciliationFlagEventRecord {
  tenantId: string;
  flagId: string;
  /** The flag's bank account (null for gateway-side flags) and kind, so that subscribers filter without a read. */
  bankAccountId: string | null;
  kind: ReconciliationFlagKind;
  /** The tenant's flag sequence number this step took (dense: every step of every flag takes the next); with the tenant, its key. */
  sequence: number;
  action: ReconciliationFlagAction;
  statusFrom: ReconciliationFlagStatus | null;
  statusTo: ReconciliationFlagStatus;
  /** The flag's occurrence count after this step. */
  occurrenceCount: number;
  /** The cause's values, for steps that raise (RAISED, RECURRED, REOPENED); for a RESOLVED step with resolution MATCHED, the match. */
  details: Record<string, unknown> | null;
  actorCredentialId: string | null;
  note: string | null;
  resolution: ReconciliationFlagResolution | null;
  journalEntryId: string | null;
  createdAt: Date;
}

/** Steps that put a flag in front of auditors as a new problem: what `reconciliationFlagRaised` delivers. */
export const RAISING_ACTIONS: readonly ReconciliationFlagAction[] = [ReconciliationFlagAction.RAISED, ReconciliationFlagAction.REOPENED];

/**
 * What the flags service tells the world once a transaction that changed flags has committed. The
 * service depends on this interface only: it knows nothing of GraphQL, WebSockets or Redis.
 */
export interface FlagEventPublisher {
  flagEventsCommitted(events: readonly ReconciliationFlagEventRecord[]): void;
}

export const NO_FLAG_EVENTS: FlagEventPublisher = { flagEventsCommitted: () => undefined };

/** One channel per tenant: a subscriber is only ever attached to its own tenant's channel. */
export function flagEventChannel(tenantId: string): string {
  return `reckon:tenant:${tenantId}:reconciliation-flag-events`;
}

export function encodeFlagEvent(event: ReconciliationFlagEventRecord): string {
  return JSON.stringify({ ...event, createdAt: event.createdAt.toISOString() });
}

export function decodeFlagEvent(message: string): ReconciliationFlagEventRecord {
  const raw = JSON.parse(message) as Omit<ReconciliationFlagEventRecord, 'createdAt'> & { createdAt: string };
  return { ...raw, createdAt: new Date(raw.createdAt) };
}

/**
 * Publishes each committed step on its tenant's channel, in sequence order. Fire and forget: the change
 * has committed whatever happens here, and a subscriber that misses a message (pub/sub is at most
 * once) finds the step in the database by its sequence number.
 */
export function pubSubFlagEvents(pubSub: PubSub, log?: Logger): FlagEventPublisher {
  return {
    flagEventsCommitted(events) {
      for (const event of events) {
        pubSub.publish(flagEventChannel(event.tenantId), encodeFlagEvent(event)).catch((error: unknown) => {
          log?.warn({ err: error, flagId: event.flagId, sequence: event.sequence }, 'could not publish a reconciliation flag event');
        });
      }
    },
  };
}

/** The tenant's flag steps from now on, as published. Resolves once the stream is live. */
export function subscribeToFlagEvents(pubSub: PubSub, tenantId: string): Promise<AsyncIterableIterator<ReconciliationFlagEventRecord>> {
  return subscribeDecoded(pubSub, flagEventChannel(tenantId), decodeFlagEvent, (event) => event.tenantId === tenantId);
}
