import { IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, expectFresh, expectReplayOf, idempotencyRows, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

/**
 * A key is scoped to (tenant, credential, mutation field): two tenants, or two API keys of one tenant,
 * that happen to pick the same key make two independent requests, each with its own entry and replay.
 */
describeEachDatabase('the same idempotency key from another tenant or another credential', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is independent for another tenant', async () => {
    const other = await app.createTenant('Globex');
    const key = newIdempotencyKey('shared');
    const mine = { cash: await createAccount(app.client, { type: 'ASSET' }), revenue: await createAccount(app.client, { type: 'REVENUE' }) };
    const theirs = { cash: await createAccount(other.client, { type: 'ASSET' }), revenue: await createAccount(other.client, { type: 'REVENUE' }) };
    const variables = (accounts: typeof mine) => ({
      input: { lines: transfer(accounts.cash.id, accounts.revenue.id, '7.00'), description: 'same key, two tenants' },
      idempotencyKey: key,
    });

    const first = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables(mine));
    const second = await sendKeyed(app.url, other.apiKey, IdempotentPostJournalEntryDocument, variables(theirs));
    expectFresh(first);
    expectFresh(second);
    const ids = [first, second].map((r) => r.data?.postJournalEntry!.journalEntry.id);
    expect(ids[0]).not.toBe(ids[1]);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND id = ?', [app.tenantId, ids[0]])).toBe(1);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND id = ?', [other.tenantId, ids[1]])).toBe(1);

    expectReplayOf(first, await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables(mine)), key);
    expectReplayOf(second, await sendKeyed(app.url, other.apiKey, IdempotentPostJournalEntryDocument, variables(theirs)), key);
    expect((await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.tenant_id).sort()).toEqual([app.tenantId, other.tenantId].sort());
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('is independent for another API key of the same tenant, even with the same arguments', async () => {
    const { secret: secondKey } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'second terminal' });
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const key = newIdempotencyKey('terminal');
    const description = `same key, two credentials ${key}`;
    const variables = { input: { lines: transfer(cash.id, revenue.id, '3.00'), description }, idempotencyKey: key };

    const first = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables);
    const second = await sendKeyed(app.url, secondKey, IdempotentPostJournalEntryDocument, variables);
    expectFresh(first);
    expectFresh(second);
    expect(second.data?.postJournalEntry!.journalEntry.id).not.toBe(first.data?.postJournalEntry!.journalEntry.id);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(2);

    expectReplayOf(first, await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables), key);
    expectReplayOf(second, await sendKeyed(app.url, secondKey, IdempotentPostJournalEntryDocument, variables), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(2);
    const credentials = (await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.credential_id);
    expect(new Set(credentials).size).toBe(2);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
