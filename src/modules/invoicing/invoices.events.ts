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
}

export const NO_INVOICE_EVENTS: InvoiceEventPublisher = { invoiceEventsCommitted: () => undefined };
