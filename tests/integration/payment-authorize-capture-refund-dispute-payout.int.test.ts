import {
  CapturePaymentDocument,
  CloseDisputeDocument,
  OpenDisputeDocument,
  RecordPayoutDocument,
  RefundPaymentDocument,
  SubmitDisputeEvidenceDocument,
  TrialBalanceDocument,
} from '../generated/graphql';
import { nodesOf } from '../helpers/connections';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway, readPayment } from '../helpers/payment-fixtures';

/**
 * The whole happy path of a card sale through the simulator: authorize, capture for less, refund in
 * part, a dispute lost, a payout to the bank. Each step's amounts and postings are checked, and the
 * books balance at the end.
 */
describeEachDatabase('a card sale from authorization to payout', (kind) => {
  let app: TestApp;
  let gatewayId: string;
  beforeAll(async () => {
    app = await startTestApp(kind);
    gatewayId = (await createSimulatorGateway(app.client)).id;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('holds on authorize, posts on capture with the fee, refunds, loses a dispute and pays out', async () => {
    const authorized = await authorize(app.client, { amount: '100.00', customerId: 'cus_1' });
    expect(authorized).toMatchObject({ status: 'AUTHORIZED', card: { brand: 'visa', last4: '4242' }, amount: { amount: '100.00' } });

    const { capturePayment } = await app.client.ok(CapturePaymentDocument, { input: { paymentId: authorized.id, amount: '80.00' } });
    expect(capturePayment.payment).toMatchObject({ status: 'CAPTURED', capturedAmount: { amount: '80.00' }, refundableAmount: { amount: '80.00' } });
    // 2.9% of 80.00 is 2.32, plus 0.30.
    expect(capturePayment.payment.feeAmount.amount).toBe('2.62');

    const { refundPayment } = await app.client.ok(RefundPaymentDocument, { input: { paymentId: authorized.id, amount: '30.00', reason: 'returned' } });
    expect(refundPayment.refund).toMatchObject({ status: 'SUCCEEDED', amount: { amount: '30.00' } });
    expect(refundPayment.payment.refundableAmount.amount).toBe('50.00');

    const { openDispute } = await app.client.ok(OpenDisputeDocument, { input: { paymentId: authorized.id, reason: 'fraudulent', fee: '15.00' } });
    expect(openDispute.dispute).toMatchObject({ status: 'OPEN', amount: { amount: '50.00' }, fee: { amount: '15.00' } });
    expect(openDispute.payment.refundableAmount.amount).toBe('0.00');
    const { submitDisputeEvidence } = await app.client.ok(SubmitDisputeEvidenceDocument, { input: { disputeId: openDispute.dispute.id, evidence: 'signed receipt' } });
    expect(submitDisputeEvidence.dispute.status).toBe('UNDER_REVIEW');
    const { closeDispute } = await app.client.ok(CloseDisputeDocument, { input: { disputeId: openDispute.dispute.id, outcome: 'LOST' } });
    expect(closeDispute.payment).toMatchObject({ disputedAmount: { amount: '0.00' }, disputeLostAmount: { amount: '50.00' } });

    const { recordPayout } = await app.client.ok(RecordPayoutDocument, {
      input: { gatewayId, amount: '20.00', currency: 'USD', externalRef: 'po_1' },
    });
    expect(recordPayout.payout.journalEntry.status).toBe('POSTED');

    const payment = await readPayment(app.client, authorized.id);
    expect(payment.events.map((event) => event.type)).toEqual([
      'AUTHORIZATION_REQUESTED',
      'AUTHORIZED',
      'CAPTURE_REQUESTED',
      'CAPTURED',
      'REFUND_REQUESTED',
      'REFUNDED',
      'DISPUTE_OPENED',
      'DISPUTE_EVIDENCE_SUBMITTED',
      'DISPUTE_LOST',
    ]);
    // Authorization (posted by the capture), fee, refund, dispute opened, dispute fee, dispute lost.
    expect(payment.journalEntries).toHaveLength(6);
    const { trialBalance } = await app.client.ok(TrialBalanceDocument, {});
    expect(trialBalance.balanced).toBe(true);
    const net = (code: string) => {
      const line = nodesOf(trialBalance.lines).find((l) => l.account.code === code);
      return line ? Number(line.debit.amount) - Number(line.credit.amount) : 0;
    };
    // Clearing: +80 captured − 2.62 fee − 30 refund − 50 disputed − 15 dispute fee − 20 payout.
    expect(net('SYS-1100-USD')).toBeCloseTo(-37.62, 2);
    expect(net('SYS-1000-USD')).toBeCloseTo(20, 2);
    expect(net('SYS-4000-USD')).toBeCloseTo(-80, 2);
    expect(net('SYS-6100-USD')).toBeCloseTo(50, 2);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
