import { WebhookErrors } from './webhooks.errors';
import { echoOfInput } from '../../common/echo';
import { INVOICE_EVENT_DESCRIPTIONS } from '../invoicing/invoices.events';

/**
 * What a webhook endpoint may be: pure rules, kept apart from storage so they can be tested as tables.
 */

/** Event types an endpoint can subscribe to. Types are added, never renamed: receivers match on them. */
export const WEBHOOK_EVENT_TYPES = [
  'journal_entry.posted',
  'journal_entry.pending',
  'journal_entry.voided',
  // The invoicing module's InvoiceEventType, every one of them (a unit test holds the two lists together).
  'invoice.created',
  'invoice.updated',
  'invoice.finalized',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'invoice.paid',
  'invoice.reopened',
  'invoice.credit_note_created',
  'invoice.voided',
  'invoice.marked_uncollectible',
  'invoice.overdue',
  // Payment steps, named after the payment event that settles them (PaymentEventType); the *_REQUESTED
  // steps (a gateway call under way) are not sent: their outcome is.
  'payment.authorized',
  'payment.authorization_failed',
  'payment.captured',
  'payment.capture_failed',
  'payment.voided',
  'payment.void_failed',
  'payment.expired',
  'payment.refunded',
  'payment.refund_failed',
  'payment.dispute_opened',
  'payment.dispute_evidence_submitted',
  'payment.dispute_won',
  'payment.dispute_lost',
  'reconciliation.flag_raised',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What each event type means, shown in the WebhookEvent enum. */
export const WEBHOOK_EVENT_DESCRIPTIONS: Readonly<Record<WebhookEventType, string>> = {
  'journal_entry.posted': 'A journal entry became POSTED: written posted, or a pending one posted.',
  'journal_entry.pending': 'A journal entry was written PENDING: a hold, such as an authorization’s.',
  'journal_entry.voided': 'A PENDING journal entry was voided: its hold released.',
  ...INVOICE_EVENT_DESCRIPTIONS,
  'payment.authorized': 'The gateway approved an authorization: the payment is AUTHORIZED (or CAPTURED at once when asked to capture).',
  'payment.authorization_failed': 'The gateway declined or failed an authorization: the payment is FAILED, nothing is held.',
  'payment.captured': 'An authorized payment was captured (possibly for less): its money is booked.',
  'payment.capture_failed': 'The gateway refused a capture: the payment stays AUTHORIZED.',
  'payment.voided': 'An authorization was voided: its hold released, the payment VOIDED.',
  'payment.void_failed': 'The gateway refused a void: the payment stays AUTHORIZED.',
  'payment.expired': 'An authorization passed its window uncaptured: its hold released, the payment EXPIRED.',
  'payment.refunded': 'A refund of a captured payment succeeded and was booked.',
  'payment.refund_failed': 'The gateway refused a refund: nothing was booked.',
  'payment.dispute_opened': 'The card holder disputed the payment: the disputed amount is held.',
  'payment.dispute_evidence_submitted': 'Evidence was submitted for an open dispute.',
  'payment.dispute_won': 'A dispute was decided for the merchant: the held amount is released.',
  'payment.dispute_lost': 'A dispute was decided for the card holder: the amount is lost.',
  'reconciliation.flag_raised': 'A reconciliation flag was raised, or a RESOLVED one reopened because its cause occurred again.',
};
/** Subscribes to every event type, including ones added later. */
export const ALL_WEBHOOK_EVENTS = '*';

export const WEBHOOK_LIMITS = {
  urlLength: 2048,
  eventsPerEndpoint: 50,
  enabledEndpointsPerTenant: 20,
} as const;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks a URL and returns its normal form (WHATWG: lower-case scheme and host, default port dropped),
 * which is what is stored and indexed, so that two spellings of one URL count as the same endpoint.
 * Deliveries carry money movements, so only https is allowed; plain http only to the loopback
 * interface, for local development, and never in production.
 */
export function normaliseWebhookUrl(raw: string, options: { allowLoopbackHttp: boolean }): string {
  if (raw.length === 0 || raw.length > WEBHOOK_LIMITS.urlLength) {
    throw WebhookErrors.invalidUrl(`must have 1 to ${WEBHOOK_LIMITS.urlLength} characters`);
  }
  if (raw !== raw.trim()) throw WebhookErrors.invalidUrl('must not start or end with spaces');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw WebhookErrors.invalidUrl('is not an absolute URL');
  }
  if (url.protocol === 'http:') {
    if (!options.allowLoopbackHttp || !LOOPBACK_HOSTS.has(url.hostname)) {
      throw WebhookErrors.invalidUrl('must use https (http only for localhost or 127.0.0.1, and not in production)');
    }
  } else if (url.protocol !== 'https:') {
    throw WebhookErrors.invalidUrl('must use https');
  }
  if (url.hostname === '') throw WebhookErrors.invalidUrl('must name a host');
  // A fragment is never sent over HTTP, so an endpoint with one would not be what its owner thinks.
  if (url.hash !== '' || raw.includes('#')) throw WebhookErrors.invalidUrl('must not have a #fragment');
  const normal = url.href;
  if (normal.length > WEBHOOK_LIMITS.urlLength) throw WebhookErrors.invalidUrl(`must have at most ${WEBHOOK_LIMITS.urlLength} characters`);
  return normal;
}

/** Checks event types against the fixed list; returns them unique and sorted, or just `*`. */
export function normaliseWebhookEvents(events: readonly string[]): string[] {
  const allowed = [ALL_WEBHOOK_EVENTS, ...WEBHOOK_EVENT_TYPES];
  if (events.length === 0) throw WebhookErrors.invalidEvents('must name at least one event type, or "*" for all', allowed);
  if (events.length > WEBHOOK_LIMITS.eventsPerEndpoint) {
    throw WebhookErrors.invalidEvents(`may name at most ${WEBHOOK_LIMITS.eventsPerEndpoint} event types`, allowed);
  }
  const unknown = events.filter((event) => !allowed.includes(event));
  if (unknown.length) throw WebhookErrors.invalidEvents(`has unknown event types: ${unknown.slice(0, 5).map(echoOfInput).join(', ')}`, allowed);
  if (events.includes(ALL_WEBHOOK_EVENTS)) return [ALL_WEBHOOK_EVENTS];
  return [...new Set(events)].sort();
}
