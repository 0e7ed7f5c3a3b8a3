/**
 * bench:ledger-batch — postJournalEntries (a list of entries written all-or-nothing) through GraphQL,
 * against raw SQL writing the same list the plain way, in the same run on the same database:
 *
 *   BENCH_SECONDS=10 BENCH_BATCH_SIZES=100,1000 BENCH_CLIENTS=1,4 npm run bench:ledger-batch
 *
 * Each operation is one call of BENCH_BATCH_SIZES entries, 2 lines each, between random pairs of 1,000
 * asset accounts. The raw baseline does the same call in one transaction with mysql2: lock the touched
 * accounts in id order, insert the entries and then the postings with multi-row INSERTs, update each
 * touched account, commit. Both sides print entries/s (calls/s times the batch size); the goal is
 * 20,000 entries/s through the API, printed with ✓/✗ and never asserted. The ledger's invariants are
 * checked afterwards.
 *
 * Settings (besides those of bench/bench-support.ts: BENCH_MYSQL_URL, BENCH_SECONDS,
 * BENCH_WARMUP_SECONDS, BENCH_SERVER, BENCH_SKIP_BUILD, BENCH_CPU_PROF, BENCH_SERVER_NODE_ARGS):
 *   BENCH_BATCH_SIZES   entries per call, comma-separated (default 100,1000; at most 1,000)
 *   BENCH_CLIENTS       concurrent callers (default 1,4)
 */
import 'reflect-metadata';
import { print } from 'graphql';
import mysql from 'mysql2/promise';
import { type Runtime } from '../src/bootstrap';
import { newId } from '../src/common/ids';
import { toDbTimestamp } from '../src/common/timestamps';
import { EntryDirection, JournalEntryStatus, PostingPhase } from '../src/modules/ledger/ledger.types';
import { PostJournalEntriesDocument } from '../tests/generated/graphql';
import {
  type BenchRow,
  type BenchServer,
  bootstrapRuntime,
  checkLedgerInvariants,
  cleanupOnExit,
  completedIn,
  type Column,
  CPU_NOTE,
  cpuColumns,
  createBenchAccounts,
  createBenchDatabase,
  createBenchTenant,
  describeServer,
  exitCode,
  fmt,
  generateServerKeys,
  GraphQLLoadClient,
  InvariantReport,
  perOperationColumn,
  printBanner,
  printColumns,
  printFailures,
  printWhereTheTimeGoes,
  rawTransaction,
  type RateUnit,
  readCommonSettings,
  runCases,
  runMain,
  sideColumns,
  type SideLine,
  startBenchServer,
} from './bench-support';

const ACCOUNT_COUNT = 1000;
const AMOUNT = '1.00';
const AMOUNT_MINOR = '100';
const CURRENCY = 'USD';
/** Entries/s the API should reach with lists of 100 and of 1,000 (issue 13). */
const GOAL_ENTRIES_PER_SECOND = 20_000;

const settings = {
  ...readCommonSettings({ seconds: 10, warmupSeconds: 2, clients: '1,4' }),
  batchSizes: (process.env.BENCH_BATCH_SIZES || '100,1000').split(',').map((value) => {
    const size = Number(value.trim());
    if (!Number.isInteger(size) || size < 1 || size > 1000) throw new Error(`BENCH_BATCH_SIZES: "${value}" is not a whole number from 1 to 1000`);
    return size;
  }),
};

const UNIT: RateUnit = { short: 'calls/s', long: 'calls/s', digits: 1, width: 11, rawWidth: 11 };

interface Pair {
  debit: string;
  credit: string;
}

function randomPairs(accountIds: string[], count: number): Pair[] {
  return Array.from({ length: count }, () => {
    const debit = accountIds[Math.floor(Math.random() * accountIds.length)];
    let credit = debit;
    while (credit === debit) credit = accountIds[Math.floor(Math.random() * accountIds.length)];
    return { debit, credit };
  });
}

// ---------------------------------------------------------------------------------------------
// GraphQL: one postJournalEntries call per operation

const QUERY = print(PostJournalEntriesDocument);

