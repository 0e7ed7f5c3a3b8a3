import { setRootFieldsOf } from '../helpers/graphql-client';
import { randomBase62 } from '../../src/modules/auth/api-key-format';
import { AccountCodesDocument, CreateAccountDocument, MeDocument } from '../generated/graphql';
import { connectFrom, requestFrom, tokenFrom } from '../helpers/from-address';
import type { GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { clientCredentialsToken } from '../helpers/oauth-http';
import { originOf, RestClient } from '../helpers/rest-client';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A key of the app's tenant, made in the service so that making it spends none of the key's requests. */
async function newKey(app: TestApp, name: string): Promise<string> {
  return (await app.runtime.services.auth.createApiKey(app.tenantId, { name })).secret;
}

/**
 * The key's prefix (`rk_` and 12 characters, which the lockout counts) with another secret: the
 * shape of a key, but the wrong secret, whose checksum fails too.
 */
function wrongSecretOf(apiKey: string): string {
  return `${apiKey.slice(0, 'rk_'.length + 12 + 1)}${randomBase62(46)}`;
}

function me(app: TestApp, apiKey: string): Promise<GraphQLResult<unknown>> {
  return app.client.withKey(apiKey).request(MeDocument);
}

function expectUnauthenticated(result: GraphQLResult<unknown>, message: RegExp): void {
  expect({ status: result.status, code: result.errors?.[0]?.extensions?.code, data: setRootFieldsOf(result.data) }).toEqual({
    status: 401,
    code: 'UNAUTHENTICATED',
    data: null,
  });
  expect(result.errors?.[0]?.message).toMatch(message);
  expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="reckon", error="invalid_token"/);
}

function expectLocked(result: GraphQLResult<unknown>, lockoutSeconds: number): void {
  expectUnauthenticated(result, /^Too many failed attempts from this address: it is locked for \d+ s$/);
  const retryAfter = Number(result.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThan(lockoutSeconds - 30);
  expect(retryAfter).toBeLessThanOrEqual(lockoutSeconds);
}

describeEachDatabase('requests per credential per second (RATE_LIMIT_PER_SECOND=5)', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { RATE_LIMIT_PER_SECOND: '5' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers the 6th request in a second with 429 RATE_LIMITED and Retry-After, changes nothing, and spares other credentials', async () => {
    const limited = await newKey(app, 'limited');
    const sameTenant = await newKey(app, 'same tenant');
    const otherTenant = await app.createTenant('Other');

    const firstFive = await Promise.all(Array.from({ length: 5 }, () => me(app, limited)));
    expect(firstFive.map((result) => result.status)).toEqual([200, 200, 200, 200, 200]);
    const sixth = await app.client
      .withKey(limited)
      .request(CreateAccountDocument, { input: { code: 'rate-limited', name: 'Never created', type: 'ASSET', currency: 'USD' } });
    // Within the same second, other credentials have budgets of their own.
    const [sameTenantResult, otherTenantResult] = await Promise.all([me(app, sameTenant), me(app, otherTenant.apiKey)]);

    expect({ status: sixth.status, code: sixth.errors?.[0]?.extensions?.code, data: setRootFieldsOf(sixth.data) }).toEqual({
      status: 429,
      code: 'RATE_LIMITED',
      data: null,
    });
    expect(sixth.headers.get('retry-after')).toBe('1');
    expect(sixth.errors?.[0]?.message).toMatch(/Too many requests for this credential; retry after 1 s/);
    expect([sameTenantResult.status, otherTenantResult.status]).toEqual([200, 200]);

    await sleep(1100);
    const { accounts } = await app.client.withKey(limited).ok(AccountCodesDocument, { first: 500 });
    expect(accounts.edges.map((edge) => edge.node.code)).not.toContain('rate-limited');
  });

  it('counts REST calls in the same allowance: GraphQL and /v1 together, then 429 problem+json with Retry-After', async () => {
    const limited = await newKey(app, 'limited over REST');
    const rest = new RestClient(originOf(app.url), limited);
    await sleep(1100);
    // Three over GraphQL and two over REST spend the second's five.
    const spent = await Promise.all([me(app, limited), me(app, limited), me(app, limited), rest.get('/me'), rest.get('/accounts', { query: { limit: 1 } })]);
    expect(spent.map((result) => result.status)).toEqual([200, 200, 200, 200, 200]);
    const sixth = await rest.post('/accounts', { code: 'rate-limited-rest', name: 'Never created', type: 'ASSET', currency: 'USD' }, { idempotencyKey: 'rate-limited-rest' });
    expect({ status: sixth.status, contentType: sixth.contentType, code: sixth.body.code, retryable: sixth.body.retryable }).toEqual({
      status: 429,
      contentType: 'application/problem+json; charset=utf-8',
      code: 'RATE_LIMITED',
      retryable: true,
    });
    expect(sixth.headers.get('retry-after')).toBe('1');

    await sleep(1100);
    const { accounts } = await app.client.withKey(limited).ok(AccountCodesDocument, { first: 500 });
    expect(accounts.edges.map((edge) => edge.node.code)).not.toContain('rate-limited-rest');
    // The refused key was not claimed: the same request now goes through.
    const retried = await rest.post('/accounts', { code: 'rate-limited-rest', name: 'Created on retry', type: 'ASSET', currency: 'USD' }, { idempotencyKey: 'rate-limited-rest' });
    expect(retried.status).toBe(201);
  });
});

