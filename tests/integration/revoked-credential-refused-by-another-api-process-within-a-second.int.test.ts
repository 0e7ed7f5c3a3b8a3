import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { CREDENTIAL_CHANGES_CHANNEL } from '../../src/services/credential-change-feed';
import { MeDocument, RevokeApiKeyDocument, RevokeOAuthClientDocument } from '../generated/graphql';
import { expectInvalidToken } from '../helpers/auth-expectations';
import { buildServer, type ChildServer, generateServerKeys, type ServerBuild, startChildServer } from '../helpers/child-server';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { clientCredentialsToken } from '../helpers/oauth-http';
import { parsePrometheusText, valueOf } from '../helpers/prometheus-text';
import { TcpProxy } from '../helpers/tcp-proxy';

/**
 * The authentication cache across API processes on one MySQL database and one Redis: a credential
 * revoked through one process is refused by every other within one second of the revoke's answer,
 * though they had it cached. A correctness bound, not a benchmark: the test polls and asserts that a
 * request sent before the deadline was refused.
 */
const runs = process.env.RECKON_TEST_MYSQL === '1' && process.env.RECKON_TEST_REDIS === '1';
const describeWithMysqlAndRedis = runs ? describe : describe.skip;
const skipNote = runs ? '' : ': skipped, MySQL or Redis not reachable';
const BOUND_MS = 1000;
const SOURCE = '192.0.2.20';

