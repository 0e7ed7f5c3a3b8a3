import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  IdempotentCreateAccountDocument,
  IdempotentPostJournalEntriesDocument,
  IdempotentPostJournalEntryDocument,
  IdempotentPostPendingJournalEntryDocument,
  IdempotentReverseJournalEntryDocument,
  IdempotentVoidPendingJournalEntryDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, expectFresh, expectReplayOf, idempotencyRows, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

type Account = Awaited<ReturnType<typeof createAccount>>;

interface Case {
  name: string;
  /** Prepares what the mutation needs and returns its document and variables (without the key). */
  prepare(): Promise<{ document: TypedDocumentNode<unknown, Record<string, unknown>>; variables: Record<string, unknown> }>;
}

/**
 * The response is stored after the change commits, best effort: a crash in between leaves a completed
 * record whose response is missing. A retry after the holder's lease then still replays, rebuilt from
 * what the change recorded (result_ref), with the same ids and, right after the write, the same bytes;
 * before it, the retry is IDEMPOTENCY_KEY_IN_USE (the holder may be storing its answer that moment).
 */
describeEachDatabase('a completed idempotency record whose stored response was lost', (kind) => {
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

  const typed = <TData, TVariables>(document: TypedDocumentNode<TData, TVariables>) =>
    document as unknown as TypedDocumentNode<unknown, Record<string, unknown>>;

  async function pendingEntryId(): Promise<string> {
    const entry = await postTransfer(app.client, cash.id, revenue.id, '8.00', { status: 'PENDING' });
    return entry.id;
  }

  const cases: Case[] = [
    {
      name: 'postJournalEntry',
      prepare: async () => ({
        document: typed(IdempotentPostJournalEntryDocument),
        variables: { input: { lines: transfer(cash.id, revenue.id, '9.99'), description: 'lost response', metadata: { till: 3 } } },
      }),
    },
    {
      name: 'postJournalEntries',
      prepare: async () => ({
        document: typed(IdempotentPostJournalEntriesDocument),
        variables: {
          input: {
            entries: [
              { lines: transfer(cash.id, revenue.id, '1.00'), description: 'lost batch 1' },
              { lines: transfer(cash.id, revenue.id, '2.00'), description: 'lost batch 2' },
            ],
          },
        },
      }),
    },
    {
      name: 'createAccount',
      prepare: async () => ({
        document: typed(IdempotentCreateAccountDocument),
        variables: { input: { code: `lost-${newIdempotencyKey('acct')}`, name: 'Till float', type: 'ASSET', currency: 'USD', noOverdraft: true } },
      }),
    },
    {
      name: 'postPendingJournalEntry',
      prepare: async () => ({
        document: typed(IdempotentPostPendingJournalEntryDocument),
        variables: { input: { id: await pendingEntryId(), lines: transfer(cash.id, revenue.id, '5.00') } },
      }),
    },
    {
      name: 'voidPendingJournalEntry',
      prepare: async () => ({ document: typed(IdempotentVoidPendingJournalEntryDocument), variables: { input: { id: await pendingEntryId() } } }),
    },
    {
      name: 'reverseJournalEntry',
      prepare: async () => ({
        document: typed(IdempotentReverseJournalEntryDocument),
        variables: { input: { id: (await postTransfer(app.client, cash.id, revenue.id, '6.00')).id, description: 'reversal, response lost' } },
      }),
    },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s still replays, rebuilt from result_ref', async (_name, testCase) => {
    const { document, variables } = await testCase.prepare();
    const key = newIdempotencyKey(testCase.name);
    const send = () => sendKeyed(app.url, app.apiKey, document, { ...variables, idempotencyKey: key });

    const first = await send();
    expectFresh(first);
    const [record] = await idempotencyRows(app.runtime.dataSource, key);
    expect(record.status).toBe('COMPLETED');
    expect(record.response_ciphertext).toBeTruthy();
    expect(record.result_ref).toBeTruthy();
    const entriesBefore = await countRows(app.runtime.dataSource, 'journal_entries');
    const accountsBefore = await countRows(app.runtime.dataSource, 'accounts');

    // Committed but not yet stored, while the holder's lease runs: the holder is storing its answer
    // right now (a concurrent copy races it), so the copy is told to retry and is never given a rebuilt one.
    await app.runtime.dataSource.query('UPDATE idempotency_records SET response_ciphertext = NULL WHERE id = ?', [record.id]);
    const racing = await send();
    expect(racing.errors?.map((error) => error.extensions?.code)).toEqual(['IDEMPOTENCY_KEY_IN_USE']);
    expect(racing.errors?.[0].extensions?.details).toMatchObject({ retryAfterSeconds: expect.any(Number) });

    // Once the lease has run out the holder died between its commit and storing its answer: rebuilt.
    await app.runtime.dataSource.query('UPDATE idempotency_records SET lease_expires_at = created_at WHERE id = ?', [record.id]);
    expectReplayOf(first, await send(), key);
    expectReplayOf(first, await send(), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries')).toBe(entriesBefore);
    expect(await countRows(app.runtime.dataSource, 'accounts')).toBe(accountsBefore);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
