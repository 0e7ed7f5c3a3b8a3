import {
  BankAccountDocument,
  CreateBankAccountDocument,
  ImportBankStatementDocument,
  type MatchRule,
  StatementLineMatchesDocument,
  UpdateBankAccountMatchingSettingsDocument,
  type UpdateBankAccountMatchingSettingsInput,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { createBankAccount } from '../helpers/statement-fixtures';

/**
 * Matching settings per bank account over GraphQL: set when the account is created, changed by
 * updateBankAccountMatchingSettings (idempotent, validated, tenant-scoped), and used by the matching
 * runs that follow: a line only the amount-and-date rule can match stays unmatched while that rule is
 * off for its account, and is matched by the sweep once it is on again.
 */

const ALL_RULES: MatchRule[] = ['REFERENCE', 'AMOUNT_DATE', 'MANY_TO_ONE', 'ONE_TO_MANY', 'INVOICE_NUMBER'];

/** A Monday about three weeks back, plus `offset` calendar days. */
const BASE = (() => {
  const day = new Date(Date.now() - 21 * 86_400_000);
  while (day.getUTCDay() !== 1) day.setUTCDate(day.getUTCDate() - 1);
  return day.toISOString().slice(0, 10);
})();
const day = (offset: number) => new Date(Date.parse(`${BASE}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);

describeEachDatabase('bank account matching settings', (kind) => {
  let app: TestApp;
  let other: TestTenant;

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Globex');
  }, 60_000);
  afterAll(() => app?.close());

  const settingsOf = async (client: GraphQLClient, id: string) => (await client.ok(BankAccountDocument, { id })).bankAccount.matching;

  it('creates a bank account with its matching settings, fills in the defaults, and still takes the deprecated window', async () => {
    const tuned = await createBankAccount(app.client, { matching: { rules: ['REFERENCE', 'MANY_TO_ONE'], windowBusinessDays: 5, maxGroupSize: 6 } });
    expect(tuned.matching).toEqual({ rules: ['REFERENCE', 'MANY_TO_ONE'], windowBusinessDays: 5, maxGroupSize: 6, maxGroupCandidates: 12 });
    expect(tuned.matchWindowBusinessDays).toBe(5);
    expect(await settingsOf(app.client, tuned.id)).toEqual(tuned.matching);

    const plain = await createBankAccount(app.client);
    expect(plain.matching).toEqual({ rules: ALL_RULES, windowBusinessDays: 3, maxGroupSize: 4, maxGroupCandidates: 12 });

    const legacy = await createBankAccount(app.client, { matchWindowBusinessDays: 2 });
    expect(legacy.matching).toMatchObject({ rules: ALL_RULES, windowBusinessDays: 2 });
    const agreeing = await createBankAccount(app.client, { matchWindowBusinessDays: 1, matching: { windowBusinessDays: 1 } });
    expect(agreeing.matching.windowBusinessDays).toBe(1);
  });

  it.each([
    ['two different windows', { matchWindowBusinessDays: 2, matching: { windowBusinessDays: 4 } }, 'matching.windowBusinessDays'],
    ['an empty rule list', { matching: { rules: [] } }, 'matching.rules'],
    ['a rule listed twice', { matching: { rules: ['AMOUNT_DATE', 'AMOUNT_DATE'] } }, 'matching.rules'],
    ['a window out of range', { matching: { windowBusinessDays: 31 } }, 'matching.windowBusinessDays'],
    ['groups of one', { matching: { maxGroupSize: 1 } }, 'matching.maxGroupSize'],
  ])('refuses to create a bank account with %s (VALIDATION_FAILED naming it), and creates none', async (_name, input, field) => {
    const cash = await createAccount(app.client, { type: 'ASSET', currency: 'EUR' });
    const accountNumber = `REFUSED${process.pid}${field.length}${JSON.stringify(input).length}`;
    const result = await app.client.request(CreateBankAccountDocument, {
      input: { name: 'Refused', currency: 'EUR', ledgerAccountId: cash.id, accountNumber, ...input } as never,
    });
    expect(result.data?.createBankAccount ?? null).toBeNull();
    expect(result.errors?.[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field } });
    const rows: unknown[] = await app.runtime.dataSource.query('SELECT id FROM bank_accounts WHERE ledger_account_id = ?', [cash.id]);
    expect(rows).toEqual([]);
  });

  it('updates what the input gives and keeps the rest; a retry with the same key answers the same and changes nothing more', async () => {
    const account = await createBankAccount(app.client, { matching: { maxGroupSize: 5 } });
    const input = { bankAccountId: account.id, rules: ['AMOUNT_DATE', 'REFERENCE'] as MatchRule[], windowBusinessDays: 4 };
    const first = await app.client.ok(UpdateBankAccountMatchingSettingsDocument, { input, idempotencyKey: `matching-${account.id}` });
    const expected = { rules: ['AMOUNT_DATE', 'REFERENCE'], windowBusinessDays: 4, maxGroupSize: 5, maxGroupCandidates: 12 };
    expect(first.updateBankAccountMatchingSettings.bankAccount.matching).toEqual(expected);
    expect(first.updateBankAccountMatchingSettings.bankAccount.matchWindowBusinessDays).toBe(4);

    // Someone changes it meanwhile; the retry of the first request answers as the first did and does not undo that change.
    await app.client.ok(UpdateBankAccountMatchingSettingsDocument, { input: { bankAccountId: account.id, maxGroupCandidates: 8 } });
    const retry = await app.client.ok(UpdateBankAccountMatchingSettingsDocument, { input, idempotencyKey: `matching-${account.id}` });
    expect(retry.updateBankAccountMatchingSettings.bankAccount.id).toBe(account.id);
    expect(await settingsOf(app.client, account.id)).toEqual({ ...expected, maxGroupCandidates: 8 });
  });

  it('refuses bad settings with VALIDATION_FAILED naming the setting, another tenant’s bank account with NOT_FOUND, and changes nothing', async () => {
    const account = await createBankAccount(app.client);
    const before = await settingsOf(app.client, account.id);
    const refused = async (client: GraphQLClient, input: UpdateBankAccountMatchingSettingsInput, code: string) => {
      const result = await client.request(UpdateBankAccountMatchingSettingsDocument, { input });
      expect(result.data?.updateBankAccountMatchingSettings ?? null).toBeNull();
      expect(result.errors?.[0].extensions?.code).toBe(code);
      return result.errors![0];
    };
    const id = account.id;
    expect((await refused(app.client, { bankAccountId: id, rules: [] }, 'VALIDATION_FAILED')).extensions?.details).toMatchObject({ field: 'input.rules' });
    const twice = await refused(app.client, { bankAccountId: id, rules: ['REFERENCE', 'MANY_TO_ONE', 'REFERENCE'] }, 'VALIDATION_FAILED');
    expect(twice.message).toMatch(/REFERENCE is listed twice/);
    expect((await refused(app.client, { bankAccountId: id, windowBusinessDays: 31 }, 'VALIDATION_FAILED')).extensions?.details).toMatchObject({
      field: 'input.windowBusinessDays',
      max: 30,
    });
    expect((await refused(app.client, { bankAccountId: id, windowBusinessDays: -1 }, 'VALIDATION_FAILED')).extensions?.details).toMatchObject({ field: 'input.windowBusinessDays' });
    expect((await refused(app.client, { bankAccountId: id, maxGroupCandidates: 17 }, 'VALIDATION_FAILED')).extensions?.details).toMatchObject({ field: 'input.maxGroupCandidates' });
    expect((await refused(app.client, { bankAccountId: id }, 'VALIDATION_FAILED')).extensions?.details).toMatchObject({ field: 'input' });
    expect((await refused(app.client, { bankAccountId: 'acc_01KEABZFN9R46HF6B22QXYR0ND', rules: ['REFERENCE'] }, 'VALIDATION_FAILED')).extensions?.details).toMatchObject({
      field: 'bankAccountId',
    });
    // An unknown rule is not a MatchRule: the variable does not coerce, so the mutation never runs.
    const unknown = await app.client.request(UpdateBankAccountMatchingSettingsDocument, { input: { bankAccountId: id, rules: ['GUESS' as MatchRule] } });
    expect(unknown.data?.updateBankAccountMatchingSettings ?? null).toBeNull();
    expect(unknown.errors?.[0].extensions?.code).toBe('VALIDATION_FAILED');
    expect(unknown.errors?.[0].message).toMatch(/GUESS/);

    // Another tenant cannot see the account, let alone change it.
    const theirs = await refused(other.client, { bankAccountId: id, rules: ['REFERENCE'] }, 'NOT_FOUND');
    expect(theirs.message).not.toMatch(/matching|rules/i);
    expect(await settingsOf(app.client, id)).toEqual(before);
  });

  it('leaves a line only AMOUNT_DATE could match unmatched while the rule is off, and matches it by the sweep once it is on again', async () => {
    const bank = await createBankAccount(app.client, { currency: 'USD', matching: { rules: ['REFERENCE', 'MANY_TO_ONE', 'ONE_TO_MANY'] } });
    const revenue = await createAccount(app.client, { type: 'REVENUE', currency: 'USD' });
    const entry = await postTransfer(app.client, bank.ledgerAccount.id, revenue.id, '250.00', { effectiveAt: `${day(1)}T12:00:00.000Z`, description: 'transfer' });
    const postingId = entry.postings.find((p) => p.account.id === bank.ledgerAccount.id)!.id;

    const { importBankStatement } = await app.client.ok(ImportBankStatementDocument, {
      input: {
        bankAccountId: bank.id,
        format: 'CSV',
        content: `Date,Amount,Text\n${day(3)},250.00,Customer transfer\n`,
        csvMapping: { dateColumn: 'Date', dateFormat: 'YYYY-MM-DD', amountColumn: 'Amount', descriptionColumn: 'Text', decimalSeparator: '.', currency: 'USD' },
      },
    });
    const statementId = importBankStatement.statements[0].id;
    const lineOf = async () => (await app.client.ok(StatementLineMatchesDocument, { id: statementId, first: 10 })).bankStatement.lines.edges[0].node;
    // With AMOUNT_DATE off, nothing else fits: unmatched, and not ambiguous either.
    expect(await lineOf()).toMatchObject({ matchStatus: 'UNMATCHED', match: null });
    expect(importBankStatement.flags.map((f) => f.kind)).not.toContain('AMBIGUOUS_MATCH');
    await app.runtime.services.matching.sweep();
    expect((await lineOf()).matchStatus).toBe('UNMATCHED');

    await app.client.ok(UpdateBankAccountMatchingSettingsDocument, { input: { bankAccountId: bank.id, rules: ALL_RULES } });
    await app.runtime.services.matching.sweep();
    const matched = await lineOf();
    expect(matched.matchStatus).toBe('MATCHED');
    expect(matched.match).toMatchObject({ rule: 'AMOUNT_DATE', origin: 'AUTOMATIC', postings: [{ id: postingId }] });
    expect(matched.match!.compared).toMatchObject({ amount: { line: '25000', postings: '25000', equal: true }, dateDistanceBusinessDays: 2 });
  });
});
