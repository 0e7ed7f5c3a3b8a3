import { SimulatorGateway } from '../../src/modules/payments/gateways/simulator-gateway';
import {
  AuthorizePaymentDocument,
  CapturePaymentDocument,
  CloseDisputeDocument,
  OpenDisputeDocument,
  RefundPaymentDocument,
  VoidPaymentDocument,
} from '../generated/graphql';
import { type Outcome, outcomeOf } from '../helpers/concurrency';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway, readPayment } from '../helpers/payment-fixtures';

/**
 * Races on one payment, sent at once over HTTP: refunds that together ask for more than was captured,
 * a capture and a void of the same authorization, and the same authorization retried with one key.
 * The payment row is locked for each step's decision, so exactly the legal ones win and the books
 * never show more refunded than captured.
 */

function codesOf<T>(outcomes: Outcome<T>[]): string[] {
  return outcomes.filter((outcome): outcome is Extract<Outcome<T>, { ok: false }> => !outcome.ok).map((outcome) => outcome.code);
}

/** The simulator's books for the gateway, as kept in the database. */
function gatewayBooks(app: TestApp, gatewayId: string) {
  return new SimulatorGateway(app.runtime.dataSource, gatewayId).stats();
}

async function countOf(app: TestApp, sql: string, params: unknown[]): Promise<number> {
  const [row] = await app.runtime.dataSource.query(sql, params);
  return Number(row.count);
}

