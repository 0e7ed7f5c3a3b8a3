import { createHash } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { type Clock, systemClock } from '../../../common/clock';
import { AppError, ErrorCode } from '../../../common/errors';
import { isKnownCurrency } from '../../../common/money';
import { toDbTimestamp } from '../../../common/timestamps';
import { databaseKindOfSource } from '../../../db/data-source';
import { isConnectionError, isRetryableConflict, isUniqueViolation, runInTransaction } from '../../../db/transaction';
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
 * Its books live in the database (simulator_operations, simulator_payments), apart from Reckon's own
 * tables and written in transactions of their own, as a real gateway's would be: a payment authorized
 * before a crash is captured after it, and every API process on the database sees the same books. An
 * operation and its effect commit together under the primary key (gateway, operation, key), so a call
 * retried on another process while the first is still running does the operation once: the loser of
 * the race reads and replays the winner's answer.
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
  /** Stamps the simulator's rows; the system clock otherwise. */
  clock?: Clock;
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
  /** Authorizations actually made, by any process; replays of a key do not count. */
  chargeCount: number;
  captureCount: number;
  refundCount: number;
  voidCount: number;
  /** Every call this instance received, replays and refusals included. */
  callCount: number;
  payments: Record<string, SimulatorPaymentStats>;
}

export const DEFAULT_SIMULATOR_SLOW_MS = 1500;
/** The dispute fee `tok_dispute` charges, in the payment's minor units. */
export const SIMULATOR_DISPUTE_FEE_MINOR = 1500n;
const MAX_SLOW_MS = 60_000;
/** A real gateway bounds its keys too (the column holds 255); the payments service derives keys well within this. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** A database failure's message is kept in the unknown outcome's reason, cut short: reasons end up in logs. */
const MAX_REASON_LENGTH = 200;

const OPERATIONS_TABLE = 'simulator_operations';
const PAYMENTS_TABLE = 'simulator_payments';
const PAYMENT_COLUMNS =
  'currency, authorized_minor, captured_minor, refunded_minor, fee_minor, voided, capture_count, refund_count, dispute_on_capture';

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

type Declined = Extract<GatewayOutcome<never>, { kind: 'declined' }>;
/** Only definite answers are recorded: what the gateway did or refused under a key. */
type DefiniteOutcome<T> = Exclude<GatewayOutcome<T>, { kind: 'unknown' }>;

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

/**
 * The simulator of one gateway row. Instances hold settings only: any number of them, in any number of
 * processes, share the gateway's books through the database.
 */
export class SimulatorGateway implements PaymentGateway {
  readonly kind = GatewayKind.SIMULATOR;
  private readonly slowMs: number;
  private readonly clock: Clock;
  private readonly mysql: boolean;
  private callCount = 0;

  constructor(
    private readonly dataSource: DataSource,
    readonly gatewayId: string,
    options: SimulatorOptions = {},
  ) {
    const slowMs = options.slowMs ?? DEFAULT_SIMULATOR_SLOW_MS;
    if (!Number.isInteger(slowMs) || slowMs < 0 || slowMs > MAX_SLOW_MS) {
      throw new RangeError(`slowMs must be an integer from 0 to ${MAX_SLOW_MS}, got ${slowMs}`);
    }
    this.slowMs = slowMs;
    this.clock = options.clock ?? systemClock;
    this.mysql = databaseKindOfSource(dataSource) === 'mysql';
  }

  async authorize(request: AuthorizeRequest): Promise<GatewayOutcome<Authorization>> {
    const fingerprint = JSON.stringify([request.amountMinor.toString(), request.currency, request.paymentToken, request.reference]);
    const behaviour = APPROVING_TOKENS[request.paymentToken];
    const answer = await this.perform<Authorization>('authorize', request.idempotencyKey, fingerprint, async (manager) => {
      const refusal = refuseAmount(request.amountMinor, request.currency);
      if (refusal) return refusal;
      const decline = DECLINING_TOKENS[request.paymentToken];
      if (decline) return { kind: 'declined', ...decline };
      if (!behaviour) return rejected(`Unknown simulator payment token; use one of ${Object.keys(SIMULATOR_TOKENS).join(', ')}.`);
      const gatewayPaymentId = simulatorPaymentId(request.idempotencyKey);
      await manager.query(
        `INSERT INTO ${PAYMENTS_TABLE} (gateway_id, gateway_payment_id, ${PAYMENT_COLUMNS}, created_at) VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?, ?)`,
        [this.gatewayId, gatewayPaymentId, request.currency, request.amountMinor.toString(), behaviour.disputeOnCapture ? 1 : 0, this.now()],
      );
      return { kind: 'succeeded', value: { gatewayPaymentId, card: { ...behaviour.card } } };
    });
    if (!answer.fresh || answer.outcome.kind !== 'succeeded' || !behaviour) return answer.outcome;
    // The authorization has committed before the delay or the lost answer, as a real gateway would have
    // made it before its answer was slow or lost: a retry with the same key, from any process, finds it.
    if (behaviour.slow) await sleep(this.slowMs);
    if (behaviour.timeoutOnce) return { kind: 'unknown', reason: 'simulated timeout: the gateway did not answer in time' };
    return answer.outcome;
  }

