import { setRootFieldsOf } from '../helpers/graphql-client';
import {
  IdempotentEntryWithTypenameDocument,
  IdempotentPostJournalEntryDocument,
  IdempotentTwoEntriesDocument,
  IdempotentTwoEntriesInFragmentsDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, errorCodeOf, expectFresh, expectReplayOf, idempotencyRows, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

type Account = Awaited<ReturnType<typeof createAccount>>;

/**
 * The Idempotency-Key header keys a request holding one mutation field. A document with several
 * mutation fields needs a key per field (the idempotencyKey argument), and each field replays alone.
 */
describeEachDatabase('the Idempotency-Key header and documents with several mutation fields', (kind) => {
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

  const entry = (description: string, amount = '1.00') => ({ lines: transfer(cash.id, revenue.id, amount), description });

  it('keys a single-field document, and the same key as an argument is the same request', async () => {
    const key = newIdempotencyKey('header');
    const variables = { input: entry(`header ${key}`) };
    const first = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables, { 'Idempotency-Key': key });
    expectFresh(first);
    expect((await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.status)).toEqual(['COMPLETED']);

    expectReplayOf(first, await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables, { 'Idempotency-Key': key }), key);
    expectReplayOf(first, await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, { ...variables, idempotencyKey: key }), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [`header ${key}`])).toBe(1);
  });

  it('refuses a document with two mutation fields and only the header, before writing anything', async () => {
    const key = newIdempotencyKey('two-fields');
    const entriesBefore = await countRows(app.runtime.dataSource, 'journal_entries');
    const result = await sendKeyed(
      app.url,
      app.apiKey,
      IdempotentTwoEntriesDocument,
      { first: entry('first of two'), second: entry('second of two') },
      { 'Idempotency-Key': key },
    );
    expect(setRootFieldsOf(result.data)).toBeNull();
    expect(result.errors?.length).toBeGreaterThanOrEqual(1);
    for (const error of result.errors ?? []) {
      expect(error.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'Idempotency-Key' } });
    }
    expect(await countRows(app.runtime.dataSource, 'journal_entries')).toBe(entriesBefore);
    expect(await idempotencyRows(app.runtime.dataSource, key)).toEqual([]);
  });

  it('counts mutation fields inside fragments: two there and only the header is refused before writing anything', async () => {
    const key = newIdempotencyKey('fragments');
    const entriesBefore = await countRows(app.runtime.dataSource, 'journal_entries');
    const result = await sendKeyed(
      app.url,
      app.apiKey,
      IdempotentTwoEntriesInFragmentsDocument,
      { first: entry('first in a fragment', '1.00'), second: entry('second in a fragment', '2.00') },
      { 'Idempotency-Key': key },
    );
    expect(setRootFieldsOf(result.data)).toBeNull();
    expect(result.errors?.map((error) => error.extensions?.code)).toContain('VALIDATION_FAILED');
    for (const error of result.errors ?? []) expect(error.extensions?.code).toBe('VALIDATION_FAILED');
    expect(await countRows(app.runtime.dataSource, 'journal_entries')).toBe(entriesBefore);
    expect(await idempotencyRows(app.runtime.dataSource, key)).toEqual([]);
  });

  it('applies the header to one mutation field beside __typename', async () => {
    const key = newIdempotencyKey('typename');
    const variables = { input: entry(`typename ${key}`) };
    const first = await sendKeyed(app.url, app.apiKey, IdempotentEntryWithTypenameDocument, variables, { 'Idempotency-Key': key });
    expectFresh(first);
    expect(first.data?.__typename).toBe('Mutation');
    expectReplayOf(first, await sendKeyed(app.url, app.apiKey, IdempotentEntryWithTypenameDocument, variables, { 'Idempotency-Key': key }), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [`typename ${key}`])).toBe(1);
  });

  it('runs two fields with their own keys, and each replays independently', async () => {
    const keyA = newIdempotencyKey('field-a');
    const keyB = newIdempotencyKey('field-b');
    const keyC = newIdempotencyKey('field-c');
    const inputs = { first: entry(`first ${keyA}`, '2.00'), second: entry(`second ${keyA}`, '3.00') };
    const send = (firstKey: string, secondKey: string) =>
      sendKeyed(app.url, app.apiKey, IdempotentTwoEntriesDocument, { ...inputs, firstKey, secondKey });

    const first = await send(keyA, keyB);
    expectFresh(first);
    const firstId = first.data?.first!.journalEntry.id;
    const secondId = first.data?.second!.journalEntry.id;
    expect(firstId).not.toBe(secondId);

    const both = await send(keyA, keyB);
    expect(both.errors).toBeUndefined();
    expect(both.dataText).toBe(first.dataText);
    expect(both.extensions?.idempotency).toEqual({
      replayed: true,
      fields: [
        { field: 'first', key: keyA },
        { field: 'second', key: keyB },
      ],
    });

    // The first field is replayed, the second (a new key) runs for the first time.
    const mixed = await send(keyA, keyC);
    expect(mixed.errors).toBeUndefined();
    expect(mixed.extensions?.idempotency).toEqual({ key: keyA, replayed: true });
    expect(mixed.data?.first!.journalEntry.id).toBe(firstId);
    expect(mixed.data?.second!.journalEntry.id).not.toBe(secondId);

    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [`first ${keyA}`])).toBe(1);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [`second ${keyA}`])).toBe(2);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('is checked like the argument: a 7-character header is VALIDATION_FAILED', async () => {
    const result = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, { input: entry('short header') }, {
      'Idempotency-Key': 'abcdefg',
    });
    expect(errorCodeOf(result)).toBe('VALIDATION_FAILED');
    expect(result.errors?.[0].extensions?.details).toEqual({ field: 'Idempotency-Key' });
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', ['short header'])).toBe(0);
  });
});
