import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { JournalEntryPostedIdsDocument } from '../generated/graphql';
import { buildServer, type ChildServer, generateServerKeys, logLines, type ServerBuild, startChildServer } from '../helpers/child-server';
import { createTestDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import {
  createLedgerFixture,
  expectEachIntentOnceAndWhole,
  type Intent,
  type LedgerFixture,
  makeIntents,
  POST_KEYED_ENTRY,
  postIntent,
  storedEntries,
} from '../helpers/keyed-entries';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { SocketClient, waitUntil } from '../helpers/ws-client';

/**
 * WEB_CONCURRENCY=2, as production starts it (`node dist/src/main.js`): a node:cluster primary and two
 * API workers on one port, one MySQL database and one Redis. Each worker has its own pool, ledger
 * writer and background jobs; what they share is the database and Redis. Requests reach both workers,
 * entries posted through both at once keep the ledger whole, a subscriber on one worker hears what is
 * written through the other, a killed worker is replaced, and SIGTERM shuts every worker down in order
 * and exits 0.
 */
const runs = process.env.RECKON_TEST_MYSQL === '1' && process.env.RECKON_TEST_REDIS === '1';
const describeWithMysqlAndRedis = runs ? describe : describe.skip;
const ENTRIES = 48;
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Two workers load and start side by side: on a busy machine that takes a while. */
const STARTUP_TIMEOUT_MS = 90_000;

const SHUTDOWN_STEPS = [
  'shutdown: started',
  'shutdown: stopped accepting connections',
  'shutdown: WebSockets closed (1001)',
  'shutdown: event streams ended',
  'shutdown: HTTP requests in flight answered, connections closed',
  'shutdown: webhook deliveries in flight recorded',
  'shutdown: ledger writer drained',
  'shutdown: audit events written',
  'shutdown: database pool closed',
  'shutdown: Redis closed',
  'shutdown: complete',
];

describeWithMysqlAndRedis(`WEB_CONCURRENCY=2 [mysql+redis${runs ? '' : ': skipped, MySQL or Redis not reachable'}]`, () => {
  let database: TestDatabase;
  let build: ServerBuild;
  let runtime: Runtime;
  let fixture: LedgerFixture;
  let server: ChildServer;
  const sockets: SocketClient[] = [];

  /** The pids of the workers that said "Reckon is listening". */
  const listeningPids = () => logLines(server, 'Reckon is listening').map((line) => Number(line.pid));
  const startedWorkerPids = () => logLines(server, 'cluster: worker started').map((line) => Number(line.workerPid));

  beforeAll(async () => {
    build = buildServer();
    database = await createTestDatabase('mysql');
    const keys = await generateServerKeys();
    const config = testRuntimeConfig(database.url, { env: { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-cluster-')), ...keys } });
    runtime = await bootstrap(config, { log: createLogger('silent') });
    fixture = await createLedgerFixture(runtime.services, 6);
    server = await startChildServer({
      build,
      databaseUrl: database.url,
      keys,
      env: { WEB_CONCURRENCY: '2', REDIS_URL: String(process.env.TEST_REDIS_URL), SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) },
      startupTimeoutMs: STARTUP_TIMEOUT_MS,
    });
    // /healthz answered by one worker; both listen before the tests start.
    await waitUntil(() => new Set(listeningPids()).size === 2, 'both workers listen', STARTUP_TIMEOUT_MS);
  }, 240_000);

  afterAll(async () => {
    for (const socket of sockets) await socket.dispose().catch(() => undefined);
    // The primary and, should it have died first, the workers it forked.
    for (const pid of startedWorkerPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await server?.kill();
    await runtime?.close();
    await database?.drop();
  });

  it('forks two workers, each starting and listening under its own pid, beside the primary', () => {
    const started = startedWorkerPids();
    expect(started).toHaveLength(2);
    expect(new Set(listeningPids())).toEqual(new Set(started));
    expect(started).not.toContain(server.process.pid);
    // The primary migrated once before forking: no worker applied a migration.
    const migrations = logLines(server, 'applied migrations');
    expect(migrations.every((line) => line.role === 'primary')).toBe(true);
  });

  it('serves requests from both workers, and entries posted through both at once keep the ledger whole', async () => {
    const intents = makeIntents('cluster', ENTRIES, fixture.accountIds);
    const answers = await Promise.all(intents.map((intent: Intent) => postIntent(server.url, fixture.apiKey, intent)));
    for (const answer of answers) expect(answer).toMatchObject({ kind: 'ok' });

    // The access lines of those mutations carry the pid of the worker that answered: both did. (A line
    // is written once the answer has gone out, so it may come a moment after the answer.)
    const writers = () =>
      logLines(server, 'request')
        .filter((line) => Array.isArray(line.rootFields) && line.rootFields.includes('postJournalEntry') && line.status === 200)
        .map((line) => Number(line.pid));
    await waitUntil(() => writers().length === ENTRIES, 'every mutation has its access line');
    expect(new Set(writers())).toEqual(new Set(listeningPids()));

    // Two ledger writers on the same accounts: every entry once and whole, every balance the sum of its postings.
    const idByIntent = expectEachIntentOnceAndWhole(await storedEntries(runtime.dataSource, 'cluster'), intents, new Set(intents.map((intent) => intent.index)));
    answers.forEach((answer, index) => expect(answer).toMatchObject({ entryId: idByIntent.get(index) }));
    await assertLedgerInvariants(runtime.dataSource);
  });

  /** Opens sockets one at a time until one is on each worker, telling which from the worker's "ws connection opened" line. */
  async function socketOnEachWorker(): Promise<Map<number, SocketClient>> {
    const byPid = new Map<number, SocketClient>();
    for (let attempt = 0; attempt < 20 && byPid.size < 2; attempt += 1) {
      const before = logLines(server, 'ws connection opened').length;
      const socket = SocketClient.withKey(server.url, fixture.apiKey);
      sockets.push(socket);
      await socket.connected;
      await waitUntil(() => logLines(server, 'ws connection opened').length > before, 'the worker logs the connection');
      const pid = Number(logLines(server, 'ws connection opened')[before].pid);
      if (!byPid.has(pid)) byPid.set(pid, socket);
    }
    expect(byPid.size).toBe(2);
    return byPid;
  }

  it('delivers an entry written through one worker to a subscriber on the other, through Redis', async () => {
    const [[subscriberPid, subscriberSocket], [writerPid, writerSocket]] = [...(await socketOnEachWorker()).entries()];
    expect(subscriberPid).not.toBe(writerPid);
    const before = logLines(server, 'ws subscription started').length;
    const events = subscriberSocket.subscribe(JournalEntryPostedIdsDocument);
    await waitUntil(() => logLines(server, 'ws subscription started').length > before, 'the subscription starts');
    expect(Number(logLines(server, 'ws subscription started')[before].pid)).toBe(subscriberPid);

    // Until the subscriber's Redis SUBSCRIBE is acknowledged an event may pass it by (at most once):
    // write through the other worker's socket until one arrives.
    const written: string[] = [];
    const intents = makeIntents('across', 20, fixture.accountIds);
    for (const intent of intents) {
      const result = await writerSocket.executeRaw<{ postJournalEntry: { journalEntry: { id: string } } }>(POST_KEYED_ENTRY, {
        key: intent.key,
        input: {
          description: intent.description,
          lines: [
            { accountId: intent.debitAccountId, direction: 'DEBIT', amount: intent.amount, currency: 'USD' },
            { accountId: intent.creditAccountId, direction: 'CREDIT', amount: intent.amount, currency: 'USD' },
          ],
        },
      });
      expect(result.errors).toBeUndefined();
      written.push(result.data!.postJournalEntry.journalEntry.id);
      if (events.results.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitUntil(() => events.results.length > 0, 'an event reaches the other worker');
    // Every mutation ran on the writer's worker (its "ws operation" lines), and what arrived is one of them.
    const operations = () => logLines(server, 'ws operation').filter((line) => Array.isArray(line.rootFields) && line.rootFields.includes('postJournalEntry'));
    await waitUntil(() => operations().length === written.length, 'every mutation has its access line');
    expect(new Set(operations().map((line) => Number(line.pid)))).toEqual(new Set([writerPid]));
    for (const event of events.results) {
      expect(event.errors).toBeUndefined();
      expect(written).toContain(event.data?.journalEntryPosted!.id);
    }
  });

  it('replaces a worker that is killed, and serves on', async () => {
    const [victim, survivor] = listeningPids();
    process.kill(victim, 'SIGKILL');
    await waitUntil(() => logLines(server, 'cluster: worker exited unexpectedly').length === 1, 'the primary notices', 10_000);
    const [exited] = logLines(server, 'cluster: worker exited unexpectedly');
    expect(exited).toMatchObject({ workerPid: victim, signal: 'SIGKILL', role: 'primary' });
    await waitUntil(() => listeningPids().length === 3, 'a new worker listens', STARTUP_TIMEOUT_MS);
    const replacement = listeningPids()[2];
    expect([victim, survivor]).not.toContain(replacement);
    expect(startedWorkerPids()).toContain(replacement);

    const intents = makeIntents('after-kill', 8, fixture.accountIds);
    for (const answer of await Promise.all(intents.map((intent) => postIntent(server.url, fixture.apiKey, intent)))) expect(answer).toMatchObject({ kind: 'ok' });
    await assertLedgerInvariants(runtime.dataSource);
  });

  it('on SIGTERM, shuts every worker down in its own order and exits 0', async () => {
    for (const socket of sockets.splice(0)) await socket.dispose();
    const workers = new Set(listeningPids());
    workers.delete(Number(logLines(server, 'cluster: worker exited unexpectedly')[0]?.workerPid));
    expect(workers.size).toBe(2);

    server.process.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });

    for (const pid of workers) {
      const steps = logLines(server, 'shutdown:').filter((line) => Number(line.pid) === pid).map((line) => String(line.msg));
      expect([pid, steps]).toEqual([pid, SHUTDOWN_STEPS]);
    }
    const exits = logLines(server, 'cluster: worker exited').filter((line) => line.msg === 'cluster: worker exited');
    expect(new Set(exits.map((line) => Number(line.workerPid)))).toEqual(workers);
    for (const exit of exits) expect(exit).toMatchObject({ code: 0, signal: null });
    expect(logLines(server, 'cluster: shutdown complete')).toEqual([expect.objectContaining({ failedWorkers: 0, pid: server.process.pid })]);
    // Nothing acknowledged was lost on the way out.
    await assertLedgerInvariants(runtime.dataSource);
  });

  it('takes a signal that reaches the workers too (Ctrl-C to the process group) as the same shutdown, and exits 0', async () => {
    const again = await startChildServer({
      build,
      databaseUrl: database.url,
      keys: await generateServerKeys(),
      env: { WEB_CONCURRENCY: '2', REDIS_URL: String(process.env.TEST_REDIS_URL) },
      startupTimeoutMs: STARTUP_TIMEOUT_MS,
    });
    const workerPids = () => logLines(again, 'Reckon is listening').map((line) => Number(line.pid));
    try {
      await waitUntil(() => workerPids().length === 2, 'both workers listen', STARTUP_TIMEOUT_MS);
      // The primary's request first, then each worker's own copy of the signal: one shutdown, not two.
      again.process.kill('SIGINT');
      await waitUntil(() => logLines(again, 'shutdown: started').length === 2, 'both workers start shutting down', 10_000);
      expect(logLines(again, 'shutdown: started').map((line) => line.requestedBy)).toEqual(['primary', 'primary']);
      for (const pid of workerPids()) {
        try {
          process.kill(pid, 'SIGINT');
        } catch {
          // Already done and gone: nothing to take for a second signal.
        }
      }
      expect(await again.exited).toEqual({ code: 0, signal: null });
      expect(logLines(again, 'shutdown: second signal')).toEqual([]);
      for (const pid of workerPids()) {
        const steps = logLines(again, 'shutdown:').filter((line) => Number(line.pid) === pid).map((line) => String(line.msg));
        expect([pid, steps]).toEqual([pid, SHUTDOWN_STEPS]);
      }
    } finally {
      for (const pid of workerPids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
      await again.kill();
    }
  }, 180_000);

  it('stops, exit 1, when no worker can start (the port is taken), rather than replacing them forever', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as net.AddressInfo).port);
    try {
      const failure = await startChildServer({
        build,
        databaseUrl: database.url,
        keys: await generateServerKeys(),
        env: { WEB_CONCURRENCY: '2', REDIS_URL: String(process.env.TEST_REDIS_URL), PORT: port },
      }).then(
        async (started) => {
          await started.kill();
          return 'started';
        },
        (error: Error) => error.message,
      );
      expect(failure).toContain('the server exited with code 1 during start-up');
      expect(failure).toContain('EADDRINUSE');
      expect(failure).toContain('cluster: a worker failed to start; stopping');
      expect(failure).not.toContain('replacing it');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
