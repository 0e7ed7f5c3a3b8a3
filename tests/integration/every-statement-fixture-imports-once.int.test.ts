import { BankStatementDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows } from '../helpers/idempotency-http';
import { createBankAccount, describeWithStatementFixtures, FIXTURES, importFixture } from '../helpers/statement-fixtures';

/** Rows of the statement tables for one bank account: an import that changes nothing leaves them as they were. */
async function storedRows(app: TestApp, bankAccountId: string) {
  const ds = app.runtime.dataSource;
  return {
    statements: await countRows(ds, 'bank_statements', 'bank_account_id = ?', [bankAccountId]),
    lines: await countRows(ds, 'statement_lines', 'bank_account_id = ?', [bankAccountId]),
    flags: await countRows(ds, 'reconciliation_flags', "bank_account_id = ? AND kind = 'STATEMENT_BALANCE_MISMATCH'", [bankAccountId]),
    // The books hold nothing for these old lines: matching flags each booked one as a line the books lack.
    unmatchedLineFlags: await countRows(ds, 'reconciliation_flags', "bank_account_id = ? AND kind = 'UNMATCHED_STATEMENT_LINE'", [bankAccountId]),
  };
}

describeWithStatementFixtures('every statement fixture imports once', () => {
  describeEachDatabase('every statement fixture imports with its line count, and again changes nothing', (kind) => {
    let app: TestApp;

    beforeAll(async () => {
      app = await startTestApp(kind);
    });

    afterAll(async () => {
      await app?.close();
    });

    it.each(FIXTURES.map((fixture) => [`${fixture.file} (${fixture.currency})`, fixture] as const))('%s', async (_name, fixture) => {
      // A tenant per fixture: several samples share an account number.
      const { client } = await app.createTenant(fixture.file);
      const bankAccount = await createBankAccount(client, { ...(fixture.account ?? {}), currency: fixture.currency });

      const first = await importFixture(client, bankAccount.id, fixture.file, fixture.format);
      expect(first.statements).toHaveLength(fixture.statements);
      expect(first.statements.reduce((sum, s) => sum + s.lineCount, 0)).toBe(fixture.lines);
      expect(first.importedLineCount).toBe(fixture.lines);
      expect(first.duplicateLineCount).toBe(0);
      expect(first.otherAccountStatementCount).toBe(fixture.otherStatements);
      expect(first.flags.map((flag) => flag.kind)).toEqual(Array(fixture.balanceMismatches).fill('STATEMENT_BALANCE_MISMATCH'));
      for (const statement of first.statements) {
        expect(statement.format).toBe(fixture.format);
        expect(statement.currency).toBe(fixture.currency);
        expect(statement.bankAccount.id).toBe(bankAccount.id);
      }

      // Every line stored is readable through its statement, in the statement's currency or the one its bank booked it in.
      let linesRead = 0;
      for (const statement of first.statements) {
        const { bankStatement } = await client.ok(BankStatementDocument, { id: statement.id, first: 500 });
        expect(bankStatement.lines.totalCount).toBe(statement.importedLineCount);
        linesRead += bankStatement.lines.edges.length;
        for (const { node } of bankStatement.lines.edges) expect(node.amount.minorUnits).not.toBe('0');
      }
      expect(linesRead).toBe(fixture.lines);
      const afterFirst = await storedRows(app, bankAccount.id);
      expect(afterFirst).toMatchObject({ statements: fixture.statements, lines: fixture.lines, flags: fixture.balanceMismatches });

      const again = await importFixture(client, bankAccount.id, fixture.file, fixture.format);
      expect(again.importedLineCount).toBe(0);
      expect(again.duplicateLineCount).toBe(fixture.lines);
      expect(again.statements.map((s) => s.id)).toEqual(first.statements.map((s) => s.id));
      expect(again.flags).toEqual([]);
      expect(await storedRows(app, bankAccount.id)).toEqual(afterFirst);
    });
  });
});
