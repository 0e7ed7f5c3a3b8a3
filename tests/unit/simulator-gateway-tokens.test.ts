import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../src/db/data-source';
import { migrate } from '../../src/db/migrate';
import { createGatewayAdapter } from '../../src/modules/payments/gateways/gateway-adapters';
import { HttpGateway } from '../../src/modules/payments/gateways/http-gateway';
import { type AuthorizeRequest, DeclineCode, GatewayKind, type GatewayOutcome } from '../../src/modules/payments/gateways/payment-gateway';
import {
  SIMULATOR_DISPUTE_FEE_MINOR,
  SIMULATOR_TOKENS,
  SimulatorGateway,
  type SimulatorOptions,
  simulatorFeeMinor,
} from '../../src/modules/payments/gateways/simulator-gateway';

/**
 * The simulator is what demos and the payments tests run against, so each token must do exactly what
 * SIMULATOR_TOKENS says, every operation must be idempotent per key, and the simulator must refuse
 * what a real gateway refuses.
 */
/** The simulator keeps its books in the database: a migrated SQLite file of this suite's own. */
let directory: string;
let dataSource: DataSource;
beforeAll(async () => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-simulator-'));
  ({ dataSource } = createDataSource({ url: `sqlite:${path.join(directory, 'simulator.sqlite')}` }));
  await dataSource.initialize();
  await migrate(dataSource);
});
afterAll(async () => {
  await dataSource?.destroy();
  fs.rmSync(directory, { recursive: true, force: true });
});

let keySequence = 0;
function nextKey(label: string): string {
  keySequence += 1;
  return `unit-${label}-${keySequence}`;
}

function authorizeRequest(paymentToken: string, overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  return { idempotencyKey: nextKey(paymentToken), amountMinor: 10_000n, currency: 'USD', paymentToken, reference: 'pay_01', ...overrides };
}

/** A simulator for a gateway id of its own, so its books start empty. */
function freshSimulator(options: SimulatorOptions = {}): SimulatorGateway {
  return new SimulatorGateway(dataSource, nextKey('gw'), options);
}

