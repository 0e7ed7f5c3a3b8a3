import type { JournalLineInput } from '../generated/graphql';
import { PostJournalEntryLeanDocument } from '../generated/graphql';
import { minorToDecimal, outcomeOf, readBalances, seededRandom, type Outcome } from '../helpers/concurrency';
import { describeEachDatabase, startTestApp, type DatabaseKindUnderTest, type TestApp, type TestAppOptions } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

const CLIENTS = 32;
/** Each client sends this many steps; a step is two opposite transfers sent at once, or one three-line entry and one transfer. */
const STEPS_PER_CLIENT = 12;
const ACCOUNT_COUNT = 5;
const SEED = 20250611;

interface PlannedEntry {
  lines: { account: number; direction: 'DEBIT' | 'CREDIT'; amountMinor: bigint }[];
}

/**
 * One client's plan: pairs of entries sent together. Most pairs are opposite-direction transfers
 * between the same two accounts (A→B and B→A), the worst case for lock ordering; the rest mix a
 * three-line entry whose lines are listed in descending account order with a transfer.
 */
function planFor(client: number): PlannedEntry[][] {
  const random = seededRandom(SEED + client);
  const pick = (n: number) => Math.floor(random() * n);
  const amount = () => BigInt(1 + pick(9999));
  const steps: PlannedEntry[][] = [];
  for (let step = 0; step < STEPS_PER_CLIENT; step += 1) {
    const a = pick(ACCOUNT_COUNT);
    const b = (a + 1 + pick(ACCOUNT_COUNT - 1)) % ACCOUNT_COUNT;
    const there: PlannedEntry = { lines: [{ account: a, direction: 'DEBIT', amountMinor: amount() }] };
    there.lines.push({ account: b, direction: 'CREDIT', amountMinor: there.lines[0].amountMinor });
    if (random() < 0.75) {
      const back = amount();
      steps.push([there, { lines: [{ account: b, direction: 'DEBIT', amountMinor: back }, { account: a, direction: 'CREDIT', amountMinor: back }] }]);
    } else {
      const c = [0, 1, 2, 3, 4].find((i) => i !== a && i !== b) as number;
      const [x, y] = [amount(), amount()];
      const three: PlannedEntry = {
        lines: [
          { account: Math.max(a, b, c), direction: 'DEBIT', amountMinor: x + y },
          { account: [a, b, c].sort((p, q) => p - q)[1], direction: 'CREDIT', amountMinor: x },
          { account: Math.min(a, b, c), direction: 'CREDIT', amountMinor: y },
        ],
      };
      steps.push([three, there]);
    }
  }
  return steps;
}

const CONFIGURATIONS: { name: string; options: TestAppOptions; kinds: DatabaseKindUnderTest[] }[] = [
  { name: 'group commit', options: {}, kinds: ['sqlite', 'mysql'] },
  // One entry per transaction: on MySQL, up to four transactions then wait on the same rows at once,
  // the case where lock order matters most. SQLite runs one transaction at a time, so it adds nothing there.
  { name: 'one entry per transaction', options: { ledgerMaxBatchSize: 1 }, kinds: ['mysql'] },
];

describeEachDatabase('32 concurrent clients posting over the same 5 accounts', (kind) => {
  describe.each(CONFIGURATIONS.filter((c) => c.kinds.includes(kind)))('$name', ({ options }) => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp(kind, options);
    });
    afterAll(async () => {
      await app?.close();
    });

    it('commits every entry, loses no update, and keeps the invariants', async () => {
      const accounts: { id: string }[] = [];
      for (let i = 0; i < ACCOUNT_COUNT; i += 1) accounts.push(await createAccount(app.client, { type: 'ASSET' }));
      const toLines = (entry: PlannedEntry): JournalLineInput[] =>
        entry.lines.map((line) => ({
          accountId: accounts[line.account].id,
          direction: line.direction,
          amount: minorToDecimal(line.amountMinor, 'USD'),
          currency: 'USD',
        }));

      const failures: { client: number; step: number; outcome: Outcome<unknown> }[] = [];
      const expectedMinor = new Array<bigint>(ACCOUNT_COUNT).fill(0n);
      let committed = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, client) => {
          const steps = planFor(client);
          for (const [step, pair] of steps.entries()) {
            const outcomes = await Promise.all(
              pair.map((entry) =>
                app.client
                  .request(PostJournalEntryLeanDocument, { input: { lines: toLines(entry), description: `client ${client} step ${step}` } })
                  .then(outcomeOf),
              ),
            );
            outcomes.forEach((outcome, i) => {
              if (!outcome.ok) {
                failures.push({ client, step, outcome });
                return;
              }
              committed += 1;
              expect(outcome.data.postJournalEntry!.journalEntry.status).toBe('POSTED');
              // ASSET accounts are debit-normal: a debit raises the net balance, a credit lowers it.
              for (const line of pair[i].lines) {
                expectedMinor[line.account] += line.direction === 'DEBIT' ? line.amountMinor : -line.amountMinor;
              }
            });
          }
        }),
      );

      expect(failures).toEqual([]);
      expect(committed).toBe(CLIENTS * STEPS_PER_CLIENT * 2);
      expect(expectedMinor.reduce((sum, v) => sum + v, 0n)).toBe(0n);

      const balances = await readBalances(app.client);
      const actual = accounts.map((account) => balances.get(account.id));
      expect(actual.map((b) => b?.postedMinor)).toEqual(expectedMinor);
      expect(actual.map((b) => b?.pendingMinor)).toEqual(expectedMinor);
      expect(actual.map((b) => b?.availableMinor)).toEqual(expectedMinor);

      const [{ count }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS count FROM journal_entries`);
      expect(Number(count)).toBe(committed);
      const report = await assertLedgerInvariants(app.runtime.dataSource, app.client);
      expect(report.postings).toBe(
        planAll().reduce((sum, entry) => sum + entry.lines.length, 0),
      );
    });
  });
});

function planAll(): PlannedEntry[] {
  return Array.from({ length: CLIENTS }, (_, client) => planFor(client).flat()).flat();
}
