import type { PostJournalEntryInput } from '../generated/graphql';
import { JournalEntryPostingsDocument, PostJournalEntriesDocument } from '../generated/graphql';
import { minorToDecimal, outcomeOf, readBalances, type AccountBalancesSnapshot, type Outcome } from '../helpers/concurrency';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

const ACCOUNT_COUNT = 10;
const BATCH_SIZE = 1000;

/** postJournalEntries writes up to 1,000 entries in one transaction: all of them, or none. */
describeEachDatabase('postJournalEntries batches', (kind) => {
  let app: TestApp;
  let accounts: { id: string }[];
  let wallet: { id: string };
  let runs = 0;

  beforeAll(async () => {
    app = await startTestApp(kind);
    accounts = [];
    for (let i = 0; i < ACCOUNT_COUNT; i += 1) accounts.push(await createAccount(app.client, { type: 'ASSET' }));
    wallet = await createAccount(app.client, { type: 'LIABILITY', noOverdraft: true });
  });
  afterAll(async () => {
    await app?.close();
  });

  /** `count` transfers over the accounts in a fixed pattern, with unique external references. */
  function entries(count: number, refPrefix: string): PostJournalEntryInput[] {
    return Array.from({ length: count }, (_, i) => {
      const debit = accounts[i % ACCOUNT_COUNT];
      const credit = accounts[(i * 7 + 3) % ACCOUNT_COUNT === i % ACCOUNT_COUNT ? (i + 1) % ACCOUNT_COUNT : (i * 7 + 3) % ACCOUNT_COUNT];
      return {
        description: `batch entry ${i}`,
        externalRef: `${refPrefix}-${i}`,
        lines: transfer(debit.id, credit.id, minorToDecimal(BigInt(1 + i), 'USD')),
      };
    });
  }

  /** Net balance changes (debit-normal accounts) the given entries make. */
  function effects(batch: PostJournalEntryInput[]): Map<string, bigint> {
    const change = new Map<string, bigint>();
    for (const entry of batch) {
      for (const line of entry.lines) {
        const minor = BigInt(line.amount.replace('.', ''));
        const id = String(line.accountId);
        change.set(id, (change.get(id) ?? 0n) + (line.direction === 'DEBIT' ? minor : -minor));
      }
    }
    return change;
  }

  async function counts() {
    const [entryRow] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS count FROM journal_entries`);
    const [postingRow] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS count FROM postings`);
    return { entries: Number(entryRow.count), postings: Number(postingRow.count) };
  }

  function postedOf(balances: Map<string, AccountBalancesSnapshot>) {
    return new Map([...balances.values()].map((b) => [b.id, b.postedMinor]));
  }

  /**
   * Sends a batch that must be refused, checking while it runs that no reader ever sees any of it,
   * and afterwards that nothing was written.
   */
  async function expectRefusedWithoutTrace(batch: PostJournalEntryInput[], code: string, index: number) {
    const before = { counts: await counts(), posted: postedOf(await readBalances(app.client)) };
    let done = false;
    let reads = 0;
    const reader = (async () => {
      while (!done) {
        expect(postedOf(await readBalances(app.client))).toEqual(before.posted);
        reads += 1;
      }
    })();
    let outcome: Outcome<unknown>;
    try {
      outcome = outcomeOf(await app.client.request(PostJournalEntriesDocument, { input: { entries: batch } }));
    } finally {
      done = true;
      await reader;
    }
    expect(reads).toBeGreaterThan(0);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.code).toBe(code);
    expect(outcome.details?.index).toBe(index);
    expect(outcome.message).toMatch(new RegExp(`^entries\\[${index}\\]`));
    expect(await counts()).toEqual(before.counts);
    expect(postedOf(await readBalances(app.client))).toEqual(before.posted);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  }

  it('writes 1,000 entries in one call, every one present with its postings, balances right', async () => {
    runs += 1;
    const batch = entries(BATCH_SIZE, `big-${runs}`);
    const before = { counts: await counts(), posted: postedOf(await readBalances(app.client)) };

    const { postJournalEntries } = await app.client.ok(PostJournalEntriesDocument, { input: { entries: batch } });

    expect(postJournalEntries.journalEntries).toHaveLength(BATCH_SIZE);
    expect(postJournalEntries.journalEntries.map((e) => e.externalRef)).toEqual(batch.map((e) => e.externalRef));
    expect(new Set(postJournalEntries.journalEntries.map((e) => e.status))).toEqual(new Set(['POSTED']));
    expect(new Set(postJournalEntries.journalEntries.map((e) => e.id)).size).toBe(BATCH_SIZE);
    expect(await counts()).toEqual({ entries: before.counts.entries + BATCH_SIZE, postings: before.counts.postings + 2 * BATCH_SIZE });

    const stored: Record<string, unknown>[] = await app.runtime.dataSource.query(
      `SELECT e.external_ref, COUNT(p.id) AS postings FROM journal_entries e JOIN postings p ON p.journal_entry_id = e.id
        WHERE e.external_ref LIKE ? GROUP BY e.external_ref`,
      [`big-${runs}-%`],
    );
    expect(stored).toHaveLength(BATCH_SIZE);
    expect(stored.every((row) => Number(row.postings) === 2)).toBe(true);

    // Read a few back through the API: the right lines on the right accounts.
    for (const i of [0, 1, 499, 998, 999]) {
      const { journalEntry } = await app.client.ok(JournalEntryPostingsDocument, { id: postJournalEntries.journalEntries[i].id });
      expect(journalEntry.externalRef).toBe(batch[i].externalRef);
      expect(journalEntry.postings.map((p) => ({ account: p.account.id, direction: p.direction, minor: p.amount.minorUnits }))).toEqual(
        batch[i].lines.map((l) => ({ account: l.accountId, direction: l.direction, minor: l.amount.replace('.', '').replace(/^0+/, '') })),
      );
    }

    const change = effects(batch);
    const after = postedOf(await readBalances(app.client));
    for (const account of accounts) {
      expect({ id: account.id, posted: after.get(account.id) }).toEqual({
        id: account.id,
        posted: (before.posted.get(account.id) ?? 0n) + (change.get(account.id) ?? 0n),
      });
    }
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses the whole batch with ALREADY_EXISTS when two of its entries share an externalRef, writing nothing', async () => {
    runs += 1;
    const batch = entries(BATCH_SIZE, `dup-${runs}`);
    batch[BATCH_SIZE - 1] = { ...batch[BATCH_SIZE - 1], externalRef: batch[10].externalRef };
    await expectRefusedWithoutTrace(batch, 'ALREADY_EXISTS', BATCH_SIZE - 1);
    // The references of the refused batch stay free.
    const { postJournalEntries } = await app.client.ok(PostJournalEntriesDocument, { input: { entries: entries(20, `dup-${runs}`) } });
    expect(postJournalEntries.journalEntries).toHaveLength(20);
  });

  it('refuses a small batch whose duplicate sits right after the original', async () => {
    runs += 1;
    const batch = entries(5, `dup-small-${runs}`);
    batch[2] = { ...batch[2], externalRef: batch[1].externalRef };
    await expectRefusedWithoutTrace(batch, 'ALREADY_EXISTS', 2);
  });

  it('refuses the whole batch when one entry reuses an externalRef already stored', async () => {
    runs += 1;
    const stored = await postTransfer(app.client, accounts[0].id, accounts[1].id, '1.00', { externalRef: `kept-${runs}` });
    expect(stored.externalRef).toBe(`kept-${runs}`);
    const batch = entries(300, `reuse-${runs}`);
    batch[150] = { ...batch[150], externalRef: `kept-${runs}` };
    await expectRefusedWithoutTrace(batch, 'ALREADY_EXISTS', 150);
  });

  it('refuses the whole batch when one entry would overdraw a limited account', async () => {
    runs += 1;
    await postTransfer(app.client, accounts[0].id, wallet.id, '5.00');
    const batch = entries(200, `limit-${runs}`);
    // 3.00 and then 3.00 out of a wallet holding 5.00: the second is refused, and with it the batch.
    batch[50] = { ...batch[50], lines: transfer(wallet.id, accounts[0].id, '3.00') };
    batch[120] = { ...batch[120], lines: transfer(wallet.id, accounts[0].id, '3.00') };
    await expectRefusedWithoutTrace(batch, 'INSUFFICIENT_FUNDS', 120);
    const balance = (await readBalances(app.client)).get(wallet.id);
    expect(balance?.availableMinor).toBe(500n);
  });
});
