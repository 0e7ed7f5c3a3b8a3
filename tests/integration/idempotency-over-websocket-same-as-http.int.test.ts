import { IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, expectFresh, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { SocketClient, type SocketResult } from '../helpers/ws-client';

type Account = Awaited<ReturnType<typeof createAccount>>;

/**
 * Mutations sent over graphql-ws keep the same idempotency contract as over HTTP, and share its keys:
 * the scope is the credential, not the transport.
 */
describeEachDatabase('idempotency keys over the WebSocket transport', (kind) => {
  let app: TestApp;
  let socket: SocketClient;
  let cash: Account;
  let revenue: Account;

  beforeAll(async () => {
    app = await startTestApp(kind);
    cash = await createAccount(app.client, { type: 'ASSET' });
    revenue = await createAccount(app.client, { type: 'REVENUE' });
    socket = SocketClient.withKey(app.url, app.apiKey);
    await socket.connected;
  });
  afterAll(async () => {
    await socket?.dispose();
    await app?.close();
  });

  const variables = (key: string, description: string) => ({
    input: { lines: transfer(cash.id, revenue.id, '2.50'), description, metadata: { via: 'socket' } },
    idempotencyKey: key,
  });

  function expectSocketReplayOf(first: { data?: unknown }, replay: SocketResult<unknown>, key: string): void {
    expect(replay.errors).toBeUndefined();
    expect(replay.extensions).toEqual({ idempotency: { key, replayed: true } });
    expect(JSON.stringify(replay.data)).toBe(JSON.stringify(first.data));
  }

  it('replays a keyed mutation sent twice on the socket, with the extension', async () => {
    const key = newIdempotencyKey('ws');
    const description = `socket ${key}`;
    const first = await socket.execute(IdempotentPostJournalEntryDocument, variables(key, description));
    expect(first.errors).toBeUndefined();
    expect(first.extensions?.idempotency).toBeUndefined();
    expect(first.data?.postJournalEntry!.journalEntry.description).toBe(description);

    expectSocketReplayOf(first, await socket.execute(IdempotentPostJournalEntryDocument, variables(key, description)), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(1);

    // A reused key is refused on the socket as over HTTP.
    const original = variables(key, description);
    const reused = await socket.execute(IdempotentPostJournalEntryDocument, { ...original, input: { ...original.input, description: 'other' } });
    expect(reused.errors?.[0].extensions).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', details: { differingArguments: ['input.description'] } });
  });

  it('replays over the socket a key first used over HTTP, and the other way round', async () => {
    const httpKey = newIdempotencyKey('http-then-ws');
    const overHttp = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables(httpKey, `http ${httpKey}`));
    expectFresh(overHttp);
    expectSocketReplayOf(overHttp, await socket.execute(IdempotentPostJournalEntryDocument, variables(httpKey, `http ${httpKey}`)), httpKey);

    const socketKey = newIdempotencyKey('ws-then-http');
    const overSocket = await socket.execute(IdempotentPostJournalEntryDocument, variables(socketKey, `ws ${socketKey}`));
    expect(overSocket.errors).toBeUndefined();
    const replay = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables(socketKey, `ws ${socketKey}`));
    expect(replay.extensions?.idempotency).toEqual({ key: socketKey, replayed: true });
    expect(replay.dataText).toBe(JSON.stringify(overSocket.data));

    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description IN (?, ?)', [`http ${httpKey}`, `ws ${socketKey}`])).toBe(2);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
