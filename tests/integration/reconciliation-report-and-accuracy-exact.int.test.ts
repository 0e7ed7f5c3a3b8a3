import {
  CreateBankAccountDocument,
  ImportBankStatementDocument,
  ReconciliationAccuracyDocument,
  ReconciliationFlagsDocument,
  ReconciliationReportDocument,
  UnmatchStatementLineDocument,
} from '../generated/graphql';
import { nodesOf } from '../helpers/connections';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';

/**
 * The statement: opening 1,000.00; +250.00 (INV-1002) on 5 Jan, −40.00 on 6 Jan, +99.99 the books
 * lack on 7 Jan; it states 1,310.00 closing, one cent more than its lines add up to.
 */
const STATEMENT = [
  ':20:REPORT1',
  ':25:DE14740618130000033626',
  ':28C:1/1',
  ':60F:C251231USD1000,00',
  ':61:2601050105C250,00NTRFINV-1002//B26010500001',
  ':86:Invoice 1002',
  ':61:2601060106D40,00NTRFNONREF//B26010600002',
  ':86:Bank charge',
  ':61:2601070107C99,99NTRFNONREF//B26010700003',
  ':86:Unknown deposit',
  ':62F:C260107USD1310,00',
  '',
].join('\n');

const JANUARY = { from: '2026-01-01', to: '2026-01-31' };

/**
 * reconciliationReport and reconciliationAccuracy over real HTTP on an imported MT940 statement and
 * ledger postings: every count, total and balance exact; automatic matches, then one unmatched by hand;
 * another tenant's bank account is NOT_FOUND and its own accuracy counts nothing of this one.
 */