function value<T>(outcome: GatewayOutcome<T>): T {
  if (outcome.kind !== 'succeeded') throw new Error(`expected succeeded, got ${JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return outcome.value;
}

describe('SimulatorGateway tokens', () => {
  let simulator: SimulatorGateway;
  beforeAll(() => {
    simulator = freshSimulator({ slowMs: 20 });
  });

  it.each([
    ['tok_approve', { brand: 'visa', last4: '4242' }],
    ['tok_mastercard', { brand: 'mastercard', last4: '4444' }],
    ['tok_dispute', { brand: 'visa', last4: '4242' }],
    ['tok_slow', { brand: 'visa', last4: '4242' }],
  ])('%s approves with its card', async (token, card) => {
    const request = authorizeRequest(token);
    const authorization = value(await simulator.authorize(request));
    const expectedId = `sim_pay_${createHash('sha256').update(request.idempotencyKey).digest('hex').slice(0, 24)}`;
    expect(authorization).toEqual({ gatewayPaymentId: expectedId, card });
  });

  it.each([
    ['tok_decline_insufficient_funds', DeclineCode.INSUFFICIENT_FUNDS],
    ['tok_decline_expired_card', DeclineCode.EXPIRED_CARD],
    ['tok_decline_fraud', DeclineCode.FRAUD_SUSPECTED],
  ])('%s is declined with %s and charges nothing', async (token, declineCode) => {
    const before = (await simulator.stats()).chargeCount;
    const outcome = await simulator.authorize(authorizeRequest(token));
    expect(outcome).toEqual({ kind: 'declined', declineCode, message: expect.any(String) });
    expect((await simulator.stats()).chargeCount).toBe(before);
  });

  it('declines an unknown token with GATEWAY_REJECTED, listing the valid tokens', async () => {
    const outcome = await simulator.authorize(authorizeRequest('tok_nonsense'));
    expect(outcome).toMatchObject({ kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED });
    for (const token of Object.keys(SIMULATOR_TOKENS)) expect((outcome as { message: string }).message).toContain(token);
  });

  it('tok_dispute reports a dispute for the whole captured amount with the capture', async () => {
    const { gatewayPaymentId } = value(await simulator.authorize(authorizeRequest('tok_dispute')));
    const capture = value(await simulator.capture({ idempotencyKey: nextKey('capture'), gatewayPaymentId, amountMinor: 8000n, currency: 'USD' }));
    expect(capture).toEqual({
      feeMinor: simulatorFeeMinor(8000n),
      laterEvents: [
        {
          id: expect.stringMatching(/^sim_evt_/),
          type: 'dispute.opened',
          gatewayPaymentId,
          gatewayDisputeId: expect.stringMatching(/^sim_dp_/),
          amountMinor: 8000n,
          feeMinor: SIMULATOR_DISPUTE_FEE_MINOR,
          reason: 'fraudulent',
        },
      ],
    });
  });

  it('tok_approve captures carry no later events', async () => {
    const { gatewayPaymentId } = value(await simulator.authorize(authorizeRequest('tok_approve')));
    const capture = value(await simulator.capture({ idempotencyKey: nextKey('capture'), gatewayPaymentId, amountMinor: 100n, currency: 'USD' }));
    expect(capture).toEqual({ feeMinor: 33n });
  });

  it('tok_slow answers after slowMs, having authorized once', async () => {
    const slow = freshSimulator({ slowMs: 30 });
    const pending = slow.authorize(authorizeRequest('tok_slow'));
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    expect(value(await pending).card).toEqual({ brand: 'visa', last4: '4242' });
    expect((await slow.stats()).chargeCount).toBe(1);
  });

  it('tok_timeout_once answers unknown first, then the same authorization to the same key', async () => {
    const fresh = freshSimulator();
    const request = authorizeRequest('tok_timeout_once');
    const first = await fresh.authorize(request);
    expect(first).toEqual({ kind: 'unknown', reason: expect.stringContaining('timeout') });
    const status = await fresh.fetchStatus({ operation: 'authorize', idempotencyKey: request.idempotencyKey });
    const second = value(await fresh.authorize(request));
    expect(status).toEqual({ kind: 'succeeded', authorization: second });
    expect(value(await fresh.authorize(request))).toEqual(second);
    expect((await fresh.stats()).chargeCount).toBe(1);
    // Another key is another payment, which again times out once.
    expect((await fresh.authorize(authorizeRequest('tok_timeout_once'))).kind).toBe('unknown');
  });
});

describe('SimulatorGateway idempotency', () => {
  it('returns the recorded answer to the same key without doing the operation again', async () => {
    const simulator = freshSimulator();
    const authorize = authorizeRequest('tok_approve');
    const authorization = value(await simulator.authorize(authorize));
    expect(value(await simulator.authorize(authorize))).toEqual(authorization);
    const { gatewayPaymentId } = authorization;

    const capture = { idempotencyKey: nextKey('capture'), gatewayPaymentId, amountMinor: 6000n, currency: 'USD' };
    const captured = await simulator.capture(capture);
    expect(await simulator.capture(capture)).toEqual(captured);

    const refund = { idempotencyKey: nextKey('refund'), gatewayPaymentId, amountMinor: 1000n, currency: 'USD' };
    const refunded = await simulator.refund(refund);
    expect(await simulator.refund(refund)).toEqual(refunded);

    const stats = await simulator.stats();
    expect(stats).toMatchObject({ chargeCount: 1, captureCount: 1, refundCount: 1, voidCount: 0, callCount: 6 });
    expect(stats.payments[gatewayPaymentId]).toEqual({
      currency: 'USD',
      authorizedAmountMinor: 10_000n,
      capturedAmountMinor: 6000n,
      refundedAmountMinor: 1000n,
      feeMinor: simulatorFeeMinor(6000n),
      voided: false,
      captureCount: 1,
      refundCount: 1,
    });
  });

  it('replays a decline too', async () => {
    const simulator = freshSimulator();
    const request = authorizeRequest('tok_decline_fraud');
    expect(await simulator.authorize(request)).toEqual(await simulator.authorize(request));
  });

  it('refuses the same key with other parameters, for every operation', async () => {
    const simulator = freshSimulator();
    const authorize = authorizeRequest('tok_approve');
    const { gatewayPaymentId } = value(await simulator.authorize(authorize));
    const rejected = { kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED, message: expect.stringContaining('other parameters') };
    expect(await simulator.authorize({ ...authorize, amountMinor: 1n })).toEqual(rejected);
    expect(await simulator.authorize({ ...authorize, paymentToken: 'tok_mastercard' })).toEqual(rejected);

    const capture = { idempotencyKey: nextKey('capture'), gatewayPaymentId, amountMinor: 5000n, currency: 'USD' };
    value(await simulator.capture(capture));
    expect(await simulator.capture({ ...capture, amountMinor: 4000n })).toEqual(rejected);

    const refund = { idempotencyKey: nextKey('refund'), gatewayPaymentId, amountMinor: 100n, currency: 'USD' };
    value(await simulator.refund(refund));
    expect(await simulator.refund({ ...refund, amountMinor: 200n })).toEqual(rejected);

    const other = value(await simulator.authorize(authorizeRequest('tok_approve')));
    const voidRequest = { idempotencyKey: nextKey('void'), gatewayPaymentId: other.gatewayPaymentId };
    value(await simulator.void(voidRequest));
    expect(await simulator.void({ ...voidRequest, gatewayPaymentId })).toEqual(rejected);

    expect((await simulator.stats())).toMatchObject({ chargeCount: 2, captureCount: 1, refundCount: 1, voidCount: 1 });
  });

  it('keys are per operation: a capture and a refund may share a key', async () => {
    const simulator = freshSimulator();
    const { gatewayPaymentId } = value(await simulator.authorize(authorizeRequest('tok_approve')));
    const key = nextKey('shared');
    value(await simulator.capture({ idempotencyKey: key, gatewayPaymentId, amountMinor: 500n, currency: 'USD' }));
    value(await simulator.refund({ idempotencyKey: key, gatewayPaymentId, amountMinor: 500n, currency: 'USD' }));
  });

  it('answers status checks from the recorded operations', async () => {
    const simulator = freshSimulator();
    const authorize = authorizeRequest('tok_approve');
    const authorization = value(await simulator.authorize(authorize));
    const captureKey = nextKey('capture');
    const capture = value(await simulator.capture({ idempotencyKey: captureKey, gatewayPaymentId: authorization.gatewayPaymentId, amountMinor: 1000n, currency: 'USD' }));
    const refundKey = nextKey('refund');
    const refund = value(await simulator.refund({ idempotencyKey: refundKey, gatewayPaymentId: authorization.gatewayPaymentId, amountMinor: 1n, currency: 'USD' }));
    const declinedKey = authorizeRequest('tok_decline_expired_card');
    await simulator.authorize(declinedKey);

    expect(await simulator.fetchStatus({ operation: 'authorize', idempotencyKey: authorize.idempotencyKey })).toEqual({ kind: 'succeeded', authorization });
    expect(await simulator.fetchStatus({ operation: 'capture', idempotencyKey: captureKey })).toEqual({ kind: 'succeeded', capture });
    expect(await simulator.fetchStatus({ operation: 'refund', idempotencyKey: refundKey })).toEqual({ kind: 'succeeded', refund });
    expect(await simulator.fetchStatus({ operation: 'authorize', idempotencyKey: declinedKey.idempotencyKey })).toMatchObject({
      kind: 'declined',
      declineCode: DeclineCode.EXPIRED_CARD,
    });
    expect(await simulator.fetchStatus({ operation: 'void', idempotencyKey: authorize.idempotencyKey })).toEqual({ kind: 'not_found' });
    expect(await simulator.fetchStatus({ operation: 'capture', idempotencyKey: 'never-sent' })).toEqual({ kind: 'not_found' });
  });

  it('hands out copies: changing an answer does not change what is replayed', async () => {
    const simulator = freshSimulator();
    const request = authorizeRequest('tok_approve');
    const first = value(await simulator.authorize(request));
    (first.card as { last4: string }).last4 = '0000';
    expect(value(await simulator.authorize(request)).card).toEqual({ brand: 'visa', last4: '4242' });
  });
});

describe('SimulatorGateway fee', () => {
  it.each([
    [1n, 30n], // 0.029 rounds to 0
    [17n, 30n], // 0.493 rounds down
    [18n, 31n], // 0.522 rounds up
    [500n, 45n], // 14.5 is a tie: half up gives 15
    [1500n, 74n], // 43.5, a tie again: 44
    [1000n, 59n], // 29 exactly
    [10_000n, 320n],
    [9_223_372_036_854_775_807n, 267_477_789_068_788_498n + 30n], // no float ever: exact at the 64-bit limit
  ])('a capture of %s minor units costs %s', (amountMinor, feeMinor) => {
    expect(simulatorFeeMinor(amountMinor)).toBe(feeMinor);
  });
});

describe('SimulatorGateway refusals', () => {
  const rejected = { kind: 'declined', declineCode: DeclineCode.GATEWAY_REJECTED, message: expect.any(String) };

  async function authorized(simulator: SimulatorGateway, amountMinor = 1000n): Promise<string> {
    return value(await simulator.authorize(authorizeRequest('tok_approve', { amountMinor }))).gatewayPaymentId;
  }

  it('refuses a capture above the authorized amount, a second capture, and a capture after a void', async () => {
    const simulator = freshSimulator();
    const gatewayPaymentId = await authorized(simulator);
    expect(await simulator.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId, amountMinor: 1001n, currency: 'USD' })).toEqual(rejected);
    value(await simulator.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId, amountMinor: 400n, currency: 'USD' }));
    expect(await simulator.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId, amountMinor: 100n, currency: 'USD' })).toEqual(rejected);

    const voidedId = await authorized(simulator);
    value(await simulator.void({ idempotencyKey: nextKey('v'), gatewayPaymentId: voidedId }));
    expect(await simulator.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId: voidedId, amountMinor: 100n, currency: 'USD' })).toEqual(rejected);
    expect(await simulator.void({ idempotencyKey: nextKey('v'), gatewayPaymentId: voidedId })).toEqual(rejected);
    expect((await simulator.stats()).captureCount).toBe(1);
  });

  it('refuses a refund above what was captured less what was refunded', async () => {
    const simulator = freshSimulator();
    const gatewayPaymentId = await authorized(simulator);
    expect(await simulator.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 1n, currency: 'USD' })).toEqual(rejected);
    value(await simulator.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId, amountMinor: 700n, currency: 'USD' }));
    value(await simulator.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 300n, currency: 'USD' }));
    value(await simulator.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 300n, currency: 'USD' }));
    expect(await simulator.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 101n, currency: 'USD' })).toEqual(rejected);
    value(await simulator.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 100n, currency: 'USD' }));
    expect((await simulator.stats()).payments[gatewayPaymentId]).toMatchObject({ capturedAmountMinor: 700n, refundedAmountMinor: 700n, refundCount: 3 });
  });

  it('refuses a void after a capture, and operations on unknown payments, other currencies, or non-positive amounts', async () => {
    const simulator = freshSimulator();
    const gatewayPaymentId = await authorized(simulator);
    value(await simulator.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId, amountMinor: 1000n, currency: 'USD' }));
    expect(await simulator.void({ idempotencyKey: nextKey('v'), gatewayPaymentId })).toEqual(rejected);
    expect(await simulator.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 10n, currency: 'EUR' })).toEqual(rejected);
    expect(await simulator.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 0n, currency: 'USD' })).toEqual(rejected);
    expect(await simulator.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId: 'sim_pay_nope', amountMinor: 1n, currency: 'USD' })).toEqual(rejected);
    expect(await simulator.void({ idempotencyKey: nextKey('v'), gatewayPaymentId: 'sim_pay_nope' })).toEqual(rejected);
    expect(await simulator.authorize(authorizeRequest('tok_approve', { amountMinor: -5n }))).toEqual(rejected);
    expect(await simulator.authorize(authorizeRequest('tok_approve', { currency: 'XYZ' }))).toEqual(rejected);
    expect(await simulator.authorize(authorizeRequest('tok_approve', { idempotencyKey: '' }))).toEqual(rejected);
    expect((await simulator.stats())).toMatchObject({ chargeCount: 1, captureCount: 1, refundCount: 0, voidCount: 0 });
  });
});

describe('books kept in the database, and createGatewayAdapter', () => {
  it('shares one gateway id\'s books between instances: another one captures, refunds and replays what the first authorized', async () => {
    const gatewayId = nextKey('gw');
    const adapter = createGatewayAdapter(gatewayId, { kind: GatewayKind.SIMULATOR }, { dataSource, simulatorSlowMs: 10 });
    const request = authorizeRequest('tok_slow');
    const authorization = value(await adapter.authorize(request));
    // As after a restart, or on another API process: a new instance, the same books.
    const later = new SimulatorGateway(dataSource, gatewayId, { slowMs: 10 });
    expect(value(await later.authorize(request))).toEqual(authorization);
    const { gatewayPaymentId } = authorization;
    value(await later.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId, amountMinor: 4000n, currency: 'USD' }));
    value(await later.refund({ idempotencyKey: nextKey('r'), gatewayPaymentId, amountMinor: 1000n, currency: 'USD' }));
    expect(await later.fetchStatus({ operation: 'authorize', idempotencyKey: request.idempotencyKey })).toEqual({ kind: 'succeeded', authorization });
    expect(await (adapter as SimulatorGateway).stats()).toMatchObject({ chargeCount: 1, captureCount: 1, refundCount: 1 });
    // Another gateway id has books of its own.
    const other = new SimulatorGateway(dataSource, nextKey('gw'));
    expect(await other.capture({ idempotencyKey: nextKey('c'), gatewayPaymentId, amountMinor: 1n, currency: 'USD' })).toMatchObject({
      kind: 'declined',
      message: 'No authorization with this gateway payment id.',
    });
  });

  it('charges once when calls with one key race on two instances, each answering the same authorization', async () => {
    const gatewayId = nextKey('gw');
    const instances = [new SimulatorGateway(dataSource, gatewayId), new SimulatorGateway(dataSource, gatewayId)];
    const request = authorizeRequest('tok_approve');
    const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => instances[i % 2].authorize(request)));
    const [first] = outcomes;
    expect(first.kind).toBe('succeeded');
    for (const outcome of outcomes) expect(outcome).toEqual(first);
    expect((await instances[0].stats()).chargeCount).toBe(1);

    const capture = { idempotencyKey: nextKey('c'), gatewayPaymentId: value(first).gatewayPaymentId, amountMinor: 500n, currency: 'USD' };
    const captures = await Promise.all(Array.from({ length: 6 }, (_, i) => instances[i % 2].capture(capture)));
    for (const outcome of captures) expect(outcome).toEqual({ kind: 'succeeded', value: { feeMinor: simulatorFeeMinor(500n) } });
    expect((await instances[1].stats()).payments[capture.gatewayPaymentId]).toMatchObject({ captureCount: 1, feeMinor: simulatorFeeMinor(500n) });
  });

  it('makes an HTTP adapter from HTTP credentials', () => {
    const adapter = createGatewayAdapter('gw_http', { kind: GatewayKind.HTTP, baseUrl: 'https://gateway.example/v1', apiSecret: 'sk_12345678', timeoutMs: 1000 }, { dataSource });
    expect(adapter).toBeInstanceOf(HttpGateway);
    expect(adapter.kind).toBe(GatewayKind.HTTP);
  });
});
