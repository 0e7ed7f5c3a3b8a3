import { setRootFieldsOf } from '../helpers/graphql-client';
import crypto from 'node:crypto';
import {
  AccountsDocument,
  CreateAccountDocument,
  CreateApiKeyDocument,
  CreateOAuthClientDocument,
  RevokeOAuthClientDocument,
  type Scope,
  WhoAmIDocument,
} from '../generated/graphql';
import { expectInsufficientScope, expectInvalidToken } from '../helpers/auth-expectations';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { clientCredentialsToken, fetchJwks, originOf, readJwt, requestToken, type TokenResponse } from '../helpers/oauth-http';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';
import { TestClock } from '../helpers/test-clock';

const CLIENT_ID = /^cli_[0-9A-HJKMNP-TV-Z]{26}$/;

/** RFC 6749 §5.2: a JSON error object, never cached. */
function expectOAuthError(response: TokenResponse, status: number, error: string): void {
  expect({ status: response.status, error: response.body.error }).toEqual({ status, error });
  expect(typeof response.body.error_description).toBe('string');
  expect(response.body.access_token).toBeUndefined();
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
}

describeEachDatabase('OAuth client credentials: clients, the token endpoint and its tokens on /graphql', (kind) => {
  let app: TestApp;
  const clock = new TestClock();

  beforeAll(async () => {
    // Lockout (10 failures per client id) is tested on its own; here the refusals must not lock anyone out.
    app = await startTestApp(kind, { clock, env: { AUTH_LOCKOUT_ATTEMPTS: '1000' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  async function createClient(scopes: Scope[], name = 'pos backend') {
    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name, scopes } });
    return { clientId: createOAuthClient.client.id, clientSecret: createOAuthClient.clientSecret, client: createOAuthClient.client };
  }

  it('creates a client whose secret is shown once and stored only as a hash', async () => {
    const { clientId, clientSecret, client } = await createClient(['LEDGER_WRITE', 'LEDGER_READ']);
    expect(clientId).toMatch(CLIENT_ID);
    expect(clientSecret).toMatch(/^rcs_[0-9A-Za-z]{48}$/);
    expect(client).toMatchObject({ name: 'pos backend', scopes: ['LEDGER_READ', 'LEDGER_WRITE'], revokedAt: null });

    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT * FROM oauth_clients WHERE id = ?', [clientId]);
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(clientSecret);
    expect(JSON.stringify(rows)).not.toContain(clientSecret.slice(4));
    expect(rows[0].secret_hash).toBe(crypto.createHash('sha256').update(clientSecret).digest('hex'));

    // No field of the schema ever gives the secret back.
    const introspection = await app.client.raw({ query: '{ __type(name: "OAuthClient") { fields { name } } }' });
    const fields = (introspection.data as { __type: { fields: { name: string }[] } }).__type.fields.map((f) => f.name);
    expect(fields.sort()).toEqual(['createdAt', 'id', 'name', 'revokedAt', 'scopes']);
  });

  it('refuses unknown scopes and an empty scope list when creating a client', async () => {
    // An unknown scope is not a Scope value: refused while coercing the variables.
    for (const scopes of [['LEDGER_READ', 'root'], []]) {
      const result = await app.client.request(CreateOAuthClientDocument, { input: { name: 'bad', scopes: scopes as Scope[] } });
      expect(result.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
    }
  });

  it.each([
    ['HTTP Basic', 'basic'],
    ['the form body', 'body'],
  ] as const)('issues a Bearer access token to a client authenticated with %s', async (_label, how) => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ', 'LEDGER_WRITE']);
    const response = await requestToken(app.url, {
      ...(how === 'basic' ? { basic: { clientId, clientSecret } } : {}),
      form: { grant_type: 'client_credentials', ...(how === 'body' ? { client_id: clientId, client_secret: clientSecret } : {}) },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('pragma')).toBe('no-cache');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(response.body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'ledger:read ledger:write' });
    expect(response.body.refresh_token).toBeUndefined();

    const token = String(response.body.access_token);
    const { header, claims } = readJwt(token);
    const { body: jwks } = await fetchJwks(app.url);
    expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: jwks.keys[0].kid });
    const nowSeconds = Math.floor(clock.now().getTime() / 1000);
    expect(claims).toMatchObject({
      iss: 'reckon',
      aud: 'reckon-api',
      sub: clientId,
      client_id: clientId,
      tenant_id: app.tenantId,
      scope: 'ledger:read ledger:write',
      iat: nowSeconds,
      nbf: nowSeconds,
      exp: nowSeconds + 900,
    });
    expect(typeof claims.jti).toBe('string');

    const { me } = await app.client.withKey(token).ok(WhoAmIDocument);
    expect(me).toEqual({
      credentialId: clientId,
      credentialKind: 'OAUTH_TOKEN',
      scopes: ['LEDGER_READ', 'LEDGER_WRITE'],
      expiresAt: new Date((nowSeconds + 900) * 1000).toISOString(),
      tenant: { id: app.tenantId, name: 'Acme' },
    });
  });

  it('narrows the token to a requested subset of the client’s scopes', async () => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ', 'LEDGER_WRITE']);
    const narrowed = await clientCredentialsToken(app.url, clientId, clientSecret, 'ledger:read');
    expect(narrowed.scope).toBe('ledger:read');
    expect(readJwt(narrowed.accessToken).claims.scope).toBe('ledger:read');
    const { me } = await app.client.withKey(narrowed.accessToken).ok(WhoAmIDocument);
    expect(me.scopes).toEqual(['LEDGER_READ']);

    const repeated = await clientCredentialsToken(app.url, clientId, clientSecret, 'ledger:write ledger:read ledger:write');
    expect(repeated.scope).toBe('ledger:read ledger:write');
  });

  it.each([
    ['a scope the client lacks', 'admin'],
    ['an unknown scope', 'ledger:read root'],
    ['an empty scope', ''],
  ])('answers invalid_scope for %s', async (_label, scope) => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ', 'LEDGER_WRITE']);
    const response = await requestToken(app.url, { basic: { clientId, clientSecret }, form: { grant_type: 'client_credentials', scope } });
    expectOAuthError(response, 400, 'invalid_scope');
  });

  it('answers unsupported_grant_type for any grant but client_credentials', async () => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ']);
    for (const grantType of ['password', 'authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:jwt-bearer']) {
      const response = await requestToken(app.url, {
        basic: { clientId, clientSecret },
        form: { grant_type: grantType, username: 'a', password: 'b', refresh_token: 'x' },
      });
      expectOAuthError(response, 400, 'unsupported_grant_type');
    }
  });

  it('answers invalid_request without grant_type, and when the client authenticates both ways at once', async () => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ']);
    expectOAuthError(await requestToken(app.url, { basic: { clientId, clientSecret }, form: {} }), 400, 'invalid_request');
    expectOAuthError(
      await requestToken(app.url, { form: { client_id: clientId, client_secret: clientSecret, scope: 'ledger:read' } }),
      400,
      'invalid_request',
    );
    const both = await requestToken(app.url, {
      basic: { clientId, clientSecret },
      form: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret },
    });
    expectOAuthError(both, 400, 'invalid_request');
  });

  it('answers an unreadable body with a JSON invalid_request, never an HTML page or a stack trace', async () => {
    const url = `${originOf(app.url)}/oauth/token`;
    const attempts = [
      await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type": ' }),
      await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&padding=${'x'.repeat(20_000)}`,
      }),
    ];
    for (const response of attempts) {
      const text = await response.text();
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(JSON.parse(text)).toMatchObject({ error: 'invalid_request' });
      expect(text).not.toMatch(/node_modules|at [A-Za-z.]+ \(|SyntaxError/);
    }
  });

  it('answers invalid_client with 401 and a WWW-Authenticate challenge for every failed client authentication', async () => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ']);
    const other = await createClient(['LEDGER_READ']);
    const form = { grant_type: 'client_credentials' };
    // The last character changed for another one: a fixed replacement equals the original one time in 64.
    const wrongSecret = clientSecret.slice(0, -1) + (clientSecret.endsWith('0') ? '1' : '0');
    const attempts: [string, TokenResponse][] = [
      ['no credentials', await requestToken(app.url, { form })],
      ['wrong secret (Basic)', await requestToken(app.url, { basic: { clientId, clientSecret: `rcs_${'x'.repeat(48)}` }, form })],
      ['another client’s secret (Basic)', await requestToken(app.url, { basic: { clientId, clientSecret: other.clientSecret }, form })],
      ['wrong secret (body)', await requestToken(app.url, { form: { ...form, client_id: clientId, client_secret: wrongSecret } })],
      ['unknown client', await requestToken(app.url, { basic: { clientId: 'cli_01ARZ3NDEKTSV4RRFFQ69G5FAV', clientSecret }, form })],
      ['malformed client id', await requestToken(app.url, { basic: { clientId: "' OR 1=1 --", clientSecret }, form })],
      ['secret only (body)', await requestToken(app.url, { form: { ...form, client_secret: clientSecret } })],
      ['Basic without a colon', await requestToken(app.url, { headers: { authorization: `Basic ${Buffer.from(clientId).toString('base64')}` }, form })],
    ];
    for (const [label, response] of attempts) {
      expect({ label, status: response.status, error: response.body.error }).toEqual({ label, status: 401, error: 'invalid_client' });
      expectOAuthError(response, 401, 'invalid_client');
      expect({ label, challenge: response.headers.get('www-authenticate') }).toEqual({ label, challenge: 'Basic realm="reckon"' });
    }
    // The right secret still works: failures below the lockout threshold lock nothing.
    await clientCredentialsToken(app.url, clientId, clientSecret);
  });

  it('refuses a revoked client new tokens and stops its existing tokens at once', async () => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ']);
    const { accessToken } = await clientCredentialsToken(app.url, clientId, clientSecret);
    await app.client.withKey(accessToken).ok(AccountsDocument, { first: 1 });

    const { revokeOAuthClient } = await app.client.ok(RevokeOAuthClientDocument, { input: { id: clientId } });
    expect(revokeOAuthClient.client.revokedAt).toBe(clock.now().toISOString());

    expectInvalidToken(await app.client.withKey(accessToken).request(AccountsDocument, { first: 1 }));
    const refused = await requestToken(app.url, { basic: { clientId, clientSecret }, form: { grant_type: 'client_credentials' } });
    expectOAuthError(refused, 401, 'invalid_client');

    const twice = await app.client.request(RevokeOAuthClientDocument, { input: { id: clientId } });
    expect(twice.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
  });

  it('stops a token at its expiry', async () => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ']);
    const { accessToken } = await clientCredentialsToken(app.url, clientId, clientSecret);
    clock.advanceSeconds(899);
    await app.client.withKey(accessToken).ok(WhoAmIDocument);
    clock.advanceSeconds(1);
    expectInvalidToken(await app.client.withKey(accessToken).request(WhoAmIDocument));
  });

  it('lets a token do what its scopes allow and refuses the rest with 403 insufficient_scope, changing nothing', async () => {
    const { clientId, clientSecret } = await createClient(['LEDGER_READ', 'LEDGER_WRITE']);
    const reader = app.client.withKey((await clientCredentialsToken(app.url, clientId, clientSecret, 'ledger:read')).accessToken);
    const writer = app.client.withKey((await clientCredentialsToken(app.url, clientId, clientSecret)).accessToken);

    const { createAccount } = await writer.ok(CreateAccountDocument, {
      input: { code: `oauth-${crypto.randomUUID()}`, name: 'Till', type: 'ASSET', currency: 'USD' },
    });
    const { accounts } = await reader.ok(AccountsDocument, { first: 500 });
    expect(accounts.edges.map((edge) => edge.node.id)).toContain(createAccount.account.id);

    const before = await takeLedgerSnapshot(app.runtime.dataSource);
    const refused = await reader.request(CreateAccountDocument, {
      input: { code: `oauth-${crypto.randomUUID()}`, name: 'Till 2', type: 'ASSET', currency: 'USD' },
    });
    expectInsufficientScope(refused, 'ledger:write');
    expect(setRootFieldsOf(refused.data)).toBeNull();
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);

    // Credentials are the admin scope's business, which neither token has.
    expectInsufficientScope(await writer.request(CreateApiKeyDocument, { input: { name: 'escalation' } }), 'admin');
    expectInsufficientScope(await writer.request(CreateOAuthClientDocument, { input: { name: 'escalation', scopes: ['ADMIN'] } }), 'admin');
  });

  it('gives an admin client’s token the admin scope', async () => {
    const { clientId, clientSecret } = await createClient(['ADMIN']);
    const admin = app.client.withKey((await clientCredentialsToken(app.url, clientId, clientSecret)).accessToken);
    const { createApiKey } = await admin.ok(CreateApiKeyDocument, { input: { name: 'made by a token', scopes: ['LEDGER_READ'] } });
    expect(createApiKey.apiKey.scopes).toEqual(['LEDGER_READ']);
  });
});
