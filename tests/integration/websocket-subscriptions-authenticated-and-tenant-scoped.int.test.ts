import { setRootFieldsOf } from '../helpers/graphql-client';
import WebSocket from 'ws';
import type { Clock } from '../../src/common/clock';
import { generateApiKey } from '../../src/modules/auth/api-key-format';
import { journalEntryPostedChannel } from '../../src/modules/ledger/ledger.events';
import {
  AccountsDocument,
  CreateOAuthClientDocument,
  JournalEntryDocument,
  JournalEntryPostedDocument,
  JournalEntryPostedIdsDocument,
  PostJournalEntriesDocument,
  PostJournalEntryDocument,
  PostPendingJournalEntryDocument,
  ReverseJournalEntryDocument,
  RevokeApiKeyDocument,
  RevokeOAuthClientDocument,
  VoidPendingJournalEntryDocument,
} from '../generated/graphql';
import { describeEachDatabase, type TestApp, type TestTenant, startTestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { clientCredentialsToken } from '../helpers/oauth-http';
import { SocketClient, waitUntil, webSocketUrlOf } from '../helpers/ws-client';

/** Real time moved by hand: tokens and keys expire without sleeping, everything else keeps running. */
class ShiftedClock implements Clock {
  offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

const CHECK_INTERVAL_MS = 100;

describeEachDatabase('WebSocket subscriptions: authenticated and tenant-scoped', (kind) => {
  let app: TestApp;
  const clock = new ShiftedClock();
  const sockets: SocketClient[] = [];

  function connect(credential: string | null): SocketClient {
    const socket = new SocketClient(app.url, { authorization: credential === null ? null : `Bearer ${credential}` });
    sockets.push(socket);
    return socket;
  }

  /** Until this many streams of the tenant are live on the server, so nothing posted afterwards is missed. */
  function subscribersLive(tenantId: string, count: number): Promise<void> {
    return waitUntil(
      () => app.runtime.services.pubSub.listenerCount(journalEntryPostedChannel(tenantId)) >= count,
      `${count} journalEntryPosted subscribers of ${tenantId} are live`,
    );
  }

  async function keyWithScopes(tenant: TestTenant, scopes: string[], expiresAt?: Date): Promise<{ id: string; secret: string }> {
    const { apiKey, secret } = await app.runtime.services.auth.createApiKey(tenant.tenantId, { name: `ws ${scopes.join(' ')}`, scopes, expiresAt });
    return { id: apiKey.id, secret };
  }

  beforeAll(async () => {
    app = await startTestApp(kind, { clock, env: { WS_CREDENTIAL_CHECK_INTERVAL_MS: String(CHECK_INTERVAL_MS) } });
  });

  afterEach(async () => {
    clock.offsetMs = 0;
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
    // The server detaches a closed socket's streams a moment later; each test starts with none.
    await waitUntil(() => app.runtime.services.pubSub.listenerCount(journalEntryPostedChannel(app.tenantId)) === 0, 'every stream is detached');
  });

  afterAll(async () => {
    await app.close();
  });

  it('closes a connection without credentials with 4403', async () => {
    const closure = await connect(null).waitForClose();
    expect(closure.code).toBe(4403);
    expect(closure.reason).toMatch(/^UNAUTHENTICATED: Missing credentials/);
  });

  it('closes a connection with an unknown key, a malformed credential or another scheme with 4403', async () => {
    const unknownKey = generateApiKey().secret;
    for (const credential of [`Bearer ${unknownKey}`, 'Bearer not-a-key', `Basic ${Buffer.from('a:b').toString('base64')}`]) {
      const socket = new SocketClient(app.url, { authorization: credential });
      sockets.push(socket);
      const closure = await socket.waitForClose();
      expect(closure).toEqual({ code: 4403, reason: expect.stringMatching(/^UNAUTHENTICATED: Invalid credentials/) });
    }
  });

  it('refuses a credential in the upgrade URL before the handshake, as HTTP does', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${webSocketUrlOf(app.url)}?access_token=${app.apiKey}`, 'graphql-transport-ws');
      socket.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        socket.terminate();
      });
      socket.on('open', () => reject(new Error('the handshake was accepted')));
      socket.on('error', () => undefined);
    });
    expect(status).toBe(400);
  });

  it('refuses a subscription sent over HTTP before execution, pointing at the WebSocket endpoint', async () => {
    const result = await app.client.request(JournalEntryPostedIdsDocument);
    expect(result.status).toBe(400);
    expect(result.errors).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^Subscriptions run over WebSocket/), extensions: expect.objectContaining({ code: 'BAD_REQUEST' }) }),
    ]);
  });

  it('refuses journalEntryPosted to a key without ledger:read (FORBIDDEN) and streams to one with it', async () => {
    const debit = await createAccount(app.client);
    const credit = await createAccount(app.client, { type: 'LIABILITY' });
    const restricted = await keyWithScopes(app, ['payments:read']);
    const refused = connect(restricted.secret).subscribe(JournalEntryPostedIdsDocument);
    const [result] = await refused.take(1);
    expect(setRootFieldsOf(result.data)).toBeNull();
    expect(result.errors).toEqual([
      expect.objectContaining({
        message: 'This credential lacks the "ledger:read" scope',
        path: ['journalEntryPosted'],
        extensions: expect.objectContaining({ code: 'FORBIDDEN', details: { requiredScope: 'ledger:read' }, requestId: expect.stringMatching(/^req_/) }),
      }),
    ]);
    expect(await refused.ended()).toEqual({ completed: true });

    for (const scopes of [['ledger:read'], ['ledger:write']]) {
      const allowed = await keyWithScopes(app, scopes);
      const probe = connect(allowed.secret).subscribe(JournalEntryPostedIdsDocument);
      await subscribersLive(app.tenantId, scopes[0] === 'ledger:read' ? 1 : 2);
      const entry = await postTransfer(app.client, debit.id, credit.id, '1.00');
      const [event] = await probe.take(1);
      expect(event).toEqual({ data: { journalEntryPosted: { id: entry.id, status: 'POSTED' } } });
    }
  });

  it('never gives one tenant’s subscriber another tenant’s entries', async () => {
    const other = await app.createTenant('Other');
    const accountsA = [await createAccount(app.client), await createAccount(app.client, { type: 'REVENUE' })];
    const accountsB = [await createAccount(other.client), await createAccount(other.client, { type: 'REVENUE' })];
    const subscriberA = connect(app.apiKey).subscribe(JournalEntryPostedDocument);
    const subscriberB = connect(other.apiKey).subscribe(JournalEntryPostedDocument);
    await subscribersLive(app.tenantId, 1);
    await subscribersLive(other.tenantId, 1);

    const b1 = await postTransfer(other.client, accountsB[0].id, accountsB[1].id, '5.00');
    const a1 = await postTransfer(app.client, accountsA[0].id, accountsA[1].id, '7.00');
    const b2 = await postTransfer(other.client, accountsB[0].id, accountsB[1].id, '9.00', { status: 'PENDING' });

    const eventsB = await subscriberB.take(2);
    expect(eventsB.map((event) => event.data?.journalEntryPosted!.id)).toEqual([b1.id, b2.id]);
    const [eventA] = await subscriberA.take(1);
    expect(eventA.data?.journalEntryPosted!.id).toBe(a1.id);
    // B's entries were published before and after A's: had any reached A, it would be here by now.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(subscriberA.unread).toBe(0);
    expect(subscriberB.unread).toBe(0);
    const accountIdsSeenByA = eventA.data?.journalEntryPosted!.postings.map((posting) => posting.account.id);
    expect(accountIdsSeenByA?.sort()).toEqual(accountsA.map((account) => account.id).sort());
  });

  it('emits each committed write with its committed data, and nothing for refused writes', async () => {
    const cash = await createAccount(app.client);
    const capped = await createAccount(app.client, { noOverdraft: true });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const probe = connect(app.apiKey).subscribe(JournalEntryPostedDocument);
    await subscribersLive(app.tenantId, 1);

    async function expectEventAsCommitted(entryId: string) {
      const [event] = await probe.take(1);
      const streamed = event.data?.journalEntryPosted;
      expect(event.errors).toBeUndefined();
      expect(streamed?.id).toBe(entryId);
      // The entry as the database now has it: the event came after the commit, with the same data.
      const { journalEntry } = await app.client.ok(JournalEntryDocument, { id: entryId });
      expect(streamed).toEqual(journalEntry);
      return streamed as NonNullable<typeof streamed>;
    }

    const posted = await app.client.ok(PostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '12.34'), description: 'sale', externalRef: `ws-${kind}-sale`, metadata: { order: 42 } },
    });
    const postedEvent = await expectEventAsCommitted(posted.postJournalEntry.journalEntry.id);
    expect(postedEvent).toEqual(posted.postJournalEntry.journalEntry);
    expect(postedEvent).toMatchObject({ status: 'POSTED', description: 'sale', metadata: { order: 42 } });

    const pending = await postTransfer(app.client, cash.id, revenue.id, '20.00', { status: 'PENDING' });
    expect((await expectEventAsCommitted(pending.id)).status).toBe('PENDING');
    await app.client.ok(PostPendingJournalEntryDocument, { input: { id: pending.id, lines: transfer(cash.id, revenue.id, '15.00') } });
    const postedPending = await expectEventAsCommitted(pending.id);
    expect(postedPending.status).toBe('POSTED');
    expect(postedPending.resolvedAt).not.toBeNull();
    // The same entry's second event reads the postings the capture added, not those cached for the first.
    expect(postedPending.postings.filter((posting) => posting.phase === 'POSTED')).toHaveLength(2);

    const held = await postTransfer(app.client, cash.id, revenue.id, '3.00', { status: 'PENDING' });
    await expectEventAsCommitted(held.id);
    await app.client.ok(VoidPendingJournalEntryDocument, { input: { id: held.id } });
    expect((await expectEventAsCommitted(held.id)).status).toBe('VOIDED');

    const reversal = await app.client.ok(ReverseJournalEntryDocument, { input: { id: posted.postJournalEntry.journalEntry.id } });
    const reversalEvent = await expectEventAsCommitted(reversal.reverseJournalEntry.journalEntry.id);
    expect(reversalEvent.reversalOf).toEqual({ id: posted.postJournalEntry.journalEntry.id });

    const batch = await app.client.ok(PostJournalEntriesDocument, {
      input: { entries: ['1.00', '2.00', '3.00'].map((amount) => ({ lines: transfer(cash.id, revenue.id, amount) })) },
    });
    const batchEvents = await probe.take(3);
    expect(batchEvents.map((event) => event.data?.journalEntryPosted!.id)).toEqual(batch.postJournalEntries.journalEntries.map((entry) => entry.id));

    // Refused writes commit nothing and publish nothing: an overdraft, an unbalanced entry, a batch
    // whose second entry fails (all or nothing), and a second reversal.
    expect(await app.client.errorCode(PostJournalEntryDocument, { input: { lines: transfer(revenue.id, capped.id, '1.00') } })).toBe('INSUFFICIENT_FUNDS');
    expect(
      await app.client.errorCode(PostJournalEntryDocument, {
        input: { lines: [{ accountId: cash.id, direction: 'DEBIT', amount: '1.00', currency: 'USD' }, { accountId: revenue.id, direction: 'CREDIT', amount: '2.00', currency: 'USD' }] },
      }),
    ).toBe('VALIDATION_FAILED');
    expect(
      await app.client.errorCode(PostJournalEntriesDocument, {
        input: { entries: [{ lines: transfer(cash.id, revenue.id, '1.00') }, { lines: transfer(revenue.id, capped.id, '1.00') }] },
      }),
    ).toBe('INSUFFICIENT_FUNDS');
    expect(await app.client.errorCode(ReverseJournalEntryDocument, { input: { id: posted.postJournalEntry.journalEntry.id } })).toBe('INVALID_STATE_TRANSITION');
    const last = await postTransfer(app.client, cash.id, revenue.id, '0.01');
    await expectEventAsCommitted(last.id);
    expect(probe.unread).toBe(0);
  });

  it('ends an open stream with 4403 when its key is revoked, and refuses the key afterwards', async () => {
    const key = await keyWithScopes(app, ['ledger:read']);
    const socket = connect(key.secret);
    const probe = socket.subscribe(JournalEntryPostedIdsDocument);
    await subscribersLive(app.tenantId, 1);

    await app.client.ok(RevokeApiKeyDocument, { input: { id: key.id } });
    const closure = await socket.waitForClose(20 * CHECK_INTERVAL_MS);
    expect(closure).toEqual({ code: 4403, reason: 'UNAUTHENTICATED: the credential has expired or was revoked' });
    expect((await probe.ended()).completed).toBe(false);
    await waitUntil(() => app.runtime.services.pubSub.listenerCount(journalEntryPostedChannel(app.tenantId)) === 0, 'the stream is detached');

    const again = await connect(key.secret).waitForClose();
    expect(again.code).toBe(4403);
  });

  it('ends an open stream with 4403 when its access token expires', async () => {
    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'ws dashboard', scopes: ['LEDGER_READ'] } });
    const token = await clientCredentialsToken(app.url, createOAuthClient.client.id, createOAuthClient.clientSecret);
    const socket = connect(token.accessToken);
    const probe = socket.subscribe(JournalEntryPostedIdsDocument);
    await subscribersLive(app.tenantId, 1);
    const debit = await createAccount(app.client);
    const credit = await createAccount(app.client, { type: 'REVENUE' });
    const entry = await postTransfer(app.client, debit.id, credit.id, '2.00');
    expect((await probe.take(1))[0].data?.journalEntryPosted.id).toBe(entry.id);

    clock.offsetMs = (token.expiresIn + 1) * 1000;
    const closure = await socket.waitForClose(20 * CHECK_INTERVAL_MS);
    expect(closure).toEqual({ code: 4403, reason: 'UNAUTHENTICATED: the credential has expired or was revoked' });
    expect((await connect(token.accessToken).waitForClose()).code).toBe(4403);
  });

  it('ends an open stream with 4403 when its token’s OAuth client is revoked', async () => {
    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'ws revoked', scopes: ['LEDGER_READ'] } });
    const token = await clientCredentialsToken(app.url, createOAuthClient.client.id, createOAuthClient.clientSecret);
    const socket = connect(token.accessToken);
    socket.subscribe(JournalEntryPostedIdsDocument);
    await subscribersLive(app.tenantId, 1);
    await app.client.ok(RevokeOAuthClientDocument, { input: { id: createOAuthClient.client.id } });
    expect((await socket.waitForClose(20 * CHECK_INTERVAL_MS)).code).toBe(4403);
  });

  it('ends an open stream with 4403 at its key’s expiry instant', async () => {
    const key = await keyWithScopes(app, ['ledger:read'], new Date(Date.now() + 1500));
    const socket = connect(key.secret);
    socket.subscribe(JournalEntryPostedIdsDocument);
    await socket.connected;
    const closure = await socket.waitForClose(5000);
    expect(closure.code).toBe(4403);
    expect(closure.reason).toMatch(/^UNAUTHENTICATED: the credential has expired/);
  });

  it('runs queries and mutations over the socket through the same scope checks, limits and error format as HTTP', async () => {
    const debit = await createAccount(app.client);
    const credit = await createAccount(app.client, { type: 'REVENUE' });
    const reader = connect((await keyWithScopes(app, ['ledger:read'])).secret);

    const refused = await reader.execute(PostJournalEntryDocument, { input: { lines: transfer(debit.id, credit.id, '1.00') } });
    expect(setRootFieldsOf(refused.data)).toBeNull();
    expect(refused.errors).toEqual([
      expect.objectContaining({
        message: 'This credential lacks the "ledger:write" scope',
        extensions: expect.objectContaining({ code: 'FORBIDDEN', details: { requiredScope: 'ledger:write' }, requestId: expect.stringMatching(/^req_/) }),
      }),
    ]);
    const accounts = await reader.execute(AccountsDocument, { first: 500 });
    expect(accounts.errors).toBeUndefined();
    expect(accounts.data?.accounts!.edges.map((edge) => edge.node.id)).toEqual(expect.arrayContaining([debit.id, credit.id]));

    const writer = connect(app.apiKey);
    const posted = await writer.execute(PostJournalEntryDocument, { input: { lines: transfer(debit.id, credit.id, '4.00') } });
    expect(posted.errors).toBeUndefined();
    expect(posted.data?.postJournalEntry!.journalEntry.status).toBe('POSTED');

    const invalid = await writer.executeRaw('{ accounts(first: 1) { edges { node { nope } } } }');
    expect(invalid.errors?.[0].extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', requestId: expect.stringMatching(/^req_/) });
    const badVariables = await writer.executeRaw('query ($first: Int) { accounts(first: $first) { edges { node { id } } } }', { first: 'many' });
    expect(badVariables.errors?.[0].extensions?.code).toBe('VALIDATION_FAILED');
    const deep = `{ ${'journalEntries(first: 1) { edges { node { postings { journalEntry { '.repeat(4)}id${' } } } } }'.repeat(4)} }`;
    const tooDeep = await writer.executeRaw(deep);
    expect(tooDeep.errors?.[0].extensions).toMatchObject({ code: 'QUERY_REFUSED', details: { limit: 'depth' } });
    const notFound = await writer.execute(JournalEntryDocument, { id: 'je_00000000000000000000000000' });
    expect(notFound.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });
});
