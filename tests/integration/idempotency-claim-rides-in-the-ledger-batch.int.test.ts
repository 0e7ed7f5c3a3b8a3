import { IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { withAuditEventsRefused } from '../helpers/audit-refusal';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, errorCodeOf, expectFresh, expectReplayOf, idempotencyRows, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

/**
 * A keyed journal-entry mutation claims its key in the ledger writer's batch transaction, with the
 * change, its completion and its audit event, rather than in a statement and commit of its own
 * before: one transaction decides all of it, so none of it exists without the rest.
 */
describeEachDatabase('an idempotency claim inserted by the ledger batch', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('exists only with its entry: a batch that fails leaves no claim behind, and the key then works', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const description = `claimed-in-batch-${newIdempotencyKey('d')}`;
    const input = { lines: transfer(cash.id, revenue.id, '7.00'), description };
    const key = newIdempotencyKey('in-batch');
    const send = () => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, { input, idempotencyKey: key });

    // The audit event cannot be written: the batch transaction fails, and with it the claim.
    await withAuditEventsRefused(app.runtime.dataSource, kind, 'postJournalEntry', async () => {
      expect(errorCodeOf(await send())).toBe('INTERNAL_SERVER_ERROR');
    });
    expect(await idempotencyRows(app.runtime.dataSource, key)).toEqual([]);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(0);

    // Nothing holds the key: the retry is a first execution, committed with its COMPLETED record.
    const first = await send();
    expectFresh(first);
    const [record] = await idempotencyRows(app.runtime.dataSource, key);
    expect(record.status).toBe('COMPLETED');
    expect(JSON.parse(String(record.result_ref))).toEqual({ journalEntryIds: [first.data?.postJournalEntry?.journalEntry.id] });

    // A copy finds the key in its own batch, is refused there without touching the ledger, and
    // replays through the usual claim.
    expectReplayOf(first, await send(), key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(1);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('sent all at once, copies and fresh keys alike: each key gets one entry, every copy its replay or IN_USE', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const keys = Array.from({ length: 6 }, (_, i) => newIdempotencyKey(`mixed-${i}`));
    const description = `mixed-${newIdempotencyKey('d')}`;
    // Each key sent four times at once, all 24 requests concurrently.
    const results = await Promise.all(
      keys.flatMap((idempotencyKey) =>
        Array.from({ length: 4 }, () =>
          sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, { input: { lines: transfer(cash.id, revenue.id, '1.00'), description }, idempotencyKey }).then(
            (result) => ({ idempotencyKey, result }),
          ),
        ),
      ),
    );
    for (const idempotencyKey of keys) {
      const mine = results.filter((r) => r.idempotencyKey === idempotencyKey).map((r) => r.result);
      const fresh = mine.filter((r) => !r.errors && !r.extensions?.idempotency);
      expect([idempotencyKey, fresh.length]).toEqual([idempotencyKey, 1]);
      for (const other of mine) {
        if (other === fresh[0]) continue;
        if (other.errors) expect(errorCodeOf(other)).toBe('IDEMPOTENCY_KEY_IN_USE');
        else expectReplayOf(fresh[0], other, idempotencyKey);
      }
    }
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(keys.length);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
