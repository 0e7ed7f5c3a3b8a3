import { backoffDelayMs, callWithRetries, DEFAULT_GATEWAY_RETRY_POLICY } from '../../src/modules/payments/gateways/gateway-retries';
import { DeclineCode, type GatewayOutcome } from '../../src/modules/payments/gateways/payment-gateway';

/**
 * The retry helper in front of every gateway call: only unknown outcomes are retried, a thrown error
 * counts as unknown, and waits follow capped exponential backoff with full jitter.
 */
const FAST = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
const unknown: GatewayOutcome<string> = { kind: 'unknown', reason: 'timed out' };
const declined: GatewayOutcome<string> = { kind: 'declined', declineCode: DeclineCode.EXPIRED_CARD, message: 'expired' };

/** A call function answering from a script, recording the attempt numbers it was given. */
function scripted(script: (GatewayOutcome<string> | Error)[]): { call: (attempt: number) => Promise<GatewayOutcome<string>>; attempts: number[] } {
  const attempts: number[] = [];
  return {
    attempts,
    call: async (attempt) => {
      attempts.push(attempt);
      const next = script[attempts.length - 1];
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

describe('callWithRetries', () => {
  it('has the documented default policy', () => {
    expect(DEFAULT_GATEWAY_RETRY_POLICY).toEqual({ maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 2000 });
  });

  it('returns a success at once', async () => {
    const { call, attempts } = scripted([{ kind: 'succeeded', value: 'done' }]);
    expect(await callWithRetries(call, FAST)).toEqual({ kind: 'succeeded', value: 'done' });
    expect(attempts).toEqual([1]);
  });

  it('never retries a decline', async () => {
    const { call, attempts } = scripted([declined, { kind: 'succeeded', value: 'too late' }]);
    expect(await callWithRetries(call, FAST)).toEqual(declined);
    expect(attempts).toEqual([1]);
  });

  it('retries unknown outcomes until one is definite', async () => {
    const { call, attempts } = scripted([unknown, unknown, { kind: 'succeeded', value: 'done' }]);
    expect(await callWithRetries(call, FAST)).toEqual({ kind: 'succeeded', value: 'done' });
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('stops a retried call at a decline', async () => {
    const { call, attempts } = scripted([unknown, declined, { kind: 'succeeded', value: 'never' }]);
    expect(await callWithRetries(call, FAST)).toEqual(declined);
    expect(attempts).toEqual([1, 2]);
  });

  it('answers unknown with every reason once all attempts are unknown', async () => {
    const { call, attempts } = scripted([unknown, { kind: 'unknown', reason: 'HTTP 503' }, unknown, { kind: 'succeeded', value: 'never' }]);
    const outcome = await callWithRetries(call, FAST);
    expect(outcome).toEqual({ kind: 'unknown', reason: '3 attempts left the outcome unknown: timed out; HTTP 503; timed out' });
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('counts a thrown error as unknown and retries it', async () => {
    const { call, attempts } = scripted([new TypeError('socket hang up'), { kind: 'succeeded', value: 'done' }]);
    expect(await callWithRetries(call, FAST)).toEqual({ kind: 'succeeded', value: 'done' });
    expect(attempts).toEqual([1, 2]);

    const failing = scripted([new Error('boom')]);
    expect(await callWithRetries(failing.call, { ...FAST, maxAttempts: 1 })).toEqual({ kind: 'unknown', reason: 'attempt 1 threw Error: boom' });
  });

  it('waits with full jitter under a capped exponential bound, reporting each retry', async () => {
    const policy = { maxAttempts: 4, baseDelayMs: 2, maxDelayMs: 5 };
    const retries: [number, string, number][] = [];
    const { call } = scripted([unknown, unknown, unknown, unknown]);
    await callWithRetries(call, policy, { random: () => 0.999, onRetry: (attempt, reason, delayMs) => retries.push([attempt, reason, delayMs]) });
    // Bounds 2, 4, then 8 capped at 5; a random draw just under 1 gives the bound less a fraction.
    expect(retries).toEqual([
      [1, 'timed out', 1],
      [2, 'timed out', 3],
      [3, 'timed out', 4],
    ]);
  });

  it('computes delays between zero and the bound', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 2000 };
    expect(backoffDelayMs(1, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(1, policy, () => 0.5)).toBe(50);
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(200);
    expect(backoffDelayMs(9, policy, () => 0.5)).toBe(1000);
    expect(backoffDelayMs(1000, policy, () => 0.5)).toBe(1000);
    for (let attempt = 1; attempt <= 10; attempt += 1) {
      const delayMs = backoffDelayMs(attempt, policy);
      expect(delayMs).toBeGreaterThanOrEqual(0);
      expect(delayMs).toBeLessThanOrEqual(2000);
    }
  });

  it.each([
    { maxAttempts: 0, baseDelayMs: 1, maxDelayMs: 1 },
    { maxAttempts: 11, baseDelayMs: 1, maxDelayMs: 1 },
    { maxAttempts: 2.5, baseDelayMs: 1, maxDelayMs: 1 },
    { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 5 },
    { maxAttempts: 3, baseDelayMs: -1, maxDelayMs: 5 },
    { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 600_000 },
  ])('refuses a policy out of bounds: %j', async (policy) => {
    const { call, attempts } = scripted([unknown]);
    await expect(callWithRetries(call, policy)).rejects.toThrow(/Invariant violated/);
    expect(attempts).toEqual([]);
  });
});
