import { createHash } from 'node:crypto';
import { isKnownCurrency } from '../../../common/money';
import {
  type AuthorizeRequest,
  type Authorization,
  type Capture,
  type CaptureRequest,
  DeclineCode,
  type GatewayCard,
  type GatewayEvent,
  GatewayKind,
  type GatewayOperation,
  type GatewayOutcome,
  type GatewayRefund,
  type OperationStatus,
  type PaymentGateway,
  type RefundRequest,
  type StatusRequest,
  type VoidRequest,
} from './payment-gateway';

/**
 * The built-in gateway: deterministic, offline, and scripted by the payment token, so that demos and
 * tests can produce every gateway answer on purpose. It keeps the books a real gateway keeps (what was
 * authorized, captured, refunded, voided) and refuses what a real gateway would refuse, so that a bug in
 * the payments service shows up here rather than in production.
 *
 * Semantics, modelled on card gateways such as Stripe:
 * - one capture per authorization, for at most the authorized amount; capturing less releases the rest;
 * - a void releases an authorization that was not captured; a captured payment is refunded instead;
 * - refunds, partial and repeated, up to the captured amount in all;
 * - every operation is idempotent per (operation, idempotency key): the same key returns the recorded
 *   answer without doing anything again, and the same key with other parameters is refused.
 *
 * Its state lives in the memory of one process (`simulatorFor` keeps one instance per gateway id).
 * That suits tests and the single-process demo; API processes behind a load balancer need a real
 * gateway, which keeps its state itself.
 */
export const SIMULATOR_TOKENS = {
  tok_approve: 'Approves; a visa card ending 4242.',
  tok_mastercard: 'Approves; a mastercard card ending 4444.',
  tok_decline_insufficient_funds: 'Declines the authorization with INSUFFICIENT_FUNDS.',
  tok_decline_expired_card: 'Declines the authorization with EXPIRED_CARD.',
  tok_decline_fraud: 'Declines the authorization with FRAUD_SUSPECTED.',
  tok_dispute:
    'Approves (visa 4242); its capture answer carries a later "dispute.opened" event for the whole captured amount, ' +
    `with a dispute fee of 1500 minor units and reason "fraudulent".`,
  tok_slow: 'Approves (visa 4242) after a delay (the `slowMs` option, 1500 ms by default).',
  tok_timeout_once:
    'Approves (visa 4242), but the first attempt with a given idempotency key answers as if it had timed out ' +
    '(outcome unknown) although the authorization was made; the next attempt with that key answers succeeded.',
} as const;

export type SimulatorToken = keyof typeof SIMULATOR_TOKENS;

export interface SimulatorOptions {
  /** How long `tok_slow` takes to answer. */
  slowMs?: number;
}

/** What the simulator knows about one authorization, as tests read it from `stats()`. */
export interface SimulatorPaymentStats {
  currency: string;
  authorizedAmountMinor: bigint;
  capturedAmountMinor: bigint;
  refundedAmountMinor: bigint;
  feeMinor: bigint;
  voided: boolean;
  captureCount: number;
  refundCount: number;
}

export interface SimulatorStats {
  /** Authorizations actually made; replays of a key do not count. */
  chargeCount: number;
  captureCount: number;
  refundCount: number;
  voidCount: number;
  /** Every call received, replays and refusals included. */
  callCount: number;
  payments: Record<string, SimulatorPaymentStats>;
}

export const DEFAULT_SIMULATOR_SLOW_MS = 1500;
/** The dispute fee `tok_dispute` charges, in the payment's minor units. */
export const SIMULATOR_DISPUTE_FEE_MINOR = 1500n;
const MAX_SLOW_MS = 60_000;
/** A real gateway bounds its keys too; the payments service derives keys well within this. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/**
 * Memory bound for a long-running demo: past this many recorded operations (or authorizations) the
 * oldest are forgotten, the way a real gateway forgets idempotency keys after a day or so.
 */
const MAX_RECORDS = 1_000_000;

const HASH_HEX_LENGTH = 24;

interface CardBehaviour {
  card: GatewayCard;
  disputeOnCapture: boolean;
  slow: boolean;
  timeoutOnce: boolean;
}

const VISA: GatewayCard = { brand: 'visa', last4: '4242' };
const MASTERCARD: GatewayCard = { brand: 'mastercard', last4: '4444' };