  async capture(request: CaptureRequest): Promise<GatewayOutcome<Capture>> {
    const fingerprint = JSON.stringify([request.gatewayPaymentId, request.amountMinor.toString(), request.currency]);
    const answer = await this.perform<Capture>('capture', request.idempotencyKey, fingerprint, async (manager) => {
      const refusal = refuseAmount(request.amountMinor, request.currency);
      if (refusal) return refusal;
      const state = await this.lockPayment(manager, request.gatewayPaymentId);
      const refused = refuseCapture(state, request);
      if (refused || !state) return refused ?? rejected('No authorization with this gateway payment id.');
      const feeMinor = simulatorFeeMinor(request.amountMinor);
      await manager.query(
        `UPDATE ${PAYMENTS_TABLE} SET captured_minor = ?, fee_minor = fee_minor + ?, capture_count = capture_count + 1 WHERE gateway_id = ? AND gateway_payment_id = ?`,
        [request.amountMinor.toString(), feeMinor.toString(), this.gatewayId, request.gatewayPaymentId],
      );
      const value: Capture = { feeMinor };
      if (state.disputeOnCapture) {
        const disputeHash = shortHash(`dispute:${request.gatewayPaymentId}`);
        value.laterEvents = [
          {
            id: `sim_evt_${disputeHash}`,
            type: 'dispute.opened',
            gatewayPaymentId: request.gatewayPaymentId,
            gatewayDisputeId: `sim_dp_${disputeHash}`,
            amountMinor: request.amountMinor,
            feeMinor: SIMULATOR_DISPUTE_FEE_MINOR,
            reason: 'fraudulent',
          } satisfies GatewayEvent,
        ];
      }
      return { kind: 'succeeded', value };
    });
    return answer.outcome;
  }

  async void(request: VoidRequest): Promise<GatewayOutcome<Record<string, never>>> {
    const fingerprint = JSON.stringify([request.gatewayPaymentId]);
    const answer = await this.perform<Record<string, never>>('void', request.idempotencyKey, fingerprint, async (manager) => {
      const state = await this.lockPayment(manager, request.gatewayPaymentId);
      const refused = refuseVoid(state);
      if (refused || !state) return refused ?? rejected('No authorization with this gateway payment id.');
      await manager.query(`UPDATE ${PAYMENTS_TABLE} SET voided = 1 WHERE gateway_id = ? AND gateway_payment_id = ?`, [
        this.gatewayId,
        request.gatewayPaymentId,
      ]);
      return { kind: 'succeeded', value: {} };
    });
    return answer.outcome;
  }

  async refund(request: RefundRequest): Promise<GatewayOutcome<GatewayRefund>> {
    const fingerprint = JSON.stringify([request.gatewayPaymentId, request.amountMinor.toString(), request.currency]);
    const answer = await this.perform<GatewayRefund>('refund', request.idempotencyKey, fingerprint, async (manager) => {
      const refusal = refuseAmount(request.amountMinor, request.currency);
      if (refusal) return refusal;
      const state = await this.lockPayment(manager, request.gatewayPaymentId);
      const refused = refuseRefund(state, request);
      if (refused || !state) return refused ?? rejected('No payment with this gateway payment id.');
      await manager.query(
        `UPDATE ${PAYMENTS_TABLE} SET refunded_minor = refunded_minor + ?, refund_count = refund_count + 1 WHERE gateway_id = ? AND gateway_payment_id = ?`,
        [request.amountMinor.toString(), this.gatewayId, request.gatewayPaymentId],
      );
      return { kind: 'succeeded', value: { gatewayRefundId: `sim_re_${shortHash(`refund:${request.idempotencyKey}`)}` } };
    });
    return answer.outcome;
  }

