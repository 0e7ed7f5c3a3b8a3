/**
 * `npm run bench:exports`: the CSV export of a million postings streams in constant memory.
 *
 * In a fresh database (SQLite file by default, MariaDB with EXPORTS_BENCH_DB=mysql at BENCH_MYSQL_URL),
 * EXPORTS_POSTINGS posted postings (default 1,000,000: half as many two-line entries, a minute apart)
 * are written with bulk SQL (src/db/bulk-insert.ts), the two accounts' totals set to their sums. Then,
 * each in a process of its own that samples its own memory (RSS and V8 heap in use) every 20 ms:
 *
 * - export: the API (bootstrap + startServer, as main.ts runs it) serving GET /exports/journal-entries.csv
 *   to this process, which reads the body and counts its rows;
 * - raw:    the baseline in the same run, on the same data: one SELECT of the same postings joined to
 *   their entries and accounts, streamed from the driver's cursor (better-sqlite3 iterate, mysql2
 *   stream), each row formatted with the same CSV function and written to a sink that drops it.
 *
 * Printed: rows, seconds, rows/s, peak RSS, RSS growth over the idle process, peak heap, and the
 * ratios export/raw. Constant memory shows as an RSS growth of a few tens of MiB at most whatever
 * EXPORTS_POSTINGS is (try 100000 and 1000000); a server that held the rows would grow by hundreds
 * of MiB per million. A benchmark, not a test: the goal is printed next to the result, never asserted;
 * the run exits 1 only when an export's row count is wrong.
 *
 * Settings (environment): EXPORTS_POSTINGS, EXPORTS_BENCH_DB (sqlite | mysql), BENCH_MYSQL_URL,
 * EXPORT_PAGE_ROWS (the server's page, default 2000).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Writable } from 'node:stream';
import mysql from 'mysql2';
import { newId } from '../src/common/ids';
import { toDbTimestamp } from '../src/common/timestamps';
import { insertRows } from '../src/db/bulk-insert';
import { loadConfig } from '../src/config';
import { csvHeader, JOURNAL_ENTRIES_CSV_COLUMNS, journalEntriesCsvRecord } from '../src/modules/ledger/ledger-export.formats';
import type { AccountEntity } from '../src/modules/ledger/account.entity';
import { entryFromRow, postingFromRow } from '../src/modules/ledger/ledger-writer';
import { AccountType } from '../src/modules/ledger/ledger.types';
import { startServer } from '../src/server/app';
import { bootstrapRuntime, createBenchDatabase, createBenchTenant, fmt, generateServerKeys, loadAverage, readNumber, type ServerKeys } from './bench-support';

const POSTINGS = Math.max(2, Math.round(readNumber('EXPORTS_POSTINGS', 1_000_000) / 2) * 2);
const DATABASE = (process.env.EXPORTS_BENCH_DB || 'sqlite') as 'sqlite' | 'mysql';
const MYSQL_URL = process.env.BENCH_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';
const PAGE_ROWS = readNumber('EXPORT_PAGE_ROWS', 2000);
const SAMPLE_MS = 20;
/** Entries written per transaction while seeding. */
const SEED_ENTRIES_PER_TRANSACTION = 20_000;
/** What "constant" means here: RSS growth over the idle server, in MiB. */
const GOAL_GROWTH_MIB = 64;
const MIB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// Memory sampling (in each measured process)

interface MemoryPeaks {
  idleRss: number;
  peakRss: number;
  idleHeap: number;
  peakHeap: number;
}

/** Samples this process's memory every SAMPLE_MS; `reset` takes the current figures as idle. */
function memorySampler(): { peaks(): MemoryPeaks; reset(): void; stop(): void } {
  let peaks: MemoryPeaks = { idleRss: 0, peakRss: 0, idleHeap: 0, peakHeap: 0 };
  const sample = () => {
    const { rss, heapUsed } = process.memoryUsage();
    peaks.peakRss = Math.max(peaks.peakRss, rss);
    peaks.peakHeap = Math.max(peaks.peakHeap, heapUsed);
  };
  const reset = () => {
    const { rss, heapUsed } = process.memoryUsage();
    peaks = { idleRss: rss, peakRss: rss, idleHeap: heapUsed, peakHeap: heapUsed };
  };
  reset();
  const timer = setInterval(sample, SAMPLE_MS);
  return { peaks: () => (sample(), { ...peaks }), reset, stop: () => clearInterval(timer) };
}

// ---------------------------------------------------------------------------------------------
// Roles: this file is also run as the two measured child processes.

