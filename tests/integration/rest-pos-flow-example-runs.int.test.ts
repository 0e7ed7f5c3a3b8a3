import { ReckonProblem, runPosFlow } from '../../examples/rest-pos-flow';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { originOf } from '../helpers/rest-client';

/**
 * examples/rest-pos-flow.ts is the REST client the README points POS integrators to: CI type-checks
 * it against the types generated from the OpenAPI document, and this suite runs it against a live
 * server, so the example cannot rot into something that compiles but no longer works.
 */
describeEachDatabase('the example REST POS flow runs against a live server', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
    await createSimulatorGateway(app.client);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('authorizes after a declined card, captures part, replays the capture, refunds part, reads the payment and pages through the list', async () => {
    // Three earlier sales, so that with two to a page the list takes more than one page.
    const earlier = [];
    for (const amount of ['1.00', '2.00', '3.00']) earlier.push(await authorize(app.client, { amount, capture: true }));

    const result = await runPosFlow({
      baseUrl: originOf(app.url),
      apiKey: app.apiKey,
      orderId: 'table-12-0001',
      paymentTokens: ['tok_decline_insufficient_funds', 'tok_approve'],
      pageSize: 2,
    });

    expect(result.declines).toEqual([{ token: 'tok_decline_insufficient_funds', declineCode: 'INSUFFICIENT_FUNDS' }]);
    expect(result.authorized).toMatchObject({ status: 'AUTHORIZED', amount: { amount: '25.00', currency: 'USD' }, capturedAmount: { amount: '0.00', currency: 'USD' } });
    expect(result.captured).toMatchObject({ id: result.authorized.id, status: 'CAPTURED', capturedAmount: { amount: '20.00', currency: 'USD' } });
    expect(result.captureReplayed).toBe(true);
    expect(result.refund).toMatchObject({ amount: { amount: '5.00', currency: 'USD' }, payment: { id: result.authorized.id } });
    expect(result.payment).toMatchObject({
      id: result.authorized.id,
      capturedAmount: { amount: '20.00', currency: 'USD' },
      refundedAmount: { amount: '5.00', currency: 'USD' },
      refundableAmount: { amount: '15.00', currency: 'USD' },
    });
    // The declined attempt is a payment too (FAILED): five in all, newest first, on three pages of two.
    expect(result.pages).toBe(3);
    expect(result.listedPaymentIds).toHaveLength(5);
    expect(new Set(result.listedPaymentIds).size).toBe(5);
    expect(result.listedPaymentIds[0]).toBe(result.authorized.id);
    expect(result.listedPaymentIds.slice(-3)).toEqual(earlier.map((payment) => payment.id).reverse());

    // Run again with the same order number (a terminal that restarted mid-flow): every step replays,
    // so nothing is charged, captured or refunded twice.
    const again = await runPosFlow({ baseUrl: originOf(app.url), apiKey: app.apiKey, orderId: 'table-12-0001', paymentTokens: ['tok_decline_insufficient_funds', 'tok_approve'], pageSize: 2 });
    expect(again.authorized.id).toBe(result.authorized.id);
    expect(again.refund.id).toBe(result.refund.id);
    expect(again.listedPaymentIds).toEqual(result.listedPaymentIds);
  });

  it('throws a typed problem for a refusal it does not handle', async () => {
    const refused = runPosFlow({ baseUrl: originOf(app.url), apiKey: 'rk_live_not_a_key', paymentTokens: ['tok_approve'] });
    await expect(refused).rejects.toBeInstanceOf(ReckonProblem);
    await expect(refused).rejects.toMatchObject({ code: 'UNAUTHENTICATED', status: 401, problem: { status: 401, retryable: false } });
  });
});
