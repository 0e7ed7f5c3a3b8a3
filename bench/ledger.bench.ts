/**
 * Ledger write benchmark: postJournalEntry over GraphQL against the same writes done with raw mysql2,
 * in the same run, on the same fresh MySQL/MariaDB database. A benchmark, not a test: it prints a
 * table and fails only when the setup breaks or the ledger invariants do not hold afterwards.
 *
 *   npm run bench:ledger
 *   BENCH_SECONDS=10 BENCH_CLIENTS=8,32 BENCH_SCENARIOS=spread,hot npm run bench:ledger
 *
 * Where the server runs: by default in a child process (`node dist/src/main.js`, built first with
 * `tsc -p tsconfig.build.json` so it is the current source). This machine has 2 cores that the load
 * generator, the API and MariaDB share; with the server in this process, every request's client work
 * (building bodies, parsing responses, timing) would run on the same event loop as the server's
 * work and the server's latency would include the load generator's queueing. A separate process
 * gets its own event loop, as in production, and still competes for the cores as it would with a
 * load balancer on the same host. BENCH_SERVER=inprocess starts it in this process instead, to see
 * the difference.
 *
 * The raw baseline runs in this process: a pool of N mysql2 connections and N loops, one transaction
 * per entry, the plain way of DESIGN.md: lock both accounts in id order (SELECT ... FOR UPDATE), insert
 * the entry, insert its 2 postings in one statement, update 2 balances, commit. Same tables, same
 * column values and the same kind of statements as the ledger writer, which differs only in writing
 * many entries per transaction (group commit) and all of a batch's balances in one UPDATE.
 *
 * The cost of idempotency (BENCH_IDEMPOTENCY): the same GraphQL load again, each request with its own
 * fresh idempotencyKey (PostJournalEntryLeanKeyed, the same lean selection), so every request pays the
 * whole keyed path: its fingerprint; claiming the key (an INSERT and commit before the ledger
 * transaction, shared with the claims of concurrent requests); completing the claim inside the ledger's
 * group-commit transaction (one UPDATE per batch); storing the encrypted response after it (an UPDATE
 * and commit, shared with concurrent requests). No request is a replay. The table shows both, the
 * ratio keyed/unkeyed, and the raw baseline; afterwards every acknowledged keyed request must have a
 * COMPLETED record.
 *
 * Besides the result table it prints where the time went in each case: CPU of the bench, the server
 * and MariaDB over the measured window (from /proc), MariaDB's commit, fsync and row-lock counters
 * per entry, and with BENCH_BATCH_STATS=1 the writer's batch count, sizes and times.
 *
 * Settings (environment):
 *   BENCH_MYSQL_URL       server to use; a fresh database is created on it and dropped at the end
 *                         (default mysql://root@127.0.0.1:3306/test)
 *   BENCH_SECONDS         measured seconds per case (default 10)
 *   BENCH_WARMUP_SECONDS  unmeasured seconds before each case (default 2)
 *   BENCH_CLIENTS         concurrent clients, comma-separated (default 8,32)
 *   BENCH_SCENARIOS       spread, hot (default both)
 *   BENCH_SERVER          child | inprocess (default child)
 *   BENCH_SKIP_BUILD      1: use dist/ as it is (child server only)
 *   BENCH_CPU_PROF        a directory: the child server writes a V8 CPU profile there on exit
 *   BENCH_BATCH_STATS     1: print the ledger writer's batch sizes per case (child server only;
 *                         runs the server with LOG_LEVEL=debug to read its per-batch log lines)
 *   BENCH_IDEMPOTENCY     off: GraphQL requests without idempotencyKey; on: each with a fresh key;
 *                         both: both, one after the other, in every case (default both)
 *   BENCH_WORKERS         WEB_CONCURRENCY of the API, comma-separated: every case runs against a
 *                         server of each count in turn (default 1,2); all of them on REDIS_URL
 *                         (default redis://127.0.0.1:6379), which more than one worker needs
 * Other variables (DATABASE_POOL_SIZE, LEDGER_MAX_BATCH_SIZE, ...) pass through to the server.
 *
 * What this bench shares with bench/payments.bench.ts (settings, database, server, load loop, probes,
 * tables, banner, invariants of the ledger) is in bench/bench-support.ts.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import { print } from 'graphql';
import mysql from 'mysql2/promise';
import { type Runtime } from '../src/bootstrap';
import { newId } from '../src/common/ids';
import { toDbTimestamp } from '../src/common/timestamps';
import { EntryDirection, JournalEntryStatus, PostingPhase } from '../src/modules/ledger/ledger.types';
import { PostJournalEntryLeanDocument, PostJournalEntryLeanKeyedDocument } from '../tests/generated/graphql';
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
  deadlocksColumn,
  describeServer,
  exitCode,
  fmt,
  generateServerKeys,
  GraphQLLoadClient,
  InvariantReport,
  machineColumns,
  perOperationColumn,
  printBanner,
  printColumns,
  printFailures,
  printWhereTheTimeGoes,
  rawTransaction,
  type RateUnit,
  readCommonSettings,
  resultColumns,
  runCases,
  runMain,
  sideColumns,
  type SideLine,
  startBenchServer,
  startChildServer,
  type Variant,
} from './bench-support';

type Scenario = 'spread' | 'hot';

const ACCOUNT_COUNT = 1000;
const AMOUNT = '1.00';
const AMOUNT_MINOR = '100';
const CURRENCY = 'USD';

const settings = {
  ...readCommonSettings({ seconds: 10, warmupSeconds: 2, clients: '8,32' }),
  scenarios: (process.env.BENCH_SCENARIOS || 'spread,hot').split(',').map((s) => {
    const name = s.trim();
    if (name !== 'spread' && name !== 'hot') throw new Error(`BENCH_SCENARIOS: "${name}" is not spread or hot`);
    return name as Scenario;
  }),
  batchStats: process.env.BENCH_BATCH_STATS === '1',
  workers: (process.env.BENCH_WORKERS || '1,2').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`BENCH_WORKERS: "${s}" is not a worker count`);
    return n;
  }),
  redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
  idempotency: (process.env.BENCH_IDEMPOTENCY || 'both') as 'off' | 'on' | 'both',
};
if (!['off', 'on', 'both'].includes(settings.idempotency)) throw new Error('BENCH_IDEMPOTENCY must be off, on or both');
if (settings.server === 'inprocess' && settings.workers.some((workers) => workers !== 1)) throw new Error('BENCH_SERVER=inprocess runs one server in this process: set BENCH_WORKERS=1');
/** The GraphQL variants each case runs: without an idempotency key, with a fresh one per request. */
const GRAPHQL_VARIANTS: readonly Variant[] = settings.idempotency === 'both' ? ['unkeyed', 'keyed'] : [settings.idempotency === 'on' ? 'keyed' : 'unkeyed'];
/** Entries: rates with no decimals. */
const UNIT: RateUnit = { short: 'ent/s', long: 'entries/s', digits: 0, width: 11, rawWidth: 10 };

