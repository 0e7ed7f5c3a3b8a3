/**
 * `npm run bench:reads`: ledger reads stay flat as the ledger grows.
 *
 * For each size of READS_BENCH_POSTINGS (default 10000,1000000), in a fresh MariaDB database at
 * BENCH_MYSQL_URL: a ledger of 1,000 USD accounts is bulk-loaded with multi-row INSERTs (two-posting
 * POSTED entries spread over two years of effective times, one busy account on 2% of the postings),
 * every account's kept totals set to its postings' sums, and the balance checkpoints rebuilt
 * (rebuildPeriodTotals, as any bulk load must). A second tenant holds 10,000 accounts for the paged
 * trial balance. Then the API is started (a child process, node dist/src/main.js) and each read is
 * asked over GraphQL, one request at a time, for BENCH_SECONDS (after BENCH_WARMUP_SECONDS):
 *
 * - floor:              `{ __typename }`, what any request costs (the baseline of the run);
 * - stored balances:    the busy account's balances kept on its row;
 * - trial balance:      totals and the first 100 lines, 1,000 accounts; and on 10,000 accounts, a first
 *                       and a middle page of 100 lines;
 * - as-of balance:      the busy account's balances as of an instant in the middle of the history;
 * - statement:          the busy account over the whole history, 50 lines: the first page, and a page
 *                       starting at its middle posting (a cursor from the data);
 * - entries by account: journalEntries(filter: { accountId: busy }, first: 20), first and middle page.
 *
 * Printed: p50 and p99 per size, the ratio of the largest size's p50 to the smallest's, and ✓/✗
 * against the goal (within 2×; the 10,000-account trial balance page under 200 ms). A benchmark, not
 * a test: the goal is printed, never asserted; the run exits 1 only when a read answers an error.
 *
 * Settings (environment): READS_BENCH_POSTINGS, BENCH_MYSQL_URL, BENCH_SECONDS (default 5),
 * BENCH_WARMUP_SECONDS (default 1), BENCH_SKIP_BUILD=1, READS_BENCH_KEEP_DATABASE=1 (keeps each size's
 * database and prints its URL, to EXPLAIN the reads' statements on it; drop it by hand after).
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import type { Runtime } from '../src/bootstrap';
import { newId } from '../src/common/ids';
import { encodeCursor } from '../src/common/pagination';
import { toDbTimestamp } from '../src/common/timestamps';
import { rebuildPeriodTotals } from '../src/modules/ledger/period-totals';
import {
  type BenchDatabase,
  type BenchServer,
  bootstrapRuntime,
  createBenchDatabase,
  createBenchTenant,
  fmt,
  generateServerKeys,
  loadAverage,
  postGraphQL,
  printBanner,
  readCommonSettings,
  runMain,
  type ServerKeys,
  startChildServer,
} from './bench-support';

const settings = readCommonSettings({ seconds: 5, warmupSeconds: 1, clients: '1' });
const SIZES = (process.env.READS_BENCH_POSTINGS || '10000,1000000').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1000) throw new Error(`READS_BENCH_POSTINGS: "${s}" is not a posting count of at least 1000`);
  return Math.round(n / 2) * 2;
});
const ACCOUNTS = 1000;
const WIDE_ACCOUNTS = 10_000;
const BUSY_SHARE = 0.02;
const HISTORY_MS = 730 * 86_400_000;
const HISTORY_START = Date.UTC(2024, 0, 1);
const ROWS_PER_INSERT = 2000;
const ROWS_PER_TRANSACTION = 50_000;
const RATIO_GOAL = 2;
const WIDE_PAGE_GOAL_MS = 200;

interface Ledger {
  tenantId: string;
  apiKey: string;
  busyId: string;
  /** Key (`effective_at|posting id`) of the busy account's middle posting, and its middle entry id. */
  middlePostingKey: string;
  middleEntryId: string;
  middleAt: string;
  wideApiKey: string;
  wideMiddleCode: string;
}

