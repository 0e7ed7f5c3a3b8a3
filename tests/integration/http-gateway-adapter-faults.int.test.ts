import net from 'node:net';
import { callWithRetries, type GatewayRetryPolicy } from '../../src/modules/payments/gateways/gateway-retries';
import { HttpGateway, parseHttpGatewayCredentials } from '../../src/modules/payments/gateways/http-gateway';
import { type Authorization, DeclineCode, type GatewayOutcome } from '../../src/modules/payments/gateways/payment-gateway';
import { FakeGateway } from '../helpers/fake-gateway';

/**
 * The HTTP adapter and the retry helper against a real HTTP server playing the gateway, with the faults
 * a network and a gateway produce. What matters in each case is the outcome Reckon sees and how many
 * times the customer was charged at the gateway: never twice, whatever happened on the way.
 */
const RETRY_POLICY: GatewayRetryPolicy = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 };
/** Short, so that faults that wait for the client's timeout keep the suite fast. */
const SHORT_TIMEOUT_MS = 300;
/** Generous, for calls that should never time out even on a loaded machine. */
const PATIENT_TIMEOUT_MS = 5000;

let fake: FakeGateway;
/** For every call that is not meant to time out. */
let gateway: HttpGateway;
/** For the faults that hold the answer back until the client gives up. */
let impatient: HttpGateway;
let keySequence = 0;

function nextKey(label: string): string {
  keySequence += 1;
  return `test-${label}-${keySequence}`;
}

function gatewayWith(options: { apiSecret?: string; timeoutMs?: number; baseUrl?: string } = {}): HttpGateway {
  return new HttpGateway(
    parseHttpGatewayCredentials(
      { baseUrl: options.baseUrl ?? fake.url, apiSecret: options.apiSecret ?? fake.secret, timeoutMs: options.timeoutMs ?? PATIENT_TIMEOUT_MS },
      { allowLoopbackHttp: true },
    ),
  );
}

/** Authorizes with retries, counting the attempts made. */
async function authorizeWithRetries(
  target: HttpGateway,
  idempotencyKey: string,
  paymentToken = 'tok_approve',
): Promise<{ outcome: GatewayOutcome<Authorization>; attempts: number }> {
  let attempts = 0;
  const outcome = await callWithRetries((attempt) => {
    attempts = attempt;
    return target.authorize({ idempotencyKey, amountMinor: 1999n, currency: 'USD', paymentToken, reference: 'pay_test' });
  }, RETRY_POLICY);
  return { outcome, attempts };
}

function succeededValue<T>(outcome: GatewayOutcome<T>): T {
  if (outcome.kind !== 'succeeded') throw new Error(`expected succeeded, got ${JSON.stringify(outcome)}`);
  return outcome.value;
}

