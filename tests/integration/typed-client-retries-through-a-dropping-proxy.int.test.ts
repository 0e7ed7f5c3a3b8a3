import {
  AccountBalancesDocument,
  AuthorizePaymentDocument,
  CapturePaymentDocument,
  CreateAccountDocument,
  PaymentsDocument,
  PostJournalEntryDocument,
  TrialBalanceDocument,
} from '../../client/src/generated';
import { ReckonClient, ReckonError, type ReckonDocument, type ReckonResult, type RetryInfo } from '../../client/src/reckon-client';
import { runWithWorkers } from '../helpers/concurrency';
import { DroppingHttpProxy, dropByKeySchedule, type ProxyAction } from '../helpers/dropping-http-proxy';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { transfer } from '../helpers/ledger-fixtures';
import { createSimulatorGateway } from '../helpers/payment-fixtures';

const PostEntryWithoutKeyDocument = `mutation PostEntryWithoutKey($input: PostJournalEntryInput!) {
  postJournalEntry(input: $input) { journalEntry { id } }
}` as unknown as ReckonDocument<{ postJournalEntry: { journalEntry: { id: string } } | null }, { input: { lines: ReturnType<typeof transfer> } }>;

describeEachDatabase('a typed client retrying through a proxy that drops connections', (kind) => {
  let app: TestApp;
  let proxy: DroppingHttpProxy;
  let client: ReckonClient;
  let direct: ReckonClient;
  const retries: RetryInfo[] = [];
  let cashId: string;
  let salesId: string;

  beforeAll(async () => {
    app = await startTestApp(kind);
    await createSimulatorGateway(app.client, ['USD']);
    proxy = await DroppingHttpProxy.start(app.url);
    client = new ReckonClient({ url: proxy.url, apiKey: app.apiKey, baseDelayMs: 20, maxDelayMs: 200, onRetry: (retry) => retries.push(retry) });
    direct = new ReckonClient({ url: app.url, apiKey: app.apiKey });
  });

  afterAll(async () => {
    await proxy?.close();
    await app?.close();
  });

  beforeEach(() => {
    proxy.decide = () => 'forward';
    retries.length = 0;
  });

  it('posts every journal entry exactly once although requests and answers are lost', async () => {
    const schedules = dropByKeySchedule(proxy);
    const cash = await client.request(CreateAccountDocument, { input: { code: '1000-cash', name: 'Cash', type: 'ASSET', currency: 'USD' } });
    const sales = await client.request(CreateAccountDocument, { input: { code: '4000-sales', name: 'Sales', type: 'REVENUE', currency: 'USD' } });
    cashId = cash.data.createAccount!.account.id;
    salesId = sales.data.createAccount!.account.id;

    const calls = 18;
    const results: ReckonResult<unknown>[] = [];
    await runWithWorkers(Array.from({ length: calls }, (_, i) => i), 4, async (i) => {
      const result = await client.request(PostJournalEntryDocument, { input: { description: `Sale ${i}`, lines: transfer(cashId, salesId, '1.25') } });
      expect(result.data.postJournalEntry?.journalEntry.status).toBe('POSTED');
      results.push(result);
    });

    // Each call carried one key on every attempt, and the attempts match what the network did to it.
    for (const result of [cash, sales, ...results]) {
      const key = result.idempotencyKey as string;
      const schedule = schedules.get(key) as ProxyAction[];
      const sent = proxy.requestsWithKey(key);
      expect(sent).toHaveLength(schedule.length + 1);
      expect(result.attempts).toBe(schedule.length + 1);
      expect(result.replayed).toBe(schedule.includes('drop-after-forwarding'));
    }
    expect(new Set(results.map((result) => result.idempotencyKey)).size).toBe(calls);
    expect(results.filter((result) => result.replayed).length).toBeGreaterThan(0);
    expect(results.filter((result) => result.attempts > 1 && !result.replayed).length).toBeGreaterThan(0);

    const cashBalances = await direct.request(AccountBalancesDocument, { id: cashId });
    expect(cashBalances.data.account?.balances.posted.net.amount).toBe((calls * 1.25).toFixed(2));
    const trialBalance = await direct.request(TrialBalanceDocument, { currency: 'USD' });
    expect(trialBalance.data.trialBalance?.balanced).toBe(true);
    const [usd] = trialBalance.data.trialBalance?.totals ?? [];
    expect(usd.debits.amount).toBe(usd.credits.amount);
  });

  it('authorizes and captures every payment exactly once although requests and answers are lost', async () => {
    const schedules = dropByKeySchedule(proxy);
    const before = (await direct.request(PaymentsDocument, { first: 1 })).data.payments?.totalCount ?? 0;
    const payments = 9;
    const captured: { authorizeKey: string; captureKey: string; replays: number }[] = [];
    await runWithWorkers(Array.from({ length: payments }, (_, i) => i), 3, async (i) => {
      const amount = `${10 + i}.00`;
      const authorized = await client.request(AuthorizePaymentDocument, { input: { amount, currency: 'USD', paymentToken: 'tok_approve', customerId: `cus_${i}` } });
      const payment = authorized.data.authorizePayment!.payment;
      expect(payment.status).toBe('AUTHORIZED');
      const capture = await client.request(CapturePaymentDocument, { input: { paymentId: payment.id } });
      expect(capture.data.capturePayment?.payment.status).toBe('CAPTURED');
      expect(capture.data.capturePayment?.payment.capturedAmount.amount).toBe(amount);
      captured.push({
        authorizeKey: authorized.idempotencyKey as string,
        captureKey: capture.idempotencyKey as string,
        replays: Number(authorized.replayed) + Number(capture.replayed),
      });
    });

    for (const { authorizeKey, captureKey } of captured) {
      for (const key of [authorizeKey, captureKey]) {
        expect(proxy.requestsWithKey(key)).toHaveLength((schedules.get(key) as ProxyAction[]).length + 1);
      }
    }
    expect(captured.reduce((sum, call) => sum + call.replays, 0)).toBeGreaterThan(0);
    const after = await direct.request(PaymentsDocument, { first: 100 });
    expect(after.data.payments?.totalCount).toBe(before + payments);
    const statuses = after.data.payments?.edges.slice(0, payments).map((edge) => edge.node.status);
    expect(statuses).toEqual(new Array(payments).fill('CAPTURED'));
    const trialBalance = await direct.request(TrialBalanceDocument, { currency: 'USD' });
    expect(trialBalance.data.trialBalance?.balanced).toBe(true);
  });

  it('retries a read whose answer was lost', async () => {
    let dropped = false;
    proxy.decide = () => {
      if (dropped) return 'forward';
      dropped = true;
      return 'drop-after-forwarding';
    };
    const sentBefore = proxy.requests.length;
    const result = await client.request(TrialBalanceDocument, { currency: 'USD' });
    expect(result.data.trialBalance?.balanced).toBe(true);
    expect(result.attempts).toBe(2);
    expect(proxy.requests.length - sentBefore).toBe(2);
  });

  it('surfaces a refusal at once, without a retry, as a ReckonError with code, details and request id', async () => {
    const sentBefore = proxy.requests.length;
    const error = await client
      .request(PostJournalEntryDocument, { input: { lines: transfer(cashId, salesId, '1.001') } })
      .then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(ReckonError);
    const refusal = error as ReckonError;
    expect(refusal.code).toBe('VALIDATION_FAILED');
    expect(refusal.retryable).toBe(false);
    expect(refusal.details).toMatchObject({ field: 'lines[0].amount' });
    expect(refusal.requestId).toMatch(/^req_/);
    expect(refusal.attempts).toBe(1);
    expect(proxy.requests.length - sentBefore).toBe(1);
    expect(proxy.requestsWithKey(refusal.idempotencyKey as string)).toHaveLength(1);
    expect(retries).toEqual([]);
  });

  it('never resends a mutation that carries no idempotency key: its lost answer may hide a write', async () => {
    const entriesBefore = await cashEntryCount();
    const sentBefore = proxy.requests.length;
    proxy.decide = () => 'drop-after-forwarding';
    const error = await client
      .request(PostEntryWithoutKeyDocument, { input: { lines: transfer(cashId, salesId, '2.00') } })
      .then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(ReckonError);
    expect((error as ReckonError).code).toBe('NETWORK_ERROR');
    expect((error as ReckonError).retryable).toBe(true);
    expect((error as ReckonError).attempts).toBe(1);
    expect(proxy.requests.length - sentBefore).toBe(1);
    // The one attempt did commit: a resend without a key would have posted it twice.
    expect(await cashEntryCount()).toBe(entriesBefore + 1);
  });

  it('waits out IDEMPOTENCY_KEY_IN_USE and gets the first call’s answer, with the same key', async () => {
    const key = `double-submit-${kind}-${Date.now()}`;
    const input = { amount: '7.00', currency: 'USD', paymentToken: 'tok_slow' };
    // The default backoff: its retries span the simulator's slow authorization (SIMULATOR_SLOW_MS).
    const patient = new ReckonClient({ url: proxy.url, apiKey: app.apiKey, onRetry: (retry) => retries.push(retry) });
    const first = patient.request(AuthorizePaymentDocument, { input }, { idempotencyKey: key });
    const deadline = Date.now() + 10_000;
    while (proxy.requestsWithKey(key).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const second = patient.request(AuthorizePaymentDocument, { input }, { idempotencyKey: key });
    const [a, b] = await Promise.all([first, second]);
    expect(a.data.authorizePayment?.payment.id).toBe(b.data.authorizePayment?.payment.id);
    expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
    expect(b.attempts).toBeGreaterThan(1);
    expect(retries.map((retry) => [retry.error.code, retry.idempotencyKey])).toContainEqual(['IDEMPOTENCY_KEY_IN_USE', key]);
    expect(proxy.requestsWithKey(key).every((request) => request.idempotencyKey === key)).toBe(true);
  });

  async function cashEntryCount(): Promise<number> {
    const query = `query CashEntries($accountId: ID!) { journalEntries(first: 1, filter: { accountId: $accountId }) { totalCount } }` as unknown as ReckonDocument<
      { journalEntries: { totalCount: number } | null },
      { accountId: string }
    >;
    const { data } = await direct.request(query, { accountId: cashId });
    return data.journalEntries?.totalCount ?? -1;
  }
});
