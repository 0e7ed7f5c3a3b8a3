import { IdempotentPostJournalEntriesDocument, IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { errorCodeOf, expectFresh, expectReplayOf, idempotencyRows, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';

type Account = Awaited<ReturnType<typeof createAccount>>;

/**
 * Bad input is refused before anything is decided, so it is not stored: the client fixes the input
 * and retries with the same key, and that retry is the request that counts.
 */
describeEachDatabase('a validation error under an idempotency key', (kind) => {
  let app: TestApp;
  let cash: Account;
  let revenue: Account;

  beforeAll(async () => {
    app = await startTestApp(kind);
    cash = await createAccount(app.client, { type: 'ASSET' });
    revenue = await createAccount(app.client, { type: 'REVENUE' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is not stored: the fixed input succeeds with the same key, and then replays', async () => {
    const key = newIdempotencyKey('unbalanced');
    const send = (lines: ReturnType<typeof transfer>) =>
      sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, { input: { lines, description: 'fixed on retry' }, idempotencyKey: key });
    const ledgerBefore = await takeLedgerSnapshot(app.runtime.dataSource);

    const unbalanced = [
      { accountId: cash.id, direction: 'DEBIT' as const, amount: '10.00', currency: 'USD' },
      { accountId: revenue.id, direction: 'CREDIT' as const, amount: '9.99', currency: 'USD' },
    ];
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const refused = await send(unbalanced);
      expect(errorCodeOf(refused)).toBe('VALIDATION_FAILED');
      expect(refused.errors?.[0].message).toMatch(/unbalanced entry/);
      expect(refused.extensions?.idempotency).toBeUndefined();
      expect(await idempotencyRows(app.runtime.dataSource, key)).toEqual([]);
    }
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(ledgerBefore);

    const fixed = await send(transfer(cash.id, revenue.id, '10.00'));
    expectFresh(fixed);
    expectReplayOf(fixed, await send(transfer(cash.id, revenue.id, '10.00')), key);
    // The stored request is the fixed one: the bad input is now another request under this key.
    expect(errorCodeOf(await send(unbalanced))).toBe('IDEMPOTENCY_KEY_REUSED');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('is not stored for a batch either', async () => {
    const key = newIdempotencyKey('batch-unbalanced');
    const good = { lines: transfer(cash.id, revenue.id, '1.00'), description: 'batch entry' };
    const bad = { ...good, lines: [good.lines[0], { ...good.lines[1], amount: '0.50' }] };
    const send = (entries: (typeof good)[]) =>
      sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntriesDocument, { input: { entries }, idempotencyKey: key });

    const refused = await send([good, bad]);
    expect(errorCodeOf(refused)).toBe('VALIDATION_FAILED');
    expect(refused.errors?.[0].message).toMatch(/^entries\[1\]\.lines/);
    expect(await idempotencyRows(app.runtime.dataSource, key)).toEqual([]);

    const fixed = await send([good, good]);
    expectFresh(fixed);
    expect(fixed.data?.postJournalEntries!.journalEntries).toHaveLength(2);
    expectReplayOf(fixed, await send([good, good]), key);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
