import { newId } from '../../src/common/ids';
import { toDbTimestamp } from '../../src/common/timestamps';
import { RecentEntriesOfAccountsDocument, TrialBalanceDocument } from '../generated/graphql';
import { nodesOf } from '../helpers/connections';
import { describeOnMysql, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';

const ACCOUNTS = 20;
const BUSY = 4;
const ENTRIES = 100_000; // two postings each: 200,000 postings
const RECENT = 5;
const ROWS_PER_INSERT = 4000;

interface LoadedPosting {
  id: string;
  entryId: string;
  effectiveAt: string;
}

/**
 * On a ledger bulk-loaded with 200,000 postings, most of them on 4 busy accounts, the dashboard's
 * `accounts { recentEntries(first: 5) }` for 20 accounts answers every account's newest entries, and
 * the statement behind it reads each account's newest postings by an index seek on (account_id,
 * effective_at, id): its work does not grow with the postings a busy account holds (the ranking it
 * replaced sorted all of them, 811 s on a million postings).
 */
describeOnMysql('recent entries of 20 accounts, 4 of them busy, on a 200,000-posting ledger', () => {
  let app: TestApp;
  let accounts: { id: string; code: string }[];
  const postingsByAccount = new Map<string, LoadedPosting[]>();

  beforeAll(async () => {
    app = await startTestApp('mysql');
    accounts = [];
    for (let i = 0; i < ACCOUNTS; i += 1) accounts.push(await createAccount(app.client, { type: 'ASSET', code: `bulk-${String(i).padStart(2, '0')}` }));
    for (const account of accounts) postingsByAccount.set(account.id, []);

    const totals = new Map(accounts.map((account) => [account.id, { debits: 0n, credits: 0n }]));
    const entryRows: unknown[][] = [];
    const postingRows: unknown[][] = [];
    const now = toDbTimestamp(new Date());
    const base = Date.UTC(2023, 0, 1);
    for (let i = 0; i < ENTRIES; i += 1) {
      // 47 of 50 entries move money between two busy accounts; the rest between a quiet and a busy one.
      const busyPair = i % 50 < 47;
      const debit = busyPair ? accounts[i % BUSY] : accounts[BUSY + (i % (ACCOUNTS - BUSY))];
      const credit = accounts[(i + 1 + (busyPair ? 0 : 1)) % BUSY];
      // Effective times are a permutation of the entries' order: the newest written is not the newest in effect.
      const effectiveAt = toDbTimestamp(new Date(base + ((i * 37) % ENTRIES) * 60_000));
      const amount = BigInt(100 + (i % 900));
      const entryId = newId('journalEntry');
      entryRows.push([entryId, app.tenantId, 'POSTED', `bulk ${i}`, effectiveAt, null, null, null, now, null]);
      for (const [account, direction] of [[debit, 'DEBIT'], [credit, 'CREDIT']] as const) {
        const id = newId('posting');
        postingRows.push([id, app.tenantId, entryId, account.id, direction, amount, 'USD', 'POSTED', effectiveAt, now]);
        postingsByAccount.get(account.id)?.push({ id, entryId, effectiveAt });
        const total = totals.get(account.id) as { debits: bigint; credits: bigint };
        if (direction === 'DEBIT') total.debits += amount;
        else total.credits += amount;
      }
    }

    const runner = app.runtime.dataSource.createQueryRunner();
    try {
      await runner.connect();
      await runner.startTransaction();
      const insert = async (table: string, columns: string[], rows: unknown[][]) => {
        for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
          const chunk = rows.slice(start, start + ROWS_PER_INSERT);
          const values = chunk.map(() => `(${columns.map(() => '?').join(',')})`).join(',');
          await runner.query(`INSERT INTO ${table} (${columns.join(',')}) VALUES ${values}`, chunk.flat().map((v) => (typeof v === 'bigint' ? v.toString() : v)));
        }
      };
      await insert(
        'journal_entries',
        ['id', 'tenant_id', 'status', 'description', 'effective_at', 'external_ref', 'metadata', 'reversal_of_id', 'created_at', 'resolved_at'],
        entryRows,
      );
      await insert(
        'postings',
        ['id', 'tenant_id', 'journal_entry_id', 'account_id', 'direction', 'amount_minor', 'currency', 'phase', 'effective_at', 'created_at'],
        postingRows,
      );
      for (const [accountId, total] of totals) {
        // POSTED entries count in the pending balances too (posted plus pending).
        await runner.query(
          `UPDATE accounts SET posted_debits_minor = ?, posted_credits_minor = ?, pending_debits_minor = ?, pending_credits_minor = ? WHERE id = ?`,
          [total.debits.toString(), total.credits.toString(), total.debits.toString(), total.credits.toString(), accountId],
        );
      }
      await runner.commitTransaction();
      await runner.query('ANALYZE TABLE postings');
    } finally {
      await runner.release();
    }
  }, 600_000);

  afterAll(async () => {
    await app?.close();
  });

  it('loaded a consistent ledger with most postings on the busy accounts', async () => {
    const [{ total }] = await app.runtime.dataSource.query('SELECT COUNT(*) AS total FROM postings');
    expect(Number(total)).toBeGreaterThanOrEqual(200_000);
    const busy = accounts.slice(0, BUSY).reduce((sum, account) => sum + (postingsByAccount.get(account.id)?.length ?? 0), 0);
    expect(busy / Number(total)).toBeGreaterThan(0.9);
    // The whole-ledger checks scan every posting: past the API's statement time limit on a busy
    // machine, so they run on one connection with the limit lifted, then put back.
    const runner = app.runtime.dataSource.createQueryRunner();
    try {
      await runner.connect();
      const [{ limit }] = await runner.query('SELECT @@SESSION.max_statement_time AS `limit`');
      await runner.query('SET SESSION max_statement_time = 0');
      try {
        const unbalanced = await runner.query(
          `SELECT journal_entry_id FROM postings GROUP BY journal_entry_id
            HAVING SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE -amount_minor END) <> 0 OR COUNT(*) <> 2 LIMIT 1`,
        );
        expect(unbalanced).toEqual([]);
        const drift = await runner.query(
          `SELECT a.code FROM accounts a
             JOIN (SELECT account_id, SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE 0 END) AS debits,
                          SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor ELSE 0 END) AS credits
                     FROM postings GROUP BY account_id) t ON t.account_id = a.id
            WHERE a.posted_debits_minor <> t.debits OR a.posted_credits_minor <> t.credits
               OR a.pending_debits_minor <> t.debits OR a.pending_credits_minor <> t.credits`,
        );
        expect(drift).toEqual([]);
      } finally {
        await runner.query(`SET SESSION max_statement_time = ${Number(limit)}`);
      }
    } finally {
      await runner.release();
    }
    const { trialBalance } = await app.client.ok(TrialBalanceDocument, {});
    expect(trialBalance!.balanced).toBe(true);
  }, 300_000);

  it('answers each account’s newest entries through the API, by an index seek', async () => {
    const statements: { query: string; parameters: unknown[] }[] = [];
    const counter = app.runtime.statements;
    const logQuery = counter.logQuery.bind(counter);
    // The data source's logger sees every statement with its parameters; it is borrowed for one request.
    const recorder = counter as unknown as { logQuery(query: string, parameters?: unknown[]): void };
    recorder.logQuery = (query, parameters) => {
      statements.push({ query, parameters: parameters ?? [] });
      logQuery(query);
    };
    let data;
    try {
      ({ accounts: data } = await app.client.ok(RecentEntriesOfAccountsDocument, { codePrefix: 'bulk-', recent: RECENT }));
    } finally {
      recorder.logQuery = logQuery;
    }

    const nodes = nodesOf(data!);
    expect(nodes.map((node) => node.code)).toEqual(accounts.map((account) => account.code));
    for (const node of nodes) {
      const expected = [...(postingsByAccount.get(node.id) ?? [])]
        .sort((a, b) => (a.effectiveAt === b.effectiveAt ? (a.id < b.id ? 1 : -1) : a.effectiveAt < b.effectiveAt ? 1 : -1))
        .slice(0, RECENT);
      expect({ code: node.code, entries: nodesOf(node.recentEntries).map((entry) => entry.id) }).toEqual({
        code: node.code,
        entries: expected.map((posting) => posting.entryId),
      });
      expect(nodesOf(node.recentEntries).map((entry) => toDbTimestamp(new Date(entry.effectiveAt)))).toEqual(expected.map((posting) => posting.effectiveAt));
      expect(node.recentEntries.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false });
    }

    // One statement for the 20 accounts' pages; its plan seeks the new index for every account.
    const seeks = statements.filter(({ query }) => query.includes('NOT EXISTS') && query.includes('UNION ALL'));
    expect(seeks).toHaveLength(1);
    const plan: Record<string, unknown>[] = await app.runtime.dataSource.query(`EXPLAIN ${seeks[0].query}`, seeks[0].parameters);
    const accountSeeks = plan.filter((row) => row.table === 'p');
    expect(accountSeeks).toHaveLength(ACCOUNTS);
    for (const row of accountSeeks) {
      expect({ key: row.key, extra: row.Extra }).toEqual({ key: 'ix_postings_account_effective_id', extra: expect.not.stringMatching(/filesort|temporary/i) });
    }
  }, 300_000);
});
