import { BankStatementDocument, ImportBankStatementDocument, type ImportBankStatementInput, ReconciliationFlagsDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows } from '../helpers/idempotency-http';
import { createBankAccount, describeWithStatementFixtures, fixtureBytes, fixtureImport, importFixture } from '../helpers/statement-fixtures';

const MALFORMED = [
  { file: 'malformed/genkgo__camt053.v2.wrong.xml', format: 'CAMT053', location: /Document\/BkToCstmrStmt/ },
  { file: 'malformed/ofxparse__fail_nice_decimal_error.ofx', format: 'OFX', location: /line \d+/ },
  { file: 'malformed/wolph__betterplace_sepa_snippet_broken.sta', format: 'MT940', location: /line \d+/ },
  { file: 'malformed/wolph__self-provided_invalid_statement.sta', format: 'MT940', location: /line 1/ },
] as const;

const GOOD_CAMT = 'camt053/viafintech__053_valid_example.xml';

describeWithStatementFixtures('a statement file refused whole writes nothing', () => {
  describeEachDatabase('a statement file that is malformed, or for another account or tenant, is refused whole and writes nothing', (kind) => {
    let app: TestApp;
    let bankAccountId: string;

    beforeAll(async () => {
      app = await startTestApp(kind);
      bankAccountId = (await createBankAccount(app.client, { iban: 'DE14740618130000033626', currency: 'EUR' })).id;
    });

    afterAll(async () => {
      await app?.close();
    });

    const storedRows = async () => ({
      statements: await countRows(app.runtime.dataSource, 'bank_statements'),
      lines: await countRows(app.runtime.dataSource, 'statement_lines'),
      flags: await countRows(app.runtime.dataSource, 'reconciliation_flags'),
      idempotency: await countRows(app.runtime.dataSource, 'idempotency_records'),
    });

    /** Sends an import that must be refused with `code`; checks nothing was stored (the idempotency key freed too) and returns the error. */
    async function refused(input: ImportBankStatementInput, code = 'VALIDATION_FAILED') {
      const before = await storedRows();
      const result = await app.client.request(ImportBankStatementDocument, { input, idempotencyKey: `refused-${Date.now()}-${Math.random()}` });
      expect(result.data?.importBankStatement ?? null).toBeNull();
      expect(result.errors).toHaveLength(1);
      const [error] = result.errors ?? [];
      expect(error.extensions?.code).toBe(code);
      expect(await storedRows()).toEqual(before);
      return error;
    }

    it.each(MALFORMED.map((m) => [m.file, m] as const))('refuses %s naming the place at fault', async (_name, malformed) => {
      const error = await refused(fixtureImport(bankAccountId, malformed.file, malformed.format));
      expect(error.message).toMatch(/refused at .*nothing was imported/);
      expect(error.extensions?.details).toMatchObject({ format: malformed.format });
      expect(String(error.extensions?.details?.location)).toMatch(malformed.location);
    });

    it('refuses a good file cut short, or with one amount corrupted, and then imports it whole', async () => {
      const bytes = fixtureBytes(GOOD_CAMT);
      const truncated = bytes.subarray(0, Math.floor(bytes.length * 0.6));
      await refused(fixtureImport(bankAccountId, GOOD_CAMT, 'CAMT053', truncated));
      const text = bytes.toString('utf8');
      const amount = /<Amt Ccy="EUR">([^<]+)<\/Amt>/.exec(text.slice(text.indexOf('<Ntry>')));
      expect(amount).not.toBeNull();
      const corrupted = Buffer.from(text.replace(`>${amount?.[1]}</Amt>`, '>12,3x</Amt>'), 'utf8');
      const error = await refused(fixtureImport(bankAccountId, GOOD_CAMT, 'CAMT053', corrupted));
      expect(String(error.extensions?.details?.location)).toMatch(/Ntry/);

      const imported = await importFixture(app.client, bankAccountId, GOOD_CAMT, 'CAMT053');
      expect(imported.importedLineCount).toBe(5);
    });

    it('refuses a file for another account, or in another currency, naming only the last four of the account', async () => {
      const error = await refused(fixtureImport(bankAccountId, 'camt052/viafintech__052_valid_example.xml', 'CAMT052'));
      expect(error.message).toMatch(/account …3626, currency EUR, not bank account/);
      const usd = await createBankAccount(app.client, { iban: 'DE14740618130000033626', currency: 'USD' });
      const currency = await refused(fixtureImport(usd.id, GOOD_CAMT, 'CAMT053'));
      expect(currency.extensions?.details).toMatchObject({ statementCurrency: 'EUR', bankAccountId: usd.id });
    });

    it('refuses a CSV file without a mapping, a mapping for another format, and content that is not base64', async () => {
      const csv = fixtureImport(bankAccountId, 'csv/csv2ofx__n26-fr.csv', 'CSV');
      expect((await refused({ ...csv, csvMapping: null })).extensions?.details).toMatchObject({ field: 'csvMapping' });
      expect((await refused({ ...fixtureImport(bankAccountId, GOOD_CAMT, 'CAMT053'), csvMapping: csv.csvMapping })).extensions?.details).toMatchObject({
        field: 'csvMapping',
      });
      expect((await refused({ ...csv, content: 'not base64 at all!', contentEncoding: 'BASE64' })).extensions?.details).toMatchObject({ field: 'content' });
    });

    it('answers NOT_FOUND for another tenant’s bank account, statement and flags, and changes nothing of theirs', async () => {
      const other = await app.createTenant('Globex');
      const theirs = await createBankAccount(other.client, { accountNumber: 'CH1111111111111111111', currency: 'CHF' });
      const v8 = 'camt053/viafintech__053_valid_example_v8.xml';
      const imported = await importFixture(other.client, theirs.id, v8, 'CAMT053');
      expect(imported.flags.map((f) => f.kind)).toEqual(['STATEMENT_BALANCE_MISMATCH']);

      await refused(fixtureImport(theirs.id, v8, 'CAMT053'), 'NOT_FOUND');
      expect(await app.client.errorCode(BankStatementDocument, { id: imported.statements[0].id })).toBe('NOT_FOUND');
      expect(await app.client.errorCode(ReconciliationFlagsDocument, { filter: { bankAccountId: theirs.id } })).toBe('NOT_FOUND');
      const mine = await app.client.ok(ReconciliationFlagsDocument, {});
      expect(mine.reconciliationFlags.edges.map((e) => e.node.id)).not.toContain(imported.flags[0].id);
    });
  });
});
