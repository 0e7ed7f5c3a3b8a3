import type { Runtime } from '../../src/bootstrap';
import type { RunningServer } from '../../src/server/app';
import { type ApiBehindProxy, startApiBehindProxy } from '../helpers/api-behind-proxy';
import { describeOnMysql } from '../helpers/harness';
import { type LedgerFixture, makeIntents, postIntent, storedEntries } from '../helpers/keyed-entries';
import type { TcpProxy } from '../helpers/tcp-proxy';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A keyed mutation authenticated just before the network to MariaDB fails, whose idempotency claim
 * then finds no live connection in the pool: the pool tries a new one and is refused. That is the
 * interleaving the TCP-proxy outage suite hit about once in eight runs. TypeORM wraps the error of a
 * statement that failed in a QueryFailedError, but passes on the pool's own error when no connection
 * could be had, an error Node's socket made. Under jest that error comes from another realm than
 * graphql-js and fails its `instanceof Error` test; graphql-shield hands a resolver's error back as
 * its value (allowExternalErrors), so the error was taken for the payload and the client was told
 * INTERNAL_SERVER_ERROR ("Cannot return null for non-nullable field JournalEntryPayload.journalEntry").
 * The request must be told SERVICE_UNAVAILABLE, retryable, and its retry must land once.
 *
 * A journal entry's claim is now inserted by the ledger writer's batch, with the change: the first
 * database work after authentication is that batch's transaction, so the request is held there.
 */
describeOnMysql('An idempotency claim that needs a new database connection during an outage', () => {
  let setup: ApiBehindProxy;
  let proxy: TcpProxy;
  /** Reads the outcome directly, not through the proxy. */
  let direct: Runtime;
  /** The API under test, whose pool goes through the proxy. */
  let api: Runtime;
  let server: RunningServer;
  let fixture: LedgerFixture;

  beforeAll(async () => {
    setup = await startApiBehindProxy({ dataDirPrefix: 'reckon-claim-outage-', accounts: 2 });
    ({ proxy, direct, api, server, fixture } = setup);
  });

  afterAll(async () => {
    await setup?.close();
  });

  it('answers SERVICE_UNAVAILABLE (retryable), and the retry after the outage lands once', async () => {
    const [intent] = makeIntents('claim-refused', 1, fixture.accountIds);
    const { ledgerWriter } = api.services;
    const submit = ledgerWriter.submit.bind(ledgerWriter);
    let reachedClaim!: () => void;
    const claimReached = new Promise<void>((resolve) => (reachedClaim = resolve));
    let releaseClaim!: () => void;
    const outageInPlace = new Promise<void>((resolve) => (releaseClaim = resolve));
    // Holds the request between its authentication (done) and its batch, which claims its key (not
    // begun), while the network fails.
    const held = jest.spyOn(ledgerWriter, 'submit').mockImplementationOnce(async (command) => {
      reachedClaim();
      await outageInPlace;
      return submit(command);
    });

    try {
      const answer = postIntent(server.url, fixture.apiKey, intent);
      await claimReached;
      await proxy.cut();
      // The pool drops its reset connections as their sockets report it; until then a statement may
      // still be sent on one and fail as a QueryFailedError, which is the other, already handled case.
      // Once a statement has to connect anew and is refused, the claim will be too.
      const deadline = Date.now() + 5000;
      let refused: unknown;
      while (Date.now() < deadline) {
        refused = await api.dataSource.query('SELECT 1').then(
          () => undefined,
          (error: unknown) => error,
        );
        if ((refused as { code?: string } | undefined)?.code === 'ECONNREFUSED' && (refused as Error).name !== 'QueryFailedError') break;
        await sleep(20);
      }
      expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
      expect((refused as Error).name).not.toBe('QueryFailedError');
      releaseClaim();

      expect(await answer).toMatchObject({ kind: 'error', code: 'SERVICE_UNAVAILABLE', retryable: true });
    } finally {
      releaseClaim();
      held.mockRestore();
      await proxy.restore();
    }

    // The claim was never written, so the key is free at once: the retry is new, not a replay.
    expect(await postIntent(server.url, fixture.apiKey, intent)).toMatchObject({ kind: 'ok', replayed: false });
    const stored = await storedEntries(direct.dataSource, 'claim-refused');
    expect(stored.map((entry) => entry.description)).toEqual([intent.description]);
  });
});
