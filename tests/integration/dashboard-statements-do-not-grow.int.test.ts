import type { JournalLineInput, PostJournalEntryInput } from '../generated/graphql';
import {
  DashboardDocument,
  PostJournalEntriesDocument,
  PostJournalEntryLeanDocument,
  PostPendingJournalEntryLeanDocument,
  VoidPendingJournalEntryLeanDocument,
} from '../generated/graphql';
import { minorToDecimal } from '../helpers/concurrency';
import { nodesOf } from '../helpers/connections';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

const CUSTOMERS = 100;
const RECENT = 5;

/**
 * The Dashboard query asks, for every listed account, for its balances and its recent entries with
 * their postings and the postings' accounts. DataLoaders must fetch each of those levels with one
 * statement for the whole page, so the statement count is the same for 10 accounts as for 100.
 */
describeEachDatabase('the dashboard query runs the same statements for 10 accounts as for 100', (kind) => {
  let app: TestApp;
  let customers: { id: string; code: string }[];
  let house: { id: string; code: string };
  /** Entry ids touching each account, oldest first, as the test wrote them. */
  const entriesByAccount = new Map<string, string[]>();
  /** Net posted balance per account as the test expects it (all accounts here are debit-normal, save house). */
  const postedMinor = new Map<string, bigint>();

  function record(entryId: string, lines: JournalLineInput[], posts: boolean) {
    const touched = [...new Set(lines.map((line) => String(line.accountId)))];
    for (const accountId of touched) entriesByAccount.set(accountId, [...(entriesByAccount.get(accountId) ?? []), entryId]);
    if (!posts) return;
    for (const line of lines) {
      const minor = BigInt(line.amount.replace('.', ''));
      const id = String(line.accountId);
      postedMinor.set(id, (postedMinor.get(id) ?? 0n) + (line.direction === 'DEBIT' ? minor : -minor));
    }
  }

  const usd = (minor: number) => minorToDecimal(BigInt(minor), 'USD');
  const line = (accountId: string, direction: 'DEBIT' | 'CREDIT', minor: number): JournalLineInput => ({
    accountId,
    direction,
    amount: usd(minor),
    currency: 'USD',
  });

  async function postBatch(entries: PostJournalEntryInput[]) {
    const { postJournalEntries } = await app.client.ok(PostJournalEntriesDocument, { input: { entries } });
    postJournalEntries.journalEntries.forEach((entry, i) => record(entry.id, entries[i].lines, true));
  }

  beforeAll(async () => {
    app = await startTestApp(kind);
    customers = [];
    for (let i = 0; i < CUSTOMERS; i += 1) {
      customers.push(await createAccount(app.client, { type: 'ASSET', code: `cust-${String(i).padStart(3, '0')}` }));
    }
    // Created last, so it sorts after every customer: the 100-account page does not list it either,
    // and both pages have postings on an account the page did not load.
    house = await createAccount(app.client, { type: 'EQUITY', code: 'house' });

    await postBatch(customers.map((c, i) => ({ description: `fund ${i}`, lines: [line(c.id, 'DEBIT', 100 + i), line(house.id, 'CREDIT', 100 + i)] })));
    await postBatch(
      customers.map((c, i) => {
        const next = customers[(i + 1) % CUSTOMERS];
        return {
          description: `pair ${i}`,
          lines: [line(c.id, 'DEBIT', 200), line(next.id, 'CREDIT', 100), line(house.id, 'CREDIT', 100)],
        };
      }),
    );
    // The first ten customers get more entries than RECENT, one request each, so truncation shows.
    for (let round = 0; round < 4; round += 1) {
      for (const [i, c] of customers.slice(0, 10).entries()) {
        const lines = round % 2 === 0 ? [line(house.id, 'DEBIT', 7 + i), line(c.id, 'CREDIT', 7 + i)] : [line(c.id, 'DEBIT', 3), line(house.id, 'CREDIT', 3)];
        const { postJournalEntry } = await app.client.ok(PostJournalEntryLeanDocument, { input: { description: `extra ${round} ${i}`, lines } });
        record(postJournalEntry.journalEntry.id, lines, true);
      }
    }
    // A pending entry posted in part has several postings on the same account (hold, release,
    // posting); it must still be listed once. A voided entry has postings too, so it is listed.
    const holdLines = [line(customers[3].id, 'DEBIT', 500), line(house.id, 'CREDIT', 500)];
    const held = await app.client.ok(PostJournalEntryLeanDocument, { input: { description: 'held then posted', status: 'PENDING', lines: holdLines } });
    const partLines = [line(customers[3].id, 'DEBIT', 200), line(house.id, 'CREDIT', 200)];
    await app.client.ok(PostPendingJournalEntryLeanDocument, { input: { id: held.postJournalEntry.journalEntry.id, lines: partLines } });
    record(held.postJournalEntry.journalEntry.id, partLines, true);
    const voidLines = [line(customers[4].id, 'DEBIT', 900), line(house.id, 'CREDIT', 900)];
    const voided = await app.client.ok(PostJournalEntryLeanDocument, { input: { description: 'held then voided', status: 'PENDING', lines: voidLines } });
    await app.client.ok(VoidPendingJournalEntryLeanDocument, { input: { id: voided.postJournalEntry.journalEntry.id } });
    record(voided.postJournalEntry.journalEntry.id, voidLines, false);
  });
  afterAll(async () => {
    await app?.close();
  });

  /** Statements the server ran for one Dashboard request (the API-key lookup included). */
  async function dashboard(first: number) {
    const before = app.runtime.statements.count;
    const result = await app.client.request(DashboardDocument, { first, recent: RECENT });
    const statements = app.runtime.statements.count - before;
    expect(result.errors).toBeUndefined();
    return { statements, data: result.data as NonNullable<typeof result.data> };
  }

  it('counts the same statements for 1, 10 and 100 accounts, and few of them', async () => {
    await dashboard(10); // warm-up: nothing in the counts below may depend on a first request
    const one = await dashboard(1);
    const ten = await dashboard(10);
    const hundred = await dashboard(100);
    expect(ten.data.accounts!.edges).toHaveLength(10);
    expect(hundred.data.accounts!.edges).toHaveLength(100);
    expect({ ten: ten.statements, hundred: hundred.statements }).toEqual({ ten: one.statements, hundred: one.statements });
    expect(hundred.statements).toBeLessThanOrEqual(10);
  });

  it('lists at most five recent entries per account, newest first, each touching that account', async () => {
    const { data } = await dashboard(100);
    const codeById = new Map([...customers, house].map((a) => [a.id, a.code]));
    expect(data.accounts!.edges.map((edge) => edge.node.code)).toEqual(customers.map((c) => c.code));
    for (const { node } of data.accounts!.edges) {
      const expected = [...(entriesByAccount.get(node.id) ?? [])].reverse().slice(0, RECENT);
      expect({ code: node.code, recent: nodesOf(node.recentEntries).map((e) => e.id) }).toEqual({ code: node.code, recent: expected });
      for (const entry of nodesOf(node.recentEntries)) {
        expect(entry.postings.map((p) => p.account.code)).toContain(codeById.get(node.id));
      }
      expect({ code: node.code, posted: node.balances.posted.net.minorUnits }).toEqual({
        code: node.code,
        posted: String(postedMinor.get(node.id) ?? 0n),
      });
    }
    // Spot checks on hand-picked accounts, independent of the bookkeeping above.
    const byCode = new Map(data.accounts!.edges.map((edge) => [edge.node.code, edge.node]));
    expect(nodesOf(byCode.get('cust-000')!.recentEntries).map((e) => e.description)).toEqual(['extra 3 0', 'extra 2 0', 'extra 1 0', 'extra 0 0', 'pair 99']);
    expect(nodesOf(byCode.get('cust-050')!.recentEntries).map((e) => e.description)).toEqual(['pair 50', 'pair 49', 'fund 50']);
    expect(nodesOf(byCode.get('cust-003')!.recentEntries)[0].description).toBe('held then posted');
    expect(nodesOf(byCode.get('cust-003')!.recentEntries).filter((e) => e.description === 'held then posted')).toHaveLength(1);
    expect(nodesOf(byCode.get('cust-004')!.recentEntries)[0].description).toBe('held then voided');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
