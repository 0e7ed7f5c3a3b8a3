import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { DecryptionError, FieldCipher, formatEncryptionKeys, generateEncryptionKey } from '../../src/common/encryption';
import { reencryptAll } from '../../src/db/encrypted-columns';
import { startServer, type RunningServer } from '../../src/server/app';
import { CreateWebhookEndpointDocument, DisableWebhookEndpointDocument, type WebhookEvent, WebhookEndpointsDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, startTestApp, type TestApp, type TestDatabase, testRuntimeConfig } from '../helpers/harness';

/**
 * Webhook endpoint URLs and signing secrets are encrypted at rest (FieldCipher: AES-256-GCM, key id in
 * the ciphertext, bound to table, column and tenant), found by a keyed blind index, and survive a key
 * rotation followed by `keys reencrypt`.
 *
 * A ciphertext that does not decrypt (moved to another tenant's row or to another column, tampered, or
 * under a key no longer configured) is an operator's problem: the API answers a masked
 * INTERNAL_SERVER_ERROR with the request id, never the value, and logs the table, column and row.
 */

const execFileAsync = promisify(execFile);
const REPO_ROOT = path.resolve(__dirname, '..', '..');

type Row = Record<string, unknown>;

async function rawRow(runtime: Runtime, id: string): Promise<Row> {
  const [row] = await runtime.dataSource.query('SELECT * FROM webhook_endpoints WHERE id = ?', [id]);
  return row as Row;
}

async function allRawRows(runtime: Runtime): Promise<Row[]> {
  return runtime.dataSource.query('SELECT * FROM webhook_endpoints ORDER BY id');
}

async function createEndpoint(client: GraphQLClient, url: string, events: WebhookEvent[] = ['JOURNAL_ENTRY_POSTED']) {
  const { createWebhookEndpoint } = await client.ok(CreateWebhookEndpointDocument, { input: { url, events } });
  return createWebhookEndpoint;
}

async function listEndpoints(client: GraphQLClient) {
  const { webhookEndpoints } = await client.ok(WebhookEndpointsDocument, { first: 100 });
  return webhookEndpoints.edges.map((edge) => edge.node);
}

