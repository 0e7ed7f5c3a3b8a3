import { assert } from '../../../common/assert';
import type { GatewayOutcome } from './payment-gateway';

/**
 * Retrying a gateway call is safe only because every attempt carries the same idempotency key: the
 * gateway then does the operation at most once, and a later attempt learns what the earlier one did.
 * So only `unknown` outcomes are retried. A `declined` one is final (sending it again would be refused
 * again, or worse, succeed on a card the customer was told was refused), and a `succeeded` one is done.
 */
export interface GatewayRetryPolicy {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  /** Upper bound of the wait before the second attempt; it doubles for each attempt after that. */
  baseDelayMs: number;
  /** No wait is longer than this, however many attempts came before. */
  maxDelayMs: number;
}

export const DEFAULT_GATEWAY_RETRY_POLICY: Readonly<GatewayRetryPolicy> = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 2000,
});

/** Past this many attempts a caller is holding a client's request hostage, whatever the policy says. */
const MAX_ATTEMPTS_LIMIT = 10;
const MAX_DELAY_LIMIT_MS = 60_000;
/** A thrown error's message is kept in the reason, cut short: reasons end up in logs. */
const MAX_THROWN_MESSAGE_LENGTH = 200;

export interface GatewayRetryHooks {
  /** Called before each wait, for logs and metrics: which attempt left the outcome unknown and why. */
  onRetry?: (attempt: number, reason: string, delayMs: number) => void;
  /** Injected by tests; Math.random otherwise. Must return a number in [0, 1). */
  random?: () => number;
}

/**
 * Calls `call` until it answers `succeeded` or `declined`, or `policy.maxAttempts` attempts have all
 * answered `unknown`. Waits between attempts use capped exponential backoff with full jitter (a random
 * wait between zero and min(maxDelayMs, baseDelayMs * 2^(attempt - 1))), so that many clients retrying
 * after the same gateway hiccup do not come back in step. `attempt` starts at 1. An exception thrown by
 * `call` counts as an unknown outcome: whatever failed, the operation may have reached the gateway.
 */
export async function callWithRetries<T>(
  call: (attempt: number) => Promise<GatewayOutcome<T>>,
  policy: GatewayRetryPolicy,
  hooks: GatewayRetryHooks = {},
): Promise<GatewayOutcome<T>> {
  assertPolicy(policy);
  const random = hooks.random ?? Math.random;
  const reasons: string[] = [];
  for (let attempt = 1; ; attempt += 1) {
    const outcome = await attemptOnce(call, attempt);
    if (outcome.kind !== 'unknown') return outcome;
    reasons.push(outcome.reason);
    if (attempt >= policy.maxAttempts) {
      if (attempt === 1) return outcome;
      return { kind: 'unknown', reason: `${attempt} attempts left the outcome unknown: ${reasons.join('; ')}` };
    }
    const delayMs = backoffDelayMs(attempt, policy, random);
    hooks.onRetry?.(attempt, outcome.reason, delayMs);
    await sleep(delayMs);
  }
}

/** The wait after `attempt` (1-based) answered unknown: full jitter over a capped exponential bound. */
export function backoffDelayMs(attempt: number, policy: GatewayRetryPolicy, random: () => number = Math.random): number {
  // The exponent is capped so that 2 ** exponent stays a small exact number whatever the attempt.
  const exponent = Math.min(attempt - 1, 30);
  const boundMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  const fraction = random();
  assert(fraction >= 0 && fraction < 1, 'the jitter source returns a number in [0, 1)');
  return Math.floor(fraction * boundMs);
}

async function attemptOnce<T>(call: (attempt: number) => Promise<GatewayOutcome<T>>, attempt: number): Promise<GatewayOutcome<T>> {
  try {
    return await call(attempt);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { kind: 'unknown', reason: `attempt ${attempt} threw ${message.slice(0, MAX_THROWN_MESSAGE_LENGTH)}` };
  }
}

function assertPolicy(policy: GatewayRetryPolicy): void {
  assert(
    Number.isInteger(policy.maxAttempts) && policy.maxAttempts >= 1 && policy.maxAttempts <= MAX_ATTEMPTS_LIMIT,
    `a retry policy makes 1 to ${MAX_ATTEMPTS_LIMIT} attempts, not ${policy.maxAttempts}`,
  );
  assert(
    Number.isFinite(policy.baseDelayMs) && policy.baseDelayMs >= 0 && policy.baseDelayMs <= policy.maxDelayMs,
    'a retry policy has 0 <= baseDelayMs <= maxDelayMs',
  );
  assert(policy.maxDelayMs <= MAX_DELAY_LIMIT_MS, `a retry policy waits at most ${MAX_DELAY_LIMIT_MS} ms between attempts`);
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms));
}