/** Clients on three machines: all of 127.0.0.0/8 is loopback, and each address is another source. */
const ATTACKER = '127.0.0.2';
const POS_TERMINAL = '127.0.0.3';
const BACK_OFFICE = '127.0.0.4';

describeEachDatabase('10 failed authentications lock a key prefix or an OAuth client id from that address only, for 30 minutes', (kind) => {
  const LOCKOUT_SECONDS = 1800;
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  const meFrom = (address: string, apiKey: string) => requestFrom(app.url, address, apiKey, MeDocument);

  it('locks the attacker’s address after 10 wrong secrets for a prefix; the real key goes on working from every other address', async () => {
    const key = await newKey(app, 'attacked');
    expect((await meFrom(POS_TERMINAL, key)).status).toBe(200);

    for (let attempt = 1; attempt <= 10; attempt += 1) {
      expectUnauthenticated(await meFrom(ATTACKER, wrongSecretOf(key)), /^Invalid credentials$/);
    }
    expectLocked(await meFrom(ATTACKER, wrongSecretOf(key)), LOCKOUT_SECONDS);
    // From the attacker's address the lock holds even for the right secret, refused without a lookup.
    const before = app.runtime.statements.count;
    expectLocked(await meFrom(ATTACKER, key), LOCKOUT_SECONDS);
    expect(app.runtime.statements.count).toBe(before);

    // The key's owners, elsewhere, never notice: a prefix seen in a log cannot cut off a POS fleet.
    expect((await meFrom(POS_TERMINAL, key)).status).toBe(200);
    expect((await meFrom(BACK_OFFICE, key)).status).toBe(200);
    expect((await me(app, key)).status).toBe(200);
    // Nor does a WebSocket opened with it; the attacker's is refused with the lock.
    expect(await connectFrom(app.url, POS_TERMINAL, key)).toEqual({ connected: true });
    const refused = await connectFrom(app.url, ATTACKER, key);
    expect(refused).toMatchObject({ connected: false, code: 4403 });
    expect(refused.reason).toMatch(/^UNAUTHENTICATED: Too many failed attempts from this address/);
  });

  it('never refuses the right secret from an address because of failures for its prefix from another address', async () => {
    const key = await newKey(app, 'owner at the back office');
    for (let attempt = 1; attempt <= 12; attempt += 1) await meFrom(POS_TERMINAL, wrongSecretOf(key));
    expectLocked(await meFrom(POS_TERMINAL, key), LOCKOUT_SECONDS);

    // The back office itself mistyped it nine times: under the limit, and its own count.
    for (let attempt = 1; attempt <= 9; attempt += 1) {
      expectUnauthenticated(await meFrom(BACK_OFFICE, wrongSecretOf(key)), /^Invalid credentials$/);
    }
    expect((await meFrom(BACK_OFFICE, key)).status).toBe(200);
  });

  it('does not let a forged X-Forwarded-For escape the lock when no proxy is trusted (TRUST_PROXY off)', async () => {
    const key = await newKey(app, 'forged header');
    for (let attempt = 1; attempt <= 10; attempt += 1) {
      await requestFrom(app.url, ATTACKER, wrongSecretOf(key), MeDocument, {}, { 'x-forwarded-for': `198.51.100.${attempt}` });
    }
    expectLocked(await requestFrom(app.url, ATTACKER, key, MeDocument, {}, { 'x-forwarded-for': '198.51.100.99' }), LOCKOUT_SECONDS);
    expect((await meFrom(POS_TERMINAL, key)).status).toBe(200);
  });

  it('locks an OAuth client id from the attacker’s address after 10 wrong secrets; its owner still gets tokens elsewhere', async () => {
    const { client, secret } = await app.runtime.services.auth.createOAuthClient(app.tenantId, 'attacked', ['ledger:read']);

    for (let attempt = 1; attempt <= 10; attempt += 1) {
      const wrong = await tokenFrom(app.url, ATTACKER, client.id, `rcs_${randomBase62(48)}`);
      expect({ status: wrong.status, body: wrong.body }).toEqual({
        status: 401,
        body: { error: 'invalid_client', error_description: 'Client authentication failed' },
      });
    }
    for (const clientSecret of [`rcs_${randomBase62(48)}`, secret]) {
      const locked = await tokenFrom(app.url, ATTACKER, client.id, clientSecret);
      expect({ status: locked.status, error: locked.body.error }).toEqual({ status: 401, error: 'invalid_client' });
      expect(locked.body.error_description).toMatch(/^Too many failed attempts from this address: it is locked for \d+ s$/);
      expect(locked.headers.get('www-authenticate')).toMatch(/^Basic realm="reckon"/);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(LOCKOUT_SECONDS - 30);
      expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(LOCKOUT_SECONDS);
    }

    const granted = await tokenFrom(app.url, POS_TERMINAL, client.id, secret);
    expect({ status: granted.status, scope: granted.body.scope }).toEqual({ status: 200, scope: 'ledger:read' });
    expect((await clientCredentialsToken(app.url, client.id, secret)).scope).toBe('ledger:read');
  });
});

