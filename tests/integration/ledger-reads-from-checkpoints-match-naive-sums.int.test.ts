import { newId } from '../../src/common/ids';
import { fromDbTimestamp, toDbTimestamp } from '../../src/common/timestamps';
import { PERIOD_TOTALS_TABLE, rebuildPeriodTotals } from '../../src/modules/ledger/period-totals';
import {
  AccountBalanceAsOfDocument,
  AccountStatementPageDocument,
  type AccountStatementPageQuery,
  JournalEntriesDocument,
  type JournalEntriesQuery,
  type JournalEntryStatus,
  PostJournalEntryDocument,
  PostPendingJournalEntryDocument,
  ReverseJournalEntryDocument,
  VoidPendingJournalEntryDocument,
} from '../generated/graphql';
import { seededRandom } from '../helpers/concurrency';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, transfer } from '../helpers/ledger-fixtures';

interface NaivePosting {
  id: string;
  entryId: string;
  accountId: string;
  direction: 'DEBIT' | 'CREDIT';
  amount: bigint;
  phase: 'POSTED' | 'PENDING';
  at: string;
}

interface Totals {
  postedDebitsMinor: bigint;
  postedCreditsMinor: bigint;
  pendingDebitsMinor: bigint;
  pendingCreditsMinor: bigint;
}

/** Instants at and around month and day boundaries, where checkpoints and the day's seek meet. */
const BOUNDARIES = [
  '2024-01-01T00:00:00.000Z',
  '2024-01-15T00:00:00.000Z',
  '2024-01-31T23:59:59.999Z',
  '2024-02-01T00:00:00.000Z',
  '2024-02-01T00:00:00.001Z',
  '2024-02-29T12:00:00.000Z',
  '2024-03-01T00:00:00.000Z',
  '2024-03-31T23:59:59.999Z',
  '2024-04-01T00:00:00.000Z',
];

/**
 * Balances as of an instant, statement opening, running and closing balances, and the entries of an
 * account now come from balance checkpoints (per account and UTC month/day, kept by the ledger writer)
 * plus index seeks. On a ledger written out of date order (backdated entries across month and day
 * boundaries, holds posted in part or in full at earlier or later instants, holds voided, reversals
 * backdated), every one of them equals what a naive sum or sort of the postings gives; so do they when
 * postings were bulk-inserted past the writer (the reads fall back to the postings) and after the
 * checkpoints are rebuilt, and the writer's checkpoints equal the rebuilt ones.
 */