describeEachDatabase('reconciliation report and accuracy', (kind) => {
  let app: TestApp;
  let bankAccountId: string;
  const lineIds: string[] = [];

  beforeAll(async () => {
    app = await startTestApp(kind);
    const cash = await createAccount(app.client, { type: 'ASSET', currency: 'USD' });
    const sales = await createAccount(app.client, { type: 'REVENUE', currency: 'USD' });
    // Before the period (the opening balance), then three in it: two the bank shows, one it does not.
    await postTransfer(app.client, cash.id, sales.id, '1000.00', { effectiveAt: '2025-12-31T12:00:00.000Z' });
    await postTransfer(app.client, cash.id, sales.id, '250.00', { effectiveAt: '2026-01-05T12:00:00.000Z', externalRef: 'INV-1002' });
    await postTransfer(app.client, sales.id, cash.id, '40.00', { effectiveAt: '2026-01-06T12:00:00.000Z' });
    await postTransfer(app.client, cash.id, sales.id, '15.00', { effectiveAt: '2026-01-07T12:00:00.000Z' });

    const { createBankAccount } = await app.client.ok(CreateBankAccountDocument, {
      input: { name: 'Operating', iban: 'DE14740618130000033626', currency: 'USD', ledgerAccountId: cash.id },
    });
    bankAccountId = createBankAccount.bankAccount.id;
    await app.client.ok(ImportBankStatementDocument, { input: { bankAccountId, format: 'MT940', content: STATEMENT } });
    const rows: { id: string }[] = await app.runtime.dataSource.query('SELECT id FROM statement_lines WHERE bank_account_id = ? ORDER BY booking_date', [bankAccountId]);
    lineIds.push(...rows.map((row) => row.id));
  });
  afterAll(async () => {
    await app?.close();
  });

  const tally = (count: number, amount: string) => ({ count, amount: { amount, currency: 'USD' } });

  async function openFlagsByKind(): Promise<{ kind: string; count: number }[]> {
    const counts = new Map<string, number>();
    for (const status of ['OPEN', 'ACKNOWLEDGED'] as const) {
      const { reconciliationFlags } = await app.client.ok(ReconciliationFlagsDocument, { first: 100, filter: { bankAccountId, status } });
      for (const flag of nodesOf(reconciliationFlags!)) counts.set(flag.kind, (counts.get(flag.kind) ?? 0) + 1);
    }
    return [...counts].map(([kind, count]) => ({ kind, count }));
  }

  it('counts lines and postings matched and unmatched, open flags by kind, and the closing balance against the ledger that day', async () => {
    expect(lineIds).toHaveLength(3);
    const { reconciliationReport: report } = await app.client.ok(ReconciliationReportDocument, { bankAccountId, period: JANUARY });
    expect(report).toMatchObject({
      bankAccount: { id: bankAccountId },
      from: '2026-01-01',
      to: '2026-01-31',
      statementLines: { matched: tally(2, '210.00'), unmatched: tally(1, '99.99') },
      ledgerPostings: { matched: tally(2, '210.00'), unmatched: tally(1, '15.00') },
      balances: {
        date: '2026-01-07',
        statementClosingBalance: { amount: '1310.00' },
        // 1,000.00 + 250.00 − 40.00 + 15.00
        ledgerBalance: { amount: '1225.00' },
        difference: { amount: '85.00' },
      },
    });
    expect(report!.openFlags).toContainEqual({ kind: 'STATEMENT_BALANCE_MISMATCH', count: 1 });
    expect([...report!.openFlags].sort((a, b) => a.kind.localeCompare(b.kind))).toEqual((await openFlagsByKind()).sort((a, b) => a.kind.localeCompare(b.kind)));

    // A period before the statement: no lines, one posting (the opening one), no statement closing yet.
    const { reconciliationReport: december } = await app.client.ok(ReconciliationReportDocument, { bankAccountId, period: { from: '2025-12-01', to: '2025-12-31' } });
    expect(december).toMatchObject({
      statementLines: { matched: tally(0, '0.00'), unmatched: tally(0, '0.00') },
      ledgerPostings: { matched: tally(0, '0.00'), unmatched: tally(1, '1000.00') },
      balances: null,
    });
  });

  it('rates automatic matches: all confirmed, then one unmatched by hand is no longer confirmed', async () => {
    const before = await app.client.ok(ReconciliationAccuracyDocument, { bankAccountId, period: JANUARY });
    expect(before.reconciliationAccuracy).toEqual({
      automaticMatches: 2,
      automaticMatchesConfirmed: 2,
      confirmedRate: 1,
      statementLines: 3,
      statementLinesMatchedAutomatically: 2,
      automaticLineRate: 2 / 3,
    });

    await app.client.ok(UnmatchStatementLineDocument, { input: { statementLineId: lineIds[1], note: 'not this charge' } });
    const after = await app.client.ok(ReconciliationAccuracyDocument, {});
    expect(after.reconciliationAccuracy).toEqual({
      automaticMatches: 2,
      automaticMatchesConfirmed: 1,
      confirmedRate: 0.5,
      statementLines: 3,
      statementLinesMatchedAutomatically: 1,
      automaticLineRate: 1 / 3,
    });
    const { reconciliationReport: report } = await app.client.ok(ReconciliationReportDocument, { bankAccountId, period: JANUARY });
    expect(report).toMatchObject({
      statementLines: { matched: tally(1, '250.00'), unmatched: tally(2, '59.99') },
      ledgerPostings: { matched: tally(1, '250.00'), unmatched: tally(2, '-25.00') },
    });
    // A period without lines has no rate rather than a made-up one.
    const empty = await app.client.ok(ReconciliationAccuracyDocument, { bankAccountId, period: { from: '2025-01-01', to: '2025-01-31' } });
    expect(empty.reconciliationAccuracy).toMatchObject({ automaticMatches: 0, confirmedRate: null, statementLines: 0, automaticLineRate: null });
  });

  it('refuses a backwards or impossible period with VALIDATION_FAILED', async () => {
    const backwards = await app.client.request(ReconciliationReportDocument, { bankAccountId, period: { from: '2026-02-01', to: '2026-01-01' } });
    expect(backwards.errors?.map((error) => error.extensions?.code)).toEqual(['VALIDATION_FAILED']);
    expect(backwards.errors?.[0]?.message).toContain('period.from');
  });

  it('keeps tenants apart: another tenant’s bank account is NOT_FOUND, and its accuracy counts only its own', async () => {
    const other: TestTenant = await app.createTenant('Other');
    const report = await other.client.request(ReconciliationReportDocument, { bankAccountId, period: JANUARY });
    expect(report.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
    expect(report.data?.reconciliationReport ?? null).toBeNull();
    const accuracyOfTheirs = await other.client.request(ReconciliationAccuracyDocument, { bankAccountId });
    expect(accuracyOfTheirs.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
    const own = await other.client.ok(ReconciliationAccuracyDocument, {});
    expect(own.reconciliationAccuracy).toEqual({
      automaticMatches: 0,
      automaticMatchesConfirmed: 0,
      confirmedRate: null,
      statementLines: 0,
      statementLinesMatchedAutomatically: 0,
      automaticLineRate: null,
    });
  });
});
