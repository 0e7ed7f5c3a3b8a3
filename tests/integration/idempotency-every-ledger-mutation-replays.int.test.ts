import {
  IdempotentCreateAccountDocument,
  IdempotentPostPendingJournalEntryDocument,
  IdempotentReverseJournalEntryDocument,
  IdempotentVoidPendingJournalEntryDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, errorCodeOf, expectFresh, expectReplayOf, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';

type Account = Awaited<ReturnType<typeof createAccount>>;

/**
 * Every ledger mutation that creates a record or moves money takes the same key and replays the same
 * way: one effect, and the first answer again, marked as a replay.
 */
describeEachDatabase('keyed ledger mutations besides postJournalEntry', (kind) => {
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

  it('createAccount creates one account and replays the stored answer, even after the account has moved', async () => {
    const key = newIdempotencyKey('create-account');
    const code = `till-${key}`;
    const variables = { input: { code, name: 'Till 4', type: 'ASSET' as const, currency: 'USD', noOverdraft: true }, idempotencyKey: key };
    const send = () => sendKeyed(app.url, app.apiKey, IdempotentCreateAccountDocument, variables);

    const first = await send();
    expectFresh(first);
    expectReplayOf(first, await send(), key);
    expect(await countRows(app.runtime.dataSource, 'accounts', 'code = ?', [code])).toBe(1);

    // The replay is the first answer as it was sent, not the account as it is now.
    await postTransfer(app.client, String(first.data?.createAccount!.account.id), revenue.id, '3.00');
    expectReplayOf(first, await send(), key);
    // Without the key, the same code is a new request, refused by the business rule.
    expect(errorCodeOf(await sendKeyed(app.url, app.apiKey, IdempotentCreateAccountDocument, { input: variables.input }))).toBe('ALREADY_EXISTS');
  });

  it('postPendingJournalEntry posts once and replays', async () => {
    const pending = await postTransfer(app.client, cash.id, revenue.id, '10.00', { status: 'PENDING' });
    const key = newIdempotencyKey('capture');
    const variables = { input: { id: pending.id, lines: transfer(cash.id, revenue.id, '7.50') }, idempotencyKey: key };
    const send = () => sendKeyed(app.url, app.apiKey, IdempotentPostPendingJournalEntryDocument, variables);

    const first = await send();
    expectFresh(first);
    expect(first.data?.postPendingJournalEntry!.journalEntry.status).toBe('POSTED');
    const after = await takeLedgerSnapshot(app.runtime.dataSource);
    expectReplayOf(first, await send(), key);
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(after);
    // The same capture under a new key is a new request: the entry is no longer pending.
    const again = await sendKeyed(app.url, app.apiKey, IdempotentPostPendingJournalEntryDocument, {
      ...variables,
      idempotencyKey: newIdempotencyKey('capture'),
    });
    expect(errorCodeOf(again)).toBe('INVALID_STATE_TRANSITION');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('voidPendingJournalEntry voids once and replays', async () => {
    const pending = await postTransfer(app.client, cash.id, revenue.id, '4.00', { status: 'PENDING' });
    const key = newIdempotencyKey('void');
    const send = () => sendKeyed(app.url, app.apiKey, IdempotentVoidPendingJournalEntryDocument, { input: { id: pending.id }, idempotencyKey: key });

    const first = await send();
    expectFresh(first);
    expect(first.data?.voidPendingJournalEntry!.journalEntry.status).toBe('VOIDED');
    const after = await takeLedgerSnapshot(app.runtime.dataSource);
    expectReplayOf(first, await send(), key);
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(after);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('reverseJournalEntry reverses once and replays', async () => {
    const original = await postTransfer(app.client, cash.id, revenue.id, '6.00');
    const key = newIdempotencyKey('reverse');
    const send = () =>
      sendKeyed(app.url, app.apiKey, IdempotentReverseJournalEntryDocument, {
        input: { id: original.id, description: 'refund' },
        idempotencyKey: key,
      });

    const first = await send();
    expectFresh(first);
    expect(first.data?.reverseJournalEntry!.journalEntry.reversalOf?.id).toBe(original.id);
    expectReplayOf(first, await send(), key);
    expectReplayOf(first, await send(), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'reversal_of_id = ?', [original.id])).toBe(1);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