beforeAll(async () => {
  fake = await FakeGateway.start();
  gateway = gatewayWith();
  impatient = gatewayWith({ timeoutMs: SHORT_TIMEOUT_MS });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => fake.resetFaults());

describe('HttpGateway with retries against a faulty gateway', () => {
  it('succeeds when the gateway is slow but answers within the timeout', async () => {
    fake.slow(100, { operation: 'authorize' });
    const before = fake.stats().chargeCount;
    const { outcome, attempts } = await authorizeWithRetries(gateway, nextKey('slow'));
    expect(succeededValue(outcome)).toEqual({ gatewayPaymentId: expect.stringMatching(/^fake_pay_/), card: { brand: 'visa', last4: '4242' } });
    expect(attempts).toBe(1);
    expect(fake.stats().chargeCount - before).toBe(1);
  });

  it('retries after a 5xx and charges exactly once', async () => {
    fake.fail5xx({ operation: 'authorize' });
    const before = fake.stats();
    const { outcome, attempts } = await authorizeWithRetries(gateway, nextKey('5xx'));
    expect(outcome.kind).toBe('succeeded');
    expect(attempts).toBe(2);
    const after = fake.stats();
    expect(after.chargeCount - before.chargeCount).toBe(1);
    expect(after.requestsByTarget.authorize - before.requestsByTarget.authorize).toBe(2);
  });

  it('retries after a dropped connection and charges exactly once', async () => {
    fake.dropConnection({ operation: 'authorize' });
    const before = fake.stats().chargeCount;
    const { outcome, attempts } = await authorizeWithRetries(gateway, nextKey('drop'));
    expect(outcome.kind).toBe('succeeded');
    expect(attempts).toBe(2);
    expect(fake.stats().chargeCount - before).toBe(1);
  });

  it('retries with the same key after a charge whose answer was lost, and the retry finds that charge', async () => {
    const key = nextKey('lost-answer');
    fake.timeoutAfterCharge({ operation: 'authorize' });
    const before = fake.stats().chargeCount;
    const { outcome, attempts } = await authorizeWithRetries(impatient, key);
    const authorization = succeededValue(outcome);
    // Two attempts unless the loaded machine made the replay time out too; one charge either way.
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(fake.stats().chargeCount - before).toBe(1);
    expect(fake.stats().payments[authorization.gatewayPaymentId].authorizedAmountMinor).toBe(1999n);
    expect(await gateway.fetchStatus({ operation: 'authorize', idempotencyKey: key })).toEqual({ kind: 'succeeded', authorization });
  });

  it('answers unknown when every attempt fails, and a status check then tells whether it happened', async () => {
    const neverArrived = nextKey('all-5xx');
    fake.fail5xx({ operation: 'authorize', times: RETRY_POLICY.maxAttempts });
    const before = fake.stats().chargeCount;
    const failed = await authorizeWithRetries(gateway, neverArrived);
    expect(failed.outcome).toEqual({ kind: 'unknown', reason: expect.stringContaining('HTTP 503') });
    expect(failed.attempts).toBe(RETRY_POLICY.maxAttempts);
    expect(await gateway.fetchStatus({ operation: 'authorize', idempotencyKey: neverArrived })).toEqual({ kind: 'not_found' });
    expect(fake.stats().chargeCount).toBe(before);

    const chargedUnanswered = nextKey('all-lost');
    fake.timeoutAfterCharge({ operation: 'authorize', times: RETRY_POLICY.maxAttempts });
    const lost = await authorizeWithRetries(impatient, chargedUnanswered);
    expect(lost.outcome).toEqual({ kind: 'unknown', reason: expect.stringContaining(`no answer within ${SHORT_TIMEOUT_MS} ms`) });
    const status = await gateway.fetchStatus({ operation: 'authorize', idempotencyKey: chargedUnanswered });
    expect(status).toEqual({
      kind: 'succeeded',
      authorization: { gatewayPaymentId: expect.stringMatching(/^fake_pay_/), card: { brand: 'visa', last4: '4242' } },
    });
    expect(fake.stats().chargeCount - before).toBe(1);
  });

  it('does not retry a decline', async () => {
    const before = fake.stats();
    const { outcome, attempts } = await authorizeWithRetries(gateway, nextKey('decline'), 'tok_decline');
    expect(outcome).toEqual({ kind: 'declined', declineCode: DeclineCode.INSUFFICIENT_FUNDS, message: 'Insufficient funds.' });
    expect(attempts).toBe(1);
    const after = fake.stats();
    expect(after.requestsByTarget.authorize - before.requestsByTarget.authorize).toBe(1);
    expect(after.chargeCount).toBe(before.chargeCount);
  });

  it('reports a wrong secret as GATEWAY_REJECTED, without the secret in the message', async () => {
    const wrongSecret = 'sk_wrong_secret_123';
    const { outcome, attempts } = await authorizeWithRetries(gatewayWith({ apiSecret: wrongSecret }), nextKey('wrong-secret'));
    expect(outcome).toEqual({ kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED, message: expect.stringContaining('HTTP 401') });
    expect(attempts).toBe(1);
    expect(JSON.stringify(outcome)).not.toContain(wrongSecret);
  });

  it('answers unknown when nothing listens at the gateway address', async () => {
    const closedPort = await unusedPort();
    const nowhere = gatewayWith({ baseUrl: `http://127.0.0.1:${closedPort}/v1` });
    const { outcome, attempts } = await authorizeWithRetries(nowhere, nextKey('refused'));
    expect(outcome).toEqual({ kind: 'unknown', reason: expect.stringContaining('ECONNREFUSED') });
    expect(attempts).toBe(RETRY_POLICY.maxAttempts);
  });

  it('captures, refunds and voids once each through faults, with the fee and the books right', async () => {
    const authorization = succeededValue((await authorizeWithRetries(gateway, nextKey('flow'))).outcome);
    const { gatewayPaymentId } = authorization;

    fake.fail5xx({ operation: 'capture' });
    const captureKey = nextKey('capture');
    const capture = await callWithRetries(
      () => gateway.capture({ idempotencyKey: captureKey, gatewayPaymentId, amountMinor: 1500n, currency: 'USD' }),
      RETRY_POLICY,
    );
    // 2.9% of 1500 is 43.5, rounded half up to 44, plus 30.
    expect(capture).toEqual({ kind: 'succeeded', value: { feeMinor: 74n } });

    fake.timeoutAfterCharge({ operation: 'refund' });
    const refundKey = nextKey('refund');
    const refund = await callWithRetries(
      () => impatient.refund({ idempotencyKey: refundKey, gatewayPaymentId, amountMinor: 500n, currency: 'USD' }),
      RETRY_POLICY,
    );
    expect(refund).toEqual({ kind: 'succeeded', value: { gatewayRefundId: expect.stringMatching(/^fake_re_/) } });

    const tooMuch = await gateway.refund({ idempotencyKey: nextKey('refund-too-much'), gatewayPaymentId, amountMinor: 1001n, currency: 'USD' });
    expect(tooMuch).toMatchObject({ kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED });
    const voidAfterCapture = await gateway.void({ idempotencyKey: nextKey('void'), gatewayPaymentId });
    expect(voidAfterCapture).toMatchObject({ kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED });

    expect(fake.stats().payments[gatewayPaymentId]).toEqual({
      currency: 'USD',
      authorizedAmountMinor: 1999n,
      capturedAmountMinor: 1500n,
      refundedAmountMinor: 500n,
      voided: false,
      captureCount: 1,
      refundCount: 1,
    });
    expect(await gateway.fetchStatus({ operation: 'capture', idempotencyKey: captureKey })).toEqual({ kind: 'succeeded', capture: { feeMinor: 74n } });
    expect(await gateway.fetchStatus({ operation: 'refund', idempotencyKey: refundKey })).toEqual({
      kind: 'succeeded',
      refund: (refund as { value: unknown }).value,
    });
  });

  it('voids an authorization through a dropped connection, once', async () => {
    const { gatewayPaymentId } = succeededValue((await authorizeWithRetries(gateway, nextKey('to-void'))).outcome);
    fake.dropConnection({ operation: 'void' });
    const voidKey = nextKey('void');
    const voided = await callWithRetries(() => gateway.void({ idempotencyKey: voidKey, gatewayPaymentId }), RETRY_POLICY);
    expect(voided).toEqual({ kind: 'succeeded', value: {} });
    expect(fake.stats().payments[gatewayPaymentId]).toMatchObject({ voided: true, captureCount: 0 });
    expect(await gateway.fetchStatus({ operation: 'void', idempotencyKey: voidKey })).toEqual({ kind: 'succeeded' });
  });

  it('refuses a key reused with other parameters', async () => {
    const key = nextKey('reused');
    succeededValue((await authorizeWithRetries(gateway, key)).outcome);
    const reused = await gateway.authorize({ idempotencyKey: key, amountMinor: 1n, currency: 'USD', paymentToken: 'tok_approve', reference: 'pay_test' });
    expect(reused).toMatchObject({ kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED });
  });

  it('reads a 409 (same key in progress) as unknown, never as a refusal', async () => {
    const key = nextKey('in-progress');
    fake.slow(400, { operation: 'authorize' });
    const requestsBefore = fake.stats().requestsByTarget.authorize;
    const first = gateway.authorize({ idempotencyKey: key, amountMinor: 1999n, currency: 'USD', paymentToken: 'tok_approve', reference: 'pay_test' });
    await waitFor(() => fake.stats().requestsByTarget.authorize > requestsBefore);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const concurrent = await gateway.authorize({ idempotencyKey: key, amountMinor: 1999n, currency: 'USD', paymentToken: 'tok_approve', reference: 'pay_test' });
    const firstOutcome = await first;
    expect(firstOutcome.kind).toBe('succeeded');
    // The second request either met the first in progress (409) or came after it finished (a replay).
    if (concurrent.kind === 'unknown') expect(concurrent.reason).toContain('HTTP 409');
    else expect(concurrent).toEqual(firstOutcome);
  });
});

describe('HttpGateway reads malformed answers as unknown', () => {
  const token = 'tok_approve';
  const cases: { name: string; operation: 'authorize' | 'capture' | 'refund'; body: unknown; status?: number; reason: string }[] = [
    { name: 'a 200 that is not JSON', operation: 'authorize', body: 'this is not json', reason: 'not JSON' },
    { name: 'a 200 that is a JSON array', operation: 'authorize', body: [1, 2], reason: 'not a JSON object' },
    { name: 'a 200 saying declined', operation: 'authorize', body: { status: 'declined', declineCode: 'FRAUD_SUSPECTED' }, reason: '"status"' },
    { name: 'no gatewayPaymentId', operation: 'authorize', body: { status: 'succeeded' }, reason: '"gatewayPaymentId"' },
    { name: 'a card last4 that is not 4 digits', operation: 'authorize', body: { status: 'succeeded', gatewayPaymentId: 'p1', card: { brand: 'visa', last4: '42x2' } }, reason: '"card.last4"' },
    { name: 'a card number in last4', operation: 'authorize', body: { status: 'succeeded', gatewayPaymentId: 'p1', card: { brand: 'visa', last4: '4242424242424242' } }, reason: '"card.last4"' },
    { name: 'a card brand with markup', operation: 'authorize', body: { status: 'succeeded', gatewayPaymentId: 'p1', card: { brand: '<script>', last4: '4242' } }, reason: '"card.brand"' },
    { name: 'a negative fee', operation: 'capture', body: { status: 'succeeded', feeMinor: '-5' }, reason: '"feeMinor"' },
    { name: 'a fee as a JSON number', operation: 'capture', body: { status: 'succeeded', feeMinor: 12 }, reason: '"feeMinor"' },
    { name: 'a fee past 64 bits', operation: 'capture', body: { status: 'succeeded', feeMinor: '9223372036854775808' }, reason: '"feeMinor"' },
    { name: 'an answer about another payment', operation: 'capture', body: { status: 'succeeded', gatewayPaymentId: 'someone_else', feeMinor: '1' }, reason: 'another payment' },
    { name: 'a refund without its id', operation: 'refund', body: { status: 'succeeded' }, reason: '"gatewayRefundId"' },
    { name: 'a redirect', operation: 'authorize', body: {}, status: 302, reason: 'HTTP 302' },
    { name: 'a 500', operation: 'authorize', body: { status: 'succeeded', gatewayPaymentId: 'p1' }, status: 500, reason: 'HTTP 500' },
    { name: 'a 429', operation: 'authorize', body: {}, status: 429, reason: 'HTTP 429' },
    { name: 'an answer over 64 KiB', operation: 'authorize', body: { status: 'succeeded', gatewayPaymentId: 'p1', padding: 'x'.repeat(70_000) }, reason: 'larger than' },
  ];

  it.each(cases)('$name', async ({ operation, body, status, reason }) => {
    const { gatewayPaymentId } = succeededValue((await authorizeWithRetries(gateway, nextKey('malformed-setup'))).outcome);
    if (operation === 'refund') {
      succeededValue(await gateway.capture({ idempotencyKey: nextKey('malformed-capture'), gatewayPaymentId, amountMinor: 1000n, currency: 'USD' }));
    }
    fake.malformedAnswer(body, { operation, status });
    const key = nextKey('malformed');
    const outcome =
      operation === 'authorize'
        ? await gateway.authorize({ idempotencyKey: key, amountMinor: 100n, currency: 'USD', paymentToken: token, reference: 'pay_test' })
        : operation === 'capture'
          ? await gateway.capture({ idempotencyKey: key, gatewayPaymentId, amountMinor: 100n, currency: 'USD' })
          : await gateway.refund({ idempotencyKey: key, gatewayPaymentId, amountMinor: 100n, currency: 'USD' });
    expect(outcome).toEqual({ kind: 'unknown', reason: expect.stringContaining(reason) });
    const text = JSON.stringify(outcome);
    expect(text).not.toContain(fake.secret);
    expect(text).not.toContain(token);
  });

  it('reads a 402 with an unknown decline code as DO_NOT_HONOR, with the token and secret cleaned out of its message', async () => {
    fake.malformedAnswer(
      { status: 'declined', declineCode: 'CARD_ON_FIRE', message: `token tok_approve refused, secret ${fake.secret}\u0000` },
      { operation: 'authorize', status: 402 },
    );
    const outcome = await gateway.authorize({ idempotencyKey: nextKey('odd-decline'), amountMinor: 100n, currency: 'USD', paymentToken: token, reference: 'r' });
    expect(outcome).toEqual({ kind: 'declined', declineCode: DeclineCode.DO_NOT_HONOR, message: 'token [redacted] refused, secret [redacted]' });
  });

  it('does not take a bare 404 on a status check as proof that nothing happened', async () => {
    fake.malformedAnswer('Not Found', { operation: 'status', status: 404 });
    expect(await gateway.fetchStatus({ operation: 'authorize', idempotencyKey: nextKey('bare-404') })).toEqual({
      kind: 'unknown',
      reason: expect.stringContaining('HTTP 404'),
    });
    expect(await gateway.fetchStatus({ operation: 'authorize', idempotencyKey: nextKey('real-404') })).toEqual({ kind: 'not_found' });
  });

  it('reads a refused status check as unknown, not as a declined operation', async () => {
    const outsider = gatewayWith({ apiSecret: 'sk_not_the_secret' });
    expect(await outsider.fetchStatus({ operation: 'capture', idempotencyKey: nextKey('status-401') })).toEqual({
      kind: 'unknown',
      reason: expect.stringContaining('HTTP 401'),
    });
  });
});

async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 200 && !condition(); tries += 1) await new Promise((resolve) => setTimeout(resolve, 5));
}
