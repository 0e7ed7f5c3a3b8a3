/**
 * Payments benchmark: authorize + capture flows through GraphQL against the same writes done with raw
 * mysql2, in the same run, on the same fresh MySQL/MariaDB database, with the simulator gateway. A
 * benchmark, not a test: it prints a table and fails only when the setup breaks, a flow fails, or the
 * ledger invariants do not hold afterwards. The goal (issue): GraphQL flows/s >= 0.4x raw.
 *
 *   npm run bench:payments
 *   BENCH_SECONDS=30 BENCH_CLIENTS=4,16 BENCH_IDEMPOTENCY=1 npm run bench:payments
 *
 * A flow through GraphQL is two requests: authorizePayment (amount, USD, paymentToken tok_approve) then
 * capturePayment(paymentId), with the lean documents AuthorizePaymentLean and CapturePaymentLean
 * (tests/operations/payments.graphql: only { id status } read back). A flow counts when the capture
 * answered CAPTURED; its latency is the time of both requests.
 *
 * What is compared, and why it is fair: the raw side does exactly the writes the payments service does
 * for one flow (payments.service.ts authorize -> settleAuthorization, capture -> begin -> settleCapture,
 * and ledger-writer.ts BatchWriter.write for each ledger command), in the same 4 transactions, with the
 * same statements (the service's own SQL text for payments, payment_events, journal_entries, postings
 * and the writer's one-statement balance UPDATE), the same row locks in the same order, the same ids
 * (src/common/ids.ts newId; the journal entry ids generated before the write, as the service does) and
 * column values (with the request hashes: a sha256 of a small JSON array per request, as the service's
 * requestHashOf computes), on the same tables, against the same hot accounts of the tenant's default
 * chart (SYS-1100-USD gateway clearing, SYS-4000-USD revenue, SYS-6000-USD processing fees: every flow
 * of both sides locks them), and it calls an in-process SimulatorGateway as the server does. It uses a
 * mysql2 pool of the server's size (DATABASE_POOL_SIZE, a connection per transaction as TypeORM takes
 * one) and retries deadlocks like runInTransaction. In the settling transactions (tx2, tx4) the
 * payment's own rows are written first and the ledger's writes come last, so the hot accounts are
 * locked just before COMMIT, as settleAuthorization/settleCapture then writeWithin do:
 *   tx1 INSERT payments (PROCESSING, with its request hash), INSERT payment_events
 *   tx2 SELECT payment FOR UPDATE, UPDATE payments (AUTHORIZED), INSERT payment_events (with the new
 *       entry's id and the request hash), SELECT 2 accounts FOR UPDATE, INSERT journal_entries
 *       (PENDING), INSERT 2 postings, UPDATE 2 balances
 *   tx3 SELECT payment FOR UPDATE, SELECT payment_events (type, request_hash) by operation key, UPDATE
 *       payments (pending capture, with its request hash), INSERT payment_events
 *   tx4 SELECT payment FOR UPDATE, UPDATE payments (CAPTURED), INSERT payment_events (with the pending
 *       entry's id, the new fee entry's and the request hash), SELECT the pending entry FOR UPDATE and
 *       its postings, SELECT 3 accounts FOR UPDATE, INSERT the fee entry, UPDATE the pending entry to
 *       POSTED, INSERT 6 postings (2 releases, 2 posted, 2 fee), UPDATE 3 balances
 * Without idempotency keys the service neither looks a payment up by its authorize key before tx1 nor
 * checks whether an entry was reversed (the writer asks that only for a reversal), so neither side
 * runs those statements.
 * What the raw side leaves out is what the API adds on top of the writes: HTTP, GraphQL parsing and
 * validation, authentication, the checks and reads the service makes outside these transactions
 * (gateway routing, the payment read before a capture...). That difference is what the ratio
 * measures. The statements each side sends per flow are counted from MariaDB's own counters
 * (Questions, Com_*) and printed; BENCH_SQL_TRACE=1 lists them for one flow.
 *
 * Where the server runs: by default in a child process (`node dist/src/main.js`, built first with
 * `tsc -p tsconfig.build.json` so it is the current source), as in bench/ledger.bench.ts: this machine
 * has 2 cores that the load generator, the API and MariaDB share, and a separate process keeps the load
 * generator's work off the server's event loop. BENCH_SERVER=inprocess starts it in this process.
 *
 * Idempotency (BENCH_IDEMPOTENCY=1): the GraphQL case runs again with a fresh idempotencyKey on both
 * requests of every flow (AuthorizePaymentLean/CapturePaymentLean take one), so each pays the claim,
 * the completion inside the business transaction and the stored response. The raw baseline stays the
 * plain one: keyed/raw shows the whole cost of keys, keyed/gql their cost over the unkeyed API.
 *
 * Settings (environment):
 *   BENCH_MYSQL_URL       server to use; a fresh database is created on it and dropped at the end
 *                         (default mysql://root@127.0.0.1:3306/test)
 *   BENCH_SECONDS         measured seconds per case (default 15)
 *   BENCH_WARMUP_SECONDS  unmeasured seconds before each case (default 3)
 *   BENCH_CLIENTS         concurrent clients (flows in flight), comma-separated (default 16)
 *   BENCH_AMOUNT          amount of each payment, USD (default 25.00)
 *   BENCH_SERVER          child | inprocess (default child)
 *   BENCH_SKIP_BUILD      1: use dist/ as it is (child server only)
 *   BENCH_CPU_PROF        a directory: the child server writes a V8 CPU profile there on exit
 *   BENCH_IDEMPOTENCY     1: also run the GraphQL case with idempotency keys (default 0)
 *   BENCH_SQL_TRACE       1: after the measurements, run one flow on a server started with
 *                         LOG_LEVEL=trace and list its statements next to the raw flow's (child only)
 *   DATABASE_POOL_SIZE    the server's pool and the raw baseline's (default 20)
 * Other variables (LEDGER_MAX_BATCH_SIZE, ...) pass through to the server.
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
import { newId, newUlid } from '../src/common/ids';
import { parsePositiveAmount } from '../src/common/money';
import { toDbTimestamp } from '../src/common/timestamps';
import { loadConfig } from '../src/config';
import { EntryDirection, JournalEntryStatus, PostingPhase } from '../src/modules/ledger/ledger.types';
import { GatewayKind } from '../src/modules/payments/gateways/payment-gateway';
import { SimulatorGateway } from '../src/modules/payments/gateways/simulator-gateway';
import { PaymentStatus, PendingOperation } from '../src/modules/payments/payment-state';
import { PaymentEventSource, PaymentEventType } from '../src/modules/payments/payments.types';
import { startServer, type RunningServer } from '../src/server/app';
import { generateSigningKey } from '../src/server/key-material';
import { AuthorizePaymentLeanDocument, CapturePaymentLeanDocument, CreateGatewayDocument } from '../tests/generated/graphql';

type Variant = 'unkeyed' | 'keyed';

const ROOT = path.resolve(__dirname, '..');
const CURRENCY = 'USD';
const PAYMENT_TOKEN = 'tok_approve';
/** Codes of the default chart accounts a flow touches (ledger/default-chart.ts). */
const CHART_CODES = { clearing: `SYS-1100-${CURRENCY}`, revenue: `SYS-4000-${CURRENCY}`, fees: `SYS-6000-${CURRENCY}` } as const;

function readNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

const settings = {
  mysqlUrl: process.env.BENCH_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test',
  seconds: readNumber('BENCH_SECONDS', 15),
  warmupSeconds: readNumber('BENCH_WARMUP_SECONDS', 3),
  clients: (process.env.BENCH_CLIENTS || '16').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`BENCH_CLIENTS: "${s}" is not a client count`);
    return n;
  }),
  amount: process.env.BENCH_AMOUNT || '25.00',
  server: (process.env.BENCH_SERVER || 'child') as 'child' | 'inprocess',
  skipBuild: process.env.BENCH_SKIP_BUILD === '1',
  cpuProfDir: process.env.BENCH_CPU_PROF || '',
  idempotency: process.env.BENCH_IDEMPOTENCY === '1',
  sqlTrace: process.env.BENCH_SQL_TRACE === '1',
  poolSize: readNumber('DATABASE_POOL_SIZE', 20),
};
if (settings.server !== 'child' && settings.server !== 'inprocess') throw new Error('BENCH_SERVER must be child or inprocess');
if (!['', '0', '1'].includes(process.env.BENCH_IDEMPOTENCY ?? '')) throw new Error('BENCH_IDEMPOTENCY must be 0 or 1');
if (!Number.isInteger(settings.poolSize) || settings.poolSize < 1) throw new Error('DATABASE_POOL_SIZE must be a positive integer');
const AMOUNT_MINOR = parsePositiveAmount(settings.amount, CURRENCY);
/** The GraphQL variants each case runs: without idempotency keys, and with a fresh key per request. */
const GRAPHQL_VARIANTS: readonly Variant[] = settings.idempotency ? ['unkeyed', 'keyed'] : ['unkeyed'];
/** How long an authorization may be captured: the server's default, PAYMENT_AUTHORIZATION_TTL. */
const AUTHORIZATION_TTL_MS = loadConfig(process.env).payments.authorizationTtlSeconds * 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Measurement (as in bench/ledger.bench.ts)

