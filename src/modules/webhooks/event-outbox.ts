import type { EntityManager } from 'typeorm';

/**
 * What a module hands the webhook outbox inside the transaction of its change: the event is stored
 * with the change, or not at all when the change rolls back. The modules that cause events (ledger,
 * payments, invoicing, reconciliation) depend on this interface only, kept free of imports so that
 * any of them can use it without pulling the webhooks module in.
 */
export interface OutboxEvent {
  tenantId: string;
  /** One of WEBHOOK_EVENT_TYPES (webhook-rules.ts). */
  type: string;
  /** When the change happened; the payload's `timestamp`. */
  occurredAt: Date;
  /** The payload's `data`: bigints become decimal strings, dates ISO-8601 strings. */
  data: unknown;
}

export interface EventOutbox {
  /** Stores the events in the caller's open transaction (`manager`). */
  record(manager: EntityManager, events: readonly OutboxEvent[]): Promise<void>;
}

export const NO_EVENT_OUTBOX: EventOutbox = { record: async () => undefined };