describeEachDatabase('an address that fails AUTH_LOCKOUT_SOURCE_ATTEMPTS times, whatever it tries, is locked for every credential', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { AUTH_LOCKOUT_SOURCE_ATTEMPTS: '5' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('locks a guesser that tries a new prefix each time, and only the guesser', async () => {
    const key = await newKey(app, 'never guessed');
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const guessed = wrongSecretOf(await newKey(app, `guess ${attempt}`));
      expectUnauthenticated(await requestFrom(app.url, ATTACKER, guessed, MeDocument), /^Invalid credentials$/);
    }
    expectLocked(await requestFrom(app.url, ATTACKER, key, MeDocument), 1800);
    expect((await requestFrom(app.url, POS_TERMINAL, key, MeDocument)).status).toBe(200);
  });
});

describeEachDatabase('with TRUST_PROXY, the address is the client’s from X-Forwarded-For', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { TRUST_PROXY: 'loopback' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('locks the forwarded client that failed, not the proxy every client comes through', async () => {
    const key = await newKey(app, 'behind a proxy');
    const from = (client: string, apiKey: string) => app.client.withKey(apiKey).request(MeDocument, {}, { 'x-forwarded-for': client });
    for (let attempt = 1; attempt <= 10; attempt += 1) {
      expectUnauthenticated(await from('203.0.113.7', wrongSecretOf(key)), /^Invalid credentials$/);
    }
    expectLocked(await from('203.0.113.7', key), 1800);
    expect((await from('198.51.100.20', key)).status).toBe(200);
    expect((await from('2001:db8::20', key)).status).toBe(200);
  });
});

describeEachDatabase('a lock lasts AUTH_LOCKOUT_SECONDS from the failure that locks, then lifts', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { AUTH_LOCKOUT_ATTEMPTS: '3', AUTH_LOCKOUT_SECONDS: '3' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('counts the full period from the locking failure, however old the first failure is', async () => {
    const key = await newKey(app, 'slowly attacked');
    expectUnauthenticated(await me(app, wrongSecretOf(key)), /^Invalid credentials$/);
    // The first failure opened a 3-second counting window; the lock must not end with it.
    await sleep(2000);
    expectUnauthenticated(await me(app, wrongSecretOf(key)), /^Invalid credentials$/);
    expectUnauthenticated(await me(app, wrongSecretOf(key)), /^Invalid credentials$/);

    const locked = await me(app, key);
    expectUnauthenticated(locked, /it is locked/);
    expect(locked.headers.get('retry-after')).toBe('3');

    await sleep(1500);
    expectUnauthenticated(await me(app, key), /it is locked/);

    await sleep(2000);
    expect((await me(app, key)).status).toBe(200);
    // The lock lifted with its count: one more failure does not lock again.
    expectUnauthenticated(await me(app, wrongSecretOf(key)), /^Invalid credentials$/);
    expect((await me(app, key)).status).toBe(200);
  });
});
