import { AppError, ErrorCode, validationError } from '../../common/errors';
import { formatMinorAsDecimal } from '../../common/money';

/**
 * The payment lifecycle as pure rules: which step is legal from which state, and with what amount.
 * The service asks these with the payment row locked, so the answer holds until it commits.
 *
 *   PROCESSING ──authorized──▶ AUTHORIZED ──capture (all or part)──▶ CAPTURED ──refund (repeatable)──▶ …
 *        │                         │  └──void──▶ VOIDED                   └──dispute opened ─▶ won / lost
 *        └──declined──▶ FAILED     └──expiry──▶ EXPIRED
 */
export enum PaymentStatus {
  /** Sent to the gateway for authorization; the outcome is not known yet (a timeout, a crash). */
  PROCESSING = 'PROCESSING',
  AUTHORIZED = 'AUTHORIZED',
  CAPTURED = 'CAPTURED',
  VOIDED = 'VOIDED',
  EXPIRED = 'EXPIRED',
  FAILED = 'FAILED',
}

/** A gateway call that was started and whose outcome is not recorded yet. */
export enum PendingOperation {
  AUTHORIZE = 'AUTHORIZE',
  CAPTURE = 'CAPTURE',
  VOID = 'VOID',
}

export enum DisputeStatus {
  OPEN = 'OPEN',
  /** Evidence submitted; the card network decides. */
  UNDER_REVIEW = 'UNDER_REVIEW',
  WON = 'WON',
  LOST = 'LOST',
}

/** How a dispute ends: the only two values closeDispute takes. */
export enum DisputeOutcome {
  /** The card network sided with the business: the disputed funds come back. */
  WON = 'WON',
  /** The cardholder kept the funds: booked as a chargeback loss. */
  LOST = 'LOST',
}

export enum RefundStatus {
  /** Sent to the gateway; its amount is reserved until the outcome is known. */
  PENDING = 'PENDING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}

/** What the rules need to know about a payment. */
export interface PaymentState {
  id: string;
  status: PaymentStatus;
  currency: string;
  authorizedMinor: bigint;
  capturedMinor: bigint;
  refundedMinor: bigint;
  refundPendingMinor: bigint;
  /** Held by open disputes. */
  disputedMinor: bigint;
  /** Lost to closed disputes: gone for good, so never refundable. */
  disputeLostMinor: bigint;
  pendingOperation: PendingOperation | null;
  expiresAt: Date;
}

/** What can still be refunded: captured, less refunds done or under way, less what disputes hold or took. */
export function refundableMinorOf(state: PaymentState): bigint {
  return state.capturedMinor - state.refundedMinor - state.refundPendingMinor - state.disputedMinor - state.disputeLostMinor;
}

/** A dispute can hold no more than what is still with the business. */
export const disputableMinorOf = refundableMinorOf;

function illegal(state: PaymentState, action: string, why: string): AppError {
  return new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Cannot ${action} payment ${state.id}: ${why}`, {
    paymentId: state.id,
    status: state.status,
    action,
  });
}

function busy(state: PaymentState, action: string): AppError | undefined {
  if (!state.pendingOperation) return undefined;
  return illegal(
    state,
    action,
    `a ${state.pendingOperation.toLowerCase()} was sent to the gateway and its outcome is not known yet; it is being checked`,
  );
}

function tooMuch(state: PaymentState, action: string, amountMinor: bigint, limitMinor: bigint, limitName: string): AppError {
  return validationError(
    `Cannot ${action} ${formatMinorAsDecimal(amountMinor, state.currency)} ${state.currency}: ${limitName} is ${formatMinorAsDecimal(limitMinor, state.currency)}`,
    { field: 'amount', paymentId: state.id, limit: formatMinorAsDecimal(limitMinor, state.currency) },
  );
}

/** Refusal of a capture of `amountMinor`, or undefined when it is legal. */
export function captureRefusal(state: PaymentState, amountMinor: bigint, now: Date): AppError | undefined {
  if (state.status !== PaymentStatus.AUTHORIZED) return illegal(state, 'capture', `it is ${state.status}`);
  const pending = busy(state, 'capture');
  if (pending) return pending;
  if (state.expiresAt.getTime() <= now.getTime()) return illegal(state, 'capture', 'its authorization has expired');
  if (amountMinor > state.authorizedMinor) return tooMuch(state, 'capture', amountMinor, state.authorizedMinor, 'the authorized amount');
  return undefined;
}

export function voidRefusal(state: PaymentState): AppError | undefined {
  if (state.status !== PaymentStatus.AUTHORIZED) return illegal(state, 'void', `it is ${state.status}`);
  return busy(state, 'void');
}

export function expiryRefusal(state: PaymentState, now: Date): AppError | undefined {
  if (state.status !== PaymentStatus.AUTHORIZED) return illegal(state, 'expire', `it is ${state.status}`);
  const pending = busy(state, 'expire');
  if (pending) return pending;
  if (state.expiresAt.getTime() > now.getTime()) return illegal(state, 'expire', 'its authorization has not expired yet');
  return undefined;
}

export function refundRefusal(state: PaymentState, amountMinor: bigint): AppError | undefined {
  if (state.status !== PaymentStatus.CAPTURED) return illegal(state, 'refund', `it is ${state.status}`);
  const refundable = refundableMinorOf(state);
  if (refundable <= 0n) return illegal(state, 'refund', 'nothing is left to refund');
  if (amountMinor > refundable) return tooMuch(state, 'refund', amountMinor, refundable, 'the refundable amount');
  return undefined;
}

export function openDisputeRefusal(state: PaymentState, amountMinor: bigint, hasOpenDispute: boolean): AppError | undefined {
  if (state.status !== PaymentStatus.CAPTURED) return illegal(state, 'dispute', `it is ${state.status}`);
  if (hasOpenDispute) return illegal(state, 'dispute', 'it already has an open dispute');
  const disputable = disputableMinorOf(state);
  if (disputable <= 0n) return illegal(state, 'dispute', 'nothing captured is left to dispute');
  if (amountMinor > disputable) return tooMuch(state, 'dispute', amountMinor, disputable, 'the disputable amount');
  return undefined;
}

export function disputeIsOpen(status: DisputeStatus): boolean {
  return status === DisputeStatus.OPEN || status === DisputeStatus.UNDER_REVIEW;
}

export function evidenceRefusal(disputeId: string, status: DisputeStatus): AppError | undefined {
  if (disputeIsOpen(status)) return undefined;
  return new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Cannot submit evidence to dispute ${disputeId}: it is ${status}`, {
    disputeId,
    status,
  });
}

export function closeDisputeRefusal(disputeId: string, status: DisputeStatus): AppError | undefined {
  if (disputeIsOpen(status)) return undefined;
  return new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Cannot close dispute ${disputeId}: it is ${status} already`, {
    disputeId,
    status,
  });
}
