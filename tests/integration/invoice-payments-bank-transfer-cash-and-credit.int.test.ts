import { newId } from '../../src/common/ids';
import { runInTransaction } from '../../src/db/transaction';
import {
  CreateApiKeyDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  type CreateInvoiceInput,
  CustomerBalancesDocument,
  CustomersWithBalancesDocument,
  InvoicesWithPaymentsDocument,
  FinalizeInvoiceDocument,
  InvoicePaymentNodeDocument,
  PaidInvoiceDocument,
  RecordInvoicePaymentDocument,
  type RecordInvoicePaymentInput,
  RefundInvoicePaymentDocument,
  TrialBalanceDocument,
} from '../generated/graphql';
import { describeEachDatabase, describeOnMysql, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { createBankAccount } from '../helpers/statement-fixtures';
import { TestClock } from '../helpers/test-clock';

const START = new Date('2026-03-10T12:00:00Z');

/** 100.00 + 19% = 119.00 USD. */
const LINES: CreateInvoiceInput['lines'] = [{ description: 'Consulting', quantity: '1', unitPrice: '100.00', taxRate: '19', taxBehaviour: 'EXCLUSIVE' }];

/** Every row a payment touches, and the number of postings: what a refused request must leave alone. */
async function storedState(app: TestApp, invoiceId: string) {
  const dataSource = app.runtime.dataSource;
  return {
    invoice: await dataSource.query('SELECT * FROM invoices WHERE id = ?', [invoiceId]),
    payments: await dataSource.query('SELECT * FROM invoice_payments WHERE invoice_id = ? ORDER BY id', [invoiceId]),
    credit: await dataSource.query('SELECT * FROM customer_credit_balances ORDER BY customer_id, currency'),
    movements: (await dataSource.query('SELECT COUNT(*) AS n FROM customer_credit_movements'))[0].n,
    postings: (await dataSource.query('SELECT COUNT(*) AS n FROM postings'))[0].n,
  };
}

/** An entry's postings as "code direction minor", sorted. */
function postingsOf(entry: { postings: { direction: string; amount: { minorUnits: string }; account: { code: string } }[] } | null | undefined): string[] {
  return (entry?.postings ?? []).map((posting) => `${posting.account.code} ${posting.direction} ${posting.amount.minorUnits}`).sort();
}

describeEachDatabase('invoice payments: bank transfers and cash, overpayment as customer credit, balances', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  const clock = new TestClock(START);
  let customerId: string;

  const openInvoice = async (lines = LINES, currency = 'USD', customer = customerId) => {
    const { createInvoice } = await app.client.ok(CreateInvoiceDocument, { input: { customerId: customer, currency, lines } });
    return (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: createInvoice.invoice.id } })).finalizeInvoice.invoice;
  };
  const record = async (input: Partial<RecordInvoicePaymentInput> & { invoiceId: string; amount: string }, idempotencyKey?: string) =>
    (await app.client.ok(RecordInvoicePaymentDocument, { input: { method: 'BANK_TRANSFER', reference: 'REF-1', ...input }, idempotencyKey })).recordInvoicePayment;
  const balanceOf = async (code: string, currency = 'USD') => {
    const { trialBalance } = await app.client.ok(TrialBalanceDocument, { currency });
    expect(trialBalance.balanced).toBe(true);
    const line = trialBalance.lines.edges.find((edge) => edge.node.account.code === code)?.node;
    return { debit: line?.debit.minorUnits ?? '0', credit: line?.credit.minorUnits ?? '0' };
  };

  beforeAll(async () => {
    app = await startTestApp(kind, { clock });
    other = await app.createTenant('Globex');
    customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Acme Trading GmbH' } })).createCustomer.customer.id;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('books a partial, then the rest, then an overpayment: receivable, cash and customer credit exactly, PAID when nothing is left', async () => {
    const invoice = await openInvoice();
    expect(invoice.total.minorUnits).toBe('11900');

    const partial = await record({ invoiceId: invoice.id, amount: '50.00', reference: 'TRF 0001', receivedOn: '2026-03-09' });
    expect(partial.invoice).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '5000' }, amountRemaining: { minorUnits: '6900' } });
    expect(partial.invoicePayment).toMatchObject({
      method: 'BANK_TRANSFER',
      status: 'SUCCEEDED',
      amount: { amount: '50.00', minorUnits: '5000' },
      applied: { minorUnits: '5000' },
      credited: { minorUnits: '0' },
      reference: 'TRF 0001',
      receivedOn: '2026-03-09',
      payment: null,
      invoice: { id: invoice.id },
    });
    expect(partial.invoicePayment.id).toMatch(/^ipy_/);
    expect(postingsOf(partial.invoicePayment.journalEntry)).toEqual(['SYS-1000-USD DEBIT 5000', 'SYS-1200-USD CREDIT 5000']);

    // Cash for the rest and 10.00 more: the rest pays the invoice, the 10.00 is the customer's credit.
    const over = await record({ invoiceId: invoice.id, amount: '79.00', method: 'CASH', reference: null });
    expect(over.invoice).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '11900' }, amountRemaining: { minorUnits: '0' } });
    expect(over.invoicePayment).toMatchObject({ method: 'CASH', reference: null, receivedOn: '2026-03-10', applied: { minorUnits: '6900' }, credited: { minorUnits: '1000' } });
    expect(postingsOf(over.invoicePayment.journalEntry)).toEqual(['SYS-1000-USD DEBIT 7900', 'SYS-1200-USD CREDIT 6900', 'SYS-2200-USD CREDIT 1000']);
    expect(over.invoice.payments.map((payment) => [payment.method, payment.applied.minorUnits, payment.credited.minorUnits])).toEqual([
      ['BANK_TRANSFER', '5000', '0'],
      ['CASH', '6900', '1000'],
    ]);

    // The invoice's receivable is settled; the ledger holds the cash and the credit owed.
    const ar = await balanceOf('SYS-1200-USD');
    expect(BigInt(ar.debit) - BigInt(ar.credit)).toBe(0n);
    expect(await balanceOf('SYS-2200-USD')).toEqual({ debit: '0', credit: '1000' });
    expect(await balanceOf('SYS-1000-USD')).toEqual({ debit: '12900', credit: '0' });
    const { customer } = await app.client.ok(CustomerBalancesDocument, { id: customerId });
    expect(customer.balances).toEqual([{ currency: 'USD', openReceivables: { amount: '0.00', minorUnits: '0' }, unappliedCredit: { amount: '10.00', minorUnits: '1000' } }]);
    const movements = await app.runtime.dataSource.query('SELECT amount_minor, source_kind, source_id, invoice_id, journal_entry_id FROM customer_credit_movements WHERE customer_id = ?', [
      customerId,
    ]);
    expect(movements.map((row: Record<string, unknown>) => [String(row.amount_minor), row.source_kind, row.source_id, row.invoice_id, row.journal_entry_id])).toEqual([
      ['1000', 'OVERPAYMENT', over.invoicePayment.id, invoice.id, over.invoicePayment.journalEntry?.id],
    ]);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);

    // The payment is a node of its own.
    const { node } = await app.client.ok(InvoicePaymentNodeDocument, { id: over.invoicePayment.id });
    expect(node).toMatchObject({ __typename: 'InvoicePayment', id: over.invoicePayment.id, method: 'CASH' });
  });

  it('debits the bank account’s own ledger account when one is named, and refuses one in another currency', async () => {
    const invoice = await openInvoice();
    const bank = await createBankAccount(app.client, { currency: 'USD' });
    const paid = await record({ invoiceId: invoice.id, amount: '119.00', bankAccountId: bank.id });
    expect(paid.invoice.status).toBe('PAID');
    const [debit] = paid.invoicePayment.journalEntry?.postings.filter((posting) => posting.direction === 'DEBIT') ?? [];
    expect(debit.account.id).toBe(bank.ledgerAccount.id);

    const eurBank = await createBankAccount(app.client, { currency: 'EUR' });
    const second = await openInvoice();
    const before = await storedState(app, second.id);
    const refused = await app.client.request(RecordInvoicePaymentDocument, {
      input: { invoiceId: second.id, amount: '1.00', method: 'BANK_TRANSFER', reference: 'X', bankAccountId: eurBank.id },
    });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'bankAccountId' } });
    expect(await storedState(app, second.id)).toEqual(before);
  });

  it('refuses DRAFT, PAID and VOID invoices with INVALID_STATE_TRANSITION and bad input with VALIDATION_FAILED, changing nothing', async () => {
    const { createInvoice: draft } = await app.client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: LINES } });
    const paid = await openInvoice();
    await record({ invoiceId: paid.id, amount: '119.00' });
    const voided = await openInvoice();
    // No voidInvoice yet on this branch: the row is set VOID as that mutation would leave it.
    await app.runtime.dataSource.query('UPDATE invoices SET status = ? WHERE id = ?', ['VOID', voided.id]);
    for (const [invoiceId, status] of [
      [draft.invoice.id, 'DRAFT'],
      [paid.id, 'PAID'],
      [voided.id, 'VOID'],
    ]) {
      const before = await storedState(app, invoiceId);
      const result = await app.client.request(RecordInvoicePaymentDocument, { input: { invoiceId, amount: '1.00', method: 'CASH' } });
      expect({ status, data: result.data?.recordInvoicePayment ?? null, code: result.errors?.[0]?.extensions?.code }).toEqual({
        status,
        data: null,
        code: 'INVALID_STATE_TRANSITION',
      });
      expect(await storedState(app, invoiceId)).toEqual(before);
    }

    const open = await openInvoice();
    const before = await storedState(app, open.id);
    const cases: [Partial<RecordInvoicePaymentInput>, string][] = [
      [{ amount: '1.001' }, 'amount'],
      [{ amount: '0.00' }, 'amount'],
      [{ amount: '-5.00' }, 'amount'],
      [{ amount: 'ten' }, 'amount'],
      [{ amount: '99999999999999999999' }, 'amount'],
      [{ reference: null }, 'reference'],
      [{ reference: '   ' }, 'reference'],
      [{ receivedOn: '2026-02-30' }, 'receivedOn'],
      [{ receivedOn: '2026-03-11' }, 'receivedOn'],
      [{ bankAccountId: 'not-an-id' }, 'bankAccountId'],
    ];
    for (const [change, field] of cases) {
      const result = await app.client.request(RecordInvoicePaymentDocument, { input: { invoiceId: open.id, amount: '1.00', method: 'BANK_TRANSFER', reference: 'R', ...change } });
      expect({ change, code: result.errors?.[0]?.extensions?.code, field: result.errors?.[0]?.extensions?.details?.field }).toEqual({ change, code: 'VALIDATION_FAILED', field });
    }
    expect(await storedState(app, open.id)).toEqual(before);
  });

  it('takes amounts in the invoice’s own decimals: JPY none, KWD three', async () => {
    const jpy = await openInvoice([{ description: 'Tea', quantity: '1', unitPrice: '1000', taxRate: '10', taxBehaviour: 'EXCLUSIVE' }], 'JPY');
    const before = await storedState(app, jpy.id);
    const refused = await app.client.request(RecordInvoicePaymentDocument, { input: { invoiceId: jpy.id, amount: '100.5', method: 'CASH' } });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'amount' } });
    expect(await storedState(app, jpy.id)).toEqual(before);
    expect((await record({ invoiceId: jpy.id, amount: '1100' })).invoice).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '1100' } });
    const kwd = await openInvoice([{ description: 'Cable', quantity: '1', unitPrice: '1.234', taxRate: '0', taxBehaviour: 'EXCLUSIVE' }], 'KWD');
    const paid = await record({ invoiceId: kwd.id, amount: '1.235' });
    expect(paid.invoice).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '1234' } });
    expect(paid.invoicePayment).toMatchObject({ amount: { amount: '1.235' }, credited: { minorUnits: '1' } });
    for (const currency of ['JPY', 'KWD']) expect((await app.client.ok(TrialBalanceDocument, { currency })).trialBalance.balanced).toBe(true);
  });

  it('answers NOT_FOUND for another tenant’s invoice, bank account and invoice payment, exactly as for ids that exist nowhere', async () => {
    const invoice = await openInvoice();
    const bank = await createBankAccount(app.client, { currency: 'USD' });
    const paid = await record({ invoiceId: invoice.id, amount: '10.00' });
    // Tenant B's own invoice, to be paid into tenant A's bank account below.
    const otherCustomer = (await other.client.ok(CreateCustomerDocument, { input: { name: 'B customer' } })).createCustomer.customer.id;
    const { createInvoice } = await other.client.ok(CreateInvoiceDocument, { input: { customerId: otherCustomer, currency: 'USD', lines: LINES } });
    await other.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: createInvoice.invoice.id } });
    const before = await storedState(app, invoice.id);
    for (const id of [invoice.id, newId('invoice')]) {
      const result = await other.client.request(RecordInvoicePaymentDocument, { input: { invoiceId: id, amount: '1.00', method: 'CASH' } });
      expect(result.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
    }
    for (const id of [paid.invoicePayment.id, newId('invoicePayment')]) {
      const result = await other.client.request(InvoicePaymentNodeDocument, { id });
      expect(result.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
    }
    for (const bankAccountId of [bank.id, newId('bankAccount')]) {
      const result = await other.client.request(RecordInvoicePaymentDocument, {
        input: { invoiceId: createInvoice.invoice.id, amount: '1.00', method: 'BANK_TRANSFER', reference: 'R', bankAccountId },
      });
      expect(result.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
    }
    const ofOther = await storedState(app, createInvoice.invoice.id);
    expect(ofOther.payments).toEqual([]);
    expect(await storedState(app, invoice.id)).toEqual(before);
  });

  it('replays a payment retried with its idempotency key: one payment, one entry', async () => {
    const invoice = await openInvoice();
    const first = await record({ invoiceId: invoice.id, amount: '20.00' }, 'record-retry-1');
    const before = await storedState(app, invoice.id);
    const again = await record({ invoiceId: invoice.id, amount: '20.00' }, 'record-retry-1');
    expect(again.invoicePayment.id).toBe(first.invoicePayment.id);
    expect(await storedState(app, invoice.id)).toEqual(before);
    const reused = await app.client.request(RecordInvoicePaymentDocument, { input: { invoiceId: invoice.id, amount: '21.00', method: 'BANK_TRANSFER', reference: 'REF-1' }, idempotencyKey: 'record-retry-1' });
    expect(reused.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await storedState(app, invoice.id)).toEqual(before);
  });

  it('records a bank transfer inside another module’s transaction (reconciliation’s way in), once per statement line', async () => {
    const { invoicePayments, ledger } = app.runtime.services;
    const invoice = await openInvoice();
    const bank = await createBankAccount(app.client, { currency: 'USD' });
    const chart = await ledger.defaultChartAccounts(app.tenantId, 'USD');
    const statementLineId = newId('bankStatementLine');
    const within = (amountMinor: bigint) =>
      runInTransaction(app.runtime.dataSource, (manager) =>
        invoicePayments.recordBankTransferWithin(manager, app.tenantId, { invoiceId: invoice.id, amountMinor, reference: invoice.number ?? '', receivedOn: '2026-03-10', bankAccountId: bank.id, statementLineId }, chart),
      );
    const result = await within(11900n);
    invoicePayments.publishCommitted(result);
    expect(result.invoice).toMatchObject({ status: 'PAID', amountPaidMinor: 11900n });
    expect(result.invoicePayment).toMatchObject({ method: 'BANK_TRANSFER', statementLineId, appliedMinor: 11900n, creditedMinor: 0n });
    expect(result.events.map((event) => event.type)).toEqual(['invoice.payment_succeeded', 'invoice.paid']);
    expect(result.entries).toHaveLength(1);
    // The same line again is refused with a code; so is a second payment of a PAID invoice. The caller's transaction rolls back.
    await expect(within(100n)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(
      runInTransaction(app.runtime.dataSource, (manager) =>
        invoicePayments.recordBankTransferWithin(manager, app.tenantId, { invoiceId: invoice.id, amountMinor: 100n, reference: 'X', receivedOn: '2026-03-10', bankAccountId: null, statementLineId: newId('bankStatementLine') }, chart),
      ),
    ).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    const { invoice: read } = await app.client.ok(PaidInvoiceDocument, { id: invoice.id });
    expect(read.payments).toHaveLength(1);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('uses the customer’s credit when their next invoice in that currency is finalised: in part, then in full, never across currencies', async () => {
    const customer = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Credit customer' } })).createCustomer.customer.id;
    const first = await openInvoice(LINES, 'USD', customer);
    expect((await record({ invoiceId: first.id, amount: '150.00', method: 'CASH', reference: null })).invoicePayment.credited.minorUnits).toBe('3100');
    const creditBefore = await balanceOf('SYS-2200-USD');

    // 31.00 of credit against 119.00: applied at finalisation, the rest is owed.
    const second = await openInvoice(LINES, 'USD', customer);
    expect(second).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '3100' }, amountRemaining: { minorUnits: '8800' } });
    const { invoice: secondRead } = await app.client.ok(PaidInvoiceDocument, { id: second.id });
    expect(secondRead.payments.map((payment) => [payment.method, payment.status, payment.amount.minorUnits, payment.applied.minorUnits])).toEqual([
      ['CUSTOMER_CREDIT', 'SUCCEEDED', '3100', '3100'],
    ]);
    const { node } = await app.client.ok(InvoicePaymentNodeDocument, { id: secondRead.payments[0].id });
    expect(node.__typename === 'InvoicePayment' && postingsOf(node.journalEntry)).toEqual(['SYS-1200-USD CREDIT 3100', 'SYS-2200-USD DEBIT 3100']);
    const netCredit = (line: { debit: string; credit: string }) => BigInt(line.credit) - BigInt(line.debit);
    expect(netCredit(creditBefore) - netCredit(await balanceOf('SYS-2200-USD'))).toBe(3100n);

    // A large overpayment of the second leaves 220.80 of credit; the third invoice is PAID as it is finalised.
    expect((await record({ invoiceId: second.id, amount: '308.80' })).invoicePayment).toMatchObject({ applied: { minorUnits: '8800' }, credited: { minorUnits: '22080' } });
    const third = await openInvoice(LINES, 'USD', customer);
    expect(third).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '11900' }, amountRemaining: { minorUnits: '0' } });
    // Credit in USD pays nothing in EUR.
    const euro = await openInvoice(LINES, 'EUR', customer);
    expect(euro).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '0' } });
    const { customer: balances } = await app.client.ok(CustomerBalancesDocument, { id: customer });
    expect(balances.balances).toEqual([
      { currency: 'EUR', openReceivables: { amount: '119.00', minorUnits: '11900' }, unappliedCredit: { amount: '0.00', minorUnits: '0' } },
      { currency: 'USD', openReceivables: { amount: '0.00', minorUnits: '0' }, unappliedCredit: { amount: '101.80', minorUnits: '10180' } },
    ]);
    const moves = await app.runtime.dataSource.query('SELECT amount_minor, source_kind FROM customer_credit_movements WHERE customer_id = ? ORDER BY id', [customer]);
    expect(moves.map((row: Record<string, unknown>) => [String(row.amount_minor), row.source_kind])).toEqual([
      ['3100', 'OVERPAYMENT'],
      ['-3100', 'APPLIED_TO_INVOICE'],
      ['22080', 'OVERPAYMENT'],
      ['-11900', 'APPLIED_TO_INVOICE'],
    ]);
    // A customer-credit payment is not refunded by hand.
    const refused = await app.client.request(RefundInvoicePaymentDocument, { input: { invoicePaymentId: secondRead.payments[0].id } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refunds a bank transfer: its unused credit first, then what it paid, which reopens the invoice; never more than it brought in', async () => {
    const customer = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Refund customer' } })).createCustomer.customer.id;
    const invoice = await openInvoice(LINES, 'USD', customer);
    const bank = await createBankAccount(app.client, { currency: 'USD' });
    const paid = (await record({ invoiceId: invoice.id, amount: '150.00', bankAccountId: bank.id })).invoicePayment;
    const refund = (input: { amount?: string; reason?: string }, idempotencyKey?: string) =>
      app.client.request(RefundInvoicePaymentDocument, { input: { invoicePaymentId: paid.id, ...input }, idempotencyKey });

    const before = await storedState(app, invoice.id);
    const tooMuch = await refund({ amount: '150.01' });
    expect(tooMuch.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'amount', refundable: '150.00' } });
    const badAmount = await refund({ amount: '1.234' });
    expect(badAmount.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'amount' } });
    expect(await storedState(app, invoice.id)).toEqual(before);

    // 20.00 of its 31.00 credit: the invoice stays PAID.
    const first = (await refund({ amount: '20.00', reason: 'Goodwill' }, 'refund-bank-1')).data?.refundInvoicePayment;
    expect(first?.invoice).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '11900' } });
    expect(first?.invoicePayment.refunded.minorUnits).toBe('2000');
    // 31.00 more: the last 11.00 of credit, then 20.00 of what it paid: OPEN again.
    const second = (await refund({ amount: '31.00' })).data?.refundInvoicePayment;
    expect(second?.invoice).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '9900' }, amountRemaining: { minorUnits: '2000' } });
    expect((await app.runtime.dataSource.query('SELECT paid_at FROM invoices WHERE id = ?', [invoice.id]))[0].paid_at).toBeNull();
    // The rest, and then nothing is left.
    const rest = (await refund({})).data?.refundInvoicePayment;
    expect(rest?.invoice).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '0' }, amountRemaining: { minorUnits: '11900' } });
    expect(rest?.invoicePayment.refunded.minorUnits).toBe('15000');
    expect((await refund({ amount: '0.01' })).errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');

    // Each refund credits the bank account the money arrived on.
    const entries = await app.runtime.dataSource.query(
      `SELECT p.journal_entry_id, a.code, p.direction, p.amount_minor FROM postings p JOIN accounts a ON a.id = p.account_id
        WHERE p.journal_entry_id IN (SELECT journal_entry_id FROM customer_credit_movements WHERE source_kind = 'REFUNDED' AND source_id = ?)
        ORDER BY p.journal_entry_id, a.code, p.direction`,
      [paid.id],
    );
    const byEntry = new Map<string, string[]>();
    for (const row of entries as Record<string, unknown>[]) byEntry.set(String(row.journal_entry_id), [...(byEntry.get(String(row.journal_entry_id)) ?? []), `${row.code} ${row.direction} ${row.amount_minor}`].sort());
    expect([...byEntry.values()]).toEqual([
      [`${bank.ledgerAccount.code} CREDIT 2000`, 'SYS-2200-USD DEBIT 2000'].sort(),
      [`${bank.ledgerAccount.code} CREDIT 3100`, 'SYS-1200-USD DEBIT 2000', 'SYS-2200-USD DEBIT 1100'].sort(),
    ]);
    const { customer: balances } = await app.client.ok(CustomerBalancesDocument, { id: customer });
    expect(balances.balances).toEqual([{ currency: 'USD', openReceivables: { amount: '119.00', minorUnits: '11900' }, unappliedCredit: { amount: '0.00', minorUnits: '0' } }]);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('gives back only what a payment paid once its credit was used by another invoice', async () => {
    const customer = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Spent credit customer' } })).createCustomer.customer.id;
    const invoice = await openInvoice(LINES, 'USD', customer);
    const paid = (await record({ invoiceId: invoice.id, amount: '150.00', method: 'CASH', reference: null })).invoicePayment;
    const next = await openInvoice(LINES, 'USD', customer);
    expect(next.amountPaid.minorUnits).toBe('3100');
    const tooMuch = await app.client.request(RefundInvoicePaymentDocument, { input: { invoicePaymentId: paid.id, amount: '119.01' } });
    expect(tooMuch.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { refundable: '119.00' } });
    const { refundInvoicePayment } = await app.client.ok(RefundInvoicePaymentDocument, { input: { invoicePaymentId: paid.id } });
    expect(refundInvoicePayment.invoice).toMatchObject({ status: 'OPEN', amountPaid: { minorUnits: '0' } });
    expect(refundInvoicePayment.invoicePayment.refunded.minorUnits).toBe('11900');
    const { invoice: nextRead } = await app.client.ok(PaidInvoiceDocument, { id: next.id });
    expect(nextRead.amountPaid.minorUnits).toBe('3100');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('reads balances of a page of customers and payments of a page of invoices in the same statements for 1 as for 6', async () => {
    const customers: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const customer = (await app.client.ok(CreateCustomerDocument, { input: { name: `Page customer ${i}` } })).createCustomer.customer.id;
      const invoice = await openInvoice(LINES, 'USD', customer);
      await record({ invoiceId: invoice.id, amount: '20.00' });
      await record({ invoiceId: invoice.id, amount: '5.00', method: 'CASH', reference: null });
      customers.push(customer);
    }
    // One customer with six invoices, each paid twice.
    const busy = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Six invoices' } })).createCustomer.customer.id;
    for (let i = 0; i < 6; i += 1) {
      const invoice = await openInvoice(LINES, 'USD', busy);
      await record({ invoiceId: invoice.id, amount: '20.00' });
      await record({ invoiceId: invoice.id, amount: '5.00', method: 'CASH', reference: null });
    }
    const counted = async (run: () => Promise<unknown>) => {
      const before = app.runtime.statements.count;
      await run();
      return app.runtime.statements.count - before;
    };
    const balances = async (first: number) => {
      const { customers: page } = await app.client.ok(CustomersWithBalancesDocument, { filter: { name: 'Page customer' }, first });
      expect(page.edges).toHaveLength(first);
      for (const edge of page.edges) expect(edge.node.balances).toEqual([{ currency: 'USD', openReceivables: { minorUnits: '9400' }, unappliedCredit: { minorUnits: '0' } }]);
    };
    const payments = async (first: number) => {
      const { invoices } = await app.client.ok(InvoicesWithPaymentsDocument, { filter: { customerId: busy }, first });
      expect(invoices.edges).toHaveLength(first);
      for (const edge of invoices.edges) expect(edge.node.payments.map((payment) => [payment.method, payment.applied.minorUnits])).toEqual([['BANK_TRANSFER', '2000'], ['CASH', '500']]);
    };
    expect(await counted(() => balances(6))).toBe(await counted(() => balances(1)));
    expect(await counted(() => payments(6))).toBe(await counted(() => payments(1)));
  });

  it('needs invoices:write to record a payment; invoices:read reads payments and balances', async () => {
    const secret = (await app.client.ok(CreateApiKeyDocument, { input: { name: 'reader', scopes: ['INVOICES_READ'] } })).createApiKey.secret;
    const reader = app.client.withKey(secret);
    const invoice = await openInvoice();
    const paid = await record({ invoiceId: invoice.id, amount: '5.00' });
    const refused = await reader.request(RecordInvoicePaymentDocument, { input: { invoiceId: invoice.id, amount: '1.00', method: 'CASH' } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await reader.ok(InvoicePaymentNodeDocument, { id: paid.invoicePayment.id })).node.id).toBe(paid.invoicePayment.id);
    expect((await reader.ok(CustomerBalancesDocument, { id: customerId })).customer.balances.length).toBeGreaterThan(0);
  });
});

