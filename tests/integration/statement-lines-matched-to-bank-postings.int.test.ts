import {
  ImportBankStatementDocument,
  MatchStatementLineDocument,
  ReconciliationFlagsDocument,
  type ReconciliationFlagKind,
  StatementLineMatchDocument,
  StatementLineMatchesDocument,
  UnmatchStatementLineDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { createBankAccount } from '../helpers/statement-fixtures';

/**
 * The matching engine wired to the database: postings on a cash-at-bank account and the lines of an
 * imported statement are matched after the import, after a posting is written, and by hand; what
 * cannot be decided becomes a flag and matches nothing; and no line or posting is ever matched twice.
 */

const CSV_MAPPING = {
  dateColumn: 'Date',
  dateFormat: 'YYYY-MM-DD',
  amountColumn: 'Amount',
  referenceColumn: 'Reference',
  descriptionColumn: 'Text',
  decimalSeparator: '.',
  currency: 'USD',
};

interface CsvLine {
  date: string;
  amount: string;
  reference?: string;
  text?: string;
}

function csvOf(lines: CsvLine[]): string {
  return ['Date,Amount,Reference,Text', ...lines.map((l) => `${l.date},${l.amount},${l.reference ?? ''},${l.text ?? ''}`)].join('\n') + '\n';
}

/** A weekday about three weeks back, plus `offset` calendar days. */
const BASE = (() => {
  const day = new Date(Date.now() - 21 * 86_400_000);
  while (day.getUTCDay() !== 1) day.setUTCDate(day.getUTCDate() - 1); // a Monday
  return day.toISOString().slice(0, 10);
})();
const day = (offset: number) => new Date(Date.parse(`${BASE}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);
const today = new Date().toISOString().slice(0, 10);
const at = (offset: number) => `${day(offset)}T12:00:00.000Z`;

let unique = 0;
const ref = (label: string) => `${label}-${process.pid}-${++unique}-7731`;

interface Books {
  bankAccountId: string;
  bankLedgerId: string;
  otherId: string;
}

async function books(client: GraphQLClient): Promise<Books> {
  const bank = await createBankAccount(client, { currency: 'USD' });
  const other = await createAccount(client, { type: 'REVENUE', currency: 'USD' });
  return { bankAccountId: bank.id, bankLedgerId: bank.ledgerAccount.id, otherId: other.id };
}

/** Money in (a DEBIT to the bank's ledger account) or out; returns the bank-side posting id. */
async function post(client: GraphQLClient, b: Books, amount: string, offset: number, extra: { externalRef?: string; metadata?: Record<string, unknown>; description?: string } = {}) {
  const out = amount.startsWith('-');
  const value = out ? amount.slice(1) : amount;
  const entry = await postTransfer(client, out ? b.otherId : b.bankLedgerId, out ? b.bankLedgerId : b.otherId, value, {
    effectiveAt: at(offset),
    description: extra.description ?? 'transfer',
    ...(extra.externalRef ? { externalRef: extra.externalRef } : {}),
    ...(extra.metadata ? { metadata: extra.metadata } : {}),
  });
  return entry.postings.find((p) => p.account.id === b.bankLedgerId)!.id;
}

async function importCsv(client: GraphQLClient, b: Books, lines: CsvLine[]) {
  const { importBankStatement } = await client.ok(ImportBankStatementDocument, {
    input: { bankAccountId: b.bankAccountId, format: 'CSV', content: csvOf(lines), csvMapping: CSV_MAPPING },
  });
  return importBankStatement;
}

async function linesOf(client: GraphQLClient, statementId: string) {
  const { bankStatement } = await client.ok(StatementLineMatchesDocument, { id: statementId, first: 100 });
  return bankStatement.lines.edges.map((e) => e.node);
}

async function flagsOf(client: GraphQLClient, bankAccountId: string, kind: ReconciliationFlagKind) {
  const { reconciliationFlags } = await client.ok(ReconciliationFlagsDocument, { first: 50, filter: { bankAccountId, kind } });
  return reconciliationFlags.edges.map((e) => e.node);
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describeEachDatabase('statement lines matched to bank postings', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  }, 60_000);
  afterAll(() => app.close());

  it('matches by reference, by amount and date, and one payout line against the postings it settles', async () => {
    const b = await books(app.client);
    const invoice = ref('INV');
    const payout = ref('PAYOUT');
    const byRef = await post(app.client, b, '100.00', 0, { externalRef: invoice });
    const byAmount = await post(app.client, b, '250.00', 1);
    const batch = [
      await post(app.client, b, '40.00', 0, { metadata: { payoutRef: payout } }),
      await post(app.client, b, '60.00', 1, { metadata: { payoutRef: payout } }),
      await post(app.client, b, '-5.00', 1, { metadata: { payoutRef: payout } }),
    ];
    const imported = await importCsv(app.client, b, [
      { date: day(1), amount: '100.00', reference: invoice, text: 'Invoice payment' },
      { date: day(3), amount: '250.00', text: 'Customer transfer' },
      { date: day(3), amount: '95.00', text: `Gateway ${payout}` },
    ]);
    const lines = await linesOf(app.client, imported.statements[0].id);
    const byAmountOf = (amount: string) => lines.find((l) => l.amount.amount === amount)!;

    expect(lines.map((l) => l.matchStatus)).toEqual(['MATCHED', 'MATCHED', 'MATCHED']);
    expect(byAmountOf('100.00').match).toMatchObject({ rule: 'REFERENCE', origin: 'AUTOMATIC', createdBy: null, score: 1, postings: [{ id: byRef }] });
    expect(byAmountOf('100.00').match!.compared).toMatchObject({ amount: { line: '10000', postings: '10000', equal: true }, reference: { how: 'EXACT' } });
    expect(byAmountOf('250.00').match).toMatchObject({ rule: 'AMOUNT_DATE', postings: [{ id: byAmount }] });
    expect(byAmountOf('250.00').match!.compared).toMatchObject({ dateDistanceBusinessDays: 2 });
    const payoutMatch = byAmountOf('95.00').match!;
    expect(payoutMatch.rule).toBe('MANY_TO_ONE');
    expect(payoutMatch.postings.map((p) => p.id).sort()).toEqual([...batch].sort());
    expect(payoutMatch.statementLines).toEqual([{ id: byAmountOf('95.00').id }]);

    // The match is a node too.
    const { node } = await app.client.ok(StatementLineMatchDocument, { id: payoutMatch.id });
    expect(node).toMatchObject({ id: payoutMatch.id, rule: 'MANY_TO_ONE' });
  });

  it('flags an ambiguous line, a fee-sized difference and a duplicated line, and matches none of them', async () => {
    const b = await books(app.client);
    const feeRef = ref('INV');
    const dupRef = ref('INV');
    const twins = [await post(app.client, b, '70.00', 0), await post(app.client, b, '70.00', 0)];
    const invoiced = await post(app.client, b, '500.00', 0, { externalRef: feeRef });
    const once = await post(app.client, b, '33.33', 0, { externalRef: dupRef });
    const imported = await importCsv(app.client, b, [
      { date: day(1), amount: '70.00', text: 'Transfer' },
      { date: day(1), amount: '498.50', reference: feeRef, text: 'Less fee' },
      { date: day(1), amount: '33.33', reference: dupRef, text: 'Payment' },
      { date: day(1), amount: '33.33', reference: dupRef, text: 'Payment' },
    ]);
    const lines = await linesOf(app.client, imported.statements[0].id);
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => [l.amount.amount, l.matchStatus, l.match])).toEqual([
      ['70.00', 'UNMATCHED', null],
      ['498.50', 'UNMATCHED', null],
      ['33.33', 'UNMATCHED', null],
      ['33.33', 'UNMATCHED', null],
    ]);

    const [ambiguous] = await flagsOf(app.client, b.bankAccountId, 'AMBIGUOUS_MATCH');
    expect(ambiguous.details).toMatchObject({ statementLineIds: [lines[0].id], postingIds: [...twins].sort() });
    const [mismatch] = await flagsOf(app.client, b.bankAccountId, 'AMOUNT_MISMATCH');
    expect(mismatch.details).toMatchObject({
      statementLineIds: [lines[1].id],
      postingIds: [invoiced],
      lineAmount: '498.50',
      postingAmount: '500.00',
      difference: '-1.50',
    });
    const [duplicate] = await flagsOf(app.client, b.bankAccountId, 'DUPLICATE_STATEMENT_LINE');
    expect(duplicate.details).toMatchObject({ statementLineIds: [lines[2].id, lines[3].id].sort(), postingIds: [once] });

    // The sweep finds the same problems again and raises nothing more.
    await app.runtime.services.matching.sweep();
    for (const kindOfFlag of ['AMBIGUOUS_MATCH', 'AMOUNT_MISMATCH', 'DUPLICATE_STATEMENT_LINE'] as const) {
      const flags = await flagsOf(app.client, b.bankAccountId, kindOfFlag);
      expect(flags.map((f) => f.occurrenceCount)).toEqual([1]);
    }
    expect((await linesOf(app.client, imported.statements[0].id)).every((l) => l.matchStatus === 'UNMATCHED')).toBe(true);
  });

  it('matches a posting written after the import when it is written, and the sweep ages what stays unmatched', async () => {
    const b = await books(app.client);
    const invoice = ref('INV');
    const imported = await importCsv(app.client, b, [
      { date: today, amount: '123.45', reference: invoice, text: 'Late booking' },
      { date: day(2), amount: '-61.00', text: 'Nobody booked this' },
    ]);
    const [late, stray] = await linesOf(app.client, imported.statements[0].id);
    expect(late.matchStatus).toBe('UNMATCHED');
    // The stray line's window had passed when it arrived: flagged at once. Today's line waits for its posting.
    expect((await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_STATEMENT_LINE')).map((f) => f.details.statementLineIds)).toEqual([[stray.id]]);
    const lonely = await post(app.client, b, '17.00', -10);

    const posting = await post(app.client, b, '123.45', 0, { externalRef: invoice });
    const matched = await eventually(
      async () => (await app.client.ok(StatementLineMatchDocument, { id: late.id })).node,
      (node) => node !== null && 'matchStatus' in node && node.matchStatus === 'MATCHED',
      'the late posting to be matched',
    );
    expect(matched).toMatchObject({ match: { rule: 'REFERENCE', postings: [{ id: posting }] } });

    // The lonely posting lies more than the window in the past: the sweep flags it, and flags nothing twice.
    await app.runtime.services.matching.sweep();
    await app.runtime.services.matching.sweep();
    const unmatchedLines = await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_STATEMENT_LINE');
    expect(unmatchedLines.map((f) => [f.details.statementLineIds, f.details.amount, f.occurrenceCount])).toEqual([[[stray.id], '-61.00', 1]]);
    const unmatchedPostings = await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_LEDGER_ENTRY');
    expect(unmatchedPostings.map((f) => [f.details.postingIds, f.details.amount, f.occurrenceCount])).toEqual([[[lonely], '17.00', 1]]);
  });

  it('matches by reference however far apart the dates are, whichever side arrives first', async () => {
    const b = await books(app.client);
    const [earlyRef, lateRef] = [ref('INV'), ref('INV')];
    const early = await post(app.client, b, '410.00', -30, { externalRef: earlyRef });
    const imported = await importCsv(app.client, b, [
      { date: day(2), amount: '410.00', reference: earlyRef, text: 'Paid a month late' },
      { date: day(2), amount: '-75.20', reference: lateRef, text: 'Supplier' },
    ]);
    const [first, second] = await linesOf(app.client, imported.statements[0].id);
    expect(first.match).toMatchObject({ rule: 'REFERENCE', postings: [{ id: early }] });
    expect(second.matchStatus).toBe('UNMATCHED');

    const late = await post(app.client, b, '-75.20', -30, { externalRef: lateRef });
    const matched = await eventually(
      async () => (await app.client.ok(StatementLineMatchDocument, { id: second.id })).node,
      (node) => node !== null && 'matchStatus' in node && node.matchStatus === 'MATCHED',
      'the far posting to be matched',
    );
    expect(matched).toMatchObject({ match: { rule: 'REFERENCE', postings: [{ id: late }] } });
  });

  it('matches and unmatches by hand, audited and replayed, and refuses sums that differ', async () => {
    const b = await books(app.client);
    const imported = await importCsv(app.client, b, [{ date: day(1), amount: '80.00', text: 'Two invoices at once' }]);
    const [line] = await linesOf(app.client, imported.statements[0].id);
    // Three weeks before the line: outside any window, so only a person can pair them.
    const parts = [await post(app.client, b, '50.00', -21), await post(app.client, b, '30.00', -21)];
    const foreign = await createAccount(app.client, { type: 'ASSET', currency: 'USD' });
    const elsewhere = (await postTransfer(app.client, foreign.id, b.otherId, '30.00')).postings.find((p) => p.account.id === foreign.id)!.id;

    const short = await app.client.request(MatchStatementLineDocument, { input: { statementLineId: line.id, postingIds: [parts[0]] }, idempotencyKey: ref('k') });
    expect(short.errors?.[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { lineAmount: '80.00', postingsAmount: '50.00' } });
    expect(short.errors?.[0].message).toContain('50.00');
    expect(short.errors?.[0].message).toContain('80.00');
    const wrongAccount = await app.client.request(MatchStatementLineDocument, { input: { statementLineId: line.id, postingIds: [parts[0], elsewhere] } });
    expect(wrongAccount.errors?.[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'postingIds[1]' } });
    expect((await app.client.ok(StatementLineMatchDocument, { id: line.id })).node).toMatchObject({ matchStatus: 'UNMATCHED', match: null });

    const matchKey = ref('match');
    const variables = { input: { statementLineId: line.id, postingIds: parts, note: 'Paid two invoices in one transfer' }, idempotencyKey: matchKey };
    const first = await app.client.ok(MatchStatementLineDocument, variables);
    const replay = await app.client.ok(MatchStatementLineDocument, variables);
    expect(replay).toEqual(first);
    expect(first.matchStatementLine).toMatchObject({
      statementLine: { id: line.id, matchStatus: 'MATCHED' },
      match: { rule: 'MANUAL', origin: 'MANUAL', note: 'Paid two invoices in one transfer', unmatchedAt: null },
    });
    expect(first.matchStatementLine.match.postings.map((p) => p.id)).toEqual(parts);
    expect(await app.client.errorCode(MatchStatementLineDocument, { input: { statementLineId: line.id, postingIds: parts }, idempotencyKey: ref('k') })).toBe('INVALID_STATE_TRANSITION');

    const matchId = first.matchStatementLine.match.id;
    expect(first.matchStatementLine.match.createdBy).toMatch(/^key_/);

    const unmatchVariables = { input: { statementLineId: line.id, note: 'Wrong customer' }, idempotencyKey: ref('unmatch') };
    const undone = await app.client.ok(UnmatchStatementLineDocument, unmatchVariables);
    expect(await app.client.ok(UnmatchStatementLineDocument, unmatchVariables)).toEqual(undone);
    expect(undone.unmatchStatementLine).toMatchObject({
      statementLine: { id: line.id, matchStatus: 'UNMATCHED' },
      unmatchedMatch: { id: matchId, unmatchNote: 'Wrong customer', postings: parts.map((id) => ({ id })) },
    });
    expect(undone.unmatchStatementLine.unmatchedMatch.unmatchedAt).not.toBeNull();
    expect(undone.unmatchStatementLine.unmatchedMatch.unmatchedBy).toBe(first.matchStatementLine.match.createdBy);
    expect(await app.client.errorCode(UnmatchStatementLineDocument, { input: { statementLineId: line.id }, idempotencyKey: ref('k') })).toBe('INVALID_STATE_TRANSITION');

    // Kept for the record, and the postings are free again.
    const { node } = await app.client.ok(StatementLineMatchDocument, { id: matchId });
    expect(node).toMatchObject({ id: matchId, unmatchNote: 'Wrong customer' });
    const again = await app.client.ok(MatchStatementLineDocument, { input: { statementLineId: line.id, postingIds: [...parts].reverse() }, idempotencyKey: ref('k') });
    expect(again.matchStatementLine.match.id).not.toBe(matchId);
  });

  it('concurrent overlapping imports and concurrent postings match every line and posting once', async () => {
    const b = await books(app.client);
    const refs = Array.from({ length: 16 }, () => ref('INV'));
    const line = (i: number): CsvLine => ({ date: day(i % 5), amount: `${100 + i}.00`, reference: refs[i], text: 'Payment' });
    const early = refs.map((_, i) => line(i)).slice(0, 11);
    const late = refs.map((_, i) => line(i)).slice(5);

    const postingIds = await Promise.all([
      ...refs.map((r, i) => post(app.client, b, `${100 + i}.00`, i % 5, { externalRef: r })),
      importCsv(app.client, b, early).then(() => null),
      importCsv(app.client, b, late).then(() => null),
      importCsv(app.client, b, late).then(() => null),
    ]);
    const postings = postingIds.filter((id): id is string => id !== null);
    // Whatever a race left unmatched, the sweep picks up.
    await app.runtime.services.matching.sweep();

    const db = app.runtime.services.dataSource;
    const lineRows: Record<string, unknown>[] = await db.query('SELECT id FROM statement_lines WHERE bank_account_id = ?', [b.bankAccountId]);
    expect(lineRows).toHaveLength(16);
    const items: Record<string, unknown>[] = await db.query(
      `SELECT i.statement_line_id, i.posting_id FROM reconciliation_match_items i JOIN reconciliation_matches m ON m.id = i.match_id WHERE m.bank_account_id = ?`,
      [b.bankAccountId],
    );
    const matchedLines = items.filter((i) => i.statement_line_id !== null).map((i) => String(i.statement_line_id));
    const matchedPostings = items.filter((i) => i.posting_id !== null).map((i) => String(i.posting_id));
    expect(new Set(matchedLines).size).toBe(matchedLines.length);
    expect(new Set(matchedPostings).size).toBe(matchedPostings.length);
    expect(matchedLines.sort()).toEqual(lineRows.map((r) => String(r.id)).sort());
    expect(matchedPostings.sort()).toEqual([...postings].sort());
    const matches: Record<string, unknown>[] = await db.query('SELECT rule FROM reconciliation_matches WHERE bank_account_id = ?', [b.bankAccountId]);
    expect(matches.map((m) => m.rule)).toEqual(Array(16).fill('REFERENCE'));
  });
});