type Row = unknown[];

async function insertMany(connection: mysql.Connection, table: string, columns: string[], rows: Row[]): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    await connection.query(`INSERT INTO ${table} (${columns.join(',')}) VALUES ?`, [rows.slice(start, start + ROWS_PER_INSERT)]);
  }
}

const ACCOUNT_COLUMNS = ['id', 'tenant_id', 'code', 'name', 'type', 'currency', 'available_floor_minor', 'posted_debits_minor', 'posted_credits_minor', 'pending_debits_minor', 'pending_credits_minor', 'created_at'];
const ENTRY_COLUMNS = ['id', 'tenant_id', 'status', 'description', 'effective_at', 'external_ref', 'metadata', 'reversal_of_id', 'created_at', 'resolved_at'];
const POSTING_COLUMNS = ['id', 'tenant_id', 'journal_entry_id', 'account_id', 'direction', 'amount_minor', 'currency', 'phase', 'effective_at', 'created_at'];

/**
 * `entries` two-posting entries between `accountIds`, written in chunks of transactions; each
 * account's totals set to its postings' sums. `pickPair(i)` names the debit and credit account of entry i.
 */
async function loadEntries(
  connection: mysql.Connection,
  tenantId: string,
  accountIds: string[],
  entries: number,
  pickPair: (i: number) => [number, number],
  onPosting?: (accountIndex: number, postingId: string, entryId: string, effectiveAt: string) => void,
): Promise<void> {
  const now = toDbTimestamp(new Date());
  const totals = accountIds.map(() => ({ debits: 0n, credits: 0n }));
  const perTransaction = ROWS_PER_TRANSACTION / 2;
  for (let first = 0; first < entries; first += perTransaction) {
    const entryRows: Row[] = [];
    const postingRows: Row[] = [];
    for (let i = first; i < Math.min(entries, first + perTransaction); i += 1) {
      // Effective times a scrambled permutation of the entries: backdated entries land in old days and months.
      const effectiveAt = toDbTimestamp(new Date(HISTORY_START + Math.floor((((i * 7919) % entries) / entries) * HISTORY_MS)));
      const entryId = newId('journalEntry');
      const amount = BigInt(100 + (i % 9900));
      entryRows.push([entryId, tenantId, 'POSTED', `bench ${i}`, effectiveAt, null, null, null, now, null]);
      const [debit, credit] = pickPair(i);
      for (const [index, direction] of [[debit, 'DEBIT'], [credit, 'CREDIT']] as const) {
        const postingId = newId('posting');
        postingRows.push([postingId, tenantId, entryId, accountIds[index], direction, amount.toString(), 'USD', 'POSTED', effectiveAt, now]);
        if (direction === 'DEBIT') totals[index].debits += amount;
        else totals[index].credits += amount;
        onPosting?.(index, postingId, entryId, effectiveAt);
      }
    }
    await connection.beginTransaction();
    await insertMany(connection, 'journal_entries', ENTRY_COLUMNS, entryRows);
    await insertMany(connection, 'postings', POSTING_COLUMNS, postingRows);
    await connection.commit();
  }
  await connection.beginTransaction();
  for (const [index, total] of totals.entries()) {
    if (total.debits === 0n && total.credits === 0n) continue;
    await connection.query(
      'UPDATE accounts SET posted_debits_minor = ?, posted_credits_minor = ?, pending_debits_minor = ?, pending_credits_minor = ? WHERE id = ?',
      [total.debits.toString(), total.credits.toString(), total.debits.toString(), total.credits.toString(), accountIds[index]],
    );
  }
  await connection.commit();
}

async function createAccounts(connection: mysql.Connection, tenantId: string, count: number, prefix: string): Promise<string[]> {
  const now = toDbTimestamp(new Date());
  const ids = Array.from({ length: count }, () => newId('account'));
  const rows = ids.map((id, i) => [id, tenantId, `${prefix}-${String(i).padStart(5, '0')}`, `${prefix} ${i}`, 'ASSET', 'USD', null, '0', '0', '0', '0', now]);
  await insertMany(connection, 'accounts', ACCOUNT_COLUMNS, rows);
  return ids;
}