  async fetchStatus(request: StatusRequest): Promise<OperationStatus> {
    this.callCount += 1;
    let record: OperationRecord | null;
    try {
      record = await this.readRecord(request.operation, request.idempotencyKey);
    } catch (error) {
      return unavailable(error);
    }
    if (!record) return { kind: 'not_found' };
    const { outcome } = record;
    if (outcome.kind === 'declined') return outcome;
    switch (request.operation) {
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

  /** The gateway's books as every process sees them (this instance's call count aside), for tests. */
  async stats(): Promise<SimulatorStats> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT gateway_payment_id, ${PAYMENT_COLUMNS} FROM ${PAYMENTS_TABLE} WHERE gateway_id = ? ORDER BY gateway_payment_id`,
      [this.gatewayId],
    );
    const stats: SimulatorStats = { chargeCount: 0, captureCount: 0, refundCount: 0, voidCount: 0, callCount: this.callCount, payments: {} };
    for (const row of rows) {
      const { disputeOnCapture: _disputeOnCapture, ...state } = paymentStateOf(row);
      stats.payments[String(row.gateway_payment_id)] = state;
      stats.chargeCount += 1;
      stats.captureCount += state.captureCount;
      stats.refundCount += state.refundCount;
      if (state.voided) stats.voidCount += 1;
    }
    return stats;
  }

  /**
   * One call: the recorded answer when the key was used before (a refusal when it was used for other
   * parameters), or else `decide`, run in one transaction with the recording of its answer. `fresh`
   * says the operation was decided by this call rather than replayed. When two calls with one key race,
   * the second to record fails on the primary key, its transaction (and so its effect) rolls back, and
   * it replays the first one's answer.
   */
  private async perform<T>(
    operation: GatewayOperation,
    idempotencyKey: string,
    fingerprint: string,
    decide: (manager: EntityManager) => Promise<DefiniteOutcome<T>>,
  ): Promise<{ outcome: GatewayOutcome<T>; fresh: boolean }> {
    this.callCount += 1;
    if (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      return { outcome: rejected(`The idempotency key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters long.`), fresh: false };
    }
    try {
      const recorded = await this.readRecord(operation, idempotencyKey);
      if (recorded) return { outcome: replayed<T>(recorded, operation, fingerprint), fresh: false };
      try {
        const outcome = await runInTransaction(this.dataSource, async (manager) => {
          const decided = await decide(manager);
          await manager.query(
            `INSERT INTO ${OPERATIONS_TABLE} (gateway_id, operation, idempotency_key, fingerprint, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
            [this.gatewayId, operation, idempotencyKey, fingerprint, encodeOutcome(decided), this.now()],
          );
          return decided;
        });
        return { outcome, fresh: true };
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const winner = await this.readRecord(operation, idempotencyKey);
        if (!winner) throw error;
        return { outcome: replayed<T>(winner, operation, fingerprint), fresh: false };
      }
    } catch (error) {
      // The books could not be read or written: as with a gateway that did not answer, the operation
      // may or may not have been done, and a retry with the same key will tell.
      if (isConnectionError(error) || isRetryableConflict(error) || (error instanceof AppError && error.code === ErrorCode.SERVICE_UNAVAILABLE)) {
        return { outcome: unavailable(error), fresh: false };
      }
      throw error;
    }
  }

  private async readRecord(operation: GatewayOperation, idempotencyKey: string): Promise<OperationRecord | null> {
    const [row]: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT fingerprint, outcome FROM ${OPERATIONS_TABLE} WHERE gateway_id = ? AND operation = ? AND idempotency_key = ?`,
      [this.gatewayId, operation, idempotencyKey],
    );
    return row ? { fingerprint: String(row.fingerprint), outcome: decodeOutcome(String(row.outcome)) } : null;
  }

  /** The authorization's books, locked until the transaction ends on MySQL (SQLite writes one at a time). */
  private async lockPayment(manager: EntityManager, gatewayPaymentId: string): Promise<PaymentState | undefined> {
    const [row]: Record<string, unknown>[] = await manager.query(
      `SELECT ${PAYMENT_COLUMNS} FROM ${PAYMENTS_TABLE} WHERE gateway_id = ? AND gateway_payment_id = ?${this.mysql ? ' FOR UPDATE' : ''}`,
      [this.gatewayId, gatewayPaymentId],
    );
    return row ? paymentStateOf(row) : undefined;
  }

  private now(): string {
    return toDbTimestamp(this.clock.now());
  }
}

interface OperationRecord {
  /** The request's parameters, to tell a retry from a reuse of the key for something else. */
  fingerprint: string;
  outcome: DefiniteOutcome<unknown>;
}

function replayed<T>(record: OperationRecord, operation: GatewayOperation, fingerprint: string): GatewayOutcome<T> {
  if (record.fingerprint !== fingerprint) return rejected(`This idempotency key was already used for a ${operation} with other parameters.`);
  return record.outcome as GatewayOutcome<T>;
}

function unavailable(error: unknown): { kind: 'unknown'; reason: string } {
  const message = error instanceof Error ? error.message : String(error);
  return { kind: 'unknown', reason: `the simulator's books are unavailable: ${message.slice(0, MAX_REASON_LENGTH)}` };
}

