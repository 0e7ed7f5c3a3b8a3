import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { verifyAuditArchive } from '../../src/modules/audit/audit-retention';
import { AuditEventsDocument, MeDocument, VerifyAuditChainDocument } from '../generated/graphql';
import { createAccount } from '../helpers/ledger-fixtures';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { TestClock } from '../helpers/test-clock';

/**
 * Retention (AUDIT_RETENTION_DAYS, 400 by default): the job writes the events past it to a JSON lines
 * file with a JWS signature (the server's JWT signing key, checked against its JWKS), and only then
 * prunes them; the chain still verifies from the first kept event, whose previous hash is the
 * archived boundary. Events not archived stay undeletable.
 */

const DAY_MS = 86_400_000;

describeEachDatabase('audit retention: archived to a signed file, then pruned', (kind) => {
  let app: TestApp;
  let clock: TestClock;
  let archiveDir: string;

  beforeAll(async () => {
    clock = new TestClock();
    archiveDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-audit-archive-'));
    app = await startTestApp(kind, { clock, env: { AUDIT_FLUSH_INTERVAL_MS: '50', AUDIT_ARCHIVE_DIR: archiveDir } });
  });
  afterAll(async () => {
    await app?.close();
    fs.rmSync(archiveDir, { recursive: true, force: true });
  });

  it('archives the events past retention, signed, prunes them, and the chain verifies from the first kept', async () => {
    for (let i = 0; i < 3; i += 1) await createAccount(app.client);
    await app.client.ok(MeDocument);
    await app.runtime.services.audit.flush();
    const [{ last }] = await app.runtime.dataSource.query('SELECT MAX(sequence) AS last FROM audit_events WHERE tenant_id = ?', [app.tenantId]);
    const oldLast = Number(last);

    // Nothing is old yet: the job archives nothing.
    expect(await app.runtime.services.auditRetention.run()).toEqual([]);

    clock.advance(401 * DAY_MS);
    await createAccount(app.client);
    const written = await app.runtime.services.auditRetention.run();
    const mine = written.filter((archive) => archive.tenantId === app.tenantId);
    expect(mine).toEqual([expect.objectContaining({ fromSequence: 1, toSequence: oldLast })]);
    const file = mine[0].file;
    expect(path.dirname(file)).toBe(path.join(archiveDir, app.tenantId));
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(oldLast);

    const jwks = (await (await fetch(`${new URL(app.url).origin}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const check = await verifyAuditArchive(file, jwks.keys);
    expect(check).toMatchObject({ valid: true, reason: null, manifest: { tenantId: app.tenantId, fromSequence: 1, toSequence: oldLast, count: oldLast } });

    // Pruned from the database; the kept chain starts after the boundary and verifies.
    const kept = await app.runtime.dataSource.query('SELECT MIN(sequence) AS first FROM audit_events WHERE tenant_id = ?', [app.tenantId]);
    expect(Number(kept[0].first)).toBe(oldLast + 1);
    const verified = (await app.client.ok(VerifyAuditChainDocument)).verifyAuditChain;
    expect(verified).toMatchObject({ valid: true, firstBrokenSequence: null, fromSequence: oldLast + 1 });
    const { auditEvents } = await app.client.ok(AuditEventsDocument, { first: 5 });
    expect(auditEvents.edges[0].node.sequence).toBe(oldLast + 1);
    expect(auditEvents.edges[0].node.previousHash).toBe(check.manifest?.lastHash);

    // A kept event is still refused deletion: the watermark only covers archived ones.
    await expect(
      app.runtime.dataSource.query('DELETE FROM audit_events WHERE tenant_id = ? AND sequence = ?', [app.tenantId, oldLast + 1]),
    ).rejects.toThrow(/append-only/);

    // A changed archive no longer verifies.
    const lines = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, lines.replace('"outcome":"SUCCESS"', '"outcome":"ERROR"'));
    expect(await verifyAuditArchive(file, jwks.keys)).toMatchObject({ valid: false, reason: 'file digest differs' });
    fs.writeFileSync(file, lines);

    // Running again archives nothing more (the rest is recent).
    expect((await app.runtime.services.auditRetention.run()).filter((archive) => archive.tenantId === app.tenantId)).toEqual([]);
  });
});
