import {
  AuthorizePaymentDocument,
  CapturePaymentDocument,
  PaymentsDocument,
  VoidPaymentDocument,
} from '../generated/graphql';
import { readBalances } from '../helpers/concurrency';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway, type PaymentView, readPayment } from '../helpers/payment-fixtures';
import { TestClock } from '../helpers/test-clock';

/**
 * An authorization not captured within PAYMENT_AUTHORIZATION_TTL expires: its pending entry is voided,
 * the hold leaves the pending balances, and it can no longer be captured or voided. Run by hand with a
 * test clock, and by the server's own background job.
 */

const HOUR_MS = 3600_000;

/** Net pending and posted balances of the default chart's USD accounts, by account code. */
async function systemBalances(app: TestApp): Promise<Record<string, { posted: bigint; pending: bigint }>> {
  const balances: Record<string, { posted: bigint; pending: bigint }> = {};
  for (const account of (await readBalances(app.client)).values()) {
    if (account.code.startsWith('SYS-')) balances[account.code] = { posted: account.postedMinor, pending: account.pendingMinor };
  }
  return balances;
}

async function paymentOf(app: TestApp, id: string): Promise<PaymentView> {
  return (await readPayment(app.client, id));
}

/** Polls until the payment has the status, failing after the deadline. */
async function waitForStatus(app: TestApp, id: string, status: string, timeoutMs = 15_000): Promise<PaymentView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const payment = await paymentOf(app, id);
    if (payment.status === status) return payment;
    if (Date.now() > deadline) throw new Error(`Payment ${id} is still ${payment.status} after ${timeoutMs} ms; expected ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function expectHoldReleased(app: TestApp, paymentId: string): Promise<void> {
  const payment = await paymentOf(app, paymentId);
  expect(payment).toMatchObject({ status: 'EXPIRED', capturedAmount: { amount: '0.00' }, refundableAmount: { amount: '0.00' }, pendingGatewayCall: null });
  expect(payment.events.map((event) => [event.type, event.source])).toEqual([
    ['AUTHORIZATION_REQUESTED', 'API'],
    ['AUTHORIZED', 'API'],
    ['EXPIRED', 'SYSTEM'],
  ]);
  // The authorization's pending entry, now voided: no new entry, no posted postings.
  expect(payment.journalEntries.map((entry) => entry.status)).toEqual(['VOIDED']);
  expect(payment.events[2].journalEntries.map((entry) => entry.id)).toEqual([payment.journalEntries[0].id]);

  for (const [code, balance] of Object.entries(await systemBalances(app))) {
    expect({ code, ...balance }).toEqual({ code, posted: 0n, pending: 0n });
  }

  for (const refused of [
    await app.client.request(CapturePaymentDocument, { input: { paymentId } }),
    await app.client.request(CapturePaymentDocument, { input: { paymentId, amount: '1.00' } }),
    await app.client.request(VoidPaymentDocument, { input: { paymentId } }),
  ]) {
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['INVALID_STATE_TRANSITION']);
  }
  expect(await paymentOf(app, paymentId)).toEqual(payment);
  await assertLedgerInvariants(app.runtime.dataSource, app.client);
}

describeEachDatabase('an authorization past its window expires and releases its hold', (kind) => {
  describe('expireAuthorizations, run by hand', () => {
    const clock = new TestClock();
    let app: TestApp;
    beforeAll(async () => {
      // The job would run expiry behind the test's back; here the test runs it.
      app = await startTestApp(kind, { clock, env: { PAYMENT_AUTHORIZATION_TTL: '1h', PAYMENT_JOBS_INTERVAL_MS: '3600000' } });
      await createSimulatorGateway(app.client);
    });
    afterAll(async () => {
      await app?.close();
    });

    it('holds until the window ends, then expires once: the pending entry voided, pending balances back to zero, capture refused', async () => {
      const authorizedAt = clock.now();
      const payment = await authorize(app.client, { amount: '100.00' });
      expect(new Date(payment.expiresAt).getTime()).toBe(authorizedAt.getTime() + HOUR_MS);
      expect((await paymentOf(app, payment.id)).journalEntries.map((entry) => entry.status)).toEqual(['PENDING']);
      const held = await systemBalances(app);
      expect(held['SYS-1100-USD']).toEqual({ posted: 0n, pending: 10_000n });
      expect(held['SYS-4000-USD']).toEqual({ posted: 0n, pending: 10_000n });

      clock.set(new Date(new Date(payment.expiresAt).getTime() - 1));
      expect(await app.runtime.services.payments.expireAuthorizations()).toBe(0);
      expect((await paymentOf(app, payment.id)).status).toBe('AUTHORIZED');
      expect(await systemBalances(app)).toEqual(held);

      clock.advance(2);
      expect(await app.runtime.services.payments.expireAuthorizations()).toBe(1);
      // A second run finds nothing left to do.
      expect(await app.runtime.services.payments.expireAuthorizations()).toBe(0);
      await expectHoldReleased(app, payment.id);
    });

    it('expires only authorizations: captured, voided and declined payments of the same age are left as they were', async () => {
      const captured = await authorize(app.client, { amount: '10.00', capture: true });
      const voided = await authorize(app.client, { amount: '20.00' });
      await app.client.ok(VoidPaymentDocument, { input: { paymentId: voided.id } });
      const declined = await app.client.request(AuthorizePaymentDocument, {
        input: { amount: '40.00', currency: 'USD', paymentToken: 'tok_decline_expired_card' },
      });
      expect(declined.errors?.map((error) => error.extensions?.code)).toEqual(['GATEWAY_DECLINED']);
      const failed = (await app.client.ok(PaymentsDocument, { filter: { status: 'FAILED' } })).payments.edges.map((edge) => edge.node.id);
      expect(failed).toHaveLength(1);
      const pending = await authorize(app.client, { amount: '30.00' });
      const untouched = [captured.id, voided.id, ...failed];
      const before = await Promise.all(untouched.map((id) => paymentOf(app, id)));

      clock.advance(2 * HOUR_MS);
      expect(await app.runtime.services.payments.expireAuthorizations()).toBe(1);
      expect(await Promise.all(untouched.map((id) => paymentOf(app, id)))).toEqual(before);
      expect((await paymentOf(app, pending.id)).status).toBe('EXPIRED');
      const balances = await systemBalances(app);
      // Only the capture remains: 10.00 posted to clearing, less the simulator's fee of 0.59.
      expect(balances['SYS-1100-USD']).toEqual({ posted: 941n, pending: 941n });
      expect(balances['SYS-4000-USD']).toEqual({ posted: 1_000n, pending: 1_000n });
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });
  });

  describe('the server’s background job', () => {
    const clock = new TestClock();
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp(kind, { clock, env: { PAYMENT_AUTHORIZATION_TTL: '1h', PAYMENT_JOBS_INTERVAL_MS: '100' } });
      await createSimulatorGateway(app.client);
    });
    afterAll(async () => {
      await app?.close();
    });

    it('expires an authorization past its window by itself', async () => {
      const payment = await authorize(app.client, { amount: '100.00' });
      clock.advance(HOUR_MS + 1000);
      await waitForStatus(app, payment.id, 'EXPIRED');
      await expectHoldReleased(app, payment.id);
    });
  });
});