/** The API in a process of its own: prints READY <url>; on "reset" takes its memory as idle, on "report" prints its peaks. */
async function serverRole(databaseUrl: string, keys: ServerKeys): Promise<void> {
  const runtime = await bootstrapRuntime(databaseUrl, keys, { exports: { pageRows: PAGE_ROWS } });
  const config = { ...loadConfig({ NODE_ENV: 'production' }), limits: { ...loadConfig({}).limits, requestsPerSecond: 0 }, exports: { pageRows: PAGE_ROWS } };
  const server = await startServer({ services: runtime.services, log: runtime.log, config }, 0, '127.0.0.1');
  global.gc?.();
  const sampler = memorySampler();
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'reset') {
      global.gc?.();
      sampler.reset();
      console.log('RESET');
    }
    if (line === 'report') console.log(`PEAKS ${JSON.stringify(sampler.peaks())}`);
    if (line === 'stop') {
      sampler.stop();
      void server.close().then(() => runtime.close()).then(() => process.exit(0));
    }
  });
  console.log(`READY ${server.url.replace(/\/graphql$/, '')}`);
}

/** The raw baseline: one streamed SELECT to CSV into a sink that drops it; prints RESULT {rows, ms, peaks}. */
async function rawRole(databaseUrl: string, tenantId: string): Promise<void> {
  global.gc?.();
  const sampler = memorySampler();
  const sql = `SELECT p.*, e.description AS e_description, e.external_ref AS e_external_ref, e.metadata AS e_metadata,
                      e.reversal_of_id AS e_reversal_of_id, e.status AS e_status, e.created_at AS e_created_at, e.effective_at AS e_effective_at,
                      a.code AS a_code, a.name AS a_name, a.type AS a_type
                 FROM postings p JOIN journal_entries e ON e.id = p.journal_entry_id JOIN accounts a ON a.id = p.account_id
                WHERE p.tenant_id = ? AND p.phase = 'POSTED' ORDER BY p.effective_at, p.id`;
  let rows = 0;
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback();
    },
  });
  const write = async (text: string) => {
    if (!sink.write(text)) await new Promise((resolve) => sink.once('drain', resolve));
  };
  const format = (row: Record<string, unknown>) => {
    rows += 1;
    const posting = postingFromRow(row);
    const entry = entryFromRow({
      ...row,
      id: row.journal_entry_id,
      status: row.e_status,
      description: row.e_description,
      external_ref: row.e_external_ref,
      metadata: row.e_metadata,
      reversal_of_id: row.e_reversal_of_id,
      created_at: row.e_created_at,
      effective_at: row.e_effective_at,
      resolved_at: null,
    });
    const account = { id: posting.accountId, code: String(row.a_code), name: String(row.a_name), type: row.a_type as AccountType, currency: posting.currency } as AccountEntity;
    return journalEntriesCsvRecord({ posting, entry, account });
  };
  const started = performance.now();
  await write(csvHeader(JOURNAL_ENTRIES_CSV_COLUMNS));
  if (databaseUrl.startsWith('sqlite:')) {
    // better-sqlite3 has no type declarations here: the part of it the baseline uses.
    interface SqliteReader {
      prepare(sql: string): { iterate(...params: unknown[]): IterableIterator<Record<string, unknown>> };
      defaultSafeIntegers(on: boolean): unknown;
      close(): void;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Database = require('better-sqlite3') as new (file: string, options: { readonly: boolean }) => SqliteReader;
    const db = new Database(databaseUrl.slice('sqlite:'.length), { readonly: true });
    db.defaultSafeIntegers(true);
    let batch = '';
    for (const row of db.prepare(sql).iterate(tenantId)) {
      batch += format(row);
      if (batch.length > 256 * 1024) {
        await write(batch);
        batch = '';
      }
    }
    await write(batch);
    db.close();
  } else {
    const connection = mysql.createConnection({ uri: databaseUrl, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
    const stream = connection.query(sql, [tenantId]).stream({ highWaterMark: 1000 });
    for await (const row of stream) await write(format(row as Record<string, unknown>));
    connection.end();
  }
  const ms = performance.now() - started;
  const peaks = sampler.peaks();
  sampler.stop();
  console.log(`RESULT ${JSON.stringify({ rows, bytes, ms, peaks })}`);
}

// ---------------------------------------------------------------------------------------------
// The run

/** Starts this file in a role, with --expose-gc so that idle is measured after a collection. */
function spawnRole(args: string[], env: Record<string, string>): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const child = spawn(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', __filename, ...args], {
    env: { ...process.env, ...env, TS_NODE_TRANSPILE_ONLY: 'true' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return { child, lines };
}

async function lineStartingWith(lines: AsyncIterableIterator<string>, prefix: string): Promise<string> {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the child ended before "${prefix}"`);
    if (value.startsWith(prefix)) return value.slice(prefix.length).trim();
    console.log(`  [child] ${value}`);
  }
}

/** Writes POSTINGS/2 two-line POSTED entries, a minute apart, and the two accounts' totals. */
async function seed(databaseUrl: string, keys: ServerKeys): Promise<{ tenantId: string; apiKey: string; ms: number }> {
  const runtime = await bootstrapRuntime(databaseUrl, keys, {});
  try {
    const { tenantId, apiKey } = await createBenchTenant(runtime);
    const cash = await runtime.services.ledger.createAccount(tenantId, { code: 'CASH', name: 'Cash at bank', type: AccountType.ASSET, currency: 'USD' });
    const sales = await runtime.services.ledger.createAccount(tenantId, { code: 'SALES', name: 'Sales', type: AccountType.REVENUE, currency: 'USD' });
    const started = performance.now();
    const entries = POSTINGS / 2;
    const first = Date.UTC(2025, 0, 1);
    const now = toDbTimestamp(new Date());
    const sqlite = databaseUrl.startsWith('sqlite:');
    const minor = (value: bigint) => (sqlite ? value : value.toString());
    let total = 0n;
    for (let start = 0; start < entries; start += SEED_ENTRIES_PER_TRANSACTION) {
      const count = Math.min(SEED_ENTRIES_PER_TRANSACTION, entries - start);
      const entryRows: unknown[][] = [];
      const postingRows: unknown[][] = [];
      for (let i = start; i < start + count; i += 1) {
        const id = newId('journalEntry');
        const effective = toDbTimestamp(new Date(first + i * 60_000));
        const amount = BigInt(100 + (i % 10_000));
        total += amount;
        entryRows.push([id, tenantId, 'POSTED', `Sale ${i}, card "visa"`, effective, `order-${i}`, i % 10 === 0 ? JSON.stringify({ till: i % 7 }) : null, null, now, null]);
        postingRows.push([newId('posting'), tenantId, id, cash.id, 'DEBIT', minor(amount), 'USD', 'POSTED', effective, now]);
        postingRows.push([newId('posting'), tenantId, id, sales.id, 'CREDIT', minor(amount), 'USD', 'POSTED', effective, now]);
      }
      await runtime.dataSource.transaction(async (manager) => {
        await insertRows(
          manager,
          'journal_entries',
          ['id', 'tenant_id', 'status', 'description', 'effective_at', 'external_ref', 'metadata', 'reversal_of_id', 'created_at', 'resolved_at'],
          entryRows,
        );
        await insertRows(manager, 'postings', ['id', 'tenant_id', 'journal_entry_id', 'account_id', 'direction', 'amount_minor', 'currency', 'phase', 'effective_at', 'created_at'], postingRows);
      });
    }
    const setTotals = 'UPDATE accounts SET posted_debits_minor = ?, posted_credits_minor = ?, pending_debits_minor = ?, pending_credits_minor = ? WHERE id = ?';
    await runtime.dataSource.query(setTotals, [minor(total), minor(0n), minor(total), minor(0n), cash.id]);
    await runtime.dataSource.query(setTotals, [minor(0n), minor(total), minor(0n), minor(total), sales.id]);
    return { tenantId, apiKey, ms: performance.now() - started };
  } finally {
    await runtime.close();
  }
}

interface SideResult {
  rows: number;
  bytes: number;
  ms: number;
  peaks: MemoryPeaks;
}

/** The export through the API, read by this process; the server's memory from its own sampler. */
async function measureExport(databaseUrl: string, keys: ServerKeys, apiKey: string): Promise<SideResult> {
  const { child, lines } = spawnRole(['--role=server', databaseUrl], { ...keys });
  try {
    const base = await lineStartingWith(lines, 'READY');
    child.stdin?.write('reset\n');
    await lineStartingWith(lines, 'RESET');
    const started = performance.now();
    const { rows, bytes, status } = await new Promise<{ rows: number; bytes: number; status: number }>((resolve, reject) => {
      http
        .get(`${base}/exports/journal-entries.csv`, { headers: { authorization: `Bearer ${apiKey}` } }, (response) => {
          let count = 0;
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) count += 1;
          });
          response.on('end', () => resolve({ rows: count - 1, bytes: size, status: response.statusCode ?? 0 }));
          response.on('error', reject);
        })
        .on('error', reject);
    });
    const ms = performance.now() - started;
    if (status !== 200) throw new Error(`the export answered ${status}`);
    child.stdin?.write('report\n');
    const peaks = JSON.parse(await lineStartingWith(lines, 'PEAKS')) as MemoryPeaks;
    child.stdin?.write('stop\n');
    await new Promise((resolve) => child.once('exit', resolve));
    return { rows, bytes, ms, peaks };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function measureRaw(databaseUrl: string, tenantId: string): Promise<SideResult> {
  const { child, lines } = spawnRole(['--role=raw', databaseUrl, tenantId], {});
  try {
    return JSON.parse(await lineStartingWith(lines, 'RESULT')) as SideResult;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function main(): Promise<number> {
  const cpus = os.cpus();
  console.log('Reckon exports benchmark: GET /exports/journal-entries.csv against a raw SQL-to-CSV stream');
  console.log(`  machine:   ${cpus.length} cpus (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadAverage()}`);
  console.log(`  node:      ${process.version}; ${POSTINGS.toLocaleString('en-US')} postings on ${DATABASE === 'sqlite' ? 'a SQLite file' : `MariaDB at ${MYSQL_URL.replace(/\/\/[^@]*@/, '//***@')}`}; EXPORT_PAGE_ROWS ${PAGE_ROWS}`);
  const keys = await generateServerKeys();
  let databaseUrl: string;
  let drop: () => Promise<void>;
  if (DATABASE === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-exports-bench-'));
    databaseUrl = `sqlite:${path.join(dir, 'reckon.sqlite')}`;
    drop = async () => fs.rmSync(dir, { recursive: true, force: true });
  } else {
    const database = await createBenchDatabase(MYSQL_URL, 'reckon_exports');
    databaseUrl = database.url;
    drop = () => database.drop();
  }
  try {
    const seeded = await seed(databaseUrl, keys);
    console.log(`  seeded in ${fmt(seeded.ms / 1000, 1)} s`);
    const exported = await measureExport(databaseUrl, keys, seeded.apiKey);
    const raw = await measureRaw(databaseUrl, seeded.tenantId);
    const mib = (bytes: number) => `${fmt(bytes / MIB, 0)} MiB`;
    const line = (name: string, r: SideResult) =>
      [
        name.padEnd(8),
        r.rows.toLocaleString('en-US').padStart(10),
        `${fmt(r.ms / 1000, 1)} s`.padStart(8),
        fmt(r.rows / (r.ms / 1000), 0).padStart(9),
        mib(r.bytes).padStart(9),
        mib(r.peaks.peakRss).padStart(9),
        mib(r.peaks.peakRss - r.peaks.idleRss).padStart(11),
        mib(r.peaks.peakHeap).padStart(10),
        mib(r.peaks.peakHeap - r.peaks.idleHeap).padStart(12),
      ].join('  ');
    console.log('');
    console.log(['side'.padEnd(8), 'rows'.padStart(10), 'time'.padStart(8), 'rows/s'.padStart(9), 'csv'.padStart(9), 'peak RSS'.padStart(9), 'RSS growth'.padStart(11), 'peak heap'.padStart(10), 'heap growth'.padStart(12)].join('  '));
    console.log('-'.repeat(102));
    console.log(line('export', exported));
    console.log(line('raw', raw));
    const growth = (exported.peaks.peakRss - exported.peaks.idleRss) / MIB;
    console.log('');
    console.log(
      `export vs raw: time ${fmt(exported.ms / raw.ms, 2)}x, peak RSS ${fmt(exported.peaks.peakRss / raw.peaks.peakRss, 2)}x, ` +
        `peak heap ${fmt(exported.peaks.peakHeap / raw.peaks.peakHeap, 2)}x, RSS growth ${fmt(growth / ((raw.peaks.peakRss - raw.peaks.idleRss) / MIB), 2)}x; ` +
        `server RSS growth ${fmt(growth, 0)} MiB ` +
        `(goal < ${GOAL_GROWTH_MIB} MiB whatever the size: ${growth < GOAL_GROWTH_MIB ? 'met' : 'NOT met'})`,
    );
    console.log('export = the API process (idle after start and a GC, then serving the export over HTTP); raw = one streamed SELECT formatted by the same CSV function into a sink that drops it; memory sampled every 20 ms in each process');
    const rightCount = exported.rows === POSTINGS && raw.rows === POSTINGS;
    if (!rightCount) console.log(`ROW COUNT WRONG: expected ${POSTINGS}, export ${exported.rows}, raw ${raw.rows}`);
    return rightCount ? 0 : 1;
  } finally {
    await drop();
  }
}

const role = process.argv.find((arg) => arg.startsWith('--role='))?.slice('--role='.length);
const [first, second] = process.argv.slice(process.argv.findIndex((arg) => arg.startsWith('--role=')) + 1);
const run: Promise<number | void> =
  role === 'server'
    ? serverRole(first, {
        JWT_SIGNING_KEYS: process.env.JWT_SIGNING_KEYS ?? '',
        ENCRYPTION_KEYS: process.env.ENCRYPTION_KEYS ?? '',
        BLIND_INDEX_KEY: process.env.BLIND_INDEX_KEY ?? '',
      })
    : role === 'raw'
      ? rawRole(first, second)
      : main();
run.then(
  (code) => {
    if (typeof code === 'number') process.exit(code);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