const APPROVING_TOKENS: Record<string, CardBehaviour> = {
  tok_approve: { card: VISA, disputeOnCapture: false, slow: false, timeoutOnce: false },
  tok_mastercard: { card: MASTERCARD, disputeOnCapture: false, slow: false, timeoutOnce: false },
  tok_dispute: { card: VISA, disputeOnCapture: true, slow: false, timeoutOnce: false },
  tok_slow: { card: VISA, disputeOnCapture: false, slow: true, timeoutOnce: false },
  tok_timeout_once: { card: VISA, disputeOnCapture: false, slow: false, timeoutOnce: true },
};

const DECLINING_TOKENS: Record<string, { declineCode: DeclineCode; message: string }> = {
  tok_decline_insufficient_funds: { declineCode: DeclineCode.INSUFFICIENT_FUNDS, message: 'The card has insufficient funds.' },
  tok_decline_expired_card: { declineCode: DeclineCode.EXPIRED_CARD, message: 'The card has expired.' },
  tok_decline_fraud: { declineCode: DeclineCode.FRAUD_SUSPECTED, message: 'The payment was declined as suspected fraud.' },
};

type AnyOutcome = GatewayOutcome<Authorization> | GatewayOutcome<Capture> | GatewayOutcome<Record<string, never>> | GatewayOutcome<GatewayRefund>;

interface OperationRecord {
  operation: GatewayOperation;
  /** The request's parameters, to tell a retry from a reuse of the key for something else. */
  fingerprint: string;
  /** Only definite answers are recorded: what the gateway did or refused under this key. */
  outcome: Exclude<AnyOutcome, { kind: 'unknown' }>;
}

interface PaymentState {
  currency: string;
  authorizedAmountMinor: bigint;
  capturedAmountMinor: bigint;
  refundedAmountMinor: bigint;
  feeMinor: bigint;
  voided: boolean;
  captureCount: number;
  refundCount: number;
  disputeOnCapture: boolean;
}

/** 2.9% of the captured amount, rounded half up, plus 30 minor units; integers only. */
export function simulatorFeeMinor(capturedAmountMinor: bigint): bigint {
  return (capturedAmountMinor * 29n + 500n) / 1000n + 30n;
}

export function simulatorPaymentId(idempotencyKey: string): string {
  return `sim_pay_${shortHash(idempotencyKey)}`;
}

export class SimulatorGateway implements PaymentGateway {
  readonly kind = GatewayKind.SIMULATOR;
  private slowMs: number;
  private readonly records = new Map<string, OperationRecord>();
  private readonly payments = new Map<string, PaymentState>();
  private counters = { chargeCount: 0, captureCount: 0, refundCount: 0, voidCount: 0, callCount: 0 };

  constructor(options: SimulatorOptions = {}) {
    this.slowMs = DEFAULT_SIMULATOR_SLOW_MS;
    this.configure(options);
  }

  /** Applies options to an existing instance; only settings change, never the recorded state. */
  configure(options: SimulatorOptions): void {
    if (options.slowMs === undefined) return;
    if (!Number.isInteger(options.slowMs) || options.slowMs < 0 || options.slowMs > MAX_SLOW_MS) {
      throw new RangeError(`slowMs must be an integer from 0 to ${MAX_SLOW_MS}, got ${options.slowMs}`);
    }
    this.slowMs = options.slowMs;
  }

  async authorize(request: AuthorizeRequest): Promise<GatewayOutcome<Authorization>> {
    this.counters.callCount += 1;
    const fingerprint = JSON.stringify([request.amountMinor.toString(), request.currency, request.paymentToken, request.reference]);
    const replay = this.replay('authorize', request.idempotencyKey, fingerprint);
    if (replay) return replay as GatewayOutcome<Authorization>;

    const refusal = refuseAmount(request.amountMinor, request.currency);
    if (refusal) return this.record('authorize', request.idempotencyKey, fingerprint, refusal);

    const decline = DECLINING_TOKENS[request.paymentToken];
    if (decline) return this.record('authorize', request.idempotencyKey, fingerprint, { kind: 'declined', ...decline });

    const behaviour = APPROVING_TOKENS[request.paymentToken];
    if (!behaviour) {
      return this.record('authorize', request.idempotencyKey, fingerprint, rejected(`Unknown simulator payment token; use one of ${Object.keys(SIMULATOR_TOKENS).join(', ')}.`));
    }

    const gatewayPaymentId = simulatorPaymentId(request.idempotencyKey);
    this.remember(this.payments, gatewayPaymentId, {
      currency: request.currency,
      authorizedAmountMinor: request.amountMinor,
      capturedAmountMinor: 0n,
      refundedAmountMinor: 0n,
      feeMinor: 0n,
      voided: false,
      captureCount: 0,
      refundCount: 0,
      disputeOnCapture: behaviour.disputeOnCapture,
    });
    this.counters.chargeCount += 1;
    const outcome = this.record('authorize', request.idempotencyKey, fingerprint, {
      kind: 'succeeded',
      value: { gatewayPaymentId, card: { ...behaviour.card } },
    });
    // The authorization is recorded before the delay or the lost answer, as a real gateway would have
    // made it before its answer was slow or lost: a retry with the same key finds it.
    if (behaviour.slow) await sleep(this.slowMs);
    if (behaviour.timeoutOnce) return { kind: 'unknown', reason: 'simulated timeout: the gateway did not answer in time' };
    return outcome;
  }

