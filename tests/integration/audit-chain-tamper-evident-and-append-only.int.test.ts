import { appendOnlyTriggers } from '../../migrations/1764700000000-audit-events';
import { newUlid } from '../../src/common/ids';
import { AccountsDocument, IdempotentPostJournalEntryDocument, MeDocument, VerifyAuditChainDocument } from '../generated/graphql';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';

/**
 * The chain shows tampering: an event edited, deleted or moved with raw SQL (its trigger dropped for
 * the purpose) is named by verifyAuditChain as the first broken sequence, and the chain verifies
 * again once the row is put back. Without dropping them, the triggers refuse UPDATE and DELETE on
 * audit_events and postings. Concurrent mutations never fork a chain.
 */

type Row = Record<string, unknown>;

describeEachDatabase('audit chain: tamper-evident and append-only', (kind) => {
  let app: TestApp;
  const mysql = kind === 'mysql';
  const triggers = appendOnlyTriggers(mysql);

  const query = (sql: string, params: unknown[] = []): Promise<Row[]> => app.runtime.dataSource.query(sql, params);
  const verify = async (from?: number, to?: number) => (await app.client.ok(VerifyAuditChainDocument, { from, to })).verifyAuditChain;
  const rowAt = async (sequence: number): Promise<Row> => (await query('SELECT * FROM audit_events WHERE tenant_id = ? AND sequence = ?', [app.tenantId, sequence]))[0];
  const lastSequence = async (): Promise<number> => {
    await app.runtime.services.audit.flush();
    const [head] = await query('SELECT last_sequence FROM audit_chain_heads WHERE tenant_id = ?', [app.tenantId]);
    return Number(head.last_sequence);
  };
  /** Runs `work` with one trigger dropped, then puts the trigger back whatever happens. */
  const withoutTrigger = async (name: keyof typeof triggers, work: () => Promise<void>) => {
    await query(`DROP TRIGGER ${name}`);
    try {
      await work();
    } finally {
      await query(triggers[name]);
    }
  };
  const insertRow = async (row: Row) => {
    const columns = Object.keys(row);
    await query(`INSERT INTO audit_events (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, columns.map((column) => row[column]));
  };
  const expectRefused = async (sql: string, params: unknown[], message: RegExp) => {
    await expect(query(sql, params)).rejects.toThrow(message);
  };

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { AUDIT_FLUSH_INTERVAL_MS: '50' } });
    const debit = await createAccount(app.client);
    const credit = await createAccount(app.client, { type: 'LIABILITY' });
    for (let i = 0; i < 5; i += 1) await postTransfer(app.client, debit.id, credit.id, '1.00');
    await app.client.ok(AccountsDocument, {});
    await app.client.ok(MeDocument);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('verifies an untouched chain, whole or in part', async () => {
    const last = await lastSequence();
    expect(last).toBeGreaterThan(8);
    const whole = await verify();
    expect(whole).toMatchObject({ valid: true, firstBrokenSequence: null, fromSequence: 1 });
    expect(whole.checkedCount).toBeGreaterThanOrEqual(last);
    expect(await verify(3, 6)).toEqual({ valid: true, firstBrokenSequence: null, checkedCount: 4, fromSequence: 3, toSequence: 6 });
    const refused = await app.client.request(VerifyAuditChainDocument, { from: 5, to: 2 });
    expect(refused.errors?.[0].extensions?.code).toBe('VALIDATION_FAILED');
  });

  it('refuses UPDATE and DELETE of audit events and of postings, whoever asks', async () => {
    const before = await rowAt(2);
    await expectRefused('UPDATE audit_events SET outcome = ? WHERE tenant_id = ? AND sequence = ?', ['ERROR', app.tenantId, 2], /append-only/);
    await expectRefused('DELETE FROM audit_events WHERE tenant_id = ? AND sequence = ?', [app.tenantId, 2], /append-only/);
    expect(await rowAt(2)).toEqual(before);

    const [posting] = await query('SELECT * FROM postings ORDER BY id LIMIT 1');
    await expectRefused('UPDATE postings SET amount_minor = amount_minor + 1 WHERE id = ?', [posting.id], /append-only/);
    await expectRefused('DELETE FROM postings WHERE id = ?', [posting.id], /append-only/);
    expect((await query('SELECT * FROM postings WHERE id = ?', [posting.id]))[0]).toEqual(posting);
    expect(await verify()).toMatchObject({ valid: true });
  });

  it('names an edited event', async () => {
    const original = await rowAt(4);
    await withoutTrigger('audit_events_no_update', async () => {
      await query('UPDATE audit_events SET actor_credential_id = ? WHERE tenant_id = ? AND sequence = ?', ['key_someone_else', app.tenantId, 4]);
    });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSequence: 4, checkedCount: 3 });
    // An edit that also recomputes the edited row's own hash breaks the link to the next one.
    await withoutTrigger('audit_events_no_update', async () => {
      await query('UPDATE audit_events SET actor_credential_id = ?, hash = ? WHERE tenant_id = ? AND sequence = ?', [original.actor_credential_id, 'f'.repeat(64), app.tenantId, 4]);
    });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSequence: 4 });
    await withoutTrigger('audit_events_no_update', async () => {
      await query('UPDATE audit_events SET hash = ? WHERE tenant_id = ? AND sequence = ?', [original.hash, app.tenantId, 4]);
    });
    expect(await verify()).toMatchObject({ valid: true });
  });

  it('names a deleted event, and a deleted last event', async () => {
    const removed = await rowAt(5);
    await withoutTrigger('audit_events_delete_archived_only', async () => {
      await query('DELETE FROM audit_events WHERE tenant_id = ? AND sequence = ?', [app.tenantId, 5]);
    });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSequence: 5, checkedCount: 4 });
    expect(await verify(7)).toMatchObject({ valid: true });
    await insertRow(removed);
    expect(await verify()).toMatchObject({ valid: true });

    const last = await lastSequence();
    const tail = await rowAt(last);
    await withoutTrigger('audit_events_delete_archived_only', async () => {
      await query('DELETE FROM audit_events WHERE tenant_id = ? AND sequence = ?', [app.tenantId, last]);
    });
    expect(await verify(1, last)).toMatchObject({ valid: false, firstBrokenSequence: last });
    await insertRow(tail);
  });

  it('names reordered events', async () => {
    await withoutTrigger('audit_events_no_update', async () => {
      // Sequences 6 and 7 swap places (through a free number: the key is unique at every step).
      await query('UPDATE audit_events SET sequence = ? WHERE tenant_id = ? AND sequence = ?', [999_999, app.tenantId, 6]);
      await query('UPDATE audit_events SET sequence = ? WHERE tenant_id = ? AND sequence = ?', [6, app.tenantId, 7]);
      await query('UPDATE audit_events SET sequence = ? WHERE tenant_id = ? AND sequence = ?', [7, app.tenantId, 999_999]);
    });
    expect(await verify()).toMatchObject({ valid: false, firstBrokenSequence: 6, checkedCount: 5 });
    await withoutTrigger('audit_events_no_update', async () => {
      await query('UPDATE audit_events SET sequence = ? WHERE tenant_id = ? AND sequence = ?', [999_999, app.tenantId, 6]);
      await query('UPDATE audit_events SET sequence = ? WHERE tenant_id = ? AND sequence = ?', [6, app.tenantId, 7]);
      await query('UPDATE audit_events SET sequence = ? WHERE tenant_id = ? AND sequence = ?', [7, app.tenantId, 999_999]);
    });
    expect(await verify()).toMatchObject({ valid: true, firstBrokenSequence: null });
  });

  it('keeps one unbroken chain under 200 parallel mutations', async () => {
    const debit = await createAccount(app.client);
    const credit = await createAccount(app.client, { type: 'LIABILITY' });
    const before = await lastSequence();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_unused, index) =>
        app.client.request(IdempotentPostJournalEntryDocument, {
          input: { lines: transfer(debit.id, credit.id, '0.01'), description: `parallel ${index}` },
          idempotencyKey: `audit-parallel-${index}-${newUlid()}`,
        }),
      ),
    );
    expect(results.filter((result) => result.errors).map((result) => result.errors)).toEqual([]);
    const after = await lastSequence();
    const rows = await query(
      "SELECT sequence FROM audit_events WHERE tenant_id = ? AND sequence > ? AND sequence <= ? AND operation_name = 'postJournalEntry' ORDER BY sequence",
      [app.tenantId, before, after],
    );
    expect(rows).toHaveLength(200);
    const all = await query('SELECT sequence FROM audit_events WHERE tenant_id = ? AND sequence > ? ORDER BY sequence', [app.tenantId, before]);
    expect(all.map((row) => Number(row.sequence))).toEqual(Array.from({ length: after - before }, (_unused, index) => before + index + 1));
    expect(await verify()).toMatchObject({ valid: true, firstBrokenSequence: null });
  });
});