async function loadLedger(runtime: Runtime, database: BenchDatabase, postings: number): Promise<Ledger> {
  const { tenantId, apiKey } = await createBenchTenant(runtime);
  const wide = await createBenchTenant(runtime);
  const connection = await mysql.createConnection({ uri: database.url, charset: 'utf8mb4_bin' });
  try {
    // The load is one writer on a fresh database: the checks of foreign and unique keys are skipped.
    await connection.query('SET SESSION foreign_key_checks = 0, unique_checks = 0, max_statement_time = 0');
    const accountIds = await createAccounts(connection, tenantId, ACCOUNTS, 'acct');
    const entries = postings / 2;
    // The busy account (index 0) is on one side of 4% of the entries: 2% of the postings.
    const busyEvery = Math.round(1 / (BUSY_SHARE * 2));
    const busyPostings: { key: string; entryId: string }[] = [];
    await loadEntries(
      connection,
      tenantId,
      accountIds,
      entries,
      (i) => {
        const other = 1 + ((i * 13) % (ACCOUNTS - 1));
        if (i % busyEvery === 0) return i % (2 * busyEvery) === 0 ? [0, other] : [other, 0];
        const second = 1 + ((i * 17 + 1) % (ACCOUNTS - 1));
        return [other, second === other ? 1 + (second % (ACCOUNTS - 1)) : second];
      },
      (index, postingId, entryId, effectiveAt) => {
        if (index === 0) busyPostings.push({ key: `${effectiveAt}|${postingId}`, entryId });
      },
    );
    const wideIds = await createAccounts(connection, wide.tenantId, WIDE_ACCOUNTS, 'wide');
    await loadEntries(connection, wide.tenantId, wideIds, WIDE_ACCOUNTS, (i) => [i, (i + 1) % WIDE_ACCOUNTS]);
    await connection.query('ANALYZE TABLE postings, journal_entries, accounts');
    busyPostings.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const middle = busyPostings[Math.floor(busyPostings.length / 2)];
    const entryIds = [...new Set(busyPostings.map((p) => p.entryId))].sort();
    return {
      tenantId,
      apiKey,
      busyId: accountIds[0],
      middlePostingKey: middle.key,
      middleEntryId: entryIds[Math.floor(entryIds.length / 2)],
      // Noon of a day in the middle of the history: the seek reads half a day of the account's postings.
      middleAt: new Date(HISTORY_START + HISTORY_MS / 2 + 12 * 3_600_000).toISOString(),
      wideApiKey: wide.apiKey,
      wideMiddleCode: `wide-${String(WIDE_ACCOUNTS / 2).padStart(5, '0')}`,
    };
  } finally {
    await connection.end();
  }
}

// ---------------------------------------------------------------------------------------------

interface ReadCase {
  name: string;
  /** Which tenant asks. */
  wide?: boolean;
  query: string;
  variables: (ledger: Ledger) => Record<string, unknown>;
  /** The goal: 'ratio' (within 2× of the smallest size), or an absolute p50 bound in ms. */
  goal: 'ratio' | 'none' | number;
}

const MONEY = 'amount';
const BALANCES = `posted { net { ${MONEY} } } pending { net { ${MONEY} } } available { net { ${MONEY} } }`;
const STATEMENT = `query ($id: ID!, $from: DateTime!, $to: DateTime!, $after: String) {
  accountStatement(accountId: $id, from: $from, to: $to, first: 50, after: $after) {
    openingBalance { ${MONEY} } closingBalance { ${MONEY} }
    lines { edges { cursor node { runningBalance { ${MONEY} } posting { id amount { ${MONEY} } effectiveAt } description } } pageInfo { hasNextPage } }
  }
}`;
const ENTRIES = `query ($id: ID!, $after: String) {
  journalEntries(filter: { accountId: $id }, first: 20, after: $after) { edges { cursor node { id status effectiveAt description } } pageInfo { hasNextPage } }
}`;
const TRIAL = `query ($after: String) {
  trialBalance { balanced totals { currency debits { ${MONEY} } credits { ${MONEY} } }
    lines(first: 100, after: $after) { edges { node { account { code } debit { ${MONEY} } credit { ${MONEY} } } } pageInfo { hasNextPage } } }
}`;
const WHOLE_HISTORY = { from: new Date(HISTORY_START).toISOString(), to: new Date(HISTORY_START + HISTORY_MS + 86_400_000).toISOString() };

