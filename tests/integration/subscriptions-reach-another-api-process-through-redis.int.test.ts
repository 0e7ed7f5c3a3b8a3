import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { journalEntryPostedChannel } from '../../src/modules/ledger/ledger.events';
import { type RunningServer, startServer } from '../../src/server/app';
import { JournalEntryDocument, JournalEntryPostedDocument, JournalEntryPostedIdsDocument, RevokeApiKeyDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { SocketClient, waitUntil } from '../helpers/ws-client';

/**
 * Two API processes (here two servers, each with its own services, pub/sub and Redis connections) on
 * one MySQL database and one Redis, as behind a load balancer: an entry written through one reaches
 * subscribers connected to the other.
 */
const runs = process.env.RECKON_TEST_MYSQL === '1' && process.env.RECKON_TEST_REDIS === '1';
const describeWithMysqlAndRedis = runs ? describe : describe.skip;
const CHECK_INTERVAL_MS = 100;

interface ApiProcess {
  runtime: Runtime;
  server: RunningServer;
}

describeWithMysqlAndRedis(`Journal entry events across API processes through Redis [mysql+redis${runs ? '' : ': skipped, MySQL or Redis not reachable'}]`, () => {
  let database: TestDatabase;
  let first: ApiProcess;
  let second: ApiProcess;
  const sockets: SocketClient[] = [];

  async function startApiProcess(dataDir: string): Promise<ApiProcess> {
    // One key directory for both, as one deployment's processes share their configured keys.
    const config = testRuntimeConfig(database.url, {
      env: { DATA_DIR: dataDir, REDIS_URL: String(process.env.TEST_REDIS_URL), WS_CREDENTIAL_CHECK_INTERVAL_MS: String(CHECK_INTERVAL_MS) },
    });
    const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
    const runtime = await bootstrap(config, { log });
    const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
    return { runtime, server };
  }

  async function newTenant(name: string) {
    const tenant = await first.runtime.services.tenancy.createTenant(name);
    const { apiKey, secret } = await first.runtime.services.auth.createApiKey(tenant.id, { name: 'redis test' });
    return { tenantId: tenant.id, keyId: apiKey.id, apiKey: secret, viaFirst: new GraphQLClient(first.server.url, secret) };
  }

  function connect(api: ApiProcess, apiKey: string): SocketClient {
    const socket = SocketClient.withKey(api.server.url, apiKey);
    sockets.push(socket);
    return socket;
  }

  function live(api: ApiProcess, tenantId: string, count: number): Promise<void> {
    return waitUntil(() => api.runtime.services.pubSub.listenerCount(journalEntryPostedChannel(tenantId)) >= count, `${count} subscribers of ${tenantId} are live`);
  }

  beforeAll(async () => {
    database = await createTestDatabase('mysql');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-keys-'));
    // One after the other: the first applies the migrations and writes the keys the second reads.
    first = await startApiProcess(dataDir);
    second = await startApiProcess(dataDir);
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
  });

  afterAll(async () => {
    for (const api of [first, second]) {
      if (!api) continue;
      await api.server.close();
      await api.runtime.close();
    }
    await database?.drop();
  });

  it('delivers an entry posted through one process to subscribers on both, with the committed data', async () => {
    const tenant = await newTenant('Acme');
    const cash = await createAccount(tenant.viaFirst);
    const revenue = await createAccount(tenant.viaFirst, { type: 'REVENUE' });
    const onSecond = connect(second, tenant.apiKey).subscribe(JournalEntryPostedDocument);
    const onFirst = connect(first, tenant.apiKey).subscribe(JournalEntryPostedIdsDocument);
    await live(second, tenant.tenantId, 1);
    await live(first, tenant.tenantId, 1);

    const entry = await postTransfer(tenant.viaFirst, cash.id, revenue.id, '42.00');
    const [event] = await onSecond.take(1);
    expect(event.errors).toBeUndefined();
    const { journalEntry } = await new GraphQLClient(second.server.url, tenant.apiKey).ok(JournalEntryDocument, { id: entry.id });
    expect(event.data?.journalEntryPosted).toEqual(journalEntry);
    expect((await onFirst.take(1))[0].data?.journalEntryPosted).toEqual({ id: entry.id, status: 'POSTED' });
  });

  it('keeps tenants apart across processes', async () => {
    const a = await newTenant('A');
    const b = await newTenant('B');
    const accountsA = [await createAccount(a.viaFirst), await createAccount(a.viaFirst, { type: 'REVENUE' })];
    const accountsB = [await createAccount(b.viaFirst), await createAccount(b.viaFirst, { type: 'REVENUE' })];
    const subscriberB = connect(second, b.apiKey).subscribe(JournalEntryPostedIdsDocument);
    await live(second, b.tenantId, 1);

    const entryA = await postTransfer(a.viaFirst, accountsA[0].id, accountsA[1].id, '1.00');
    const entryB = await postTransfer(b.viaFirst, accountsB[0].id, accountsB[1].id, '2.00');
    const [event] = await subscriberB.take(1);
    expect(event.data?.journalEntryPosted!.id).toBe(entryB.id);
    expect(event.data?.journalEntryPosted!.id).not.toBe(entryA.id);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(subscriberB.unread).toBe(0);
  });

  it('ends a stream on one process when its key is revoked through the other', async () => {
    const tenant = await newTenant('Revoker');
    const { apiKey, secret } = await first.runtime.services.auth.createApiKey(tenant.tenantId, { name: 'short-lived', scopes: ['ledger:read'] });
    const socket = connect(second, secret);
    socket.subscribe(JournalEntryPostedIdsDocument);
    await live(second, tenant.tenantId, 1);

    await tenant.viaFirst.ok(RevokeApiKeyDocument, { input: { id: apiKey.id } });
    const closure = await socket.waitForClose(20 * CHECK_INTERVAL_MS);
    expect(closure).toEqual({ code: 4403, reason: 'UNAUTHENTICATED: the credential has expired or was revoked' });
  });
});
