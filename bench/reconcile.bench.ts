/**
 * `npm run bench:reconcile`: statement import and matching end to end, through a real API process.
 *
 * For each size N (RECONCILE_SIZES, default 10000,100000,1000000 statement lines), in a fresh database:
 * the labelled set of bench/reconcile-data.ts is generated; its postings are seeded into the database
 * with bulk SQL (one journal entry per posting, against a counter account, balances set to the sums);
 * its lines are written to a CSV file, streamed; the API is started as a child process
 * (`node dist/src/main.js`), the bank account is created over GraphQL, and the file is streamed to
 * `POST /bank-accounts/:id/statements`. The route answers once the import AND the matching of the new
 * lines are done (ReconciliationService.importStatement awaits its afterImport, which matches), so the
 * time to the answer is the time to import and match. Printed: lines/s, the server's peak RSS
 * (VmHWM), and precision and recall of the matches it stored against the labels.
 *
 * Raw baselines in the same run, on the same data: the same file streamed through csv-parse and
 * nothing else, and the matching engine alone in memory (as bench:reconcile-match does), each with
 * the ratio "import+match vs raw".
 *
 * Then flag delivery latency (MariaDB + Redis): two API processes A and B on one database, 100
 * graphql-ws subscribers to reconciliationFlagRaised, half on A and half on B; statements whose lines
 * are past their match window and have no postings are imported through B, each line raising an
 * UNMATCHED_STATEMENT_LINE flag. Latency = receive time − the flag event's createdAt (stamped in
 * the raising transaction, before its commit). Skipped, saying why, when MariaDB or Redis is not there.
 *
 * A benchmark, not a test: goals are printed next to the results, never asserted.
 *
 * Settings (environment): RECONCILE_SIZES (or none), RECONCILE_PER_DAY (default 400), RECONCILE_SEED (default 1),
 * RECONCILE_BENCH_DB (sqlite, or mysql for MariaDB at BENCH_MYSQL_URL), RECONCILE_ENGINE_MAX (largest
 * N the in-memory engine baseline runs for, default 200000: it holds the whole set),
 * RECONCILE_LATENCY (0 skips the delivery part), RECONCILE_SUBSCRIBERS (default 100),
 * RECONCILE_FLAG_ROUNDS (default 10) and RECONCILE_FLAGS_PER_ROUND (default 20), REDIS_URL
 * (default redis://127.0.0.1:6379 for the delivery part), BENCH_SKIP_BUILD.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { parse as parseCsvStream } from 'csv-parse';
import { createClient, type Client } from 'graphql-ws';
import Redis from 'ioredis';
import mysql from 'mysql2/promise';
import WebSocket from 'ws';
import type { Runtime } from '../src/bootstrap';
import { newId } from '../src/common/ids';
import { toDbTimestamp } from '../src/common/timestamps';
import { AccountType } from '../src/modules/ledger/ledger.types';
import { type Match, type MatchResult, matchStatementLines } from '../src/modules/reconciliation/matcher';
import {
  type BenchServer,
  bootstrapRuntime,
  createBenchDatabase,
  createBenchTenant,
  fmt,
  generateServerKeys,
  loadAverage,
  postGraphQL,
  readCommonSettings,
  readNumber,
  type ServerKeys,
  sleep,
  startChildServer,
} from './bench-support';
import { generateLabelledSet, type LabelledSet, type Score, scoreMatches } from './reconcile-data';

// ---------------------------------------------------------------------------------------------
// Settings

const common = readCommonSettings({ seconds: 0, warmupSeconds: 0, clients: '1' });
const settings = {
  // "none" runs only the delivery part.
  sizes: (process.env.RECONCILE_SIZES === 'none' ? [] : (process.env.RECONCILE_SIZES || '10000,100000,1000000').split(',')).map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 10) throw new Error(`RECONCILE_SIZES: "${s}" is not a line count`);
    return n;
  }),
  perDay: readNumber('RECONCILE_PER_DAY', 400),
  seed: readNumber('RECONCILE_SEED', 1),
  database: (process.env.RECONCILE_BENCH_DB || 'sqlite') as 'sqlite' | 'mysql',
  engineMax: readNumber('RECONCILE_ENGINE_MAX', 200_000),
  latency: process.env.RECONCILE_LATENCY !== '0',
  subscribers: readNumber('RECONCILE_SUBSCRIBERS', 100),
  flagRounds: readNumber('RECONCILE_FLAG_ROUNDS', 10),
  flagsPerRound: readNumber('RECONCILE_FLAGS_PER_ROUND', 20),
  redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
};
if (settings.database !== 'sqlite' && settings.database !== 'mysql') throw new Error('RECONCILE_BENCH_DB must be sqlite or mysql');

const CURRENCY = 'EUR';
const IBAN = 'DE89370400440532013000';
/** Journal entries per seeding transaction, and rows per multi-row INSERT (10 parameters a row). */
const SEED_ENTRIES_PER_TRANSACTION = 20_000;
const SEED_ROWS_PER_INSERT = 400;
/** Match items read back per query. */
const READ_PAGE = 50_000;
const GOALS = {
  precision: 0.999,
  recall: 0.95,
  /** Seconds to import and match N lines, for the sizes the issue names. */
  seconds: new Map([
    [100_000, 10],
    [1_000_000, 120],
  ]),
  peakRssBytes: 512 * 1024 * 1024,
  deliveryP99Ms: 1000,
};

