import { setRootFieldsOf } from '../helpers/graphql-client';
import { paymentUpdatedChannel } from '../../src/modules/payments/payments.events';
import {
  CapturePaymentDocument,
  type PaymentUpdatedSubscription,
  PaymentUpdatedDocument,
  RefundPaymentDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway, readPayment } from '../helpers/payment-fixtures';
import { SocketClient, type SubscriptionProbe, waitUntil } from '../helpers/ws-client';

/**
 * paymentUpdated over WebSocket: a credential with payments:read receives its own tenant's payments as
 * each change commits (authorize, capture, refund), never another tenant's; paymentId narrows the
 * stream to one payment; a credential without payments:read is refused with FORBIDDEN.
 */

type Update = PaymentUpdatedSubscription['paymentUpdated'];

/** Reads results until one matches, failing on any error; returns every update read, in order. */
async function takeUntil(probe: SubscriptionProbe<PaymentUpdatedSubscription>, done: (update: Update) => boolean): Promise<Update[]> {
  const updates: Update[] = [];
  for (;;) {
    const result = await probe.next();
    expect(result.errors).toBeUndefined();
    const update = result.data?.paymentUpdated;
    if (!update) throw new Error(`A result without data: ${JSON.stringify(result)}`);
    updates.push(update);
    if (done(update)) return updates;
  }
}

/** The updates as milestones: one line per change of status or amounts (steps under way repeat the last one). */
function milestones(updates: Update[]): string[] {
  const lines = updates.map((u) => `${u.id} ${u.status} captured ${u.capturedAmount.amount} refunded ${u.refundedAmount.amount}`);
  return lines.filter((line, i) => i === 0 || line !== lines[i - 1]);
}

