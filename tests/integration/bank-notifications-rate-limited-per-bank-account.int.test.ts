import { signRequestBody } from '../../src/common/request-signature';
import { AccountType } from '../../src/modules/ledger/ledger.types';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';

/**
 * The notification route has no credential, so RATE_LIMIT_PER_SECOND applies per bank account, as it
 * does per gateway for gateway events: a burst for one account is answered 429 with Retry-After past
 * the limit and stores nothing for the refused ones, and another bank account is not held back by it.
 */
describeEachDatabase('bank notifications: limited per bank account', (kind) => {
  let app: TestApp;
  let sequence = 0;
  beforeAll(async () => {
    // Ten at once against three a second: even a burst that straddles two seconds has four refused.
    app = await startTestApp(kind, { env: { RATE_LIMIT_PER_SECOND: '3' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  /** Set up through the services: GraphQL calls would spend the API key's allowance of three a second. */
  async function bankAccount(): Promise<{ id: string; secret: string }> {
    sequence += 1;
    const services = app.runtime.services;
    const ledger = await services.ledger.createAccount(app.tenantId, { code: `1010-${kind}-${sequence}`, name: 'Bank', type: AccountType.ASSET, currency: 'EUR' });
    const { bankAccount: account, notificationSecret } = await services.reconciliation.createBankAccount(app.tenantId, {
      name: `Limited ${sequence}`,
      accountNumber: `LIMIT${process.pid}X${sequence}`,
      currency: 'EUR',
      ledgerAccountId: ledger.id,
    });
    return { id: account.id, secret: notificationSecret };
  }

  async function send(account: { id: string; secret: string }, transactionId: string): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
    const body = JSON.stringify({ transactionId, amount: '1.00', currency: 'EUR', bookingDate: '2026-01-12' });
    const response = await fetch(new URL(`/bank-accounts/${account.id}/notifications`, app.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'reckon-signature': signRequestBody(account.secret, body, Math.floor(Date.now() / 1000)) },
      body,
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
  }

  it('answers 429 with Retry-After past the limit, for that bank account only', async () => {
    const first = await bankAccount();
    const second = await bankAccount();
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => send(first, `TX-BURST-${i}`)));
    const limited = burst.filter((answer) => answer.status === 429);
    const accepted = burst.filter((answer) => answer.status === 200);
    expect(limited.length + accepted.length).toBe(10);
    expect(limited.length).toBeGreaterThan(0);
    for (const answer of limited) {
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
      expect(answer.body).toMatchObject({ error: { code: 'RATE_LIMITED', retryable: true } });
    }
    // Refused notifications stored nothing: the bank's retry stores them later.
    const [{ count }] = await app.runtime.dataSource.query('SELECT COUNT(*) AS count FROM statement_lines WHERE bank_account_id = ?', [first.id]);
    expect(Number(count)).toBe(accepted.length);
    expect((await send(second, 'TX-OTHER')).status).toBe(200);
  });
});
