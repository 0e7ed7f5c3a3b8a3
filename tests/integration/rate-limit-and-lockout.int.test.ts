import { setRootFieldsOf } from '../helpers/graphql-client';
import { randomBase62 } from '../../src/modules/auth/api-key-format';
import { AccountCodesDocument, CreateAccountDocument, CreateOAuthClientDocument, MeDocument } from '../generated/graphql';
import type { GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { clientCredentialsToken, requestToken } from '../helpers/oauth-http';

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
  expectUnauthenticated(result, /Too many failed attempts with this key: it is locked/);
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
});

describeEachDatabase('10 failed authentications lock a key prefix or an OAuth client for 30 minutes', (kind) => {
  const LOCKOUT_SECONDS = 1800;
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('locks an API key after 10 wrong secrets for its prefix: the 11th and then the right key are refused', async () => {
    const key = await newKey(app, 'attacked');
    const neighbour = await newKey(app, 'neighbour');
    expect((await me(app, key)).status).toBe(200);

    for (let attempt = 1; attempt <= 10; attempt += 1) {
      expectUnauthenticated(await me(app, wrongSecretOf(key)), /^Invalid credentials$/);
    }
    expectLocked(await me(app, wrongSecretOf(key)), LOCKOUT_SECONDS);

    // The right key is locked too, and refused without even looking it up.
    const before = app.runtime.statements.count;
    const right = await me(app, key);
    expect(app.runtime.statements.count).toBe(before);
    expectLocked(right, LOCKOUT_SECONDS);

    // Another key of the same tenant has a prefix of its own and works.
    expect((await me(app, neighbour)).status).toBe(200);
  });

  it('locks an OAuth client after 10 wrong secrets: the 11th and then the right secret get 401 invalid_client', async () => {
    const create = (name: string) => app.client.ok(CreateOAuthClientDocument, { input: { name, scopes: ['ledger:read'] } });
    const { createOAuthClient: attacked } = await create('attacked');
    const { createOAuthClient: neighbour } = await create('neighbour');
    const token = (clientSecret: string) =>
      requestToken(app.url, { basic: { clientId: attacked.client.id, clientSecret }, form: { grant_type: 'client_credentials' } });

    for (let attempt = 1; attempt <= 10; attempt += 1) {
      const wrong = await token(`rcs_${randomBase62(48)}`);
      expect({ status: wrong.status, body: wrong.body }).toEqual({
        status: 401,
        body: { error: 'invalid_client', error_description: 'Client authentication failed' },
      });
    }
    for (const secret of [`rcs_${randomBase62(48)}`, attacked.clientSecret]) {
      const locked = await token(secret);
      expect({ status: locked.status, body: locked.body }).toEqual({
        status: 401,
        body: { error: 'invalid_client', error_description: 'Too many failed attempts: the client is locked' },
      });
      expect(locked.headers.get('www-authenticate')).toMatch(/^Basic realm="reckon"/);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(LOCKOUT_SECONDS - 30);
      expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(LOCKOUT_SECONDS);
    }

    // Another client of the same tenant still gets its tokens.
    const granted = await clientCredentialsToken(app.url, neighbour.client.id, neighbour.clientSecret);
    expect(granted.scope).toBe('ledger:read');
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
