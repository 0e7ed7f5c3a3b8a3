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
 * Other variables (DATABASE_POOL_SIZE, LEDGER_MAX_BATCH_SIZE, ...) pass through to the server.
 */
import 'reflect-metadata';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { print } from 'graphql';
import mysql from 'mysql2/promise';
import { bootstrap, createLogger, type Runtime } from '../src/bootstrap';
import { formatEncryptionKeys, generateEncryptionKey } from '../src/common/encryption';
import { newId } from '../src/common/ids';
import { loadConfig } from '../src/config';
import { toDbTimestamp } from '../src/common/timestamps';
import { AccountType, EntryDirection, JournalEntryStatus, PostingPhase } from '../src/modules/ledger/ledger.types';
import { startServer, type RunningServer } from '../src/server/app';
import { generateSigningKey } from '../src/server/key-material';
import { PostJournalEntryLeanDocument, PostJournalEntryLeanKeyedDocument } from '../tests/generated/graphql';

type Scenario = 'spread' | 'hot';
type Variant = 'unkeyed' | 'keyed';

const ROOT = path.resolve(__dirname, '..');
const ACCOUNT_COUNT = 1000;
const AMOUNT = '1.00';
const AMOUNT_MINOR = '100';
const CURRENCY = 'USD';

function readNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

const settings = {
  mysqlUrl: process.env.BENCH_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test',
  seconds: readNumber('BENCH_SECONDS', 10),
  warmupSeconds: readNumber('BENCH_WARMUP_SECONDS', 2),
  clients: (process.env.BENCH_CLIENTS || '8,32').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`BENCH_CLIENTS: "${s}" is not a client count`);
    return n;
  }),
  scenarios: (process.env.BENCH_SCENARIOS || 'spread,hot').split(',').map((s) => {
    const name = s.trim();
    if (name !== 'spread' && name !== 'hot') throw new Error(`BENCH_SCENARIOS: "${name}" is not spread or hot`);
    return name as Scenario;
  }),
  server: (process.env.BENCH_SERVER || 'child') as 'child' | 'inprocess',
  skipBuild: process.env.BENCH_SKIP_BUILD === '1',
  cpuProfDir: process.env.BENCH_CPU_PROF || '',
  batchStats: process.env.BENCH_BATCH_STATS === '1',
  idempotency: (process.env.BENCH_IDEMPOTENCY || 'both') as 'off' | 'on' | 'both',
};
if (!['off', 'on', 'both'].includes(settings.idempotency)) throw new Error('BENCH_IDEMPOTENCY must be off, on or both');
/** The GraphQL variants each case runs: without an idempotency key, with a fresh one per request. */
const GRAPHQL_VARIANTS: readonly Variant[] = settings.idempotency === 'both' ? ['unkeyed', 'keyed'] : [settings.idempotency === 'on' ? 'keyed' : 'unkeyed'];
if (settings.server !== 'child' && settings.server !== 'inprocess') throw new Error('BENCH_SERVER must be child or inprocess');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Measurement

interface CaseResult {
  completed: number;
  failed: number;
  seconds: number;
  entriesPerSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
  firstError?: string;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Latencies of completed operations, in a growable typed array (no per-sample objects). */
class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  count = 0;

  add(ms: number): void {
    if (this.count === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.count++] = ms;
  }

  sorted(): Float64Array {
    return this.samples.slice(0, this.count).sort();
  }
}

/**
 * Runs `clients` loops of `operation` for a warm-up, then for the measured window. An operation
 * counts when it completes inside the window; its latency is recorded then. Loops stop starting new
 * operations at the end of the window and the case waits for the ones in flight.
 */
