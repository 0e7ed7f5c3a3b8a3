import type { Logger } from 'pino';
import { type PubSub, subscribeDecoded } from '../../graphql/pubsub';
import type { JournalEntryRecord } from './ledger-writer';

/**
 * What the ledger tells the world after a write has committed. The service depends on this interface
 * only: it knows nothing of GraphQL, WebSockets or Redis.
 */
export interface LedgerEventPublisher {
  /** Entries as they stand after a committed write: new (posted or pending), posted, voided, reversing. */
  entriesCommitted(entries: readonly JournalEntryRecord[]): void;
}

export const NO_LEDGER_EVENTS: LedgerEventPublisher = { entriesCommitted: () => undefined };

/** One channel per tenant: a subscriber is only ever attached to its own tenant's channel. */
export function journalEntryPostedChannel(tenantId: string): string {
  return `reckon:tenant:${tenantId}:journal-entry-posted`;
}

type EncodedEntry = Omit<JournalEntryRecord, 'effectiveAt' | 'createdAt' | 'resolvedAt'> & {
  effectiveAt: string;
  createdAt: string;
  resolvedAt: string | null;
};

export function encodeJournalEntry(entry: JournalEntryRecord): string {
  const encoded: EncodedEntry = {
    ...entry,
    effectiveAt: entry.effectiveAt.toISOString(),
    createdAt: entry.createdAt.toISOString(),
    resolvedAt: entry.resolvedAt ? entry.resolvedAt.toISOString() : null,
  };
  return JSON.stringify(encoded);
}

export function decodeJournalEntry(message: string): JournalEntryRecord {
  const encoded = JSON.parse(message) as EncodedEntry;
  return {
    ...encoded,
    effectiveAt: new Date(encoded.effectiveAt),
    createdAt: new Date(encoded.createdAt),
    resolvedAt: encoded.resolvedAt === null ? null : new Date(encoded.resolvedAt),
  };
}

/**
 * Publishes each committed entry on its tenant's channel. Fire and forget: the write has committed
 * and answered its caller whatever happens here, so a pub/sub outage costs live events (logged), never
 * a ledger write.
 */
export function pubSubLedgerEvents(pubSub: PubSub, log?: Logger): LedgerEventPublisher {
  return {
    entriesCommitted(entries) {
      for (const entry of entries) {
        pubSub.publish(journalEntryPostedChannel(entry.tenantId), encodeJournalEntry(entry)).catch((error: unknown) => {
          log?.warn({ err: error, journalEntryId: entry.id }, 'could not publish journalEntryPosted');
        });
      }
    },
  };
}

/**
 * The tenant's committed entries, from now on. Resolves once the stream is live. Each message is
 * checked against the tenant again: the channel name already keeps tenants apart, and this makes a
 * mistake there unable to leak another tenant's entry.
 */
export function subscribeToJournalEntries(pubSub: PubSub, tenantId: string): Promise<AsyncIterableIterator<JournalEntryRecord>> {
  return subscribeDecoded(pubSub, journalEntryPostedChannel(tenantId), decodeJournalEntry, (entry) => entry.tenantId === tenantId);
}
