/**
 * REST benchmark: POST /v1/journal-entries against the GraphQL request it runs (the same document,
 * the same selection, over POST /graphql), in the same run, on the same server and fresh MySQL/MariaDB
 * database. A /v1 operation is that GraphQL field run through the same Apollo server, so GraphQL is
 * its raw baseline: the ratio is what the REST layer costs (parsing the path and query, checking the
 * body against the document's schema, building the variables, reshaping the answer). A benchmark,
 * not a test: it prints a table and fails only when the setup breaks, a request fails, or the
 * ledger's invariants do not hold afterwards.
 *
 *   npm run bench:rest
 *   BENCH_SECONDS=10 BENCH_CLIENTS=8,32 npm run bench:rest
 *
 * Each case runs unkeyed and keyed (a fresh Idempotency-Key per request, header on both sides), so
 * every request pays the whole path and none is a replay. The server runs in a child process
 * (`node dist/src/main.js`, BENCH_SERVER=inprocess to run it here), as in bench:ledger.
 *
 * Settings (environment): BENCH_MYSQL_URL, BENCH_SECONDS (default 8), BENCH_WARMUP_SECONDS (2),
 * BENCH_CLIENTS (default 8,32), BENCH_SERVER, BENCH_SKIP_BUILD, as bench:ledger reads them.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import http from 'node:http';
import mysql from 'mysql2/promise';
import type { Runtime } from '../src/bootstrap';
import { buildGuardedSchema } from '../src/server/permissions';
import { buildRestApi } from '../src/server/rest/rest-openapi';
import {
  type BenchServer,
  bootstrapRuntime,
  checkLedgerInvariants,
  cleanupOnExit,
  createBenchAccounts,
  createBenchDatabase,
  createBenchTenant,
  describeServer,
  fmt,
  generateServerKeys,
  InvariantReport,
  postGraphQL,
  printBanner,
  Probe,
  readCommonSettings,
  runMain,
  startBenchServer,
} from './bench-support';

const settings = readCommonSettings({ seconds: 8, warmupSeconds: 2, clients: '8,32' });
const CURRENCY = 'USD';
const ACCOUNTS = 200;
const SIDES = ['graphql', 'rest'] as const;
type Side = (typeof SIDES)[number];

/** The document POST /v1/journal-entries runs, so that both sides ask for the same selection. */
const POST_ENTRY_DOCUMENT = (() => {
  const plan = buildRestApi(buildGuardedSchema()).plans.find((candidate) => candidate.operation.operationId === 'postJournalEntry');
  if (!plan) throw new Error('no postJournalEntry operation in the REST table');
  return plan.document;
})();

/** Posts one two-line entry over either interface and checks that it was posted. */
class EntryClient {
  private readonly agent: http.Agent;

  constructor(
    private readonly origin: string,
    private readonly apiKey: string,
    sockets: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  async postEntry(side: Side, debit: string, credit: string, keyed: boolean): Promise<void> {
    const input = {
      lines: [
        { accountId: debit, direction: 'DEBIT', amount: '1.00', currency: CURRENCY },
        { accountId: credit, direction: 'CREDIT', amount: '1.00', currency: CURRENCY },
      ],
    };
    const headers: Record<string, string> = keyed ? { 'idempotency-key': `bench-${crypto.randomUUID()}` } : {};
    if (side === 'rest') {
      const { status, json, text } = await postGraphQL(new URL('/v1/journal-entries', this.origin), this.agent, this.apiKey, JSON.stringify(input), headers);
      if (status !== 201 || (json as { status?: string }).status !== 'POSTED') throw new Error(`REST ${status}: ${text.slice(0, 200)}`);
      return;
    }
    const { status, json, text } = await postGraphQL(new URL('/graphql', this.origin), this.agent, this.apiKey, JSON.stringify({ query: POST_ENTRY_DOCUMENT, variables: { input } }), headers);
    const answer = json as { data?: { postJournalEntry?: { journalEntry?: { status?: string } } }; errors?: { message: string }[] };
    if (answer.errors?.length || answer.data?.postJournalEntry?.journalEntry?.status !== 'POSTED') throw new Error(`GraphQL ${status}: ${text.slice(0, 200)}`);
  }

  close(): void {
    this.agent.destroy();
  }
}

interface Row {
  clients: number;
  keyed: boolean;
  rate: Record<Side, number>;
  p99: Record<Side, number>;
  failed: number;
}

async function main(): Promise<number> {
  await printBanner('Reckon REST benchmark: POST /v1/journal-entries against the same GraphQL request', settings.mysqlUrl);
  console.log(`  cases:     ${settings.clients.join(', ')} clients, unkeyed and keyed, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured, ${describeServer(settings)}`);
  const database = await createBenchDatabase(settings.mysqlUrl, 'reckon_bench_rest');
  const keys = await generateServerKeys();
  let runtime: Runtime | undefined;
  let server: BenchServer | undefined;
  let connection: mysql.Connection | undefined;
  const exit = cleanupOnExit(database, () => ({ server, runtime, connection }));
  try {
    runtime = await bootstrapRuntime(database.url, keys, { databasePoolSize: 20 });
    const { tenantId, apiKey } = await createBenchTenant(runtime);
    const accountIds = await createBenchAccounts(runtime, tenantId, ACCOUNTS, { codePrefix: 'REST', currency: CURRENCY });
    ({ server, runtime } = await startBenchServer(settings, runtime, { databaseUrl: database.url, keys, logLevel: 'warn' }));
    const origin = new URL(server.url).origin;
    const probe = await Probe.open(settings.mysqlUrl, () => server?.pid);
    const rows: Row[] = [];
    try {
      for (const clients of settings.clients) {
        for (const keyed of [false, true]) {
          const row: Row = { clients, keyed, rate: { graphql: NaN, rest: NaN }, p99: { graphql: NaN, rest: NaN }, failed: 0 };
          for (const side of SIDES) {
            const client = new EntryClient(origin, apiKey, clients);
            const { result } = await probe.measure(settings, clients, () => {
              const debit = accountIds[Math.floor(Math.random() * accountIds.length)];
              let credit = accountIds[Math.floor(Math.random() * accountIds.length)];
              if (credit === debit) credit = accountIds[(accountIds.indexOf(debit) + 1) % accountIds.length];
              return client.postEntry(side, debit, credit, keyed);
            });
            client.close();
            row.rate[side] = result.perSecond;
            row.p99[side] = result.latencyMsP99;
            row.failed += result.failed;
            if (result.firstError) console.log(`  ${side} ${clients} clients: ${result.failed} failed, first: ${result.firstError}`);
          }
          rows.push(row);
          console.log(
            `  ${String(clients).padStart(3)} clients ${keyed ? 'keyed  ' : 'unkeyed'}  graphql ${fmt(row.rate.graphql, 0).padStart(6)}/s p99 ${fmt(row.p99.graphql, 1).padStart(6)} ms` +
              `   rest ${fmt(row.rate.rest, 0).padStart(6)}/s p99 ${fmt(row.p99.rest, 1).padStart(6)} ms   rest/graphql ${fmt(row.rate.rest / row.rate.graphql, 2)}`,
          );
        }
      }
    } finally {
      await probe.close();
    }
    connection = await mysql.createConnection({ uri: database.url });
    const report = new InvariantReport();
    await checkLedgerInvariants(connection, report);
    report.print('Ledger');
    const failed = rows.reduce((sum, row) => sum + row.failed, 0);
    if (failed) console.log(`${failed} requests failed`);
    return report.ok && failed === 0 ? 0 : 1;
  } finally {
    await exit.cleanup();
    exit.dispose();
  }
}

runMain(main);
