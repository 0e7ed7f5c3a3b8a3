import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { JournalEntryPostedIdsDocument } from '../generated/graphql';
import { buildServer, type ChildServer, generateServerKeys, logLines, type ServerBuild, startChildServer } from '../helpers/child-server';
import { createTestDatabase, describeOnMysql, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import {
  type Answer,
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
import { parsePrometheusText, valueOf } from '../helpers/prometheus-text';
import { SseStream } from '../helpers/sse-stream';
import { SocketClient, waitUntil } from '../helpers/ws-client';

/**
 * SIGTERM while requests are in flight, as a deployment's rolling restart sends it. To have requests
 * truly in flight at that instant, the test holds row locks on every account from its own database
 * connection: each postJournalEntry waits in the ledger writer when the signal comes (in a batch
 * waiting on the locks, or queued for the next), and the locks go when the test says. Then: the requests in flight finish and are answered,
 * WebSockets close with 1001, new connections are refused, the process exits 0 within
 * SHUTDOWN_TIMEOUT_MS, and every acknowledged entry is stored. Past the timeout, or on a second
 * signal, the process exits 1 at once, with nothing half-written.
 */
const BURST = 16;
const SHUTDOWN_TIMEOUT_MS = 10_000;
const METRICS_TOKEN = 'graceful-shutdown-test-metrics-token-0123456789';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the error code of a TCP connect to the port, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describeOnMysql('Graceful shutdown finishes the work in flight', () => {
  let database: TestDatabase;
  let build: ServerBuild;
  let runtime: Runtime;
  let fixture: LedgerFixture;
  let keys: Record<string, string>;
  let locker: mysql.Connection;
  const servers: ChildServer[] = [];
  const sockets: SocketClient[] = [];
  const eventStreams: SseStream[] = [];

  beforeAll(async () => {
    build = buildServer();
    database = await createTestDatabase('mysql');
    keys = await generateServerKeys();
    const config = testRuntimeConfig(database.url, { env: { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-shutdown-')), ...keys } });
    runtime = await bootstrap(config, { log: createLogger('silent') });
    fixture = await createLedgerFixture(runtime.services, 4);
    locker = await mysql.createConnection({ uri: database.url });
  });

  afterAll(async () => {
    for (const socket of sockets) await socket.dispose().catch(() => undefined);
    for (const stream of eventStreams) await stream.close();
    for (const server of servers) await server.kill();
    await locker?.end();
    await runtime?.close();
    await database?.drop();
  });

  async function start(env: Record<string, string> = {}): Promise<ChildServer> {
    const server = await startChildServer({ build, databaseUrl: database.url, keys, env: { METRICS_TOKEN, ...env } });
    servers.push(server);
    return server;
  }

  /** Locks every account until the returned function is called: ledger writes wait meanwhile. */
  async function lockAccounts(): Promise<() => Promise<void>> {
    await locker.query('START TRANSACTION');
    await locker.query(`SELECT id FROM accounts WHERE id IN (${fixture.accountIds.map(() => '?').join(',')}) FOR UPDATE`, fixture.accountIds);
    return async () => {
      await locker.query('COMMIT');
    };
  }

  /**
   * Waits until the server's ledger writer holds `count` commands (reckon_ledger_writer_pending_commands):
   * the requests are in the server. (Their keys are claimed by the batch that writes them, inside its
   * transaction, so the database shows nothing of them until it commits.)
   */
  async function waitForPending(server: ChildServer, count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const response = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      const pending = valueOf(parsePrometheusText(await response.text()), 'reckon_ledger_writer_pending_commands');
      if (pending >= count) return;
      if (Date.now() > deadline) throw new Error(`only ${pending} of ${count} requests reached the ledger writer`);
      await sleep(20);
    }
  }

  function timed<T>(promise: Promise<T>): Promise<{ value: T; at: number }> {
    return promise.then((value) => ({ value, at: Date.now() }));
  }

  it('answers the requests in flight, closes WebSockets with 1001 and event streams, refuses new connections and exits 0', async () => {
    const server = await start({ SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
    const intents = makeIntents('graceful', BURST + 1, fixture.accountIds);

    // A live subscription: its socket must be closed with 1001 (going away), not dropped.
    const subscriber = SocketClient.withKey(server.url, fixture.apiKey);
    sockets.push(subscriber);
    await subscriber.connected;
    const events = subscriber.subscribe(JournalEntryPostedIdsDocument);
    const warmUp = makeIntents('warm-up', 10, fixture.accountIds);
    for (const intent of warmUp) {
      expect(await postIntent(server.url, fixture.apiKey, intent)).toMatchObject({ kind: 'ok' });
      if (events.results.length > 0) break;
      await sleep(100);
    }
    await waitUntil(() => events.results.length > 0, 'the subscription is live');
    // A Server-Sent Events stream never ends by itself: shutdown must end it rather than wait for it.
    const opened = await SseStream.open(`${server.baseUrl}/v1/events/stream`, { Authorization: `Bearer ${fixture.apiKey}` });
    if (!opened.stream) throw new Error(`the event stream was refused: ${JSON.stringify(opened.problem)}`);
    const eventStream = opened.stream;
    eventStreams.push(eventStream);
    await eventStream.take(1);

    // The burst: 16 requests over HTTP and one mutation over a second WebSocket, all waiting on the locks.
    const release = await lockAccounts();
    const httpAnswers = intents.slice(0, BURST).map((intent) => timed(postIntent(server.url, fixture.apiKey, intent)));
    const socketIntent = intents[BURST];
    const mutator = SocketClient.withKey(server.url, fixture.apiKey);
    sockets.push(mutator);
    await mutator.connected;
    const socketAnswer = timed(
      mutator.executeRaw<{ postJournalEntry: { journalEntry: { id: string } } }>(POST_KEYED_ENTRY, {
        key: socketIntent.key,
        input: {
          description: socketIntent.description,
          lines: [
            { accountId: socketIntent.debitAccountId, direction: 'DEBIT', amount: socketIntent.amount, currency: 'USD' },
            { accountId: socketIntent.creditAccountId, direction: 'CREDIT', amount: socketIntent.amount, currency: 'USD' },
          ],
        },
      }),
    );
    await waitForPending(server, BURST + 1);

    const signalledAt = Date.now();
    server.process.kill('SIGTERM');
    await waitUntil(() => logLines(server, 'shutdown: stopped accepting').length > 0, 'the server stops accepting', 5000);
    // New connections are refused, over HTTP and WebSocket alike (one TCP port).
    expect(await tryConnect(server.port)).toBe('ECONNREFUSED');

    // The work in flight is still waiting on the locks; let it go.
    await sleep(300);
    expect(server.process.exitCode).toBeNull();
    await release();

    const answers = await Promise.all(httpAnswers);
    for (const { value } of answers) expect(value).toMatchObject({ kind: 'ok' });
    const overSocket = await socketAnswer;
    expect(overSocket.value.errors).toBeUndefined();
    const socketEntryId = overSocket.value.data?.postJournalEntry!.journalEntry.id;
    expect(socketEntryId).toMatch(/^je_/);

    // Both sockets closed by the server with 1001 and a reason, after the mutation's result.
    expect(await mutator.waitForClose(5000)).toEqual({ code: 1001, reason: 'Server shutting down; reconnect' });
    expect(await subscriber.waitForClose(5000)).toEqual({ code: 1001, reason: 'Server shutting down; reconnect' });
    await eventStream.untilEnded(5000);

    const exit = await server.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS);

    // Every acknowledged entry is stored, exactly once and whole.
    const acknowledged = new Map<number, string>(
      answers.map(({ value }, index) => [index, (value as Extract<Answer, { kind: 'ok' }>).entryId]),
    );
    acknowledged.set(socketIntent.index, String(socketEntryId));
    const idByIntent = expectEachIntentOnceAndWhole(await storedEntries(runtime.dataSource, 'graceful'), intents, new Set(acknowledged.keys()));
    for (const [index, entryId] of acknowledged) expect([index, idByIntent.get(index)]).toEqual([index, entryId]);
    await assertLedgerInvariants(runtime.dataSource);

    // The audit trail lost nothing: each acknowledged mutation has its event (written with its entry),
    // and the subscription's end, recorded as its socket closed during shutdown, was written by the
    // last flush before the pool closed.
    for (const entryId of acknowledged.values()) {
      const rows: unknown[] = await runtime.dataSource.query('SELECT sequence FROM audit_event_resources WHERE tenant_id = ? AND resource_id = ?', [fixture.tenantId, entryId]);
      expect([entryId, rows.length]).toEqual([entryId, 1]);
    }
    const subscriptionEvents: { kind: string }[] = await runtime.dataSource.query(
      "SELECT kind FROM audit_events WHERE tenant_id = ? AND operation_name = 'journalEntryPosted' ORDER BY sequence",
      [fixture.tenantId],
    );
    expect(subscriptionEvents.map((event) => event.kind)).toEqual(['SUBSCRIPTION_START', 'SUBSCRIPTION_END']);
    expect(await runtime.services.audit.verify(fixture.tenantId)).toMatchObject({ valid: true });

    // Each step logged, in order.
    const steps = logLines(server, 'shutdown:').map((line) => String(line.msg));
    const expectedSteps = [
      'shutdown: started',
      'shutdown: stopped accepting connections',
      'shutdown: WebSockets closed (1001)',
      'shutdown: event streams ended',
      'shutdown: HTTP requests in flight answered, connections closed',
      'shutdown: webhook deliveries in flight recorded',
      'shutdown: ledger writer drained',
      // The audit buffer (reads of the requests just answered) is written before the pool closes.
      'shutdown: audit events written',
      'shutdown: database pool closed',
      'shutdown: complete',
    ];
    // Every step logged once, in order: the process exits only after its log lines reached the pipe
    // (an exit that flushed synchronously used to let a line held for a retry come out last).
    expect(steps).toEqual(expectedSteps);
  });

  it('exits 1 at SHUTDOWN_TIMEOUT_MS when work cannot finish, leaving nothing half-written', async () => {
    const timeoutMs = 1000;
    const server = await start({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs) });
    const intents = makeIntents('timeout', 4, fixture.accountIds);
    const release = await lockAccounts();
    try {
      const answers = intents.map((intent: Intent) => postIntent(server.url, fixture.apiKey, intent));
      await waitForPending(server, intents.length);
      const signalledAt = Date.now();
      server.process.kill('SIGTERM');
      const exit = await server.exited;
      const tookMs = Date.now() - signalledAt;
      expect(exit).toEqual({ code: 1, signal: null });
      expect(tookMs).toBeGreaterThanOrEqual(timeoutMs - 50);
      expect(tookMs).toBeLessThan(timeoutMs + 2000);
      expect(logLines(server, 'shutdown: timed out').length).toBe(1);
      // Cut off: no answer, so no client was told of a success.
      for (const answer of await Promise.all(answers)) expect(answer.kind).toBe('no-answer');
    } finally {
      await release();
    }
    // The process died inside its transactions: the database rolled them back, whole.
    expect(await storedEntries(runtime.dataSource, 'timeout')).toEqual([]);
    await assertLedgerInvariants(runtime.dataSource);
  });

  it('exits 1 at once on a second signal', async () => {
    const server = await start({ SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
    const intents = makeIntents('second-signal', 2, fixture.accountIds);
    const release = await lockAccounts();
    try {
      const answers = intents.map((intent) => postIntent(server.url, fixture.apiKey, intent));
      await waitForPending(server, intents.length);
      server.process.kill('SIGTERM');
      await waitUntil(() => logLines(server, 'shutdown: started').length > 0, 'the shutdown starts', 5000);
      const signalledAt = Date.now();
      server.process.kill('SIGINT');
      expect(await server.exited).toEqual({ code: 1, signal: null });
      expect(Date.now() - signalledAt).toBeLessThan(2000);
      expect(logLines(server, 'shutdown: second signal').length).toBe(1);
      await Promise.all(answers);
    } finally {
      await release();
    }
    expect(await storedEntries(runtime.dataSource, 'second-signal')).toEqual([]);
    await assertLedgerInvariants(runtime.dataSource);
  });
});