describeEachDatabase('concurrent refunds and a capture racing a void', (kind) => {
  let app: TestApp;
  let gatewayId: string;
  beforeAll(async () => {
    // tok_slow keeps the first of the same-key retries in flight while the others arrive.
    app = await startTestApp(kind, { env: { SIMULATOR_SLOW_MS: '300' } });
    gatewayId = (await createSimulatorGateway(app.client)).id;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('lets exactly 10 of 20 concurrent refunds of 10.00 on a 100.00 capture through, and refuses the rest as INVALID_STATE_TRANSITION', async () => {
    const captured = await authorize(app.client, { amount: '100.00', capture: true });
    expect(captured.capturedAmount.amount).toBe('100.00');

    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async (_, i) =>
        outcomeOf(await app.client.request(RefundPaymentDocument, { input: { paymentId: captured.id, amount: '10.00', reason: `return ${i}` } })),
      ),
    );
    const succeeded = outcomes.filter((outcome) => outcome.ok);
    expect(succeeded).toHaveLength(10);
    // Refunds are of 10.00 each, so what is left is always a multiple of 10.00: a refusal is "nothing left to refund".
    expect(codesOf(outcomes)).toEqual(Array(10).fill('INVALID_STATE_TRANSITION'));
    for (const outcome of succeeded) {
      if (!outcome.ok) continue;
      const { payment, refund } = outcome.data.refundPayment!;
      expect(refund).toMatchObject({ status: 'SUCCEEDED', amount: { amount: '10.00' }, journalEntry: { status: 'POSTED' } });
      expect(BigInt(payment.refundedAmount.minorUnits)).toBeLessThanOrEqual(10_000n);
      expect(BigInt(payment.refundedAmount.minorUnits) + BigInt(payment.refundableAmount.minorUnits)).toBeLessThanOrEqual(10_000n);
    }

    const payment = await readPayment(app.client, captured.id);
    expect(payment).toMatchObject({
      status: 'CAPTURED',
      capturedAmount: { amount: '100.00' },
      refundedAmount: { amount: '100.00' },
      refundableAmount: { amount: '0.00' },
    });
    expect(payment.refunds.map((refund) => [refund.status, refund.amount.amount])).toEqual(Array(10).fill(['SUCCEEDED', '10.00']));
    const refundEvents = payment.events.filter((event) => event.type === 'REFUNDED');
    expect(refundEvents).toHaveLength(10);
    const refundEntryIds = new Set(refundEvents.flatMap((event) => event.journalEntries.map((entry) => entry.id)));
    expect(refundEntryIds.size).toBe(10);

    const db = app.runtime.dataSource;
    expect(
      await countOf(app, `SELECT COUNT(*) AS count FROM journal_entries WHERE tenant_id = ? AND status = 'POSTED' AND description = ?`, [
        app.tenantId,
        `Payment ${captured.id}: refunded`,
      ]),
    ).toBe(10);
    const [sums] = await db.query(
      `SELECT SUM(CASE WHEN status = 'SUCCEEDED' THEN amount_minor ELSE 0 END) AS refunded, COUNT(*) AS count FROM refunds WHERE payment_id = ?`,
      [captured.id],
    );
    expect({ refunded: String(sums.refunded), count: Number(sums.count) }).toEqual({ refunded: '10000', count: 10 });
    // The gateway's books agree: never more refunded than captured there either.
    const atGateway = (await gatewayBooks(app, gatewayId)).payments[payment.gatewayPaymentId as string];
    expect(atGateway).toMatchObject({ capturedAmountMinor: 10_000n, refundedAmountMinor: 10_000n, refundCount: 10 });
    await assertLedgerInvariants(db, app.client);
  });

  it('lets exactly one of a concurrent capture and void of one authorization win, ten times over', async () => {
    const winners: string[] = [];
    for (let round = 0; round < 10; round += 1) {
      const authorized = await authorize(app.client, { amount: '25.00' });
      const capturing = app.client.request(CapturePaymentDocument, { input: { paymentId: authorized.id } });
      const voiding = app.client.request(VoidPaymentDocument, { input: { paymentId: authorized.id } });
      const capture = outcomeOf(await capturing);
      const voided = outcomeOf(await voiding);
      const where = { round, capture: capture.ok ? 'ok' : capture.code, void: voided.ok ? 'ok' : voided.code };
      expect([where, [capture.ok, voided.ok].filter(Boolean).length]).toEqual([where, 1]);
      expect([...codesOf([capture]), ...codesOf([voided])]).toEqual(['INVALID_STATE_TRANSITION']);

      const winner = capture.ok ? 'CAPTURED' : 'VOIDED';
      winners.push(winner);
      const payment = await readPayment(app.client, authorized.id);
      expect({ round, status: payment.status, pending: payment.pendingGatewayCall }).toEqual({ round, status: winner, pending: null });
      expect(payment.capturedAmount.amount).toBe(winner === 'CAPTURED' ? '25.00' : '0.00');
      const authorization = payment.journalEntries[0];
      expect(authorization.status).toBe(winner === 'CAPTURED' ? 'POSTED' : 'VOIDED');
      expect(payment.events.filter((event) => ['CAPTURED', 'VOIDED'].includes(event.type)).map((event) => event.type)).toEqual([winner]);
      const atGateway = (await gatewayBooks(app, gatewayId)).payments[payment.gatewayPaymentId as string];
      expect(atGateway).toMatchObject(winner === 'CAPTURED' ? { captureCount: 1, voided: false } : { captureCount: 0, voided: true });
    }
    expect(winners).toHaveLength(10);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('lets one of concurrent captures, one of concurrent disputes and one of concurrent closings of a dispute win', async () => {
    const authorized = await authorize(app.client, { amount: '60.00' });
    const captures = await Promise.all(
      ['60.00', '50.00', null, '10.00', null].map(async (amount) => outcomeOf(await app.client.request(CapturePaymentDocument, { input: { paymentId: authorized.id, amount } }))),
    );
    expect(captures.filter((outcome) => outcome.ok)).toHaveLength(1);
    expect(codesOf(captures)).toEqual(Array(4).fill('INVALID_STATE_TRANSITION'));
    const captured = await readPayment(app.client, authorized.id);
    const winningCapture = captures.find((outcome) => outcome.ok);
    expect(winningCapture?.ok && winningCapture.data.capturePayment!.payment.capturedAmount).toEqual(captured.capturedAmount);
    expect(captured.events.filter((event) => event.type === 'CAPTURED')).toHaveLength(1);

    const disputes = await Promise.all(
      Array.from({ length: 5 }, async (_, i) =>
        outcomeOf(await app.client.request(OpenDisputeDocument, { input: { paymentId: authorized.id, amount: '5.00', reason: `chargeback ${i}` } })),
      ),
    );
    expect(disputes.filter((outcome) => outcome.ok)).toHaveLength(1);
    expect(codesOf(disputes)).toEqual(Array(4).fill('INVALID_STATE_TRANSITION'));
    const opened = disputes.find((outcome) => outcome.ok);
    const disputeId = opened?.ok ? opened.data.openDispute!.dispute.id : '';

    const closings = await Promise.all(
      (['WON', 'LOST', 'WON', 'LOST'] as const).map(async (outcome) => outcomeOf(await app.client.request(CloseDisputeDocument, { input: { disputeId, outcome } }))),
    );
    expect(closings.filter((outcome) => outcome.ok)).toHaveLength(1);
    expect(codesOf(closings)).toEqual(Array(3).fill('INVALID_STATE_TRANSITION'));
    const closed = closings.find((outcome) => outcome.ok);
    const status = closed?.ok ? closed.data.closeDispute!.dispute.status : '';
    const payment = await readPayment(app.client, authorized.id);
    expect(payment.disputes.map((dispute) => [dispute.id, dispute.status])).toEqual([[disputeId, status]]);
    expect(payment).toMatchObject({ disputedAmount: { amount: '0.00' }, disputeLostAmount: { amount: status === 'LOST' ? '5.00' : '0.00' } });
    expect(payment.events.filter((event) => event.type.startsWith('DISPUTE_')).map((event) => event.type)).toEqual(['DISPUTE_OPENED', `DISPUTE_${status}`]);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('makes one payment of 10 concurrent identical authorizations with one idempotency key; the others get it or IDEMPOTENCY_KEY_IN_USE', async () => {
    const countPayments = () => countOf(app, 'SELECT COUNT(*) AS count FROM payments WHERE tenant_id = ?', [app.tenantId]);
    const paymentsBefore = await countPayments();
    const chargesBefore = (await gatewayBooks(app, gatewayId)).chargeCount;
    const input = { amount: '42.00', currency: 'USD', paymentToken: 'tok_slow', customerId: 'cus_retry' };
    const idempotencyKey = 'pos-terminal-7-sale-0042';

    const outcomes = await Promise.all(
      Array.from({ length: 10 }, async () => outcomeOf(await app.client.request(AuthorizePaymentDocument, { input, idempotencyKey }))),
    );
    const ids = new Set(outcomes.flatMap((outcome) => (outcome.ok ? [outcome.data.authorizePayment!.payment.id] : [])));
    expect(ids.size).toBe(1);
    expect(codesOf(outcomes).filter((code) => code !== 'IDEMPOTENCY_KEY_IN_USE')).toEqual([]);
    const [paymentId] = [...ids];

    expect(await countPayments()).toBe(paymentsBefore + 1);
    expect((await gatewayBooks(app, gatewayId)).chargeCount).toBe(chargesBefore + 1);
    // A retry once all have finished gets the same payment.
    const { authorizePayment } = await app.client.ok(AuthorizePaymentDocument, { input, idempotencyKey });
    expect(authorizePayment.payment).toMatchObject({ id: paymentId, status: 'AUTHORIZED', amount: { amount: '42.00' } });
    expect(await countPayments()).toBe(paymentsBefore + 1);

    const payment = await readPayment(app.client, paymentId);
    expect(payment.journalEntries.map((entry) => entry.status)).toEqual(['PENDING']);
    expect(payment.events.map((event) => event.type)).toEqual(['AUTHORIZATION_REQUESTED', 'AUTHORIZED']);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