describeEachDatabase('webhook URLs and secrets encrypted at rest', (kind) => {
  let app: TestApp;
  let other: Awaited<ReturnType<TestApp['createTenant']>>;

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Other');
  });
  afterAll(async () => {
    await app?.close();
  });

  it('stores only ciphertext: a raw SELECT shows neither the URL nor the secret', async () => {
    const url = 'https://hooks.example.com/reckon?token=tok_sekrit_4711';
    const created = await createEndpoint(app.client, url, ['JOURNAL_ENTRY_POSTED', 'JOURNAL_ENTRY_VOIDED']);
    // Standard base64 (the Standard Webhooks form its libraries decode): 32 bytes, 43 characters and one "=".
    expect(created.signingSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created.webhookEndpoint).toMatchObject({ url, events: ['JOURNAL_ENTRY_POSTED', 'JOURNAL_ENTRY_VOIDED'], disabledAt: null });
    expect(created.webhookEndpoint.id).toMatch(/^whe_/);

    const row = await rawRow(app.runtime, created.webhookEndpoint.id);
    const keyId = app.runtime.services.cipher.currentKeyId;
    expect(String(row.url_ciphertext)).toMatch(new RegExp(`^v1\\.${keyId}\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
    expect(String(row.secret_ciphertext)).toMatch(new RegExp(`^v1\\.${keyId}\\.`));
    expect(String(row.url_index)).toMatch(/^[0-9a-f]{64}$/);
    const everything = JSON.stringify(await allRawRows(app.runtime));
    for (const plain of [url, 'hooks.example.com', 'tok_sekrit_4711', created.signingSecret, created.signingSecret.slice('whsec_'.length)]) {
      expect(everything).not.toContain(plain);
    }
  });

  it('shows the URL decrypted, never the secret again, and keeps the secret readable for signing deliveries', async () => {
    const url = 'https://receiver.example.org/hooks/reckon';
    const created = await createEndpoint(app.client, url, ['ALL']);
    const result = await app.client.request(WebhookEndpointsDocument, { first: 100 });
    const listed = result.data?.webhookEndpoints!.edges.map((edge) => edge.node).find((node) => node.id === created.webhookEndpoint.id);
    expect(listed).toMatchObject({ url, events: ['ALL'] });
    expect(JSON.stringify(result)).not.toContain(created.signingSecret);

    const introspection = (await app.client.raw({ query: '{ __type(name: "WebhookEndpoint") { fields { name } } }' })) as {
      data: { __type: { fields: { name: string }[] } };
    };
    const fields = introspection.data.__type!.fields.map((field) => field.name);
    expect(fields).toEqual(expect.arrayContaining(['id', 'url', 'events']));
    expect(fields.filter((name) => /secret/i.test(name))).toEqual([]);

    await expect(app.runtime.services.webhooks.signingSecretOf(app.tenantId, created.webhookEndpoint.id)).resolves.toBe(created.signingSecret);
    await expect(app.runtime.services.webhooks.signingSecretOf(other.tenantId, created.webhookEndpoint.id)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('refuses the same URL twice in a tenant (ALREADY_EXISTS, however spelled) but not in another tenant', async () => {
    const url = 'https://dup.example.com/hook?token=abc';
    const first = await createEndpoint(app.client, url);
    const again = await app.client.request(CreateWebhookEndpointDocument, { input: { url, events: ['ALL'] } });
    expect(again.errors?.[0].extensions).toMatchObject({ code: 'ALREADY_EXISTS', details: { field: 'url', id: first.webhookEndpoint.id } });
    const respelled = await app.client.errorCode(CreateWebhookEndpointDocument, {
      input: { url: 'HTTPS://DUP.Example.com:443/hook?token=abc', events: ['ALL'] },
    });
    expect(respelled).toBe('ALREADY_EXISTS');
    // The query string is part of the URL: another token is another endpoint.
    await createEndpoint(app.client, 'https://dup.example.com/hook?token=abd');
    // The blind index is scoped to the tenant: another tenant may use the same URL, unaware of this one.
    await createEndpoint(other.client, url);
  });

  it('disables without deleting, and a disabled endpoint gives its URL up', async () => {
    const url = 'https://rotating.example.com/hook';
    const first = await createEndpoint(app.client, url);
    const { disableWebhookEndpoint } = await app.client.ok(DisableWebhookEndpointDocument, { input: { id: first.webhookEndpoint.id } });
    expect(disableWebhookEndpoint.webhookEndpoint).toMatchObject({ id: first.webhookEndpoint.id, url });
    expect(disableWebhookEndpoint.webhookEndpoint.disabledAt).not.toBeNull();
    expect(await app.client.errorCode(DisableWebhookEndpointDocument, { input: { id: first.webhookEndpoint.id } })).toBe('INVALID_STATE_TRANSITION');

    const second = await createEndpoint(app.client, url);
    expect(second.webhookEndpoint.id).not.toBe(first.webhookEndpoint.id);
    expect(second.signingSecret).not.toBe(first.signingSecret);
    const listed = (await listEndpoints(app.client)).filter((endpoint) => endpoint.url === url);
    expect(listed.map((endpoint) => [endpoint.id, endpoint.disabledAt === null])).toEqual([
      [first.webhookEndpoint.id, false],
      [second.webhookEndpoint.id, true],
    ]);
    const kept = await rawRow(app.runtime, first.webhookEndpoint.id);
    expect(String(kept.secret_ciphertext)).toMatch(/^v1\./);
    await expect(app.runtime.services.webhooks.signingSecretOf(app.tenantId, first.webhookEndpoint.id)).resolves.toBe(first.signingSecret);
  });

  it('checks URL, events, scope and tenant', async () => {
    const refused = async (url: string, events: string[]) =>
      app.client.errorCode(CreateWebhookEndpointDocument, { input: { url, events: events as WebhookEvent[] } });
    expect(await refused('http://example.com/hook', ['ALL'])).toBe('VALIDATION_FAILED');
    expect(await refused('ftp://example.com/hook', ['ALL'])).toBe('VALIDATION_FAILED');
    expect(await refused(`https://example.com/${'x'.repeat(2100)}`, ['ALL'])).toBe('VALIDATION_FAILED');
    expect(await refused('https://example.com/hook', [])).toBe('VALIDATION_FAILED');
    // Not a WebhookEvent value (nor is the wire string): refused while coercing the variables.
    expect(await refused('https://example.com/hook', ['JOURNAL_ENTRY_TELEPORTED'])).toBe('VALIDATION_FAILED');
    expect(await refused('https://example.com/hook', ['journal_entry.posted'])).toBe('VALIDATION_FAILED');
    // Plain http to the loopback interface is allowed outside production, for local receivers.
    await createEndpoint(app.client, 'http://localhost:8080/hook');

    const mine = await createEndpoint(app.client, 'https://isolated.example.com/hook');
    expect(await other.client.errorCode(DisableWebhookEndpointDocument, { input: { id: mine.webhookEndpoint.id } })).toBe('NOT_FOUND');
    expect((await listEndpoints(other.client)).map((endpoint) => endpoint.id)).not.toContain(mine.webhookEndpoint.id);
    expect((await listEndpoints(app.client)).find((endpoint) => endpoint.id === mine.webhookEndpoint.id)?.disabledAt).toBeNull();
    expect(await app.client.errorCode(DisableWebhookEndpointDocument, { input: { id: 'acct_01ARZ3NDEKTSV4RRFFQ69G5FAV' } })).toBe('VALIDATION_FAILED');

    const { secret } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'reader', scopes: ['ledger:read'] });
    const reader = app.client.withKey(secret);
    expect(await reader.errorCode(WebhookEndpointsDocument, { first: 10 })).toBe('FORBIDDEN');
    expect(await reader.errorCode(CreateWebhookEndpointDocument, { input: { url: 'https://reader.example.com/', events: ['ALL'] } })).toBe(
      'FORBIDDEN',
    );
  });

  it('refuses a ciphertext moved to another tenant’s row or to another column: masked error, nothing leaked', async () => {
    const tenant = await app.createTenant('Victim');
    const attacker = await app.createTenant('Source');
    const target = await createEndpoint(tenant.client, 'https://target.example.com/hook');
    const source = await createEndpoint(attacker.client, 'https://source.example.com/hook?token=source_tok_99');
    const targetRow = await rawRow(app.runtime, target.webhookEndpoint.id);
    const sourceRow = await rawRow(app.runtime, source.webhookEndpoint.id);
    const setColumn = (column: string, value: unknown) =>
      app.runtime.dataSource.query(`UPDATE webhook_endpoints SET ${column} = ? WHERE id = ?`, [value, target.webhookEndpoint.id]);

    const expectMasked = async () => {
      const result = await tenant.client.raw({ query: '{ webhookEndpoints(first: 10) { edges { node { id url } } } }' });
      expect(result.errors?.[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      expect(result.errors?.[0].extensions?.requestId).toEqual(expect.any(String));
      const body = JSON.stringify(result);
      for (const leaked of ['source.example.com', 'source_tok_99', source.signingSecret, 'v1.', 'ecrypt', 'webhook_endpoints', 'tenant']) {
        expect(body).not.toContain(leaked);
      }
    };

    // Another tenant's URL ciphertext, copied into this tenant's row: the tenant in the AAD differs.
    await setColumn('url_ciphertext', sourceRow.url_ciphertext);
    await expectMasked();
    await expect(app.runtime.services.webhooks.getEndpoint(tenant.tenantId, target.webhookEndpoint.id)).rejects.toThrow(DecryptionError);

    // This row's own secret, moved into its URL column: the column in the AAD differs.
    await setColumn('url_ciphertext', targetRow.secret_ciphertext);
    await expectMasked();

    // Another tenant's secret in this row's secret column: signing would fail rather than use it.
    await setColumn('url_ciphertext', targetRow.url_ciphertext);
    await setColumn('secret_ciphertext', sourceRow.secret_ciphertext);
    await expect(app.runtime.services.webhooks.signingSecretOf(tenant.tenantId, target.webhookEndpoint.id)).rejects.toThrow(
      /webhook_endpoints\.secret_ciphertext of whe_\w+: Ciphertext failed authentication/,
    );

    await setColumn('secret_ciphertext', targetRow.secret_ciphertext);
    expect((await listEndpoints(tenant.client)).map((endpoint) => endpoint.url)).toEqual(['https://target.example.com/hook']);
    await expect(app.runtime.services.webhooks.signingSecretOf(tenant.tenantId, target.webhookEndpoint.id)).resolves.toBe(target.signingSecret);
  });
});