const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024, 0)} MiB`;
const seconds = (ms: number) => `${fmt(ms / 1000, 2)} s`;
const rate = (count: number, ms: number) => Math.round(count / (ms / 1000)).toLocaleString('en-US');
const pct = (share: number, digits = 3) => `${fmt(share * 100, digits)} %`;
const goal = (met: boolean) => (met ? '✓' : '✗');

// ---------------------------------------------------------------------------------------------
// Clean-up: whatever the run opened is closed in reverse order, once, on success, failure or signal

class Cleanup {
  private readonly steps: { name: string; run: () => Promise<void> | void; started?: Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  /** Registers a step; the returned function runs it now. A step runs once, whoever asks first. */
  add(name: string, run: () => Promise<void> | void): () => Promise<void> {
    const step = { name, run };
    this.steps.push(step);
    return () => this.start(step);
  }

  private start(step: (typeof this.steps)[number]): Promise<void> {
    step.started ??= (async () => {
      try {
        await step.run();
      } catch (error) {
        console.error(`clean-up: ${step.name} failed:`, error);
      }
    })();
    return step.started;
  }

  /**
   * Runs every step, newest first, and waits for those already started elsewhere (a size releasing
   * its own while a signal's clean-up runs): the process must not exit with a database half dropped.
   */
  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) await this.start(step);
    })();
    return this.running;
  }
}

const cleanup = new Cleanup();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// The statement file

const CSV_MAPPING = {
  delimiter: ',',
  dateColumn: 'booking_date',
  valueDateColumn: 'value_date',
  dateFormat: 'YYYY-MM-DD',
  amountColumn: 'amount',
  referenceColumn: 'bank_reference',
  // The CSV mapping has no end-to-end id column: the bank's end-to-end id goes first in the
  // remittance text, where the matcher reads reference-like words.
  remittanceColumns: ['end_to_end_id', 'remittance'],
  counterpartyColumn: 'counterparty',
  decimalSeparator: '.',
  currency: CURRENCY,
};

function csvCell(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function decimalOf(minor: bigint): string {
  const negative = minor < 0n;
  const abs = negative ? -minor : minor;
  return `${negative ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

/**
 * Writes the lines as CSV, row by row with back-pressure (never one string of the whole file). The
 * bank reference (date + sequence, unique in a set) is how the stored lines are mapped back to the
 * generator's line ids for scoring.
 */
async function writeStatementCsv(file: string, lines: LabelledSet['lines']): Promise<number> {
  const out = fs.createWriteStream(file);
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await write('booking_date,value_date,amount,bank_reference,end_to_end_id,remittance,counterparty\n');
  for (const line of lines) {
    await write(
      `${line.bookingDate},${line.valueDate ?? ''},${decimalOf(line.amountMinor)},${csvCell(line.bankReference)},${csvCell(line.endToEndId)},` +
        `${csvCell(line.remittanceInformation)},${csvCell(line.counterpartyName)}\n`,
    );
  }
  out.end();
  await once(out, 'finish');
  return fs.statSync(file).size;
}

/** Raw baseline: the same file streamed through csv-parse, no database, no matching. */
async function rawParse(file: string): Promise<{ rows: number; ms: number }> {
  const started = performance.now();
  let rows = 0;
  const parser = fs.createReadStream(file).pipe(parseCsvStream({ from_line: 2, relax_column_count: false }));
  for await (const record of parser) if ((record as string[]).length) rows += 1;
  return { rows, ms: performance.now() - started };
}

// ---------------------------------------------------------------------------------------------
// Seeding the ledger with bulk SQL, as the ledger writer writes it

interface Fixture {
  tenantId: string;
  apiKey: string;
  bankLedgerAccountId: string;
  counterAccountId: string;
}

async function createFixture(runtime: Runtime): Promise<Fixture> {
  const { tenantId, apiKey } = await createBenchTenant(runtime);
  const bank = await runtime.services.ledger.createAccount(tenantId, { code: '1010-bank-eur', name: 'Bank EUR', type: AccountType.ASSET, currency: CURRENCY });
  const counter = await runtime.services.ledger.createAccount(tenantId, { code: '3900-bench-counter', name: 'Bench counter account', type: AccountType.EQUITY, currency: CURRENCY });
  return { tenantId, apiKey, bankLedgerAccountId: bank.id, counterAccountId: counter.id };
}

/** The generator's related ids as journal entry metadata, under the keys the matching service reads. */
function metadataOf(relatedIds: readonly string[]): string | null {
  const metadata: Record<string, string> = {};
  for (const id of relatedIds) {
    if (id.startsWith('INV-')) metadata.invoiceNumber = id;
    else if (id.startsWith('pay_')) metadata.paymentId = id;
    else if (id.startsWith('po_')) metadata.payoutId = id;
    else if (id.startsWith('re_')) metadata.refundId = id;
  }
  return Object.keys(metadata).length ? JSON.stringify(metadata) : null;
}

/**
 * One POSTED journal entry per generated posting (its id and its entry's id are the generator's, so
 * matches read back score directly): the posting on the bank's ledger account (DEBIT for money in),
 * its opposite on the counter account, and both accounts' four totals set to the sums, as the
 * writer's increments would leave them (pending totals include posted ones).
 */
async function seedPostings(runtime: Runtime, fixture: Fixture, set: LabelledSet): Promise<{ ms: number; entries: number }> {
  const started = performance.now();
  const sqlite = settings.database === 'sqlite';
  const minor = (value: bigint) => (sqlite ? value : value.toString());
  const now = toDbTimestamp(new Date());
  let moneyIn = 0n;
  let moneyOut = 0n;
  for (let start = 0; start < set.postings.length; start += SEED_ENTRIES_PER_TRANSACTION) {
    const slice = set.postings.slice(start, start + SEED_ENTRIES_PER_TRANSACTION);
    await runtime.dataSource.transaction(async (manager) => {
      for (let i = 0; i < slice.length; i += SEED_ROWS_PER_INSERT) {
        const part = slice.slice(i, i + SEED_ROWS_PER_INSERT);
        const rowMarks = (rows: number) => new Array(rows).fill('(?,?,?,?,?,?,?,?,?,?)').join(',');
        await manager.query(
          `INSERT INTO journal_entries (id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at) VALUES ${rowMarks(part.length)}`,
          part.flatMap((p) => [p.journalEntryId, fixture.tenantId, 'POSTED', p.description ?? '', `${p.effectiveDate} 12:00:00.000`, p.externalRef, metadataOf(p.relatedIds), null, now, null]),
        );
        const postingRows: unknown[] = [];
        for (const p of part) {
          const moneyArrives = p.amountMinor > 0n;
          const amount = moneyArrives ? p.amountMinor : -p.amountMinor;
          if (moneyArrives) moneyIn += amount;
          else moneyOut += amount;
          const effective = `${p.effectiveDate} 12:00:00.000`;
          const [bankSide, counterSide] = moneyArrives ? ['DEBIT', 'CREDIT'] : ['CREDIT', 'DEBIT'];
          postingRows.push(p.id, fixture.tenantId, p.journalEntryId, fixture.bankLedgerAccountId, bankSide, minor(amount), CURRENCY, 'POSTED', effective, now);
          postingRows.push(newId('posting'), fixture.tenantId, p.journalEntryId, fixture.counterAccountId, counterSide, minor(amount), CURRENCY, 'POSTED', effective, now);
        }
        await manager.query(
          `INSERT INTO postings (id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at) VALUES ${rowMarks(part.length * 2)}`,
          postingRows,
        );
      }
    });
  }
  const setTotals = 'UPDATE accounts SET posted_debits_minor = ?, posted_credits_minor = ?, pending_debits_minor = ?, pending_credits_minor = ? WHERE id = ?';
  await runtime.dataSource.query(setTotals, [minor(moneyIn), minor(moneyOut), minor(moneyIn), minor(moneyOut), fixture.bankLedgerAccountId]);
  await runtime.dataSource.query(setTotals, [minor(moneyOut), minor(moneyIn), minor(moneyOut), minor(moneyIn), fixture.counterAccountId]);
  return { ms: performance.now() - started, entries: set.postings.length };
}

/** The seeded ledger's own invariants: debits equal credits, and each account's totals equal its postings. */
async function checkSeededLedger(runtime: Runtime): Promise<{ ok: boolean; text: string }> {
  const [totals] = (await runtime.dataSource.query(
    `SELECT SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE 0 END) AS debits, SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor ELSE 0 END) AS credits FROM postings`,
  )) as Record<string, unknown>[];
  const drift = (await runtime.dataSource.query(
    `SELECT a.id FROM accounts a LEFT JOIN (SELECT account_id, SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE 0 END) AS d,
            SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor ELSE 0 END) AS c FROM postings GROUP BY account_id) p ON p.account_id = a.id
      WHERE a.posted_debits_minor <> COALESCE(p.d, 0) OR a.posted_credits_minor <> COALESCE(p.c, 0)`,
  )) as unknown[];
  const balanced = String(totals.debits) === String(totals.credits);
  return {
    ok: balanced && drift.length === 0,
    text: `debits = credits ${balanced ? 'OK' : `FAIL (${String(totals.debits)} vs ${String(totals.credits)})`}, account totals = postings ${drift.length === 0 ? 'OK' : `FAIL (${drift.length} differ)`}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The API

async function graphql<T>(server: BenchServer, apiKey: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const answer = await postGraphQL(new URL(server.url), undefined, apiKey, JSON.stringify({ query, variables }));
  if (answer.json.errors?.length || !answer.json.data) throw new Error(`GraphQL: ${answer.text.slice(0, 500)}`);
  return answer.json.data as T;
}

async function createBankAccount(server: BenchServer, fixture: Fixture): Promise<string> {
  const data = await graphql<{ createBankAccount: { bankAccount: { id: string } } }>(
    server,
    fixture.apiKey,
    `mutation($input: CreateBankAccountInput!, $key: String) { createBankAccount(input: $input, idempotencyKey: $key) { bankAccount { id } } }`,
    { input: { name: 'Bench EUR', iban: IBAN, currency: CURRENCY, ledgerAccountId: fixture.bankLedgerAccountId }, key: `bench-bank-${Date.now()}` },
  );
  return data.createBankAccount.bankAccount.id;
}

/** Streams the file as the request body (never read into memory) and waits for the JSON answer. */
function uploadStatement(server: BenchServer, apiKey: string, bankAccountId: string, file: string): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const url = new URL(server.url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: `/bank-accounts/${bankAccountId}/statements?format=CSV&csvMapping=${encodeURIComponent(JSON.stringify(CSV_MAPPING))}`,
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'text/csv', 'content-length': fs.statSync(file).size },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const ms = performance.now() - started;
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, ms });
          } catch {
            reject(new Error(`HTTP ${response.statusCode}: ${text.slice(0, 300)}`));
          }
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    fs.createReadStream(file).on('error', reject).pipe(request);
  });
}

/** The server's peak resident set (VmHWM) so far, from /proc; NaN where it cannot be read. */
function peakRssOf(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
function cpuSecondsOf(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the matches back and scoring them

type StoredMatch = Pick<Match, 'lineIds' | 'postingIds' | 'rule'>;

/**
 * The current matches, by pages of match items, with each line given back its generator id (by its
 * bank reference; postings keep the generator's ids). Also the stored line count and flags by kind.
 */
async function readMatches(runtime: Runtime, tenantId: string, lineIdByReference: Map<string, string>): Promise<{ matches: StoredMatch[]; storedLines: number; unmapped: number; flags: Map<string, number> }> {
  const byMatch = new Map<string, StoredMatch>();
  let unmapped = 0;
  let after = '';
  for (;;) {
    const rows = (await runtime.dataSource.query(
      `SELECT i.id, i.match_id, m.rule, l.bank_reference, i.recorded_posting_id
         FROM reconciliation_match_items i JOIN reconciliation_matches m ON m.id = i.match_id
         LEFT JOIN statement_lines l ON l.id = i.recorded_statement_line_id
        WHERE i.tenant_id = ? AND m.unmatched_at IS NULL AND i.id > ? ORDER BY i.id LIMIT ${READ_PAGE}`,
      [tenantId, after],
    )) as Record<string, unknown>[];
    for (const row of rows) {
      const matchId = String(row.match_id);
      const match = byMatch.get(matchId) ?? { lineIds: [], postingIds: [], rule: String(row.rule) as Match['rule'] };
      byMatch.set(matchId, match);
      if (row.bank_reference !== null && row.bank_reference !== undefined) {
        const lineId = lineIdByReference.get(String(row.bank_reference));
        if (lineId) match.lineIds.push(lineId);
        else unmapped += 1;
      }
      if (row.recorded_posting_id !== null && row.recorded_posting_id !== undefined) match.postingIds.push(String(row.recorded_posting_id));
    }
    if (rows.length < READ_PAGE) break;
    after = String(rows[rows.length - 1].id);
  }
  const [lines] = (await runtime.dataSource.query('SELECT COUNT(*) AS n FROM statement_lines WHERE tenant_id = ?', [tenantId])) as Record<string, unknown>[];
  const flagRows = (await runtime.dataSource.query('SELECT kind, COUNT(*) AS n FROM reconciliation_flags WHERE tenant_id = ? GROUP BY kind ORDER BY kind', [tenantId])) as Record<string, unknown>[];
  return { matches: [...byMatch.values()], storedLines: Number(lines.n), unmapped, flags: new Map(flagRows.map((row) => [String(row.kind), Number(row.n)])) };
}

function asMatchResult(matches: StoredMatch[]): MatchResult {
  // scoreMatches reads only the line and posting ids (and returns the wrong matches as given).
  return { matches: matches as Match[], problems: [] };
}

function describeScore(score: Score): string[] {
  return [
    `precision ${pct(score.precision)} (${score.wrong.length} wrong of ${score.automaticMatches}, ${score.wrongOnAmbiguous} of them on ambiguous-by-design cases)`,
    `recall ${pct(score.recall, 2)} (${score.correct} of ${score.truePairs}; ${pct(score.decidableRecall, 2)} of the pairs findable without guessing)`,
  ];
}

// ---------------------------------------------------------------------------------------------
// One size

interface SizeResult {
  lines: number;
  postings: number;
  bytes: number;
  ok: boolean;
  failure?: string;
  importMs: number;
  peakRss: number;
  score?: Score;
  rawParseMs: number;
  engineMs: number;
  engineScore?: Score;
  seededLedgerOk: boolean;
  /** What the server logged when matching the imported lines failed (the upload still answers 200). */
  matchingFailure?: string;
}

async function runSize(lineCount: number, keys: ServerKeys): Promise<SizeResult> {
  console.log('');
  console.log(`N = ${lineCount.toLocaleString('en-US')} statement lines (${settings.database === 'sqlite' ? 'SQLite file' : 'MariaDB'}, load average ${loadAverage()})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-reconcile-bench-'));
  // What this size opens is released when it ends (and by the run's clean-up if it is interrupted).
  const releaseSize: (() => Promise<void>)[] = [cleanup.add(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }))];
  try {
    let started = performance.now();
    const set = generateLabelledSet({ seed: settings.seed, lines: lineCount, perBusinessDay: settings.perDay });
    const lineIdByReference = new Map(set.lines.map((line) => [line.bankReference as string, line.id]));
    if (lineIdByReference.size !== set.lines.length) throw new Error('the generator gave two lines one bank reference: lines cannot be mapped back');
    console.log(`  generated   ${set.lines.length} lines, ${set.postings.length} postings, ${set.truth.length} true pairs in ${seconds(performance.now() - started)}`);

    const file = path.join(dir, 'statement.csv');
    started = performance.now();
    const bytes = await writeStatementCsv(file, set.lines);
    console.log(`  CSV written ${mib(bytes)} in ${seconds(performance.now() - started)} (streamed)`);

    const raw = await rawParse(file);
    console.log(`  raw parse   ${raw.rows} rows in ${seconds(raw.ms)}: ${rate(raw.rows, raw.ms)} lines/s (csv-parse stream, no database)`);

    let engineMs = NaN;
    let engineScore: Score | undefined;
    if (lineCount <= settings.engineMax) {
      started = performance.now();
      const engine = matchStatementLines({ lines: set.lines, postings: set.postings });
      engineMs = performance.now() - started;
      engineScore = scoreMatches(set, engine);
      console.log(`  raw engine  matched in ${seconds(engineMs)}: ${rate(set.lines.length, engineMs)} lines/s (in memory, no database); ${describeScore(engineScore).join('; ')}`);
    } else {
      console.log(`  raw engine  not run above RECONCILE_ENGINE_MAX=${settings.engineMax} lines (it holds the whole set in this process)`);
    }

    // A fresh database for this size.
    let databaseUrl: string;
    if (settings.database === 'sqlite') {
      databaseUrl = `sqlite:${path.join(dir, 'reckon.sqlite')}`;
    } else {
      const database = await createBenchDatabase(common.mysqlUrl, 'reckon_reconcile');
      releaseSize.push(cleanup.add(`drop database ${database.name}`, () => database.drop()));
      databaseUrl = database.url;
    }
    let runtime: Runtime | undefined = await bootstrapRuntime(databaseUrl, keys, {});
    let closeRuntime = cleanup.add('close the setup runtime', () => runtime?.close());
    releaseSize.push(closeRuntime);
    const fixture = await createFixture(runtime);
    const seeded = await seedPostings(runtime, fixture, set);
    const ledgerCheck = await checkSeededLedger(runtime);
    console.log(`  seeded      ${seeded.entries} journal entries, ${seeded.entries * 2} postings in ${seconds(seeded.ms)} (setup, not measured); ${ledgerCheck.text}`);
    await closeRuntime();
    runtime = undefined;

    // Subscriptions stay in process here (REDIS_URL passes through to servers otherwise): only the delivery part uses Redis.
    // The import answers even when matching its lines failed (the sweep would retry): the log says so.
    let matchingFailure: string | undefined;
    const server = await startChildServer(common, {
      databaseUrl,
      keys,
      logLevel: 'warn',
      env: { REDIS_URL: '' },
      onLine: (line) => {
        if (line.includes('matching imported lines failed')) matchingFailure ??= /"message":"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 300);
        return false;
      },
    });
    const stopServer = cleanup.add('stop the API', () => server.stop());
    releaseSize.push(stopServer);
    const bankAccountId = await createBankAccount(server, fixture);
    const cpuBefore = cpuSecondsOf(server.pid);
    const upload = await uploadStatement(server, fixture.apiKey, bankAccountId, file);
    const serverCpu = cpuSecondsOf(server.pid) - cpuBefore;
    const peakRss = peakRssOf(server.pid);
    await stopServer();

    const result: SizeResult = { lines: set.lines.length, postings: set.postings.length, bytes, ok: upload.status === 200, importMs: upload.ms, peakRss, rawParseMs: raw.ms, engineMs, engineScore, matchingFailure, seededLedgerOk: ledgerCheck.ok };
    if (upload.status !== 200) {
      const error = upload.body.error as { code?: string; message?: string } | undefined;
      result.failure = `HTTP ${upload.status} ${error?.code ?? ''}: ${error?.message ?? JSON.stringify(upload.body).slice(0, 200)}`;
      console.log(`  upload      REFUSED after ${seconds(upload.ms)}: ${result.failure}`);
      return result;
    }
    console.log(
      `  import+match ${upload.body.importedLineCount} lines imported (${upload.body.duplicateLineCount} duplicates) and matched in ${seconds(upload.ms)}: ` +
        `${rate(set.lines.length, upload.ms)} lines/s; server CPU ${fmt(serverCpu, 1)} s; server peak RSS ${mib(peakRss)}`,
    );
    if (matchingFailure) console.log(`  MATCHING FAILED in the server (the import answered all the same): ${matchingFailure}`);
    console.log(`  ratios      import+match vs raw parse: ${fmt(upload.ms / raw.ms, 1)}x the time; vs raw engine: ${Number.isFinite(engineMs) ? `${fmt(upload.ms / engineMs, 1)}x` : 'not run'}`);

    runtime = await bootstrapRuntime(databaseUrl, keys, {});
    closeRuntime = cleanup.add('close the reading runtime', () => runtime?.close());
    releaseSize.push(closeRuntime);
    const stored = await readMatches(runtime, fixture.tenantId, lineIdByReference);
    await closeRuntime();
    runtime = undefined;
    result.score = scoreMatches(set, asMatchResult(stored.matches));
    const rules = new Map<string, number>();
    for (const match of stored.matches) rules.set(match.rule, (rules.get(match.rule) ?? 0) + 1);
    console.log(`  stored      ${stored.storedLines} lines, ${stored.matches.length} current matches (${[...rules].map(([rule, n]) => `${rule} ${n}`).join(', ')})${stored.unmapped ? `, ${stored.unmapped} line items not mapped back` : ''}`);
    console.log(`  flags       ${[...stored.flags].map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none'}`);
    for (const line of describeScore(result.score)) console.log(`  API ${line}`);
    return result;
  } finally {
    for (const release of releaseSize.reverse()) await release();
  }
}

