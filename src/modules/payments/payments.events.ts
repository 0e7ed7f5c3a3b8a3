import type { Logger } from 'pino';
import { type PubSub, subscribeDecoded } from '../../graphql/pubsub';
import type { PaymentRecord } from './payments.types';

/**
 * What the payments module tells the world after a change has committed. The service depends on this
 * interface only: it knows nothing of GraphQL, WebSockets or Redis.
 */
export interface PaymentEventPublisher {
  paymentUpdated(payment: PaymentRecord): void;
}

export const NO_PAYMENT_EVENTS: PaymentEventPublisher = { paymentUpdated: () => undefined };

/** One channel per tenant: a subscriber is only ever attached to its own tenant's channel. */
export function paymentUpdatedChannel(tenantId: string): string {
  return `reckon:tenant:${tenantId}:payment-updated`;
}

const BIGINT_FIELDS = [
  'authorizedMinor',
  'capturedMinor',
  'refundedMinor',
  'refundPendingMinor',
  'disputedMinor',
  'disputeLostMinor',
  'feeMinor',
  'pendingAmountMinor',
] as const;
const DATE_FIELDS = ['expiresAt', 'createdAt', 'updatedAt', 'pendingSince'] as const;

export function encodePayment(payment: PaymentRecord): string {
  return JSON.stringify(payment, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

export function decodePayment(message: string): PaymentRecord {
  const raw = JSON.parse(message) as Record<string, unknown>;
  for (const field of BIGINT_FIELDS) if (typeof raw[field] === 'string') raw[field] = BigInt(raw[field]);
  for (const field of DATE_FIELDS) if (typeof raw[field] === 'string') raw[field] = new Date(raw[field]);
  return raw as unknown as PaymentRecord;
}

/**
 * Publishes each committed change on its tenant's channel. Fire and forget: the change has committed
 * whatever happens here, so a pub/sub outage costs live updates (logged), never a payment.
 */
export function pubSubPaymentEvents(pubSub: PubSub, log?: Logger): PaymentEventPublisher {
  return {
    paymentUpdated(payment) {
      pubSub.publish(paymentUpdatedChannel(payment.tenantId), encodePayment(payment)).catch((error: unknown) => {
        log?.warn({ err: error, paymentId: payment.id }, 'could not publish paymentUpdated');
      });
    },
  };
}

/**
 * The tenant's payment updates from now on, optionally of one payment. Resolves once the stream is
 * live.
 */
export function subscribeToPayments(pubSub: PubSub, tenantId: string, paymentId: string | null): Promise<AsyncIterableIterator<PaymentRecord>> {
  return subscribeDecoded(
    pubSub,
    paymentUpdatedChannel(tenantId),
    decodePayment,
    (payment) => payment.tenantId === tenantId && (paymentId === null || payment.id === paymentId),
  );
}
