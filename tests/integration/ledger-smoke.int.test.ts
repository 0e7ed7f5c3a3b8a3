import { AccountDocument, TrialBalanceDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

describeEachDatabase('a sale posted between two accounts', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('moves both balances and keeps the trial balance at zero', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    await postTransfer(app.client, cash.id, revenue.id, '12.34');
    const { account } = await app.client.ok(AccountDocument, { id: cash.id });
    expect(account.balances.posted.net).toEqual({ amount: '12.34', minorUnits: '1234', currency: 'USD' });
    const { trialBalance } = await app.client.ok(TrialBalanceDocument, {});
    expect(trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