class BatchLoadClient extends GraphQLLoadClient {
  async postEntries(pairs: Pair[]): Promise<void> {
    const entries = pairs.map(({ debit, credit }) => ({
      lines: [
        { accountId: debit, direction: EntryDirection.DEBIT, amount: AMOUNT, currency: CURRENCY },
        { accountId: credit, direction: EntryDirection.CREDIT, amount: AMOUNT, currency: CURRENCY },
      ],
    }));
    const { status, json, text } = await this.post(QUERY, { input: { entries } });
    if (json.errors?.length) throw new Error(`HTTP ${status} ${json.errors[0].extensions?.code}: ${json.errors[0].message}`);
    const written = (json.data?.postJournalEntries as { journalEntries?: unknown[] } | undefined)?.journalEntries;
    if (written?.length !== pairs.length) throw new Error(`HTTP ${status}: unexpected response ${text.slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Raw baseline: the list in one transaction, the plain way

const INSERT_CHUNK = 400;

function rows(count: number, width: number): string {
  const row = `(${new Array(width).fill('?').join(',')})`;
  return new Array(count).fill(row).join(',');
}

function rawPostEntries(connection: mysql.PoolConnection, tenantId: string, pairs: Pair[]): Promise<void> {
  const deltas = new Map<string, { debits: bigint; credits: bigint }>();
  for (const { debit, credit } of pairs) {
    const d = deltas.get(debit) ?? { debits: 0n, credits: 0n };
    d.debits += 100n;
    deltas.set(debit, d);
    const c = deltas.get(credit) ?? { debits: 0n, credits: 0n };
    c.credits += 100n;
    deltas.set(credit, c);
  }
  const accountIds = [...deltas.keys()].sort();
  return rawTransaction(connection, async () => {
    const [locked] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT id, posted_debits_minor, posted_credits_minor FROM accounts WHERE id IN (${accountIds.map(() => '?').join(',')}) ORDER BY id FOR UPDATE`,
      accountIds,
    );
    if (locked.length !== accountIds.length) throw new Error(`expected ${accountIds.length} locked accounts, got ${locked.length}`);
    const now = toDbTimestamp(new Date());
    const entryIds = pairs.map(() => newId('journalEntry'));
    for (let start = 0; start < pairs.length; start += INSERT_CHUNK) {
      const part = entryIds.slice(start, start + INSERT_CHUNK);
      await connection.query(
        `INSERT INTO journal_entries (id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at)
         VALUES ${rows(part.length, 10)}`,
        part.flatMap((id) => [id, tenantId, JournalEntryStatus.POSTED, '', now, null, null, null, now, null]),
      );
    }
    const postings = pairs.flatMap(({ debit, credit }, index) => [
      [newId('posting'), tenantId, entryIds[index], debit, EntryDirection.DEBIT, AMOUNT_MINOR, CURRENCY, PostingPhase.POSTED, now, now],
      [newId('posting'), tenantId, entryIds[index], credit, EntryDirection.CREDIT, AMOUNT_MINOR, CURRENCY, PostingPhase.POSTED, now, now],
    ]);
    for (let start = 0; start < postings.length; start += INSERT_CHUNK) {
      const part = postings.slice(start, start + INSERT_CHUNK);
      await connection.query(
        `INSERT INTO postings (id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at)
         VALUES ${rows(part.length, 10)}`,
        part.flat(),
      );
    }
    for (const accountId of accountIds) {
      const { debits, credits } = deltas.get(accountId) as { debits: bigint; credits: bigint };
      await connection.query(
        `UPDATE accounts SET posted_debits_minor = posted_debits_minor + CAST(? AS SIGNED), posted_credits_minor = posted_credits_minor + CAST(? AS SIGNED),
                pending_debits_minor = pending_debits_minor + CAST(? AS SIGNED), pending_credits_minor = pending_credits_minor + CAST(? AS SIGNED)
          WHERE id = ?`,
        [debits.toString(), credits.toString(), debits.toString(), credits.toString(), accountId],
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------

interface Fixture {
  tenantId: string;
  apiKey: string;
  accountIds: string[];
}

async function createFixture(runtime: Runtime): Promise<Fixture> {
  const { tenantId, apiKey } = await createBenchTenant(runtime);
  const accountIds = await createBenchAccounts(runtime, tenantId, ACCOUNT_COUNT, { codePrefix: 'batch', currency: CURRENCY });
  return { tenantId, apiKey, accountIds };
}

interface Row extends BenchRow {
  size: number;
  clients: number;
}

const caseLabel = (row: Row) => `${row.size} entries/call, ${row.clients} client${row.clients === 1 ? '' : 's'}`;
const entriesPerSecond = (row: Row, side: 'unkeyed' | 'raw') => (row.results[side]?.result.perSecond ?? NaN) * row.size;

function printTable(rows: Row[]): void {
  const columns: Column<Row>[] = [
    { title: 'entries/call', width: 12, cell: (row) => String(row.size) },
    { title: 'clients', width: 7, cell: (row) => String(row.clients) },
    { title: 'gql ent/s', width: 10, cell: (row) => fmt(entriesPerSecond(row, 'unkeyed'), 0) },
    { title: 'gql p50', width: 8, cell: (row) => fmt(row.results.unkeyed?.result.latencyMsP50 ?? NaN) },
    { title: 'gql p99', width: 8, cell: (row) => fmt(row.results.unkeyed?.result.latencyMsP99 ?? NaN) },
    { title: 'raw ent/s', width: 10, cell: (row) => fmt(entriesPerSecond(row, 'raw'), 0) },
    { title: 'raw p50', width: 8, cell: (row) => fmt(row.results.raw?.result.latencyMsP50 ?? NaN) },
    { title: 'raw p99', width: 8, cell: (row) => fmt(row.results.raw?.result.latencyMsP99 ?? NaN) },
    { title: 'gql/raw', width: 8, cell: (row) => fmt(entriesPerSecond(row, 'unkeyed') / entriesPerSecond(row, 'raw'), 2) },
    {
      title: `goal ${GOAL_ENTRIES_PER_SECOND / 1000}k/s`,
      width: 10,
      cell: (row) => (entriesPerSecond(row, 'unkeyed') >= GOAL_ENTRIES_PER_SECOND ? '✓' : '✗'),
    },
  ];
  printColumns(columns, rows);
  console.log('latencies in ms per call; ent/s = calls completed in the measured window times the entries per call');
  printFailures(rows, caseLabel);
}

function printDiagnostics(rows: Row[]): void {
  console.log('');
  const columns: Column<SideLine<Row>>[] = [
    { title: 'entries/call', width: 12, cell: (line) => String(line.row.size) },
    { title: 'clients', width: 7, cell: (line) => String(line.row.clients) },
    ...sideColumns<Row>(UNIT, 9),
    ...cpuColumns<Row>(),
    perOperationColumn<Row>('commits/call', 'Com_commit', 2),
    perOperationColumn<Row>('fsyncs/call', 'Innodb_data_fsyncs', 2),
  ];
  printWhereTheTimeGoes(columns, rows, `${CPU_NOTE}; commits and fsyncs are server-wide MariaDB status deltas per call`);
}

async function main(): Promise<number> {
  await printBanner('Reckon ledger batch benchmark (postJournalEntries)', settings.mysqlUrl);
  console.log(
    `  cases:     ${settings.batchSizes.join(', ')} entries/call x ${settings.clients.join(', ')} clients, ` +
      `${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured, ${describeServer(settings)}`,
  );
  const database = await createBenchDatabase(settings.mysqlUrl, 'reckon_batch');
  const keys = await generateServerKeys();
  let runtime: Runtime | undefined;
  let server: BenchServer | undefined;
  let invariantConnection: mysql.Connection | undefined;
  const exit = cleanupOnExit(database, () => ({ server, runtime, connection: invariantConnection }));
  try {
    console.log(`  database for this run: ${database.name} (dropped at the end)`);
    runtime = await bootstrapRuntime(database.url, keys, { databasePoolSize: 20 });
    const fixture = await createFixture(runtime);
    ({ server, runtime } = await startBenchServer(settings, runtime, { databaseUrl: database.url, keys, logLevel: 'warn' }));
    console.log('');

    const cases = settings.batchSizes.flatMap((size) => settings.clients.map((clients) => ({ size, clients })));
    const url = server.url;
    const rows = await runCases(
      settings,
      () => server?.pid,
      cases,
      async (probe, { size, clients }): Promise<Row> => {
        const row: Row = { size, clients, results: {} };
        const client = new BatchLoadClient(url, fixture.apiKey, clients);
        row.results.unkeyed = await probe.measure(settings, clients, () => client.postEntries(randomPairs(fixture.accountIds, size)));
        client.close();

        const pool = mysql.createPool({ uri: database.url, connectionLimit: clients, charset: 'utf8mb4_bin', supportBigNumbers: true, bigNumberStrings: true });
        const connections = await Promise.all(Array.from({ length: clients }, () => pool.getConnection()));
        row.results.raw = await probe.measure(settings, clients, (i) => rawPostEntries(connections[i], fixture.tenantId, randomPairs(fixture.accountIds, size)));
        connections.forEach((connection) => connection.release());
        await pool.end();
        return row;
      },
      { label: caseLabel, unit: UNIT },
    );

    console.log('');
    printTable(rows);
    printDiagnostics(rows);

    await server.stop();
    server = undefined;
    invariantConnection = await mysql.createConnection({ uri: database.url, supportBigNumbers: true, bigNumberStrings: true });
    const report = new InvariantReport();
    const { postings } = await checkLedgerInvariants(invariantConnection, report);
    const acknowledged = rows.reduce((sum, row) => sum + completedIn([row]) * row.size, 0);
    const [[entries]] = await invariantConnection.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS count FROM journal_entries');
    const stored = Number(entries.count) >= acknowledged && postings === 2 * Number(entries.count);
    report.check(stored, `acknowledged entries are stored, 2 postings each: ${stored ? 'OK' : 'FAIL'} (${entries.count} entries, ${acknowledged} acknowledged)`);
    report.print('Ledger invariants');
    return exitCode(report, rows);
  } finally {
    await exit.cleanup();
    exit.dispose();
  }
}

runMain(main);
