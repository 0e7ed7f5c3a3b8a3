import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  CreateApiKeyDocument,
  CreateOAuthClientDocument,
  CreateWebhookEndpointDocument,
  DisableWebhookEndpointDocument,
  RevokeApiKeyDocument,
  RevokeOAuthClientDocument,
  RollApiKeyDocument,
  WhoAmIDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, errorCodeOf, expectFresh, expectReplayOf, type KeyedResult, newIdempotencyKey, sendKeyed, sleep } from '../helpers/idempotency-http';

/**
 * Revoking, rolling and disabling take an idempotency key like every other mutation: a retry under
 * the same key gets the first answer back (extensions.idempotency.replayed) instead of "already
 * revoked", a roll retried any number of times, even all at once, mints one new key, and a replay
 * whose stored response was lost rebuilds its payload from the object.
 */
describeEachDatabase('revoke, roll and disable replay under one idempotency key', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  const keyed = <TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, headers: Record<string, string> = {}) =>
    sendKeyed(app.url, app.apiKey, document, variables, headers);

  async function newApiKey(name: string): Promise<{ id: string }> {
    return (await app.client.ok(CreateApiKeyDocument, { input: { name } })).createApiKey.apiKey;
  }

  /** Sends a request again while its first copy still holds the key, until the answer is not IDEMPOTENCY_KEY_IN_USE. */
  async function untilDecided<TData>(send: () => Promise<KeyedResult<TData>>): Promise<KeyedResult<TData>> {
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const answer = await send();
      if (errorCodeOf(answer) !== 'IDEMPOTENCY_KEY_IN_USE') return answer;
      await sleep(50);
    }
    throw new Error('the idempotency key stayed in use');
  }

  it('rollApiKey retried under the same key returns the same new key and secret, and mints one key', async () => {
    const name = `roll ${newIdempotencyKey('name')}`;
    const old = await newApiKey(name);
    const idempotencyKey = newIdempotencyKey('roll');
    const variables = { input: { id: old.id }, idempotencyKey };
    const first = await keyed(RollApiKeyDocument, variables);
    expectFresh(first);
    const rolled = first.data!.rollApiKey!;
    expect(rolled.apiKey.id).not.toBe(old.id);
    expect(rolled.previous.id).toBe(old.id);
    for (const retry of await Promise.all([1, 2, 3].map(() => keyed(RollApiKeyDocument, variables)))) {
      expectReplayOf(first, retry, idempotencyKey);
      expect(retry.data!.rollApiKey!.apiKey.id).toBe(rolled.apiKey.id);
      expect(retry.data!.rollApiKey!.secret).toBe(rolled.secret);
    }
    expect(await countRows(app.runtime.dataSource, 'api_keys', 'name = ?', [name])).toBe(2);
    expect((await app.client.withKey(rolled.secret).ok(WhoAmIDocument)).me.credentialId).toBe(rolled.apiKey.id);
  });

  it('rollApiKey sent five times at once under one key mints one key, and every copy ends with its answer', async () => {
    const name = `roll at once ${newIdempotencyKey('name')}`;
    const old = await newApiKey(name);
    const idempotencyKey = newIdempotencyKey('roll-at-once');
    const variables = { input: { id: old.id }, idempotencyKey };
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => untilDecided(() => keyed(RollApiKeyDocument, variables))));
    const fresh = answers.filter((answer) => answer.extensions?.idempotency === undefined);
    expect(fresh).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.errors).toBeUndefined();
      expect(answer.dataText).toBe(fresh[0].dataText);
    }
    expect(await countRows(app.runtime.dataSource, 'api_keys', 'name = ?', [name])).toBe(2);
  });

  it('revokeApiKey retried under the same key replays the revocation; without the key the second is refused', async () => {
    const target = await newApiKey(`revoke ${newIdempotencyKey('name')}`);
    const idempotencyKey = newIdempotencyKey('revoke');
    const first = await keyed(RevokeApiKeyDocument, { input: { id: target.id }, idempotencyKey });
    expectFresh(first);
    expect(first.data!.revokeApiKey!.apiKey).toMatchObject({ id: target.id, revokedAt: expect.any(String) });
    const retry = await keyed(RevokeApiKeyDocument, { input: { id: target.id }, idempotencyKey });
    expectReplayOf(first, retry, idempotencyKey);

    // What the key protects against: the same revocation sent again as a new request is refused.
    const unkeyed = await keyed(RevokeApiKeyDocument, { input: { id: target.id } });
    expect(errorCodeOf(unkeyed)).toBe('INVALID_STATE_TRANSITION');

    // The key names this revocation only.
    const other = await newApiKey(`revoke other ${idempotencyKey}`);
    const reused = await keyed(RevokeApiKeyDocument, { input: { id: other.id }, idempotencyKey });
    expect(errorCodeOf(reused)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(reused.errors![0].extensions?.details).toMatchObject({ differingArguments: ['input.id'] });
    expect(await countRows(app.runtime.dataSource, 'api_keys', 'id = ? AND revoked_at IS NULL', [other.id])).toBe(1);

    // The Idempotency-Key header keys it as well.
    const headerKey = newIdempotencyKey('revoke-header');
    const byHeader = await keyed(RevokeApiKeyDocument, { input: { id: other.id } }, { 'Idempotency-Key': headerKey });
    expectFresh(byHeader);
    expectReplayOf(byHeader, await keyed(RevokeApiKeyDocument, { input: { id: other.id } }, { 'Idempotency-Key': headerKey }), headerKey);
  });

  it('revokeOAuthClient and disableWebhookEndpoint retried under the same key replay the first answer', async () => {
    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'pos', scopes: ['LEDGER_READ'] } });
    const clientKey = newIdempotencyKey('revoke-client');
    const revoked = await keyed(RevokeOAuthClientDocument, { input: { id: createOAuthClient.client.id }, idempotencyKey: clientKey });
    expectFresh(revoked);
    expect(revoked.data!.revokeOAuthClient!.client.revokedAt).toEqual(expect.any(String));
    expectReplayOf(revoked, await keyed(RevokeOAuthClientDocument, { input: { id: createOAuthClient.client.id }, idempotencyKey: clientKey }), clientKey);

    const { createWebhookEndpoint } = await app.client.ok(CreateWebhookEndpointDocument, {
      input: { url: `https://hooks.example.com/${newIdempotencyKey('hook')}`, events: ['ALL'] },
    });
    const endpointKey = newIdempotencyKey('disable');
    const disabled = await keyed(DisableWebhookEndpointDocument, { input: { id: createWebhookEndpoint.webhookEndpoint.id }, idempotencyKey: endpointKey });
    expectFresh(disabled);
    expect(disabled.data!.disableWebhookEndpoint!.webhookEndpoint.disabledAt).toEqual(expect.any(String));
    expectReplayOf(disabled, await keyed(DisableWebhookEndpointDocument, { input: { id: createWebhookEndpoint.webhookEndpoint.id }, idempotencyKey: endpointKey }), endpointKey);
  });

  it('a replay whose stored response was lost rebuilds the payload from the object, and changes nothing', async () => {
    /** What a crash between the commit and storing the response leaves, once the lease has run out: a completed record without its response. */
    const dropStoredResponse = async (key: string): Promise<void> => {
      await app.runtime.dataSource.query('UPDATE idempotency_records SET response_ciphertext = NULL, lease_expires_at = created_at WHERE idempotency_key = ?', [key]);
    };

    const apiKey = await newApiKey(`rebuilt ${newIdempotencyKey('name')}`);
    const apiKeyKey = newIdempotencyKey('revoke-lost');
    const revoked = await keyed(RevokeApiKeyDocument, { input: { id: apiKey.id }, idempotencyKey: apiKeyKey });
    expectFresh(revoked);
    await dropStoredResponse(apiKeyKey);
    const rebuilt = await keyed(RevokeApiKeyDocument, { input: { id: apiKey.id }, idempotencyKey: apiKeyKey });
    expect(rebuilt.errors).toBeUndefined();
    expect(rebuilt.extensions?.idempotency).toEqual({ key: apiKeyKey, replayed: true });
    expect(rebuilt.data!.revokeApiKey!.apiKey).toMatchObject({ id: apiKey.id, revokedAt: expect.any(String) });

    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'lost', scopes: ['LEDGER_READ'] } });
    const clientKey = newIdempotencyKey('revoke-client-lost');
    expectFresh(await keyed(RevokeOAuthClientDocument, { input: { id: createOAuthClient.client.id }, idempotencyKey: clientKey }));
    await dropStoredResponse(clientKey);
    const clientRebuilt = await keyed(RevokeOAuthClientDocument, { input: { id: createOAuthClient.client.id }, idempotencyKey: clientKey });
    expect(clientRebuilt.extensions?.idempotency).toEqual({ key: clientKey, replayed: true });
    expect(clientRebuilt.data!.revokeOAuthClient!.client).toMatchObject({ id: createOAuthClient.client.id, revokedAt: expect.any(String) });

    const { createWebhookEndpoint } = await app.client.ok(CreateWebhookEndpointDocument, {
      input: { url: `https://hooks.example.com/${newIdempotencyKey('lost-hook')}`, events: ['ALL'] },
    });
    const endpointKey = newIdempotencyKey('disable-lost');
    expectFresh(await keyed(DisableWebhookEndpointDocument, { input: { id: createWebhookEndpoint.webhookEndpoint.id }, idempotencyKey: endpointKey }));
    await dropStoredResponse(endpointKey);
    const endpointRebuilt = await keyed(DisableWebhookEndpointDocument, { input: { id: createWebhookEndpoint.webhookEndpoint.id }, idempotencyKey: endpointKey });
    expect(endpointRebuilt.extensions?.idempotency).toEqual({ key: endpointKey, replayed: true });
    expect(endpointRebuilt.data!.disableWebhookEndpoint!.webhookEndpoint).toMatchObject({
      id: createWebhookEndpoint.webhookEndpoint.id,
      disabledAt: expect.any(String),
    });
  });
});
