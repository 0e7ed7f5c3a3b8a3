import type { Logger } from 'pino';
import type { EntityManager } from 'typeorm';
import type { EventOutbox } from '../webhooks/event-outbox';
import { type PubSub, subscribeDecoded } from '../../graphql/pubsub';
import type { InvoiceRecord } from './invoices.types';

/**
 * What happened to an invoice, named as outbound webhooks will carry it (`invoice.finalized`, …).
 * Types are added, never renamed: receivers match on them.
 */
export enum InvoiceEventType {
  CREATED = 'invoice.created',
  UPDATED = 'invoice.updated',
  FINALIZED = 'invoice.finalized',
  /** A payment was applied (the invoice may still be OPEN: a partial payment). */
  PAYMENT_SUCCEEDED = 'invoice.payment_succeeded',
  /** A card payment of the invoice was declined or failed. */
  PAYMENT_FAILED = 'invoice.payment_failed',
  /** Nothing is left to pay: the invoice became PAID. */
  PAID = 'invoice.paid',
  /** A refund or reversal made a PAID invoice OPEN again, or raised what an OPEN one owes. */
  REOPENED = 'invoice.reopened',
  CREDIT_NOTE_CREATED = 'invoice.credit_note_created',
  VOIDED = 'invoice.voided',
  MARKED_UNCOLLECTIBLE = 'invoice.marked_uncollectible',
  /** Emitted once, the first time the invoice is seen OPEN past its due date. */
  OVERDUE = 'invoice.overdue',
}

/**
 * What each event type means, once: the GraphQL InvoiceEventType enum, the WebhookEvent enum and the
 * README's table say the same.
 */
export const INVOICE_EVENT_DESCRIPTIONS: Readonly<Record<InvoiceEventType, string>> = {
  [InvoiceEventType.CREATED]: 'A DRAFT invoice was created.',
  [InvoiceEventType.UPDATED]: 'A DRAFT invoice was changed.',
  [InvoiceEventType.FINALIZED]: 'A DRAFT became OPEN: numbered, its receivable booked.',
  [InvoiceEventType.PAYMENT_SUCCEEDED]: 'A payment was applied to the invoice (it may still be OPEN: a partial payment).',
  [InvoiceEventType.PAYMENT_FAILED]: 'A card payment of the invoice was declined or failed; nothing was applied.',
  [InvoiceEventType.PAID]: 'Nothing is left to pay: the invoice became PAID.',
  [InvoiceEventType.REOPENED]: 'A refund or reversal made a PAID invoice OPEN again, or raised what an OPEN one still owes.',
  [InvoiceEventType.CREDIT_NOTE_CREATED]: 'A credit note was issued against the invoice.',
  [InvoiceEventType.VOIDED]: 'The invoice was voided: VOID, its entries reversed.',
  [InvoiceEventType.MARKED_UNCOLLECTIBLE]: 'The invoice was written off as bad debt: UNCOLLECTIBLE.',
  [InvoiceEventType.OVERDUE]: 'The invoice was found OPEN past its due date (UTC days); once per invoice.',
};

/** One committed change of an invoice: the invoice as stored after it, and what happened. */
export interface InvoiceEvent {
  type: InvoiceEventType;
  invoice: InvoiceRecord;
  /** When it happened (the change's commit). */
  occurredAt: Date;
}

/**
 * What the invoicing services tell the world after a change has committed, and never before (a
 * change that rolled back emits nothing). They depend on this interface only: they know nothing of
 * GraphQL, WebSockets, Redis or webhook delivery.
 */
export interface InvoiceEventPublisher {
  invoiceEventsCommitted(events: readonly InvoiceEvent[]): void;
  /**
   * The same events inside the change's transaction, before its commit: the webhook outbox stores them
   * with the change (a change that rolls back leaves none). Each service calls it where it builds its
   * events, in the transaction, and `invoiceEventsCommitted` after the commit as before.
   */
  invoiceEventsWithin?(manager: EntityManager, events: readonly InvoiceEvent[]): Promise<void>;
}