interface StartedServer {
  runtime: Runtime;
  server: RunningServer;
  close(): Promise<void>;
}

/** A server on an existing database: what a restart with a new configuration looks like. */
async function startOn(databaseUrl: string, env: Record<string, string>): Promise<StartedServer> {
  const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
  const config = testRuntimeConfig(databaseUrl, { env });
  const runtime = await bootstrap(config, { log });
  const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
  return {
    runtime,
    server,
    close: async () => {
      await server.close();
      await runtime.close();
    },
  };
}

describeEachDatabase('encryption key rotation then keys reencrypt', (kind) => {
  const oldKey = generateEncryptionKey('old');
  const newKey = generateEncryptionKey('new');
  const blindIndexKey = crypto.randomBytes(32).toString('base64');
  const ring = (...keys: (typeof oldKey)[]) => ({ ENCRYPTION_KEYS: formatEncryptionKeys(keys), BLIND_INDEX_KEY: blindIndexKey });
  let database: TestDatabase;
  const running: StartedServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    for (const server of running) await server.close();
    await database?.drop();
  });

  async function start(env: Record<string, string>): Promise<StartedServer> {
    const started = await startOn(database.url, env);
    running.push(started);
    return started;
  }

  async function stop(started: StartedServer): Promise<void> {
    running.splice(running.indexOf(started), 1);
    await started.close();
  }

  async function runCli(env: Record<string, string>, ...args: string[]) {
    return execFileAsync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/cli.ts', 'keys', ...args], {
      cwd: REPO_ROOT,
      timeout: 90_000,
      env: { ...process.env, ...env, DATABASE_URL: database.url, DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-cli-keys-')), LOG_LEVEL: 'silent' },
    });
  }

  it('reads old rows after the restart with "new,old", re-encrypts them all under "new", and then needs only "new"', async () => {
    const before = await start(ring(oldKey));
    const tenant = await before.runtime.services.tenancy.createTenant('Rotating');
    const { secret: apiKey } = await before.runtime.services.auth.createApiKey(tenant.id, { name: 'admin' });
    const client = new GraphQLClient(before.server.url, apiKey);
    const created: { id: string; url: string; signingSecret: string }[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { webhookEndpoint, signingSecret } = await createEndpoint(client, `https://rotate-${i}.example.com/hook?token=t${i}`);
      created.push({ id: webhookEndpoint.id, url: webhookEndpoint.url, signingSecret });
    }
    await stop(before);

    const rotated = await start(ring(newKey, oldKey));
    const rotatedClient = new GraphQLClient(rotated.server.url, apiKey);
    expect((await listEndpoints(rotatedClient)).map((endpoint) => endpoint.url)).toEqual(created.map((endpoint) => endpoint.url));
    // The blind index key did not change, so an old URL is still found as a duplicate.
    expect(await rotatedClient.errorCode(CreateWebhookEndpointDocument, { input: { url: created[0].url, events: ['ALL'] } })).toBe('ALREADY_EXISTS');
    const fresh = await createEndpoint(rotatedClient, 'https://fresh.example.com/hook');
    created.push({ id: fresh.webhookEndpoint.id, url: fresh.webhookEndpoint.url, signingSecret: fresh.signingSecret });
    const keyIds = (rows: Row[]) => rows.flatMap((row) => [String(row.url_ciphertext).split('.')[1], String(row.secret_ciphertext).split('.')[1]]);
    expect(keyIds(await allRawRows(rotated.runtime)).sort()).toEqual(['new', 'new', ...Array(10).fill('old')]);

    // The command itself, as an operator runs it, with small batches so that several are needed.
    const first = await runCli(ring(newKey, oldKey), 'reencrypt', '--batch-size', '2');
    expect(first.stdout).toContain('re-encrypting under key new in batches of 2');
    expect(first.stdout).toContain('webhook_endpoints: 5 of 6 rows re-encrypted (10 values), 0 failed');
    expect(keyIds(await allRawRows(rotated.runtime))).toEqual(Array(12).fill('new'));
    const again = await runCli(ring(newKey, oldKey), 'reencrypt');
    expect(again.stdout).toContain('webhook_endpoints: 0 of 6 rows re-encrypted (0 values), 0 failed');
    // Up to date rows are not even read: per table one count and one empty search, no transaction.
    const statementsBefore = rotated.runtime.statements.count;
    const reports = await reencryptAll(rotated.runtime.dataSource, rotated.runtime.services.cipher);
    expect(reports.every((report) => report.rowsReencrypted === 0 && report.failures.length === 0)).toBe(true);
    expect(rotated.runtime.statements.count - statementsBefore).toBe(2 * reports.length);

    // A ring that lacks the key a row needs reports the row and leaves it as it was.
    const unrelated = new FieldCipher([generateEncryptionKey('other'), oldKey], Buffer.from(blindIndexKey, 'base64'));
    const rowsBefore = await allRawRows(rotated.runtime);
    const [report] = await reencryptAll(rotated.runtime.dataSource, unrelated, { tables: [{ table: 'webhook_endpoints', columns: ['url_ciphertext', 'secret_ciphertext'] }] });
    expect(report).toMatchObject({ table: 'webhook_endpoints', rows: 6, rowsReencrypted: 0 });
    expect(report.failures).toHaveLength(6);
    expect(report.failures[0].reason).toContain('No key "new"');
    expect(await allRawRows(rotated.runtime)).toEqual(rowsBefore);
    await stop(rotated);

    const after = await start(ring(newKey));
    const afterClient = new GraphQLClient(after.server.url, apiKey);
    expect((await listEndpoints(afterClient)).map((endpoint) => endpoint.url)).toEqual(created.map((endpoint) => endpoint.url));
    for (const endpoint of created) {
      await expect(after.runtime.services.webhooks.signingSecretOf(tenant.id, endpoint.id)).resolves.toBe(endpoint.signingSecret);
    }
  });

  it('keys generate prints a usable encryption key, signing key and blind index key', async () => {
    const { stdout } = await runCli({}, 'generate');
    const lines = stdout.split('\n').filter((line) => line && !line.startsWith('#'));
    expect(lines).toHaveLength(3);
    const [encryptionKey, signingKey, blindKey] = lines;
    expect(encryptionKey).toMatch(/^k\d{8}-[0-9a-f]{6}:[A-Za-z0-9+/]{43}=$/);
    expect(JSON.parse(signingKey)).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String), d: expect.any(String) });
    expect(Buffer.from(blindKey, 'base64')).toHaveLength(32);
    // What it prints is what the server reads.
    const started = await start({ ENCRYPTION_KEYS: `${encryptionKey},${formatEncryptionKeys([newKey])}`, BLIND_INDEX_KEY: blindKey, JWT_SIGNING_KEYS: `[${signingKey}]` });
    expect(started.runtime.services.cipher.currentKeyId).toBe(encryptionKey.split(':')[0]);
  });
});
