import { setRootFieldsOf } from '../helpers/graphql-client';
import { newId } from '../../src/common/ids';
import {
  AuthorizePaymentDocument,
  type AuthorizePaymentInput,
  CapturePaymentDocument,
  CloseDisputeDocument,
  OpenDisputeDocument,
  PaymentDocument,
  PaymentsDocument,
  RecordPayoutDocument,
  RefundPaymentDocument,
  SubmitDisputeEvidenceDocument,
  VoidPaymentDocument,
  type DisputeOutcome,
} from '../generated/graphql';
import type { GraphQLClient, GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';
import { databaseOccurrencesOf, snapshotPaymentWorld } from '../helpers/payment-snapshot';
import { TestClock } from '../helpers/test-clock';

/**
 * Every step the payment lifecycle forbids, tried through GraphQL on payments brought into each status:
 * each is refused with its code in errors[0].extensions.code, and the payment (as the API shows it),
 * the trial balance, the balances and every row of the payment and ledger tables are exactly as before.
 * Then bad input of every kind, refused the same way.
 */

const HOUR_MS = 3600_000;
const INVALID = 'INVALID_STATE_TRANSITION';
const INVALID_INPUT = 'VALIDATION_FAILED';

interface IllegalStep {
  label: string;
  /** The payment whose API view is compared before and after (null: only the tables and balances). */
  payment: () => string | null;
  send: (client: GraphQLClient) => Promise<GraphQLResult<unknown>>;
  code: string;
}

describeEachDatabase('illegal payment steps are refused with their code and change nothing', (kind) => {
  const clock = new TestClock();
  let app: TestApp;
  let other: TestTenant;
  let gatewayId: string;
  let euroOnlyGatewayId: string;
  let otherGatewayId: string;
  /** Payments of tenant A by the state they were brought into. */
  const p: Record<string, string> = {};
  /** Disputes of tenant A by state. */
  const d: Record<string, string> = {};

  const capture = (paymentId: string, amount: string | null = null) => (c: GraphQLClient) => c.request(CapturePaymentDocument, { input: { paymentId, amount } });
  const voidIt = (paymentId: string) => (c: GraphQLClient) => c.request(VoidPaymentDocument, { input: { paymentId } });
  const refund = (paymentId: string, amount: string | null = null) => (c: GraphQLClient) =>
    c.request(RefundPaymentDocument, { input: amount === null ? { paymentId } : { paymentId, amount, reason: 'test' } });
  const dispute = (paymentId: string, amount: string | null = null, fee: string | null = null) => (c: GraphQLClient) =>
    c.request(OpenDisputeDocument, { input: { paymentId, amount, fee, reason: 'fraudulent' } });
  const evidence = (disputeId: string, text = 'signed receipt') => (c: GraphQLClient) => c.request(SubmitDisputeEvidenceDocument, { input: { disputeId, evidence: text } });
  // OPEN and UNDER_REVIEW are not DisputeOutcome values: sent on purpose, the schema refuses them.
  const close = (disputeId: string, outcome: DisputeOutcome | 'OPEN' | 'UNDER_REVIEW') => (c: GraphQLClient) =>
    c.request(CloseDisputeDocument, { input: { disputeId, outcome: outcome as DisputeOutcome } });
  const authorizeWith = (input: Partial<AuthorizePaymentInput>, idempotencyKey: string | null = null) => (c: GraphQLClient) =>
    c.request(AuthorizePaymentDocument, { input: { amount: '10.00', currency: 'USD', paymentToken: 'tok_approve', ...input }, idempotencyKey });

  beforeAll(async () => {
    app = await startTestApp(kind, {
      clock,
      // The job would expire the fixtures behind the test's back; the test runs expiry itself.
      env: { PAYMENT_AUTHORIZATION_TTL: '1h', PAYMENT_JOBS_INTERVAL_MS: '3600000' },
    });
    gatewayId = (await createSimulatorGateway(app.client)).id;

    // Expired first: the clock moves past its window before the other payments are made.
    p.expired = (await authorize(app.client, { amount: '100.00' })).id;
    clock.advance(2 * HOUR_MS);
    expect(await app.runtime.services.payments.expireAuthorizations()).toBe(1);

    p.authorized = (await authorize(app.client, { amount: '100.00' })).id;
    p.authorizedJpy = (await authorize(app.client, { amount: '500', currency: 'JPY' })).id;
    p.captured = (await authorize(app.client, { amount: '100.00', capture: true })).id;
    p.partlyCaptured = (await authorize(app.client, { amount: '100.00' })).id;
    await app.client.ok(CapturePaymentDocument, { input: { paymentId: p.partlyCaptured, amount: '80.00' } });
    p.voided = (await authorize(app.client, { amount: '100.00' })).id;
    await app.client.ok(VoidPaymentDocument, { input: { paymentId: p.voided } });

    const declined = await app.client.request(AuthorizePaymentDocument, {
      input: { amount: '100.00', currency: 'USD', paymentToken: 'tok_decline_insufficient_funds' },
    });
    expect(declined.errors?.[0]?.extensions?.code).toBe('GATEWAY_DECLINED');
    const { payments: failed } = await app.client.ok(PaymentsDocument, { filter: { status: 'FAILED' } });
    expect(failed.edges).toHaveLength(1);
    p.failed = failed.edges[0].node.id;

    p.partlyRefunded = (await authorize(app.client, { amount: '100.00', capture: true })).id;
    await app.client.ok(RefundPaymentDocument, { input: { paymentId: p.partlyRefunded, amount: '40.00' } });
    p.refundedInFull = (await authorize(app.client, { amount: '50.00', capture: true })).id;
    await app.client.ok(RefundPaymentDocument, { input: { paymentId: p.refundedInFull } });

    // 100 captured, 30 refunded, 50 lost to a dispute: 20 still refundable.
    p.lostDispute = (await authorize(app.client, { amount: '100.00', capture: true })).id;
    await app.client.ok(RefundPaymentDocument, { input: { paymentId: p.lostDispute, amount: '30.00' } });
    d.lost = (await app.client.ok(OpenDisputeDocument, { input: { paymentId: p.lostDispute, amount: '50.00', fee: '15.00', reason: 'fraudulent' } }))
      .openDispute.dispute.id;
    await app.client.ok(CloseDisputeDocument, { input: { disputeId: d.lost, outcome: 'LOST' } });

    // 100 captured, 40 held by an open dispute: 60 refundable.
    p.openDispute = (await authorize(app.client, { amount: '100.00', capture: true })).id;
    d.open = (await app.client.ok(OpenDisputeDocument, { input: { paymentId: p.openDispute, amount: '40.00', reason: 'not received' } })).openDispute
      .dispute.id;

    p.wonDispute = (await authorize(app.client, { amount: '100.00', capture: true })).id;
    d.won = (await app.client.ok(OpenDisputeDocument, { input: { paymentId: p.wonDispute, reason: 'duplicate' } })).openDispute.dispute.id;
    await app.client.ok(SubmitDisputeEvidenceDocument, { input: { disputeId: d.won, evidence: 'two separate orders' } });
    await app.client.ok(CloseDisputeDocument, { input: { disputeId: d.won, outcome: 'WON' } });

    euroOnlyGatewayId = (await createSimulatorGateway(app.client, ['EUR'])).id;

    other = await app.createTenant('Other');
    otherGatewayId = (await createSimulatorGateway(other.client)).id;
    p.otherTenant = (await authorize(other.client, { amount: '100.00', capture: true })).id;
    d.otherTenant = (await other.client.ok(OpenDisputeDocument, { input: { paymentId: p.otherTenant, amount: '10.00', reason: 'fraudulent' } })).openDispute
      .dispute.id;

    const statuses = Object.fromEntries(
      await Promise.all(Object.entries(p).map(async ([name, id]) => [name, (await (name === 'otherTenant' ? other : app).client.ok(PaymentDocument, { id })).payment.status])),
    );
    expect(statuses).toEqual({
      expired: 'EXPIRED',
      authorized: 'AUTHORIZED',
      authorizedJpy: 'AUTHORIZED',
      captured: 'CAPTURED',
      partlyCaptured: 'CAPTURED',
      voided: 'VOIDED',
      failed: 'FAILED',
      partlyRefunded: 'CAPTURED',
      refundedInFull: 'CAPTURED',
      lostDispute: 'CAPTURED',
      openDispute: 'CAPTURED',
      wonDispute: 'CAPTURED',
      otherTenant: 'CAPTURED',
    });
  });

  afterAll(async () => {
    await app?.close();
  });

  /** Sends the step and checks its one error's code, and that nothing changed. */
  async function expectRefusedUnchanged(step: IllegalStep): Promise<void> {
    const paymentId = step.payment();
    const before = await snapshotPaymentWorld(app.runtime.dataSource, app.client, paymentId);
    const result = await step.send(app.client);
    expect({ step: step.label, codes: result.errors?.map((error) => error.extensions?.code), data: setRootFieldsOf(result.data) }).toEqual({
      step: step.label,
      codes: [step.code],
      data: null,
    });
    expect(result.errors?.[0]?.extensions?.requestId).toEqual(expect.stringMatching(/^req_/));
    const after = await snapshotPaymentWorld(app.runtime.dataSource, app.client, paymentId);
    expect({ step: step.label, ...after }).toEqual({ step: step.label, ...before });
  }

  const ILLEGAL_STEPS: IllegalStep[] = [
    // AUTHORIZED
    { label: 'capture above the authorized amount', payment: () => p.authorized, send: (c) => capture(p.authorized, '100.01')(c), code: INVALID_INPUT },
    { label: 'capture of zero', payment: () => p.authorized, send: (c) => capture(p.authorized, '0.00')(c), code: INVALID_INPUT },
    { label: 'capture of a negative amount', payment: () => p.authorized, send: (c) => capture(p.authorized, '-1.00')(c), code: INVALID_INPUT },
    { label: 'capture with three decimals in USD', payment: () => p.authorized, send: (c) => capture(p.authorized, '1.001')(c), code: INVALID_INPUT },
    { label: 'capture with a decimal in JPY', payment: () => p.authorizedJpy, send: (c) => capture(p.authorizedJpy, '1.5')(c), code: INVALID_INPUT },
    { label: 'capture of a JPY authorization + 1 yen', payment: () => p.authorizedJpy, send: (c) => capture(p.authorizedJpy, '501')(c), code: INVALID_INPUT },
    { label: 'refund of an authorization not captured', payment: () => p.authorized, send: (c) => refund(p.authorized, '1.00')(c), code: INVALID },
    { label: 'refund of everything of an authorization not captured', payment: () => p.authorized, send: (c) => refund(p.authorized)(c), code: INVALID },
    { label: 'dispute on an authorization not captured', payment: () => p.authorized, send: (c) => dispute(p.authorized, '1.00')(c), code: INVALID },
    // CAPTURED
    { label: 'a second capture in full', payment: () => p.captured, send: (c) => capture(p.captured)(c), code: INVALID },
    { label: 'a second capture of 1.00', payment: () => p.captured, send: (c) => capture(p.captured, '1.00')(c), code: INVALID },
    { label: 'void after capture', payment: () => p.captured, send: (c) => voidIt(p.captured)(c), code: INVALID },
    { label: 'refund above the captured amount', payment: () => p.captured, send: (c) => refund(p.captured, '100.01')(c), code: INVALID_INPUT },
    { label: 'refund of zero', payment: () => p.captured, send: (c) => refund(p.captured, '0')(c), code: INVALID_INPUT },
    { label: 'refund of a negative amount', payment: () => p.captured, send: (c) => refund(p.captured, '-5.00')(c), code: INVALID_INPUT },
    { label: 'refund with three decimals', payment: () => p.captured, send: (c) => refund(p.captured, '0.001')(c), code: INVALID_INPUT },
    { label: 'refund past the 64-bit range', payment: () => p.captured, send: (c) => refund(p.captured, '92233720368547758.08')(c), code: INVALID_INPUT },
    { label: 'dispute above the captured amount', payment: () => p.captured, send: (c) => dispute(p.captured, '100.01')(c), code: INVALID_INPUT },
    { label: 'dispute with a zero fee', payment: () => p.captured, send: (c) => dispute(p.captured, '10.00', '0.00')(c), code: INVALID_INPUT },
    { label: 'dispute with a negative fee', payment: () => p.captured, send: (c) => dispute(p.captured, '10.00', '-1.00')(c), code: INVALID_INPUT },
    // CAPTURED in part: 80 of 100
    { label: 'refund above the captured part', payment: () => p.partlyCaptured, send: (c) => refund(p.partlyCaptured, '80.01')(c), code: INVALID_INPUT },
    { label: 'capture of the released rest', payment: () => p.partlyCaptured, send: (c) => capture(p.partlyCaptured, '20.00')(c), code: INVALID },
    // VOIDED
    { label: 'capture after void', payment: () => p.voided, send: (c) => capture(p.voided)(c), code: INVALID },
    { label: 'capture of 1.00 after void', payment: () => p.voided, send: (c) => capture(p.voided, '1.00')(c), code: INVALID },
    { label: 'a second void', payment: () => p.voided, send: (c) => voidIt(p.voided)(c), code: INVALID },
    { label: 'refund of a voided payment', payment: () => p.voided, send: (c) => refund(p.voided, '1.00')(c), code: INVALID },
    { label: 'dispute on a voided payment', payment: () => p.voided, send: (c) => dispute(p.voided, '1.00')(c), code: INVALID },
    { label: 'dispute of everything on a voided payment', payment: () => p.voided, send: (c) => dispute(p.voided)(c), code: INVALID },
    // FAILED
    { label: 'capture of a declined payment', payment: () => p.failed, send: (c) => capture(p.failed)(c), code: INVALID },
    { label: 'void of a declined payment', payment: () => p.failed, send: (c) => voidIt(p.failed)(c), code: INVALID },
    { label: 'refund of a declined payment', payment: () => p.failed, send: (c) => refund(p.failed, '1.00')(c), code: INVALID },
    { label: 'dispute on a declined payment', payment: () => p.failed, send: (c) => dispute(p.failed, '1.00')(c), code: INVALID },
    // EXPIRED
    { label: 'capture of an expired authorization', payment: () => p.expired, send: (c) => capture(p.expired)(c), code: INVALID },
    { label: 'void of an expired authorization', payment: () => p.expired, send: (c) => voidIt(p.expired)(c), code: INVALID },
    { label: 'refund of an expired authorization', payment: () => p.expired, send: (c) => refund(p.expired, '1.00')(c), code: INVALID },
    { label: 'dispute on an expired authorization', payment: () => p.expired, send: (c) => dispute(p.expired, '1.00')(c), code: INVALID },
    // 100 captured, 40 refunded: 60 left
    { label: 'refund above captured minus refunded', payment: () => p.partlyRefunded, send: (c) => refund(p.partlyRefunded, '60.01')(c), code: INVALID_INPUT },
    { label: 'refund of the whole captured amount again', payment: () => p.partlyRefunded, send: (c) => refund(p.partlyRefunded, '100.00')(c), code: INVALID_INPUT },
    { label: 'dispute above captured minus refunded', payment: () => p.partlyRefunded, send: (c) => dispute(p.partlyRefunded, '60.01')(c), code: INVALID_INPUT },
    // Refunded in full
    { label: 'refund of 0.01 after a full refund', payment: () => p.refundedInFull, send: (c) => refund(p.refundedInFull, '0.01')(c), code: INVALID },
    { label: 'refund of everything after a full refund', payment: () => p.refundedInFull, send: (c) => refund(p.refundedInFull)(c), code: INVALID },
    { label: 'dispute after a full refund', payment: () => p.refundedInFull, send: (c) => dispute(p.refundedInFull)(c), code: INVALID },
    // 100 captured, 30 refunded, 50 lost: 20 left
    { label: 'refund of 0.01 above what a lost dispute left', payment: () => p.lostDispute, send: (c) => refund(p.lostDispute, '20.01')(c), code: INVALID_INPUT },
    { label: 'refund of the lost dispute’s amount', payment: () => p.lostDispute, send: (c) => refund(p.lostDispute, '50.00')(c), code: INVALID_INPUT },
    { label: 'dispute above what a lost dispute left', payment: () => p.lostDispute, send: (c) => dispute(p.lostDispute, '20.01')(c), code: INVALID_INPUT },
    { label: 'close a LOST dispute again as WON', payment: () => p.lostDispute, send: (c) => close(d.lost, 'WON')(c), code: INVALID },
    { label: 'close a LOST dispute again as LOST', payment: () => p.lostDispute, send: (c) => close(d.lost, 'LOST')(c), code: INVALID },
    { label: 'evidence on a LOST dispute', payment: () => p.lostDispute, send: (c) => evidence(d.lost)(c), code: INVALID },
    // A dispute won
    { label: 'close a WON dispute again as LOST', payment: () => p.wonDispute, send: (c) => close(d.won, 'LOST')(c), code: INVALID },
    { label: 'evidence on a WON dispute', payment: () => p.wonDispute, send: (c) => evidence(d.won)(c), code: INVALID },
    // An open dispute holding 40 of 100: 60 left
    { label: 'a second dispute while one is open', payment: () => p.openDispute, send: (c) => dispute(p.openDispute, '1.00')(c), code: INVALID },
    { label: 'refund above what the open dispute leaves', payment: () => p.openDispute, send: (c) => refund(p.openDispute, '60.01')(c), code: INVALID_INPUT },
    { label: 'close a dispute as OPEN', payment: () => p.openDispute, send: (c) => close(d.open, 'OPEN')(c), code: INVALID_INPUT },
    { label: 'close a dispute as UNDER_REVIEW', payment: () => p.openDispute, send: (c) => close(d.open, 'UNDER_REVIEW')(c), code: INVALID_INPUT },
    { label: 'empty evidence', payment: () => p.openDispute, send: (c) => evidence(d.open, '   ')(c), code: INVALID_INPUT },
    { label: 'evidence past 20,000 characters', payment: () => p.openDispute, send: (c) => evidence(d.open, 'x'.repeat(20_001))(c), code: INVALID_INPUT },
  ];

  it.each(ILLEGAL_STEPS.map((step) => [step.label, step] as const))('%s', async (_label, step) => {
    await expectRefusedUnchanged(step);
  });

  it('keeps the books balanced after every refusal', async () => {
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  describe('bad input', () => {
    const ghostPayment = newId('payment');
    const ghostDispute = newId('dispute');
    const malformedPaymentIds: [string, string][] = [
      ['a too short pay_ id', 'pay_123'],
      ['an account id', newId('account')],
      ['a dispute id', newId('dispute')],
      ['an empty id', ''],
      ['an id with SQL in it', "pay_' OR '1'='1"],
    ];

    const badInput: IllegalStep[] = [
      ...(
        [
          ['an unknown payment id', () => ghostPayment],
          ['another tenant’s payment id', () => p.otherTenant],
        ] as const
      ).flatMap(([what, id]): IllegalStep[] => [
        { label: `payment(id:) of ${what}`, payment: () => null, send: (c) => c.request(PaymentDocument, { id: id() }), code: 'NOT_FOUND' },
        { label: `capture of ${what}`, payment: () => null, send: (c) => capture(id())(c), code: 'NOT_FOUND' },
        { label: `void of ${what}`, payment: () => null, send: (c) => voidIt(id())(c), code: 'NOT_FOUND' },
        { label: `refund of ${what}`, payment: () => null, send: (c) => refund(id(), '1.00')(c), code: 'NOT_FOUND' },
        { label: `dispute on ${what}`, payment: () => null, send: (c) => dispute(id(), '1.00')(c), code: 'NOT_FOUND' },
      ]),
      ...(
        [
          ['an unknown dispute id', () => ghostDispute],
          ['another tenant’s dispute id', () => d.otherTenant],
        ] as const
      ).flatMap(([what, id]): IllegalStep[] => [
        { label: `evidence on ${what}`, payment: () => null, send: (c) => evidence(id())(c), code: 'NOT_FOUND' },
        { label: `close ${what}`, payment: () => null, send: (c) => close(id(), 'WON')(c), code: 'NOT_FOUND' },
      ]),
      ...malformedPaymentIds.flatMap(([what, id]): IllegalStep[] => [
        // Reads answer a malformed id as they answer any id they cannot find, as account(id:) does.
        { label: `payment(id:) of ${what}`, payment: () => null, send: (c) => c.request(PaymentDocument, { id }), code: 'NOT_FOUND' },
        { label: `capture of ${what}`, payment: () => null, send: capture(id), code: INVALID_INPUT },
        { label: `void of ${what}`, payment: () => null, send: voidIt(id), code: INVALID_INPUT },
        { label: `refund of ${what}`, payment: () => null, send: refund(id, '1.00'), code: INVALID_INPUT },
        { label: `dispute on ${what}`, payment: () => null, send: dispute(id, '1.00'), code: INVALID_INPUT },
      ]),
      ...(
        [
          ['a too short dp_ id', 'dp_1'],
          ['a payment id', newId('payment')],
        ] as const
      ).flatMap(([what, id]): IllegalStep[] => [
        { label: `evidence on ${what} as the dispute id`, payment: () => null, send: evidence(id), code: INVALID_INPUT },
        { label: `close ${what} as the dispute id`, payment: () => null, send: close(id, 'LOST'), code: INVALID_INPUT },
      ]),
      ...['0', '0.00', '-1.00', '1.001', '', 'abc', '1e3', ' 1.00', '92233720368547758.08'].map(
        (amount): IllegalStep => ({ label: `authorize of the amount "${amount}"`, payment: () => null, send: authorizeWith({ amount }), code: INVALID_INPUT }),
      ),
      { label: 'authorize of 1.5 JPY', payment: () => null, send: authorizeWith({ amount: '1.5', currency: 'JPY' }), code: INVALID_INPUT },
      { label: 'authorize in an unknown currency', payment: () => null, send: authorizeWith({ currency: 'ZZZ' }), code: INVALID_INPUT },
      { label: 'authorize in a currency no gateway takes', payment: () => null, send: authorizeWith({ currency: 'GBP' }), code: INVALID_INPUT },
      {
        label: 'authorize through a gateway of another currency',
        payment: () => null,
        send: (c) => authorizeWith({ gatewayId: euroOnlyGatewayId })(c),
        code: INVALID_INPUT,
      },
      { label: 'authorize through another tenant’s gateway', payment: () => null, send: (c) => authorizeWith({ gatewayId: otherGatewayId })(c), code: 'NOT_FOUND' },
      { label: 'authorize through an unknown gateway', payment: () => null, send: authorizeWith({ gatewayId: newId('paymentGateway') }), code: 'NOT_FOUND' },
      { label: 'authorize through a malformed gateway id', payment: () => null, send: authorizeWith({ gatewayId: newId('payment') }), code: INVALID_INPUT },
      { label: 'authorize with an empty payment token', payment: () => null, send: authorizeWith({ paymentToken: '' }), code: INVALID_INPUT },
      {
        label: 'payout from another tenant’s gateway',
        payment: () => null,
        send: (c) => c.request(RecordPayoutDocument, { input: { gatewayId: otherGatewayId, amount: '1.00', currency: 'USD' } }),
        code: 'NOT_FOUND',
      },
      {
        label: 'payout in a currency the gateway does not take',
        payment: () => null,
        send: (c) => c.request(RecordPayoutDocument, { input: { gatewayId: euroOnlyGatewayId, amount: '1.00', currency: 'USD' } }),
        code: INVALID_INPUT,
      },
      {
        label: 'payout of zero',
        payment: () => null,
        send: (c) => c.request(RecordPayoutDocument, { input: { gatewayId, amount: '0.00', currency: 'USD' } }),
        code: INVALID_INPUT,
      },
    ];

    it.each(badInput.map((step) => [step.label, step] as const))('%s', async (_label, step) => {
      await expectRefusedUnchanged(step);
    });

    it('refuses a card number as paymentToken and keeps no trace of it anywhere in the database', async () => {
      const number = '4242424242424242';
      const spellings = [number, '4242 4242 4242 4242', '4242-4242-4242-4242', '378282246310005'];
      for (const [index, paymentToken] of spellings.entries()) {
        for (const idempotencyKey of [null, `card-number-${index}-key`]) {
          const label = `paymentToken "${paymentToken}" with ${idempotencyKey ? 'an' : 'no'} idempotency key`;
          await expectRefusedUnchanged({ label, payment: () => null, send: authorizeWith({ paymentToken }, idempotencyKey), code: INVALID_INPUT });
          const result = await authorizeWith({ paymentToken }, idempotencyKey)(app.client);
          expect(JSON.stringify(result.errors)).not.toContain(paymentToken);
        }
      }
      const needles = [...spellings, '4242424242', '37828224631'];
      expect(await databaseOccurrencesOf(app.runtime.dataSource, needles, ['payments', 'payment_events', 'idempotency_records'])).toEqual([]);
      // And in no other table either.
      expect(await databaseOccurrencesOf(app.runtime.dataSource, needles)).toEqual([]);
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });
  });
});
