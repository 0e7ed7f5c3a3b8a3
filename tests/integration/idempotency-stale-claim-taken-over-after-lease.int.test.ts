import { runInTransaction } from '../../src/db/transaction';
import type { Fingerprint } from '../../src/modules/idempotency/fingerprint';
import type { EntryDirection } from '../../src/modules/ledger/ledger.types';
import { AccountDocument, IdempotentPostJournalEntryDocument, MeDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import {
  countRows,
  errorCodeOf,
  expectFresh,
  expectReplayOf,
  idempotencyRows,
  newIdempotencyKey,
  sendKeyed,
} from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';
import { TestClock } from '../helpers/test-clock';

const LEASE_SECONDS = 30;

/**
 * A request that claimed a key and then died (a crash, a hang) leaves an IN_PROGRESS record. Within
 * its lease the key is IN_USE; after it, a retry takes the claim over and does the work. Should the
 * stale holder come back and try to complete, its completion fails, so its change rolls back with it.
 */
describeEachDatabase('a stale in-progress idempotency claim', (kind) => {
  let app: TestApp;
  let clock: TestClock;

  beforeAll(async () => {
    clock = new TestClock();
    app = await startTestApp(kind, { clock, env: { IDEMPOTENCY_LEASE: `${LEASE_SECONDS}s` } });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is IN_USE during its lease, taken over after it, and the stale holder can no longer complete', async () => {
    const idempotency = app.runtime.services.idempotency;
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const input = { lines: transfer(cash.id, revenue.id, '15.00'), description: 'capture after a crash' };
    const send = (idempotencyKey: string) => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, { input, idempotencyKey });

    // The fingerprint this request computes (it leaves the key out), read from a first request under
    // another key: the crashed holder below claims with exactly what a retry will send. (A journal
    // entry's claim is prepared here and inserted by its batch; the holder below claims the way every
    // other mutation does, first and on its own, which is what can be left behind by a crash.)
    const claimSpy = jest.spyOn(idempotency, 'prepareClaim');
    expectFresh(await send(newIdempotencyKey('probe')));
    const fingerprint = claimSpy.mock.calls[0][1] as Fingerprint;
    claimSpy.mockRestore();

    const { me } = await app.client.ok(MeDocument, {});
    const key = newIdempotencyKey('crashed');
    const stale = await idempotency.claim({ tenantId: app.tenantId, credentialId: me.credentialId, operation: 'postJournalEntry', key }, fingerprint);
    if (stale.kind !== 'new') throw new Error('expected a fresh claim');
    const [staleRecord] = await idempotencyRows(app.runtime.dataSource, key);
    expect(staleRecord.status).toBe('IN_PROGRESS');
    const ledgerBefore = await takeLedgerSnapshot(app.runtime.dataSource);

    const during = await send(key);
    expect(errorCodeOf(during)).toBe('IDEMPOTENCY_KEY_IN_USE');
    // How long a client may have to wait: until the lease ends and a retry can take the claim over.
    expect(during.errors?.[0].extensions).toMatchObject({ retryable: true, details: { key, retryAfterSeconds: LEASE_SECONDS } });
    clock.advanceSeconds(LEASE_SECONDS - 1);
    const lastSecond = await send(key);
    expect(errorCodeOf(lastSecond)).toBe('IDEMPOTENCY_KEY_IN_USE');
    expect(lastSecond.errors?.[0].extensions).toMatchObject({ details: { key, retryAfterSeconds: 1 } });
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(ledgerBefore);

    clock.advanceSeconds(2);
    const takenOver = await send(key);
    expectFresh(takenOver);
    const entryId = takenOver.data?.postJournalEntry!.journalEntry.id;
    const [record] = await idempotencyRows(app.runtime.dataSource, key);
    expect(record).toMatchObject({ id: staleRecord.id, status: 'COMPLETED' });
    expect(record.claim_token).not.toBe(stale.handle.claimToken);

    // The stale holder wakes up and completes inside its own transaction: the completion throws, and
    // what it wrote in that transaction rolls back with it.
    const accountName = (await app.client.ok(AccountDocument, { id: cash.id })).account.name;
    await expect(
      runInTransaction(app.runtime.dataSource, async (manager) => {
        await manager.query('UPDATE accounts SET name = ? WHERE id = ?', ['written by the stale holder', cash.id]);
        await idempotency.complete(manager, stale.handle, { resultRef: { journalEntryIds: ['je_stale'] } });
      }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
    expect((await app.client.ok(AccountDocument, { id: cash.id })).account.name).toBe(accountName);

    // Its real write path, the ledger writer, completes the claim in the batch transaction: refused too.
    const entriesBefore = await countRows(app.runtime.dataSource, 'journal_entries');
    const serviceInput = {
      ...input,
      lines: input.lines.map((line) => ({ ...line, accountId: String(line.accountId), direction: line.direction as EntryDirection })),
    };
    await expect(app.runtime.services.ledger.postEntry(app.tenantId, serviceInput, stale.handle)).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_IN_USE',
    });
    expect(await countRows(app.runtime.dataSource, 'journal_entries')).toBe(entriesBefore);
    expect(await idempotencyRows(app.runtime.dataSource, key)).toEqual([record]);

    const replay = await send(key);
    expectReplayOf(takenOver, replay, key);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'id = ?', [entryId])).toBe(1);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
