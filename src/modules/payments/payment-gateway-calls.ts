import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { newUlid } from '../../common/ids';
import { currentRequestId } from '../../common/log-context';
import type { IdempotencyHandle } from '../idempotency/idempotency.service';
import { callWithRetries } from './gateways/gateway-retries';
import { DeclineCode as Declines, type GatewayOperation, type GatewayOutcome, type OperationStatus } from './gateways/payment-gateway';
import type { PendingOperation } from './payment-state';
import type { PaymentsOptions } from './payment-requests';
import type { PaymentRecord } from './payments.types';

/** The steps' dealings with a gateway: the keys they send, the retries, and what a status check's answer means. */

/**
 * The key a gateway operation is sent with. With the client's idempotency key it is derived from the
 * key's scope, so every retry of the request (after a timeout, a crash, a lost lease) sends the same
 * key and the gateway does the operation once. Without one, each request is new.
 */
export function gatewayKeyFor(handle: IdempotencyHandle | null | undefined, operation: GatewayOperation): string {
  if (!handle) return `rk_${newUlid().toLowerCase()}_${operation}`;
  const { tenantId, credentialId, operation: field, key } = handle.scope;
  const digest = crypto.createHash('sha256').update(JSON.stringify([tenantId, credentialId, field, key])).digest('hex').slice(0, 40);
  return `rk_${digest}_${operation}`;
}

/**
 * One gateway call with the retry policy, and its warnings: each attempt that left the outcome
 * unknown (a 5xx, a timeout, a dropped connection) before it is retried, and an outcome still unknown
 * after the last attempt. The reasons name the operation and the HTTP status or network error, never
 * the API secret or the payment token (http-gateway.ts); the request id ties them to the access line.
 */
export async function callGateway<T>(
  context: { options: Pick<PaymentsOptions, 'gatewayRetry'>; log?: Logger },
  call: { operation: 'authorize' | 'capture' | 'void' | 'refund'; paymentId: string; refundId?: string; gatewayId: string },
  attempt: () => Promise<GatewayOutcome<T>>,
): Promise<GatewayOutcome<T>> {
  const outcome = await callWithRetries(attempt, context.options.gatewayRetry, {
    onRetry: (attemptNumber, reason, delayMs) =>
      context.log?.warn({ requestId: currentRequestId(), ...call, attempt: attemptNumber, reason, delayMs }, 'gateway call failed; retrying with the same idempotency key'),
  });
  if (outcome.kind === 'unknown') {
    context.log?.warn(
      { requestId: currentRequestId(), ...call, attempts: context.options.gatewayRetry.maxAttempts, reason: outcome.reason },
      'gateway outcome unknown; left for a retry with the same key or the status check',
    );
  }
  return outcome;
}

/** A hash of what a request asked for, kept with its gateway step (see begin). */
export function requestHashOf(parts: unknown[]): string {
  const text = JSON.stringify(parts, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** The operation a gateway key was made for (its suffix), for messages. */
export function operationOf(key: string): string {
  return key.slice(key.lastIndexOf('_') + 1).replace(':', ' and ');
}

export function markPending(
  payment: PaymentRecord,
  operation: PendingOperation,
  amountMinor: bigint | null,
  key: string,
  requestHash: string,
  now: Date,
): void {
  payment.pendingOperation = operation;
  payment.pendingAmountMinor = amountMinor;
  payment.pendingKey = key;
  payment.pendingRequestHash = requestHash;
  payment.pendingSince = now;
  payment.updatedAt = now;
}

export function clearPending(payment: PaymentRecord, now: Date): void {
  payment.pendingOperation = null;
  payment.pendingAmountMinor = null;
  payment.pendingKey = null;
  payment.pendingRequestHash = null;
  payment.pendingSince = null;
  payment.updatedAt = now;
}

/**
 * A status check's answer as a call outcome. `not_found` means the gateway never received the
 * operation: nothing happened, which settles it as declined.
 */
export function outcomeOf<T>(status: OperationStatus, value: T | undefined): GatewayOutcome<T> {
  switch (status.kind) {
    case 'succeeded':
      return value === undefined ? { kind: 'unknown', reason: 'the status check did not say what was done' } : { kind: 'succeeded', value };
    case 'declined':
      return { kind: 'declined', declineCode: status.declineCode, message: status.message };
    case 'not_found':
      return { kind: 'declined', declineCode: Declines.GATEWAY_REJECTED, message: 'the gateway never received the operation' };
    case 'unknown':
      return { kind: 'unknown', reason: status.reason };
  }
}
