import { setRootFieldsOf } from '../helpers/graphql-client';
import crypto from 'node:crypto';
import { apiKeyPrefixOf } from '../../src/modules/auth/api-key-format';
import {
  AccountDocument,
  AccountsDocument,
  ApiKeysDocument,
  CreateAccountDocument,
  CreateApiKeyDocument,
  CreateOAuthClientDocument,
  NodeDocument,
  PostJournalEntryDocument,
  RevokeApiKeyDocument,
  RevokeOAuthClientDocument,
  RollApiKeyDocument,
  WhoAmIDocument,
  type ApiKeyPartsFragment,
  type ApiKeysQuery,
  type CreateApiKeyInput,
  type Scope,
} from '../generated/graphql';
import { expectInsufficientScope, expectInvalidToken } from '../helpers/auth-expectations';
import type { GraphQLClient, GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';
import { originOf } from '../helpers/oauth-http';
import { TestClock } from '../helpers/test-clock';

const API_KEY_SHAPE = /^rk_[0-9A-Za-z]{12}_[0-9A-Za-z]{46}$/;
const MINUTE_MS = 60_000;

describeEachDatabase('API keys: scoped, expiring, revoked and rolled', (kind) => {
  let app: TestApp;
  const clock = new TestClock();
  /** Every secret this suite was shown, to prove no listing ever shows one again. */
  const secretsShown: string[] = [];

  beforeAll(async () => {
    // Refused keys count toward the lockout (10 per prefix), which has its own tests.
    app = await startTestApp(kind, { clock, env: { AUTH_LOCKOUT_ATTEMPTS: '1000' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  async function newKey(input: CreateApiKeyInput) {
    const { createApiKey } = await app.client.ok(CreateApiKeyDocument, { input });
    secretsShown.push(createApiKey.secret);
    return { ...createApiKey, client: app.client.withKey(createApiKey.secret) };
  }

  async function credentialRowCounts() {
    const [keys] = await app.runtime.dataSource.query('SELECT COUNT(*) AS count FROM api_keys');
    const [clients] = await app.runtime.dataSource.query('SELECT COUNT(*) AS count FROM oauth_clients');
    return { apiKeys: Number(keys.count), oauthClients: Number(clients.count) };
  }

  it('makes keys in the rk_ format with a valid checksum, and stores only the prefix and a hash', async () => {
    const { secret, apiKey, client } = await newKey({ name: 'dashboard', scopes: ['LEDGER_READ'] });
    expect(secret).toMatch(API_KEY_SHAPE);
    expect(apiKeyPrefixOf(secret)).toBe(secret.slice(0, 15));
    expect(apiKey).toMatchObject({ name: 'dashboard', prefix: secret.slice(0, 15), scopes: ['LEDGER_READ'], expiresAt: null, revokedAt: null, lastUsedAt: null });
    expect(apiKey.id).toMatch(/^key_[0-9A-HJKMNP-TV-Z]{26}$/);

    const { me } = await client.ok(WhoAmIDocument);
    expect(me).toMatchObject({ credentialId: apiKey.id, credentialKind: 'API_KEY', scopes: ['LEDGER_READ'], expiresAt: null });

    const [row]: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT * FROM api_keys WHERE id = ?', [apiKey.id]);
    expect(row.prefix).toBe(apiKey.prefix);
    expect(row.secret_hash).toBe(crypto.createHash('sha256').update(secret).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(secret.slice(16));

    // A changed character breaks the checksum: refused like any unknown key.
    for (const position of [16, 40, secret.length - 1]) {
      const changed = secret.slice(0, position) + (secret[position] === 'A' ? 'B' : 'A') + secret.slice(position + 1);
      expectInvalidToken(await app.client.withKey(changed).request(WhoAmIDocument));
    }

    const { createApiKey: unrestricted } = await app.client.ok(CreateApiKeyDocument, { input: { name: 'default scopes' } });
    secretsShown.push(unrestricted.secret);
    expect(unrestricted.apiKey.scopes).toEqual(['ADMIN']);
  });

  it('refuses unknown scopes and an empty scope list', async () => {
    const before = await credentialRowCounts();
    // An unknown scope is not a Scope value: refused while coercing the variables.
    for (const scopes of [['LEDGER_READ', 'superuser'], []]) {
      const result = await app.client.request(CreateApiKeyDocument, { input: { name: 'bad', scopes: scopes as Scope[] } });
      expect(result.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
    }
    expect(await credentialRowCounts()).toEqual(before);
  });

  it('lets a restricted key read with ledger:read and refuses its writes with 403 insufficient_scope, changing nothing', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const reader = (await newKey({ name: 'reader', scopes: ['LEDGER_READ'] })).client;

    expect((await reader.ok(AccountDocument, { id: cash.id })).account.id).toBe(cash.id);
    expect((await reader.ok(AccountsDocument, { first: 500 })).accounts.edges.length).toBeGreaterThanOrEqual(2);

    const before = await takeLedgerSnapshot(app.runtime.dataSource);
    const posted = await reader.request(PostJournalEntryDocument, { input: { lines: transfer(cash.id, revenue.id, '10.00') } });
    expectInsufficientScope(posted, 'ledger:write');
    expect(setRootFieldsOf(posted.data)).toBeNull();
    expectInsufficientScope(
      await reader.request(CreateAccountDocument, { input: { code: `r-${crypto.randomUUID()}`, name: 'x', type: 'ASSET', currency: 'USD' } }),
      'ledger:write',
    );
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);
  });

  it('lets ledger:write read as well, and a key of another area read nothing of the ledger', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const writer = (await newKey({ name: 'writer', scopes: ['LEDGER_WRITE'] })).client;
    const { postJournalEntry } = await writer.ok(PostJournalEntryDocument, { input: { lines: transfer(cash.id, revenue.id, '5.00') } });
    expect(postJournalEntry.journalEntry.status).toBe('POSTED');
    expect((await writer.ok(AccountDocument, { id: cash.id })).account.balances.posted.net.amount).toBe('5.00');

    const payments = (await newKey({ name: 'payments only', scopes: ['PAYMENTS_READ'] })).client;
    expectInsufficientScope(await payments.request(AccountsDocument, { first: 1 }), 'ledger:read');
    expectInsufficientScope(await payments.request(NodeDocument, { id: cash.id }), 'ledger:read');
    expectInsufficientScope(await payments.request(AccountDocument, { id: cash.id }), 'ledger:read');
  });

  it('refuses an expiry in the past, and stops a key at its expiry', async () => {
    const before = await credentialRowCounts();
    for (const expiresAt of [new Date(clock.now().getTime() - 1000), clock.now()]) {
      const result = await app.client.request(CreateApiKeyDocument, { input: { name: 'stale', expiresAt: expiresAt.toISOString() } });
      expect(result.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
      expect(result.errors?.[0]?.extensions?.details).toMatchObject({ field: 'expiresAt' });
    }
    expect(await credentialRowCounts()).toEqual(before);

    const expiresAt = new Date(clock.now().getTime() + 60 * MINUTE_MS);
    const { apiKey, client } = await newKey({ name: 'temporary', scopes: ['LEDGER_READ'], expiresAt: expiresAt.toISOString() });
    expect(apiKey.expiresAt).toBe(expiresAt.toISOString());
    expect((await client.ok(WhoAmIDocument)).me.expiresAt).toBe(expiresAt.toISOString());

    clock.set(new Date(expiresAt.getTime() - 1));
    await client.ok(AccountsDocument, { first: 1 });
    clock.set(expiresAt);
    expectInvalidToken(await client.request(AccountsDocument, { first: 1 }));
    clock.advance(24 * 60 * MINUTE_MS);
    expectInvalidToken(await client.request(WhoAmIDocument));

    // An expired key cannot be rolled into a working one.
    const rolled = await app.client.request(RollApiKeyDocument, { input: { id: apiKey.id } });
    expect(rolled.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
  });

  it('stops a revoked key at once; revoking it again is an invalid state transition', async () => {
    const { apiKey, client } = await newKey({ name: 'to revoke', scopes: ['LEDGER_READ'] });
    await client.ok(AccountsDocument, { first: 1 });

    const { revokeApiKey } = await app.client.ok(RevokeApiKeyDocument, { input: { id: apiKey.id } });
    expect(revokeApiKey.apiKey).toMatchObject({ id: apiKey.id, revokedAt: clock.now().toISOString() });
    expectInvalidToken(await client.request(AccountsDocument, { first: 1 }));

    const twice = await app.client.request(RevokeApiKeyDocument, { input: { id: apiKey.id } });
    expect(twice.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
    const rolled = await app.client.request(RollApiKeyDocument, { input: { id: apiKey.id } });
    expect(rolled.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
    expectInvalidToken(await client.request(WhoAmIDocument));
  });

  it('rolls a key: the new secret works at once, the old one until oldKeyExpiresAt and not after', async () => {
    const old = await newKey({ name: 'checkout', scopes: ['LEDGER_READ', 'LEDGER_WRITE'] });
    const oldKeyExpiresAt = new Date(clock.now().getTime() + 10 * MINUTE_MS);
    const { rollApiKey } = await app.client.ok(RollApiKeyDocument, { input: { id: old.apiKey.id, oldKeyExpiresAt: oldKeyExpiresAt.toISOString() } });
    secretsShown.push(rollApiKey.secret);

    expect(rollApiKey.secret).toMatch(API_KEY_SHAPE);
    expect(rollApiKey.secret).not.toBe(old.secret);
    expect(rollApiKey.apiKey).toMatchObject({ name: 'checkout', scopes: ['LEDGER_READ', 'LEDGER_WRITE'], prefix: rollApiKey.secret.slice(0, 15), expiresAt: null, revokedAt: null });
    expect(rollApiKey.apiKey.id).not.toBe(old.apiKey.id);
    expect(rollApiKey.previous).toMatchObject({ id: old.apiKey.id, prefix: old.apiKey.prefix, expiresAt: oldKeyExpiresAt.toISOString(), revokedAt: null });

    const fresh = app.client.withKey(rollApiKey.secret);
    expect((await fresh.ok(WhoAmIDocument)).me).toMatchObject({ credentialId: rollApiKey.apiKey.id, scopes: ['LEDGER_READ', 'LEDGER_WRITE'] });
    expect((await old.client.ok(WhoAmIDocument)).me).toMatchObject({ credentialId: old.apiKey.id, expiresAt: oldKeyExpiresAt.toISOString() });

    clock.set(new Date(oldKeyExpiresAt.getTime() - 1000));
    await old.client.ok(AccountsDocument, { first: 1 });
    clock.set(oldKeyExpiresAt);
    expectInvalidToken(await old.client.request(AccountsDocument, { first: 1 }));
    await fresh.ok(AccountsDocument, { first: 1 });
  });

  it('keeps a rolled key working 24 hours by default and refuses an overlap past 30 days or in the past', async () => {
    const old = await newKey({ name: 'nightly', scopes: ['LEDGER_READ'] });
    for (const oldKeyExpiresAt of [new Date(clock.now().getTime() + 31 * 24 * 60 * MINUTE_MS), new Date(clock.now().getTime() - 1000)]) {
      const refused = await app.client.request(RollApiKeyDocument, { input: { id: old.apiKey.id, oldKeyExpiresAt: oldKeyExpiresAt.toISOString() } });
      expect(refused.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
    }
    const { rollApiKey } = await app.client.ok(RollApiKeyDocument, { input: { id: old.apiKey.id } });
    secretsShown.push(rollApiKey.secret);
    expect(rollApiKey.previous.expiresAt).toBe(new Date(clock.now().getTime() + 24 * 60 * MINUTE_MS).toISOString());
  });

  it('records lastUsedAt to the minute', async () => {
    const { apiKey, client } = await newKey({ name: 'usage', scopes: ['LEDGER_READ'] });
    const lastUsedAt = async () => {
      const { apiKeys } = await app.client.ok(ApiKeysDocument, { first: 500 });
      return apiKeys.edges.find((edge) => edge.node.id === apiKey.id)?.node.lastUsedAt;
    };
    expect(await lastUsedAt()).toBeNull();
    const firstUse = clock.now().toISOString();
    await client.ok(WhoAmIDocument);
    expect(await lastUsedAt()).toBe(firstUse);
    clock.advance(30_000);
    await client.ok(WhoAmIDocument);
    expect(await lastUsedAt()).toBe(firstUse);
    clock.advance(31_000);
    await client.ok(WhoAmIDocument);
    expect(await lastUsedAt()).toBe(clock.now().toISOString());
  });

  it('lists keys with prefix, scopes and lastUsedAt, and never a secret', async () => {
    const { apiKey } = await newKey({ name: 'listed', scopes: ['AUDIT_READ', 'LEDGER_READ'] });
    const seen: ApiKeyPartsFragment[] = [];
    let after: string | null | undefined = null;
    for (;;) {
      const result: GraphQLResult<ApiKeysQuery> = await app.client.request(ApiKeysDocument, { first: 3, after });
      expect(result.errors).toBeUndefined();
      const page = result.data?.apiKeys;
      if (!page) throw new Error('no page');
      const raw = JSON.stringify(result.data);
      for (const secret of secretsShown) {
        expect(raw).not.toContain(secret);
        expect(raw).not.toContain(secret.slice(16, 56));
      }
      seen.push(...page.edges.map((edge) => edge.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen.find((key) => key.id === apiKey.id)).toEqual({
      ...apiKey,
      scopes: ['AUDIT_READ', 'LEDGER_READ'],
    });
    expect(new Set(seen.map((key) => key.id)).size).toBe(seen.length);
    const [{ count }] = await app.runtime.dataSource.query('SELECT COUNT(*) AS count FROM api_keys WHERE tenant_id = ?', [app.tenantId]);
    expect(seen).toHaveLength(Number(count));

    const introspection = await app.client.raw({ query: '{ __type(name: "ApiKey") { fields { name } } }' });
    const fields = (introspection.data as { __type: { fields: { name: string }[] } }).__type.fields.map((f) => f.name);
    expect(fields.sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt', 'scopes']);
  });

  it.each([
    ['?api_key=', 'api_key'],
    ['?access_token=', 'access_token'],
    ['?API_KEY=', 'API_KEY'],
    ['?apikey=', 'apikey'],
    ['?token=', 'token'],
    ['?first=1&authorization=Bearer%20', 'authorization'],
  ])('refuses a credential in the URL (%s…) with 400 before anything runs', async (query) => {
    const leaked = await newKey({ name: 'leaked', scopes: ['LEDGER_WRITE'] });
    const before = await takeLedgerSnapshot(app.runtime.dataSource);
    const mutation = '{ "query": "mutation { createAccount(input: {code: \\"url-leak\\", name: \\"x\\", type: ASSET, currency: \\"USD\\"}) { account { id } } }" }';
    for (const authorization of [undefined, `Bearer ${leaked.secret}`]) {
      const response = await fetch(`${app.url}${query}${leaked.secret}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: mutation,
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
      expect(body.data).toBeUndefined();
      expect(body.errors[0].extensions.code).toBe('VALIDATION_FAILED');
      expect(body.errors[0].message).toMatch(/never accepted in the URL/);
    }
    const viaGet = await fetch(`${app.url}${query}${leaked.secret}&query=${encodeURIComponent('{ me { credentialId } }')}`);
    expect(viaGet.status).toBe(400);
    const onTokenEndpoint = await fetch(`${originOf(app.url)}/oauth/token${query}${leaked.secret}`, { method: 'POST' });
    expect(onTokenEndpoint.status).toBe(400);

    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);
    // Nothing ran, authentication included: the key was never recorded as used.
    const [row] = await app.runtime.dataSource.query('SELECT last_used_at FROM api_keys WHERE id = ?', [leaked.apiKey.id]);
    expect(row.last_used_at).toBeNull();
  });

  it('refuses keys without admin every credential operation, with 403 naming admin and nothing changed', async () => {
    const target = await newKey({ name: 'target', scopes: ['LEDGER_READ'] });
    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'target client', scopes: ['LEDGER_READ'] } });
    const everythingButAdmin: Scope[] = ['LEDGER_WRITE', 'PAYMENTS_WRITE', 'INVOICES_WRITE', 'RECONCILIATION_WRITE', 'AUDIT_READ'];
    const nonAdmin: GraphQLClient = (await newKey({ name: 'powerful but not admin', scopes: everythingButAdmin })).client;

    const before = await credentialRowCounts();
    const attempts = [
      await nonAdmin.request(CreateApiKeyDocument, { input: { name: 'escalate', scopes: ['ADMIN'] } }),
      await nonAdmin.request(CreateApiKeyDocument, { input: { name: 'same scopes', scopes: ['LEDGER_READ'] } }),
      await nonAdmin.request(CreateOAuthClientDocument, { input: { name: 'escalate', scopes: ['ADMIN'] } }),
      await nonAdmin.request(RevokeApiKeyDocument, { input: { id: target.apiKey.id } }),
      await nonAdmin.request(RollApiKeyDocument, { input: { id: target.apiKey.id } }),
      await nonAdmin.request(RevokeOAuthClientDocument, { input: { id: createOAuthClient.client.id } }),
      await nonAdmin.request(ApiKeysDocument, { first: 10 }),
    ];
    for (const result of attempts) expectInsufficientScope(result, 'admin');
    expect(await credentialRowCounts()).toEqual(before);
    await target.client.ok(WhoAmIDocument);
    const [row] = await app.runtime.dataSource.query('SELECT revoked_at, expires_at FROM api_keys WHERE id = ?', [target.apiKey.id]);
    expect(row).toEqual({ revoked_at: null, expires_at: null });
  });
});
