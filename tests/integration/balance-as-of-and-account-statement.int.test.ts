import { nodesOf } from '../helpers/connections';
import { setRootFieldsOf } from '../helpers/graphql-client';
import { ulid } from 'ulid';
import {
  AccountBalanceAsOfDocument,
  AccountBalancesDocument,
  AccountCodesDocument,
  type AccountCodesQuery,
  AccountStatementPageDocument,
  type AccountStatementPageQuery,
  type AccountStatementPageQueryVariables,
  type AccountType,
  NodeWithTypeDocument,
  PostJournalEntryDocument,
  TrialBalanceDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { usd, usdBalances } from '../helpers/ledger-snapshot';

type Account = Awaited<ReturnType<typeof createAccount>>;
type Entry = Awaited<ReturnType<typeof postTransfer>>;

const JAN = (day: number, time = '00:00:00.000') => `2024-01-${String(day).padStart(2, '0')}T${time}Z`;

describeEachDatabase('balances as of past instants and account statements', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let cash: Account;
  let revenue: Account;
  let fees: Account;
  /** Entries by name; see the timeline in beforeAll. */
  const entries: Record<string, Entry> = {};

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Globex');
    cash = await createAccount(app.client, { code: '1000-cash', type: 'ASSET' });
    revenue = await createAccount(app.client, { code: '4000-revenue', type: 'REVENUE' });
    fees = await createAccount(app.client, { code: '6000-fees', type: 'EXPENSE' });

    // Posted out of effective-date order on purpose. "fee" and "sale 2" share an instant; "fee" is
    // written first, so its postings have the smaller ids and come first in (effectiveAt, id) order.
    entries.sale3 = await postTransfer(app.client, cash.id, revenue.id, '7.25', { description: 'sale 3', effectiveAt: JAN(20, '08:30:00.000') });
    entries.sale1 = await postTransfer(app.client, cash.id, revenue.id, '100.00', { description: 'sale 1', effectiveAt: JAN(5, '10:00:00.000') });
    entries.fee = await postTransfer(app.client, fees.id, cash.id, '2.50', { description: 'fee', effectiveAt: JAN(10, '12:00:00.000') });
    entries.sale2 = await postTransfer(app.client, cash.id, revenue.id, '50.00', { description: 'sale 2', effectiveAt: JAN(10, '12:00:00.000') });
    entries.refund = await postTransfer(app.client, revenue.id, cash.id, '20.00', { description: 'refund', effectiveAt: JAN(15) });
    entries.sale4 = await postTransfer(app.client, cash.id, revenue.id, '1.00', { description: 'sale 4', effectiveAt: '2024-02-01T00:00:00.000Z' });
    // A hold that is never posted: pending balances only, and never on a statement.
    const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '9.99'), description: 'hold', status: 'PENDING', effectiveAt: JAN(12) },
    });
    entries.hold = postJournalEntry.journalEntry;
  });

  afterAll(async () => {
    await app?.close();
  });

  async function balanceAsOf(account: Account, asOf: string) {
    const { account: found } = await app.client.ok(AccountBalanceAsOfDocument, { id: account.id, asOf });
    return found.balance;
  }

  describe('balance(asOf:)', () => {
    it('is exact at instants before, on and after each effective date', async () => {
      const postedNet = async (asOf: string) => (await balanceAsOf(cash, asOf)).posted.net.amount;
      expect(await postedNet('2024-01-01T00:00:00.000Z')).toBe('0.00');
      expect(await postedNet(JAN(5, '09:59:59.999'))).toBe('0.00');
      expect(await postedNet(JAN(5, '10:00:00.000'))).toBe('100.00');
      expect(await postedNet(JAN(10, '11:59:59.999'))).toBe('100.00');
      expect(await postedNet(JAN(10, '12:00:00.000'))).toBe('147.50');
      // The same instants written with a UTC offset.
      expect(await postedNet('2024-01-10T13:59:59.999+02:00')).toBe('100.00');
      expect(await postedNet('2024-01-10T14:00:00.000+02:00')).toBe('147.50');
      expect(await postedNet(JAN(14, '23:59:59.999'))).toBe('147.50');
      expect(await postedNet(JAN(15))).toBe('127.50');
      expect(await postedNet(JAN(20, '08:30:00.000'))).toBe('134.75');
      expect(await postedNet('2024-01-31T23:59:59.999Z')).toBe('134.75');
      expect(await postedNet('2024-02-01T00:00:00.000Z')).toBe('135.75');
      expect((await balanceAsOf(revenue, JAN(15))).posted.net).toEqual(usd('130.00'));
      expect((await balanceAsOf(fees, JAN(15))).posted.net).toEqual(usd('2.50'));
    });

    it('counts a pending entry in pending balances from its effective date, never in posted or available', async () => {
      expect(await balanceAsOf(cash, JAN(11))).toEqual(
        usdBalances(['150.00', '2.50', '147.50'], ['150.00', '2.50', '147.50'], ['150.00', '2.50', '147.50']),
      );
      expect(await balanceAsOf(cash, JAN(12))).toEqual(
        usdBalances(['150.00', '2.50', '147.50'], ['159.99', '2.50', '157.49'], ['150.00', '2.50', '147.50']),
      );
      // Revenue is credit-normal: the held credit is an inflow, pending only.
      expect(await balanceAsOf(revenue, JAN(12))).toEqual(
        usdBalances(['0.00', '150.00', '150.00'], ['0.00', '159.99', '159.99'], ['0.00', '150.00', '150.00']),
      );
    });

    it('as of now equals the balances kept on the account', async () => {
      const now = new Date().toISOString();
      for (const account of [cash, revenue, fees]) {
        const { account: current } = await app.client.ok(AccountBalancesDocument, { id: account.id });
        expect(await balanceAsOf(account, now)).toEqual(current.balances);
      }
      expect((await balanceAsOf(cash, now)).posted.net).toEqual(usd('135.75'));
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });

    it('refuses an instant before 1970', async () => {
      const result = await app.client.request(AccountBalanceAsOfDocument, { id: cash.id, asOf: '1969-12-31T23:59:59.999Z' });
      expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['VALIDATION_FAILED']);
    });
  });

  describe('trialBalance(asOf:)', () => {
    function columns(trialBalance: { lines: { edges: { node: { account: { code: string }; debit: { amount: string }; credit: { amount: string } } }[] } }) {
      return nodesOf(trialBalance.lines).map((line) => [line.account.code, line.debit.amount, line.credit.amount]);
    }

    it('balances at every instant and matches each account’s balance as of it', async () => {
      const expected: Record<string, string[][]> = {
        '2024-01-01T00:00:00.000Z': [
          ['1000-cash', '0.00', '0.00'],
          ['4000-revenue', '0.00', '0.00'],
          ['6000-fees', '0.00', '0.00'],
        ],
        [JAN(10, '12:00:00.000')]: [
          ['1000-cash', '147.50', '0.00'],
          ['4000-revenue', '0.00', '150.00'],
          ['6000-fees', '2.50', '0.00'],
        ],
        [JAN(31)]: [
          ['1000-cash', '134.75', '0.00'],
          ['4000-revenue', '0.00', '137.25'],
          ['6000-fees', '2.50', '0.00'],
        ],
      };
      for (const [asOf, lines] of Object.entries(expected)) {
        const { trialBalance } = await app.client.ok(TrialBalanceDocument, { asOf });
        expect(trialBalance.asOf).toBe(asOf);
        expect(trialBalance.balanced).toBe(true);
        expect(columns(trialBalance)).toEqual(lines);
        const total = lines.reduce((sum, [, debit]) => sum + BigInt(debit.replace('.', '')), 0n);
        const totalAmount = usd(`${total / 100n}.${String(total % 100n).padStart(2, '0')}`);
        expect(trialBalance.totals).toEqual([{ currency: 'USD', balanced: true, debits: totalAmount, credits: totalAmount }]);
        for (const line of nodesOf(trialBalance.lines)) {
          const account = [cash, revenue, fees].find((a) => a.id === line.account.id) as Account;
          const net = (await balanceAsOf(account, asOf)).posted.net.amount;
          expect(account.normalBalance === 'DEBIT' ? line.debit.amount : line.credit.amount).toBe(net);
        }
      }
    });

    it('without asOf matches the kept balances, and as of now gives the same columns', async () => {
      const { trialBalance: current } = await app.client.ok(TrialBalanceDocument, {});
      expect(columns(current)).toEqual([
        ['1000-cash', '135.75', '0.00'],
        ['4000-revenue', '0.00', '138.25'],
        ['6000-fees', '2.50', '0.00'],
      ]);
      const { trialBalance: asOfNow } = await app.client.ok(TrialBalanceDocument, { asOf: new Date().toISOString() });
      expect(columns(asOfNow)).toEqual(columns(current));
      expect(asOfNow.totals).toEqual(current.totals);
    });
  });

  describe('accountStatement', () => {
    async function statement(variables: AccountStatementPageQueryVariables, client: GraphQLClient = app.client) {
      return (await client.ok(AccountStatementPageDocument, variables)).accountStatement;
    }

    type StatementLines = NonNullable<AccountStatementPageQuery['accountStatement']>['lines']['edges'];
    function rows(edges: StatementLines): string[] {
      return edges.map(
        ({ node }) =>
          `${node.posting.effectiveAt} ${node.description} ${node.posting.direction} ${node.posting.amount.amount} -> ${node.runningBalance.amount}`,
      );
    }

    const cashLines = [
      `${JAN(10, '12:00:00.000')} fee CREDIT 2.50 -> 97.50`,
      `${JAN(10, '12:00:00.000')} sale 2 DEBIT 50.00 -> 147.50`,
      `${JAN(15)} refund CREDIT 20.00 -> 127.50`,
      `${JAN(20, '08:30:00.000')} sale 3 DEBIT 7.25 -> 134.75`,
    ];

    it('gives the opening balance, the lines in (effectiveAt, id) order with running balances, and the closing balance', async () => {
      const result = await statement({ accountId: cash.id, from: JAN(8), to: JAN(31) });
      expect(result.account).toEqual({ id: cash.id, code: '1000-cash' });
      expect(result.from).toBe(JAN(8));
      expect(result.to).toBe(JAN(31));
      expect(result.openingBalance).toEqual(usd('100.00'));
      expect(result.closingBalance).toEqual(usd('134.75'));
      expect(rows(result.lines.edges)).toEqual(cashLines);
      expect(result.lines.edges.map((e) => e.node.posting.journalEntry.id)).toEqual([
        entries.fee.id,
        entries.sale2.id,
        entries.refund.id,
        entries.sale3.id,
      ]);
      expect(result.lines.edges.every((e) => e.node.posting.phase === 'POSTED')).toBe(true);
      expect(result.lines.pageInfo.hasNextPage).toBe(false);
    });

    it('counts in the normal direction of a credit-normal account', async () => {
      const result = await statement({ accountId: revenue.id, from: JAN(8), to: JAN(31) });
      expect(result.openingBalance).toEqual(usd('100.00'));
      expect(rows(result.lines.edges)).toEqual([
        `${JAN(10, '12:00:00.000')} sale 2 CREDIT 50.00 -> 150.00`,
        `${JAN(15)} refund DEBIT 20.00 -> 130.00`,
        `${JAN(20, '08:30:00.000')} sale 3 CREDIT 7.25 -> 137.25`,
      ]);
      expect(result.closingBalance).toEqual(usd('137.25'));
    });

    it('includes from and excludes to', async () => {
      const result = await statement({ accountId: cash.id, from: JAN(10, '12:00:00.000'), to: JAN(15) });
      expect(result.openingBalance).toEqual(usd('100.00'));
      expect(rows(result.lines.edges)).toEqual(cashLines.slice(0, 2));
      expect(result.closingBalance).toEqual(usd('147.50'));

      const empty = await statement({ accountId: cash.id, from: JAN(21), to: JAN(31) });
      expect(empty.lines.edges).toEqual([]);
      expect(empty.openingBalance).toEqual(usd('134.75'));
      expect(empty.closingBalance).toEqual(usd('134.75'));
      expect(empty.lines.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
    });

    it('paginates with first and after, the running balance continuing across pages', async () => {
      const variables = { accountId: cash.id, from: JAN(8), to: JAN(31), first: 2 };
      const page1 = await statement(variables);
      expect(rows(page1.lines.edges)).toEqual(cashLines.slice(0, 2));
      expect(page1.lines.pageInfo.hasNextPage).toBe(true);
      expect(page1.lines.pageInfo.endCursor).toBe(page1.lines.edges[1].cursor);

      const page2 = await statement({ ...variables, after: page1.lines.pageInfo.endCursor });
      expect(rows(page2.lines.edges)).toEqual(cashLines.slice(2, 4));
      expect(page2.lines.pageInfo.hasNextPage).toBe(false);
      // Opening and closing belong to the whole period, whatever the page.
      expect(page2.openingBalance).toEqual(usd('100.00'));
      expect(page2.closingBalance).toEqual(usd('134.75'));

      // One line per page, continuing from each line's own cursor, gives the same lines.
      const walked: string[] = [];
      let after: string | null = null;
      for (let pages = 0; pages < 10; pages += 1) {
        const page: Awaited<ReturnType<typeof statement>> = await statement({ ...variables, first: 1, after });
        walked.push(...rows(page.lines.edges));
        if (!page.lines.pageInfo.hasNextPage) break;
        after = page.lines.edges[0].cursor;
      }
      expect(walked).toEqual(cashLines);

      // Continuing after the second line of a page of two, by its edge cursor.
      const fromEdge = await statement({ ...variables, after: page1.lines.edges[0].cursor });
      expect(rows(fromEdge.lines.edges)).toEqual(cashLines.slice(1, 3));
    });

    it('refuses cursors it did not issue, an empty period, and another tenant’s account', async () => {
      const variables = { accountId: cash.id, from: JAN(8), to: JAN(31), first: 2 };
      const crafted = ['c:garbage|pst_x', 'c:2024-01-10 12:00:00.000|x', 'c:a|b|c', `c:${cash.id}`].map((key) =>
        Buffer.from(key).toString('base64url'),
      );
      for (const after of ['garbage', ...crafted]) {
        const result = await app.client.request(AccountStatementPageDocument, { ...variables, after });
        expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['VALIDATION_FAILED']);
        expect(result.errors?.[0].message).toBe('after is not a cursor returned by this API');
      }
      const empty = await app.client.request(AccountStatementPageDocument, { ...variables, from: JAN(31), to: JAN(31) });
      expect(empty.errors?.map((e) => e.extensions?.code)).toEqual(['VALIDATION_FAILED']);
      const theirs = await other.client.request(AccountStatementPageDocument, variables);
      expect(theirs.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(theirs.errors?.[0].extensions?.requestId).toBe(theirs.headers.get('x-request-id'));
    });
  });

  describe('node(id:)', () => {
    it('returns an Account and a JournalEntry by id', async () => {
      const { node: account } = await app.client.ok(NodeWithTypeDocument, { id: cash.id });
      expect(account).toEqual({ __typename: 'Account', id: cash.id, code: '1000-cash', currency: 'USD', type: 'ASSET' });
      const { node: entry } = await app.client.ok(NodeWithTypeDocument, { id: entries.sale2.id });
      expect(entry).toEqual({ __typename: 'JournalEntry', id: entries.sale2.id, status: 'POSTED', description: 'sale 2' });
      const { node: hold } = await app.client.ok(NodeWithTypeDocument, { id: entries.hold.id });
      expect(hold).toMatchObject({ __typename: 'JournalEntry', status: 'PENDING' });
    });

    it('reports other tenants’ ids (postings and the tenant itself included), unknown ids and ids of kinds that are not nodes as NOT_FOUND', async () => {
      const postingId = entries.sale2.postings[0].id;
      const { tenantId } = app;
      // Postings and tenants are nodes too: asked for by the other tenant, they do not exist for it.
      const ownedByApp = [cash.id, entries.sale2.id, postingId, tenantId];
      for (const id of [...ownedByApp, `acct_${ulid()}`, `je_${ulid()}`, `idem_${ulid()}`, 'garbage']) {
        const client = ownedByApp.includes(id) ? other.client : app.client;
        const result = await client.request(NodeWithTypeDocument, { id });
        expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
        expect(result.errors?.[0].message).toBe(`No object with id ${id} in this tenant`);
        expect(setRootFieldsOf(result.data)).toBeNull();
      }
    });
  });

  describe('accounts filters and pagination', () => {
    // A tenant of its own, so the expected lists are exactly the accounts created here.
    let tenant: TestTenant;
    const created: { code: string; type: AccountType; currency: string }[] = [
      { code: '1000-cash', type: 'ASSET', currency: 'USD' },
      { code: '1000-cash-eur', type: 'ASSET', currency: 'EUR' },
      { code: '1100-receivable', type: 'ASSET', currency: 'USD' },
      { code: '2000-payable', type: 'LIABILITY', currency: 'USD' },
      { code: '4000-sales', type: 'REVENUE', currency: 'USD' },
      { code: '4000-sales-jpy', type: 'REVENUE', currency: 'JPY' },
      { code: '50%_off', type: 'EXPENSE', currency: 'USD' },
      { code: '50xxoff', type: 'EXPENSE', currency: 'USD' },
      { code: '5_0', type: 'EXPENSE', currency: 'USD' },
      { code: '5a0', type: 'EXPENSE', currency: 'USD' },
      { code: '50!x', type: 'EXPENSE', currency: 'USD' },
      { code: 'CASH-upper', type: 'EQUITY', currency: 'USD' },
      { code: 'cash-lower', type: 'EQUITY', currency: 'USD' },
    ];

    beforeAll(async () => {
      tenant = await app.createTenant('Initech');
      // Created in this order: the list is in creation order.
      for (const account of created) await createAccount(tenant.client, { ...account, name: account.code });
    });

    async function codes(filter: Record<string, unknown>, first?: number) {
      const { accounts } = await tenant.client.ok(AccountCodesDocument, { filter, first });
      return accounts.edges.map((e) => e.node.code);
    }

    it('filters by type and by currency', async () => {
      expect(await codes({ type: 'ASSET' })).toEqual(['1000-cash', '1000-cash-eur', '1100-receivable']);
      expect(await codes({ type: 'LIABILITY' })).toEqual(['2000-payable']);
      expect(await codes({ currency: 'EUR' })).toEqual(['1000-cash-eur']);
      expect(await codes({ currency: 'JPY' })).toEqual(['4000-sales-jpy']);
      expect(await codes({ currency: 'GBP' })).toEqual([]);
      expect(await codes({ type: 'REVENUE', currency: 'USD' })).toEqual(['4000-sales']);
      expect(await codes({ codePrefix: '1000', currency: 'USD' })).toEqual(['1000-cash']);
      const bad = await tenant.client.request(AccountCodesDocument, { filter: { currency: 'XYZ' } });
      expect(bad.errors?.map((e) => e.extensions?.code)).toEqual(['VALIDATION_FAILED']);
    });

    it('matches codePrefix literally: % and _ are not wildcards, and case counts', async () => {
      expect(await codes({ codePrefix: '4000' })).toEqual(['4000-sales', '4000-sales-jpy']);
      expect(await codes({ codePrefix: '4000-sales-' })).toEqual(['4000-sales-jpy']);
      expect(await codes({ codePrefix: '50%' })).toEqual(['50%_off']);
      expect(await codes({ codePrefix: '50%_' })).toEqual(['50%_off']);
      expect(await codes({ codePrefix: '5_' })).toEqual(['5_0']);
      expect(await codes({ codePrefix: '50!' })).toEqual(['50!x']);
      expect(await codes({ codePrefix: '%' })).toEqual([]);
      expect(await codes({ codePrefix: '_' })).toEqual([]);
      expect(await codes({ codePrefix: 'cash' })).toEqual(['cash-lower']);
      expect(await codes({ codePrefix: 'CASH' })).toEqual(['CASH-upper']);
      expect(await codes({ codePrefix: '1000-cash-eur-and-more' })).toEqual([]);
    });

    it('pages through every account in creation order, and through a filtered list', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const { accounts }: AccountCodesQuery = await tenant.client.ok(AccountCodesDocument, { first: 5, after });
        pages += 1;
        seen.push(...accounts.edges.map((e) => e.node.code));
        // Only the first page has nothing before it.
        expect(accounts.pageInfo.hasPreviousPage).toBe(pages > 1);
        expect(accounts.pageInfo.startCursor).toBe(accounts.edges[0].cursor);
        expect(accounts.pageInfo.endCursor).toBe(accounts.edges[accounts.edges.length - 1].cursor);
        if (!accounts.pageInfo.hasNextPage) break;
        after = accounts.pageInfo.endCursor;
        if (pages > 10) throw new Error('pagination does not end');
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(created.map((a) => a.code));

      const expenses: string[] = [];
      after = null;
      for (;;) {
        const { accounts }: AccountCodesQuery = await tenant.client.ok(AccountCodesDocument, {
          first: 2,
          after,
          filter: { type: 'EXPENSE' },
        });
        expenses.push(...accounts.edges.map((e) => e.node.code));
        if (!accounts.pageInfo.hasNextPage) break;
        after = accounts.pageInfo.endCursor;
      }
      expect(expenses).toEqual(['50%_off', '50xxoff', '5_0', '5a0', '50!x']);

      // A page that ends exactly at the last account says there is no next page.
      const { accounts: exact } = await tenant.client.ok(AccountCodesDocument, { first: created.length });
      expect(exact.edges).toHaveLength(created.length);
      expect(exact.pageInfo.hasNextPage).toBe(false);
      const { accounts: beyond } = await tenant.client.ok(AccountCodesDocument, { first: 5, after: exact.pageInfo.endCursor });
      expect(beyond.edges).toEqual([]);
      // An empty page past the end still has the whole list before it.
      expect(beyond.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null });
    });

    it('never lists another tenant’s accounts', async () => {
      const { accounts } = await app.client.ok(AccountCodesDocument, { first: 500 });
      expect(accounts.edges.map((e) => e.node.code)).toEqual(['1000-cash', '4000-revenue', '6000-fees']);
      expect(await codes({ codePrefix: '6000' })).toEqual([]);
    });
  });
});
