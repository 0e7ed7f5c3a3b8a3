import { BankStatementDocument, ImportBankStatementDocument, ReconciliationFlagsDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { countRows, expectFresh, expectReplayOf, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createBankAccount, CSV_MAPPINGS, describeWithStatementFixtures, fixtureBytes, fixtureImport, importFixture } from '../helpers/statement-fixtures';
import { CreateApiKeyDocument } from '../generated/graphql';

const INGESP = 'csv/csv2ofx__ingesp.csv';
const V4 = 'camt053/viafintech__053_valid_example_v4.xml';
const V8 = 'camt053/viafintech__053_valid_example_v8.xml';

interface UploadAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  text: string;
}

const UPLOAD_LIMIT = 2 * 1024 * 1024;

describeWithStatementFixtures('overlapping statements, balance flags and the REST upload', () => {
  describeEachDatabase('overlapping statements add only new lines, a statement that does not add up is flagged, and the upload answers as the mutation', (kind) => {
    let app: TestApp;

    beforeAll(async () => {
      // A small upload limit, so that going past it costs the test 2 MB, not the default 1 GiB.
      app = await startTestApp(kind, { env: { STATEMENT_UPLOAD_MAX_BYTES: String(UPLOAD_LIMIT) } });
    });

    afterAll(async () => {
      await app?.close();
    });

    async function upload(tenant: TestTenant, bankAccountId: string, query: string, body: Buffer, headers: Record<string, string> = {}): Promise<UploadAnswer> {
      const response = await fetch(app.url.replace(/\/graphql$/, `/bank-accounts/${bankAccountId}/statements?${query}`), {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/octet-stream', ...headers },
        body,
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: JSON.parse(text) as UploadAnswer['body'], text };
    }

    it('imports only the new lines of an overlapping CSV export, and both of two identical lines of one file', async () => {
      const { client } = await app.createTenant('Overlap');
      const account = await createBankAccount(client, { currency: 'EUR' });
      const [header, ...rows] = fixtureBytes(INGESP).toString('utf8').split('\r\n').filter(Boolean);
      const csv = (lines: string[]) => [header, ...lines].join('\r\n');
      const input = (content: string) => ({ bankAccountId: account.id, format: 'CSV' as const, content, csvMapping: CSV_MAPPINGS[INGESP] });

      const first = (await client.ok(ImportBankStatementDocument, { input: input(csv(rows.slice(0, 6))) })).importBankStatement;
      expect([first.importedLineCount, first.duplicateLineCount]).toEqual([6, 0]);
      const overlapping = (await client.ok(ImportBankStatementDocument, { input: input(csv(rows.slice(3))) })).importBankStatement;
      expect([overlapping.importedLineCount, overlapping.duplicateLineCount]).toEqual([4, 3]);
      const whole = (await client.ok(ImportBankStatementDocument, { input: input(csv(rows)) })).importBankStatement;
      expect([whole.importedLineCount, whole.duplicateLineCount]).toEqual([0, 10]);
      expect(await countRows(app.runtime.dataSource, 'statement_lines', 'bank_account_id = ?', [account.id])).toBe(10);

      // Two coffees on one day: the same line twice in one file is two lines, and stays two.
      const twice = csv([rows[0], rows[0]]);
      const other = await createBankAccount(client, { currency: 'EUR' });
      const coffees = (await client.ok(ImportBankStatementDocument, { input: { ...input(twice), bankAccountId: other.id } })).importBankStatement;
      expect([coffees.importedLineCount, coffees.duplicateLineCount]).toEqual([2, 0]);
      const again = (await client.ok(ImportBankStatementDocument, { input: { ...input(csv([rows[1], rows[0], rows[0]])), bankAccountId: other.id } })).importBankStatement;
      expect([again.importedLineCount, again.duplicateLineCount]).toEqual([1, 2]);
    });

    it('imports only the entry a camt statement adds to one imported before without it, matched by the bank’s references', async () => {
      const { client } = await app.createTenant('Camt overlap');
      const account = await createBankAccount(client, { iban: 'CH0309000000250090342', currency: 'CHF' });
      const full = fixtureBytes(V4).toString('utf8');
      const firstEntry = full.slice(full.indexOf('<Ntry>'), full.indexOf('</Ntry>') + '</Ntry>'.length);
      const withoutFirst = Buffer.from(full.replace(firstEntry, ''), 'utf8');
      const partial = (await client.ok(ImportBankStatementDocument, { input: fixtureImport(account.id, V4, 'CAMT053', withoutFirst) })).importBankStatement;
      const partialLines = partial.importedLineCount;
      expect(partialLines).toBeGreaterThan(0);
      expect(partialLines).toBeLessThan(32);
      // Without one entry its balances no longer add up.
      expect(partial.flags.map((f) => f.kind)).toEqual(['STATEMENT_BALANCE_MISMATCH']);

      const whole = await importFixture(client, account.id, V4, 'CAMT053');
      expect(whole.importedLineCount).toBe(32 - partialLines);
      expect(whole.duplicateLineCount).toBe(partialLines);
      expect(whole.flags).toEqual([]);
      const { bankStatement } = await client.ok(BankStatementDocument, { id: whole.statements[0].id, first: 100 });
      expect(bankStatement.lines.totalCount).toBe(32 - partialLines);
      expect(bankStatement.lines.edges.every((e) => e.node.sourceLocation.includes('Ntry[0]'))).toBe(true);
    });

    it('replays a keyed import, and stores each line once when the same file is imported by eight clients at once', async () => {
      const tenant = await app.createTenant('Concurrent');
      const account = await createBankAccount(tenant.client, { iban: 'CH0309000000250090342', currency: 'CHF' });
      const key = newIdempotencyKey('import');
      const variables = { input: fixtureImport(account.id, V4, 'CAMT053'), idempotencyKey: key };
      const first = await sendKeyed(app.url, tenant.apiKey, ImportBankStatementDocument, variables);
      expectFresh(first);
      const replay = await sendKeyed(app.url, tenant.apiKey, ImportBankStatementDocument, variables);
      expectReplayOf(first, replay, key);

      const racing = await app.createTenant('Racing');
      const target = await createBankAccount(racing.client, { iban: 'CH0309000000250090342', currency: 'CHF' });
      const imports = await Promise.all(
        Array.from({ length: 8 }, () => racing.client.ok(ImportBankStatementDocument, { input: fixtureImport(target.id, V4, 'CAMT053') })),
      );
      const results = imports.map((r) => r.importBankStatement);
      expect(results.reduce((sum, r) => sum + r.importedLineCount, 0)).toBe(32);
      expect(results.filter((r) => r.importedLineCount > 0)).toHaveLength(1);
      expect(results.every((r) => r.importedLineCount + r.duplicateLineCount === 32)).toBe(true);
      expect(new Set(results.map((r) => r.statements[0].id)).size).toBe(1);
      expect(await countRows(app.runtime.dataSource, 'statement_lines', 'bank_account_id = ?', [target.id])).toBe(32);
      expect(await countRows(app.runtime.dataSource, 'bank_statements', 'bank_account_id = ?', [target.id])).toBe(1);
    });

    it('flags the viafintech v8 statement, whose balances do not add up, with both balances, once', async () => {
      const tenant = await app.createTenant('Flags');
      const account = await createBankAccount(tenant.client, { accountNumber: 'CH1111111111111111111', currency: 'CHF' });
      const imported = await importFixture(tenant.client, account.id, V8, 'CAMT053');
      expect(imported.flags).toHaveLength(1);
      const [flag] = imported.flags;
      expect(flag).toMatchObject({ kind: 'STATEMENT_BALANCE_MISMATCH', status: 'OPEN', sequence: '1', occurrenceCount: 1, bankAccount: { id: account.id } });
      expect(flag.details).toMatchObject({ statementId: imported.statements[0].id, currency: 'CHF', linesInOtherCurrencies: 1 });
      expect(flag.details).toHaveProperty('statedClosingBalance');
      expect(flag.details).toHaveProperty('expectedClosingBalance');
      expect(flag.details.difference).not.toBe('0.00');

      await importFixture(tenant.client, account.id, V8, 'CAMT053');
      const listed = await tenant.client.ok(ReconciliationFlagsDocument, { filter: { bankAccountId: account.id, kind: 'STATEMENT_BALANCE_MISMATCH', status: 'OPEN' } });
      expect(listed.reconciliationFlags.totalCount).toBe(1);
      expect(listed.reconciliationFlags.edges[0].node).toEqual(flag);
      const resolved = await tenant.client.ok(ReconciliationFlagsDocument, { filter: { status: 'RESOLVED' } });
      expect(resolved.reconciliationFlags.totalCount).toBe(0);

      // A second statement that does not add up takes the tenant's next sequence (after the flags matching
      // raised for the first statement's lines, which the empty books lack); the list pages in that order.
      const latest = await tenant.client.ok(ReconciliationFlagsDocument, { last: 1 });
      const nextSequence = String(Number(latest.reconciliationFlags.edges[0].node.sequence) + 1);
      const ing = await createBankAccount(tenant.client, { accountNumber: '0001234567', currency: 'EUR' });
      const second = await importFixture(tenant.client, ing.id, 'mt940/wolph__jejik_ing.sta', 'MT940');
      expect(second.flags.map((f) => f.sequence)).toEqual([nextSequence]);
      const balance = { kind: 'STATEMENT_BALANCE_MISMATCH' } as const;
      const page = await tenant.client.ok(ReconciliationFlagsDocument, { first: 1, filter: balance });
      expect(page.reconciliationFlags.edges.map((e) => e.node.sequence)).toEqual(['1']);
      const next = await tenant.client.ok(ReconciliationFlagsDocument, { first: 1, after: page.reconciliationFlags.pageInfo.endCursor, filter: balance });
      expect(next.reconciliationFlags.edges.map((e) => e.node.sequence)).toEqual([nextSequence]);
      const last = await tenant.client.ok(ReconciliationFlagsDocument, { last: 1, filter: balance });
      expect(last.reconciliationFlags.edges.map((e) => e.node.sequence)).toEqual([nextSequence]);
    });

    it('answers an upload of the raw file with what the mutation answers, replays it by Idempotency-Key, and refuses what the mutation refuses', async () => {
      const viaGraphql = await app.createTenant('GraphQL');
      const viaUpload = await app.createTenant('Upload');
      const accountGraphql = await createBankAccount(viaGraphql.client, { accountNumber: 'CH1111111111111111111', currency: 'CHF' });
      const accountUpload = await createBankAccount(viaUpload.client, { accountNumber: 'CH1111111111111111111', currency: 'CHF' });
      const mutation = await importFixture(viaGraphql.client, accountGraphql.id, V8, 'CAMT053');
      const key = newIdempotencyKey('upload');
      const uploaded = await upload(viaUpload, accountUpload.id, 'format=CAMT053', fixtureBytes(V8), { 'idempotency-key': key, 'content-type': 'application/xml' });
      expect(uploaded.status).toBe(200);
      // Every field the mutation answered, with the same value, but for ids (another tenant's rows).
      const statementFields = Object.keys(mutation.statements[0]).filter((field) => field !== 'id' && field !== 'bankAccount');
      const flagFields = Object.keys(mutation.flags[0]).filter((field) => field !== 'id' && field !== 'bankAccount' && field !== 'details');
      const pick = (row: object, fields: string[]) => Object.fromEntries(fields.map((field) => [field, (row as Record<string, unknown>)[field]]));
      const comparable = (answer: typeof mutation) => ({
        importedLineCount: answer.importedLineCount,
        duplicateLineCount: answer.duplicateLineCount,
        otherAccountStatementCount: answer.otherAccountStatementCount,
        statements: answer.statements.map((statement) => pick(statement, statementFields)),
        flags: answer.flags.map((flag) => ({ ...pick(flag, flagFields), details: { ...flag.details, statementId: undefined } })),
      });
      const uploadedBody = uploaded.body as unknown as typeof mutation;
      expect(comparable(uploadedBody)).toEqual(comparable(mutation));
      expect(uploadedBody.statements[0].bankAccount.id).toBe(accountUpload.id);

      const rowsBefore = await countRows(app.runtime.dataSource, 'statement_lines');
      const replay = await upload(viaUpload, accountUpload.id, 'format=CAMT053', fixtureBytes(V8), { 'idempotency-key': key });
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotency-replayed')).toBe('true');
      expect(replay.text).toBe(uploaded.text);
      const reused = await upload(viaUpload, accountUpload.id, 'format=CAMT053', fixtureBytes(V4), { 'idempotency-key': key });
      expect([reused.status, reused.body.error?.code]).toEqual([409, 'IDEMPOTENCY_KEY_REUSED']);
      // Without a key it imports again, and finds every line there already.
      const unkeyed = await upload(viaUpload, accountUpload.id, 'format=CAMT053', fixtureBytes(V8));
      expect(unkeyed.body).toMatchObject({ importedLineCount: 0, duplicateLineCount: 3, flags: [] });
      expect(await countRows(app.runtime.dataSource, 'statement_lines')).toBe(rowsBefore);

      // A CSV export with its mapping in the query string.
      const csvAccount = await createBankAccount(viaUpload.client, { currency: 'EUR' });
      const csv = await upload(viaUpload, csvAccount.id, `format=CSV&csvMapping=${encodeURIComponent(JSON.stringify(CSV_MAPPINGS[INGESP]))}`, fixtureBytes(INGESP));
      expect([csv.status, csv.body.importedLineCount]).toEqual([200, 10]);

      const refusals: [string, Promise<UploadAnswer>, number, string][] = [
        ['malformed', upload(viaUpload, accountUpload.id, 'format=MT940', fixtureBytes('malformed/wolph__self-provided_invalid_statement.sta')), 400, 'VALIDATION_FAILED'],
        ['no format', upload(viaUpload, accountUpload.id, '', fixtureBytes(V8)), 400, 'VALIDATION_FAILED'],
        ['another tenant’s account', upload(viaGraphql, accountUpload.id, 'format=CAMT053', fixtureBytes(V8)), 404, 'NOT_FOUND'],
        ['no credential', upload({ ...viaUpload, apiKey: 'rk_test_not_a_key' }, accountUpload.id, 'format=CAMT053', fixtureBytes(V8)), 401, 'UNAUTHENTICATED'],
        ['too large', upload(viaUpload, accountUpload.id, 'format=CAMT053', Buffer.alloc(UPLOAD_LIMIT + 1, 0x20)), 413, 'QUERY_TOO_LARGE'],
      ];
      for (const [name, answer, status, code] of refusals) {
        const { status: got, body } = await answer;
        expect({ name, status: got, code: body.error?.code }).toEqual({ name, status, code });
      }
      const { createApiKey } = await viaUpload.client.ok(CreateApiKeyDocument, { input: { name: 'reader', scopes: ['RECONCILIATION_READ'] } });
      const reader = await upload({ ...viaUpload, apiKey: createApiKey.secret, client: new GraphQLClient(app.url, createApiKey.secret) }, accountUpload.id, 'format=CAMT053', fixtureBytes(V8));
      expect([reader.status, reader.body.error?.code]).toEqual([403, 'FORBIDDEN']);
      expect(await countRows(app.runtime.dataSource, 'statement_lines')).toBe(rowsBefore + 10);
    });
  });
});
