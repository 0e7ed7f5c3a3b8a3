import mysql from 'mysql2/promise';
import { PostJournalEntriesDocument } from '../generated/graphql';
import { describeOnMysql, startTestApp, type TestApp } from '../helpers/harness';
import { countRows } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

/**
 * A ledger write locks the accounts it changes and no others. MariaDB's optimizer walked the whole
 * primary key for the writer's balance UPDATE (… WHERE id IN (…)) when the list was large next to the
 * table, and an UPDATE locks every row it walks: two batches then deadlocked over accounts neither
 * wrote. Here another transaction holds one account the whole time; writes that do not touch it must
 * go through (before the fix they waited on it until their statement limit).
 */
describeOnMysql('a ledger batch on MySQL', () => {
  let app: TestApp;
  let side: mysql.Connection;

  beforeAll(async () => {
    app = await startTestApp('mysql');
    side = await mysql.createConnection({ uri: (app.runtime.dataSource.options as { url: string }).url });
  });
  afterAll(async () => {
    await side?.end();
    await app?.close();
  });

  it('locks only the accounts it writes: an account held by another transaction does not stop it', async () => {
    // A small table, and a batch touching most of it: the shape that made the optimizer walk it all.
    const accounts = [];
    for (let i = 0; i < 6; i += 1) accounts.push(await createAccount(app.client, { type: 'ASSET' }));
    const [held, ...others] = accounts;
    const description = `beside-a-held-account-${Date.now()}`;
    const entries = others.flatMap((debit, i) => others.filter((_, j) => j !== i).map((credit) => ({ lines: transfer(debit.id, credit.id, '1.00'), description })));

    await side.query('START TRANSACTION');
    try {
      await side.query('SELECT id FROM accounts WHERE id = ? FOR UPDATE', [held.id]);
      const result = await app.client.request(PostJournalEntriesDocument, { input: { entries } });
      expect(result.errors).toBeUndefined();
      expect(result.data?.postJournalEntries?.journalEntries).toHaveLength(entries.length);
    } finally {
      await side.query('ROLLBACK');
    }
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'description = ?', [description])).toBe(entries.length);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
