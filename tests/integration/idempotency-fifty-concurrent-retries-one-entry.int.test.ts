import { setRootFieldsOf } from '../helpers/graphql-client';
import { AccountBalancesDocument, IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import {
  countRows,
  errorCodeOf,
  expectReplayOf,
  idempotencyRows,
  type KeyedResult,
  newIdempotencyKey,
  sendKeyed,
  sleep,
} from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { usd } from '../helpers/ledger-snapshot';

const CALLS = 50;
const RETRY_ATTEMPTS = 40;

/**
 * A POS terminal that lost its connection fires the same keyed capture fifty times at once. Exactly
 * one entry may come of it; every other call either replays the first answer or is told the key is in
 * use, and a retry of the latter gets the replay.
 */
describeEachDatabase('fifty concurrent calls with one idempotency key', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('write one entry; the others replay it byte for byte or are IN_USE and replay when retried', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const key = newIdempotencyKey('pos-capture');
    const description = `checkout ${key}`;
    const variables = {
      input: { lines: transfer(cash.id, revenue.id, '12.34'), description, metadata: { terminal: 7, lane: 'B' } },
      idempotencyKey: key,
    };
    const send = () => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables);

    const results = await Promise.all(Array.from({ length: CALLS }, send));

    const fresh = results.filter((r) => !r.errors && r.extensions?.idempotency === undefined);
    const replayed = results.filter((r) => r.extensions?.idempotency !== undefined);
    const inUse = results.filter((r) => errorCodeOf(r) === 'IDEMPOTENCY_KEY_IN_USE');
    expect({ fresh: fresh.length, others: replayed.length + inUse.length }).toEqual({ fresh: 1, others: CALLS - 1 });
    const [first] = fresh;
    expect(first.data?.postJournalEntry!.journalEntry).toMatchObject({ status: 'POSTED', description, metadata: { terminal: 7, lane: 'B' } });
    for (const replay of replayed) expectReplayOf(first, replay, key);
    for (const refused of inUse) {
      expect(refused.errors).toHaveLength(1);
      expect(refused.errors?.[0].extensions).toMatchObject({ retryable: true, details: { key } });
      expect(setRootFieldsOf(refused.data)).toBeNull();
    }

    // Each IN_USE caller retries with a small backoff, as a client should, and gets the first answer.
    const retried = await Promise.all(
      inUse.map(async () => {
        let result: KeyedResult<unknown> = await send();
        for (let attempt = 1; errorCodeOf(result) === 'IDEMPOTENCY_KEY_IN_USE' && attempt < RETRY_ATTEMPTS; attempt += 1) {
          await sleep(10 * attempt);
          result = await send();
        }
        return result;
      }),
    );
    for (const replay of retried) expectReplayOf(first, replay, key);

    const entryId = first.data?.postJournalEntry!.journalEntry.id;
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(1);
    expect(await countRows(app.runtime.dataSource, 'postings', 'journal_entry_id = ?', [entryId])).toBe(2);
    const records = await idempotencyRows(app.runtime.dataSource, key);
    expect(records.map((row) => row.status)).toEqual(['COMPLETED']);

    // The balances moved once.
    const cashAfter = (await app.client.ok(AccountBalancesDocument, { id: cash.id })).account.balances;
    const revenueAfter = (await app.client.ok(AccountBalancesDocument, { id: revenue.id })).account.balances;
    expect(cashAfter.posted.net).toEqual(usd('12.34'));
    expect(revenueAfter.posted.net).toEqual(usd('12.34'));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