async function runLoad(
  clients: number,
  operation: (client: number) => Promise<void>,
  window: { onStart(): void; onEnd(): void },
): Promise<CaseResult> {
  const now = () => performance.now();
  const warmupEnd = now() + settings.warmupSeconds * 1000;
  const measureEnd = warmupEnd + settings.seconds * 1000;
  const startTimer = setTimeout(() => window.onStart(), settings.warmupSeconds * 1000);
  const endTimer = setTimeout(() => window.onEnd(), (settings.warmupSeconds + settings.seconds) * 1000);
  const latencies = new LatencyRecorder();
  let failed = 0;
  let firstError: string | undefined;
  const loop = async (client: number) => {
    while (now() < measureEnd) {
      const started = now();
      try {
        await operation(client);
      } catch (error) {
        failed += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        // A broken server or database must not turn the bench into a busy loop of errors.
        await sleep(10);
        continue;
      }
      const finished = now();
      if (finished >= warmupEnd && finished <= measureEnd) latencies.add(finished - started);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  const sorted = latencies.sorted();
  return {
    completed: latencies.count,
    failed,
    seconds: settings.seconds,
    entriesPerSecond: latencies.count / settings.seconds,
    latencyMsP50: percentile(sorted, 0.5),
    latencyMsP99: percentile(sorted, 0.99),
    firstError,
  };
}

// ---------------------------------------------------------------------------------------------
// Where the time goes: CPU of each process and the database's own counters over the measured window

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used, from /proc; NaN where /proc is not readable. */
function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

function findDatabasePid(): number | undefined {
  for (const name of ['mariadbd', 'mysqld']) {
    const found = spawnSync('pgrep', ['-x', name], { encoding: 'utf8' });
    const pid = Number(found.stdout?.split('\n')[0]);
    if (found.status === 0 && Number.isInteger(pid) && pid > 0) return pid;
  }
  return undefined;
}

const STATUS_NAMES = ['Com_commit', 'Innodb_data_fsyncs', 'Innodb_row_lock_waits', 'Innodb_row_lock_time', 'Innodb_deadlocks'] as const;
type StatusName = (typeof STATUS_NAMES)[number];

interface Snapshot {
  at: number;
  benchCpuSeconds: number;
  serverCpuSeconds: number;
  databaseCpuSeconds: number;
  status: Record<StatusName, number>;
}

interface Diagnostics {
  /** Share of one core each process used over the window. */
  benchCpu: number;
  serverCpu: number;
  databaseCpu: number;
  /** Server-wide counters (other users of the database server count too). */
  commits: number;
  fsyncs: number;
  rowLockWaits: number;
  rowLockMs: number;
  deadlocks: number;
}

class Probe {
  constructor(
    private readonly connection: mysql.Connection,
    private readonly serverPid: () => number | undefined,
    private readonly databasePid: number | undefined,
  ) {}

  async snapshot(): Promise<Snapshot> {
    const at = performance.now();
    const usage = process.cpuUsage();
    const serverCpuSeconds = processCpuSeconds(this.serverPid());
    const databaseCpuSeconds = processCpuSeconds(this.databasePid);
    const [rows] = await this.connection.query<mysql.RowDataPacket[]>(
      `SHOW GLOBAL STATUS WHERE Variable_name IN (${STATUS_NAMES.map(() => '?').join(',')})`,
      [...STATUS_NAMES],
    );
    const status = Object.fromEntries(STATUS_NAMES.map((name) => [name, NaN])) as Record<StatusName, number>;
    for (const row of rows) status[row.Variable_name as StatusName] = Number(row.Value);
    return { at, benchCpuSeconds: (usage.user + usage.system) / 1e6, serverCpuSeconds, databaseCpuSeconds, status };
  }

  /** Snapshots at the window's start and end, taken from runLoad's timers. */
  window(): { hooks: { onStart(): void; onEnd(): void }; result(): Promise<Diagnostics> } {
    let start: Promise<Snapshot> | undefined;
    let end: Promise<Snapshot> | undefined;
    return {
      hooks: {
        onStart: () => {
          start = this.snapshot();
        },
        onEnd: () => {
          end = this.snapshot();
        },
      },
      result: async () => {
        const [a, b] = await Promise.all([start ?? this.snapshot(), end ?? this.snapshot()]);
        const seconds = (b.at - a.at) / 1000;
        const delta = (name: StatusName) => b.status[name] - a.status[name];
        return {
          benchCpu: (b.benchCpuSeconds - a.benchCpuSeconds) / seconds,
          serverCpu: (b.serverCpuSeconds - a.serverCpuSeconds) / seconds,
          databaseCpu: (b.databaseCpuSeconds - a.databaseCpuSeconds) / seconds,
          commits: delta('Com_commit'),
          fsyncs: delta('Innodb_data_fsyncs'),
          rowLockWaits: delta('Innodb_row_lock_waits'),
          rowLockMs: delta('Innodb_row_lock_time'),
          deadlocks: delta('Innodb_deadlocks'),
        };
      },
    };
  }
}

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
// GraphQL client: node:http with a keep-alive agent, one socket per client loop

const QUERY = print(PostJournalEntryLeanDocument);
const KEYED_QUERY = print(PostJournalEntryLeanKeyedDocument);

class GraphQLLoadClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(
    url: string,
    private readonly apiKey: string,
    sockets: number,
  ) {
    this.url = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  /** Posts one entry; with `keyed`, under a fresh idempotency key (never a replay). */
  postEntry(debit: string, credit: string, keyed = false): Promise<void> {
    const input = {
      lines: [
        { accountId: debit, direction: EntryDirection.DEBIT, amount: AMOUNT, currency: CURRENCY },
        { accountId: credit, direction: EntryDirection.CREDIT, amount: AMOUNT, currency: CURRENCY },
      ],
    };
    const body = JSON.stringify(
      keyed ? { query: KEYED_QUERY, variables: { input, idempotencyKey: `bench-${crypto.randomUUID()}` } } : { query: QUERY, variables: { input } },
    );
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${this.apiKey}`,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              const json = JSON.parse(text) as {
                data?: { postJournalEntry?: { journalEntry?: { status?: string } } };
                errors?: { message: string; extensions?: { code?: string } }[];
              };
              if (json.errors?.length) {
                reject(new Error(`HTTP ${response.statusCode} ${json.errors[0].extensions?.code}: ${json.errors[0].message}`));
              } else if (json.data?.postJournalEntry?.journalEntry?.status !== JournalEntryStatus.POSTED) {
                reject(new Error(`HTTP ${response.statusCode}: unexpected response ${text.slice(0, 200)}`));
              } else resolve();
            } catch {
              reject(new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`));
            }
          });
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
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