describeEachDatabase('ledger reads from checkpoints match naive sums of the postings', (kind) => {
  let app: TestApp;
  const accounts: { id: string; normal: 'DEBIT' | 'CREDIT' }[] = [];
  const next = seededRandom(20241207);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  /** An instant between 2024-01-01 and 2024-04-10, a boundary itself one time in four. */
  const someInstant = () =>
    next() < 0.25 ? pick(BOUNDARIES) : new Date(Date.UTC(2024, 0, 1) + Math.floor(next() * 100 * 86_400_000)).toISOString();
  const amount = () => `${1 + Math.floor(next() * 500)}.${String(Math.floor(next() * 100)).padStart(2, '0')}`;

  async function naivePostings(): Promise<NaivePosting[]> {
    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT * FROM postings WHERE tenant_id = ?', [app.tenantId]);
    return rows.map((row) => ({
      id: String(row.id),
      entryId: String(row.journal_entry_id),
      accountId: String(row.account_id),
      direction: row.direction as 'DEBIT' | 'CREDIT',
      amount: BigInt(String(row.amount_minor)),
      phase: row.phase as 'POSTED' | 'PENDING',
      at: toDbTimestamp(fromDbTimestamp(row.effective_at)),
    }));
  }

  function naiveTotals(postings: NaivePosting[], accountId: string, upTo: (p: NaivePosting) => boolean): Totals {
    const totals: Totals = { postedDebitsMinor: 0n, postedCreditsMinor: 0n, pendingDebitsMinor: 0n, pendingCreditsMinor: 0n };
    for (const p of postings) {
      if (p.accountId !== accountId || !upTo(p)) continue;
      if (p.phase === 'POSTED') {
        if (p.direction === 'DEBIT') totals.postedDebitsMinor += p.amount;
        else totals.postedCreditsMinor += p.amount;
      }
      if (p.direction === 'DEBIT') totals.pendingDebitsMinor += p.amount;
      else totals.pendingCreditsMinor += p.amount;
    }
    return totals;
  }

  const postedNet = (totals: Totals, normal: 'DEBIT' | 'CREDIT') =>
    normal === 'DEBIT' ? totals.postedDebitsMinor - totals.postedCreditsMinor : totals.postedCreditsMinor - totals.postedDebitsMinor;

  /** Every instant worth asking about: boundaries and each effective time, and a millisecond either side. */
  function instantsOf(postings: NaivePosting[]): Date[] {
    const times = new Set<number>();
    for (const text of [...BOUNDARIES, ...postings.map((p) => `${p.at.replace(' ', 'T')}Z`)]) {
      const t = Date.parse(text);
      for (const d of [-1, 0, 1]) times.add(t + d);
    }
    return [...times].sort((a, b) => a - b).map((t) => new Date(t));
  }

  async function expectAsOfBalancesMatch(): Promise<void> {
    const postings = await naivePostings();
    const ids = accounts.map((a) => a.id);
    for (const instant of instantsOf(postings)) {
      const at = toDbTimestamp(instant);
      const read = await app.runtime.services.ledger.totalsAsOf(app.tenantId, ids, instant);
      for (const id of ids) expect({ id, at, ...read.get(id) }).toEqual({ id, at, ...naiveTotals(postings, id, (p) => p.at <= at) });
    }
    // And through the API, at the boundaries.
    for (const asOf of BOUNDARIES) {
      for (const account of accounts) {
        const { account: found } = await app.client.ok(AccountBalanceAsOfDocument, { id: account.id, asOf });
        const expected = naiveTotals(postings, account.id, (p) => p.at <= toDbTimestamp(new Date(asOf)));
        expect([found.balance.posted.debits.minorUnits, found.balance.posted.credits.minorUnits, found.balance.pending.debits.minorUnits, found.balance.pending.credits.minorUnits]).toEqual(
          [expected.postedDebitsMinor, expected.postedCreditsMinor, expected.pendingDebitsMinor, expected.pendingCreditsMinor].map(String),
        );
      }
    }
  }

  async function expectStatementsMatch(): Promise<void> {
    const postings = await naivePostings();
    const windows: [string, string][] = [
      ['2024-01-01T00:00:00.000Z', '2024-05-01T00:00:00.000Z'],
      ['2024-01-15T00:00:00.000Z', '2024-02-01T00:00:00.000Z'],
      ['2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z'],
      ['2024-02-01T00:00:00.001Z', '2024-03-31T23:59:59.999Z'],
    ];
    const window = seededRandom(7);
    for (let i = 0; i < 4; i += 1) {
      const [a, b] = [0, 1].map(() => Date.UTC(2024, 0, 1) + Math.floor(window() * 100 * 86_400_000)).sort((x, y) => x - y);
      windows.push([new Date(a).toISOString(), new Date(b + 1).toISOString()]);
    }
    for (const [from, to] of windows) {
      const [fromDb, toDb] = [toDbTimestamp(new Date(from)), toDbTimestamp(new Date(to))];
      for (const account of accounts) {
        const lines = postings
          .filter((p) => p.accountId === account.id && p.phase === 'POSTED' && p.at >= fromDb && p.at < toDb)
          .sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : x.id < y.id ? -1 : 1));
        const opening = postedNet(naiveTotals(postings, account.id, (p) => p.at < fromDb), account.normal);
        const closing = postedNet(naiveTotals(postings, account.id, (p) => p.at < toDb), account.normal);
        let running = opening;
        const expected = lines.map((p) => {
          running += p.direction === account.normal ? p.amount : -p.amount;
          return { id: p.id, running: String(running) };
        });
        const seen: { id: string; running: string }[] = [];
        let after: string | null = null;
        for (;;) {
          const { accountStatement }: AccountStatementPageQuery = await app.client.ok(AccountStatementPageDocument, { accountId: account.id, from, to, first: 4, after });
          expect([accountStatement!.openingBalance.minorUnits, accountStatement!.closingBalance.minorUnits]).toEqual([String(opening), String(closing)]);
          const edges: NonNullable<AccountStatementPageQuery['accountStatement']>['lines']['edges'] = accountStatement!.lines.edges;
          seen.push(...edges.map((edge) => ({ id: edge.node.posting.id, running: edge.node.runningBalance.minorUnits })));
          if (!accountStatement!.lines.pageInfo.hasNextPage) break;
          after = edges[edges.length - 1].cursor;
        }
        expect({ from, to, account: account.id, seen }).toEqual({ from, to, account: account.id, seen: expected });
      }
    }
  }

  async function expectEntriesOfAccountsMatch(): Promise<void> {
    const postings = await naivePostings();
    const statuses: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT id, status FROM journal_entries WHERE tenant_id = ?', [app.tenantId]);
    const statusOf = new Map(statuses.map((row) => [String(row.id), String(row.status)]));
    for (const account of accounts) {
      for (const status of [null, 'POSTED', 'PENDING', 'VOIDED'] as (JournalEntryStatus | null)[]) {
        const expected = [...new Set(postings.filter((p) => p.accountId === account.id).map((p) => p.entryId))]
          .filter((id) => status === null || statusOf.get(id) === status)
          .sort()
          .reverse();
        const filter = status === null ? { accountId: account.id } : { accountId: account.id, status };
        const forward: string[] = [];
        let after: string | null = null;
        for (;;) {
          const { journalEntries }: JournalEntriesQuery = await app.client.ok(JournalEntriesDocument, { first: 7, after, filter });
          forward.push(...journalEntries!.edges.map((edge) => edge.node.id));
          expect(journalEntries!.totalCount).toBe(expected.length);
          if (!journalEntries!.pageInfo.hasNextPage) break;
          after = journalEntries!.pageInfo.endCursor ?? null;
        }
        expect({ account: account.id, status, forward }).toEqual({ account: account.id, status, forward: expected });
        const { journalEntries: last } = await app.client.ok(JournalEntriesDocument, { last: 5, filter });
        expect(last!.edges.map((edge) => edge.node.id)).toEqual(expected.slice(-5));
      }
    }
  }

  async function checkpointRows(): Promise<string[]> {
    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query(
      `SELECT account_id, period_kind, period_start, posted_debits_minor, posted_credits_minor, pending_debits_minor, pending_credits_minor
         FROM ${PERIOD_TOTALS_TABLE} WHERE tenant_id = ? ORDER BY account_id, period_kind, period_start`,
      [app.tenantId],
    );
    return rows.map((row) =>
      [row.account_id, row.period_kind, toDbTimestamp(fromDbTimestamp(row.period_start)), row.posted_debits_minor, row.posted_credits_minor, row.pending_debits_minor, row.pending_credits_minor]
        .map(String)
        .join('|'),
    );
  }

  beforeAll(async () => {
    app = await startTestApp(kind);
    for (const type of ['ASSET', 'REVENUE', 'EXPENSE'] as const) {
      const account = await createAccount(app.client, { type });
      accounts.push({ id: account.id, normal: type === 'REVENUE' ? 'CREDIT' : 'DEBIT' });
    }
    const pair = () => {
      const debit = pick(accounts);
      return [debit.id, pick(accounts.filter((a) => a !== debit)).id] as const;
    };
    const posted: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      const [debit, credit] = pair();
      const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, {
        input: { lines: transfer(debit, credit, amount()), description: `entry ${i}`, effectiveAt: someInstant() },
      });
      posted.push(postJournalEntry.journalEntry.id);
    }
    for (let i = 0; i < 9; i += 1) {
      const [debit, credit] = pair();
      const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, {
        input: { lines: transfer(debit, credit, '300.00'), description: `hold ${i}`, status: 'PENDING', effectiveAt: someInstant() },
      });
      const id = postJournalEntry.journalEntry.id;
      // Posted in full, in part, or voided; posting may be backdated before the hold's own date.
      if (i % 3 === 0) {
        await app.client.ok(PostPendingJournalEntryDocument, { input: { id, effectiveAt: someInstant() } });
        posted.push(id);
      } else if (i % 3 === 1) {
        await app.client.ok(PostPendingJournalEntryDocument, { input: { id, lines: transfer(debit, credit, '120.50'), effectiveAt: someInstant() } });
        posted.push(id);
      } else {
        await app.client.ok(VoidPendingJournalEntryDocument, { input: { id } });
      }
    }
    // Two holds left pending: pending balances only.
    for (let i = 0; i < 2; i += 1) {
      const [debit, credit] = pair();
      await app.client.ok(PostJournalEntryDocument, { input: { lines: transfer(debit, credit, '42.00'), status: 'PENDING', effectiveAt: someInstant() } });
    }
    for (const id of posted.slice(0, 6)) await app.client.ok(ReverseJournalEntryDocument, { input: { id, effectiveAt: someInstant() } });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
  });

  it('as-of balances at every boundary and effective time equal the sums of the postings up to them', async () => {
    await expectAsOfBalancesMatch();
  }, 120_000);

  it('statement opening, running and closing balances and lines, page by page, equal the postings’ sums and order', async () => {
    await expectStatementsMatch();
  }, 120_000);

  it('an account’s entries, page by page and from the end, with and without a status, are the entries with a posting on it, newest id first', async () => {
    await expectEntriesOfAccountsMatch();
  }, 120_000);

  it('the checkpoints the writer kept equal the ones rebuilt from the postings', async () => {
    const kept = await checkpointRows();
    expect(kept.length).toBeGreaterThan(0);
    await rebuildPeriodTotals(app.runtime.dataSource, app.tenantId);
    expect(await checkpointRows()).toEqual(kept);
  });

  it('postings bulk-inserted past the writer are read from the postings until the checkpoints are rebuilt, then from them', async () => {
    // An entry loaded with plain SQL, backdated into January, the accounts' kept totals updated: the
    // checkpoints no longer add up to the totals, so the reads sum the accounts' postings.
    const [debit, credit] = [accounts[0].id, accounts[1].id];
    const entryId = newId('journalEntry');
    const at = '2024-01-20 09:00:00.000';
    const now = toDbTimestamp(new Date());
    await app.runtime.dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO journal_entries (id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at)
         VALUES (?, ?, 'POSTED', 'bulk', ?, NULL, NULL, NULL, ?, NULL)`,
        [entryId, app.tenantId, at, now],
      );
      for (const [accountId, direction, column] of [[debit, 'DEBIT', 'debits'], [credit, 'CREDIT', 'credits']] as const) {
        await manager.query(
          `INSERT INTO postings (id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at)
           VALUES (?, ?, ?, ?, ?, 77777, 'USD', 'POSTED', ?, ?)`,
          [newId('posting'), app.tenantId, entryId, accountId, direction, at, now],
        );
        await manager.query(`UPDATE accounts SET posted_${column}_minor = posted_${column}_minor + 77777, pending_${column}_minor = pending_${column}_minor + 77777 WHERE id = ?`, [accountId]);
      }
    });
    await expectAsOfBalancesMatch();
    await expectStatementsMatch();
    await rebuildPeriodTotals(app.runtime.dataSource);
    await expectAsOfBalancesMatch();
    await expectStatementsMatch();
    await expectEntriesOfAccountsMatch();
  }, 240_000);
});