// ---------------------------------------------------------------------------------------------
// Flag delivery latency across two processes

interface LatencyResult {
  skipped?: string;
  flags: number;
  deliveries: number;
  expectedDeliveries: number;
  p50: number;
  p99: number;
  max: number;
  /** p50/p99 of subscribers on A (the flags crossed Redis) and on B (raised in their own process). */
  byProcess: { name: string; p50: number; p99: number; count: number }[];
  exactlyOnceInOrder: number;
  subscribers: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Why the delivery part cannot run here, or null when MariaDB and Redis both answer. */
async function deliveryPrerequisites(): Promise<string | null> {
  try {
    const connection = await mysql.createConnection({ uri: common.mysqlUrl, connectTimeout: 3000 });
    await connection.end();
  } catch (error) {
    return `MariaDB at ${common.mysqlUrl.replace(/\/\/[^@]*@/, '//***@')} is not reachable (${(error as Error).message})`;
  }
  const redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    return `Redis at ${settings.redisUrl} is not reachable (${(error as Error).message})`;
  } finally {
    redis.disconnect();
  }
  return null;
}

/** A small statement of lines long past their match window, with references never used before. */
function oldLinesCsv(round: number, count: number): string {
  const rows = ['booking_date,value_date,amount,bank_reference,end_to_end_id,remittance,counterparty'];
  for (let i = 0; i < count; i++) rows.push(`2026-03-02,2026-03-02,${decimalOf(BigInt(1000 + round * 1000 + i))},FLAG${String(round).padStart(4, '0')}${String(i).padStart(6, '0')},,Unknown payer,Somebody`);
  return `${rows.join('\n')}\n`;
}

