import { setRootFieldsOf } from '../helpers/graphql-client';
import crypto from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import {
  CreateApiKeyKeyedDocument,
  CreateOAuthClientKeyedDocument,
  CreateWebhookEndpointKeyedDocument,
  RollApiKeyKeyedDocument,
  WhoAmIDocument,
} from '../generated/graphql';
import type { GraphQLErrorShape } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';

/**
 * Mutations that create a credential take an idempotency key like every other creating mutation, and
 * their answer holds a secret shown once. A replay gives the same object and the same secret back,
 * from the stored (encrypted) response. When that response is missing (the process died between the
 * commit and storing it), the secret cannot be rebuilt: the replay says which object was created and
 * that it must be revoked (or disabled) and created again, with ALREADY_EXISTS, and creates nothing.
 */

interface Answer<TData> {
  data?: TData | null;
  errors?: GraphQLErrorShape[];
  extensions?: { idempotency?: { key?: string; replayed?: boolean } };
}

/** A request that keeps `extensions`, which the shared client leaves out. */
async function send<TData, TVariables>(app: TestApp, document: TypedDocumentNode<TData, TVariables>, variables: TVariables): Promise<Answer<TData>> {
  const response = await fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${app.apiKey}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return (await response.json()) as Answer<TData>;
}

function newKey(): string {
  return `cred-${crypto.randomUUID()}`;
}

