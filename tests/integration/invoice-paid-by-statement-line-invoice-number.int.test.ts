import { MatchingService } from '../../src/modules/reconciliation/matching.service';
import {
  CreateCustomerDocument,
  CreateInvoiceDocument,
  type CreateInvoiceInput,
  CustomerBalancesDocument,
  FinalizeInvoiceDocument,
  ImportBankStatementDocument,
  PaidInvoiceDocument,
  RecordInvoicePaymentDocument,
  StatementLineMatchesDocument,
  TrialBalanceDocument,
  UnmatchStatementLineDocument,
  UpdateBankAccountMatchingSettingsDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { daysFromToday, flagsOf } from '../helpers/matching-fixtures';
import { contentOfFile, createBankAccount, fixtureBytes } from '../helpers/statement-fixtures';

/**
 * The INVOICE_NUMBER rule of the reconciliation engine, through real HTTP: a camt.053 statement whose
 * remittance text names an invoice (in the customer's case, wrapped by the bank) pays it, and the line
 * is matched to the posting that payment wrote; a wrong amount is recorded and flagged; an invoice the
 * line cannot pay is flagged and nothing is recorded; another tenant's numbers never match; and no
 * re-import, sweep, unmatching by hand or second matching process records a line twice.
 */

/** 100.00 + 19% = 119.00. */
const LINES: CreateInvoiceInput['lines'] = [{ description: 'Consulting', quantity: '1', unitPrice: '100.00', taxRate: '19', taxBehaviour: 'EXCLUSIVE' }];

let sequence = 0;
const unique = (label: string) => `${label}${process.pid}X${++sequence}`;

interface Entry {
  /** Unsigned, 2 decimals. */
  amount: string;
  direction?: 'CRDT' | 'DBIT';
  bookingDate: string;
  /** The bank's reference (AcctSvcrRef): unique per entry, as banks make it. */
  ref: string;
  /** Ustrd elements, as the bank wraps the customer's remittance text. */
  remittance: string[];
}

const minor = (amount: string) => BigInt(amount.replace('.', ''));
const decimal = (value: bigint) => `${value < 0n ? '-' : ''}${(value < 0n ? -value : value).toString().padStart(3, '0').replace(/(\d\d)$/, '.$1')}`;

/** Each account's closing balance so far: a statement opens where the last one closed. */
const closingOf = new Map<string, bigint>();

/** A camt.053 statement of the account in USD, with balances that agree with its entries (and the statement before). */
function camt053(accountNumber: string, entries: Entry[]): string {
  const id = unique('STMT');
  const signed = entries.reduce((sum, e) => sum + (e.direction === 'DBIT' ? -minor(e.amount) : minor(e.amount)), 0n);
  const opening = closingOf.get(accountNumber) ?? 100000n;
  const closing = opening + signed;
  closingOf.set(accountNumber, closing);
  const dates = entries.map((e) => e.bookingDate).sort();
  const balance = (code: string, amount: bigint, date: string) =>
    `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp><Amt Ccy="USD">${decimal(amount < 0n ? -amount : amount)}</Amt><CdtDbtInd>${amount < 0n ? 'DBIT' : 'CRDT'}</CdtDbtInd><Dt><Dt>${date}</Dt></Dt></Bal>`;
  const entry = (e: Entry) => `<Ntry><Amt Ccy="USD">${e.amount}</Amt><CdtDbtInd>${e.direction ?? 'CRDT'}</CdtDbtInd><Sts>BOOK</Sts>
      <BookgDt><Dt>${e.bookingDate}</Dt></BookgDt><ValDt><Dt>${e.bookingDate}</Dt></ValDt><AcctSvcrRef>${e.ref}</AcctSvcrRef>
      <NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><RltdPties><Dbtr><Nm>Acme Trading GmbH</Nm></Dbtr></RltdPties>
      <RmtInf>${e.remittance.map((text) => `<Ustrd>${text}</Ustrd>`).join('')}</RmtInf></TxDtls></NtryDtls></Ntry>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
  <GrpHdr><MsgId>${id}</MsgId><CreDtTm>${dates[dates.length - 1]}T18:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>${id}</Id><CreDtTm>${dates[dates.length - 1]}T18:00:00</CreDtTm>
    <Acct><Id><Othr><Id>${accountNumber}</Id></Othr></Id><Ccy>USD</Ccy></Acct>
    ${balance('OPBD', opening, dates[0])}${balance('CLBD', closing, dates[dates.length - 1])}
    ${entries.map(entry).join('\n    ')}
  </Stmt></BkToCstmrStmt></Document>`;
}

interface Bank {
  id: string;
  ledgerAccountId: string;
  accountNumber: string;
}

async function usdBank(client: GraphQLClient, rules?: string[]): Promise<Bank> {
  const accountNumber = unique('ACC');
  const bank = await createBankAccount(client, { currency: 'USD', accountNumber, ...(rules ? { matching: { rules: rules as never } } : {}) });
  return { id: bank.id, ledgerAccountId: bank.ledgerAccount.id, accountNumber };
}

async function importStatement(client: GraphQLClient, bank: Bank, entries: Entry[], content = camt053(bank.accountNumber, entries)) {
  const { importBankStatement } = await client.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'CAMT053', content } });
  const statement = importBankStatement.statements[0];
  const { bankStatement } = await client.ok(StatementLineMatchesDocument, { id: statement.id, first: 50 });
  // The import's answer holds the import's own flags; matching raises its flags once the import committed.
  expect(importBankStatement.flags).toEqual([]);
  return { result: importBankStatement, content, lines: bankStatement.lines.edges.map((edge) => edge.node), flags: await flagsOf(client, bank.id) };
}