interface CaseResult {
  completed: number;
  failed: number;
  seconds: number;
  flowsPerSecond: number;
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
    flowsPerSecond: latencies.count / settings.seconds,
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

/** Share of all cores busy on the machine (every process, not only ours), from /proc/stat. */
function machineCpuTicks(): { busy: number; total: number } {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = values[3] + (values[4] ?? 0);
    const total = values.reduce((sum, v) => sum + v, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
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

const STATUS_NAMES = [
  'Questions',
  'Com_select',
  'Com_insert',
  'Com_update',
  'Com_begin',
  'Com_commit',
  'Innodb_data_fsyncs',
  'Innodb_row_lock_waits',
  'Innodb_row_lock_time',
  'Innodb_deadlocks',
] as const;
type StatusName = (typeof STATUS_NAMES)[number];

interface Snapshot {
  at: number;
  benchCpuSeconds: number;
  serverCpuSeconds: number;
  databaseCpuSeconds: number;
  machine: { busy: number; total: number };
  status: Record<StatusName, number>;
}

interface Diagnostics {
  /** Share of one core each process used over the window. */
  benchCpu: number;
  serverCpu: number;
  databaseCpu: number;
  /** Share of the whole machine (all cores) busy, whoever used it: the noise of a shared machine shows here. */
  machineBusy: number;
  /** Server-wide counter deltas (other users of the database server count too). */
  status: Record<StatusName, number>;
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
    const machine = machineCpuTicks();
    const [rows] = await this.connection.query<mysql.RowDataPacket[]>(
      `SHOW GLOBAL STATUS WHERE Variable_name IN (${STATUS_NAMES.map(() => '?').join(',')})`,
      [...STATUS_NAMES],
    );
    const status = Object.fromEntries(STATUS_NAMES.map((name) => [name, NaN])) as Record<StatusName, number>;
    for (const row of rows) status[row.Variable_name as StatusName] = Number(row.Value);
    return { at, benchCpuSeconds: (usage.user + usage.system) / 1e6, serverCpuSeconds, databaseCpuSeconds, machine, status };
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
        const status = Object.fromEntries(STATUS_NAMES.map((name) => [name, b.status[name] - a.status[name]])) as Record<StatusName, number>;
        return {
          benchCpu: (b.benchCpuSeconds - a.benchCpuSeconds) / seconds,
          serverCpu: (b.serverCpuSeconds - a.serverCpuSeconds) / seconds,
          databaseCpu: (b.databaseCpuSeconds - a.databaseCpuSeconds) / seconds,
          machineBusy: (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total),
          status,
        };
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// GraphQL client: node:http with a keep-alive agent, one socket per client loop

const AUTHORIZE_QUERY = print(AuthorizePaymentLeanDocument);
const CAPTURE_QUERY = print(CapturePaymentLeanDocument);

interface GraphQLAnswer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

function postGraphQL(url: URL, agent: http.Agent | undefined, apiKey: string, body: string): Promise<{ status: number | undefined; json: GraphQLAnswer; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${apiKey}`,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: response.statusCode, json: JSON.parse(text) as GraphQLAnswer, text });
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

  /** One mutation; resolves with `data[field].payment` when its status is the expected one. */
  private async mutate(query: string, variables: Record<string, unknown>, field: string, status: PaymentStatus): Promise<{ id: string; status: string }> {
    const { status: httpStatus, json, text } = await postGraphQL(this.url, this.agent, this.apiKey, JSON.stringify({ query, variables }));
    if (json.errors?.length) throw new Error(`HTTP ${httpStatus} ${field} ${json.errors[0].extensions?.code}: ${json.errors[0].message}`);
    const payment = (json.data?.[field] as { payment?: { id: string; status: string } } | undefined)?.payment;
    if (payment?.status !== status) throw new Error(`HTTP ${httpStatus} ${field}: unexpected response ${text.slice(0, 200)}`);
    return payment;
  }

  /** Authorizes and captures one payment; with `keyed`, each request under a fresh idempotency key (never a replay). */
  async flow(keyed: boolean): Promise<void> {
    const key = () => (keyed ? { idempotencyKey: `bench-${crypto.randomUUID()}` } : {});
    const authorized = await this.mutate(
      AUTHORIZE_QUERY,
      { input: { amount: settings.amount, currency: CURRENCY, paymentToken: PAYMENT_TOKEN }, ...key() },
      'authorizePayment',
      PaymentStatus.AUTHORIZED,
    );
    await this.mutate(CAPTURE_QUERY, { paymentId: authorized.id, ...key() }, 'capturePayment', PaymentStatus.CAPTURED);
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Raw baseline: the service's writes for one flow, in its 4 transactions, with plain mysql2

// The payments service's own statements (payments.service.ts insertPayment, updatePayment, insertEvent, lockPayment, begin).
const INSERT_PAYMENT = `INSERT INTO payments (id, tenant_id, gateway_id, status, currency, authorized_minor, captured_minor, refunded_minor,
                             refund_pending_minor, disputed_minor, dispute_lost_minor, fee_minor, customer_id, description,
                             external_ref, metadata, gateway_payment_id, card_brand, card_last4, authorize_key, authorize_request_hash,
                             authorization_entry_id, pending_operation, pending_amount_minor, pending_key, pending_request_hash,
                             pending_since, failure_code, failure_message, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)`;
const UPDATE_PAYMENT = `UPDATE payments SET status = ?, captured_minor = ?, refunded_minor = ?, refund_pending_minor = ?, disputed_minor = ?,
              dispute_lost_minor = ?, fee_minor = ?, gateway_payment_id = ?, card_brand = ?, card_last4 = ?,
              authorization_entry_id = ?, pending_operation = ?, pending_amount_minor = ?, pending_key = ?, pending_request_hash = ?,
              pending_since = ?,
              failure_code = ?, failure_message = ?, expires_at = ?, updated_at = ?
        WHERE id = ?`;
const INSERT_EVENT = `INSERT INTO payment_events (id, tenant_id, payment_id, type, amount_minor, journal_entry_ids, refund_id, dispute_id, source, detail,
                                   operation_key, request_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const LOCK_PAYMENT = `SELECT * FROM payments WHERE tenant_id = ? AND id = ? FOR UPDATE`;
const SETTLED_BY = `SELECT type, request_hash FROM payment_events WHERE payment_id = ? AND operation_key = ?`;
// The ledger writer's (ledger-writer.ts lockReferencedEntries, lockAccounts, insertEntries, markResolved, insertPostings, updateBalances);
// lockReferencedEntries asks which entries were reversed only for a reversal command, which a flow has none of.
const LOCK_ENTRY = `SELECT id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at
         FROM journal_entries WHERE id IN (?) ORDER BY id FOR UPDATE`;
const ENTRY_POSTINGS = `SELECT id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at
         FROM postings WHERE journal_entry_id IN (?) ORDER BY id`;
const lockAccountsSql = (count: number) => `SELECT id, tenant_id, type, currency, available_floor_minor,
                posted_debits_minor, posted_credits_minor, pending_debits_minor, pending_credits_minor
           FROM accounts WHERE id IN (${new Array(count).fill('?').join(',')}) ORDER BY id FOR UPDATE`;
const INSERT_ENTRY = `INSERT INTO journal_entries
           (id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at)
         VALUES (?,?,?,?,?,?,?,?,?,?)`;
const RESOLVE_ENTRY = `UPDATE journal_entries SET status = ?, resolved_at = ? WHERE id = ? AND status = ?`;
const insertPostingsSql = (count: number) => `INSERT INTO postings
           (id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at)
         VALUES ${new Array(count).fill('(?,?,?,?,?,?,?,?,?,?)').join(',')}`;
const BALANCE_COLUMNS = ['posted_debits_minor', 'posted_credits_minor', 'pending_debits_minor', 'pending_credits_minor'] as const;
const updateBalancesSql = (count: number) => {
  const whens = new Array(count).fill('WHEN ? THEN CAST(? AS SIGNED)').join(' ');
  return `UPDATE accounts SET ${BALANCE_COLUMNS.map((column) => `${column} = ${column} + CASE id ${whens} ELSE 0 END`).join(', ')}
         WHERE id IN (${new Array(count).fill('?').join(',')})`;
};

/** A hash of what a request asked for, as payments.service.ts requestHashOf computes it (a sha256 of a small JSON array). */
function requestHashOf(parts: unknown[]): string {
  const text = JSON.stringify(parts, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  return crypto.createHash('sha256').update(text).digest('hex');
}

interface RawPosting {
  journalEntryId: string;
  accountId: string;
  direction: EntryDirection;
  amountMinor: bigint;
  phase: PostingPhase;
}

interface Chart {
  clearing: string;
  revenue: string;
  fees: string;
}

type Query = <T = mysql.RowDataPacket[]>(sql: string, params: unknown[]) => Promise<T>;

/** What the payment row holds after each step, for UPDATE payments (every column a step may change, as the service writes). */
interface RawPayment {
  id: string;
  status: PaymentStatus;
  capturedMinor: bigint;
  feeMinor: bigint;
  gatewayPaymentId: string | null;
  cardBrand: string | null;
  cardLast4: string | null;
  authorizationEntryId: string | null;
  pendingOperation: PendingOperation | null;
  pendingAmountMinor: bigint | null;
  pendingKey: string | null;
  pendingRequestHash: string | null;
  pendingSince: Date | null;
  expiresAt: Date;
  updatedAt: Date;
}

class RawFlows {
  constructor(
    private readonly pool: mysql.Pool,
    private readonly tenantId: string,
    private readonly gatewayId: string,
    private readonly chart: Chart,
    /** The same simulator the server runs in process: its (small) cost is on both sides. */
    private readonly gateway: SimulatorGateway,
  ) {}

  /** One transaction on a pooled connection, retried on deadlocks and lock-wait timeouts like runInTransaction. */
  private async transaction<T>(work: (query: Query) => Promise<T>, trace?: string[]): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const connection = await this.pool.getConnection();
      const query: Query = async <R>(sql: string, params: unknown[]) => {
        trace?.push(sql);
        const [rows] = await connection.query(sql, params);
        return rows as R;
      };
      try {
        await query('START TRANSACTION', []);
        const result = await work(query);
        await query('COMMIT', []);
        return result;
      } catch (error) {
        await connection.query('ROLLBACK').catch(() => undefined);
        const errno = (error as { errno?: number }).errno;
        if ((errno === 1213 || errno === 1205) && attempt < 8) {
          await sleep(Math.random() * Math.min(200, 5 * 2 ** (attempt - 1)));
          continue;
        }
        throw error;
      } finally {
        connection.release();
      }
    }
  }

  private async insertEvent(
    query: Query,
    paymentId: string,
    type: PaymentEventType,
    amountMinor: bigint | null,
    entries: string[],
    detail: string | null,
    operationKey: string | null,
    requestHash: string | null,
  ): Promise<void> {
    await query(INSERT_EVENT, [
      newId('paymentEvent'),
      this.tenantId,
      paymentId,
      type,
      amountMinor === null ? null : amountMinor.toString(),
      entries.length ? entries.join(' ') : null,
      null,
      null,
      PaymentEventSource.API,
      detail,
      operationKey,
      requestHash,
      toDbTimestamp(new Date()),
    ]);
  }

  private async updatePayment(query: Query, p: RawPayment): Promise<void> {
    await query(UPDATE_PAYMENT, [
      p.status,
      p.capturedMinor.toString(),
      '0',
      '0',
      '0',
      '0',
      p.feeMinor.toString(),
      p.gatewayPaymentId,
      p.cardBrand,
      p.cardLast4,
      p.authorizationEntryId,
      p.pendingOperation,
      p.pendingAmountMinor === null ? null : p.pendingAmountMinor.toString(),
      p.pendingKey,
      p.pendingRequestHash,
      p.pendingSince ? toDbTimestamp(p.pendingSince) : null,
      null,
      null,
      toDbTimestamp(p.expiresAt),
      toDbTimestamp(p.updatedAt),
      p.id,
    ]);
  }

  private async lockPayment(query: Query, paymentId: string): Promise<mysql.RowDataPacket> {
    const [row] = await query(LOCK_PAYMENT, [this.tenantId, paymentId]);
    if (!row) throw new Error(`payment ${paymentId} not found`);
    return row;
  }

  /** Locks accounts in id order and adds each one's change as an increment, in one UPDATE, as the writer does. */
  private async lockAccounts(query: Query, accountIds: string[]): Promise<void> {
    const ids = [...accountIds].sort();
    const locked = await query(lockAccountsSql(ids.length), ids);
    if (locked.length !== ids.length) throw new Error(`expected ${ids.length} locked accounts, got ${locked.length}`);
  }

  private async insertPostings(query: Query, postings: RawPosting[], now: string): Promise<void> {
    await query(
      insertPostingsSql(postings.length),
      postings.flatMap((p) => [
        newId('posting'),
        this.tenantId,
        p.journalEntryId,
        p.accountId,
        p.direction,
        p.amountMinor.toString(),
        CURRENCY,
        p.phase,
        now,
        now,
      ]),
    );
  }

  private async updateBalances(query: Query, postings: RawPosting[]): Promise<void> {
    const deltas = new Map<string, [bigint, bigint, bigint, bigint]>();
    for (const p of postings) {
      const delta = deltas.get(p.accountId) ?? [0n, 0n, 0n, 0n];
      const debit = p.direction === EntryDirection.DEBIT;
      if (p.phase === PostingPhase.POSTED) delta[debit ? 0 : 1] += p.amountMinor;
      delta[debit ? 2 : 3] += p.amountMinor;
      deltas.set(p.accountId, delta);
    }
    const ids = [...deltas.keys()].sort();
    const params: string[] = [];
    for (let column = 0; column < BALANCE_COLUMNS.length; column += 1) {
      for (const id of ids) params.push(id, (deltas.get(id) as bigint[])[column].toString());
    }
    await query(updateBalancesSql(ids.length), [...params, ...ids]);
  }

  private async insertEntry(query: Query, id: string, status: JournalEntryStatus, description: string, paymentId: string, now: string): Promise<void> {
    await query(INSERT_ENTRY, [id, this.tenantId, status, description, now, null, JSON.stringify({ paymentId }), null, now, null]);
  }

  /** One authorize + capture; `trace` collects the statements sent. */
  async flow(trace?: string[]): Promise<void> {
    const { clearing, revenue, fees } = this.chart;
    const amountMinor = AMOUNT_MINOR;
    const authorizeKey = `rk_${newUlid().toLowerCase()}_authorize`;
    // What the service hashes for the bench's authorizePayment input: amount, currency and token; no
    // gateway, no capture, no customer, description, external reference or metadata.
    const authorizeHash = requestHashOf(['authorize', amountMinor, CURRENCY, PAYMENT_TOKEN, null, false, null, null, null, null]);
    const started = new Date();
    const payment: RawPayment = {
      id: newId('payment'),
      status: PaymentStatus.PROCESSING,
      capturedMinor: 0n,
      feeMinor: 0n,
      gatewayPaymentId: null,
      cardBrand: null,
      cardLast4: null,
      authorizationEntryId: null,
      pendingOperation: PendingOperation.AUTHORIZE,
      pendingAmountMinor: amountMinor,
      pendingKey: authorizeKey,
      pendingRequestHash: authorizeHash,
      pendingSince: started,
      expiresAt: new Date(started.getTime() + AUTHORIZATION_TTL_MS),
      updatedAt: started,
    };

    // tx1: the payment, PROCESSING, and its first event.
    await this.transaction(async (query) => {
      await query(INSERT_PAYMENT, [
        payment.id,
        this.tenantId,
        this.gatewayId,
        payment.status,
        CURRENCY,
        amountMinor.toString(),
        null,
        null,
        null,
        null,
        authorizeKey,
        authorizeHash,
        payment.pendingOperation,
        amountMinor.toString(),
        authorizeKey,
        authorizeHash,
        toDbTimestamp(started),
        toDbTimestamp(payment.expiresAt),
        toDbTimestamp(started),
        toDbTimestamp(started),
      ]);
      await this.insertEvent(query, payment.id, PaymentEventType.AUTHORIZATION_REQUESTED, amountMinor, [], null, null, null);
    }, trace);

    const authorization = await this.gateway.authorize({
      idempotencyKey: authorizeKey,
      amountMinor,
      currency: CURRENCY,
      paymentToken: PAYMENT_TOKEN,
      reference: payment.id,
    });
    if (authorization.kind !== 'succeeded') throw new Error(`simulator authorize: ${authorization.kind}`);

    // tx2: settle the authorization: the payment and its event first (with the entry id made up front),
    // then the ledger's writes: the PENDING entry (a hold), its 2 postings and balances, accounts locked last.
    await this.transaction(async (query) => {
      const locked = await this.lockPayment(query, payment.id);
      if (locked.pending_operation !== PendingOperation.AUTHORIZE || locked.pending_key !== authorizeKey) throw new Error('authorization settled elsewhere');
      const requestHash = locked.pending_request_hash as string | null;
      const nowDate = new Date();
      const entryId = newId('journalEntry');
      Object.assign(payment, {
        status: PaymentStatus.AUTHORIZED,
        gatewayPaymentId: authorization.value.gatewayPaymentId,
        cardBrand: authorization.value.card?.brand ?? null,
        cardLast4: authorization.value.card?.last4 ?? null,
        authorizationEntryId: entryId,
        pendingOperation: null,
        pendingAmountMinor: null,
        pendingKey: null,
        pendingRequestHash: null,
        pendingSince: null,
        expiresAt: new Date(nowDate.getTime() + AUTHORIZATION_TTL_MS),
        updatedAt: nowDate,
      } satisfies Partial<RawPayment>);
      await this.updatePayment(query, payment);
      await this.insertEvent(query, payment.id, PaymentEventType.AUTHORIZED, amountMinor, [entryId], null, authorizeKey, requestHash);
      // The ledger writer (writeWithin), last.
      await this.lockAccounts(query, [clearing, revenue]);
      const now = toDbTimestamp(new Date());
      await this.insertEntry(query, entryId, JournalEntryStatus.PENDING, `Payment ${payment.id}: authorized`, payment.id, now);
      const postings: RawPosting[] = [
        { journalEntryId: entryId, accountId: clearing, direction: EntryDirection.DEBIT, amountMinor, phase: PostingPhase.PENDING },
        { journalEntryId: entryId, accountId: revenue, direction: EntryDirection.CREDIT, amountMinor, phase: PostingPhase.PENDING },
      ];
      await this.insertPostings(query, postings, now);
      await this.updateBalances(query, postings);
    }, trace);

    // tx3: begin the capture: not settled under this key yet, so mark it pending.
    const captureKey = `rk_${newUlid().toLowerCase()}_capture`;
    // capturePayment without an amount: the service hashes ['capture', null].
    const captureHash = requestHashOf(['capture', null]);
    await this.transaction(async (query) => {
      const locked = await this.lockPayment(query, payment.id);
      const [settledBy] = await query(SETTLED_BY, [payment.id, captureKey]);
      if (settledBy) throw new Error('capture settled already');
      if (locked.pending_key === captureKey) throw new Error('capture under way already');
      if (locked.status !== PaymentStatus.AUTHORIZED) throw new Error(`payment is ${String(locked.status)}, not AUTHORIZED`);
      const now = new Date();
      Object.assign(payment, {
        pendingOperation: PendingOperation.CAPTURE,
        pendingAmountMinor: amountMinor,
        pendingKey: captureKey,
        pendingRequestHash: captureHash,
        pendingSince: now,
        updatedAt: now,
      } satisfies Partial<RawPayment>);
      await this.updatePayment(query, payment);
      await this.insertEvent(query, payment.id, PaymentEventType.CAPTURE_REQUESTED, amountMinor, [], null, null, null);
    }, trace);

    const capture = await this.gateway.capture({
      idempotencyKey: captureKey,
      gatewayPaymentId: payment.gatewayPaymentId as string,
      amountMinor,
      currency: CURRENCY,
    });
    if (capture.kind !== 'succeeded') throw new Error(`simulator capture: ${capture.kind}`);
    const feeMinor = capture.value.feeMinor;

    // tx4: settle the capture: the payment and its event first (the pending entry's id and the fee
    // entry's, made up front), then the ledger's writes: post the pending entry (release the holds,
    // post the amount), the fee entry, balances, accounts locked last.
    await this.transaction(async (query) => {
      const locked = await this.lockPayment(query, payment.id);
      if (locked.pending_operation !== PendingOperation.CAPTURE || locked.pending_key !== captureKey) throw new Error('capture settled elsewhere');
      const capturedMinor = BigInt(locked.pending_amount_minor as string);
      const requestHash = locked.pending_request_hash as string | null;
      const authEntryId = String(locked.authorization_entry_id);
      const feeEntryId = newId('journalEntry');
      Object.assign(payment, {
        status: PaymentStatus.CAPTURED,
        capturedMinor,
        feeMinor: payment.feeMinor + feeMinor,
        pendingOperation: null,
        pendingAmountMinor: null,
        pendingKey: null,
        pendingRequestHash: null,
        pendingSince: null,
        updatedAt: new Date(),
      } satisfies Partial<RawPayment>);
      await this.updatePayment(query, payment);
      await this.insertEvent(
        query,
        payment.id,
        PaymentEventType.CAPTURED,
        capturedMinor,
        [authEntryId, feeEntryId],
        feeMinor > 0n ? `fee ${feeMinor}` : null,
        captureKey,
        requestHash,
      );
      // The ledger writer (writeWithin), last: the referenced entry, then the accounts, then the writes.
      const [entry] = await query(LOCK_ENTRY, [authEntryId]);
      const holds = (await query(ENTRY_POSTINGS, [authEntryId])).filter(
        (row) => row.phase === PostingPhase.PENDING && BigInt(row.amount_minor as string) > 0n,
      );
      await this.lockAccounts(query, [...new Set([...holds.map((row) => String(row.account_id)), clearing, revenue, fees])]);
      if (entry?.status !== JournalEntryStatus.PENDING) throw new Error(`authorization entry is ${String(entry?.status)}`);
      const now = toDbTimestamp(new Date());
      await this.insertEntry(query, feeEntryId, JournalEntryStatus.POSTED, `Payment ${payment.id}: capture fee`, payment.id, now);
      await query(RESOLVE_ENTRY, [JournalEntryStatus.POSTED, now, authEntryId, JournalEntryStatus.PENDING]);
      const postings: RawPosting[] = [
        ...holds.map((row) => ({
          journalEntryId: authEntryId,
          accountId: String(row.account_id),
          direction: row.direction as EntryDirection,
          amountMinor: -BigInt(row.amount_minor as string),
          phase: PostingPhase.PENDING,
        })),
        { journalEntryId: authEntryId, accountId: clearing, direction: EntryDirection.DEBIT, amountMinor: capturedMinor, phase: PostingPhase.POSTED },
        { journalEntryId: authEntryId, accountId: revenue, direction: EntryDirection.CREDIT, amountMinor: capturedMinor, phase: PostingPhase.POSTED },
        { journalEntryId: feeEntryId, accountId: fees, direction: EntryDirection.DEBIT, amountMinor: feeMinor, phase: PostingPhase.POSTED },
        { journalEntryId: feeEntryId, accountId: clearing, direction: EntryDirection.CREDIT, amountMinor: feeMinor, phase: PostingPhase.POSTED },
      ];
      await this.insertPostings(query, postings, now);
      await this.updateBalances(query, postings);
    }, trace);
  }
}

// ---------------------------------------------------------------------------------------------
// Database and server lifecycle (as in bench/ledger.bench.ts)

interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `reckon_bench_payments_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
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

interface BenchServer {
  url: string;
  /** The process serving requests, for its CPU time. */
  pid: number | undefined;
  /** SQL statements the server logged since the last call (trace servers only). */
  takeStatements(): string[];
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

let built = false;

/** Starts `node dist/src/main.js`; with `traceSql`, at LOG_LEVEL=trace, collecting its "sql" log lines. */
async function startChildServer(databaseUrl: string, keys: ServerKeys, { traceSql = false } = {}): Promise<BenchServer> {
  if (!settings.skipBuild && !built) {
    const build = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    if (build.status !== 0) throw new Error('tsc -p tsconfig.build.json failed; fix the build or set BENCH_SKIP_BUILD=1');
    built = true;
  }
  const port = await freePort();
  const nodeArgs = settings.cpuProfDir && !traceSql ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(settings.cpuProfDir)}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      DATABASE_POOL_SIZE: String(settings.poolSize),
      PORT: String(port),
      HOST: '127.0.0.1',
      SEED_DEMO_TENANT: 'false',
      LOG_LEVEL: traceSql ? 'trace' : 'warn',
      NODE_ENV: 'production',
      // Production refuses to generate keys: the bench brings its own throwaway ones, the same for
      // every server of a run (the gateway's credentials are encrypted with them).
      JWT_SIGNING_KEYS: keys.jwtSigningKeys,
      ENCRYPTION_KEYS: keys.encryptionKeys,
      BLIND_INDEX_KEY: keys.blindIndexKey,
      // One API key drives all the load: the per-credential request limit would measure itself.
      RATE_LIMIT_PER_SECOND: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let statements: string[] = [];
  readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (traceSql) {
      if (line.includes('"msg":"sql"')) {
        try {
          statements.push(String((JSON.parse(line) as { query: string }).query));
        } catch {
          statements.push(line);
        }
      }
      return;
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
    takeStatements: () => {
      const taken = statements;
      statements = [];
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
  const server: RunningServer = await startServer(
    { services: runtime.services, log: runtime.log, config: { ...loadConfig({ NODE_ENV: 'production' }), limits: { ...loadConfig({}).limits, requestsPerSecond: 0 } } },
    0,
    '127.0.0.1',
  );
  return { url: server.url, pid: process.pid, takeStatements: () => [], stop: () => server.close() };
}

interface ServerKeys {
  jwtSigningKeys: string;
  encryptionKeys: string;
  blindIndexKey: string;
}

// ---------------------------------------------------------------------------------------------
// Setup, invariants, report

interface Fixture {
  tenantId: string;
  apiKey: string;
  gatewayId: string;
  chart: Chart;
}

/** A GraphQL request outside the load (setup, warm-up, trace): no agent, errors thrown. */
async function graphql(url: string, apiKey: string, query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { status, json } = await postGraphQL(new URL(url), undefined, apiKey, JSON.stringify({ query, variables }));
  if (json.errors?.length || !json.data) throw new Error(`HTTP ${status}: ${json.errors?.[0]?.message ?? 'no data'}`);
  return json.data;
}

/** The simulator gateway, through the createGateway mutation; then one flow, which creates the tenant's default USD chart. */
async function createGatewayAndChart(url: string, tenantId: string, apiKey: string, connection: mysql.Connection): Promise<{ gatewayId: string; chart: Chart }> {
  const created = await graphql(url, apiKey, print(CreateGatewayDocument), {
    input: { name: 'Bench simulator', kind: GatewayKind.SIMULATOR, currencies: [CURRENCY] },
  });
  const gatewayId = (created.createGateway as { gateway: { id: string } }).gateway.id;
  const client = new GraphQLLoadClient(url, apiKey, 1);
  await client.flow(false);
  client.close();
  const [rows] = await connection.query<mysql.RowDataPacket[]>(`SELECT id, code FROM accounts WHERE tenant_id = ? AND code IN (?, ?, ?)`, [
    tenantId,
    CHART_CODES.clearing,
    CHART_CODES.revenue,
    CHART_CODES.fees,
  ]);
  const byCode = new Map(rows.map((row) => [String(row.code), String(row.id)]));
  const chart = { clearing: byCode.get(CHART_CODES.clearing), revenue: byCode.get(CHART_CODES.revenue), fees: byCode.get(CHART_CODES.fees) };
  if (!chart.clearing || !chart.revenue || !chart.fees) throw new Error(`default chart accounts not found after the warm-up flow: ${JSON.stringify(chart)}`);
  return { gatewayId, chart: chart as Chart };
}

interface InvariantResult {
  ok: boolean;
  lines: string[];
}

async function checkInvariants(connection: mysql.Connection, acknowledged: number, acknowledgedKeyed: number): Promise<InvariantResult> {
  const lines: string[] = [];
  let ok = true;
  const check = (good: boolean, line: string) => {
    ok &&= good;
    lines.push(line);
  };
  const [[totals]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COALESCE(SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor END), 0) AS debits,
            COALESCE(SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor END), 0) AS credits,
            COUNT(*) AS postings
       FROM postings`,
  );
  const debitsEqualCredits = String(totals.debits) === String(totals.credits);
  check(debitsEqualCredits, `sum of debits = sum of credits: ${debitsEqualCredits ? 'OK' : 'FAIL'} (${totals.debits} vs ${totals.credits} minor units)`);

  const [[unbalanced]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS count FROM (
       SELECT journal_entry_id FROM postings GROUP BY journal_entry_id, currency, phase
       HAVING SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE -amount_minor END) <> 0) unbalanced`,
  );
  check(Number(unbalanced.count) === 0, `every entry balances: ${Number(unbalanced.count) === 0 ? 'OK' : `FAIL (${unbalanced.count} unbalanced)`}`);

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
  check(Number(drift.count) === 0, `account balances = sums of postings: ${Number(drift.count) === 0 ? 'OK' : `FAIL (${drift.count} accounts differ)`}`);

  // Every flow that completed left a CAPTURED payment with its 2 entries (the hold, now POSTED, and the
  // fee), 6 + 2 postings and 4 events; flows cut off at the end of a window may have left fewer.
  const [[payments]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COALESCE(SUM(status = 'CAPTURED'), 0) AS captured, COUNT(*) AS total,
            COALESCE(SUM(status = 'CAPTURED' AND captured_minor = authorized_minor AND fee_minor > 0 AND pending_operation IS NULL), 0) AS consistent
       FROM payments`,
  );
  const [[stillPending]] = await connection.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS count FROM journal_entries WHERE status = 'PENDING'`);
  const [[events]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS count FROM payment_events e JOIN payments p ON p.id = e.payment_id WHERE p.status = 'CAPTURED'`,
  );
  const capturedOk =
    Number(payments.captured) >= acknowledged &&
    Number(payments.consistent) === Number(payments.captured) &&
    Number(events.count) === 4 * Number(payments.captured) &&
    Number(stillPending.count) === Number(payments.total) - Number(payments.captured);
  check(
    capturedOk,
    `acknowledged flows left a CAPTURED payment with 4 events and a posted hold: ${capturedOk ? 'OK' : 'FAIL'} ` +
      `(${payments.captured} captured of ${payments.total} payments, ${events.count} events, ${stillPending.count} entries still PENDING, ` +
      `${acknowledged} flows acknowledged in measured windows)`,
  );
  if (GRAPHQL_VARIANTS.includes('keyed')) {
    const [[records]] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT COALESCE(SUM(status = 'COMPLETED'), 0) AS completed, COALESCE(SUM(status = 'IN_PROGRESS'), 0) AS inProgress FROM idempotency_records`,
    );
    const keyedOk = Number(records.completed) >= 2 * acknowledgedKeyed && Number(records.inProgress) === 0;
    check(
      keyedOk,
      `acknowledged keyed requests have a COMPLETED idempotency record: ${keyedOk ? 'OK' : 'FAIL'} ` +
        `(${records.completed} completed, ${records.inProgress} in progress, ${2 * acknowledgedKeyed} requests acknowledged in measured windows)`,
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

type Side = Variant | 'raw';
const SIDE_NAMES: Record<Side, string> = { unkeyed: 'graphql', keyed: 'keyed', raw: 'raw' };

interface Row {
  clients: number;
  results: Partial<Record<Side, { result: CaseResult; diagnostics: Diagnostics }>>;
}

function sidesOf(row: Row): { side: Side; result: CaseResult; diagnostics: Diagnostics }[] {
  return (['unkeyed', 'keyed', 'raw'] as const).flatMap((side) => {
    const found = row.results[side];
    return found ? [{ side, ...found }] : [];
  });
}

function printTable(rows: Row[]): void {
  const header = [pad('clients', 7)];
  for (const variant of GRAPHQL_VARIANTS) {
    const name = variant === 'keyed' ? 'keyed' : 'gql';
    header.push(pad(`${name} flows/s`, 13), pad(`${name} p50`, 9), pad(`${name} p99`, 9));
  }
  header.push(pad('raw flows/s', 11), pad('raw p50', 8), pad('raw p99', 8));
  for (const variant of GRAPHQL_VARIANTS) header.push(pad(variant === 'keyed' ? 'keyed/raw' : 'gql/raw', 9));
  if (GRAPHQL_VARIANTS.length === 2) header.push(pad('keyed/gql', 9));
  console.log(header.join('  '));
  console.log('-'.repeat(header.join('  ').length));
  for (const row of rows) {
    const raw = row.results.raw?.result;
    const cells = [pad(String(row.clients), 7)];
    for (const variant of GRAPHQL_VARIANTS) {
      const result = row.results[variant]?.result;
      cells.push(pad(fmt(result?.flowsPerSecond ?? NaN, 1), 13), pad(fmt(result?.latencyMsP50 ?? NaN), 9), pad(fmt(result?.latencyMsP99 ?? NaN), 9));
    }
    cells.push(pad(fmt(raw?.flowsPerSecond ?? NaN, 1), 11), pad(fmt(raw?.latencyMsP50 ?? NaN), 8), pad(fmt(raw?.latencyMsP99 ?? NaN), 8));
    for (const variant of GRAPHQL_VARIANTS) cells.push(pad(fmt((row.results[variant]?.result.flowsPerSecond ?? NaN) / (raw?.flowsPerSecond ?? NaN), 2), 9));
    if (GRAPHQL_VARIANTS.length === 2) {
      cells.push(pad(fmt((row.results.keyed?.result.flowsPerSecond ?? NaN) / (row.results.unkeyed?.result.flowsPerSecond ?? NaN), 2), 9));
    }
    console.log(cells.join('  '));
  }
  console.log(
    'flows/s over the measured window (a flow = authorizePayment + capturePayment, or the raw side’s 4 transactions); p50/p99 of\n' +
      'a whole flow in ms; gql = GraphQL without idempotency keys' +
      (GRAPHQL_VARIANTS.length === 2 ? ', keyed = with a fresh idempotencyKey on each request' : '') +
      '; x/raw = flows/s over raw flows/s (goal: gql/raw >= 0.40)',
  );
  for (const row of rows) {
    for (const { side, result } of sidesOf(row)) {
      if (result.failed) console.log(`  ${row.clients} clients ${SIDE_NAMES[side]}: ${result.failed} failed, first: ${result.firstError}`);
    }
  }
}

/** CPU that neither the bench, the server nor MariaDB used, in cores: other work on a shared machine. */
function othersCpu(d: Diagnostics): number {
  return Math.max(0, d.machineBusy * os.cpus().length - d.benchCpu - d.serverCpu - d.databaseCpu);
}

function printDiagnostics(rows: Row[]): void {
  const header = [
    pad('clients', 7),
    pad('side', 7, false),
    pad('flows/s', 7),
    pad('bench cpu', 9),
    pad('server cpu', 10),
    pad('db cpu', 6),
    pad('machine', 7),
    pad('others cpu', 10),
    pad('stmts/flow', 10),
    pad('select', 6),
    pad('insert', 6),
    pad('update', 6),
    pad('begin', 5),
    pad('commit', 6),
    pad('fsyncs/flow', 11),
    pad('lock waits/flow', 15),
    pad('lock ms/flow', 12),
    pad('deadlocks', 9),
  ];
  console.log(header.join('  '));
  console.log('-'.repeat(header.join('  ').length));
  for (const row of rows) {
    for (const { side, result, diagnostics: d } of sidesOf(row)) {
      const flows = result.completed;
      const per = (name: StatusName, digits = 1) => fmt(d.status[name] / flows, digits);
      console.log(
        [
          pad(String(row.clients), 7),
          pad(SIDE_NAMES[side], 7, false),
          pad(fmt(result.flowsPerSecond, 1), 7),
          pad(`${fmt(d.benchCpu * 100, 0)}%`, 9),
          pad(`${fmt(d.serverCpu * 100, 0)}%`, 10),
          pad(`${fmt(d.databaseCpu * 100, 0)}%`, 6),
          pad(`${fmt(d.machineBusy * 100, 0)}%`, 7),
          pad(`${fmt(othersCpu(d) * 100, 0)}%`, 10),
          pad(per('Questions'), 10),
          pad(per('Com_select'), 6),
          pad(per('Com_insert'), 6),
          pad(per('Com_update'), 6),
          pad(per('Com_begin'), 5),
          pad(per('Com_commit'), 6),
          pad(per('Innodb_data_fsyncs', 2), 11),
          pad(per('Innodb_row_lock_waits', 2), 15),
          pad(per('Innodb_row_lock_time', 2), 12),
          pad(String(d.status.Innodb_deadlocks), 9),
        ].join('  '),
      );
    }
  }
  console.log(
    'cpu = share of one core over the measured window (server cpu on the raw side: the idle API); machine = share of all ' +
      `${os.cpus().length} cores busy,\n` +
      'anyone’s; others cpu = the rest of the busy time, in cores (other processes: the noise of a shared machine); statement, commit, fsync and lock counters are server-wide MariaDB status deltas over the window per completed flow\n' +
      '(stmts = Questions, begin/commit included), so other users of the database server show up in them',
  );
}

/** BENCH_SQL_TRACE: one flow on a server logging its statements, next to the raw flow's. */
async function traceOneFlow(databaseUrl: string, keys: ServerKeys, fixture: Fixture, raw: RawFlows): Promise<void> {
  const server = await startChildServer(databaseUrl, keys, { traceSql: true });
  try {
    const client = new GraphQLLoadClient(server.url, fixture.apiKey, 1);
    // The first flow of a fresh process reads what it caches (gateway adapter, chart, API key...): not shown.
    await client.flow(false);
    await sleep(300);
    server.takeStatements();
    for (const variant of GRAPHQL_VARIANTS) {
      await client.flow(variant === 'keyed');
      await sleep(300);
      const statements = server.takeStatements();
      console.log('');
      console.log(`Statements of one ${variant === 'keyed' ? 'keyed ' : ''}GraphQL flow (server at LOG_LEVEL=trace, after one unlisted flow): ${statements.length}`);
      statements.forEach((sql, i) => console.log(`  ${String(i + 1).padStart(3)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}`));
    }
    client.close();
  } finally {
    await server.stop();
  }
  const statements: string[] = [];
  await raw.flow(statements);
  console.log('');
  console.log(`Statements of one raw flow: ${statements.length}`);
  statements.forEach((sql, i) => console.log(`  ${String(i + 1).padStart(3)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}`));
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
  console.log('Reckon payments benchmark: authorize + capture flows, GraphQL vs raw SQL');
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
    `  cases:     ${settings.clients.join(', ')} clients, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured per side, ` +
      `${settings.amount} ${CURRENCY} per payment, pool of ${settings.poolSize} connections on both sides, ` +
      `server ${settings.server === 'child' ? 'in a child process (node dist/src/main.js)' : 'in this process'}` +
      (settings.idempotency ? ', GraphQL also with idempotency keys' : ''),
  );

  const database = await createBenchDatabase(settings.mysqlUrl);
  const keys: ServerKeys = {
    jwtSigningKeys: JSON.stringify([await generateSigningKey()]),
    encryptionKeys: formatEncryptionKeys([generateEncryptionKey('bench')]),
    blindIndexKey: generateEncryptionKey('blind').key.toString('base64'),
  };
  let runtime: Runtime | undefined;
  let server: BenchServer | undefined;
  let connection: mysql.Connection | undefined;
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
    await connection?.end().catch(() => undefined);
    await database.drop().catch((error: unknown) => console.error(`dropping ${database.name} failed:`, error));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    console.log(`  database for this run: ${database.name} (dropped at the end)`);
    // Migrations, the tenant and its API key in this process, as bench/ledger.bench.ts does; the
    // gateway through the API.
    runtime = await bootstrap(
      {
        ...loadConfig({ DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-bench-')), ENCRYPTION_KEYS: keys.encryptionKeys, BLIND_INDEX_KEY: keys.blindIndexKey }),
        databaseUrl: database.url,
        databasePoolSize: settings.poolSize,
        logLevel: 'warn',
        limits: { ...loadConfig({}).limits, requestsPerSecond: 0 },
      },
      { log: createLogger('warn') },
    );
    const tenant = await runtime.services.tenancy.createTenant('Bench');
    const { secret: apiKey } = await runtime.services.auth.createApiKey(tenant.id, { name: 'bench' });

    server = settings.server === 'child' ? await startChildServer(database.url, keys) : await startInProcessServer(runtime);
    if (settings.server === 'child') {
      // The bench process needs no pool of its own beyond setup and the raw baseline.
      await runtime.close();
      runtime = undefined;
    }
    connection = await mysql.createConnection({ uri: database.url, supportBigNumbers: true, bigNumberStrings: true });
    const { gatewayId, chart } = await createGatewayAndChart(server.url, tenant.id, apiKey, connection);
    const fixture: Fixture = { tenantId: tenant.id, apiKey, gatewayId, chart };
    console.log(`  setup:     1 tenant, 1 API key, simulator gateway ${gatewayId}; chart accounts ${Object.values(CHART_CODES).join(', ')} created by a first flow`);
    console.log('');

    const rawPool = mysql.createPool({
      uri: database.url,
      connectionLimit: settings.poolSize,
      charset: 'utf8mb4_bin',
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    const raw = new RawFlows(rawPool, fixture.tenantId, fixture.gatewayId, fixture.chart, new SimulatorGateway());
    const probeConnection = await mysql.createConnection({ uri: settings.mysqlUrl });
    const probe = new Probe(probeConnection, () => server?.pid, findDatabasePid());
    const rows: Row[] = [];
    let acknowledged = 0;
    let acknowledgedKeyed = 0;
    try {
      for (const clients of settings.clients) {
        const row: Row = { clients, results: {} };
        for (const variant of GRAPHQL_VARIANTS) {
          const client = new GraphQLLoadClient(server.url, fixture.apiKey, clients);
          const window = probe.window();
          const result = await runLoad(clients, () => client.flow(variant === 'keyed'), window.hooks);
          row.results[variant] = { result, diagnostics: await window.result() };
          client.close();
          acknowledged += result.completed;
          if (variant === 'keyed') acknowledgedKeyed += result.completed;
        }

        // Open the raw pool's connections before its window, as the server's pool is open by now.
        const opened = await Promise.all(Array.from({ length: Math.min(clients, settings.poolSize) }, () => rawPool.getConnection()));
        opened.forEach((c) => c.release());
        const rawWindow = probe.window();
        const rawResult = await runLoad(clients, () => raw.flow(), rawWindow.hooks);
        row.results.raw = { result: rawResult, diagnostics: await rawWindow.result() };
        acknowledged += rawResult.completed;

        rows.push(row);
        console.log(
          `  ${clients} clients: ` +
            sidesOf(row)
              .map(({ side, result }) => `${SIDE_NAMES[side]} ${fmt(result.flowsPerSecond, 1)} flows/s (p99 ${fmt(result.latencyMsP99)} ms)`)
              .join(', '),
        );
      }
    } finally {
      await probeConnection.end();
    }

    console.log('');
    printTable(rows);
    console.log('');
    console.log('Where the time goes');
    printDiagnostics(rows);
    console.log(`  load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

    // Stop the server first: everything it acknowledged is committed, nothing is in flight.
    await server.stop();
    server = undefined;
    if (settings.sqlTrace) {
      if (settings.server === 'child') await traceOneFlow(database.url, keys, fixture, raw);
      else console.log('\nBENCH_SQL_TRACE needs the child server (BENCH_SERVER=child): skipped');
    }
    await rawPool.end();
    const invariants = await checkInvariants(connection, acknowledged, acknowledgedKeyed);
    console.log('');
    console.log(`Ledger and payment invariants after the run: ${invariants.ok ? 'OK' : 'FAIL'}`);
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
