import { signGatewayEvent } from '../../src/modules/payments/gateway-event-signature';
import { flagEventChannel } from '../../src/modules/reconciliation/reconciliation-flags.events';
import {
  CapturePaymentDocument,
  RecordPayoutDocument,
  ReconciliationFlagRaisedDocument,
  ReconciliationFlagsDocument,
  RefundPaymentDocument,
} from '../generated/graphql';
import { nodesOf } from '../helpers/connections';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';
import { SocketClient, waitUntil } from '../helpers/ws-client';

/**
 * Gateway-side discrepancies become reconciliation flags without a bank account, raised by the
 * payments module in the transaction of their cause: a payout of another amount than the gateway
 * clearing account held (PAYOUT_MISMATCH), and a signed dispute for more than the books hold or about
 * a payment the books lack (GATEWAY_MISMATCH). The payout itself is recorded either way.
 */
describeEachDatabase('gateway payouts and disputes that disagree with the books are flagged', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  async function flagsOf(client: GraphQLClient, flagKind: 'PAYOUT_MISMATCH' | 'GATEWAY_MISMATCH') {
    const { reconciliationFlags } = await client.ok(ReconciliationFlagsDocument, { first: 50, filter: { kind: flagKind } });
    return { totalCount: reconciliationFlags?.totalCount, flags: nodesOf(reconciliationFlags!) };
  }

  /** Captures `amount` in USD through the simulator (fee 2.9 % + 0.30) and refunds `refund` of it. */
  async function captureAndRefund(client: GraphQLClient, amount: string, refund: string | null) {
    const authorized = await authorize(client, { amount });
    const { capturePayment } = await client.ok(CapturePaymentDocument, { input: { paymentId: authorized.id } });
    if (refund) await client.ok(RefundPaymentDocument, { input: { paymentId: authorized.id, amount: refund, reason: 'returned' } });
    return capturePayment.payment;
  }

  it('a payout of 35.00 against 45.00 captured, 1.61 fee and 10.00 refunded raises PAYOUT_MISMATCH with both amounts, and is still recorded', async () => {
    const tenant = await app.createTenant('Payout story');
    const gateway = await createSimulatorGateway(tenant.client);
    const captured = await captureAndRefund(tenant.client, '45.00', '10.00');
    expect(captured.feeAmount.amount).toBe('1.61');

    const { recordPayout } = await tenant.client.ok(RecordPayoutDocument, { input: { gatewayId: gateway.id, amount: '35.00', currency: 'USD', externalRef: 'po_story' } });
    expect(recordPayout.payout.journalEntry.status).toBe('POSTED');

    const { totalCount, flags } = await flagsOf(tenant.client, 'PAYOUT_MISMATCH');
    expect(totalCount).toBe(1);
    expect(flags[0]).toMatchObject({ kind: 'PAYOUT_MISMATCH', status: 'OPEN', occurrenceCount: 1, bankAccount: null });
    expect(flags[0].details).toMatchObject({
      payoutId: recordPayout.payout.id,
      gatewayId: gateway.id,
      currency: 'USD',
      expectedAmount: '33.39',
      paidAmount: '35.00',
      difference: '1.61',
      clearingBalanceAfter: '-1.61',
      payoutRef: 'po_story',
    });
    // Only the tenant's own flags: the main tenant, with no payouts, sees none.
    expect((await flagsOf(app.client, 'PAYOUT_MISMATCH')).totalCount).toBe(0);
  });

  it('an exact payout raises nothing; a second payout of money already paid out is flagged against 0.00 owed', async () => {
    const tenant = await app.createTenant('Exact payouts');
    const gateway = await createSimulatorGateway(tenant.client);
    await captureAndRefund(tenant.client, '45.00', '10.00');
    await tenant.client.ok(RecordPayoutDocument, { input: { gatewayId: gateway.id, amount: '33.39', currency: 'USD' } });
    expect((await flagsOf(tenant.client, 'PAYOUT_MISMATCH')).totalCount).toBe(0);

    // 100.00 more captured (fee 3.20): owed is what is left in clearing, 96.80, not the 100.00.
    await captureAndRefund(tenant.client, '100.00', null);
    await tenant.client.ok(RecordPayoutDocument, { input: { gatewayId: gateway.id, amount: '96.80', currency: 'USD' } });
    expect((await flagsOf(tenant.client, 'PAYOUT_MISMATCH')).totalCount).toBe(0);

    const { recordPayout } = await tenant.client.ok(RecordPayoutDocument, { input: { gatewayId: gateway.id, amount: '5.00', currency: 'USD' } });
    const { flags } = await flagsOf(tenant.client, 'PAYOUT_MISMATCH');
    expect(flags).toHaveLength(1);
    expect(flags[0].details).toMatchObject({ payoutId: recordPayout.payout.id, expectedAmount: '0.00', paidAmount: '5.00', difference: '5.00' });
  });

  it('delivers a PAYOUT_MISMATCH to a subscriber of reconciliationFlagRaised once the payout has committed', async () => {
    const tenant = await app.createTenant('Payout feed');
    const gateway = await createSimulatorGateway(tenant.client);
    const socket = SocketClient.withKey(app.url, tenant.apiKey);
    try {
      const raised = socket.subscribe(ReconciliationFlagRaisedDocument, { filter: { kind: 'PAYOUT_MISMATCH' } });
      await waitUntil(() => app.runtime.services.pubSub.listenerCount(flagEventChannel(tenant.tenantId)) >= 1, 'the flag subscriber is live', 10_000);
      await captureAndRefund(tenant.client, '45.00', '10.00');
      await tenant.client.ok(RecordPayoutDocument, { input: { gatewayId: gateway.id, amount: '35.00', currency: 'USD' } });
      const { flags } = await flagsOf(tenant.client, 'PAYOUT_MISMATCH');
      expect((await raised.next(10_000)).data?.reconciliationFlagRaised).toMatchObject({
        action: 'RAISED',
        flag: { id: flags[0].id, kind: 'PAYOUT_MISMATCH', status: 'OPEN', bankAccount: null },
      });
    } finally {
      await socket.dispose();
    }
  });

  describe('signed gateway events', () => {
    let tenant: Awaited<ReturnType<TestApp['createTenant']>>;
    let gateway: { id: string; webhookSecret: string };
    let eventSequence = 0;

    beforeAll(async () => {
      tenant = await app.createTenant('Disputes');
      gateway = await createSimulatorGateway(tenant.client);
    });

    async function sendEvent(type: string, data: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
      const body = JSON.stringify({ id: `evt_${kind}_${++eventSequence}`, type, data });
      const signature = signGatewayEvent(gateway.webhookSecret, body, Math.floor(Date.now() / 1000));
      const response = await fetch(new URL(`/webhooks/gateways/${encodeURIComponent(gateway.id)}`, app.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'reckon-signature': signature },
        body,
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }

    it('a dispute for more than the disputable amount is refused and raises GATEWAY_MISMATCH with both amounts; the same dispute again recurs', async () => {
      const payment = await captureAndRefund(tenant.client, '20.00', '5.00');
      const gatewayPaymentId = (await app.runtime.dataSource.query('SELECT gateway_payment_id FROM payments WHERE id = ?', [payment.id]))[0].gateway_payment_id as string;

      const sent = await sendEvent('dispute.opened', { gatewayPaymentId, gatewayDisputeId: 'dp_big', amountMinor: 2000 });
      expect(sent.status).toBe(200);
      expect(sent.body).toMatchObject({ status: 'ignored' });
      const [{ count: disputes }] = await app.runtime.dataSource.query('SELECT COUNT(*) AS count FROM disputes WHERE payment_id = ?', [payment.id]);
      expect(Number(disputes)).toBe(0);

      let { flags } = await flagsOf(tenant.client, 'GATEWAY_MISMATCH');
      expect(flags).toHaveLength(1);
      expect(flags[0]).toMatchObject({ status: 'OPEN', occurrenceCount: 1, bankAccount: null });
      expect(flags[0].details).toMatchObject({
        reason: 'DISPUTE_EXCEEDS_DISPUTABLE',
        gatewayId: gateway.id,
        paymentId: payment.id,
        gatewayDisputeId: 'dp_big',
        currency: 'USD',
        disputedAmount: '20.00',
        disputableAmount: '15.00',
        difference: '5.00',
      });

      // The gateway reports the same dispute under a new event id: one flag, one more occurrence.
      await sendEvent('dispute.opened', { gatewayPaymentId, gatewayDisputeId: 'dp_big', amountMinor: 2000 });
      ({ flags } = await flagsOf(tenant.client, 'GATEWAY_MISMATCH'));
      expect(flags).toHaveLength(1);
      expect(flags[0].occurrenceCount).toBe(2);

      // Within the disputable amount: applied, nothing flagged.
      const applied = await sendEvent('dispute.opened', { gatewayPaymentId, gatewayDisputeId: 'dp_fits', amountMinor: 1500 });
      expect(applied.body).toMatchObject({ status: 'applied' });
      expect((await flagsOf(tenant.client, 'GATEWAY_MISMATCH')).totalCount).toBe(1);
      expect((await flagsOf(app.client, 'GATEWAY_MISMATCH')).totalCount).toBe(0);
    });

    it('an event about a payment the books lack raises GATEWAY_MISMATCH naming it', async () => {
      const before = (await flagsOf(tenant.client, 'GATEWAY_MISMATCH')).totalCount ?? 0;
      const sent = await sendEvent('dispute.opened', { gatewayPaymentId: 'sim_pay_unknown_to_books', gatewayDisputeId: 'dp_x', amountMinor: 700 });
      expect(sent.body).toMatchObject({ status: 'ignored' });
      const { flags } = await flagsOf(tenant.client, 'GATEWAY_MISMATCH');
      expect(flags).toHaveLength(before + 1);
      expect(flags[flags.length - 1].details).toMatchObject({
        reason: 'PAYMENT_UNKNOWN',
        gatewayId: gateway.id,
        gatewayPaymentId: 'sim_pay_unknown_to_books',
        eventType: 'dispute.opened',
        amountMinor: '700',
      });
    });
  });
});
