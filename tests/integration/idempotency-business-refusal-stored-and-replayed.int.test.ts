import { setRootFieldsOf } from '../helpers/graphql-client';
import { IdempotentPostJournalEntriesDocument, IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import {
  countRows,
  errorCodeOf,
  errorWithoutRequestId,
  expectFresh,
  idempotencyRows,
  type KeyedResult,
  newIdempotencyKey,
  sendKeyed,
} from '../helpers/idempotency-http';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';

/** A refused request replays its refusal: the same error, marked as a replay. */
function expectRefusalReplayOf(first: KeyedResult<unknown>, replay: KeyedResult<unknown>, key: string): void {
  expect(setRootFieldsOf(replay.data)).toBeNull();
  expect(replay.errors?.map(errorWithoutRequestId)).toEqual(first.errors?.map(errorWithoutRequestId));
  expect(replay.extensions?.idempotency).toEqual({ key, replayed: true });
}

/**
 * A refusal decided by the business rules (insufficient funds) is the answer to that request: it is
 * stored with the key and replayed, even once the account could pay. A new request needs a new key.
 */
describeEachDatabase('a business refusal under an idempotency key', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is stored and replayed after the account has been funded', async () => {
    const wallet = await createAccount(app.client, { type: 'ASSET', noOverdraft: true });
    const expense = await createAccount(app.client, { type: 'EXPENSE' });
    const equity = await createAccount(app.client, { type: 'EQUITY' });
    const key = newIdempotencyKey('overdraw');
    const variables = { input: { lines: transfer(expense.id, wallet.id, '25.00'), description: 'card payment' }, idempotencyKey: key };
    const send = (vars = variables) => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, vars);
    const ledgerBefore = await takeLedgerSnapshot(app.runtime.dataSource);

    const refused = await send();
    expect(errorCodeOf(refused)).toBe('INSUFFICIENT_FUNDS');
    expect(refused.extensions?.idempotency).toBeUndefined();
    expect(refused.errors?.[0].extensions?.details).toMatchObject({ accountId: wallet.id });
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(ledgerBefore);
    expect((await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.status)).toEqual(['COMPLETED']);

    await postTransfer(app.client, wallet.id, equity.id, '100.00');
    const afterFunding = await takeLedgerSnapshot(app.runtime.dataSource);
    expectRefusalReplayOf(refused, await send(), key);
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(afterFunding);

    // The same payment under a new key is a new request, and now it goes through.
    expectFresh(await send({ ...variables, idempotencyKey: newIdempotencyKey('overdraw-again') }));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses a whole batch when one entry is refused, and replays that refusal', async () => {
    const wallet = await createAccount(app.client, { type: 'ASSET', noOverdraft: true });
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const expense = await createAccount(app.client, { type: 'EXPENSE' });
    const key = newIdempotencyKey('batch-overdraw');
    const description = `batch ${key}`;
    const variables = {
      input: {
        entries: [
          { lines: transfer(cash.id, revenue.id, '5.00'), description },
          { lines: transfer(expense.id, wallet.id, '40.00'), description },
        ],
      },
      idempotencyKey: key,
    };
    const send = () => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntriesDocument, variables);
    const ledgerBefore = await takeLedgerSnapshot(app.runtime.dataSource);

    const refused = await send();
    expect(errorCodeOf(refused)).toBe('INSUFFICIENT_FUNDS');
    expect(refused.errors?.[0].message).toMatch(/^entries\[1\]: /);
    expect(refused.errors?.[0].extensions?.details).toMatchObject({ accountId: wallet.id, index: 1 });
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(ledgerBefore);
    expect((await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.status)).toEqual(['COMPLETED']);

    await postTransfer(app.client, wallet.id, revenue.id, '100.00');
    expectRefusalReplayOf(refused, await send(), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(0);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
