import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { newUlid } from '../../src/common/ids';
import { AuditEventsDocument, IdempotentPostJournalEntryDocument, VerifyAuditChainDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { createTestDatabase, describeOnMysql, type TestDatabase, withServerOn } from '../helpers/harness';

/**
 * The README's least-privilege setup works: with the migrations applied by the owner, the API runs as
 * a user granted per table, without UPDATE or DELETE on postings and without UPDATE on audit events,
 * and what a client does still works, audit trail included; that user's own UPDATE and DELETE of
 * postings and audit events are refused by the grants (and a DELETE of events by the trigger).
 */
describeOnMysql('audit: the API runs as a least-privileged database user', () => {
  let database: TestDatabase;
  let admin: mysql.Connection;
  let env: Record<string, string>;
  const user = `reckon_app_${crypto.randomBytes(4).toString('hex')}`;
  const password = crypto.randomBytes(12).toString('hex');
  const hosts = ['%', 'localhost'];

  beforeAll(async () => {
    database = await createTestDatabase('mysql');
    env = { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-least-privilege-')) };
    admin = await mysql.createConnection({ uri: process.env.TEST_MYSQL_URL as string });
  });
  afterAll(async () => {
    for (const host of hosts) await admin?.query(`DROP USER IF EXISTS '${user}'@'${host}'`);
    await admin?.end();
    await database?.drop();
    fs.rmSync(env.DATA_DIR, { recursive: true, force: true });
  });

  it('serves mutations, reads and the audit trail, and the user cannot change postings or audit events', async () => {
    // The owner applies the migrations (any start does) and sets up a tenant, its key and two accounts.
    const setup = await withServerOn(database.url, env, async (runtime, server) => {
      const tenant = await runtime.services.tenancy.createTenant('Least privilege');
      const { secret } = await runtime.services.auth.createApiKey(tenant.id, { name: 'app' });
      const client = new GraphQLClient(server.url, secret);
      return { apiKey: secret, debit: await createAccount(client), credit: await createAccount(client, { type: 'LIABILITY' }) };
    });

    const schema = new URL(database.url).pathname.slice(1);
    const [tables] = await admin.query('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ?', [schema]);
    for (const host of hosts) {
      await admin.query(`CREATE USER '${user}'@'${host}' IDENTIFIED BY '${password}'`);
      for (const { name } of tables as { name: string }[]) {
        const privileges = name === 'postings' ? 'SELECT, INSERT' : name === 'audit_events' ? 'SELECT, INSERT, DELETE' : 'SELECT, INSERT, UPDATE, DELETE';
        await admin.query(`GRANT ${privileges} ON \`${schema}\`.\`${name}\` TO '${user}'@'${host}'`);
      }
    }
    const restricted = new URL(database.url);
    restricted.username = user;
    restricted.password = password;

    await withServerOn(restricted.toString(), env, async (runtime, server) => {
      const client = new GraphQLClient(server.url, setup.apiKey);
      const posted = await client.request(IdempotentPostJournalEntryDocument, {
        input: { lines: transfer(setup.debit.id, setup.credit.id, '2.00'), description: 'as the app user' },
        idempotencyKey: `least-privilege-${newUlid()}`,
      });
      expect(posted.errors).toBeUndefined();
      const entryId = posted.data?.postJournalEntry?.journalEntry.id as string;
      const { auditEvents } = await client.ok(AuditEventsDocument, { filter: { resourceId: entryId } });
      expect(auditEvents.edges.map((edge) => edge.node.operationName)).toEqual(['postJournalEntry']);
      expect((await client.ok(VerifyAuditChainDocument)).verifyAuditChain).toMatchObject({ valid: true, firstBrokenSequence: null });
      await runtime.services.audit.flush();
    });

    const app = await mysql.createConnection({ uri: restricted.toString() });
    try {
      await expect(app.query('UPDATE postings SET amount_minor = amount_minor + 1')).rejects.toMatchObject({ errno: 1142 });
      await expect(app.query('DELETE FROM postings')).rejects.toMatchObject({ errno: 1142 });
      await expect(app.query("UPDATE audit_events SET outcome = 'ERROR'")).rejects.toMatchObject({ errno: 1142 });
      // DELETE is granted for the retention job; the trigger refuses any event not archived.
      await expect(app.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    } finally {
      await app.end();
    }
  });
});