/** Waits until `count` processes listen on the credential change channel (their feeds are live). */
async function feedsListening(redis: Redis, count: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [, listening] = (await redis.pubsub('NUMSUB', CREDENTIAL_CHANGES_CHANNEL)) as [string, number];
    if (Number(listening) >= count) return;
    if (Date.now() > deadline) throw new Error(`${count} processes did not subscribe to ${CREDENTIAL_CHANGES_CHANNEL} within 15 s (${listening} did)`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends the request until it is refused, stopping at the deadline: whether one sent before it was refused. */
async function refusedBefore(deadline: number, client: GraphQLClient): Promise<boolean> {
  while (Date.now() < deadline) {
    if ((await client.request(MeDocument)).status === 401) return true;
  }
  return false;
}

describeWithMysqlAndRedis(`A credential revoked through API process A is refused by process B within one second [mysql+redis${skipNote}]`, () => {
  const METRICS_TOKEN = crypto.randomBytes(24).toString('hex');
  let database: TestDatabase;
  let build: ServerBuild;
  let runtime: Runtime;
  let processA: ChildServer;
  let processB: ChildServer;
  let redis: Redis;

  beforeAll(async () => {
    build = buildServer();
    database = await createTestDatabase('mysql');
    const keys = await generateServerKeys();
    // The test's own runtime (no Redis): migrations, tenants and keys.
    const config = testRuntimeConfig(database.url, { env: { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-auth-cache-')), ...keys } });
    runtime = await bootstrap(config, { log: createLogger('silent') });
    redis = new Redis(String(process.env.TEST_REDIS_URL));
    // A minute's TTL even without the feed: only the Redis message can explain a refusal within the second.
    const env = { REDIS_URL: String(process.env.TEST_REDIS_URL), METRICS_TOKEN, AUTH_CACHE_TTL_MS: '60000', LOG_LEVEL: 'warn' };
    [processA, processB] = await Promise.all([startChildServer({ build, databaseUrl: database.url, keys, env }), startChildServer({ build, databaseUrl: database.url, keys, env })]);
    await feedsListening(redis, 2);
  }, 180_000);

  afterAll(async () => {
    for (const server of [processA, processB]) await server?.kill();
    await runtime?.close();
    redis?.disconnect();
    await database?.drop();
  });

  async function cacheHitsOf(server: ChildServer): Promise<number> {
    const response = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(200);
    return valueOf(parsePrometheusText(await response.text()), 'reckon_auth_cache_lookups_total', { result: 'hit' });
  }

  /** Uses the credential on B until B answers it from its cache. */
  async function cachedOnB(client: GraphQLClient): Promise<void> {
    await client.ok(MeDocument);
    const hits = await cacheHitsOf(processB);
    await client.ok(MeDocument);
    expect(await cacheHitsOf(processB)).toBeGreaterThan(hits);
  }

  async function newTenant(name: string) {
    const tenant = await runtime.services.tenancy.createTenant(name);
    const admin = await runtime.services.auth.createApiKey(tenant.id, { name: 'admin' });
    return { tenantId: tenant.id, adminViaA: new GraphQLClient(processA.url, admin.secret) };
  }

  it('refuses a revoked API key on B before a second has passed since A answered the revoke', async () => {
    const tenant = await newTenant('Revoked key');
    const { apiKey, secret } = await runtime.services.auth.createApiKey(tenant.tenantId, { name: 'cached on B', scopes: ['ledger:read'] });
    const onB = new GraphQLClient(processB.url, secret);
    await cachedOnB(onB);

    await tenant.adminViaA.ok(RevokeApiKeyDocument, { input: { id: apiKey.id } });
    expect(await refusedBefore(Date.now() + BOUND_MS, onB)).toBe(true);
    expectInvalidToken(await onB.request(MeDocument));
    expectInvalidToken(await new GraphQLClient(processA.url, secret).request(MeDocument));
  });

  it('refuses the access tokens of a revoked OAuth client on B before a second has passed since A answered the revoke', async () => {
    const tenant = await newTenant('Revoked client');
    const { client, secret } = await runtime.services.auth.createOAuthClient(tenant.tenantId, 'cached on B', ['ledger:read']);
    const { accessToken } = await clientCredentialsToken(processA.url, client.id, secret);
    const onB = new GraphQLClient(processB.url, accessToken);
    await cachedOnB(onB);

    await tenant.adminViaA.ok(RevokeOAuthClientDocument, { input: { id: client.id } });
    expect(await refusedBefore(Date.now() + BOUND_MS, onB)).toBe(true);
    expectInvalidToken(await onB.request(MeDocument));
  });
});

/**
 * Redis pub/sub delivers at most once: a process whose connection dropped missed what was announced
 * meanwhile. So once its subscription is back it drops everything it cached. Here process B reaches
 * Redis through a proxy the test cuts; AUTH_CACHE_TTL_MS=0 makes B trust nothing while its feed is
 * down, so that a cache hit on B shows its feed is live again.
 */
describeWithMysqlAndRedis(`A process whose Redis connection came back drops what it cached [mysql+redis${skipNote}]`, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let redis: Redis;
  let a: Runtime;
  let b: Runtime;

  beforeAll(async () => {
    database = await createTestDatabase('mysql');
    const redisUrl = new URL(String(process.env.TEST_REDIS_URL));
    proxy = await TcpProxy.start(redisUrl.hostname, Number(redisUrl.port || 6379));
    const viaProxy = new URL(redisUrl.toString());
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-auth-cache-'));
    const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
    a = await bootstrap(testRuntimeConfig(database.url, { env: { DATA_DIR: dataDir, REDIS_URL: redisUrl.toString() } }), { log });
    b = await bootstrap(testRuntimeConfig(database.url, { env: { DATA_DIR: dataDir, REDIS_URL: viaProxy.toString(), AUTH_CACHE_TTL_MS: '0' } }), { log });
    redis = new Redis(redisUrl.toString());
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    redis?.disconnect();
    await proxy?.close();
    await database?.drop();
  });

  const onB = (secret: string) => b.services.auth.authenticate(`Bearer ${secret}`, SOURCE);

  async function statementsOnB(work: () => Promise<unknown>): Promise<number> {
    const before = b.statements.count;
    await work();
    return b.statements.count - before;
  }

  it('refuses on B a key revoked through A while B was cut off from Redis', async () => {
    await feedsListening(redis, 2);
    const tenant = await a.services.tenancy.createTenant('Reconnect');
    const revoked = await a.services.auth.createApiKey(tenant.id, { name: 'revoked while B was away' });
    const probe = await a.services.auth.createApiKey(tenant.id, { name: 'probe' });
    await onB(revoked.secret);
    expect(await statementsOnB(() => onB(revoked.secret))).toBe(0);

    await proxy.cut();
    await a.services.auth.revokeApiKey(tenant.id, revoked.apiKey.id);
    await proxy.restore();

    // B's feed is live again once a verdict it just read is served from its cache.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await onB(probe.secret);
        if ((await statementsOnB(() => onB(probe.secret))) === 0) break;
      } catch {
        // B's main Redis connection (the lockout's counts) may still be reconnecting.
      }
      if (Date.now() > deadline) throw new Error('B did not hear the credential change channel again within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await expect(onB(revoked.secret)).rejects.toMatchObject({ details: { reason: 'invalid_token' } });
  });
});
