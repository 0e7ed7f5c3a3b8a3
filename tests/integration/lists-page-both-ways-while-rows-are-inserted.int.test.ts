import {
  AccountsPageDocument,
  ApiKeysPageDocument,
  JournalEntriesDocument,
  JournalEntriesLooseArgumentsDocument,
  PaymentEntriesPageDocument,
  PaymentEventsPageDocument,
  PaymentRefundsPageDocument,
  PaymentsPageDocument,
  PostJournalEntryLeanDocument,
  PostPendingJournalEntryLeanDocument,
  RecentEntriesPageDocument,
  RefundPaymentDocument,
  StatementLinesPageDocument,
  TrialBalanceLinesPageDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';

interface PageArgs {
  first?: number;
  after?: string;
  last?: number;
  before?: string;
}

interface Page {
  keys: string[];
  cursors: string[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor?: string | null; endCursor?: string | null };
}

type ReadPage = (args: PageArgs) => Promise<Page>;

function pageOf<N>(connection: { edges: { cursor: string; node: N }[]; pageInfo: Page['pageInfo'] }, keyOf: (node: N) => string): Page {
  return { keys: connection.edges.map((edge) => keyOf(edge.node)), cursors: connection.edges.map((edge) => edge.cursor), pageInfo: connection.pageInfo };
}

const SIZE = 3;

/**
 * Walks a whole list one way in pages of SIZE, calling `insert` between pages, and checks pageInfo at
 * every step: the first page has nothing on its far side, each later page has, and the walk ends on a
 * page with nothing beyond it. Returns the keys in list order.
 */
async function walk(read: ReadPage, direction: 'forward' | 'backward', insert: (pageIndex: number) => Promise<void>): Promise<string[]> {
  const pages: Page[] = [];
  let cursor: string | undefined;
  for (let index = 0; index < 200; index += 1) {
    const page = await read(direction === 'forward' ? { first: SIZE, after: cursor } : { last: SIZE, before: cursor });
    pages.push(page);
    expect(page.pageInfo.startCursor).toBe(page.cursors[0] ?? null);
    expect(page.pageInfo.endCursor).toBe(page.cursors.at(-1) ?? null);
    const behind = direction === 'forward' ? page.pageInfo.hasPreviousPage : page.pageInfo.hasNextPage;
    const ahead = direction === 'forward' ? page.pageInfo.hasNextPage : page.pageInfo.hasPreviousPage;
    // Nothing behind the first page; the cursor's own item is behind every later one.
    expect({ index, behind }).toEqual({ index, behind: index > 0 });
    if (!ahead) break;
    expect(page.keys).toHaveLength(SIZE);
    cursor = direction === 'forward' ? (page.pageInfo.endCursor as string) : (page.pageInfo.startCursor as string);
    await insert(index);
  }
  const ordered = direction === 'forward' ? pages.flatMap((page) => page.keys) : pages.reverse().flatMap((page) => page.keys);
  expect(new Set(ordered).size).toBe(ordered.length);
  return ordered;
}

/** Every key there at the start is seen once, in its place, whatever was inserted meanwhile. */
function expectEveryOriginalOnce(seen: string[], original: string[]) {
  expect(seen.filter((key) => original.includes(key))).toEqual(original);
}

/** The whole list, in pages of 50 (the smallest maximum of any list). */
async function readAll(read: ReadPage): Promise<string[]> {
  const keys: string[] = [];
  for (let page = await read({ first: 50 }); ; page = await read({ first: 50, after: page.pageInfo.endCursor as string })) {
    keys.push(...page.keys);
    if (!page.pageInfo.hasNextPage) return keys;
  }
}

/** Checks one list both ways while `insert` adds rows, and that each way finds what was there. */
async function checkBothWays(read: ReadPage, insert: () => Promise<void>) {
  const original = await readAll(read);
  expect(original.length).toBeGreaterThan(2 * SIZE);
  expectEveryOriginalOnce(await walk(read, 'forward', insert), original);
  const beforeBackward = await readAll(read);
  expectEveryOriginalOnce(await walk(read, 'backward', insert), beforeBackward);
}

describeEachDatabase('every list pages forward and backward by keyset while rows are inserted', (kind) => {
  let app: TestApp;
  let cash: { id: string };
  let income: { id: string };
  let inserted = 0;

  beforeAll(async () => {
    app = await startTestApp(kind);
    cash = await createAccount(app.client, { type: 'ASSET', code: 'list-cash' });
    income = await createAccount(app.client, { type: 'REVENUE', code: 'list-income' });
    for (let i = 0; i < 8; i += 1) {
      await postTransfer(app.client, cash.id, income.id, `${i + 1}.00`, { effectiveAt: new Date(Date.UTC(2024, 0, 10 + i)).toISOString() });
    }
  });
  afterAll(async () => {
    await app?.close();
  });

  const newEntry = async (effectiveDay?: number) => {
    inserted += 1;
    await postTransfer(app.client, cash.id, income.id, '0.01', {
      description: `inserted ${inserted}`,
      ...(effectiveDay === undefined ? {} : { effectiveAt: new Date(Date.UTC(2024, 0, effectiveDay, 12)).toISOString() }),
    });
  };

  it('accounts (oldest first), with a filter and its exact totalCount', async () => {
    for (let i = 0; i < 7; i += 1) await createAccount(app.client, { type: 'EXPENSE', code: `list-exp-${i}` });
    const read: ReadPage = async (args) =>
      pageOf((await app.client.ok(AccountsPageDocument, { ...args, filter: { type: 'EXPENSE' } })).accounts!, (node) => node.id);
    await checkBothWays(read, async () => {
      await createAccount(app.client, { type: 'EXPENSE' });
      await createAccount(app.client, { type: 'LIABILITY' });
    });
    const { accounts: expenses } = await app.client.ok(AccountsPageDocument, { first: 1, filter: { type: 'EXPENSE' } });
    const { accounts: all } = await app.client.ok(AccountsPageDocument, { last: 2 });
    const count = async (where: string) => Number((await app.runtime.dataSource.query(`SELECT COUNT(*) AS n FROM accounts WHERE ${where}`, [app.tenantId]))[0].n);
    expect(expenses!.totalCount).toBe(await count(`tenant_id = ? AND type = 'EXPENSE'`));
    expect(all!.totalCount).toBe(await count('tenant_id = ?'));
    expect(all!.edges).toHaveLength(2);
  });

  it('journal entries (newest first) filtered by account and status, with the deprecated arguments for one release', async () => {
    const read: ReadPage = async (args) =>
      pageOf((await app.client.ok(JournalEntriesDocument, { ...args, filter: { accountId: cash.id, status: 'POSTED' } })).journalEntries!, (node) => node.id);
    await checkBothWays(read, () => newEntry());
    const other = await createAccount(app.client, { type: 'ASSET' });
    await postTransfer(app.client, other.id, income.id, '1.00');
    const { journalEntries: onCash } = await app.client.ok(JournalEntriesDocument, { first: 1, filter: { accountId: cash.id } });
    const [{ n }] = await app.runtime.dataSource.query(
      `SELECT COUNT(DISTINCT journal_entry_id) AS n FROM postings WHERE account_id = ?`,
      [cash.id],
    );
    expect(onCash!.totalCount).toBe(Number(n));
    const loose = await app.client.ok(JournalEntriesLooseArgumentsDocument, { first: 500, accountId: cash.id });
    expect(loose.journalEntries!.totalCount).toBe(Number(n));
    const both = await app.client.request(JournalEntriesLooseArgumentsDocument, { first: 5, accountId: cash.id, filter: { status: 'POSTED' } });
    expect(both.errors?.[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'filter', deprecatedArguments: ['accountId'] } });
    expect(both.data?.journalEntries).toBeNull();
  });

  it('an account’s recent entries (newest effective first), each entry once however many postings it has there', async () => {
    const held = await app.client.ok(PostJournalEntryLeanDocument, {
      input: { description: 'held', status: 'PENDING', lines: transfer(cash.id, income.id, '5.00') },
    });
    // Posting in part leaves a hold, its release and a posting on the account: three postings, one entry.
    await app.client.ok(PostPendingJournalEntryLeanDocument, { input: { id: held.postJournalEntry!.journalEntry.id, lines: transfer(cash.id, income.id, '2.00') } });
    const read: ReadPage = async (args) => pageOf((await app.client.ok(RecentEntriesPageDocument, { id: cash.id, ...args })).account!.recentEntries, (node) => node.id);
    const everything = await readAll(read);
    expect(everything.filter((id) => id === held.postJournalEntry!.journalEntry.id)).toHaveLength(1);
    // New entries are newest, so they land before a forward walk and after a backward one's start;
    // backdated ones land in the middle of both.
    let day = 0;
    await checkBothWays(read, async () => {
      day += 1;
      await newEntry();
      await newEntry(10 + (day % 8));
    });
  });

  it('the trial balance’s lines (by account code) and an account statement’s lines (by effective time)', async () => {
    const lines: ReadPage = async (args) => pageOf((await app.client.ok(TrialBalanceLinesPageDocument, args)).trialBalance!.lines, (node) => node.account.id);
    await checkBothWays(lines, async () => {
      await createAccount(app.client, { code: `list-cash-${inserted}` });
      inserted += 1;
    });
    const { trialBalance } = await app.client.ok(TrialBalanceLinesPageDocument, { last: 1 });
    const [{ n }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS n FROM accounts WHERE tenant_id = ?`, [app.tenantId]);
    expect(trialBalance!.lines.totalCount).toBe(Number(n));

    const range = { accountId: cash.id, from: '2024-01-01T00:00:00.000Z', to: '2024-02-01T00:00:00.000Z' };
    const statement: ReadPage = async (args) =>
      pageOf((await app.client.ok(StatementLinesPageDocument, { ...range, ...args })).accountStatement!.lines, (node) => node.posting.id);
    // Backward pages carry the same running balances as forward ones.
    const running = async (args: PageArgs) =>
      (await app.client.ok(StatementLinesPageDocument, { ...range, ...args })).accountStatement!.lines.edges.map((e) => [e.node.posting.id, e.node.runningBalance.minorUnits]);
    const forward = await running({ first: 500 });
    expect([...(await running({ last: 4 })), ...(await running({ last: 4, before: (await statement({ last: 4 })).cursors[0] }))].sort()).toEqual(
      forward.slice(-8).sort(),
    );
    let day = 0;
    await checkBothWays(statement, async () => {
      day += 1;
      await newEntry(10 + (day % 8));
    });
    const { accountStatement } = await app.client.ok(StatementLinesPageDocument, { ...range, first: 1 });
    expect(accountStatement!.lines.totalCount).toBe(forward.length + day);
  });

  it('payments (newest first) and a payment’s refunds, timeline and journal entries', async () => {
    await createSimulatorGateway(app.client);
    const payments: string[] = [];
    for (let i = 0; i < 7; i += 1) payments.push((await authorize(app.client, { amount: '100.00', capture: true })).id);
    const read: ReadPage = async (args) => pageOf((await app.client.ok(PaymentsPageDocument, { ...args, filter: { status: 'CAPTURED' } })).payments!, (node) => node.id);
    await checkBothWays(read, async () => {
      await authorize(app.client, { amount: '1.00', capture: true });
      await authorize(app.client, { amount: '1.00' });
    });
    const { payments: captured } = await app.client.ok(PaymentsPageDocument, { last: 1, filter: { status: 'CAPTURED' } });
    const [{ n }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS n FROM payments WHERE tenant_id = ? AND status = 'CAPTURED'`, [app.tenantId]);
    expect(captured!.totalCount).toBe(Number(n));

    const paymentId = payments[0];
    for (let i = 0; i < 7; i += 1) await app.client.ok(RefundPaymentDocument, { input: { paymentId, amount: '1.00' } });
    const refund = () => app.client.ok(RefundPaymentDocument, { input: { paymentId, amount: '0.50' } }).then(() => undefined);
    const variables = (args: PageArgs) => ({ id: paymentId, ...args });
    await checkBothWays(async (args) => pageOf((await app.client.ok(PaymentRefundsPageDocument, variables(args))).payment!.refunds, (node) => node.id), refund);
    await checkBothWays(async (args) => pageOf((await app.client.ok(PaymentEventsPageDocument, variables(args))).payment!.events, (node) => node.id), refund);
    await checkBothWays(async (args) => pageOf((await app.client.ok(PaymentEntriesPageDocument, variables(args))).payment!.journalEntries, (node) => node.id), refund);
    const [{ refunds }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS refunds FROM refunds WHERE payment_id = ?`, [paymentId]);
    const [{ events }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS events FROM payment_events WHERE payment_id = ?`, [paymentId]);
    expect({
      refunds: (await app.client.ok(PaymentRefundsPageDocument, variables({ last: 1 }))).payment!.refunds.totalCount,
      events: (await app.client.ok(PaymentEventsPageDocument, variables({ first: 1 }))).payment!.events.totalCount,
    }).toEqual({ refunds: Number(refunds), events: Number(events) });
  });

  it('API keys (oldest first)', async () => {
    for (let i = 0; i < 7; i += 1) await app.runtime.services.auth.createApiKey(app.tenantId, { name: `key ${i}` });
    const read: ReadPage = async (args) => pageOf((await app.client.ok(ApiKeysPageDocument, args)).apiKeys!, (node) => node.id);
    await checkBothWays(read, async () => {
      await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'meanwhile' });
    });
    const [{ n }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?`, [app.tenantId]);
    expect((await app.client.ok(ApiKeysPageDocument, { first: 1 })).apiKeys!.totalCount).toBe(Number(n));
  });

  it('refuses first with last, a forged cursor and another list’s cursor with VALIDATION_FAILED', async () => {
    const { accounts } = await app.client.ok(AccountsPageDocument, { first: 1 });
    const accountCursor = accounts!.edges[0].cursor;
    const refusals = [
      await app.client.request(AccountsPageDocument, { first: 2, last: 2 }),
      await app.client.request(AccountsPageDocument, { last: 2, before: 'not-a-cursor' }),
      await app.client.request(JournalEntriesDocument, { last: 2, before: accountCursor }),
      await app.client.request(RecentEntriesPageDocument, { id: cash.id, first: 2, after: accountCursor }),
      await app.client.request(RecentEntriesPageDocument, { id: cash.id, last: 51 }),
      await app.client.request(PaymentsPageDocument, { first: 501 }),
    ];
    expect(refusals.map((result) => [result.errors?.[0].extensions?.code, (result.errors?.[0].extensions?.details as { field?: string })?.field])).toEqual([
      ['VALIDATION_FAILED', 'last'],
      ['VALIDATION_FAILED', 'before'],
      ['VALIDATION_FAILED', 'before'],
      ['VALIDATION_FAILED', 'after'],
      ['VALIDATION_FAILED', 'last'],
      ['VALIDATION_FAILED', 'first'],
    ]);
  });
});