// ---------------------------------------------------------------------------------------------
// Account choice, shared by both sides so they write the same shape of entries

function pickPair(scenario: Scenario, accountIds: string[], hotAccountId: string): { debit: string; credit: string } {
  if (scenario === 'hot') {
    let debit: string;
    do debit = accountIds[crypto.randomInt(accountIds.length)];
    while (debit === hotAccountId);
    return { debit, credit: hotAccountId };
  }
  const debit = accountIds[crypto.randomInt(accountIds.length)];
  let credit: string;
  do credit = accountIds[crypto.randomInt(accountIds.length)];
  while (credit === debit);
  return { debit, credit };
}

// ---------------------------------------------------------------------------------------------
// GraphQL client: one postJournalEntry per operation, on the shared keep-alive client

const QUERY = print(PostJournalEntryLeanDocument);
const KEYED_QUERY = print(PostJournalEntryLeanKeyedDocument);

class LedgerLoadClient extends GraphQLLoadClient {
  /** Posts one entry; with `keyed`, under a fresh idempotency key (never a replay). */
  async postEntry(debit: string, credit: string, keyed = false): Promise<void> {
    const input = {
      lines: [
        { accountId: debit, direction: EntryDirection.DEBIT, amount: AMOUNT, currency: CURRENCY },
        { accountId: credit, direction: EntryDirection.CREDIT, amount: AMOUNT, currency: CURRENCY },
      ],
    };
    const { status, json, text } = keyed
      ? await this.post(KEYED_QUERY, { input, idempotencyKey: `bench-${crypto.randomUUID()}` })
      : await this.post(QUERY, { input });
    if (json.errors?.length) throw new Error(`HTTP ${status} ${json.errors[0].extensions?.code}: ${json.errors[0].message}`);
    const entry = (json.data?.postJournalEntry as { journalEntry?: { status?: string } } | undefined)?.journalEntry;
    if (entry?.status !== JournalEntryStatus.POSTED) throw new Error(`HTTP ${status}: unexpected response ${text.slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Raw baseline: one transaction per entry, same statements and values as the ledger writer

const SELECT_ACCOUNTS = `SELECT id, tenant_id, type, currency, available_floor_minor,
        posted_debits_minor, posted_credits_minor, pending_debits_minor, pending_credits_minor
   FROM accounts WHERE id IN (?,?) ORDER BY id FOR UPDATE`;
const INSERT_ENTRY = `INSERT INTO journal_entries
   (id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at)
 VALUES (?,?,?,?,?,?,?,?,?,?)`;
const INSERT_POSTINGS = `INSERT INTO postings
   (id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at)
 VALUES (?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?)`;
// CAST as the writer does: BIGINT plus a string is computed in DOUBLE on MySQL.
const UPDATE_BALANCE = `UPDATE accounts SET
   posted_debits_minor = posted_debits_minor + CAST(? AS SIGNED), posted_credits_minor = posted_credits_minor + CAST(? AS SIGNED),
   pending_debits_minor = pending_debits_minor + CAST(? AS SIGNED), pending_credits_minor = pending_credits_minor + CAST(? AS SIGNED)
 WHERE id = ?`;

function rawPostEntry(connection: mysql.PoolConnection, tenantId: string, debit: string, credit: string): Promise<void> {
  return rawTransaction(connection, async () => {
    const [locked] = await connection.query<mysql.RowDataPacket[]>(SELECT_ACCOUNTS, [debit, credit].sort());
    if (locked.length !== 2) throw new Error(`expected 2 locked accounts, got ${locked.length}`);
    const now = toDbTimestamp(new Date());
    const entryId = newId('journalEntry');
    await connection.query(INSERT_ENTRY, [entryId, tenantId, JournalEntryStatus.POSTED, '', now, null, null, null, now, null]);
    await connection.query(INSERT_POSTINGS, [
      ...[newId('posting'), tenantId, entryId, debit, EntryDirection.DEBIT, AMOUNT_MINOR, CURRENCY, PostingPhase.POSTED, now, now],
      ...[newId('posting'), tenantId, entryId, credit, EntryDirection.CREDIT, AMOUNT_MINOR, CURRENCY, PostingPhase.POSTED, now, now],
    ]);
    for (const accountId of [debit, credit].sort()) {
      const isDebit = accountId === debit;
      await connection.query(UPDATE_BALANCE, [
        isDebit ? AMOUNT_MINOR : '0',
        isDebit ? '0' : AMOUNT_MINOR,
        isDebit ? AMOUNT_MINOR : '0',
        isDebit ? '0' : AMOUNT_MINOR,
        accountId,
      ]);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Writer batches (BENCH_BATCH_STATS): read from the child server's debug log lines

interface BatchLog {
  size: number;
  ms: number;
}

interface BatchSummary {
  batches: number;
  sizeMean: number;
  sizeMax: number;
  msMean: number;
}

/** Collects the "ledger batch" lines of the server's log; every other line is left to be echoed. */
class BatchCollector {
  private logs: BatchLog[] = [];

  readonly onLine = (line: string): boolean => {
    if (!line.includes('"ledger batch"')) return false;
    try {
      const logged = JSON.parse(line) as { size: number; ms: number };
      this.logs.push({ size: Number(logged.size), ms: Number(logged.ms) });
      return true;
    } catch {
      // Not one of ours: echoed.
      return false;
    }
  };

  /** The batches logged since the last call, summarised; undefined when there were none. */
  take(): BatchSummary | undefined {
    const logs = this.logs;
    this.logs = [];
    if (logs.length === 0) return undefined;
    return {
      batches: logs.length,
      sizeMean: logs.reduce((sum, b) => sum + b.size, 0) / logs.length,
      sizeMax: Math.max(...logs.map((b) => b.size)),
      msMean: logs.reduce((sum, b) => sum + b.ms, 0) / logs.length,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Setup, invariants, report

interface Fixture {
  tenantId: string;
  apiKey: string;
  accountIds: string[];
  hotAccountId: string;
}

async function createFixture(runtime: Runtime): Promise<Fixture> {
  const { tenantId, apiKey } = await createBenchTenant(runtime);
  const accountIds = await createBenchAccounts(runtime, tenantId, ACCOUNT_COUNT, { codePrefix: 'bench', currency: CURRENCY });
  return { tenantId, apiKey, accountIds, hotAccountId: accountIds[0] };
}

async function checkInvariants(connection: mysql.Connection, acknowledged: number, acknowledgedKeyed: number): Promise<InvariantReport> {
  const report = new InvariantReport();
  const { postings } = await checkLedgerInvariants(connection, report);
  const [[entries]] = await connection.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS count FROM journal_entries`);
  // Every acknowledged write is in the database; a few more may be there (completed after a window closed).
  const durableOk = Number(entries.count) >= acknowledged && postings === 2 * Number(entries.count);
  report.check(
    durableOk,
    `acknowledged entries are stored, 2 postings each: ${durableOk ? 'OK' : 'FAIL'} ` +
      `(${entries.count} entries, ${postings} postings, ${acknowledged} acknowledged in measured windows)`,
  );
  if (GRAPHQL_VARIANTS.includes('keyed')) {
    // Every acknowledged keyed request recorded its key with its entry; none is left in progress once
    // the server has stopped (claims of requests cut off at the end of a window were released).
    const [[records]] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT COALESCE(SUM(status = 'COMPLETED'), 0) AS completed, COALESCE(SUM(status = 'IN_PROGRESS'), 0) AS inProgress,
              COALESCE(SUM(response_ciphertext IS NOT NULL), 0) AS withResponse
         FROM idempotency_records`,
    );
    const keyedOk = Number(records.completed) >= acknowledgedKeyed && Number(records.inProgress) === 0;
    report.check(
      keyedOk,
      `acknowledged keyed requests have a COMPLETED idempotency record: ${keyedOk ? 'OK' : 'FAIL'} ` +
        `(${records.completed} completed, ${records.withResponse} with stored response, ${records.inProgress} in progress, ` +
        `${acknowledgedKeyed} acknowledged in measured windows)`,
    );
  }
  return report;
}

interface Row extends BenchRow {
  /** WEB_CONCURRENCY of the server the case ran against. */
  workers: number;
  scenario: Scenario;
  clients: number;
  /** Writer batches over each GraphQL case, warm-up included (BENCH_BATCH_STATS). */
  batches: Partial<Record<Variant, BatchSummary>>;
}

const caseLabel = (row: Row) => `${row.workers} worker${row.workers === 1 ? '' : 's'} ${row.scenario}/${row.clients}`;

/** The case's scenario and client count, first in both tables. */
function caseColumns<T>(rowOf: (item: T) => Row): Column<T>[] {
  return [
    { title: 'workers', width: 7, cell: (item) => String(rowOf(item).workers) },
    { title: 'scenario', width: 8, left: true, cell: (item) => rowOf(item).scenario },
    { title: 'clients', width: 7, cell: (item) => String(rowOf(item).clients) },
  ];
}

function printTable(rows: Row[]): void {
  printColumns([...caseColumns<Row>((row) => row), ...resultColumns<Row>(GRAPHQL_VARIANTS, UNIT)], rows);
  console.log(
    'latencies in ms; entries/s over the measured window; gql = GraphQL without idempotency key, keyed = GraphQL with a fresh\n' +
      'idempotencyKey per request; x/raw = entries/s over raw entries/s' +
      (GRAPHQL_VARIANTS.length === 2 ? '; keyed/gql = entries/s with keys over entries/s without' : ''),
  );
  printFailures(rows, caseLabel);
}

function printDiagnostics(rows: Row[]): void {
  const withBatches = rows.some((row) => Object.keys(row.batches).length > 0);
  // Batches belong to the GraphQL sides; the raw side's cells stay empty.
  const batchCell = (format: (batch: BatchSummary) => string) => (line: SideLine<Row>) => {
    const batch = line.side === 'raw' ? undefined : line.row.batches[line.side];
    return batch ? format(batch) : '';
  };
  const columns: Column<SideLine<Row>>[] = [
    ...caseColumns<SideLine<Row>>((line) => line.row),
    ...sideColumns<Row>(UNIT, 6),
    ...cpuColumns<Row>(),
    // How busy the machine was, and with what besides us: a shared machine's noise shows here.
    ...machineColumns<Row>(),
    perOperationColumn<Row>('commits/ent', 'Com_commit', 3),
    perOperationColumn<Row>('fsyncs/ent', 'Innodb_data_fsyncs', 3),
    perOperationColumn<Row>('lock waits/ent', 'Innodb_row_lock_waits', 3),
    perOperationColumn<Row>('lock ms/ent', 'Innodb_row_lock_time', 2),
    deadlocksColumn<Row>(),
  ];
  if (withBatches) {
    columns.push(
      { title: 'batches', width: 7, cell: batchCell((batch) => String(batch.batches)) },
      { title: 'mean size', width: 9, cell: batchCell((batch) => fmt(batch.sizeMean)) },
      { title: 'max', width: 4, cell: batchCell((batch) => String(batch.sizeMax)) },
      { title: 'mean ms', width: 7, cell: batchCell((batch) => fmt(batch.msMean)) },
    );
  }
  printWhereTheTimeGoes(
    columns,
    rows,
    `${CPU_NOTE}; commits, fsyncs and\n` +
      'lock counters are server-wide MariaDB status deltas over the window, so other users of the server show up in them' +
      (withBatches ? ';\nbatches = ledger writer transactions over the whole GraphQL case (warm-up included), mean ms = time of one' : ''),
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  await printBanner('Reckon ledger write benchmark', settings.mysqlUrl);
  console.log(
    `  cases:     ${settings.scenarios.join(', ')} x ${settings.clients.join(', ')} clients, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured, ` +
      describeServer(settings),
  );
  console.log(`  workers:   WEB_CONCURRENCY ${settings.workers.join(', ')} (BENCH_WORKERS), each on REDIS_URL ${settings.redisUrl}`);

  const database = await createBenchDatabase(settings.mysqlUrl, 'reckon_bench');
  const keys = await generateServerKeys();
  let runtime: Runtime | undefined;
  let server: BenchServer | undefined;
  let invariantConnection: mysql.Connection | undefined;
  const exit = cleanupOnExit(database, () => ({ server, runtime, connection: invariantConnection }));

  try {
    console.log(`  database for this run: ${database.name} (dropped at the end)`);
    runtime = await bootstrapRuntime(database.url, keys, {
      databasePoolSize: 20,
      ledgerMaxBatchSize: Number(process.env.LEDGER_MAX_BATCH_SIZE || 200),
    });
    const setupStarted = performance.now();
    const fixture = await createFixture(runtime);
    console.log(`  setup:     1 tenant, 1 API key, ${fixture.accountIds.length} ${CURRENCY} asset accounts in ${fmt((performance.now() - setupStarted) / 1000, 1)} s`);

    // Batch sizes come from the child server's debug log lines; an in-process server's are not collected.
    const batchLog = new BatchCollector();
    const serverOptions = (workers: number) => ({
      databaseUrl: database.url,
      keys,
      logLevel: settings.batchStats ? 'debug' : 'warn',
      onLine: settings.batchStats ? batchLog.onLine : undefined,
      // Every worker count on the same Redis, so that the worker count is the one difference.
      env: { WEB_CONCURRENCY: String(workers), REDIS_URL: settings.redisUrl },
    });
    const rows: Row[] = [];
    for (const workers of settings.workers) {
      // The setup runtime starts the first server (and is closed then, unless the server runs in this process).
      if (runtime) ({ server, runtime } = await startBenchServer(settings, runtime, serverOptions(workers)));
      else server = await startChildServer(settings, serverOptions(workers));
      console.log('');

      const cases = settings.scenarios.flatMap((scenario) => settings.clients.map((clients) => ({ scenario, clients })));
      // The server stays up through every case of its worker count; the load clients need its address inside the callback.
      const url = server.url;
      rows.push(
        ...(await runCases(
          settings,
          () => server?.pid,
          cases,
          async (probe, { scenario, clients }): Promise<Row> => {
            const row: Row = { workers, scenario, clients, results: {}, batches: {} };
            for (const variant of GRAPHQL_VARIANTS) {
              const client = new LedgerLoadClient(url, fixture.apiKey, clients);
              batchLog.take();
              row.results[variant] = await probe.measure(settings, clients, () => {
                const { debit, credit } = pickPair(scenario, fixture.accountIds, fixture.hotAccountId);
                return client.postEntry(debit, credit, variant === 'keyed');
              });
              const batchSummary = batchLog.take();
              if (batchSummary) row.batches[variant] = batchSummary;
              client.close();
            }

            const pool = mysql.createPool({
              uri: database.url,
              connectionLimit: clients,
              charset: 'utf8mb4_bin',
              supportBigNumbers: true,
              bigNumberStrings: true,
            });
            const connections = await Promise.all(Array.from({ length: clients }, () => pool.getConnection()));
            row.results.raw = await probe.measure(settings, clients, (i) => {
              const { debit, credit } = pickPair(scenario, fixture.accountIds, fixture.hotAccountId);
              return rawPostEntry(connections[i], fixture.tenantId, debit, credit);
            });
            connections.forEach((connection) => connection.release());
            await pool.end();
            return row;
          },
          { label: caseLabel, unit: UNIT },
        )),
      );
      // Stopped before the next worker count and before the invariants: everything it acknowledged is committed.
      await server.stop();
      server = undefined;
    }

    console.log('');
    printTable(rows);
    printDiagnostics(rows);

    invariantConnection = await mysql.createConnection({ uri: database.url, supportBigNumbers: true, bigNumberStrings: true });
    const invariants = await checkInvariants(invariantConnection, completedIn(rows), completedIn(rows, 'keyed'));
    invariants.print('Ledger invariants');
    return exitCode(invariants, rows);
  } finally {
    await exit.cleanup();
    exit.dispose();
  }
}

runMain(main);
