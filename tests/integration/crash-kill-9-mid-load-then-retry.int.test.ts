import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { buildServer, type ChildServer, generateServerKeys, type ServerBuild, startChildServer } from '../helpers/child-server';
import { createTestDatabase, describeOnMysql, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import {
  type Answer,
  createLedgerFixture,
  expectEachIntentOnceAndWhole,
  type Intent,
  type LedgerFixture,
  makeIntents,
  postIntent,
  storedEntries,
} from '../helpers/keyed-entries';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

/**
 * A POS fleet keeps posting while the API process is killed with SIGKILL (no shutdown, no cleanup):
 * whatever was in flight at that instant either committed whole or not at all. The server comes back
 * on the same database, every request whose answer was lost is retried with its own key, and in the
 * end each intended entry exists exactly once, whole, and the ledger's invariants hold.
 */
const CLIENTS = 16;
const INTENTS = 4000;
/** Load runs this long, or until this many answers were seen, before the kill. */
const LOAD_BEFORE_KILL_MS = 1500;
const ANSWERS_BEFORE_KILL = 300;
/** On a loaded machine the first answers can take longer than LOAD_BEFORE_KILL_MS: the kill waits for a few. */
const MIN_ANSWERS_BEFORE_KILL = 10;
const MAX_WAIT_FOR_ANSWERS_MS = 60_000;
/** A killed process's claims block their keys this long (IDEMPOTENCY_LEASE): short, to keep the test short. */
const LEASE = '5s';
const RETRY_DEADLINE_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeOnMysql('Crash: kill -9 mid-load, restart, retry with the same keys', () => {
  let database: TestDatabase;
  let build: ServerBuild;
  let runtime: Runtime;
  let fixture: LedgerFixture;
  let keys: Record<string, string>;
  const servers: ChildServer[] = [];

  beforeAll(async () => {
    build = buildServer();
    database = await createTestDatabase('mysql');
    keys = await generateServerKeys();
    // The test's own runtime: migrations, fixtures, and the reads that check the outcome.
    const config = testRuntimeConfig(database.url, { env: { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-crash-')), ...keys } });
    runtime = await bootstrap(config, { log: createLogger('silent') });
    fixture = await createLedgerFixture(runtime.services);
  });

  afterAll(async () => {
    for (const server of servers) await server.kill();
    await runtime?.close();
    await database?.drop();
  });

  it('leaves each intended entry exactly once, whole, with the invariants intact', async () => {
    const start = () =>
      startChildServer({ build, databaseUrl: database.url, keys, env: { IDEMPOTENCY_LEASE: LEASE, LOG_LEVEL: 'warn' } }).then((server) => {
        servers.push(server);
        return server;
      });
    const intents = makeIntents('crash', INTENTS, fixture.accountIds);
    const first = await start();

    // Phase 1: load, then SIGKILL while requests are in flight.
    const sent = new Set<number>();
    const acknowledged = new Map<number, string>();
    const unanswered = new Set<number>();
    const refused: Answer[] = [];
    let next = 0;
    let killed = false;
    const client = async () => {
      while (!killed && next < intents.length) {
        const intent = intents[next++];
        sent.add(intent.index);
        const answer = await postIntent(first.url, fixture.apiKey, intent);
        if (answer.kind === 'ok') acknowledged.set(intent.index, answer.entryId);
        else {
          unanswered.add(intent.index);
          if (answer.kind === 'error') refused.push(answer);
        }
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, client));
    const loadStarted = Date.now();
    const keepLoading = () => {
      const elapsed = Date.now() - loadStarted;
      if (acknowledged.size >= ANSWERS_BEFORE_KILL || elapsed >= MAX_WAIT_FOR_ANSWERS_MS) return false;
      return elapsed < LOAD_BEFORE_KILL_MS || acknowledged.size < MIN_ANSWERS_BEFORE_KILL;
    };
    while (keepLoading()) await sleep(20);
    await first.kill();
    killed = true;
    await load;

    expect(first.process.signalCode).toBe('SIGKILL');
    expect(acknowledged.size).toBeGreaterThan(0);
    // The kill caught requests in flight: their clients saw no answer.
    expect(unanswered.size).toBeGreaterThan(0);
    // Before the kill nothing was refused: every error here is a cut connection, not an answer.
    expect(refused).toEqual([]);

    // Phase 2: the same database, the same keys, a new process; retry until every answer is seen.
    const second = await start();
    const pending = intents.filter((intent) => unanswered.has(intent.index));
    const retryDeadline = Date.now() + RETRY_DEADLINE_MS;
    const retryOne = async (intent: Intent) => {
      while (Date.now() < retryDeadline) {
        const answer = await postIntent(second.url, fixture.apiKey, intent);
        if (answer.kind === 'ok') {
          acknowledged.set(intent.index, answer.entryId);
          return;
        }
        // The killed process's claim holds its key until the lease runs out: IN_USE, retryable.
        expect(answer).toMatchObject({ kind: 'error', code: 'IDEMPOTENCY_KEY_IN_USE', retryable: true });
        await sleep(250);
      }
    };
    for (let i = 0; i < pending.length; i += CLIENTS) await Promise.all(pending.slice(i, i + CLIENTS).map(retryOne));
    expect(pending.filter((intent) => !acknowledged.has(intent.index)).map((intent) => intent.index)).toEqual([]);

    // Every sent intent is stored exactly once and whole; what each client was told is what is stored.
    const stored = await storedEntries(runtime.dataSource, 'crash');
    const idByIntent = expectEachIntentOnceAndWhole(stored, intents, sent);
    for (const [index, entryId] of acknowledged) expect([index, idByIntent.get(index)]).toEqual([index, entryId]);
    await assertLedgerInvariants(runtime.dataSource);

    await second.kill();
  });
});
