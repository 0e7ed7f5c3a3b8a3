import {
  AuthorizePaymentDocument,
  type AuthorizePaymentMutationVariables,
  CapturePaymentDocument,
  CreateGatewayDocument,
  PaymentsDocument,
  RefundPaymentDocument,
  VoidPaymentDocument,
} from '../generated/graphql';
import { FakeGateway, type FakeGatewayOperation, type FakeGatewayStats } from '../helpers/fake-gateway';
import type { GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { TestClock } from '../helpers/test-clock';
import { type PaymentView, readPayment } from '../helpers/payment-fixtures';

/**
 * Payments through the HTTP gateway adapter, end to end over GraphQL, against a fake gateway that
 * misbehaves on purpose. Whatever the fault (a slow answer, a 503, a dropped connection, a charge whose
 * answer is lost), the card is charged, captured and refunded exactly once at the gateway, and Reckon's
 * payment and books say what the gateway did. When the outcome stays unknown after every attempt, the
 * client is told so (GATEWAY_UNAVAILABLE, retryable), the payment shows the call as pending and refuses
 * conflicting steps, and either a retry with the same idempotency key or the status check settles it
 * from what the gateway actually did.
 */

const MAX_ATTEMPTS = 3;
/** Short, so that the faults that hold the answer back until Reckon gives up keep the suite fast. */
const GATEWAY_TIMEOUT_MS = 500;
/** Well within GATEWAY_TIMEOUT_MS: the slow gateway still answers the first attempt. */
const SLOW_ANSWER_MS = 100;
const STATUS_CHECK_AFTER_MS = 1000;

/** The fake gateway's fee: 2.9% rounded half up, plus 30 minor units. */
function fakeFeeMinor(capturedMinor: bigint): bigint {
  return (capturedMinor * 29n + 500n) / 1000n + 30n;
}

function counts(stats: FakeGatewayStats) {
  return {
    charges: stats.chargeCount,
    captures: stats.captureCount,
    voids: stats.voidCount,
    refunds: stats.refundCount,
    ...Object.fromEntries(Object.entries(stats.requestsByTarget).map(([target, n]) => [`${target}Requests`, n])),
  } as Record<string, number>;
}

function delta(before: FakeGatewayStats, after: FakeGatewayStats): Record<string, number> {
  const a = counts(after);
  const b = counts(before);
  return Object.fromEntries(Object.keys(a).map((name) => [name, a[name] - b[name]]));
}

interface UnknownOutcome {
  paymentId: string;
  refundId?: string;
  operation: string;
}

/** The one error of a mutation whose gateway outcome stayed unknown, with its details. */
function expectUnknownOutcome(result: GraphQLResult<unknown>): UnknownOutcome {
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors ?? [];
  expect(error.extensions).toMatchObject({ code: 'GATEWAY_UNAVAILABLE', retryable: true });
  const details = error.extensions?.details as Partial<UnknownOutcome> | undefined;
  expect(details).toEqual(expect.objectContaining({ paymentId: expect.stringMatching(/^pay_/) }));
  return details as UnknownOutcome;
}

function minor(money: { minorUnits: string }): bigint {
  return BigInt(money.minorUnits);
}

describeEachDatabase('HTTP gateway faults never charge twice', (kind) => {
  let app: TestApp;
  let fake: FakeGateway;
  let clock: TestClock;
  let keySequence = 0;

  const nextKey = (label: string) => {
    keySequence += 1;
    return `faults-${label}-${keySequence}`;
  };

  const paymentNow = (id: string): Promise<PaymentView> => readPayment(app.client, id);

  const authorizeVariables = (amount: string, idempotencyKey: string): AuthorizePaymentMutationVariables => ({
    input: { amount, currency: 'USD', paymentToken: 'tok_approve' },
    idempotencyKey,
  });

  /** Runs the status check once the operations left pending are old enough to be asked about. */
  const settleAfterTheCheckDelay = async (): Promise<number> => {
    clock.advance(STATUS_CHECK_AFTER_MS * 2);
    return app.runtime.services.payments.settleUnknownOutcomes();
  };

  beforeAll(async () => {
    fake = await FakeGateway.start();
    clock = new TestClock();
    app = await startTestApp(kind, {
      clock,
      env: {
        GATEWAY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        PAYMENT_STATUS_CHECK_AFTER: `${STATUS_CHECK_AFTER_MS / 1000}s`,
        // The test runs the status check itself, at the moments it chooses.
        PAYMENT_JOBS_INTERVAL_MS: '3600000',
      },
    });
    const { createGateway } = await app.client.ok(CreateGatewayDocument, {
      input: {
        name: 'Fake HTTP gateway',
        kind: 'HTTP',
        currencies: ['USD'],
        http: { baseUrl: fake.url, apiSecret: fake.secret, timeoutMs: GATEWAY_TIMEOUT_MS },
      },
    });
    expect(createGateway.gateway.kind).toBe('HTTP');
  });

  afterAll(async () => {
    await app?.close();
    await fake?.close();
  });

  beforeEach(() => fake.resetFaults());

  afterEach(async () => {
    // Every case leaves its payments settled: nothing is left for the status check of the next one.
    const { payments } = await app.client.ok(PaymentsDocument, { filter: { status: 'PROCESSING' }, first: 100 });
    expect(payments.edges).toEqual([]);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  const FAULTS: { name: string; inject: (operation: FakeGatewayOperation) => void; minRequests: number }[] = [
    { name: 'slow but within the timeout', inject: (operation) => fake.slow(SLOW_ANSWER_MS, { operation }), minRequests: 1 },
    { name: 'a 503 once', inject: (operation) => fake.fail5xx({ operation }), minRequests: 2 },
    { name: 'a dropped connection once', inject: (operation) => fake.dropConnection({ operation }), minRequests: 2 },
    { name: 'a charge whose answer is lost once', inject: (operation) => fake.timeoutAfterCharge({ operation }), minRequests: 2 },
  ];

  it.each(FAULTS)('$name on authorize, capture and refund: each is done once and recorded once', async ({ inject, minRequests }) => {
    for (const operation of ['authorize', 'capture', 'refund'] as const) inject(operation);
    const before = fake.stats();

    const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, authorizeVariables('100.00', nextKey('authorize')));
    expect(authorizePayment.payment).toMatchObject({
      status: 'AUTHORIZED',
      card: { brand: 'visa', last4: '4242' },
      amount: { minorUnits: '10000' },
      pendingGatewayCall: null,
    });
    const paymentId = authorizePayment.payment.id;
    const gatewayPaymentId = authorizePayment.payment.gatewayPaymentId as string;
    expect(gatewayPaymentId).toMatch(/^fake_pay_/);

    const { capturePayment } = await app.client.ok(CapturePaymentDocument, { input: { paymentId, amount: '80.00' }, idempotencyKey: nextKey('capture') });
    expect(capturePayment.payment).toMatchObject({
      status: 'CAPTURED',
      capturedAmount: { minorUnits: '8000' },
      feeAmount: { minorUnits: fakeFeeMinor(8000n).toString() },
      pendingGatewayCall: null,
    });

    const { refundPayment } = await app.client.ok(RefundPaymentDocument, {
      input: { paymentId, amount: '30.00', reason: 'returned' },
      idempotencyKey: nextKey('refund'),
    });
    expect(refundPayment.refund).toMatchObject({ status: 'SUCCEEDED', amount: { minorUnits: '3000' } });
    expect(refundPayment.payment).toMatchObject({ refundedAmount: { minorUnits: '3000' }, refundableAmount: { minorUnits: '5000' } });

    const after = fake.stats();
    const done = delta(before, after);
    expect({ charges: done.charges, captures: done.captures, refunds: done.refunds, voids: done.voids }).toEqual({
      charges: 1,
      captures: 1,
      refunds: 1,
      voids: 0,
    });
    // The fault did happen: a faulted call was retried (or, when slow, answered on the first try).
    for (const operation of ['authorize', 'capture', 'refund']) expect(done[`${operation}Requests`]).toBeGreaterThanOrEqual(minRequests);
    expect(after.payments[gatewayPaymentId]).toEqual({
      currency: 'USD',
      authorizedAmountMinor: 10000n,
      capturedAmountMinor: 8000n,
      refundedAmountMinor: 3000n,
      voided: false,
      captureCount: 1,
      refundCount: 1,
    });

    const payment = await paymentNow(paymentId);
    expect(payment).toMatchObject({
      status: 'CAPTURED',
      gatewayPaymentId,
      amount: { minorUnits: '10000' },
      capturedAmount: { minorUnits: '8000' },
      refundedAmount: { minorUnits: '3000' },
      refundableAmount: { minorUnits: '5000' },
      feeAmount: { minorUnits: fakeFeeMinor(8000n).toString() },
      pendingGatewayCall: null,
    });
    expect(payment.refunds.map((refund) => [refund.status, refund.amount.minorUnits])).toEqual([['SUCCEEDED', '3000']]);
    expect(payment.events.map((event) => event.type)).toEqual([
      'AUTHORIZATION_REQUESTED',
      'AUTHORIZED',
      'CAPTURE_REQUESTED',
      'CAPTURED',
      'REFUND_REQUESTED',
      'REFUNDED',
    ]);
    // The authorization (posted by the capture), the fee and the refund: one entry each, never two.
    expect(payment.journalEntries).toHaveLength(3);
  });

  describe('an authorization whose outcome stays unknown after every attempt', () => {
    /** Every attempt reaches the gateway, which charges once (the first time) and never answers. */
    const authorizeIntoTheVoid = async (amount: string, idempotencyKey: string) => {
      fake.timeoutAfterCharge({ operation: 'authorize', times: MAX_ATTEMPTS });
      const before = fake.stats();
      const result = await app.client.request(AuthorizePaymentDocument, authorizeVariables(amount, idempotencyKey));
      const unknown = expectUnknownOutcome(result);
      expect(unknown.operation).toBe('authorization');
      const after = fake.stats();
      expect(delta(before, after)).toMatchObject({ charges: 1, authorizeRequests: MAX_ATTEMPTS });
      const charged = Object.keys(after.payments).filter((id) => !(id in before.payments));
      expect(charged).toHaveLength(1);

      const payment = await paymentNow(unknown.paymentId);
      expect(payment).toMatchObject({
        status: 'PROCESSING',
        gatewayPaymentId: null,
        card: null,
        pendingGatewayCall: { operation: 'AUTHORIZE', amount: { amount } },
      });
      expect(payment.journalEntries).toEqual([]);
      const { payments } = await app.client.ok(PaymentsDocument, { filter: { status: 'PROCESSING' }, first: 100 });
      expect(payments.edges.map((edge) => edge.node.id)).toEqual([unknown.paymentId]);
      return { paymentId: unknown.paymentId, gatewayPaymentId: charged[0], before };
    };

    it('is settled by a retry with the same idempotency key, without a second charge', async () => {
      const key = nextKey('authorize-retry');
      const { paymentId, gatewayPaymentId, before } = await authorizeIntoTheVoid('42.00', key);

      // Nothing else may happen to the payment while its authorization is in doubt.
      const capture = await app.client.request(CapturePaymentDocument, { input: { paymentId }, idempotencyKey: nextKey('capture') });
      expect(capture.errors?.[0].extensions?.code).toBe('INVALID_STATE_TRANSITION');

      // A retry while the gateway is still failing is told the same, and changes nothing.
      fake.fail5xx({ operation: 'authorize', times: MAX_ATTEMPTS });
      const stillUnknown = expectUnknownOutcome(await app.client.request(AuthorizePaymentDocument, authorizeVariables('42.00', key)));
      expect(stillUnknown.paymentId).toBe(paymentId);
      expect((await paymentNow(paymentId)).status).toBe('PROCESSING');

      const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, authorizeVariables('42.00', key));
      expect(authorizePayment.payment).toMatchObject({
        id: paymentId,
        status: 'AUTHORIZED',
        gatewayPaymentId,
        card: { brand: 'visa', last4: '4242' },
        amount: { minorUnits: '4200' },
        pendingGatewayCall: null,
      });
      // Once more: the stored answer, and still nothing new at the gateway.
      const { authorizePayment: again } = await app.client.ok(AuthorizePaymentDocument, authorizeVariables('42.00', key));
      expect(again.payment).toMatchObject({ id: paymentId, status: 'AUTHORIZED' });

      const after = fake.stats();
      expect(delta(before, after)).toMatchObject({ charges: 1, captures: 0, voids: 0 });
      expect(after.payments[gatewayPaymentId]).toMatchObject({ authorizedAmountMinor: 4200n, captureCount: 0 });
      const payment = await paymentNow(paymentId);
      expect(payment.events.map((event) => event.type)).toEqual(['AUTHORIZATION_REQUESTED', 'AUTHORIZED']);
      expect(payment.journalEntries.map((entry) => entry.status)).toEqual(['PENDING']);
      expect(await settleAfterTheCheckDelay()).toBe(0);
    });

    it('is settled by the status check once it is old enough, from what the gateway did', async () => {
      const key = nextKey('authorize-status-check');
      const { paymentId, gatewayPaymentId, before } = await authorizeIntoTheVoid('57.35', key);

      // Too recent: it may still be in flight somewhere, so it is not asked about yet.
      expect(await app.runtime.services.payments.settleUnknownOutcomes()).toBe(0);
      expect((await paymentNow(paymentId)).status).toBe('PROCESSING');

      const statusRequestsBefore = fake.stats().requestsByTarget.status;
      expect(await settleAfterTheCheckDelay()).toBe(1);
      expect(fake.stats().requestsByTarget.status).toBeGreaterThan(statusRequestsBefore);
      const payment = await paymentNow(paymentId);
      expect(payment).toMatchObject({
        status: 'AUTHORIZED',
        gatewayPaymentId,
        card: { brand: 'visa', last4: '4242' },
        amount: { minorUnits: '5735' },
        pendingGatewayCall: null,
      });
      expect(payment.events.map((event) => [event.type, event.source])).toEqual([
        ['AUTHORIZATION_REQUESTED', 'API'],
        ['AUTHORIZED', 'SYSTEM'],
      ]);
      expect(payment.journalEntries.map((entry) => entry.status)).toEqual(['PENDING']);

      // The client's retry, arriving after the check, gets the settled payment.
      const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, authorizeVariables('57.35', key));
      expect(authorizePayment.payment).toMatchObject({ id: paymentId, status: 'AUTHORIZED', gatewayPaymentId });

      const { capturePayment } = await app.client.ok(CapturePaymentDocument, { input: { paymentId }, idempotencyKey: nextKey('capture') });
      expect(capturePayment.payment).toMatchObject({ status: 'CAPTURED', capturedAmount: { minorUnits: '5735' } });
      const after = fake.stats();
      expect(delta(before, after)).toMatchObject({ charges: 1, captures: 1 });
      expect(after.payments[gatewayPaymentId]).toMatchObject({ authorizedAmountMinor: 5735n, capturedAmountMinor: 5735n, captureCount: 1 });
    });
  });

  it('settles an authorization that never reached the gateway as failed, and a retry is told so', async () => {
    fake.fail5xx({ operation: 'authorize', times: MAX_ATTEMPTS });
    const key = nextKey('authorize-never-arrived');
    const before = fake.stats();
    const { paymentId } = expectUnknownOutcome(await app.client.request(AuthorizePaymentDocument, authorizeVariables('12.00', key)));
    expect((await paymentNow(paymentId)).pendingGatewayCall).toMatchObject({ operation: 'AUTHORIZE' });

    expect(await settleAfterTheCheckDelay()).toBe(1);
    const payment = await paymentNow(paymentId);
    expect(payment).toMatchObject({ status: 'FAILED', failureCode: 'GATEWAY_REJECTED', pendingGatewayCall: null, gatewayPaymentId: null });
    expect(payment.journalEntries).toEqual([]);

    const retry = await app.client.request(AuthorizePaymentDocument, authorizeVariables('12.00', key));
    expect(retry.errors?.[0].extensions).toMatchObject({ code: 'GATEWAY_DECLINED', details: expect.objectContaining({ paymentId }) });
    expect(delta(before, fake.stats())).toMatchObject({ charges: 0, authorizeRequests: MAX_ATTEMPTS });
  });

  it('keeps a capture whose outcome is unknown pending, refuses a void meanwhile, and settles it captured once', async () => {
    const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, authorizeVariables('100.00', nextKey('authorize')));
    const paymentId = authorizePayment.payment.id;
    const gatewayPaymentId = authorizePayment.payment.gatewayPaymentId as string;

    fake.timeoutAfterCharge({ operation: 'capture', times: MAX_ATTEMPTS });
    const before = fake.stats();
    const captureKey = nextKey('capture-unknown');
    const unknown = expectUnknownOutcome(await app.client.request(CapturePaymentDocument, { input: { paymentId, amount: '60.00' }, idempotencyKey: captureKey }));
    expect(unknown).toMatchObject({ paymentId, operation: 'capture' });
    expect(delta(before, fake.stats())).toMatchObject({ captures: 1, captureRequests: MAX_ATTEMPTS });

    const pending = await paymentNow(paymentId);
    expect(pending).toMatchObject({
      status: 'AUTHORIZED',
      capturedAmount: { minorUnits: '0' },
      feeAmount: { minorUnits: '0' },
      pendingGatewayCall: { operation: 'CAPTURE', amount: { minorUnits: '6000' } },
    });

    // A void now could release a hold the gateway has already captured: refused, and never sent.
    const voided = await app.client.request(VoidPaymentDocument, { input: { paymentId }, idempotencyKey: nextKey('void') });
    expect(voided.errors?.[0].extensions?.code).toBe('INVALID_STATE_TRANSITION');
    const otherCapture = await app.client.request(CapturePaymentDocument, { input: { paymentId, amount: '10.00' }, idempotencyKey: nextKey('capture') });
    expect(otherCapture.errors?.[0].extensions?.code).toBe('INVALID_STATE_TRANSITION');
    expect(delta(before, fake.stats())).toMatchObject({ voids: 0, voidRequests: 0, captureRequests: MAX_ATTEMPTS });

    expect(await app.runtime.services.payments.settleUnknownOutcomes()).toBe(0);
    expect(await settleAfterTheCheckDelay()).toBe(1);
    const settled = await paymentNow(paymentId);
    expect(settled).toMatchObject({
      status: 'CAPTURED',
      capturedAmount: { minorUnits: '6000' },
      feeAmount: { minorUnits: fakeFeeMinor(6000n).toString() },
      refundableAmount: { minorUnits: '6000' },
      pendingGatewayCall: null,
    });
    expect(settled.events.map((event) => [event.type, event.source])).toEqual([
      ['AUTHORIZATION_REQUESTED', 'API'],
      ['AUTHORIZED', 'API'],
      ['CAPTURE_REQUESTED', 'API'],
      ['CAPTURED', 'SYSTEM'],
    ]);
    expect(settled.journalEntries.map((entry) => entry.status)).toEqual(['POSTED', 'POSTED']);

    // The client's retry of the capture gets the captured payment; nothing more is sent to the gateway.
    const { capturePayment } = await app.client.ok(CapturePaymentDocument, { input: { paymentId, amount: '60.00' }, idempotencyKey: captureKey });
    expect(capturePayment.payment).toMatchObject({ status: 'CAPTURED', capturedAmount: { minorUnits: '6000' } });
    const after = fake.stats();
    expect(delta(before, after)).toMatchObject({ captures: 1, voids: 0, captureRequests: MAX_ATTEMPTS });
    expect(after.payments[gatewayPaymentId]).toMatchObject({ capturedAmountMinor: 6000n, captureCount: 1, voided: false });
    expect(minor(settled.capturedAmount)).toBe(after.payments[gatewayPaymentId].capturedAmountMinor);
  });

  it('reserves a refund whose outcome is unknown and settles it from the status check, refunded once', async () => {
    const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, {
      input: { amount: '100.00', currency: 'USD', paymentToken: 'tok_approve', capture: true },
      idempotencyKey: nextKey('sale'),
    });
    expect(authorizePayment.payment.status).toBe('CAPTURED');
    const paymentId = authorizePayment.payment.id;
    const gatewayPaymentId = authorizePayment.payment.gatewayPaymentId as string;

    fake.timeoutAfterCharge({ operation: 'refund', times: MAX_ATTEMPTS });
    const before = fake.stats();
    const refundKey = nextKey('refund-unknown');
    const refundVariables = { input: { paymentId, amount: '25.00', reason: 'damaged' }, idempotencyKey: refundKey };
    const unknown = expectUnknownOutcome(await app.client.request(RefundPaymentDocument, refundVariables));
    expect(unknown).toMatchObject({ paymentId, operation: 'refund', refundId: expect.stringMatching(/^re_/) });
    expect(delta(before, fake.stats())).toMatchObject({ refunds: 1, refundRequests: MAX_ATTEMPTS });

    const pending = await paymentNow(paymentId);
    expect(pending).toMatchObject({
      status: 'CAPTURED',
      refundedAmount: { minorUnits: '0' },
      // The refund in doubt is reserved: it cannot be refunded a second time meanwhile.
      refundableAmount: { minorUnits: '7500' },
    });
    expect(pending.refunds.map((refund) => [refund.id, refund.status, refund.amount.minorUnits])).toEqual([[unknown.refundId, 'PENDING', '2500']]);
    const tooMuch = await app.client.request(RefundPaymentDocument, { input: { paymentId, amount: '80.00' }, idempotencyKey: nextKey('refund') });
    expect(tooMuch.errors?.[0].extensions?.code).toBe('VALIDATION_FAILED');

    expect(await app.runtime.services.payments.settleUnknownOutcomes()).toBe(0);
    expect(await settleAfterTheCheckDelay()).toBe(1);
    const settled = await paymentNow(paymentId);
    expect(settled).toMatchObject({ status: 'CAPTURED', refundedAmount: { minorUnits: '2500' }, refundableAmount: { minorUnits: '7500' } });
    expect(settled.refunds.map((refund) => [refund.id, refund.status, refund.amount.minorUnits])).toEqual([[unknown.refundId, 'SUCCEEDED', '2500']]);
    expect(settled.events.filter((event) => event.type.startsWith('REFUND')).map((event) => [event.type, event.source])).toEqual([
      ['REFUND_REQUESTED', 'API'],
      ['REFUNDED', 'SYSTEM'],
    ]);

    const { refundPayment } = await app.client.ok(RefundPaymentDocument, refundVariables);
    expect(refundPayment.refund).toMatchObject({ id: unknown.refundId, status: 'SUCCEEDED' });
    const after = fake.stats();
    expect(delta(before, after)).toMatchObject({ refunds: 1, refundRequests: MAX_ATTEMPTS });
    expect(after.payments[gatewayPaymentId]).toMatchObject({ refundedAmountMinor: 2500n, refundCount: 1 });
  });

  it('keeps a void whose outcome is unknown pending, refuses a capture meanwhile, and settles it voided once', async () => {
    const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, authorizeVariables('64.00', nextKey('authorize')));
    const paymentId = authorizePayment.payment.id;
    const gatewayPaymentId = authorizePayment.payment.gatewayPaymentId as string;

    fake.timeoutAfterCharge({ operation: 'void', times: MAX_ATTEMPTS });
    const before = fake.stats();
    const unknown = expectUnknownOutcome(await app.client.request(VoidPaymentDocument, { input: { paymentId }, idempotencyKey: nextKey('void-unknown') }));
    expect(unknown).toMatchObject({ paymentId, operation: 'void' });
    expect(await paymentNow(paymentId)).toMatchObject({ status: 'AUTHORIZED', pendingGatewayCall: { operation: 'VOID', amount: null } });

    // Capturing a hold the gateway may have released already: refused, and never sent.
    const capture = await app.client.request(CapturePaymentDocument, { input: { paymentId }, idempotencyKey: nextKey('capture') });
    expect(capture.errors?.[0].extensions?.code).toBe('INVALID_STATE_TRANSITION');

    expect(await settleAfterTheCheckDelay()).toBe(1);
    const settled = await paymentNow(paymentId);
    expect(settled).toMatchObject({ status: 'VOIDED', pendingGatewayCall: null, capturedAmount: { minorUnits: '0' } });
    expect(settled.events.map((event) => [event.type, event.source]).slice(-2)).toEqual([
      ['VOID_REQUESTED', 'API'],
      ['VOIDED', 'SYSTEM'],
    ]);
    expect(settled.journalEntries.map((entry) => entry.status)).toEqual(['VOIDED']);
    const after = fake.stats();
    expect(delta(before, after)).toMatchObject({ voids: 1, captures: 0, voidRequests: MAX_ATTEMPTS, captureRequests: 0 });
    expect(after.payments[gatewayPaymentId]).toMatchObject({ voided: true, captureCount: 0 });
  });

  /**
   * While an operation's outcome is unknown its idempotency key is still bound to it: a retry under
   * that key asking for something else must be refused as a reuse of the key (IDEMPOTENCY_KEY_REUSED),
   * not answered with what the first request did, nor sent to the gateway as if it were the same request.
   */
  describe('a retry under the same key with other input, while the outcome is unknown', () => {
    it('is refused for another card, and the charge already made on the first one is still found', async () => {
      fake.timeoutAfterCharge({ operation: 'authorize', times: MAX_ATTEMPTS });
      const key = nextKey('authorize-other-card');
      const before = fake.stats();
      const { paymentId } = expectUnknownOutcome(await app.client.request(AuthorizePaymentDocument, authorizeVariables('18.00', key)));
      const [gatewayPaymentId] = Object.keys(fake.stats().payments).filter((id) => !(id in before.payments));

      const otherCard = await app.client.request(AuthorizePaymentDocument, {
        input: { amount: '18.00', currency: 'USD', paymentToken: 'tok_decline' },
        idempotencyKey: key,
      });
      // Told "declined", the customer would pay again with another card while the first one is held.
      expect(otherCard.errors?.[0].extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await paymentNow(paymentId)).toMatchObject({ status: 'PROCESSING', pendingGatewayCall: { operation: 'AUTHORIZE' } });

      expect(await settleAfterTheCheckDelay()).toBe(1);
      expect(await paymentNow(paymentId)).toMatchObject({ status: 'AUTHORIZED', gatewayPaymentId, pendingGatewayCall: null });
      expect(delta(before, fake.stats())).toMatchObject({ charges: 1 });
    });

    it('is refused for a capture of another amount', async () => {
      const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, authorizeVariables('100.00', nextKey('authorize')));
      const paymentId = authorizePayment.payment.id;
      fake.fail5xx({ operation: 'capture', times: MAX_ATTEMPTS });
      const key = nextKey('capture-other-amount');
      const before = fake.stats();
      expectUnknownOutcome(await app.client.request(CapturePaymentDocument, { input: { paymentId, amount: '60.00' }, idempotencyKey: key }));

      const otherAmount = await app.client.request(CapturePaymentDocument, { input: { paymentId, amount: '70.00' }, idempotencyKey: key });
      expect(otherAmount.errors?.[0].extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await paymentNow(paymentId)).toMatchObject({
        status: 'AUTHORIZED',
        pendingGatewayCall: { operation: 'CAPTURE', amount: { minorUnits: '6000' } },
      });

      // The capture never reached the gateway: the status check settles it as not done.
      expect(await settleAfterTheCheckDelay()).toBe(1);
      expect(await paymentNow(paymentId)).toMatchObject({ status: 'AUTHORIZED', pendingGatewayCall: null, capturedAmount: { minorUnits: '0' } });
      expect(delta(before, fake.stats())).toMatchObject({ captures: 0 });
    });

    it('is refused for a refund of another amount', async () => {
      const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, {
        input: { amount: '100.00', currency: 'USD', paymentToken: 'tok_approve', capture: true },
        idempotencyKey: nextKey('sale'),
      });
      const paymentId = authorizePayment.payment.id;
      fake.fail5xx({ operation: 'refund', times: MAX_ATTEMPTS });
      const key = nextKey('refund-other-amount');
      const before = fake.stats();
      const { refundId } = expectUnknownOutcome(
        await app.client.request(RefundPaymentDocument, { input: { paymentId, amount: '25.00' }, idempotencyKey: key }),
      );

      const otherAmount = await app.client.request(RefundPaymentDocument, { input: { paymentId, amount: '30.00' }, idempotencyKey: key });
      expect(otherAmount.errors?.[0].extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect((await paymentNow(paymentId)).refunds.map((refund) => [refund.id, refund.status, refund.amount.minorUnits])).toEqual([
        [refundId, 'PENDING', '2500'],
      ]);

      // The refund never reached the gateway: the status check settles it as failed, and frees its amount.
      expect(await settleAfterTheCheckDelay()).toBe(1);
      const settled = await paymentNow(paymentId);
      expect(settled).toMatchObject({ refundedAmount: { minorUnits: '0' }, refundableAmount: { minorUnits: '10000' } });
      expect(settled.refunds.map((refund) => refund.status)).toEqual(['FAILED']);
      expect(delta(before, fake.stats())).toMatchObject({ refunds: 0 });
    });
  });
});
