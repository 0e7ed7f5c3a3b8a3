import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  type JournalLineInput,
  PostJournalEntriesDocument,
  PostJournalEntryDocument,
  PostPendingJournalEntryDocument,
} from '../generated/graphql';
import type { GraphQLErrorShape } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';

type Account = Awaited<ReturnType<typeof createAccount>>;

describeEachDatabase('an entry that debits and credits the same account is refused with SAME_ACCOUNT', (kind) => {
  let app: TestApp;
  let cash: Account;
  let revenue: Account;
  let fees: Account;

  beforeAll(async () => {
    app = await startTestApp(kind);
    cash = await createAccount(app.client, { code: 'cash', type: 'ASSET' });
    revenue = await createAccount(app.client, { code: 'revenue', type: 'REVENUE' });
    fees = await createAccount(app.client, { code: 'fees', type: 'EXPENSE' });
  });

  afterAll(async () => {
    await app?.close();
  });

  /** Sends a request that must be refused with SAME_ACCOUNT and checks that the tables did not move. */
  async function expectSameAccount<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables): Promise<GraphQLErrorShape> {
    const before = await takeLedgerSnapshot(app.runtime.dataSource);
    const result = await app.client.request(document, variables);
    expect(result.status).toBe(200);
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors as GraphQLErrorShape[];
    expect(error.extensions).toMatchObject({ code: 'SAME_ACCOUNT', retryable: false });
    expect(Object.values((result.data ?? {}) as Record<string, unknown>).filter((value) => value !== null)).toEqual([]);
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
    return error;
  }

  it('refuses a two-line entry on one account, naming the account and both lines', async () => {
    const error = await expectSameAccount(PostJournalEntryDocument, { input: { lines: transfer(cash.id, cash.id, '10.00') } });
    expect(error.extensions?.details).toEqual({ field: 'lines', accountId: cash.id, lines: [0, 1] });
    expect(error.message).toMatch(/^lines: lines 0 and 1 debit and credit the same account/);
  });

  it('finds the pair among other lines: the debit line first, whichever comes first in the entry', async () => {
    const lines: JournalLineInput[] = [
      { accountId: revenue.id, direction: 'CREDIT', amount: '5.00', currency: 'USD' },
      { accountId: cash.id, direction: 'CREDIT', amount: '2.00', currency: 'USD' },
      { accountId: fees.id, direction: 'DEBIT', amount: '1.00', currency: 'USD' },
      { accountId: cash.id, direction: 'DEBIT', amount: '6.00', currency: 'USD' },
    ];
    const error = await expectSameAccount(PostJournalEntryDocument, { input: { lines } });
    expect(error.extensions?.details).toEqual({ field: 'lines', accountId: cash.id, lines: [3, 1] });
  });

  it('refuses a pending entry on one account', async () => {
    const error = await expectSameAccount(PostJournalEntryDocument, { input: { lines: transfer(revenue.id, revenue.id, '1.00'), status: 'PENDING' } });
    expect(error.extensions?.details).toMatchObject({ accountId: revenue.id, lines: [0, 1] });
  });

  it('refuses the whole batch and names the entry by its index', async () => {
    const entries = [{ lines: transfer(cash.id, revenue.id, '3.00') }, { lines: transfer(fees.id, cash.id, '1.00') }, { lines: transfer(fees.id, fees.id, '1.00') }];
    const error = await expectSameAccount(PostJournalEntriesDocument, { input: { entries } });
    expect(error.extensions?.details).toEqual({ field: 'entries[2].lines', accountId: fees.id, lines: [0, 1], index: 2 });
    expect(error.message).toMatch(/^entries\[2\]\.lines: /);
  });

  it('refuses posting a pending entry in part with lines on one account; the hold stays and posts in full later', async () => {
    const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '8.00'), status: 'PENDING' },
    });
    const pending = postJournalEntry.journalEntry;
    const error = await expectSameAccount(PostPendingJournalEntryDocument, { input: { id: pending.id, lines: transfer(cash.id, cash.id, '8.00') } });
    expect(error.extensions?.details).toEqual({ field: 'lines', accountId: cash.id, lines: [0, 1] });

    const { postPendingJournalEntry } = await app.client.ok(PostPendingJournalEntryDocument, { input: { id: pending.id } });
    expect(postPendingJournalEntry.journalEntry.status).toBe('POSTED');
  });

  it('still accepts two debit lines on one account', async () => {
    const lines: JournalLineInput[] = [
      { accountId: cash.id, direction: 'DEBIT', amount: '1.00', currency: 'USD' },
      { accountId: cash.id, direction: 'DEBIT', amount: '2.00', currency: 'USD' },
      { accountId: revenue.id, direction: 'CREDIT', amount: '3.00', currency: 'USD' },
    ];
    const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, { input: { lines } });
    expect(postJournalEntry.journalEntry.status).toBe('POSTED');
  });
});