/** Calls the publisher's within-transaction hook, when it has one. */
export async function recordInvoiceEvents(publisher: InvoiceEventPublisher, manager: EntityManager, events: readonly InvoiceEvent[]): Promise<void> {
  if (events.length > 0 && publisher.invoiceEventsWithin) await publisher.invoiceEventsWithin(manager, events);
}

/** Invoice events as the webhook outbox stores them (`data: { invoice }`). */
export function invoiceEventsToOutbox(outbox: EventOutbox): NonNullable<InvoiceEventPublisher['invoiceEventsWithin']> {
  return (manager, events) =>
    outbox.record(
      manager,
      events.map((event) => ({ tenantId: event.invoice.tenantId, type: event.type, occurredAt: event.occurredAt, data: { invoice: event.invoice } })),
    );
}

export const NO_INVOICE_EVENTS: InvoiceEventPublisher = { invoiceEventsCommitted: () => undefined };

/** One channel per tenant: a subscriber is only ever attached to its own tenant's channel. */
export function invoiceEventsChannel(tenantId: string): string {
  return `reckon:tenant:${tenantId}:invoice-events`;
}

const BIGINT_FIELDS = [
  'subtotalMinor',
  'discountTotalMinor',
  'taxTotalMinor',
  'totalMinor',
  'amountPaidMinor',
  'amountCreditedMinor',
  'amountWrittenOffMinor',
] as const satisfies readonly (keyof InvoiceRecord)[];
const DATE_FIELDS = [
  'finalizedAt',
  'paidAt',
  'voidedAt',
  'uncollectibleAt',
  'overdueNotifiedAt',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof InvoiceRecord)[];

/** JSON with bigints as decimal strings (JSON has no 64-bit integers); dates become ISO strings. */
export function encodeInvoiceEvent(event: InvoiceEvent): string {
  return JSON.stringify(event, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

export function decodeInvoiceEvent(message: string): InvoiceEvent {
  const raw = JSON.parse(message) as { type: InvoiceEventType; occurredAt: string; invoice: Record<string, unknown> };
  const invoice = raw.invoice;
  for (const field of BIGINT_FIELDS) if (typeof invoice[field] === 'string') invoice[field] = BigInt(invoice[field]);
  for (const field of DATE_FIELDS) if (typeof invoice[field] === 'string') invoice[field] = new Date(invoice[field]);
  invoice.taxByRate = (invoice.taxByRate as { rate: string; taxableMinor: string; taxMinor: string }[]).map((group) => ({
    rate: group.rate,
    taxableMinor: BigInt(group.taxableMinor),
    taxMinor: BigInt(group.taxMinor),
  }));
  return { type: raw.type, occurredAt: new Date(raw.occurredAt), invoice: invoice as unknown as InvoiceRecord };
}

/**
 * Publishes each committed event on its invoice's tenant's channel, in the order given. Fire and
 * forget: the change has committed whatever happens here, so a pub/sub outage costs live updates
 * (logged), never an invoice.
 */
export function pubSubInvoiceEvents(pubSub: PubSub, log?: Logger): InvoiceEventPublisher {
  return {
    invoiceEventsCommitted(events) {
      for (const event of events) {
        pubSub.publish(invoiceEventsChannel(event.invoice.tenantId), encodeInvoiceEvent(event)).catch((error: unknown) => {
          log?.warn({ err: error, invoiceId: event.invoice.id, type: event.type }, 'could not publish an invoice event');
        });
      }
    },
  };
}

export interface InvoiceEventFilter {
  invoiceId: string | null;
  customerId: string | null;
}

/**
 * The tenant's invoice events from now on, optionally of one invoice or of one customer's invoices.
 * Resolves once the stream is live.
 */
export function subscribeToInvoiceEvents(pubSub: PubSub, tenantId: string, filter: InvoiceEventFilter): Promise<AsyncIterableIterator<InvoiceEvent>> {
  return subscribeDecoded(
    pubSub,
    invoiceEventsChannel(tenantId),
    decodeInvoiceEvent,
    ({ invoice }) =>
      invoice.tenantId === tenantId &&
      (filter.invoiceId === null || invoice.id === filter.invoiceId) &&
      (filter.customerId === null || invoice.customerId === filter.customerId),
  );
}