function paymentStateOf(row: Record<string, unknown>): PaymentState {
  return {
    currency: String(row.currency),
    authorizedAmountMinor: BigInt(String(row.authorized_minor)),
    capturedAmountMinor: BigInt(String(row.captured_minor)),
    refundedAmountMinor: BigInt(String(row.refunded_minor)),
    feeMinor: BigInt(String(row.fee_minor)),
    voided: Number(row.voided) !== 0,
    captureCount: Number(row.capture_count),
    refundCount: Number(row.refund_count),
    disputeOnCapture: Number(row.dispute_on_capture) !== 0,
  };
}

/** Outcomes hold bigints (fees, dispute amounts), which JSON cannot: they are written as {"$bigint": "<digits>"}. */
function encodeOutcome(outcome: DefiniteOutcome<unknown>): string {
  return JSON.stringify(outcome, (_key, value: unknown) => (typeof value === 'bigint' ? { $bigint: value.toString() } : value));
}

function decodeOutcome(text: string): DefiniteOutcome<unknown> {
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value === 'object' && value !== null && typeof (value as { $bigint?: unknown }).$bigint === 'string') {
      return BigInt((value as { $bigint: string }).$bigint);
    }
    return value;
  }) as DefiniteOutcome<unknown>;
}

function refuseCapture(payment: PaymentState | undefined, request: CaptureRequest): Declined | null {
  if (!payment) return rejected('No authorization with this gateway payment id.');
  if (payment.voided) return rejected('The authorization was voided; it cannot be captured.');
  if (payment.captureCount > 0) return rejected('The authorization is already captured; an authorization is captured once.');
  if (request.currency !== payment.currency) return rejected(`The authorization is in ${payment.currency}, not ${request.currency}.`);
  if (request.amountMinor > payment.authorizedAmountMinor) {
    return rejected(`The capture of ${request.amountMinor} minor units exceeds the ${payment.authorizedAmountMinor} authorized.`);
  }
  return null;
}

function refuseVoid(payment: PaymentState | undefined): Declined | null {
  if (!payment) return rejected('No authorization with this gateway payment id.');
  if (payment.voided) return rejected('The authorization is already voided.');
  if (payment.captureCount > 0) return rejected('The payment is captured: refund it instead of voiding it.');
  return null;
}

function refuseRefund(payment: PaymentState | undefined, request: RefundRequest): Declined | null {
  if (!payment) return rejected('No payment with this gateway payment id.');
  if (request.currency !== payment.currency) return rejected(`The payment is in ${payment.currency}, not ${request.currency}.`);
  const refundableMinor = payment.capturedAmountMinor - payment.refundedAmountMinor;
  if (request.amountMinor > refundableMinor) {
    return rejected(`The refund of ${request.amountMinor} minor units exceeds the ${refundableMinor} still refundable.`);
  }
  return null;
}

function refuseAmount(amountMinor: bigint, currency: string): Declined | null {
  if (amountMinor <= 0n) return rejected('The amount must be greater than zero.');
  if (!isKnownCurrency(currency)) return rejected('The currency is not an ISO 4217 code the gateway accepts.');
  return null;
}

function rejected(message: string): Declined {
  return { kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED, message };
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_HEX_LENGTH);
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}