const CASES: ReadCase[] = [
  { name: 'floor: { __typename }', query: '{ __typename }', variables: () => ({}), goal: 'none' },
  { name: 'stored balances', query: `query ($id: ID!) { account(id: $id) { balances { ${BALANCES} } } }`, variables: (l) => ({ id: l.busyId }), goal: 'ratio' },
  { name: 'trial balance (1,000 accounts, 100 lines)', query: TRIAL, variables: () => ({}), goal: 'ratio' },
  { name: 'as-of balance (busy account)', query: `query ($id: ID!, $asOf: DateTime!) { account(id: $id) { balance(asOf: $asOf) { ${BALANCES} } } }`, variables: (l) => ({ id: l.busyId, asOf: l.middleAt }), goal: 'ratio' },
  { name: 'statement, first page', query: STATEMENT, variables: (l) => ({ id: l.busyId, ...WHOLE_HISTORY }), goal: 'ratio' },
  { name: 'statement, middle page', query: STATEMENT, variables: (l) => ({ id: l.busyId, ...WHOLE_HISTORY, after: encodeCursor(l.middlePostingKey) }), goal: 'ratio' },
  { name: 'entries of busy account, first page', query: ENTRIES, variables: (l) => ({ id: l.busyId }), goal: 'ratio' },
  { name: 'entries of busy account, middle page', query: ENTRIES, variables: (l) => ({ id: l.busyId, after: encodeCursor(l.middleEntryId) }), goal: 'ratio' },
  { name: 'trial balance, 10,000 accounts, first page', wide: true, query: TRIAL, variables: () => ({}), goal: WIDE_PAGE_GOAL_MS },
  { name: 'trial balance, 10,000 accounts, middle page', wide: true, query: TRIAL, variables: (l) => ({ after: encodeCursor(l.wideMiddleCode) }), goal: WIDE_PAGE_GOAL_MS },
];

interface Timing {
  p50: number;
  p99: number;
  count: number;
}

interface Loaded {
  postings: number;
  database: BenchDatabase;
  ledger: Ledger;
  server?: BenchServer;
}

/**
 * Each size's p50/p99 of one read, its requests interleaved across the sizes (one to each server in
 * turn): the machine's noise then weighs on every size alike, and the ratio is steadier than the times.
 */
async function measure(sizes: Loaded[], readCase: ReadCase): Promise<Timing[]> {
  const clients = sizes.map((size) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const url = new URL((size.server as BenchServer).url);
    const body = JSON.stringify({ query: readCase.query, variables: readCase.variables(size.ledger) });
    const apiKey = readCase.wide ? size.ledger.wideApiKey : size.ledger.apiKey;
    return {
      agent,
      times: [] as number[],
      once: async () => {
        const started = performance.now();
        const response = await postGraphQL(url, agent, apiKey, body);
        const elapsed = performance.now() - started;
        if (response.json.errors?.length || !response.json.data) throw new Error(`${readCase.name}: ${response.text.slice(0, 400)}`);
        return elapsed;
      },
    };
  });
  try {
    const warmupEnd = performance.now() + settings.warmupSeconds * 1000;
    do for (const client of clients) await client.once();
    while (performance.now() < warmupEnd);
    const end = performance.now() + settings.seconds * 1000 * clients.length;
    do for (const client of clients) client.times.push(await client.once());
    while (performance.now() < end || clients[0].times.length < 20);
    return clients.map(({ times }) => {
      times.sort((a, b) => a - b);
      const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
      return { p50: at(0.5), p99: at(0.99), count: times.length };
    });
  } finally {
    for (const client of clients) client.agent.destroy();
  }
}

