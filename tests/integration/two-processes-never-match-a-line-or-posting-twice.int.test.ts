import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { startServer, type RunningServer } from '../../src/server/app';
import { ImportBankStatementDocument, PostJournalEntryDocument } from '../generated/graphql';
import { generateServerKeys } from '../helpers/child-server';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeOnMysql, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';
import { createBankAccount } from '../helpers/statement-fixtures';

/**
 * Two API servers on one MySQL database, each with its own pool and its own matching queue, as two
 * processes have: overlapping statements imported through both at once, and the postings they match
 * written through both at the same time. Only the bank account row lock and the unique claim columns
 * stand between them and a double match; every line and every posting ends up matched exactly once,
 * and no line is stored twice.
 */
describeOnMysql('two API processes importing and posting at once', () => {
  let database: TestDatabase;
  const runtimes: Runtime[] = [];
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('mysql');
    const keys = await generateServerKeys();
    const env = { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-two-matchers-')), ...keys };
    for (let i = 0; i < 2; i += 1) {
      const config = testRuntimeConfig(database.url, { env });
      const runtime = await bootstrap(config, { log: createLogger('silent') });
      runtimes.push(runtime);
      servers.push(await startServer({ services: runtime.services, log: runtime.log, config }, 0, '127.0.0.1'));
    }
  }, 120_000);

  afterAll(async () => {
    for (const server of servers) await server.close();
    for (const runtime of runtimes) await runtime.close();
    await database?.drop();
  });

  it('matches every line and every posting exactly once', async () => {
    const tenant = await runtimes[0].services.tenancy.createTenant('Two matchers');
    const { secret } = await runtimes[0].services.auth.createApiKey(tenant.id, { name: 'test' });
    const [a, b] = servers.map((server) => new GraphQLClient(server.url, secret));
    const bank = await createBankAccount(a, { currency: 'USD' });
    const income = await createAccount(a, { type: 'REVENUE', currency: 'USD' });

    // Recent days, within the window: a line that arrives before its posting is not yet one the books lack.
    const base = Date.parse(new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10));
    const day = (i: number) => new Date(base + (i % 4) * 86_400_000).toISOString().slice(0, 10);
    const count = 30;
    const refs = Array.from({ length: count }, (_, i) => `TWO-${process.pid}-${i}-9917`);
    // Every third line carries no reference: AMOUNT_DATE has to find it (amounts are all different).
    const csvLine = (i: number) => `${day(i)},${200 + i}.00,${i % 3 === 0 ? '' : refs[i]},Payment ${i % 3 === 0 ? '' : refs[i]}`;
    const csv = (from: number, to: number) => ['Date,Amount,Reference,Text', ...refs.slice(from, to).map((_, k) => csvLine(from + k))].join('\n');
    const mapping = { dateColumn: 'Date', dateFormat: 'YYYY-MM-DD', amountColumn: 'Amount', referenceColumn: 'Reference', descriptionColumn: 'Text', decimalSeparator: '.', currency: 'USD' };
    const importVia = (client: GraphQLClient, from: number, to: number) =>
      client.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'CSV', content: csv(from, to), csvMapping: mapping } });
    const postVia = (client: GraphQLClient, i: number) =>
      client.ok(PostJournalEntryDocument, {
        input: {
          externalRef: refs[i],
          description: 'Customer payment',
          effectiveAt: `${day(i)}T09:00:00.000Z`,
          lines: [
            { accountId: bank.ledgerAccount.id, direction: 'DEBIT', amount: `${200 + i}.00`, currency: 'USD' },
            { accountId: income.id, direction: 'CREDIT', amount: `${200 + i}.00`, currency: 'USD' },
          ],
        },
      });

    await Promise.all([
      importVia(a, 0, 20),
      importVia(b, 10, 30),
      importVia(a, 5, 25),
      importVia(b, 0, 30),
      ...refs.map((_, i) => postVia(i % 2 ? a : b, i)),
    ]);
    // Both processes sweep at once: whatever the races left unmatched is matched now, once.
    await Promise.all(runtimes.map((runtime) => runtime.services.matching.sweep()));

    const db = runtimes[0].services.dataSource;
    const lines: Record<string, unknown>[] = await db.query('SELECT id FROM statement_lines WHERE bank_account_id = ?', [bank.id]);
    expect(lines).toHaveLength(count);
    const postings: Record<string, unknown>[] = await db.query("SELECT id FROM postings WHERE account_id = ? AND phase = 'POSTED'", [bank.ledgerAccount.id]);
    expect(postings).toHaveLength(count);
    const items: Record<string, unknown>[] = await db.query(
      'SELECT i.statement_line_id, i.posting_id, i.recorded_statement_line_id, i.recorded_posting_id FROM reconciliation_match_items i JOIN reconciliation_matches m ON m.id = i.match_id WHERE m.bank_account_id = ?',
      [bank.id],
    );
    // Every item ever written (recorded ids) included: no match was made and then lost to another.
    const lineClaims = items.filter((i) => i.recorded_statement_line_id !== null).map((i) => String(i.recorded_statement_line_id));
    const postingClaims = items.filter((i) => i.recorded_posting_id !== null).map((i) => String(i.recorded_posting_id));
    expect(lineClaims.sort()).toEqual(lines.map((r) => String(r.id)).sort());
    expect(postingClaims.sort()).toEqual(postings.map((r) => String(r.id)).sort());
    const matches: Record<string, unknown>[] = await db.query('SELECT rule, COUNT(*) AS n FROM reconciliation_matches WHERE bank_account_id = ? GROUP BY rule ORDER BY rule', [bank.id]);
    expect(matches.map((m) => [m.rule, Number(m.n)])).toEqual([
      ['AMOUNT_DATE', count / 3],
      ['REFERENCE', count - count / 3],
    ]);
    const flags: Record<string, unknown>[] = await db.query("SELECT kind FROM reconciliation_flags WHERE bank_account_id = ? AND kind <> 'STATEMENT_BALANCE_MISMATCH'", [bank.id]);
    expect(flags).toEqual([]);
  }, 120_000);
});
