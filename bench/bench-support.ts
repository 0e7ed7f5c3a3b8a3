/**
 * What bench/ledger.bench.ts and bench/payments.bench.ts share: their settings, the fresh database
 * each run creates and drops, the API started as a child process (or in this process), the GraphQL
 * client, the load loop with its timing and percentiles, the CPU and MariaDB status sampling over a
 * measured window, the tables they print (the results and "Where the time goes"), the machine and
 * durability banner, the ledger invariants both check and the clean-up on exit or signal.
 *
 * Each bench keeps what differs: its load (entries or flows), its raw baseline, its extra settings and
 * columns. Both benches measure and print through the same code here, so that a figure in one means
 * what the same figure means in the other.
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import mysql from 'mysql2/promise';
import { bootstrap, createLogger, type Runtime, type RuntimeConfig } from '../src/bootstrap';
import { formatEncryptionKeys, generateEncryptionKey } from '../src/common/encryption';
import { loadConfig } from '../src/config';
import { startServer, type RunningServer } from '../src/server/app';
import { AccountType } from '../src/modules/ledger/ledger.types';
import { generateSigningKey } from '../src/services/key-material';

const ROOT = path.resolve(__dirname, '..');

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Settings (environment)

export function readNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
}

/** The settings every bench reads; each bench adds its own. */
export interface CommonSettings {
  mysqlUrl: string;
  seconds: number;
  warmupSeconds: number;
  clients: number[];
  server: 'child' | 'inprocess';
  skipBuild: boolean;
  cpuProfDir: string;
  /** Extra node flags for the API process (BENCH_SERVER_NODE_ARGS, space-separated), e.g. --max-old-space-size=256. */
  serverNodeArgs: string[];
}

/** Reads BENCH_MYSQL_URL, BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_CLIENTS, BENCH_SERVER, BENCH_SKIP_BUILD and BENCH_CPU_PROF. */
export function readCommonSettings(defaults: { seconds: number; warmupSeconds: number; clients: string }): CommonSettings {
  const settings: CommonSettings = {
    mysqlUrl: process.env.BENCH_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test',
    seconds: readNumber('BENCH_SECONDS', defaults.seconds),
    warmupSeconds: readNumber('BENCH_WARMUP_SECONDS', defaults.warmupSeconds),
    clients: (process.env.BENCH_CLIENTS || defaults.clients).split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`BENCH_CLIENTS: "${s}" is not a client count`);
      return n;
    }),
    server: (process.env.BENCH_SERVER || 'child') as 'child' | 'inprocess',
    skipBuild: process.env.BENCH_SKIP_BUILD === '1',
    cpuProfDir: process.env.BENCH_CPU_PROF || '',
    serverNodeArgs: (process.env.BENCH_SERVER_NODE_ARGS || '').split(' ').filter((arg) => arg !== ''),
  };
  if (settings.server !== 'child' && settings.server !== 'inprocess') throw new Error('BENCH_SERVER must be child or inprocess');
  return settings;
}

/** Where the API runs, for the "cases" line of the banner. */
export function describeServer(settings: CommonSettings): string {
  return `server ${settings.server === 'child' ? 'in a child process (node dist/src/main.js)' : 'in this process'}`;
}

// ---------------------------------------------------------------------------------------------
// Measurement

/** GraphQL without idempotency keys, or with a fresh key per request. */
export type Variant = 'unkeyed' | 'keyed';
/** A GraphQL variant or the raw mysql2 baseline. */
export type Side = Variant | 'raw';
const SIDE_NAMES: Record<Side, string> = { unkeyed: 'graphql', keyed: 'keyed', raw: 'raw' };