async function count(app: TestApp, table: string, where: string, value: string): Promise<number> {
  const [row] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where} = ?`, [value]);
  return Number((row as { n: unknown }).n);
}

async function enabledEndpoints(app: TestApp): Promise<number> {
  return count(app, 'webhook_endpoints', 'disabled_at IS NULL AND tenant_id', app.tenantId);
}

/** What a crash between the commit and storing the response leaves, once the lease has run out: a completed record without its response. */
async function dropStoredResponse(app: TestApp, key: string): Promise<void> {
  await app.runtime.dataSource.query('UPDATE idempotency_records SET response_ciphertext = NULL, lease_expires_at = created_at WHERE idempotency_key = ?', [key]);
  const [row] = await app.runtime.dataSource.query('SELECT status, result_ref FROM idempotency_records WHERE idempotency_key = ?', [key]);
  expect(row).toMatchObject({ status: 'COMPLETED' });
  expect(row.result_ref).toBeTruthy();
}

describeEachDatabase('idempotent creation of credentials', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('createApiKey: a replay returns the same key and the same secret, and one row exists', async () => {
    const idempotencyKey = newKey();
    const name = `keyed ${idempotencyKey}`;
    const first = await send(app, CreateApiKeyKeyedDocument, { input: { name, scopes: ['LEDGER_READ'] }, idempotencyKey });
    expect(first.errors).toBeUndefined();
    expect(first.extensions?.idempotency).toBeUndefined();
    const second = await send(app, CreateApiKeyKeyedDocument, { input: { name, scopes: ['LEDGER_READ'] }, idempotencyKey });
    expect(second.errors).toBeUndefined();
    expect(second.extensions?.idempotency).toEqual({ key: idempotencyKey, replayed: true });
    expect(second.data).toEqual(first.data);
    expect(second.data?.createApiKey!.apiKey.id).toBe(first.data?.createApiKey!.apiKey.id);
    expect(second.data?.createApiKey!.secret).toBe(first.data?.createApiKey!.secret);
    expect(await count(app, 'api_keys', 'name', name)).toBe(1);

    // The secret works, and the stored response that replays it is not readable at rest.
    const secret = first.data?.createApiKey!.secret as string;
    const me = await app.client.withKey(secret).ok(WhoAmIDocument);
    expect(me.me.credentialId).toBe(first.data?.createApiKey!.apiKey.id);
    const records = JSON.stringify(await app.runtime.dataSource.query('SELECT * FROM idempotency_records WHERE idempotency_key = ?', [idempotencyKey]));
    expect(records).not.toContain(secret);
  });

  it('createApiKey: the same key with other arguments is IDEMPOTENCY_KEY_REUSED and creates nothing', async () => {
    const idempotencyKey = newKey();
    const first = await send(app, CreateApiKeyKeyedDocument, { input: { name: `reused ${idempotencyKey}` }, idempotencyKey });
    expect(first.errors).toBeUndefined();
    const other = await send(app, CreateApiKeyKeyedDocument, { input: { name: `other ${idempotencyKey}` }, idempotencyKey });
    expect(setRootFieldsOf(other.data)).toBeNull();
    expect(other.errors?.[0].extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(other.errors?.[0].message).toContain('input.name');
    expect(await count(app, 'api_keys', 'name', `other ${idempotencyKey}`)).toBe(0);
    // The first answer is still what the key replays.
    const again = await send(app, CreateApiKeyKeyedDocument, { input: { name: `reused ${idempotencyKey}` }, idempotencyKey });
    expect(again.data).toEqual(first.data);
  });

  it('createWebhookEndpoint: a replay returns the same endpoint and the same signing secret', async () => {
    const idempotencyKey = newKey();
    const input = { url: `https://keyed.example.com/hook/${crypto.randomUUID()}`, events: ['JOURNAL_ENTRY_POSTED' as const] };
    const enabledBefore = await enabledEndpoints(app);
    const first = await send(app, CreateWebhookEndpointKeyedDocument, { input, idempotencyKey });
    expect(first.errors).toBeUndefined();
    const second = await send(app, CreateWebhookEndpointKeyedDocument, { input, idempotencyKey });
    expect(second.errors).toBeUndefined();
    expect(second.extensions?.idempotency).toEqual({ key: idempotencyKey, replayed: true });
    expect(second.data?.createWebhookEndpoint!.webhookEndpoint.id).toBe(first.data?.createWebhookEndpoint!.webhookEndpoint.id);
    expect(second.data?.createWebhookEndpoint!.signingSecret).toBe(first.data?.createWebhookEndpoint!.signingSecret);
    expect(second.data).toEqual(first.data);
    expect(await enabledEndpoints(app)).toBe(enabledBefore + 1);
  });

  it('createOAuthClient and rollApiKey: replays return the same object and secret', async () => {
    const clientKey = newKey();
    const clientInput = { name: `client ${clientKey}`, scopes: ['LEDGER_READ' as const] };
    const client = await send(app, CreateOAuthClientKeyedDocument, { input: clientInput, idempotencyKey: clientKey });
    expect(client.errors).toBeUndefined();
    const clientAgain = await send(app, CreateOAuthClientKeyedDocument, { input: clientInput, idempotencyKey: clientKey });
    expect(clientAgain.extensions?.idempotency?.replayed).toBe(true);
    expect(clientAgain.data).toEqual(client.data);
    expect(await count(app, 'oauth_clients', 'name', clientInput.name)).toBe(1);

    const created = await send(app, CreateApiKeyKeyedDocument, { input: { name: `to roll ${clientKey}` }, idempotencyKey: newKey() });
    const rollKey = newKey();
    const rollInput = { id: created.data?.createApiKey!.apiKey.id as string };
    const rolled = await send(app, RollApiKeyKeyedDocument, { input: rollInput, idempotencyKey: rollKey });
    expect(rolled.errors).toBeUndefined();
    const rolledAgain = await send(app, RollApiKeyKeyedDocument, { input: rollInput, idempotencyKey: rollKey });
    expect(rolledAgain.extensions?.idempotency?.replayed).toBe(true);
    expect(rolledAgain.data).toEqual(rolled.data);
    expect(await count(app, 'api_keys', 'name', `to roll ${clientKey}`)).toBe(2);
  });

  it('without the stored response a replay cannot show the secret again: ALREADY_EXISTS naming the object, nothing created', async () => {
    const apiKeyKey = newKey();
    const name = `lost ${apiKeyKey}`;
    const created = await send(app, CreateApiKeyKeyedDocument, { input: { name }, idempotencyKey: apiKeyKey });
    const apiKeyId = created.data?.createApiKey!.apiKey.id as string;
    await dropStoredResponse(app, apiKeyKey);
    const replay = await send(app, CreateApiKeyKeyedDocument, { input: { name }, idempotencyKey: apiKeyKey });
    expect(setRootFieldsOf(replay.data)).toBeNull();
    expect(replay.errors).toHaveLength(1);
    expect(replay.errors?.[0].extensions?.code).toBe('ALREADY_EXISTS');
    expect(replay.errors?.[0].extensions?.details).toMatchObject({ id: apiKeyId });
    expect(replay.errors?.[0].message).toContain(`API key ${apiKeyId}`);
    expect(replay.errors?.[0].message).toMatch(/one-time secret cannot be shown again/);
    expect(replay.errors?.[0].message).toMatch(/Revoke it/);
    expect(JSON.stringify(replay)).not.toContain(created.data?.createApiKey!.secret as string);
    expect(await count(app, 'api_keys', 'name', name)).toBe(1);

    const hookKey = newKey();
    const input = { url: `https://lost.example.com/hook/${crypto.randomUUID()}`, events: ['ALL' as const] };
    const hook = await send(app, CreateWebhookEndpointKeyedDocument, { input, idempotencyKey: hookKey });
    const endpointId = hook.data?.createWebhookEndpoint!.webhookEndpoint.id as string;
    await dropStoredResponse(app, hookKey);
    const hookReplay = await send(app, CreateWebhookEndpointKeyedDocument, { input, idempotencyKey: hookKey });
    expect(setRootFieldsOf(hookReplay.data)).toBeNull();
    expect(hookReplay.errors?.[0].extensions?.code).toBe('ALREADY_EXISTS');
    expect(hookReplay.errors?.[0].message).toContain(`webhook endpoint ${endpointId}`);
    expect(hookReplay.errors?.[0].message).toMatch(/Disable it/);
    expect(JSON.stringify(hookReplay)).not.toContain(hook.data?.createWebhookEndpoint!.signingSecret as string);

    const clientKey = newKey();
    const clientInput = { name: `lost client ${clientKey}`, scopes: ['LEDGER_READ' as const] };
    const client = await send(app, CreateOAuthClientKeyedDocument, { input: clientInput, idempotencyKey: clientKey });
    await dropStoredResponse(app, clientKey);
    const clientReplay = await send(app, CreateOAuthClientKeyedDocument, { input: clientInput, idempotencyKey: clientKey });
    expect(clientReplay.errors?.[0].extensions?.code).toBe('ALREADY_EXISTS');
    expect(clientReplay.errors?.[0].message).toContain(`OAuth client ${client.data?.createOAuthClient!.client.id}`);
    expect(await count(app, 'oauth_clients', 'name', clientInput.name)).toBe(1);
  });
});