describeEachDatabase('invoices paid by a statement line that names them (INVOICE_NUMBER)', (kind) => {
  let app: TestApp;
  let globex: TestTenant;
  let customerId: string;

  const openInvoice = async (client: GraphQLClient = app.client, customer = customerId, currency = 'USD') => {
    const { createInvoice } = await client.ok(CreateInvoiceDocument, { input: { customerId: customer, currency, lines: LINES } });
    const { finalizeInvoice } = await client.ok(FinalizeInvoiceDocument, { input: { invoiceId: createInvoice.invoice.id } });
    return { id: finalizeInvoice.invoice.id, number: finalizeInvoice.invoice.number! };
  };
  const invoiceOf = async (id: string, client: GraphQLClient = app.client) => (await client.ok(PaidInvoiceDocument, { id })).invoice!;
  const dataSource = () => app.runtime.services.dataSource;
  const paymentRows = async (tenantId = app.tenantId): Promise<Record<string, unknown>[]> =>
    dataSource().query('SELECT * FROM invoice_payments WHERE tenant_id = ? ORDER BY id', [tenantId]);
  const count = async (table: string) => Number((await dataSource().query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
  /** The tenant's receivable (debit − credit) in USD, read from a balanced trial balance. */
  const receivable = async (client: GraphQLClient = app.client) => {
    const { trialBalance } = await client.ok(TrialBalanceDocument, { currency: 'USD' });
    expect(trialBalance.balanced).toBe(true);
    const line = trialBalance.lines.edges.find((edge) => edge.node.account.code === 'SYS-1200-USD')?.node;
    return BigInt(line?.debit.minorUnits ?? '0') - BigInt(line?.credit.minorUnits ?? '0');
  };
  /** Σ amountRemaining of the tenant's OPEN invoices: what the receivable must equal. */
  const openRemaining = async (tenantId = app.tenantId) => {
    const rows: Record<string, unknown>[] = await dataSource().query(
      `SELECT COALESCE(SUM(total_minor - amount_credited_minor - amount_paid_minor - amount_written_off_minor), 0) AS n FROM invoices WHERE tenant_id = ? AND status = 'OPEN' AND currency = 'USD'`,
      [tenantId],
    );
    return BigInt(String(rows[0].n));
  };

  beforeAll(async () => {
    app = await startTestApp(kind);
    globex = await app.createTenant('Globex');
    customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Acme Trading GmbH' } })).createCustomer.customer.id;
  }, 60_000);
  afterAll(() => app?.close());

  afterEach(async () => {
    expect(await receivable()).toBe(await openRemaining());
    await assertLedgerInvariants(dataSource(), app.client);
  });

  it('pays the invoice a line names (in any case, wrapped by the bank), matches the line to the payment’s posting, and leaves the receivable at zero', async () => {
    const bank = await usdBank(app.client);
    const invoice = await openInvoice();
    expect(invoice.number).toMatch(/^INV-\d{4}-\d{6}$/);
    // "inv-2026-" on one line, "000001" on the next: the way SEPA wraps remittance at 35 characters.
    const [prefix, digits] = [invoice.number.slice(0, invoice.number.lastIndexOf('-') + 1), invoice.number.slice(invoice.number.lastIndexOf('-') + 1)];
    const ref = unique('BANKREF');
    const { flags, lines } = await importStatement(app.client, bank, [
      { amount: '119.00', bookingDate: daysFromToday(-1), ref, remittance: [`Rechnung Nr.: ${prefix.toLowerCase()}`, `${digits}, Kd 4711`] },
    ]);
    expect(flags).toEqual([]);
    const [line] = lines;
    expect(line).toMatchObject({ matchStatus: 'MATCHED', match: { rule: 'INVOICE_NUMBER', origin: 'AUTOMATIC', score: 1, statementLines: [{ id: line.id }] } });
    expect(line.match!.compared).toMatchObject({
      amount: { line: '11900', postings: '11900', equal: true },
      reference: { how: 'INVOICE_NUMBER', invoiceNumber: invoice.number, line: { field: 'remittanceInformation' } },
      invoice: { id: invoice.id, number: invoice.number, amountRemainingBefore: '11900', applied: '11900', credited: '0', status: 'PAID' },
    });

    const paid = await invoiceOf(invoice.id);
    expect(paid).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '11900' }, amountRemaining: { minorUnits: '0' } });
    expect(paid.payments).toEqual([expect.objectContaining({ method: 'BANK_TRANSFER', status: 'SUCCEEDED', amount: { minorUnits: '11900' }, applied: { minorUnits: '11900' } })]);
    const [row] = await paymentRows();
    expect(row).toMatchObject({ invoice_id: invoice.id, statement_line_id: line.id, reference: ref, received_on: daysFromToday(-1) });
    // The posting matched is the payment's, on the bank account's ledger account (not the chart's cash at bank).
    const [posting] = await dataSource().query('SELECT id, account_id, direction FROM postings WHERE journal_entry_id = ? AND account_id = ?', [row.journal_entry_id, bank.ledgerAccountId]);
    expect(posting).toMatchObject({ direction: 'DEBIT' });
    expect(line.match!.postings).toEqual([{ id: posting.id }]);
    expect(await receivable()).toBe(0n);
  });

  it('pays an invoice from a real bank’s camt.053 file whose credit line carries the number in its remittance text', async () => {
    // viafintech's camt.053 example: five lines of 2013-12-27 on DE14740618130000033626, among them a
    // credit of 1.00 EUR with the remittance "R CKBUCHUNG"; the customer wrote the invoice number after it.
    const tenant = await app.createTenant('Fixture GmbH');
    const customer = (await tenant.client.ok(CreateCustomerDocument, { input: { name: 'Testkonto Nummer 2' } })).createCustomer.customer.id;
    const { createInvoice } = await tenant.client.ok(CreateInvoiceDocument, {
      input: { customerId: customer, currency: 'EUR', lines: [{ description: 'Fee', quantity: '1', unitPrice: '1.00', taxRate: '0', taxBehaviour: 'EXCLUSIVE' }] },
    });
    const invoice = (await tenant.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: createInvoice.invoice.id } })).finalizeInvoice.invoice;
    const bank = await createBankAccount(tenant.client, { currency: 'EUR', iban: 'DE14740618130000033626' });
    const original = fixtureBytes('camt053/viafintech__053_valid_example.xml').toString('utf8');
    expect(original).toContain('<Ustrd>R CKBUCHUNG</Ustrd>');
    const file = Buffer.from(original.replace('<Ustrd>R CKBUCHUNG</Ustrd>', `<Ustrd>R CKBUCHUNG ${invoice.number}</Ustrd>`), 'utf8');
    const { importBankStatement } = await tenant.client.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'CAMT053', ...contentOfFile(file) } });
    expect(importBankStatement).toMatchObject({ importedLineCount: 5, flags: [] });
    const { bankStatement } = await tenant.client.ok(StatementLineMatchesDocument, { id: importBankStatement.statements[0].id, first: 10 });
    const lines = bankStatement!.lines.edges.map((edge) => edge.node);
    const paying = lines.filter((line) => line.match !== null);
    expect(paying).toHaveLength(1);
    expect(paying[0]).toMatchObject({ amount: { amount: '1.00' }, bankReference: '2013122711085260000', match: { rule: 'INVOICE_NUMBER' } });
    expect(await invoiceOf(invoice.id, tenant.client)).toMatchObject({ status: 'PAID', amountRemaining: { minorUnits: '0' } });
    const [row] = await paymentRows(tenant.tenantId);
    expect(row).toMatchObject({ statement_line_id: paying[0].id, reference: '2013122711085260000', received_on: '2013-12-27' });
    // The other four lines are old and unmatched: the usual flags, none about invoices.
    expect((await flagsOf(tenant.client, bank.id)).map((flag) => flag.kind).sort()).toEqual(Array(4).fill('UNMATCHED_STATEMENT_LINE'));
    const { trialBalance } = await tenant.client.ok(TrialBalanceDocument, { currency: 'EUR' });
    expect(trialBalance.balanced).toBe(true);
    const ar = trialBalance.lines.edges.find((edge) => edge.node.account.code === 'SYS-1200-EUR')!.node;
    expect(ar.debit.minorUnits).toBe(ar.credit.minorUnits);
  });

  it('records an underpayment and flags it UNDERPAID (the invoice stays OPEN), then the rest pays it without a flag', async () => {
    const bank = await usdBank(app.client);
    const invoice = await openInvoice();
    const first = await importStatement(app.client, bank, [{ amount: '100.00', bookingDate: daysFromToday(-2), ref: unique('R'), remittance: [`Payment ${invoice.number}`] }]);
    const [line] = first.lines;
    expect(line).toMatchObject({ matchStatus: 'MATCHED', match: { rule: 'INVOICE_NUMBER' } });
    const [flag] = first.flags;
    expect(first.flags).toHaveLength(1);
    expect(flag).toMatchObject({ kind: 'INVOICE_AMOUNT_MISMATCH', status: 'OPEN', bankAccount: { id: bank.id } });
    const [payment] = await paymentRows().then((rows) => rows.filter((r) => r.invoice_id === invoice.id));
    expect(flag.details).toEqual({
      statementLineIds: [line.id],
      postingIds: line.match!.postings.map((p) => p.id),
      matchId: line.match!.id,
      invoiceId: invoice.id,
      invoiceNumber: invoice.number,
      invoicePaymentId: payment.id,
      currency: 'USD',
      expected: '119.00',
      received: '100.00',
      difference: '19.00',
      direction: 'UNDERPAID',
      invoiceStatus: 'OPEN',
      customerCredit: '0.00',
    });
    expect(await invoiceOf(invoice.id)).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '10000' }, amountRemaining: { minorUnits: '1900' } });

    const rest = await importStatement(app.client, bank, [{ amount: '19.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [`REST ${invoice.number}`] }]);
    expect(rest.lines[0]).toMatchObject({ matchStatus: 'MATCHED', match: { rule: 'INVOICE_NUMBER' } });
    expect(rest.flags.map((f) => f.id)).toEqual([flag.id]);
    expect(await invoiceOf(invoice.id)).toMatchObject({ status: 'PAID', amountRemaining: { minorUnits: '0' } });
    expect((await flagsOf(app.client, bank.id, 'INVOICE_AMOUNT_MISMATCH')).map((f) => f.id)).toEqual([flag.id]);
  });

  it('records an overpayment: the invoice is PAID, the excess is customer credit, and the flag says OVERPAID by how much', async () => {
    const customer = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Overpayer Ltd' } })).createCustomer.customer.id;
    const bank = await usdBank(app.client);
    const invoice = await openInvoice(app.client, customer);
    const creditBefore = await count('customer_credit_movements');
    const { flags, lines } = await importStatement(app.client, bank, [{ amount: '150.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [`(${invoice.number})`] }]);
    expect(lines[0].matchStatus).toBe('MATCHED');
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({
      kind: 'INVOICE_AMOUNT_MISMATCH',
      details: { invoiceId: invoice.id, expected: '119.00', received: '150.00', difference: '31.00', direction: 'OVERPAID', invoiceStatus: 'PAID', customerCredit: '31.00' },
    });
    expect(await invoiceOf(invoice.id)).toMatchObject({
      status: 'PAID',
      amountPaid: { minorUnits: '11900' },
      payments: [expect.objectContaining({ amount: { minorUnits: '15000' }, applied: { minorUnits: '11900' }, credited: { minorUnits: '3100' } })],
    });
    const { customer: balances } = await app.client.ok(CustomerBalancesDocument, { id: customer });
    expect(balances!.balances).toEqual([{ currency: 'USD', openReceivables: { amount: '0.00', minorUnits: '0' }, unappliedCredit: { amount: '31.00', minorUnits: '3100' } }]);
    expect(await count('customer_credit_movements')).toBe(creditBefore + 1);
  });

  it('names an invoice it cannot pay (PAID, another currency, several invoices): flags why, records nothing, leaves the line unmatched', async () => {
    const bank = await usdBank(app.client);
    const paidByHand = await openInvoice();
    await app.client.ok(RecordInvoicePaymentDocument, { input: { invoiceId: paidByHand.id, amount: '119.00', method: 'CASH' } });
    const euro = await openInvoice(app.client, customerId, 'EUR');
    const [a, b] = [await openInvoice(), await openInvoice()];
    const before = { payments: await paymentRows(), postings: await count('postings'), invoices: await dataSource().query('SELECT * FROM invoices ORDER BY id') };

    const { flags, lines } = await importStatement(app.client, bank, [
      { amount: '119.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [`${paidByHand.number}`] },
      { amount: '119.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [`${euro.number}`] },
      { amount: '238.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [`${a.number} and ${b.number}`] },
    ]);
    expect(lines.map((l) => l.matchStatus)).toEqual(['UNMATCHED', 'UNMATCHED', 'UNMATCHED']);
    const byLine = new Map(flags.map((flag) => [(flag.details.statementLineIds as string[])[0], flag]));
    expect(flags.map((flag) => flag.kind)).toEqual(['INVOICE_NOT_PAYABLE', 'INVOICE_NOT_PAYABLE', 'INVOICE_NOT_PAYABLE']);
    expect(byLine.get(lines[0].id)!.details).toMatchObject({
      reason: 'INVOICE_NOT_OPEN',
      amount: '119.00',
      invoices: [{ id: paidByHand.id, number: paidByHand.number, status: 'PAID', currency: 'USD' }],
    });
    expect(byLine.get(lines[1].id)!.details).toMatchObject({ reason: 'CURRENCY_DIFFERS', invoices: [{ id: euro.id, currency: 'EUR', status: 'OPEN' }] });
    const several = byLine.get(lines[2].id)!.details;
    expect(several).toMatchObject({ reason: 'SEVERAL_INVOICES' });
    expect((several.invoices as { id: string }[]).map((i) => i.id).sort()).toEqual([a.id, b.id].sort());
    expect(String(several.message)).toMatch(/recordInvoicePayment/);
    expect(await paymentRows()).toEqual(before.payments);
    expect(await count('postings')).toBe(before.postings);
    expect(await dataSource().query('SELECT * FROM invoices ORDER BY id')).toEqual(before.invoices);

    // The sweep finds the same lines again: no second flag, no payment.
    await app.runtime.services.matching.sweep();
    expect((await flagsOf(app.client, bank.id, 'INVOICE_NOT_PAYABLE')).map((f) => [f.id, f.occurrenceCount])).toEqual(flags.map((f) => [f.id, 1]));
    expect(await paymentRows()).toEqual(before.payments);
  });

  it('names a VOID invoice: flagged INVOICE_NOT_PAYABLE, nothing recorded', async () => {
    const initech = await app.createTenant('Initech');
    const customer = (await initech.client.ok(CreateCustomerDocument, { input: { name: 'Void Customer' } })).createCustomer.customer.id;
    const bank = await usdBank(initech.client);
    const invoice = await openInvoice(initech.client, customer);
    // voidInvoice is another part of issue 11 (it reverses the entries too); the status is what the rule reads.
    await dataSource().query(`UPDATE invoices SET status = 'VOID' WHERE id = ?`, [invoice.id]);
    const { flags, lines } = await importStatement(initech.client, bank, [{ amount: '119.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [invoice.number] }]);
    expect(lines[0].matchStatus).toBe('UNMATCHED');
    expect(flags).toEqual([expect.objectContaining({ kind: 'INVOICE_NOT_PAYABLE', details: expect.objectContaining({ reason: 'INVOICE_NOT_OPEN', invoices: [expect.objectContaining({ id: invoice.id, status: 'VOID' })] }) })]);
    expect(await paymentRows(initech.tenantId)).toEqual([]);
  });

  it('never reads another tenant’s invoices, even under the same number', async () => {
    const globexCustomer = (await globex.client.ok(CreateCustomerDocument, { input: { name: 'Globex customer' } })).createCustomer.customer.id;
    const ours = await openInvoice();
    // Globex numbers its invoices from 1 too: enough of them that one number is Globex's alone.
    const theirs: { id: string; number: string }[] = [];
    while (theirs.length === 0 || theirs[theirs.length - 1].number <= ours.number) theirs.push(await openInvoice(globex.client, globexCustomer));
    const shared = theirs.find((invoice) => invoice.number === ours.number)!;
    const onlyTheirs = theirs[theirs.length - 1];
    expect(shared).toBeDefined();

    // Our statement names Globex's number: nothing happens.
    const bank = await usdBank(app.client);
    const mine = await importStatement(app.client, bank, [{ amount: '119.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [onlyTheirs.number] }]);
    expect(mine.lines[0].matchStatus).toBe('UNMATCHED');
    expect(mine.flags).toEqual([]);

    // Globex's statement names the number both tenants issued: Globex's invoice is paid, ours is not.
    const globexBank = await usdBank(globex.client);
    const theirsImport = await importStatement(globex.client, globexBank, [{ amount: '119.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [shared.number] }]);
    expect(theirsImport.lines[0]).toMatchObject({ matchStatus: 'MATCHED', match: { rule: 'INVOICE_NUMBER' } });
    expect(await invoiceOf(shared.id, globex.client)).toMatchObject({ status: 'PAID' });
    expect(await invoiceOf(onlyTheirs.id, globex.client)).toMatchObject({ status: 'OPEN' });
    expect(await invoiceOf(ours.id)).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '0' } });
    expect((await paymentRows(globex.tenantId)).map((row) => row.invoice_id)).toEqual([shared.id]);
    expect(await receivable(globex.client)).toBe(await openRemaining(globex.tenantId));
  });

  it('records a line once: not again on re-import or sweep, and not again after it is unmatched by hand (the payment stays)', async () => {
    const bank = await usdBank(app.client);
    const invoice = await openInvoice();
    const first = await importStatement(app.client, bank, [{ amount: '119.00', bookingDate: daysFromToday(-3), ref: unique('R'), remittance: [invoice.number] }]);
    const [line] = first.lines;
    expect(line.matchStatus).toBe('MATCHED');
    const once = (await paymentRows()).filter((row) => row.invoice_id === invoice.id);
    expect(once).toHaveLength(1);

    const again = await app.client.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'CAMT053', content: first.content } });
    expect(again.importBankStatement).toMatchObject({ importedLineCount: 0, duplicateLineCount: 1 });
    await app.runtime.services.matching.sweep();
    expect((await paymentRows()).filter((row) => row.invoice_id === invoice.id)).toEqual(once);

    const { unmatchStatementLine } = await app.client.ok(UnmatchStatementLineDocument, { input: { statementLineId: line.id, note: 'checking' } });
    expect(unmatchStatementLine!.statementLine.matchStatus).toBe('UNMATCHED');
    await app.runtime.services.matching.sweep();
    const { bankStatement } = await app.client.ok(StatementLineMatchesDocument, { id: first.result.statements[0].id, first: 5 });
    expect(bankStatement!.lines.edges[0].node.matchStatus).toBe('UNMATCHED');
    expect((await paymentRows()).filter((row) => row.invoice_id === invoice.id)).toEqual(once);
    expect(await invoiceOf(invoice.id)).toMatchObject({ status: 'PAID' });
  });

  it('leaves a line alone while the bank account’s rules leave INVOICE_NUMBER out, and pays it once the rule is on (two matching processes at once record it once)', async () => {
    const bank = await usdBank(app.client, ['REFERENCE', 'AMOUNT_DATE', 'MANY_TO_ONE', 'ONE_TO_MANY']);
    const invoices = [await openInvoice(), await openInvoice(), await openInvoice()];
    const { lines, result, flags } = await importStatement(
      app.client,
      bank,
      invoices.map((invoice) => ({ amount: '119.00', bookingDate: daysFromToday(-1), ref: unique('R'), remittance: [`Invoice ${invoice.number}`] })),
    );
    expect(lines.map((l) => l.matchStatus)).toEqual(['UNMATCHED', 'UNMATCHED', 'UNMATCHED']);
    expect(flags).toEqual([]);
    expect(await paymentRows().then((rows) => rows.filter((r) => invoices.some((i) => i.id === r.invoice_id)))).toEqual([]);

    await app.client.ok(UpdateBankAccountMatchingSettingsDocument, { input: { bankAccountId: bank.id, rules: ['INVOICE_NUMBER', 'REFERENCE', 'AMOUNT_DATE'] } });
    // A second process: its own matching service on the same database, racing the first one's sweep
    // and a clerk recording part of one invoice by hand at the same moment.
    const services = app.runtime.services;
    const second = new MatchingService(services.dataSource, services.clock, services.reconciliationFlags, (tenantId, ids) => services.reconciliation.bankAccountsByIds(tenantId, ids));
    second.invoiceRemittance = services.matching.invoiceRemittance;
    const [, , clerk] = await Promise.all([
      services.matching.sweep(),
      second.sweep(),
      app.client.request(RecordInvoicePaymentDocument, { input: { invoiceId: invoices[0].id, amount: '10.00', method: 'BANK_TRANSFER', reference: 'CLERK' } }),
    ]);
    // Whichever locked the invoice first: the clerk's 10.00 first (the line then overpays it by 10.00),
    // or the line first (the invoice is PAID and the clerk is refused, changing nothing).
    const clerkRecorded = !clerk.errors?.length;
    if (!clerkRecorded) expect(clerk.errors![0].extensions?.code).toBe('INVALID_STATE_TRANSITION');
    const rows = (await paymentRows()).filter((r) => invoices.some((i) => i.id === r.invoice_id));
    expect(rows.filter((r) => r.statement_line_id !== null).map((r) => r.statement_line_id).sort()).toEqual(lines.map((l) => l.id).sort());
    const { bankStatement } = await app.client.ok(StatementLineMatchesDocument, { id: result.statements[0].id, first: 5 });
    expect(bankStatement!.lines.edges.map((e) => [e.node.matchStatus, e.node.match?.rule])).toEqual(lines.map(() => ['MATCHED', 'INVOICE_NUMBER']));
    expect(await invoiceOf(invoices[1].id)).toMatchObject({ status: 'PAID' });
    expect(await invoiceOf(invoices[0].id)).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '11900' } });
    expect(rows).toHaveLength(clerkRecorded ? 4 : 3);
    expect(rows.reduce((sum, r) => sum + BigInt(String(r.credited_minor)), 0n)).toBe(clerkRecorded ? 1000n : 0n);
  });
});