describeEachDatabase('paymentUpdated over WebSocket', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  const sockets: SocketClient[] = [];

  function connect(credential: string): SocketClient {
    const socket = SocketClient.withKey(app.url, credential);
    sockets.push(socket);
    return socket;
  }

  async function keyWithScopes(tenant: TestTenant, scopes: string[]): Promise<string> {
    return (await app.runtime.services.auth.createApiKey(tenant.tenantId, { name: `ws ${scopes.join(' ')}`, scopes })).secret;
  }

  /** Until this many paymentUpdated streams of the tenant are live, so nothing done afterwards is missed. */
  function subscribersLive(tenantId: string, count: number): Promise<void> {
    return waitUntil(
      () => app.runtime.services.pubSub.listenerCount(paymentUpdatedChannel(tenantId)) >= count,
      `${count} paymentUpdated subscribers of ${tenantId} are live`,
    );
  }

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Other');
    await createSimulatorGateway(app.client);
    await createSimulatorGateway(other.client);
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
    for (const tenantId of [app.tenantId, other.tenantId]) {
      await waitUntil(() => app.runtime.services.pubSub.listenerCount(paymentUpdatedChannel(tenantId)) === 0, 'every stream is detached');
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  it('streams authorize, capture and refund of its tenant’s payment to a payments:read key, as committed', async () => {
    const probe = connect(await keyWithScopes(app, ['payments:read'])).subscribe(PaymentUpdatedDocument, {});
    await subscribersLive(app.tenantId, 1);

    const payment = await authorize(app.client, { amount: '100.00' });
    await app.client.ok(CapturePaymentDocument, { input: { paymentId: payment.id } });
    await app.client.ok(RefundPaymentDocument, { input: { paymentId: payment.id, amount: '30.00' } });

    const updates = await takeUntil(probe, (update) => update.refundedAmount.amount === '30.00');
    expect(milestones(updates)).toEqual([
      `${payment.id} AUTHORIZED captured 0.00 refunded 0.00`,
      `${payment.id} CAPTURED captured 100.00 refunded 0.00`,
      `${payment.id} CAPTURED captured 100.00 refunded 30.00`,
    ]);
    // The last update is the payment as it now is.
    const now = await readPayment(app.client, payment.id);
    expect(updates[updates.length - 1]).toEqual({
      id: now.id,
      status: now.status,
      capturedAmount: now.capturedAmount,
      refundedAmount: now.refundedAmount,
    });
    expect(probe.unread).toBe(0);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('never gives one tenant’s subscriber another tenant’s payments, even when it names one by id', async () => {
    const socketA = connect(await keyWithScopes(app, ['payments:read']));
    const subscriberA = socketA.subscribe(PaymentUpdatedDocument, {});
    const subscriberB = connect(await keyWithScopes(other, ['payments:read'])).subscribe(PaymentUpdatedDocument, {});
    await subscribersLive(app.tenantId, 1);
    await subscribersLive(other.tenantId, 1);

    const b1 = await authorize(other.client, { amount: '5.00', capture: true });
    const a1 = await authorize(app.client, { amount: '7.00' });
    // A asks for B's payment by id: its stream is A's, so it never matches.
    const probingA = socketA.subscribe(PaymentUpdatedDocument, { paymentId: b1.id });
    await subscribersLive(app.tenantId, 2);
    await other.client.ok(RefundPaymentDocument, { input: { paymentId: b1.id, amount: '1.00' } });
    const b2 = await authorize(other.client, { amount: '9.00' });
    const a2 = await authorize(app.client, { amount: '11.00' });

    const seenByA = await takeUntil(subscriberA, (update) => update.id === a2.id && update.status === 'AUTHORIZED');
    expect([...new Set(seenByA.map((update) => update.id))]).toEqual([a1.id, a2.id]);
    const seenByB = await takeUntil(subscriberB, (update) => update.id === b2.id && update.status === 'AUTHORIZED');
    expect([...new Set(seenByB.map((update) => update.id))]).toEqual([b1.id, b2.id]);
    expect(milestones(seenByB.filter((update) => update.id === b1.id))).toEqual([
      `${b1.id} AUTHORIZED captured 0.00 refunded 0.00`,
      `${b1.id} CAPTURED captured 5.00 refunded 0.00`,
      `${b1.id} CAPTURED captured 5.00 refunded 1.00`,
    ]);
    // B's refund of b1 and b2 came before a2, which A's streams have both seen by now.
    expect(probingA.results).toEqual([]);
    expect(subscriberA.unread).toBe(0);
  });

  it('narrows the stream to one payment with paymentId', async () => {
    const watched = await authorize(app.client, { amount: '20.00' });
    const probe = connect(await keyWithScopes(app, ['payments:read'])).subscribe(PaymentUpdatedDocument, { paymentId: watched.id });
    await subscribersLive(app.tenantId, 1);

    const unwatched = await authorize(app.client, { amount: '30.00' });
    await app.client.ok(CapturePaymentDocument, { input: { paymentId: unwatched.id } });
    await app.client.ok(CapturePaymentDocument, { input: { paymentId: watched.id, amount: '15.00' } });
    await app.client.ok(RefundPaymentDocument, { input: { paymentId: unwatched.id, amount: '5.00' } });
    await app.client.ok(RefundPaymentDocument, { input: { paymentId: watched.id, amount: '2.00' } });

    const updates = await takeUntil(probe, (update) => update.refundedAmount.amount === '2.00');
    expect(updates.every((update) => update.id === watched.id)).toBe(true);
    expect(milestones(updates)).toEqual([
      // The capture's first step (recorded as under way) still shows the authorization.
      ...(updates[0].status === 'AUTHORIZED' ? [`${watched.id} AUTHORIZED captured 0.00 refunded 0.00`] : []),
      `${watched.id} CAPTURED captured 15.00 refunded 0.00`,
      `${watched.id} CAPTURED captured 15.00 refunded 2.00`,
    ]);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses paymentUpdated to a key without payments:read (FORBIDDEN) and streams to one with payments:write', async () => {
    for (const scopes of [['ledger:read'], ['ledger:write', 'invoices:write', 'reconciliation:read']]) {
      const refused = connect(await keyWithScopes(app, scopes)).subscribe(PaymentUpdatedDocument, {});
      const [result] = await refused.take(1);
      expect(setRootFieldsOf(result.data)).toBeNull();
      expect(result.errors).toEqual([
        expect.objectContaining({
          message: 'This credential lacks the "payments:read" scope',
          path: ['paymentUpdated'],
          extensions: expect.objectContaining({ code: 'FORBIDDEN', details: { requiredScope: 'payments:read' }, requestId: expect.stringMatching(/^req_/) }),
        }),
      ]);
      expect(await refused.ended()).toEqual({ completed: true });
    }
    expect(app.runtime.services.pubSub.listenerCount(paymentUpdatedChannel(app.tenantId))).toBe(0);

    const writer = connect(await keyWithScopes(app, ['payments:write'])).subscribe(PaymentUpdatedDocument, {});
    await subscribersLive(app.tenantId, 1);
    const payment = await authorize(app.client, { amount: '3.00' });
    const [update] = await takeUntil(writer, (u) => u.id === payment.id);
    expect(update).toMatchObject({ id: payment.id, status: 'AUTHORIZED' });
  });
});