async function measureDelivery(keys: ServerKeys): Promise<LatencyResult> {
  const empty = { flags: 0, deliveries: 0, expectedDeliveries: 0, p50: NaN, p99: NaN, max: NaN, byProcess: [], exactlyOnceInOrder: 0, subscribers: 0 };
  const missing = await deliveryPrerequisites();
  if (missing) return { ...empty, skipped: missing };

  const database = await createBenchDatabase(common.mysqlUrl, 'reckon_reconcile_feed');
  cleanup.add(`drop database ${database.name}`, () => database.drop());
  const runtime = await bootstrapRuntime(database.url, keys, {});
  const closeRuntime = cleanup.add('close the setup runtime', () => runtime.close());
  const fixture = await createFixture(runtime);
  await closeRuntime();

  const env = { REDIS_URL: settings.redisUrl };
  const serverA = await startChildServer(common, { databaseUrl: database.url, keys, logLevel: 'warn', env });
  cleanup.add('stop API process A', () => serverA.stop());
  const serverB = await startChildServer(common, { databaseUrl: database.url, keys, logLevel: 'warn', env });
  cleanup.add('stop API process B', () => serverB.stop());
  const bankAccountId = await createBankAccount(serverB, fixture);

  // Half the subscribers on A, half on B: A's receive every flag through Redis, B's in process.
  interface Subscriber {
    on: 'A' | 'B';
    client: Client;
    sequences: bigint[];
    latencies: number[];
    errors: string[];
  }
  const subscribers: Subscriber[] = [];
  const connected: Promise<void>[] = [];
  for (let i = 0; i < settings.subscribers; i++) {
    const server = i % 2 === 0 ? serverA : serverB;
    let resolveConnected!: () => void;
    connected.push(new Promise<void>((resolve) => (resolveConnected = resolve)));
    const client = createClient({
      url: server.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${fixture.apiKey}` },
      retryAttempts: 0,
      lazy: false,
      on: { connected: () => resolveConnected() },
    });
    subscribers.push({ on: i % 2 === 0 ? 'A' : 'B', client, sequences: [], latencies: [], errors: [] });
  }
  cleanup.add('close the subscribers', async () => {
    await Promise.all(subscribers.map((s) => s.client.dispose()));
  });
  await Promise.all(connected);
  for (const subscriber of subscribers) {
    subscriber.client.subscribe<{ reconciliationFlagRaised: { sequence: string; createdAt: string } }>(
      {
        query: 'subscription($filter: ReconciliationFlagFeedFilterInput, $since: BigInt) { reconciliationFlagRaised(filter: $filter, since: $since) { sequence createdAt } }',
        variables: { filter: { bankAccountId }, since: '0' },
      },
      {
        next: (result) => {
          const received = Date.now();
          const event = result.data?.reconciliationFlagRaised;
          if (!event) {
            subscriber.errors.push(JSON.stringify(result.errors ?? result).slice(0, 200));
            return;
          }
          subscriber.sequences.push(BigInt(event.sequence));
          subscriber.latencies.push(received - Date.parse(event.createdAt));
        },
        error: (error) => subscriber.errors.push(error instanceof Error ? error.message : JSON.stringify(error).slice(0, 200)),
        complete: () => undefined,
      },
    );
  }
  // Let every subscription reach its live feed before the first flag (since: 0 would replay any it missed, late).
  await sleep(1500);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-reconcile-feed-'));
  cleanup.add(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
  for (let round = 0; round < settings.flagRounds; round++) {
    const file = path.join(dir, `round-${round}.csv`);
    fs.writeFileSync(file, oldLinesCsv(round, settings.flagsPerRound));
    const upload = await uploadStatement(serverB, fixture.apiKey, bankAccountId, file);
    if (upload.status !== 200) throw new Error(`round ${round}: the upload was refused: ${JSON.stringify(upload.body).slice(0, 300)}`);
    await sleep(200);
  }

  const flagData = await graphql<{ reconciliationFlags: { totalCount: number; edges: { node: { sequence: string } }[] } }>(
    serverB,
    fixture.apiKey,
    'query($filter: ReconciliationFlagFilterInput) { reconciliationFlags(filter: $filter, first: 500) { totalCount edges { node { sequence } } } }',
    { filter: { bankAccountId } },
  );
  const expected = flagData.reconciliationFlags.edges.map((edge) => BigInt(edge.node.sequence));
  const expectedDeliveries = expected.length * subscribers.length;
  const delivered = () => subscribers.reduce((total, s) => total + s.sequences.length, 0);
  const deadline = Date.now() + 15_000;
  while (delivered() < expectedDeliveries && Date.now() < deadline) await sleep(50);

  const expectedText = expected.join(',');
  const exactlyOnceInOrder = subscribers.filter((s) => s.errors.length === 0 && s.sequences.join(',') === expectedText).length;
  const all = subscribers.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const byProcess = (['A', 'B'] as const).map((name) => {
    const own = subscribers.filter((s) => s.on === name).flatMap((s) => s.latencies).sort((a, b) => a - b);
    return { name, p50: percentile(own, 0.5), p99: percentile(own, 0.99), count: own.length };
  });
  const firstError = subscribers.find((s) => s.errors.length)?.errors[0];
  if (firstError) console.log(`  first subscriber error: ${firstError}`);
  return {
    flags: expected.length,
    deliveries: all.length,
    expectedDeliveries,
    p50: percentile(all, 0.5),
    p99: percentile(all, 0.99),
    max: all[all.length - 1] ?? NaN,
    byProcess,
    exactlyOnceInOrder,
    subscribers: subscribers.length,
  };
}

// ---------------------------------------------------------------------------------------------

function printSummary(results: SizeResult[], latency: LatencyResult | null): void {
  if (results.length) printSizes(results);
  if (!latency) return;
  console.log('');
  if (latency.skipped) {
    console.log(`Flag delivery: SKIPPED: ${latency.skipped}`);
    return;
  }
  console.log(
    `Flag delivery (MariaDB + Redis, 2 API processes, ${latency.subscribers} subscribers: half on A, half on B; flags raised by imports through B):`,
  );
  console.log(`  ${latency.flags} flags, ${latency.deliveries} of ${latency.expectedDeliveries} deliveries; every subscriber got every flag exactly once, in order: ${latency.exactlyOnceInOrder} of ${latency.subscribers}`);
  console.log(`  latency (receive − flag createdAt): p50 ${fmt(latency.p50, 0)} ms, p99 ${fmt(latency.p99, 0)} ms ${goal(latency.p99 < GOALS.deliveryP99Ms)}, max ${fmt(latency.max, 0)} ms`);
  for (const p of latency.byProcess) {
    console.log(`  subscribers on ${p.name} (${p.name === 'A' ? 'through Redis' : 'same process as the import'}): p50 ${fmt(p.p50, 0)} ms, p99 ${fmt(p.p99, 0)} ms over ${p.count} deliveries`);
  }
}

function printSizes(results: SizeResult[]): void {
  console.log('');
  console.log('Summary (goals: precision ≥ 99.9 %, recall ≥ 95 %, 100,000 lines < 10 s, 1,000,000 < 120 s, server peak RSS < 512 MiB, delivery p99 < 1 s)');
  const header = `${'lines'.padStart(9)}  ${'import+match'.padStart(12)}  ${'lines/s'.padStart(8)}  ${'raw parse'.padStart(9)}  ${'vs parse'.padStart(8)}  ${'raw engine'.padStart(10)}  ${'vs engine'.padStart(9)}  ${'peak RSS'.padStart(9)}  ${'precision'.padStart(11)}  ${'recall'.padStart(9)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const r of results) {
    const limit = GOALS.seconds.get(r.lines);
    const timeMark = r.ok && limit !== undefined ? ` ${goal(r.importMs / 1000 < limit)}` : '  ';
    const cells = [
      String(r.lines).padStart(9),
      (r.ok ? `${fmt(r.importMs / 1000, 1)} s${timeMark}` : 'refused').padStart(12),
      (r.ok ? rate(r.lines, r.importMs) : '-').padStart(8),
      `${fmt(r.rawParseMs / 1000, 2)} s`.padStart(9),
      (r.ok ? `${fmt(r.importMs / r.rawParseMs, 0)}x` : '-').padStart(8),
      (Number.isFinite(r.engineMs) ? `${fmt(r.engineMs / 1000, 1)} s` : 'not run').padStart(10),
      (r.ok && Number.isFinite(r.engineMs) ? `${fmt(r.importMs / r.engineMs, 1)}x` : '-').padStart(9),
      `${mib(r.peakRss)} ${goal(r.peakRss < GOALS.peakRssBytes)}`.padStart(9),
      (r.score ? `${pct(r.score.precision)} ${goal(r.score.precision >= GOALS.precision)}` : '-').padStart(11),
      (r.score ? `${pct(r.score.recall, 2)} ${goal(r.score.recall >= GOALS.recall)}` : '-').padStart(9),
    ];
    console.log(cells.join('  '));
  }
  for (const r of results) if (r.failure) console.log(`  ${r.lines} lines: ${r.failure}`);
  for (const r of results) if (r.matchingFailure) console.log(`  ${r.lines} lines: matching failed in the server: ${r.matchingFailure}`);
  console.log('import+match = upload streamed until the answer (the route answers after the import and the matching of its lines); raw parse = the same file through csv-parse, nothing else; raw engine = matchStatementLines on the generated set in memory');
}

async function main(): Promise<number> {
  const cpus = os.cpus();
  console.log('Reckon reconciliation benchmark: statement import + matching through the API, and flag delivery');
  console.log(`  machine:   ${cpus.length} cpus (${cpus[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadAverage()}`);
  console.log(`  node:      ${process.version}; seed ${settings.seed}, ${settings.perDay} scenarios per business day; server in a child process (node dist/src/main.js)`);
  const keys = await generateServerKeys();
  const results: SizeResult[] = [];
  for (const size of settings.sizes) results.push(await runSize(size, keys));
  let latency: LatencyResult | null = null;
  if (settings.latency) {
    console.log('');
    console.log('Flag delivery latency');
    latency = await measureDelivery(keys);
  }
  printSummary(results, latency);
  // Goals are only printed; a run whose data is wrong (a refused upload, matching that failed, a
  // subscriber that missed or repeated a flag) exits 1, as the other benches do on broken invariants.
  const broken = results.some((r) => !r.ok || r.matchingFailure || !r.seededLedgerOk) || (latency !== null && !latency.skipped && latency.exactlyOnceInOrder !== latency.subscribers);
  return broken ? 1 : 0;
}

main()
  .then(
    (code) => code,
    (error: unknown) => {
      console.error(error);
      return 1;
    },
  )
  .then(async (code) => {
    await cleanup.runAll();
    process.exit(code);
  });