async function loadSize(postings: number, keys: ServerKeys): Promise<Loaded> {
  const database = await createBenchDatabase(settings.mysqlUrl, 'reckon_reads');
  const runtime = await bootstrapRuntime(database.url, keys, {});
  try {
    const started = performance.now();
    const ledger = await loadLedger(runtime, database, postings);
    const loaded = performance.now();
    await rebuildPeriodTotals(runtime.dataSource);
    const rebuilt = performance.now();
    console.log(
      `  ${postings.toLocaleString('en-US')} postings (+${(WIDE_ACCOUNTS * 2).toLocaleString('en-US')} on the 10,000-account tenant): loaded in ${fmt((loaded - started) / 1000, 1)} s, ` +
        `checkpoints rebuilt in ${fmt((rebuilt - loaded) / 1000, 1)} s; load average ${loadAverage()}`,
    );
    return { postings, database, ledger };
  } catch (error) {
    await database.drop().catch(() => undefined);
    throw error;
  } finally {
    await runtime.close();
  }
}

async function main(): Promise<number> {
  await printBanner('Reckon ledger reads benchmark', settings.mysqlUrl);
  console.log(
    `  cases:     ${CASES.length} reads x ${SIZES.map((n) => n.toLocaleString('en-US')).join(', ')} postings, one request at a time, ` +
      `interleaved across the sizes, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s per size`,
  );
  console.log('');
  const keys = await generateServerKeys();
  const sizes: Loaded[] = [];
  const release = async () => {
    for (const size of sizes) {
      await size.server?.stop().catch(() => undefined);
      if (process.env.READS_BENCH_KEEP_DATABASE === '1') console.log(`  kept database ${size.database.url}`);
      else await size.database.drop().catch((error: unknown) => console.error(`dropping ${size.database.name} failed:`, error));
    }
  };
  const onSignal = () => void release().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const postings of SIZES) sizes.push(await loadSize(postings, keys));
    for (const size of sizes) size.server = await startChildServer(settings, { databaseUrl: size.database.url, keys, logLevel: 'warn' });
    const results = new Map<string, Timing[]>();
    for (const readCase of CASES) results.set(readCase.name, await measure(sizes, readCase));
    printTable(results);
    return 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await release();
  }
}

function printTable(results: Map<string, Timing[]>): void {
  const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1000}k`);
  const last = SIZES.length - 1;
  console.log('');
  console.log(
    `  ${'read'.padEnd(48)} ${SIZES.map((n) => `p50 ${label(n)}`.padStart(10) + `p99 ${label(n)}`.padStart(10)).join('')}  ${`${label(SIZES[last])}/${label(SIZES[0])}`.padStart(8)}  goal`,
  );
  for (const readCase of CASES) {
    const timings = results.get(readCase.name) as Timing[];
    const cells = timings.map((t) => `${fmt(t.p50, 2).padStart(10)}${fmt(t.p99, 2).padStart(10)}`);
    const ratio = timings[last].p50 / timings[0].p50;
    const goal =
      readCase.goal === 'none'
        ? ''
        : readCase.goal === 'ratio'
          ? `${ratio <= RATIO_GOAL ? '✓' : '✗'} within ${RATIO_GOAL}×`
          : `${timings.every((t) => t.p50 < (readCase.goal as number)) ? '✓' : '✗'} p50 < ${readCase.goal} ms`;
    console.log(`  ${readCase.name.padEnd(48)} ${cells.join('')}  ${`${fmt(ratio, 2)}×`.padStart(8)}  ${goal}`);
  }
  console.log('');
  console.log(`  times in ms, measured from this process over HTTP; load average at the end ${loadAverage()}`);
}

runMain(main);