describeOnMysql('recording payments and spending customer credit concurrently on MySQL', () => {
  let app: TestApp;
  let customerId: string;

  beforeAll(async () => {
    app = await startTestApp('mysql', { clock: new TestClock(START) });
    customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Busy customer' } })).createCustomer.customer.id;
  });
  afterAll(async () => {
    await app?.close();
  });

  const draft = async () => (await app.client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: LINES } })).createInvoice.invoice.id;

  it('applies concurrent transfers in turn: the invoice is paid exactly once, the rest is credit', async () => {
    const invoiceId = await draft();
    await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId } });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        app.client.request(RecordInvoicePaymentDocument, { input: { invoiceId, amount: '20.00', method: 'BANK_TRANSFER', reference: `TRF-${i}` }, idempotencyKey: `race-transfer-${i}` }),
      ),
    );
    // A transfer arriving after the invoice is PAID is refused (the money is not the invoice's); the rest apply in turn.
    const ok = results.filter((result) => !result.errors).map((result) => result.data!.recordInvoicePayment!.invoicePayment);
    const refused = results.flatMap((result) => result.errors?.map((error) => error.extensions?.code) ?? []);
    expect(ok).toHaveLength(6);
    expect(refused).toEqual(Array(4).fill('INVALID_STATE_TRANSITION'));
    expect(ok.reduce((sum, payment) => sum + BigInt(payment.applied.minorUnits), 0n)).toBe(11900n);
    expect(ok.reduce((sum, payment) => sum + BigInt(payment.credited.minorUnits), 0n)).toBe(100n);
    const { invoice } = await app.client.ok(PaidInvoiceDocument, { id: invoiceId });
    expect(invoice).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '11900' } });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('spends a customer’s credit once when several of their invoices are finalised at the same time', async () => {
    const paidId = await draft();
    await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: paidId } });
    // 119.00 owed; 219.00 paid: 100.00 of credit on top of the 1.00 left by the test before.
    await app.client.ok(RecordInvoicePaymentDocument, { input: { invoiceId: paidId, amount: '219.00', method: 'CASH' } });
    const { customer } = await app.client.ok(CustomerBalancesDocument, { id: customerId });
    expect(customer.balances[0].unappliedCredit.minorUnits).toBe('10100');
    const drafts = await Promise.all(Array.from({ length: 6 }, () => draft()));
    const finalized = await Promise.all(drafts.map((invoiceId) => app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId } })));
    const paidByCredit = finalized.reduce((sum, result) => sum + BigInt(result.finalizeInvoice.invoice.amountPaid.minorUnits), 0n);
    expect(paidByCredit).toBe(10100n);
    const { customer: after } = await app.client.ok(CustomerBalancesDocument, { id: customerId });
    expect(after.balances).toEqual([{ currency: 'USD', openReceivables: { amount: String((6 * 11900 - 10100) / 100) + '.00', minorUnits: String(6 * 11900 - 10100) }, unappliedCredit: { amount: '0.00', minorUnits: '0' } }]);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