async function rawPostEntry(connection: mysql.PoolConnection, tenantId: string, debit: string, credit: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await connection.query('START TRANSACTION');
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
      await connection.query('COMMIT');
      return;
    } catch (error) {
      await connection.query('ROLLBACK').catch(() => undefined);
      const errno = (error as { errno?: number }).errno;
      // Deadlock or lock-wait timeout: retried like the app's runInTransaction does.
      if ((errno === 1213 || errno === 1205) && attempt < 8) continue;
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Database and server lifecycle

interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `reckon_bench_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: serverUrl });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const connection = await mysql.createConnection({ uri: serverUrl });
      try {
        await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await connection.end();
      }
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface BatchLog {
  size: number;
  ms: number;
}

interface BenchServer {
  url: string;
  /** The process serving requests, for its CPU time. */
  pid: number | undefined;
  /** Writer batches logged since the last call (BENCH_BATCH_STATS only). */
  takeBatches(): BatchLog[];
  stop(): Promise<void>;
}

async function waitForHealth(baseUrl: string, child: ChildProcess | null, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} during start-up`);
    try {
      const response = await fetch(`${baseUrl}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`the server did not become healthy within ${timeoutMs} ms`);
}

async function startChildServer(databaseUrl: string): Promise<BenchServer> {
  if (!settings.skipBuild) {
    const build = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    if (build.status !== 0) throw new Error('tsc -p tsconfig.build.json failed; fix the build or set BENCH_SKIP_BUILD=1');
  }
  const port = await freePort();
  const nodeArgs = settings.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(settings.cpuProfDir)}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      SEED_DEMO_TENANT: 'false',
      LOG_LEVEL: settings.batchStats ? 'debug' : 'warn',
      NODE_ENV: 'production',
      // Production refuses to generate keys: the bench brings its own throwaway ones.
      JWT_SIGNING_KEYS: JSON.stringify([await generateSigningKey()]),
      ENCRYPTION_KEYS: formatEncryptionKeys([generateEncryptionKey('bench')]),
      BLIND_INDEX_KEY: generateEncryptionKey('blind').key.toString('base64'),
      // One API key drives all the load: the per-credential request limit would measure itself.
      RATE_LIMIT_PER_SECOND: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let batches: BatchLog[] = [];
  readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (settings.batchStats && line.includes('"ledger batch"')) {
      try {
        const logged = JSON.parse(line) as { size: number; ms: number };
        batches.push({ size: Number(logged.size), ms: Number(logged.ms) });
        return;
      } catch {
        // Not one of ours: shown below.
      }
    }
    process.stdout.write(`[server] ${line}\n`);
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForHealth(baseUrl, child, 60_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url: `${baseUrl}/graphql`,
    pid: child.pid,
    takeBatches: () => {
      const taken = batches;
      batches = [];
      return taken;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // SIGTERM: main.ts shuts down cleanly, which also lets --cpu-prof write its profile.
      child.kill('SIGTERM');
      const timeout = sleep(15_000).then(() => 'timeout');
      if ((await Promise.race([exited.then(() => 'exited'), timeout])) === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

async function startInProcessServer(runtime: Runtime): Promise<BenchServer> {
  const server: RunningServer = await startServer({ services: runtime.services, log: runtime.log, config: { ...loadConfig({ NODE_ENV: 'production' }), limits: { ...loadConfig({}).limits, requestsPerSecond: 0 } } }, 0, '127.0.0.1');
  return { url: server.url, pid: process.pid, takeBatches: () => [], stop: () => server.close() };
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
  const { tenancy, auth, ledger } = runtime.services;
  const tenant = await tenancy.createTenant('Bench');
  const { secret } = await auth.createApiKey(tenant.id, { name: 'bench' });
  const accountIds: string[] = [];
  // Through the ledger service, 16 at a time: one small transaction each, no limits on any account.
  for (let start = 0; start < ACCOUNT_COUNT; start += 16) {
    const created = await Promise.all(
      Array.from({ length: Math.min(16, ACCOUNT_COUNT - start) }, (_, i) =>
        ledger.createAccount(tenant.id, {
          code: `bench-${String(start + i).padStart(4, '0')}`,
          name: `Bench account ${start + i}`,
          type: AccountType.ASSET,
          currency: CURRENCY,
        }),
      ),
    );
    accountIds.push(...created.map((account) => account.id));
  }
  return { tenantId: tenant.id, apiKey: secret, accountIds, hotAccountId: accountIds[0] };
}

interface InvariantResult {
  ok: boolean;
  lines: string[];
}

async function checkInvariants(connection: mysql.Connection, acknowledged: number, acknowledgedKeyed: number): Promise<InvariantResult> {
  const lines: string[] = [];
  let ok = true;
  const [[totals]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COALESCE(SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor END), 0) AS debits,
            COALESCE(SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor END), 0) AS credits,
            COUNT(*) AS postings
       FROM postings`,
  );
  const debitsEqualCredits = String(totals.debits) === String(totals.credits);
  ok &&= debitsEqualCredits;
  lines.push(`sum of debits = sum of credits: ${debitsEqualCredits ? 'OK' : 'FAIL'} (${totals.debits} vs ${totals.credits} minor units)`);

  const [[unbalanced]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS count FROM (
       SELECT journal_entry_id FROM postings GROUP BY journal_entry_id, currency, phase
       HAVING SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE -amount_minor END) <> 0) unbalanced`,
  );
  ok &&= Number(unbalanced.count) === 0;
  lines.push(`every entry balances: ${Number(unbalanced.count) === 0 ? 'OK' : `FAIL (${unbalanced.count} unbalanced)`}`);

  const [[drift]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS count FROM accounts a LEFT JOIN (
         SELECT account_id,
                SUM(CASE WHEN phase = 'POSTED' AND direction = 'DEBIT' THEN amount_minor ELSE 0 END) AS posted_debits,
                SUM(CASE WHEN phase = 'POSTED' AND direction = 'CREDIT' THEN amount_minor ELSE 0 END) AS posted_credits,
                SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE 0 END) AS pending_debits,
                SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor ELSE 0 END) AS pending_credits
           FROM postings GROUP BY account_id) p ON p.account_id = a.id
      WHERE a.posted_debits_minor <> COALESCE(p.posted_debits, 0) OR a.posted_credits_minor <> COALESCE(p.posted_credits, 0)
         OR a.pending_debits_minor <> COALESCE(p.pending_debits, 0) OR a.pending_credits_minor <> COALESCE(p.pending_credits, 0)`,
  );
  ok &&= Number(drift.count) === 0;
  lines.push(`account balances = sums of postings: ${Number(drift.count) === 0 ? 'OK' : `FAIL (${drift.count} accounts differ)`}`);

  const [[entries]] = await connection.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS count FROM journal_entries`);
  // Every acknowledged write is in the database; a few more may be there (completed after a window closed).
  const durableOk = Number(entries.count) >= acknowledged && Number(totals.postings) === 2 * Number(entries.count);
  ok &&= durableOk;
  lines.push(
    `acknowledged entries are stored, 2 postings each: ${durableOk ? 'OK' : 'FAIL'} ` +
      `(${entries.count} entries, ${totals.postings} postings, ${acknowledged} acknowledged in measured windows)`,
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
    ok &&= keyedOk;
    lines.push(
      `acknowledged keyed requests have a COMPLETED idempotency record: ${keyedOk ? 'OK' : 'FAIL'} ` +
        `(${records.completed} completed, ${records.withResponse} with stored response, ${records.inProgress} in progress, ` +
        `${acknowledgedKeyed} acknowledged in measured windows)`,
    );
  }
  return { ok, lines };
}

function pad(value: string, width: number, right = true): string {
  return right ? value.padStart(width) : value.padEnd(width);
}

function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

interface Row {
  scenario: Scenario;
  clients: number;
  /** GraphQL without idempotency keys, and with a fresh key per request: whichever BENCH_IDEMPOTENCY runs. */
  graphql: Partial<Record<Variant, CaseResult>>;
  graphqlDiagnostics: Partial<Record<Variant, Diagnostics>>;
  raw: CaseResult;
  rawDiagnostics: Diagnostics;
  /** Writer batches over each GraphQL case, warm-up included (BENCH_BATCH_STATS). */
  batches: Partial<Record<Variant, BatchSummary>>;
}

interface BatchSummary {
  batches: number;
  sizeMean: number;
  sizeMax: number;
  msMean: number;
}

const SIDE_NAMES: Record<Variant | 'raw', string> = { unkeyed: 'graphql', keyed: 'keyed', raw: 'raw' };

/** The sides of a row in print order: GraphQL without keys, with keys, the raw baseline. */
function sidesOf(row: Row): { side: Variant | 'raw'; result: CaseResult; diagnostics: Diagnostics }[] {
  const sides: { side: Variant | 'raw'; result: CaseResult; diagnostics: Diagnostics }[] = [];
  for (const variant of ['unkeyed', 'keyed'] as const) {
    const result = row.graphql[variant];
    const diagnostics = row.graphqlDiagnostics[variant];
    if (result && diagnostics) sides.push({ side: variant, result, diagnostics });
  }
  sides.push({ side: 'raw', result: row.raw, diagnostics: row.rawDiagnostics });
  return sides;
}

function printTable(rows: Row[]): void {
  const variants = GRAPHQL_VARIANTS;
  const header = [pad('scenario', 8, false), pad('clients', 7)];
  for (const variant of variants) {
    const name = variant === 'keyed' ? 'keyed' : 'gql';
    header.push(pad(`${name} ent/s`, 11), pad(`${name} p50`, 9), pad(`${name} p99`, 9));
  }
  header.push(pad('raw ent/s', 10), pad('raw p50', 8), pad('raw p99', 8));
  for (const variant of variants) header.push(pad(variant === 'keyed' ? 'keyed/raw' : 'gql/raw', 9));
  if (variants.length === 2) header.push(pad('keyed/gql', 9));
  console.log(header.join('  '));
  console.log('-'.repeat(header.join('  ').length));
  for (const row of rows) {
    const cells = [pad(row.scenario, 8, false), pad(String(row.clients), 7)];
    for (const variant of variants) {
      const result = row.graphql[variant];
      cells.push(
        pad(fmt(result?.entriesPerSecond ?? NaN, 0), 11),
        pad(fmt(result?.latencyMsP50 ?? NaN), 9),
        pad(fmt(result?.latencyMsP99 ?? NaN), 9),
      );
    }
    cells.push(pad(fmt(row.raw.entriesPerSecond, 0), 10), pad(fmt(row.raw.latencyMsP50), 8), pad(fmt(row.raw.latencyMsP99), 8));
    for (const variant of variants) cells.push(pad(fmt((row.graphql[variant]?.entriesPerSecond ?? NaN) / row.raw.entriesPerSecond, 2), 9));
    if (variants.length === 2) {
      cells.push(pad(fmt((row.graphql.keyed?.entriesPerSecond ?? NaN) / (row.graphql.unkeyed?.entriesPerSecond ?? NaN), 2), 9));
    }
    console.log(cells.join('  '));
  }
  console.log(
    'latencies in ms; entries/s over the measured window; gql = GraphQL without idempotency key, keyed = GraphQL with a fresh\n' +
      'idempotencyKey per request; x/raw = entries/s over raw entries/s' +
      (variants.length === 2 ? '; keyed/gql = entries/s with keys over entries/s without' : ''),
  );
  for (const row of rows) {
    for (const { side, result } of sidesOf(row)) {
      if (result.failed) console.log(`  ${row.scenario}/${row.clients} ${SIDE_NAMES[side]}: ${result.failed} failed, first: ${result.firstError}`);
    }
  }
}

function printDiagnostics(rows: Row[]): void {
  const withBatches = rows.some((row) => Object.keys(row.batches).length > 0);
  const header = [
    pad('scenario', 8, false),
    pad('clients', 7),
    pad('side', 7, false),
    pad('ent/s', 6),
    pad('bench cpu', 9),
    pad('server cpu', 10),
    pad('db cpu', 6),
    pad('commits/ent', 11),
    pad('fsyncs/ent', 10),
    pad('lock waits/ent', 14),
    pad('lock ms/ent', 11),
    pad('deadlocks', 9),
  ];
  if (withBatches) header.push(pad('batches', 7), pad('mean size', 9), pad('max', 4), pad('mean ms', 7));
  console.log(header.join('  '));
  console.log('-'.repeat(header.join('  ').length));
  for (const row of rows) {
    for (const { side, result, diagnostics: d } of sidesOf(row)) {
      const entries = result.completed;
      const cells = [
        pad(row.scenario, 8, false),
        pad(String(row.clients), 7),
        pad(SIDE_NAMES[side], 7, false),
        pad(fmt(result.entriesPerSecond, 0), 6),
        pad(`${fmt(d.benchCpu * 100, 0)}%`, 9),
        pad(`${fmt(d.serverCpu * 100, 0)}%`, 10),
        pad(`${fmt(d.databaseCpu * 100, 0)}%`, 6),
        pad(fmt(d.commits / entries, 3), 11),
        pad(fmt(d.fsyncs / entries, 3), 10),
        pad(fmt(d.rowLockWaits / entries, 3), 14),
        pad(fmt(d.rowLockMs / entries, 2), 11),
        pad(String(d.deadlocks), 9),
      ];
      if (withBatches) {
        const batch = side === 'raw' ? undefined : row.batches[side];
        cells.push(
          pad(batch ? String(batch.batches) : '', 7),
          pad(batch ? fmt(batch.sizeMean) : '', 9),
          pad(batch ? String(batch.sizeMax) : '', 4),
          pad(batch ? fmt(batch.msMean) : '', 7),
        );
      }
      console.log(cells.join('  '));
    }
  }
  console.log(
    'cpu = share of one core over the measured window (server cpu on the raw side: the idle API); commits, fsyncs and\n' +
      'lock counters are server-wide MariaDB status deltas over the window, so other users of the server show up in them' +
      (withBatches ? ';\nbatches = ledger writer transactions over the whole GraphQL case (warm-up included), mean ms = time of one' : ''),
  );
}

function summariseBatches(logs: BatchLog[]): BatchSummary | undefined {
  if (!settings.batchStats || logs.length === 0) return undefined;
  return {
    batches: logs.length,
    sizeMean: logs.reduce((sum, b) => sum + b.size, 0) / logs.length,
    sizeMax: Math.max(...logs.map((b) => b.size)),
    msMean: logs.reduce((sum, b) => sum + b.ms, 0) / logs.length,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const admin = await mysql.createConnection({ uri: settings.mysqlUrl });
  const [[info]] = await admin.query<mysql.RowDataPacket[]>(
    `SELECT VERSION() AS version, @@innodb_flush_log_at_trx_commit AS flushAtCommit, @@sync_binlog AS syncBinlog,
            @@log_bin AS logBin, @@innodb_buffer_pool_size AS bufferPool`,
  );
  await admin.end();
  const cpus = os.cpus();
  console.log('Reckon ledger write benchmark');
  console.log(`  machine:   ${cpus.length} cpus (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`  node:      ${process.version}`);
  console.log(`  database:  ${info.version} at ${settings.mysqlUrl.replace(/\/\/[^@]*@/, '//***@')}`);
  const durable = Number(info.flushAtCommit) === 1;
  console.log(
    `  durability: innodb_flush_log_at_trx_commit=${info.flushAtCommit}, sync_binlog=${info.syncBinlog}, log_bin=${info.logBin} ` +
      `-> commits are ${durable ? 'durable (redo log flushed at every commit)' : 'NOT durable (redo log not flushed at every commit)'}` +
      (Number(info.logBin) === 1 && Number(info.syncBinlog) !== 1 ? '; binlog not synced at commit' : ''),
  );
  console.log(
    `  cases:     ${settings.scenarios.join(', ')} x ${settings.clients.join(', ')} clients, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured, ` +
      `server ${settings.server === 'child' ? 'in a child process (node dist/src/main.js)' : 'in this process'}`,
  );

  const database = await createBenchDatabase(settings.mysqlUrl);
  let runtime: Runtime | undefined;
  let server: BenchServer | undefined;
  let invariantConnection: mysql.Connection | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await server?.stop().catch((error: unknown) => console.error('stopping the server failed:', error));
    await runtime?.close().catch(() => undefined);
    await invariantConnection?.end().catch(() => undefined);
    await database.drop().catch((error: unknown) => console.error(`dropping ${database.name} failed:`, error));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    console.log(`  database for this run: ${database.name} (dropped at the end)`);
    runtime = await bootstrap(
      {
        ...loadConfig({ DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-bench-')) }),
        databaseUrl: database.url,
        databasePoolSize: 20,
        ledgerMaxBatchSize: Number(process.env.LEDGER_MAX_BATCH_SIZE || 200),
        logLevel: 'warn',
        limits: { ...loadConfig({}).limits, requestsPerSecond: 0 },
      },
      { log: createLogger('warn') },
    );
    const setupStarted = performance.now();
    const fixture = await createFixture(runtime);
    console.log(`  setup:     1 tenant, 1 API key, ${fixture.accountIds.length} ${CURRENCY} asset accounts in ${fmt((performance.now() - setupStarted) / 1000, 1)} s`);

    server = settings.server === 'child' ? await startChildServer(database.url) : await startInProcessServer(runtime);
    if (settings.server === 'child') {
      // The bench process needs no pool of its own beyond setup and the raw baseline.
      await runtime.close();
      runtime = undefined;
    }
    console.log('');

    const probeConnection = await mysql.createConnection({ uri: settings.mysqlUrl });
    const probe = new Probe(probeConnection, () => server?.pid, findDatabasePid());
    const rows: Row[] = [];
    let acknowledged = 0;
    let acknowledgedKeyed = 0;
    try {
      for (const scenario of settings.scenarios) {
        for (const clients of settings.clients) {
          const graphqlResults: Row['graphql'] = {};
          const graphqlDiagnostics: Row['graphqlDiagnostics'] = {};
          const batches: Row['batches'] = {};
          for (const variant of GRAPHQL_VARIANTS) {
            const client = new GraphQLLoadClient(server.url, fixture.apiKey, clients);
            server.takeBatches();
            const graphqlWindow = probe.window();
            const result = await runLoad(
              clients,
              () => {
                const { debit, credit } = pickPair(scenario, fixture.accountIds, fixture.hotAccountId);
                return client.postEntry(debit, credit, variant === 'keyed');
              },
              graphqlWindow.hooks,
            );
            graphqlDiagnostics[variant] = await graphqlWindow.result();
            const batchSummary = summariseBatches(server.takeBatches());
            if (batchSummary) batches[variant] = batchSummary;
            client.close();
            graphqlResults[variant] = result;
            acknowledged += result.completed;
            if (variant === 'keyed') acknowledgedKeyed += result.completed;
          }

          const pool = mysql.createPool({
            uri: database.url,
            connectionLimit: clients,
            charset: 'utf8mb4_bin',
            supportBigNumbers: true,
            bigNumberStrings: true,
          });
          const connections = await Promise.all(Array.from({ length: clients }, () => pool.getConnection()));
          const rawWindow = probe.window();
          const raw = await runLoad(
            clients,
            (i) => {
              const { debit, credit } = pickPair(scenario, fixture.accountIds, fixture.hotAccountId);
              return rawPostEntry(connections[i], fixture.tenantId, debit, credit);
            },
            rawWindow.hooks,
          );
          const rawDiagnostics = await rawWindow.result();
          connections.forEach((connection) => connection.release());
          await pool.end();
          acknowledged += raw.completed;

          const row: Row = { scenario, clients, graphql: graphqlResults, graphqlDiagnostics, raw, rawDiagnostics, batches };
          rows.push(row);
          console.log(
            `  ${scenario}/${clients}: ` +
              sidesOf(row)
                .map(({ side, result }) => `${SIDE_NAMES[side]} ${fmt(result.entriesPerSecond, 0)} entries/s (p99 ${fmt(result.latencyMsP99)} ms)`)
                .join(', '),
          );
        }
      }
    } finally {
      await probeConnection.end();
    }

    console.log('');
    printTable(rows);
    console.log('');
    console.log('Where the time goes');
    printDiagnostics(rows);

    // Stop the server first: everything it acknowledged is committed, nothing is in flight.
    await server.stop();
    server = undefined;
    invariantConnection = await mysql.createConnection({ uri: database.url, supportBigNumbers: true, bigNumberStrings: true });
    const invariants = await checkInvariants(invariantConnection, acknowledged, acknowledgedKeyed);
    console.log('');
    console.log(`Ledger invariants after the run: ${invariants.ok ? 'OK' : 'FAIL'}`);
    for (const line of invariants.lines) console.log(`  ${line}`);
    const anyFailed = rows.some((row) => sidesOf(row).some(({ result }) => result.failed > 0));
    return invariants.ok && !anyFailed ? 0 : 1;
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
