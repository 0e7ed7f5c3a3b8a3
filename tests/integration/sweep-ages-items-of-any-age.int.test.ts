import { ReconciliationFlagsDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';
import { books, daysFromToday, eventually, flagsOf, importCsv, linesOf, post } from '../helpers/matching-fixtures';
import { createBankAccount } from '../helpers/statement-fixtures';

/**
 * Aging has no horizon: every line and posting unmatched past its window is flagged once, however
 * old, and a backlog larger than one sweep's batch is worked off over successive sweeps, none skipped,
 * none flagged twice.
 */

const sorted = (ids: string[]) => [...ids].sort();

describeEachDatabase('the sweep ages unmatched items of any age', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  }, 60_000);
  afterAll(() => app.close());

  it('flags the unmatched lines of a statement 200 days old imported today, once however many sweeps', async () => {
    const b = await books(app.client);
    const imported = await importCsv(app.client, b.bankAccountId, [
      { date: daysFromToday(-200), amount: '12.00', text: 'Old fee' },
      { date: daysFromToday(-199), amount: '-48.25', text: 'Old supplier' },
      { date: daysFromToday(-198), amount: '300.00', text: 'Old customer' },
    ]);
    const lines = await linesOf(app.client, imported.statements[0].id);
    await app.runtime.services.matching.sweep();
    await app.runtime.services.matching.sweep();
    const flags = await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_STATEMENT_LINE');
    expect(sorted(flags.map((f) => (f.details.statementLineIds as string[])[0]))).toEqual(sorted(lines.map((l) => l.id)));
    expect(flags.map((f) => [f.status, f.occurrenceCount])).toEqual(lines.map(() => ['OPEN', 1]));
  });

  it('ages postings 100 days old on a bank account created today, a backlog larger than a batch over several sweeps, and what arrives behind the cursor, none twice', async () => {
    // The ledger account has months of postings before it becomes a bank account's.
    const ledger = await createAccount(app.client, { type: 'ASSET', currency: 'USD' });
    const other = await createAccount(app.client, { type: 'REVENUE', currency: 'USD' });
    const books = { bankLedgerId: ledger.id, otherId: other.id };
    const postings: string[] = [];
    // Pairs share their effective time, so that a batch ends between two postings of the same instant.
    for (let i = 0; i < 7; i += 1) postings.push(await post(app.client, books, `${10 + i}.00`, daysFromToday(-100 - Math.floor(i / 2) * 3)));
    const bank = await createBankAccount(app.client, { currency: 'USD', ledgerAccountId: ledger.id });
    // And an old statement whose lines match none of them.
    const imported = await importCsv(app.client, bank.id, [
      { date: daysFromToday(-150), amount: '1.11' },
      { date: daysFromToday(-151), amount: '2.22' },
    ]);
    const lines = (await linesOf(app.client, imported.statements[0].id)).map((l) => l.id);

    const agedPostings = async () => (await flagsOf(app.client, bank.id, 'UNMATCHED_LEDGER_ENTRY')).map((f) => (f.details.postingIds as string[])[0]);
    const counts: number[] = [];
    for (let sweep = 0; sweep < 5; sweep += 1) {
      await app.runtime.services.matching.sweep({ agingBatchSize: 3 });
      counts.push((await agedPostings()).length);
    }
    // Three per sweep until none is left; then nothing more.
    expect(counts).toEqual([3, 6, 7, 7, 7]);
    expect(sorted(await agedPostings())).toEqual(sorted(postings));
    const all = await flagsOf(app.client, bank.id);
    expect(all.every((f) => f.occurrenceCount === 1 && f.status === 'OPEN')).toBe(true);
    expect(sorted(all.filter((f) => f.kind === 'UNMATCHED_STATEMENT_LINE').map((f) => (f.details.statementLineIds as string[])[0]))).toEqual(sorted(lines));
    expect(all).toHaveLength(postings.length + lines.length);

    // A posting backdated today, behind what the sweeps examined, is aged all the same: when it is
    // written (matching runs after the commit), whatever the sweeps do meanwhile.
    const backdated = await post(app.client, books, '99.99', daysFromToday(-300));
    await app.runtime.services.matching.sweep({ agingBatchSize: 3 });
    const aged = await eventually(agedPostings, (ids) => ids.includes(backdated), 'the backdated posting to be aged');
    await app.runtime.services.matching.sweep({ agingBatchSize: 3 });
    expect(sorted(aged)).toEqual(sorted([...postings, backdated]));
    expect(sorted(await agedPostings())).toEqual(sorted(aged));
    expect((await flagsOf(app.client, bank.id)).every((f) => f.occurrenceCount === 1)).toBe(true);

    // A backdated posting whose run after the write never happened (the process died after the
    // commit): the audit behind the frontier finds it within a few sweeps, and flags it once.
    const matching = app.runtime.services.matching;
    const matchEntries = matching.matchEntries.bind(matching);
    matching.matchEntries = () => Promise.resolve({ matches: [], flags: [] });
    let missed: string;
    try {
      missed = await post(app.client, books, '42.42', daysFromToday(-250));
    } finally {
      matching.matchEntries = matchEntries;
    }
    expect(await agedPostings()).not.toContain(missed);
    for (let sweep = 0; sweep < 4; sweep += 1) await matching.sweep({ agingBatchSize: 3 });
    expect(sorted(await agedPostings())).toEqual(sorted([...postings, backdated, missed]));
    expect((await flagsOf(app.client, bank.id)).every((f) => f.occurrenceCount === 1)).toBe(true);

    // Another tenant sees none of it.
    const stranger = await app.createTenant('Aging other');
    expect((await stranger.client.ok(ReconciliationFlagsDocument, { first: 10 })).reconciliationFlags.totalCount).toBe(0);
    expect(await stranger.client.errorCode(ReconciliationFlagsDocument, { first: 10, filter: { bankAccountId: bank.id } })).toBe('NOT_FOUND');
  });
});