  async capture(request: CaptureRequest): Promise<GatewayOutcome<Capture>> {
    this.counters.callCount += 1;
    const fingerprint = JSON.stringify([request.gatewayPaymentId, request.amountMinor.toString(), request.currency]);
    const replay = this.replay('capture', request.idempotencyKey, fingerprint);
    if (replay) return replay as GatewayOutcome<Capture>;

    const state = this.payments.get(request.gatewayPaymentId);
    const refusal = refuseAmount(request.amountMinor, request.currency) ?? refuseCapture(state, request);
    if (refusal || !state) {
      return this.record('capture', request.idempotencyKey, fingerprint, refusal ?? rejected('No authorization with this gateway payment id.'));
    }

    const feeMinor = simulatorFeeMinor(request.amountMinor);
    state.capturedAmountMinor = request.amountMinor;
    state.feeMinor += feeMinor;
    state.captureCount += 1;
    this.counters.captureCount += 1;
    const value: Capture = { feeMinor };
    if (state.disputeOnCapture) {
      const disputeHash = shortHash(`dispute:${request.gatewayPaymentId}`);
      value.laterEvents = [
        {
          id: `sim_evt_${disputeHash}`,
          type: 'dispute.opened',
          gatewayPaymentId: request.gatewayPaymentId,
          gatewayDisputeId: `sim_dp_${disputeHash}`,
          amountMinor: state.capturedAmountMinor,
          feeMinor: SIMULATOR_DISPUTE_FEE_MINOR,
          reason: 'fraudulent',
        } satisfies GatewayEvent,
      ];
    }
    return this.record('capture', request.idempotencyKey, fingerprint, { kind: 'succeeded', value });
  }

  async void(request: VoidRequest): Promise<GatewayOutcome<Record<string, never>>> {
    this.counters.callCount += 1;
    const fingerprint = JSON.stringify([request.gatewayPaymentId]);
    const replay = this.replay('void', request.idempotencyKey, fingerprint);
    if (replay) return replay as GatewayOutcome<Record<string, never>>;

    const state = this.payments.get(request.gatewayPaymentId);
    const refusal = refuseVoid(state);
    if (refusal || !state) {
      return this.record('void', request.idempotencyKey, fingerprint, refusal ?? rejected('No authorization with this gateway payment id.'));
    }

    state.voided = true;
    this.counters.voidCount += 1;
    return this.record('void', request.idempotencyKey, fingerprint, { kind: 'succeeded', value: {} });
  }

  async refund(request: RefundRequest): Promise<GatewayOutcome<GatewayRefund>> {
    this.counters.callCount += 1;
    const fingerprint = JSON.stringify([request.gatewayPaymentId, request.amountMinor.toString(), request.currency]);
    const replay = this.replay('refund', request.idempotencyKey, fingerprint);
    if (replay) return replay as GatewayOutcome<GatewayRefund>;

    const state = this.payments.get(request.gatewayPaymentId);
    const refusal = refuseAmount(request.amountMinor, request.currency) ?? refuseRefund(state, request);
    if (refusal || !state) {
      return this.record('refund', request.idempotencyKey, fingerprint, refusal ?? rejected('No payment with this gateway payment id.'));
    }

    state.refundedAmountMinor += request.amountMinor;
    state.refundCount += 1;
    this.counters.refundCount += 1;
    return this.record('refund', request.idempotencyKey, fingerprint, {
      kind: 'succeeded',
      value: { gatewayRefundId: `sim_re_${shortHash(`refund:${request.idempotencyKey}`)}` },
    });
  }

  async fetchStatus(request: StatusRequest): Promise<OperationStatus> {
    this.counters.callCount += 1;
    const record = this.records.get(recordKey(request.operation, request.idempotencyKey));
    if (!record) return { kind: 'not_found' };
    const outcome = structuredClone(record.outcome);
    if (outcome.kind === 'declined') return outcome;
    switch (record.operation) {
      case 'authorize':
        return { kind: 'succeeded', authorization: outcome.value as Authorization };
      case 'capture':
        return { kind: 'succeeded', capture: outcome.value as Capture };
      case 'refund':
        return { kind: 'succeeded', refund: outcome.value as GatewayRefund };
      case 'void':
        return { kind: 'succeeded' };
    }
  }

