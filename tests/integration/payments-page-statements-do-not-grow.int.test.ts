import { CapturePaymentDocument, OpenDisputeDocument, PaymentsDashboardDocument, RefundPaymentDocument } from '../generated/graphql';
import { nodesOf } from '../helpers/connections';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';

const PAYMENTS = 60;

/**
 * A dashboard's payments page asks, for every payment, for its gateway, refunds (with their entries),
 * disputes, timeline (with each event's entries) and journal entries with their postings and accounts.
 * DataLoaders fetch each level with one statement for the whole page, so the page of 60 runs about as
 * few statements as the page of 3 (the newest three: one refunded, one disputed, one only authorized,
 * so every loader runs on each page).
 */
describeEachDatabase('the payments page runs as few statements for 60 payments as for 3', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(kind);
    await createSimulatorGateway(app.client);
    for (let i = 0; i < PAYMENTS; i += 1) {
      const payment = await authorize(app.client, { amount: `${10 + i}.00` });
      if (i % 3 === 0) continue;
      await app.client.ok(CapturePaymentDocument, { input: { paymentId: payment.id } });
      if (i % 3 === 1) await app.client.ok(RefundPaymentDocument, { input: { paymentId: payment.id, amount: '1.00' } });
      else await app.client.ok(OpenDisputeDocument, { input: { paymentId: payment.id, reason: 'fraudulent', amount: '2.00' } });
    }
  });
  afterAll(async () => {
    await app?.close();
  });

  async function page(first: number) {
    const before = app.runtime.statements.count;
    const result = await app.client.request(PaymentsDashboardDocument, { first });
    const statements = app.runtime.statements.count - before;
    expect(result.errors).toBeUndefined();
    return { statements, data: result.data as NonNullable<typeof result.data> };
  }

  it('counts a bounded number of statements for 3, 10 and 60 payments', async () => {
    await page(10); // warm-up: nothing below may depend on a first request
    const three = await page(3);
    const ten = await page(10);
    const all = await page(PAYMENTS);
    expect(all.data.payments!.edges).toHaveLength(PAYMENTS);
    const nodes = nodesOf(all.data.payments!);
    // The page holds every kind of nested data, so every loader ran (the counts too).
    expect(nodes.some((node) => node.refunds.totalCount > 0 && node.refunds.edges[0].node.journalEntry)).toBe(true);
    expect(nodes.some((node) => node.disputes.edges.length > 0 && node.disputes.totalCount === node.disputes.edges.length)).toBe(true);
    expect(nodes.every((node) => node.events.edges.length >= 2 && node.journalEntries.edges.length >= 1)).toBe(true);
    expect(nodes.every((node) => node.events.totalCount === node.events.edges.length)).toBe(true);
    // Journal entries (and below them postings and accounts) are asked for from several paths: refunds,
    // the timeline, the payment itself. Loads whose parents' rows arrive in different ticks form separate
    // batches, so the exact count varies by a few from run to run, but it is bounded by the levels of
    // the query, never by the number of payments: an N+1 anywhere would add at least 60 here. (On a loaded
    // machine a level's loads may split into one more batch: 16 was seen once, so the bound leaves room.)
    for (const count of [three.statements, ten.statements, all.statements]) expect(count).toBeLessThanOrEqual(20);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
