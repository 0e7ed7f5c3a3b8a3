import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { generateApiKey } from '../../src/modules/auth/api-key-format';
import type { AppError } from '../../src/common/errors';
import { type RunningServer, startServer } from '../../src/server/app';
import { MeDocument, RevokeApiKeyDocument, RevokeOAuthClientDocument, RollApiKeyDocument } from '../generated/graphql';
import { expectInvalidToken } from '../helpers/auth-expectations';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, startTestApp, type TestApp, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { clientCredentialsToken } from '../helpers/oauth-http';
import { TestClock } from '../helpers/test-clock';

/**
 * The authentication cache in one API process: a credential seen before is authenticated without a
 * database statement, and a revoke, a roll or the credential's expiry takes effect on the very next
 * request. Refusals are never cached, so the lockout still counts every wrong secret.
 */
const SOURCE = '192.0.2.10';
const ATTACKER = '198.51.100.66';
const LOCKOUT_ATTEMPTS = 5;

describeEachDatabase('Authentication cache in one process: no statement for a known credential, forgotten on revoke, roll and expiry', (kind) => {
  let app: TestApp;
  const clock = new TestClock();

  beforeAll(async () => {
    // A long TTL, so that nothing here depends on how fast the machine is; the TTL has its own suite below.
    app = await startTestApp(kind, {
      clock,
      env: { AUTH_CACHE_MAX_ENTRIES: '4', AUTH_CACHE_TTL_MS: '600000', AUTH_LOCKOUT_ATTEMPTS: String(LOCKOUT_ATTEMPTS) },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  async function statementsOf(work: () => Promise<unknown>): Promise<number> {
    const before = app.runtime.statements.count;
    await work();
    return app.runtime.statements.count - before;
  }

  const authenticate = (credential: string, source = SOURCE) => app.runtime.services.auth.authenticate(`Bearer ${credential}`, source);

  async function refusal(credential: string, source = SOURCE): Promise<string | undefined> {
    try {
      await authenticate(credential, source);
      return undefined;
    } catch (error) {
      return String((error as AppError).details?.reason);
    }
  }

  async function newKey(name: string, input: { scopes?: string[]; expiresAt?: Date } = {}) {
    const { apiKey, secret } = await app.runtime.services.auth.createApiKey(app.tenantId, { name, ...input });
    return { id: apiKey.id, secret, client: app.client.withKey(secret) };
  }

  /** A GraphQL request that needs nothing but authentication. */
  async function typenameWith(secret: string): Promise<number> {
    const response = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    await response.text();
    return response.status;
  }

  it('authenticates a key it has seen without a statement, over HTTP as in the service', async () => {
    const key = await newKey('cached', { scopes: ['ledger:read'] });
    // The first use reads the row (and records the use).
    expect(await statementsOf(() => authenticate(key.secret))).toBeGreaterThan(0);
    let principal;
    expect(await statementsOf(async () => (principal = await authenticate(key.secret)))).toBe(0);
    expect(principal).toEqual({ tenantId: app.tenantId, credentialId: key.id, credentialKind: 'API_KEY', scopes: new Set(['ledger:read']), expiresAt: null });
    expect(await statementsOf(async () => expect(await typenameWith(key.secret)).toBe(200))).toBe(0);
  });

  it('refuses a revoked key on the next request, though it was cached', async () => {
    const key = await newKey('to revoke');
    await key.client.ok(MeDocument);
    let principal = await authenticate(key.secret);
    expect(await statementsOf(async () => (principal = await authenticate(key.secret)))).toBe(0);

    await app.client.ok(RevokeApiKeyDocument, { input: { id: key.id } });
    expectInvalidToken(await key.client.request(MeDocument));
    expect(await refusal(key.secret)).toBe('invalid_token');
    expect(await app.runtime.services.auth.isStillValid(principal)).toBe(false);
  });

  it('applies a roll’s new expiry of the old key at once, though the old key was cached without one', async () => {
    const key = await newKey('to roll');
    await authenticate(key.secret);
    expect(await statementsOf(() => authenticate(key.secret))).toBe(0);
    const until = new Date(clock.now().getTime() + 3_600_000);

    const { rollApiKey } = await app.client.ok(RollApiKeyDocument, { input: { id: key.id, oldKeyExpiresAt: until.toISOString() } });
    // Read again, with the expiry the roll set, then cached with it.
    expect(await statementsOf(async () => expect((await authenticate(key.secret)).expiresAt).toEqual(until))).toBeGreaterThan(0);
    expect(await statementsOf(() => authenticate(key.secret))).toBe(0);
    expect((await authenticate(rollApiKey.secret)).credentialId).toBe(rollApiKey.apiKey.id);

    clock.set(until);
    expect(await refusal(key.secret)).toBe('invalid_token');
    expectInvalidToken(await key.client.request(MeDocument));
    expect((await authenticate(rollApiKey.secret)).credentialId).toBe(rollApiKey.apiKey.id);
  });

  it('never serves a cached key at or after its own expiry', async () => {
    // Within the minute of last-use resolution, so that the cached request writes nothing either.
    const expiresAt = new Date(clock.now().getTime() + 30_000);
    const key = await newKey('expiring', { expiresAt });
    await authenticate(key.secret);
    clock.set(new Date(expiresAt.getTime() - 1));
    expect(await statementsOf(() => authenticate(key.secret))).toBe(0);
    clock.set(expiresAt);
    expect(await refusal(key.secret)).toBe('invalid_token');
    expectInvalidToken(await key.client.request(MeDocument));
  });

  it('authenticates an access token of a known client without a statement, and refuses it once the client is revoked', async () => {
    const { client, secret } = await app.runtime.services.auth.createOAuthClient(app.tenantId, 'cached client', ['ledger:read']);
    const { accessToken } = await clientCredentialsToken(app.url, client.id, secret);
    await authenticate(accessToken);
    expect(await statementsOf(() => authenticate(accessToken))).toBe(0);
    const principal = await authenticate(accessToken);
    expect(await statementsOf(async () => expect(await app.runtime.services.auth.isStillValid(principal)).toBe(true))).toBe(0);

    await app.client.ok(RevokeOAuthClientDocument, { input: { id: client.id } });
    expect(await refusal(accessToken)).toBe('invalid_token');
    expect(await app.runtime.services.auth.isStillValid(principal)).toBe(false);
  });

  it('checks a WebSocket’s key without a statement once seen, and sees its revocation at once', async () => {
    const key = await newKey('socket');
    const principal = await authenticate(key.secret);
    expect(await app.runtime.services.auth.isStillValid(principal)).toBe(true);
    expect(await statementsOf(async () => expect(await app.runtime.services.auth.isStillValid(principal)).toBe(true))).toBe(0);
    await app.runtime.services.auth.revokeApiKey(app.tenantId, key.id);
    expect(await app.runtime.services.auth.isStillValid(principal)).toBe(false);
  });

  it('keeps no refusal: wrong keys each read the database and count toward the lockout, and push no good key out', async () => {
    const key = await newKey('busy');
    await authenticate(key.secret);
    // Many more well-formed, unknown keys than the cache holds (4): each is read, refused, and not kept.
    for (let attempt = 0; attempt < 12; attempt += 1) {
      const unknown = generateApiKey().secret;
      expect(await statementsOf(async () => expect(await refusal(unknown, `203.0.113.${attempt}`)).toBe('invalid_token'))).toBeGreaterThan(0);
    }
    expect(await statementsOf(() => authenticate(key.secret))).toBe(0);

    // The same wrong key again and again is read every time, and locks its prefix from that address…
    const wrong = `${key.secret.slice(0, 'rk_'.length + 12 + 1)}${generateApiKey().secret.slice(-46)}`;
    for (let attempt = 0; attempt < LOCKOUT_ATTEMPTS; attempt += 1) {
      expect(await statementsOf(async () => expect(await refusal(wrong, ATTACKER)).toBe('invalid_token'))).toBeGreaterThan(0);
    }
    // …even for the right, cached secret, while it goes on working from everywhere else.
    expect(await refusal(key.secret, ATTACKER)).toBe('locked');
    expect(await statementsOf(() => authenticate(key.secret))).toBe(0);
  });

  it('holds at most AUTH_CACHE_MAX_ENTRIES verdicts, the least recently used going first', async () => {
    const keys = [await newKey('lru 1'), await newKey('lru 2'), await newKey('lru 3'), await newKey('lru 4'), await newKey('lru 5')];
    for (const key of keys.slice(0, 4)) await authenticate(key.secret);
    await authenticate(keys[0].secret); // the first is now the most recently used; the second the least
    await authenticate(keys[4].secret);
    expect(await statementsOf(() => authenticate(keys[0].secret))).toBe(0);
    expect(await statementsOf(() => authenticate(keys[1].secret))).toBeGreaterThan(0);
  });
});

/**
 * Without Redis each process trusts what it cached for AUTH_CACHE_TTL_MS: a key revoked through one
 * process is refused by another once that has passed (README: one process is the supported setup
 * without Redis; the TTL bounds the staleness of any other).
 */
describeEachDatabase('Without Redis, another process refuses a revoked key within AUTH_CACHE_TTL_MS', (kind) => {
  const TTL_MS = 1000;
  let database: TestDatabase;
  const processes: { runtime: Runtime; server: RunningServer }[] = [];

  async function startApiProcess(dataDir: string) {
    const config = testRuntimeConfig(database.url, { env: { DATA_DIR: dataDir, AUTH_CACHE_TTL_MS: String(TTL_MS) } });
    const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
    const runtime = await bootstrap(config, { log });
    const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
    processes.push({ runtime, server });
    return { runtime, server };
  }

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-keys-'));
    await startApiProcess(dataDir);
    await startApiProcess(dataDir);
  });
  afterAll(async () => {
    for (const { runtime, server } of processes) {
      await server.close();
      await runtime.close();
    }
    await database?.drop();
  });

  it('refuses the key on the second process before the TTL has passed since the revoke answered', async () => {
    const [first, second] = processes;
    const tenant = await first.runtime.services.tenancy.createTenant('TTL');
    const admin = await first.runtime.services.auth.createApiKey(tenant.id, { name: 'admin' });
    const { apiKey, secret } = await first.runtime.services.auth.createApiKey(tenant.id, { name: 'revoked elsewhere' });
    const onSecond = new GraphQLClient(second.server.url, secret);
    await onSecond.ok(MeDocument);

    await new GraphQLClient(first.server.url, admin.secret).ok(RevokeApiKeyDocument, { input: { id: apiKey.id } });
    const deadline = Date.now() + TTL_MS;
    let refusedBeforeDeadline = false;
    while (!refusedBeforeDeadline && Date.now() < deadline) {
      refusedBeforeDeadline = (await onSecond.request(MeDocument)).status === 401;
    }
    expect(refusedBeforeDeadline).toBe(true);
    expectInvalidToken(await onSecond.request(MeDocument));
  });
});