  /** Counters and the books per gatewayPaymentId, copied: tests read them, never change them. */
  stats(): SimulatorStats {
    const payments: Record<string, SimulatorPaymentStats> = {};
    for (const [gatewayPaymentId, { disputeOnCapture: _disputeOnCapture, ...state }] of this.payments) {
      payments[gatewayPaymentId] = { ...state };
    }
    return { ...this.counters, payments };
  }

  /**
   * The recorded answer for this key, or a refusal when the key was used for other parameters, or
   * null when the key is new. Copies are returned so a caller cannot change what was recorded.
   */
  private replay(operation: GatewayOperation, idempotencyKey: string, fingerprint: string): AnyOutcome | null {
    if (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      return rejected(`The idempotency key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`);
    }
    const record = this.records.get(recordKey(operation, idempotencyKey));
    if (!record) return null;
    if (record.fingerprint !== fingerprint) {
      return rejected(`This idempotency key was already used for a ${operation} with other parameters.`);
    }
    return structuredClone(record.outcome);
  }

  private record<T extends AnyOutcome>(operation: GatewayOperation, idempotencyKey: string, fingerprint: string, outcome: T): T {
    if (outcome.kind !== 'unknown') {
      this.remember(this.records, recordKey(operation, idempotencyKey), {
        operation,
        fingerprint,
        outcome: structuredClone(outcome) as OperationRecord['outcome'],
      });
    }
    return outcome;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.set(key, value);
    if (map.size > MAX_RECORDS) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
  }
}

const simulators = new Map<string, SimulatorGateway>();

/**
 * The process-wide simulator of one gateway id: every payment through that gateway row sees the same
 * books, across requests and services. Options given later change the instance's settings only.
 */
export function simulatorFor(gatewayId: string, options: SimulatorOptions = {}): SimulatorGateway {
  let simulator = simulators.get(gatewayId);
  if (!simulator) {
    simulator = new SimulatorGateway(options);
    simulators.set(gatewayId, simulator);
  } else {
    simulator.configure(options);
  }
  return simulator;
}

function refuseCapture(payment: PaymentState | undefined, request: CaptureRequest): GatewayOutcome<never> | null {
  if (!payment) return rejected('No authorization with this gateway payment id.');
  if (payment.voided) return rejected('The authorization was voided; it cannot be captured.');
  if (payment.captureCount > 0) return rejected('The authorization is already captured; an authorization is captured once.');
  if (request.currency !== payment.currency) return rejected(`The authorization is in ${payment.currency}, not ${request.currency}.`);
  if (request.amountMinor > payment.authorizedAmountMinor) {
    return rejected(`The capture of ${request.amountMinor} minor units exceeds the ${payment.authorizedAmountMinor} authorized.`);
  }
  return null;
}

function refuseVoid(payment: PaymentState | undefined): GatewayOutcome<never> | null {
  if (!payment) return rejected('No authorization with this gateway payment id.');
  if (payment.voided) return rejected('The authorization is already voided.');
  if (payment.captureCount > 0) return rejected('The payment is captured: refund it instead of voiding it.');
  return null;
}

function refuseRefund(payment: PaymentState | undefined, request: RefundRequest): GatewayOutcome<never> | null {
  if (!payment) return rejected('No payment with this gateway payment id.');
  if (request.currency !== payment.currency) return rejected(`The payment is in ${payment.currency}, not ${request.currency}.`);
  const refundableMinor = payment.capturedAmountMinor - payment.refundedAmountMinor;
  if (request.amountMinor > refundableMinor) {
    return rejected(`The refund of ${request.amountMinor} minor units exceeds the ${refundableMinor} still refundable.`);
  }
  return null;
}

function refuseAmount(amountMinor: bigint, currency: string): GatewayOutcome<never> | null {
  if (amountMinor <= 0n) return rejected('The amount must be greater than zero.');
  if (!isKnownCurrency(currency)) return rejected('The currency is not an ISO 4217 code the gateway accepts.');
  return null;
}

function rejected(message: string): { kind: 'declined'; declineCode: DeclineCode; message: string } {
  return { kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED, message };
}

function recordKey(operation: GatewayOperation, idempotencyKey: string): string {
  return `${operation}:${idempotencyKey}`;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_HEX_LENGTH);
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}