export interface CaseResult {
  completed: number;
  failed: number;
  seconds: number;
  /** Operations completed per measured second: entries in bench:ledger, flows in bench:payments. */
  perSecond: number;
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

/** Called when the measured window opens and when it closes (the Probe's snapshots). */
interface WindowHooks {
  onStart(): void;
  onEnd(): void;
}

/**
 * Runs `clients` loops of `operation` for a warm-up, then for the measured window. An operation
 * counts when it completes inside the window; its latency is recorded then. Loops stop starting new
 * operations at the end of the window and the case waits for the ones in flight.
 */
async function runLoad(
  timing: Pick<CommonSettings, 'seconds' | 'warmupSeconds'>,
  clients: number,
  operation: (client: number) => Promise<void>,
  window: WindowHooks,
): Promise<CaseResult> {
  const now = () => performance.now();
  const warmupEnd = now() + timing.warmupSeconds * 1000;
  const measureEnd = warmupEnd + timing.seconds * 1000;
  const startTimer = setTimeout(() => window.onStart(), timing.warmupSeconds * 1000);
  const endTimer = setTimeout(() => window.onEnd(), (timing.warmupSeconds + timing.seconds) * 1000);
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
    seconds: timing.seconds,
    perSecond: latencies.count / timing.seconds,
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

/**
 * The processes a process forked (a cluster primary's workers), from /proc; none where /proc does
 * not say. A worker that exits within a window takes its CPU time with it.
 */
function childPidsOf(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((task) => fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/))
      .filter((child) => child !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds of the server: its process and, with WEB_CONCURRENCY above 1, the workers it forked. */
function serverTreeCpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  return childPidsOf(pid).reduce((sum, child) => sum + processCpuSeconds(child), processCpuSeconds(pid));
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

/**
 * The MariaDB counters sampled at each end of a window. Both benches read the same list, so that a
 * sample costs the same in both; each prints the ones it has columns for.
 */
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
export type StatusName = (typeof STATUS_NAMES)[number];

interface Snapshot {
  at: number;
  benchCpuSeconds: number;
  serverCpuSeconds: number;
  databaseCpuSeconds: number;
  machine: { busy: number; total: number };
  status: Record<StatusName, number>;
}

export interface Diagnostics {
  /** Share of one core each process used over the window. */
  benchCpu: number;
  serverCpu: number;
  databaseCpu: number;
  /** Share of the whole machine (all cores) busy, whoever used it: the noise of a shared machine shows here. */
  machineBusy: number;
  /** Server-wide counter deltas (other users of the database server count too). */
  status: Record<StatusName, number>;
}

/** Samples CPU and MariaDB's counters at the start and end of each measured window, on a connection of its own. */
export class Probe {
  private constructor(
    private readonly connection: mysql.Connection,
    private readonly serverPid: () => number | undefined,
    private readonly databasePid: number | undefined,
  ) {}

  /**
   * `serverPid` is asked at every snapshot rather than once: it reads the bench's server variable,
   * which is cleared once that server stops.
   */
  static async open(mysqlUrl: string, serverPid: () => number | undefined): Promise<Probe> {
    return new Probe(await mysql.createConnection({ uri: mysqlUrl }), serverPid, findDatabasePid());
  }

  close(): Promise<void> {
    return this.connection.end();
  }

  private async snapshot(): Promise<Snapshot> {
    const at = performance.now();
    const usage = process.cpuUsage();
    const serverCpuSeconds = serverTreeCpuSeconds(this.serverPid());
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

  /** Runs one side of a case under load (runLoad) and samples its measured window. */
  async measure(timing: Pick<CommonSettings, 'seconds' | 'warmupSeconds'>, clients: number, operation: (client: number) => Promise<void>): Promise<SideResult> {
    const window = this.window();
    const result = await runLoad(timing, clients, operation, window.hooks);
    return { result, diagnostics: await window.result() };
  }

  /** Snapshots at the window's start and end, taken from runLoad's timers. */
  private window(): { hooks: WindowHooks; result(): Promise<Diagnostics> } {
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

/** CPU that neither the bench, the server nor MariaDB used, in cores: other work on a shared machine. */
function othersCpu(d: Diagnostics): number {
  return Math.max(0, d.machineBusy * os.cpus().length - d.benchCpu - d.serverCpu - d.databaseCpu);
}

// ---------------------------------------------------------------------------------------------
// Tables

function pad(value: string, width: number, right = true): string {
  return right ? value.padStart(width) : value.padEnd(width);
}

export function fmt(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** A column of a printed table: its title and cells padded to one width, right-aligned unless `left`. */
export interface Column<R> {
  title: string;
  width: number;
  left?: boolean;
  cell(row: R): string;
}

/** Prints a header, a rule as long as the header and a line a row, columns two spaces apart. */
export function printColumns<R>(columns: readonly Column<R>[], rows: readonly R[]): void {
  const header = columns.map((column) => pad(column.title, column.width, !column.left)).join('  ');
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const row of rows) console.log(columns.map((column) => pad(column.cell(row), column.width, !column.left)).join('  '));
}

export interface SideResult {
  result: CaseResult;
  diagnostics: Diagnostics;
}

/** One case of a bench: what each side measured in it. */
export interface BenchRow {
  results: Partial<Record<Side, SideResult>>;
}

/** One side of one case: a line of "Where the time goes". */
export type SideLine<R extends BenchRow> = { row: R; side: Side } & SideResult;

/** A row's sides in print order: GraphQL without keys, with keys, the raw baseline. */
function sidesOf<R extends BenchRow>(row: R): SideLine<R>[] {
  return (['unkeyed', 'keyed', 'raw'] as const).flatMap((side) => {
    const found = row.results[side];
    return found ? [{ row, side, ...found }] : [];
  });
}

/** What one operation of a bench is called in its tables, and how its rate is printed. */
export interface RateUnit {
  /** In column titles: "ent/s". */
  short: string;
  /** In the progress lines: "entries/s". */
  long: string;
  digits: number;
  /** Widths of the GraphQL and raw rate columns of the result table. */
  width: number;
  rawWidth: number;
}

/** The result table's columns after a bench's own leading ones: rates and latencies of each side, then the ratios. */
export function resultColumns<R extends BenchRow>(variants: readonly Variant[], unit: RateUnit): Column<R>[] {
  const shortName = (variant: Variant) => (variant === 'keyed' ? 'keyed' : 'gql');
  const rate = (row: R, side: Side) => row.results[side]?.result.perSecond ?? NaN;
  const columns: Column<R>[] = [];
  for (const variant of variants) {
    const name = shortName(variant);
    columns.push(
      { title: `${name} ${unit.short}`, width: unit.width, cell: (row) => fmt(rate(row, variant), unit.digits) },
      { title: `${name} p50`, width: 9, cell: (row) => fmt(row.results[variant]?.result.latencyMsP50 ?? NaN) },
      { title: `${name} p99`, width: 9, cell: (row) => fmt(row.results[variant]?.result.latencyMsP99 ?? NaN) },
    );
  }
  columns.push(
    { title: `raw ${unit.short}`, width: unit.rawWidth, cell: (row) => fmt(rate(row, 'raw'), unit.digits) },
    { title: 'raw p50', width: 8, cell: (row) => fmt(row.results.raw?.result.latencyMsP50 ?? NaN) },
    { title: 'raw p99', width: 8, cell: (row) => fmt(row.results.raw?.result.latencyMsP99 ?? NaN) },
  );
  for (const variant of variants) columns.push({ title: `${shortName(variant)}/raw`, width: 9, cell: (row) => fmt(rate(row, variant) / rate(row, 'raw'), 2) });
  if (variants.length === 2) columns.push({ title: 'keyed/gql', width: 9, cell: (row) => fmt(rate(row, 'keyed') / rate(row, 'unkeyed'), 2) });
  return columns;
}

/** The line printed as each case ends: every side's rate and p99. */
function printProgress(label: string, row: BenchRow, unit: RateUnit): void {
  console.log(
    `  ${label}: ` +
      sidesOf(row)
        .map(({ side, result }) => `${SIDE_NAMES[side]} ${fmt(result.perSecond, unit.digits)} ${unit.long} (p99 ${fmt(result.latencyMsP99)} ms)`)
        .join(', '),
  );
}

/** Under the result table: the first error of every side that had failures. */
export function printFailures<R extends BenchRow>(rows: readonly R[], label: (row: R) => string): void {
  for (const row of rows) {
    for (const { side, result } of sidesOf(row)) {
      if (result.failed) console.log(`  ${label(row)} ${SIDE_NAMES[side]}: ${result.failed} failed, first: ${result.firstError}`);
    }
  }
}

/** The side and its rate, after a bench's own leading columns. */
export function sideColumns<R extends BenchRow>(unit: RateUnit, rateWidth: number): Column<SideLine<R>>[] {
  return [
    { title: 'side', width: 7, left: true, cell: (line) => SIDE_NAMES[line.side] },
    { title: unit.short, width: rateWidth, cell: (line) => fmt(line.result.perSecond, unit.digits) },
  ];
}

const percent = (share: number) => `${fmt(share * 100, 0)}%`;

/** CPU of the bench, the API and MariaDB over the window, each as a share of one core. */
export function cpuColumns<R extends BenchRow>(): Column<SideLine<R>>[] {
  return [
    { title: 'bench cpu', width: 9, cell: (line) => percent(line.diagnostics.benchCpu) },
    { title: 'server cpu', width: 10, cell: (line) => percent(line.diagnostics.serverCpu) },
    { title: 'db cpu', width: 6, cell: (line) => percent(line.diagnostics.databaseCpu) },
  ];
}

/** How busy the whole machine was, and how much of it was neither ours nor MariaDB's. */
export function machineColumns<R extends BenchRow>(): Column<SideLine<R>>[] {
  return [
    { title: 'machine', width: 7, cell: (line) => percent(line.diagnostics.machineBusy) },
    { title: 'others cpu', width: 10, cell: (line) => percent(othersCpu(line.diagnostics)) },
  ];
}

/** A MariaDB counter's delta over the window per completed operation, as wide as its title. */
export function perOperationColumn<R extends BenchRow>(title: string, name: StatusName, digits: number): Column<SideLine<R>> {
  return { title, width: title.length, cell: (line) => fmt(line.diagnostics.status[name] / line.result.completed, digits) };
}

/** Deadlocks over the window as a count, not per operation: a single one is worth seeing. */
export function deadlocksColumn<R extends BenchRow>(): Column<SideLine<R>> {
  return { title: 'deadlocks', width: 9, cell: (line) => String(line.diagnostics.status.Innodb_deadlocks) };
}

/** How the cpu columns read; each bench's note goes on with its own counters. */
export const CPU_NOTE = 'cpu = share of one core over the measured window (server cpu on the raw side: the idle API)';

/** "Where the time goes": a line per side of each case, then what the columns mean. */
export function printWhereTheTimeGoes<R extends BenchRow>(columns: readonly Column<SideLine<R>>[], rows: readonly R[], note: string): void {
  console.log('');
  console.log('Where the time goes');
  printColumns(columns, rows.flatMap((row) => sidesOf(row)));
  console.log(note);
}

// ---------------------------------------------------------------------------------------------
// Running the cases

/**
 * Runs the cases one after the other, sampling each side's window with one Probe, and prints a
 * progress line as each case ends, so that a long run shows its figures as it goes.
 */
export async function runCases<C, R extends BenchRow>(
  settings: CommonSettings,
  serverPid: () => number | undefined,
  cases: readonly C[],
  runCase: (probe: Probe, benchCase: C) => Promise<R>,
  progress: { label(row: R): string; unit: RateUnit },
): Promise<R[]> {
  const probe = await Probe.open(settings.mysqlUrl, serverPid);
  const rows: R[] = [];
  try {
    for (const benchCase of cases) {
      const row = await runCase(probe, benchCase);
      rows.push(row);
      printProgress(progress.label(row), row, progress.unit);
    }
  } finally {
    await probe.close();
  }
  return rows;
}

/** Operations completed inside measured windows, on every side or on one: what the database must hold afterwards. */
export function completedIn(rows: readonly BenchRow[], only?: Side): number {
  let completed = 0;
  for (const row of rows) {
    for (const { side, result } of sidesOf(row)) if (only === undefined || side === only) completed += result.completed;
  }
  return completed;
}

// ---------------------------------------------------------------------------------------------
// Banner

/** The bench's title, then the machine, Node, the database server and whether its commits are durable. */
export async function printBanner(title: string, mysqlUrl: string): Promise<void> {
  const admin = await mysql.createConnection({ uri: mysqlUrl });
  const [[info]] = await admin.query<mysql.RowDataPacket[]>(
    `SELECT VERSION() AS version, @@innodb_flush_log_at_trx_commit AS flushAtCommit, @@sync_binlog AS syncBinlog,
            @@log_bin AS logBin, @@innodb_buffer_pool_size AS bufferPool`,
  );
  await admin.end();
  const cpus = os.cpus();
  console.log(title);
  console.log(`  machine:   ${cpus.length} cpus (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadAverage()}`);
  console.log(`  node:      ${process.version}`);
  console.log(`  database:  ${info.version} at ${mysqlUrl.replace(/\/\/[^@]*@/, '//***@')}`);
  const durable = Number(info.flushAtCommit) === 1;
  console.log(
    `  durability: innodb_flush_log_at_trx_commit=${info.flushAtCommit}, sync_binlog=${info.syncBinlog}, log_bin=${info.logBin} ` +
      `-> commits are ${durable ? 'durable (redo log flushed at every commit)' : 'NOT durable (redo log not flushed at every commit)'}` +
      (Number(info.logBin) === 1 && Number(info.syncBinlog) !== 1 ? '; binlog not synced at commit' : ''),
  );
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

// ---------------------------------------------------------------------------------------------
// Database

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh database on the server, named `${prefix}_<pid>_<random>` so that runs never share one. */
export async function createBenchDatabase(serverUrl: string, prefix: string): Promise<BenchDatabase> {
  const name = `${prefix}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
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

// ---------------------------------------------------------------------------------------------
// Setup runtime and the API server

/** Environment variables with the keys a server needs: production refuses to generate its own. */
export interface ServerKeys {
  JWT_SIGNING_KEYS: string;
  ENCRYPTION_KEYS: string;
  BLIND_INDEX_KEY: string;
}

/**
 * Throwaway keys, made once per run: every server of the run and the setup runtime use the same
 * ones, so that what one encrypts (a gateway's credentials, a stored response) another can read.
 */
export async function generateServerKeys(): Promise<ServerKeys> {
  return {
    JWT_SIGNING_KEYS: JSON.stringify([await generateSigningKey()]),
    ENCRYPTION_KEYS: formatEncryptionKeys([generateEncryptionKey('bench')]),
    BLIND_INDEX_KEY: generateEncryptionKey('blind').key.toString('base64'),
  };
}

/**
 * The services in this process, for the setup (migrations, tenant, accounts) and the in-process
 * server; without a request limit, since one API key drives all the load.
 */
export function bootstrapRuntime(databaseUrl: string, keys: ServerKeys, overrides: Partial<RuntimeConfig>): Promise<Runtime> {
  return bootstrap(
    {
      ...loadConfig({ DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-bench-')), ...keys }),
      databaseUrl,
      logLevel: 'warn',
      limits: { ...loadConfig({}).limits, requestsPerSecond: 0 },
      ...overrides,
    },
    { log: createLogger('warn') },
  );
}

/** One tenant and its API key, which drives all the load. */
export async function createBenchTenant(runtime: Runtime): Promise<{ tenantId: string; apiKey: string }> {
  const tenant = await runtime.services.tenancy.createTenant('Bench');
  const { secret } = await runtime.services.auth.createApiKey(tenant.id, { name: 'bench' });
  return { tenantId: tenant.id, apiKey: secret };
}

/**
 * `count` asset accounts in `currency` through the ledger service, 16 at a time (one small transaction
 * each, no limits on any account), coded `<codePrefix>-0000`, `-0001`, …; their ids in that order.
 */
export async function createBenchAccounts(runtime: Runtime, tenantId: string, count: number, options: { codePrefix: string; currency: string }): Promise<string[]> {
  const accountIds: string[] = [];
  for (let start = 0; start < count; start += 16) {
    const created = await Promise.all(
      Array.from({ length: Math.min(16, count - start) }, (_, i) =>
        runtime.services.ledger.createAccount(tenantId, {
          code: `${options.codePrefix}-${String(start + i).padStart(4, '0')}`,
          name: `Bench account ${start + i}`,
          type: AccountType.ASSET,
          currency: options.currency,
        }),
      ),
    );
    accountIds.push(...created.map((account) => account.id));
  }
  return accountIds;
}

/**
 * A raw baseline's transaction on one connection, the plain way: BEGIN, the work, COMMIT; a deadlock
 * or lock-wait timeout rolls back and runs it again (up to 8 attempts), as the app's runInTransaction.
 */
export async function rawTransaction(connection: mysql.PoolConnection, work: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await connection.query('START TRANSACTION');
      await work();
      await connection.query('COMMIT');
      return;
    } catch (error) {
      await connection.query('ROLLBACK').catch(() => undefined);
      const errno = (error as { errno?: number }).errno;
      if ((errno === 1213 || errno === 1205) && attempt < 8) continue;
      throw error;
    }
  }
}

export interface BenchServer {
  /** http://127.0.0.1:port/graphql */
  url: string;
  /** The process serving requests, for its CPU time. */
  pid: number | undefined;
  stop(): Promise<void>;
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

async function waitForHealth(baseUrl: string, child: { exitCode: number | null }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} during start-up`);
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

/**
 * With WEB_CONCURRENCY above 1, /healthz answers as soon as one worker listens. A worker starting is
 * busy (loading, building the schema, opening its pools) and one that listens with no load is idle, and
 * at LOG_LEVEL=warn it says nothing either way: so the bench waits until the primary has `count`
 * children and they have used under 5 % of a core together over half a second.
 */
async function waitForWorkers(pid: number, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const cpuOfChildren = () => childPidsOf(pid).reduce((sum, child) => sum + processCpuSeconds(child), 0);
  while (Date.now() < deadline) {
    if (childPidsOf(pid).length === count) {
      const before = cpuOfChildren();
      await sleep(500);
      if (childPidsOf(pid).length === count && cpuOfChildren() - before < 0.025) return;
    } else {
      await sleep(100);
    }
  }
  throw new Error(`the server's ${count} workers did not all start within ${timeoutMs} ms`);
}

export interface ChildServerOptions {
  databaseUrl: string;
  keys: ServerKeys;
  logLevel: string;
  /** More variables for the server, over the ones this process passes through. */
  env?: Record<string, string>;
  /** False keeps BENCH_CPU_PROF from profiling this server: one that serves no load (the SQL trace) has no profile worth writing. */
  profile?: boolean;
  /** Sees each line the server writes on stdout; a line it returns true for is not echoed. */
  onLine?: (line: string) => boolean;
}

let built = false;

/**
 * Starts `node dist/src/main.js`, built first (once a run) with `tsc -p tsconfig.build.json` so that it
 * is the current source, and waits until /healthz answers. The bench's environment passes through,
 * so the server's own settings (DATABASE_POOL_SIZE, LEDGER_MAX_BATCH_SIZE...) can be set for a run.
 */
export async function startChildServer(settings: CommonSettings, options: ChildServerOptions): Promise<BenchServer> {
  if (!settings.skipBuild && !built) {
    const build = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    if (build.status !== 0) throw new Error('tsc -p tsconfig.build.json failed; fix the build or set BENCH_SKIP_BUILD=1');
    built = true;
  }
  const port = await freePort();
  const profile = settings.cpuProfDir && options.profile !== false;
  const nodeArgs = [...settings.serverNodeArgs, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(settings.cpuProfDir)}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...options.env,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      SEED_DEMO_TENANT: 'false',
      LOG_LEVEL: options.logLevel,
      NODE_ENV: 'production',
      ...options.keys,
      // One API key drives all the load: the per-credential request limit would measure itself.
      RATE_LIMIT_PER_SECOND: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (options.onLine?.(line)) return;
    process.stdout.write(`[server] ${line}\n`);
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForHealth(baseUrl, child, 60_000);
    const workers = Number(options.env?.WEB_CONCURRENCY ?? 1);
    if (workers > 1 && child.pid) await waitForWorkers(child.pid, workers, 60_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url: `${baseUrl}/graphql`,
    pid: child.pid,
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
  return { url: server.url, pid: process.pid, stop: () => server.close() };
}

/**
 * The server BENCH_SERVER asks for. With a child server the setup runtime is closed (and undefined
 * is returned for it): the bench process needs no pool of its own beyond setup and the raw baseline.
 */
export async function startBenchServer(
  settings: CommonSettings,
  runtime: Runtime,
  child: ChildServerOptions,
): Promise<{ server: BenchServer; runtime: Runtime | undefined }> {
  if (settings.server === 'inprocess') return { server: await startInProcessServer(runtime), runtime };
  const server = await startChildServer(settings, child);
  await runtime.close();
  return { server, runtime: undefined };
}

// ---------------------------------------------------------------------------------------------
// GraphQL client: node:http, with a keep-alive agent for the load

export interface GraphQLAnswer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export interface GraphQLResponse {
  status: number | undefined;
  json: GraphQLAnswer;
  text: string;
}

/** One POST of a JSON body (to /graphql, or to a /v1 route); rejects when the connection fails or the answer is not JSON, and leaves errors to the caller. */
export function postGraphQL(url: URL, agent: http.Agent | undefined, apiKey: string, body: string, headers: Record<string, string> = {}): Promise<GraphQLResponse> {
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
          ...headers,
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

/** A keep-alive agent with one socket per client loop, so that no request waits for a connection. */
export class GraphQLLoadClient {
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

  protected post(query: string, variables: Record<string, unknown>): Promise<GraphQLResponse> {
    return postGraphQL(this.url, this.agent, this.apiKey, JSON.stringify({ query, variables }));
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Invariants, clean-up, exit

/** The checks made after a run: each adds a line, and any that fails makes the run fail. */
export class InvariantReport {
  ok = true;
  readonly lines: string[] = [];

  check(good: boolean, line: string): void {
    this.ok &&= good;
    this.lines.push(line);
  }

  print(title: string): void {
    console.log('');
    console.log(`${title} after the run: ${this.ok ? 'OK' : 'FAIL'}`);
    for (const line of this.lines) console.log(`  ${line}`);
  }
}

/** The ledger's own invariants, whatever wrote the entries; returns how many postings there are. */
export async function checkLedgerInvariants(connection: mysql.Connection, report: InvariantReport): Promise<{ postings: number }> {
  const [[totals]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COALESCE(SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor END), 0) AS debits,
            COALESCE(SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor END), 0) AS credits,
            COUNT(*) AS postings
       FROM postings`,
  );
  const debitsEqualCredits = String(totals.debits) === String(totals.credits);
  report.check(debitsEqualCredits, `sum of debits = sum of credits: ${debitsEqualCredits ? 'OK' : 'FAIL'} (${totals.debits} vs ${totals.credits} minor units)`);

  const [[unbalanced]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS count FROM (
       SELECT journal_entry_id FROM postings GROUP BY journal_entry_id, currency, phase
       HAVING SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE -amount_minor END) <> 0) unbalanced`,
  );
  report.check(Number(unbalanced.count) === 0, `every entry balances: ${Number(unbalanced.count) === 0 ? 'OK' : `FAIL (${unbalanced.count} unbalanced)`}`);

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
  report.check(Number(drift.count) === 0, `account balances = sums of postings: ${Number(drift.count) === 0 ? 'OK' : `FAIL (${drift.count} accounts differ)`}`);
  return { postings: Number(totals.postings) };
}

/** What a run holds open at any moment; undefined once released. */
export interface Held {
  server?: BenchServer;
  runtime?: Runtime;
  connection?: mysql.Connection;
}

/**
 * Releases what the run holds and drops its database, once, whether the run ends, fails or is
 * interrupted (SIGINT, SIGTERM): an interrupted bench must not leave a server or a database behind.
 * `held` is asked at release time, since the run opens and closes things as it goes.
 */
export function cleanupOnExit(database: BenchDatabase, held: () => Held): { cleanup(): Promise<void>; dispose(): void } {
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    const { server, runtime, connection } = held();
    await server?.stop().catch((error: unknown) => console.error('stopping the server failed:', error));
    await runtime?.close().catch(() => undefined);
    await connection?.end().catch(() => undefined);
    await database.drop().catch((error: unknown) => console.error(`dropping ${database.name} failed:`, error));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    cleanup,
    dispose: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

/** 0 when the invariants hold and no side had a failed operation, 1 otherwise. */
export function exitCode(report: InvariantReport, rows: readonly BenchRow[]): number {
  const anyFailed = rows.some((row) => sidesOf(row).some(({ result }) => result.failed > 0));
  return report.ok && !anyFailed ? 0 : 1;
}

/** Runs a bench's main and exits with its code; an error is printed and exits with 1. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
