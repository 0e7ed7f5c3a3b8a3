import { fromDbTimestamp } from '../../src/common/timestamps';
import { IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, expectFresh, expectReplayOf, idempotencyRows, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { TestClock } from '../helpers/test-clock';

type Account = Awaited<ReturnType<typeof createAccount>>;

const TTL_SECONDS = 2 * 3600;

/**
 * A key answers retries for IDEMPOTENCY_TTL; after that it behaves as new (a second entry), and the
 * reaper deletes the expired records. Time is moved with a test clock, never slept.
 */
describeEachDatabase('an idempotency key past IDEMPOTENCY_TTL', (kind) => {
  let app: TestApp;
  let clock: TestClock;
  let cash: Account;
  let revenue: Account;

  beforeAll(async () => {
    clock = new TestClock();
    app = await startTestApp(kind, { clock, env: { IDEMPOTENCY_TTL: '2h' } });
    cash = await createAccount(app.client, { type: 'ASSET' });
    revenue = await createAccount(app.client, { type: 'REVENUE' });
  });
  afterAll(async () => {
    await app?.close();
  });

  const post = (key: string, description: string) =>
    sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '4.00'), description },
      idempotencyKey: key,
    });

  it('replays until the TTL, then behaves as new and creates a second entry', async () => {
    expect(app.runtime.services.idempotency.ttlMs).toBe(TTL_SECONDS * 1000);
    const key = newIdempotencyKey('expiring');
    const description = `expiring ${key}`;
    const first = await post(key, description);
    expectFresh(first);

    clock.advanceSeconds(TTL_SECONDS - 1);
    expectReplayOf(first, await post(key, description), key);

    clock.advanceSeconds(1);
    const afterTtl = await post(key, description);
    expectFresh(afterTtl);
    expect(afterTtl.data?.postJournalEntry!.journalEntry.id).not.toBe(first.data?.postJournalEntry!.journalEntry.id);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(2);
    // One record for the key: the expired one made way for the new one, which replays in turn.
    expect(await idempotencyRows(app.runtime.dataSource, key)).toHaveLength(1);
    expectReplayOf(afterTtl, await post(key, description), key);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('lets the reaper delete expired records and keep the live ones', async () => {
    const oldKey = newIdempotencyKey('reaped');
    const youngKey = newIdempotencyKey('kept');
    expectFresh(await post(oldKey, 'reaped record'));
    clock.advanceSeconds(TTL_SECONDS / 2);
    expectFresh(await post(youngKey, 'kept record'));
    clock.advanceSeconds(TTL_SECONDS / 2);

    const reaped = await app.runtime.services.idempotency.reap();
    expect(reaped).toBeGreaterThanOrEqual(1);
    expect(await idempotencyRows(app.runtime.dataSource, oldKey)).toEqual([]);
    expect(await idempotencyRows(app.runtime.dataSource, youngKey)).toHaveLength(1);
    const now = clock.now().getTime();
    for (const row of await idempotencyRows(app.runtime.dataSource)) {
      expect(fromDbTimestamp(row.expires_at).getTime()).toBeGreaterThan(now);
    }
    // Nothing left to reap until the clock moves again.
    expect(await app.runtime.services.idempotency.reap()).toBe(0);
    // The entries of reaped keys stay: only the key's memory goes.
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', ['reaped record'])).toBe(1);
  });
});
