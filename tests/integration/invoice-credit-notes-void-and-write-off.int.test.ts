import { newId } from '../../src/common/ids';
import { toBigInt } from '../../src/common/money';
import { runInTransaction } from '../../src/db/transaction';
import { ChartRole } from '../../src/modules/ledger/default-chart';
import { EntryDirection, JournalEntryStatus } from '../../src/modules/ledger/ledger.types';
import { CreditNotesService } from '../../src/modules/invoicing/credit-notes.service';
import { InvoiceClosingService } from '../../src/modules/invoicing/invoice-closing.service';
import { type InvoiceEvent, InvoiceEventType } from '../../src/modules/invoicing/invoices.events';
import {
  CreateApiKeyDocument,
  CreateCreditNoteDocument,
  type CreateCreditNoteInput,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  CreditNoteDocument,
  CreditNotesDocument,
  FinalizeInvoiceDocument,
  InvoiceWithCreditNotesDocument,
  InvoicesWithCreditNotesDocument,
  MarkInvoiceUncollectibleDocument,
  NodeOfAnyKindDocument,
  TrialBalanceDocument,
  VoidInvoiceDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, type TestApp, type TestTenant, startTestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { TestClock } from '../helpers/test-clock';
import { INVOICE_TEST_START as START, type InvoiceLineInput as Line, USD_LINES, JPY_LINES, KWD_LINES } from '../helpers/invoice-fixtures';

interface Posted {
  postings: { direction: string; amount: { minorUnits: string }; account: { code: string } }[];
}

/** An entry's postings as "code DIRECTION minor", sorted. */
function postingsOf(entry: Posted | null | undefined): string[] {
  return (entry?.postings ?? []).map((posting) => `${posting.account.code} ${posting.direction} ${posting.amount.minorUnits}`).sort();
}

/** What a refused request must leave alone: the invoice, every credit note, posting, number and customer credit of the tenant. */
async function storedState(app: TestApp, tenantId: string, invoiceId: string) {
  const dataSource = app.runtime.dataSource;
  return {
    invoice: await dataSource.query('SELECT * FROM invoices WHERE id = ?', [invoiceId]),
    creditNotes: await dataSource.query('SELECT * FROM credit_notes WHERE tenant_id = ? ORDER BY id', [tenantId]),
    postings: (await dataSource.query('SELECT COUNT(*) AS n FROM postings WHERE tenant_id = ?', [tenantId]))[0].n,
    sequences: await dataSource.query('SELECT * FROM invoice_number_sequences WHERE tenant_id = ? ORDER BY series_key', [tenantId]),
    credit: await dataSource.query('SELECT * FROM customer_credit_balances WHERE tenant_id = ? ORDER BY customer_id, currency', [tenantId]),
    movements: await dataSource.query('SELECT * FROM customer_credit_movements WHERE tenant_id = ? ORDER BY id', [tenantId]),
  };
}

/** Debits less credits of one account of the default chart, from the account row. */
async function balanceOf(app: TestApp, tenantId: string, code: string): Promise<bigint> {
  const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT posted_debits_minor, posted_credits_minor FROM accounts WHERE tenant_id = ? AND code = ?', [
    tenantId,
    code,
  ]);
  return rows[0] ? toBigInt(rows[0].posted_debits_minor) - toBigInt(rows[0].posted_credits_minor) : 0n;
}

/**
 * Stands in for an invoice payment (built in parallel by the payments work): the invoice's
 * amount_paid_minor raised and cash at bank ← receivable posted, in one transaction under the invoice
 * lock, as the payments will. Only what credit notes and void read of a payment is written.
 */
async function recordPaymentDirectly(app: TestApp, tenantId: string, invoiceId: string, currency: string, amountMinor: bigint): Promise<void> {
  const { ledger, invoices } = app.runtime.services;
  const chart = await ledger.defaultChartAccounts(tenantId, currency);
  const entries = await runInTransaction(app.runtime.dataSource, async (manager) => {
    const invoice = await invoices.lockInvoice(manager, tenantId, invoiceId);
    const writes = await ledger.writeWithin(manager, [
      {
        type: 'create',
        tenantId,
        status: JournalEntryStatus.POSTED,
        description: `Invoice ${invoiceId}: paid (test stand-in)`,
        effectiveAt: START,
        externalRef: null,
        metadata: null,
        lines: [
          { accountId: chart[ChartRole.CASH_AT_BANK], direction: EntryDirection.DEBIT, amountMinor, currency, field: 'cash' },
          { accountId: chart[ChartRole.ACCOUNTS_RECEIVABLE], direction: EntryDirection.CREDIT, amountMinor, currency, field: 'receivable' },
        ],
      },
    ]);
    const paid = invoice.amountPaidMinor + amountMinor;
    await manager.query('UPDATE invoices SET amount_paid_minor = ? WHERE id = ?', [app.kind === 'sqlite' ? paid : paid.toString(), invoiceId]);
    return writes.map((write) => write.entry);
  });
  ledger.entriesCommitted(entries);
}

function refusal(result: { data?: unknown; errors?: readonly { message: string; extensions?: Record<string, unknown> }[] }, field: string) {
  const error = result.errors?.[0];
  return {
    data: (result.data as Record<string, unknown> | null | undefined)?.[field] ?? null,
    code: error?.extensions?.code,
    field: (error?.extensions?.details as Record<string, unknown> | undefined)?.field,
    message: error?.message,
  };
}

describeEachDatabase('invoices: credit notes, void and write-off, posted exactly and refused when illegal', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  const clock = new TestClock(START);

  /** A tenant of its own per scenario: its receivable and its CN numbers start at zero. */
  const tenantWithCustomer = async (name: string) => {
    const tenant = await app.createTenant(name);
    const customerId = (await tenant.client.ok(CreateCustomerDocument, { input: { name: `${name} customer` } })).createCustomer.customer.id;
    return { ...tenant, customerId };
  };
  const openInvoice = async (client: GraphQLClient, customerId: string, currency: string, lines: Line[]) => {
    const draft = (await client.ok(CreateInvoiceDocument, { input: { customerId, currency, lines } })).createInvoice.invoice;
    return (await client.ok(FinalizeInvoiceDocument, { input: { invoiceId: draft.id } })).finalizeInvoice.invoice;
  };
  const credit = async (client: GraphQLClient, input: CreateCreditNoteInput, idempotencyKey?: string) =>
    (await client.ok(CreateCreditNoteDocument, { input, idempotencyKey })).createCreditNote;

  beforeAll(async () => {
    app = await startTestApp(kind, { clock });
    other = await app.createTenant('Globex');
  });
  afterAll(async () => {
    await app?.close();
  });

  it('credits USD lines in pieces by the invoice’s own rounding: the pieces add up to the invoice exactly, it becomes PAID, and the receivable ends at zero', async () => {
    const t = await tenantWithCustomer('Lines USD');
    const invoice = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    expect(invoice.total.minorUnits).toBe('25255');

    // One of three consulting units: 33.33 and 19% of it (6.3327 → 6.33).
    const first = await credit(t.client, { invoiceId: invoice.id, lines: [{ position: 0, quantity: '1' }], reason: 'One day not worked', metadata: { ticket: 'T-1' } });
    expect(first.creditNote).toMatchObject({
      number: 'CN-2026-000001',
      currency: 'USD',
      reason: 'One day not worked',
      metadata: { ticket: 'T-1' },
      invoice: { id: invoice.id, status: 'OPEN' },
      customer: { id: t.customerId },
      lines: [{ position: 0, description: 'Consulting', quantity: '1', taxRate: '19', taxBehaviour: 'EXCLUSIVE', net: { minorUnits: '3333' }, tax: { minorUnits: '633' }, total: { minorUnits: '3966' } }],
      subtotal: { minorUnits: '3333' },
      taxTotal: { minorUnits: '633' },
      taxByRate: [{ rate: '19', taxable: { minorUnits: '3333' }, tax: { minorUnits: '633' } }],
      total: { amount: '39.66', minorUnits: '3966', currency: 'USD' },
      appliedToInvoice: { minorUnits: '3966' },
      creditedToCustomer: { minorUnits: '0' },
    });
    expect(first.creditNote.id).toMatch(/^cn_/);
    expect(first.creditNote.journalEntry?.status).toBe('POSTED');
    expect(postingsOf(first.creditNote.journalEntry)).toEqual(['SYS-1200-USD CREDIT 3966', 'SYS-2100-USD DEBIT 633', 'SYS-4100-USD DEBIT 3333'].sort());
    expect(first.invoice).toMatchObject({
      status: 'OPEN',
      amountDue: { minorUnits: String(25255 - 3966) },
      amountCredited: { minorUnits: '3966' },
      amountRemaining: { minorUnits: String(25255 - 3966) },
      paidAt: null,
    });

    // The rest of the line: the line as invoiced (9999 + 1900) less what was credited of it.
    const rest = await credit(t.client, { invoiceId: invoice.id, lines: [{ position: 0 }] });
    expect(rest.creditNote).toMatchObject({ number: 'CN-2026-000002', lines: [{ quantity: '2', net: { minorUnits: '6666' }, tax: { minorUnits: '1267' }, total: { minorUnits: '7933' } }] });

    // Line 0 is credited in full: once more is refused, naming the field, and nothing changes.
    const before = await storedState(app, t.tenantId, invoice.id);
    const again = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, lines: [{ position: 0, quantity: '0.000001' }] } });
    expect(refusal(again, 'createCreditNote')).toMatchObject({ data: null, code: 'VALIDATION_FAILED', field: 'lines[0].position' });
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);

    // The two other lines in full, two rates in one note: nothing is left to pay, so the invoice is PAID.
    const last = await credit(t.client, { invoiceId: invoice.id, lines: [{ position: 2 }, { position: 1, quantity: '1' }] });
    expect(last.creditNote).toMatchObject({
      number: 'CN-2026-000003',
      subtotal: { minorUnits: '11352' },
      taxTotal: { minorUnits: '2004' },
      taxByRate: [
        { rate: '7.7', taxable: { minorUnits: '1352' }, tax: { minorUnits: '104' } },
        { rate: '19', taxable: { minorUnits: '10000' }, tax: { minorUnits: '1900' } },
      ],
      total: { minorUnits: '13356' },
      appliedToInvoice: { minorUnits: '13356' },
    });
    expect(postingsOf(last.creditNote.journalEntry)).toEqual(
      ['SYS-1200-USD CREDIT 13356', 'SYS-2100-USD DEBIT 104', 'SYS-2100-USD DEBIT 1900', 'SYS-4100-USD DEBIT 11352'].sort(),
    );
    expect(last.invoice).toMatchObject({
      status: 'PAID',
      amountDue: { minorUnits: '0' },
      amountCredited: { minorUnits: '25255' },
      amountRemaining: { minorUnits: '0' },
      paidAt: START.toISOString(),
    });
    // Σ of the notes = the invoice: net 3333 + 6666 + 11352 = 21351, tax 633 + 1267 + 2004 = 3904.
    expect(3966 + 7933 + 13356).toBe(25255);

    expect(await balanceOf(app, t.tenantId, 'SYS-1200-USD')).toBe(0n);
    expect(await balanceOf(app, t.tenantId, 'SYS-4100-USD')).toBe(21351n);
    expect(await balanceOf(app, t.tenantId, 'SYS-4000-USD')).toBe(-21351n);
    expect(await balanceOf(app, t.tenantId, 'SYS-2100-USD')).toBe(0n);
    const { trialBalance } = await t.client.ok(TrialBalanceDocument, { currency: 'USD' });
    expect(trialBalance.balanced).toBe(true);

    // Fully credited: nothing is left, whatever the note.
    const before2 = await storedState(app, t.tenantId, invoice.id);
    const nothing = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: '0.01' } });
    expect(refusal(nothing, 'createCreditNote')).toMatchObject({ data: null, code: 'INVALID_STATE_TRANSITION' });
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before2);

    // Reads: the invoice's credit notes, nested and paged; the list filtered; node(id:).
    const { invoice: read } = await t.client.ok(InvoiceWithCreditNotesDocument, { id: invoice.id, first: 2 });
    expect(read.creditNotes).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
    expect(read.creditNotes.edges.map((edge) => edge.node.number)).toEqual(['CN-2026-000001', 'CN-2026-000002']);
    const listed = await t.client.ok(CreditNotesDocument, { filter: { invoiceId: invoice.id, customerId: t.customerId }, last: 1 });
    expect(listed.creditNotes).toMatchObject({ totalCount: 3, edges: [{ node: { id: last.creditNote.id } }], pageInfo: { hasPreviousPage: true } });
    // Read again, the note is the same; its invoice has become PAID since.
    expect((await t.client.ok(CreditNoteDocument, { id: first.creditNote.id })).creditNote).toEqual({ ...first.creditNote, invoice: { ...first.creditNote.invoice, status: 'PAID' } });
    expect((await t.client.ok(NodeOfAnyKindDocument, { id: first.creditNote.id })).node).toMatchObject({ __typename: 'CreditNote', id: first.creditNote.id });
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('splits JPY amounts over the rates by largest remainder, refuses a line whose rate an amount already took, and lands exactly on the invoice', async () => {
    const t = await tenantWithCustomer('Amounts JPY');
    const invoice = await openInvoice(t.client, t.customerId, 'JPY', JPY_LINES);
    expect(invoice.total.minorUnits).toBe('2199');

    // Weights 1100 (8%) and 1099 (10%): floors 500 and 499, the one left over to the larger remainder (10%).
    // 8%: tax round(500 × 81 / 1100) = 37, net 463; 10%: tax round(500 × 100 / 1099) = 45, net 455.
    const first = await credit(t.client, { invoiceId: invoice.id, amount: '1000' });
    expect(first.creditNote).toMatchObject({
      number: 'CN-2026-000001',
      lines: null,
      subtotal: { minorUnits: '918' },
      taxTotal: { minorUnits: '82' },
      taxByRate: [
        { rate: '8', taxable: { minorUnits: '463' }, tax: { minorUnits: '37' } },
        { rate: '10', taxable: { minorUnits: '455' }, tax: { minorUnits: '45' } },
      ],
      total: { amount: '1000', minorUnits: '1000', currency: 'JPY' },
    });
    expect(postingsOf(first.creditNote.journalEntry)).toEqual(['SYS-1200-JPY CREDIT 1000', 'SYS-2100-JPY DEBIT 37', 'SYS-2100-JPY DEBIT 45', 'SYS-4100-JPY DEBIT 918'].sort());

    const before = await storedState(app, t.tenantId, invoice.id);
    // The cake (8%: 1019 + 81) is within what is left (1199), but 8% has only 556 + 44 left.
    const cake = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, lines: [{ position: 1 }] } });
    expect(refusal(cake, 'createCreditNote')).toMatchObject({ data: null, code: 'VALIDATION_FAILED', field: 'lines' });
    const tooMuch = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: '1200' } });
    expect(refusal(tooMuch, 'createCreditNote')).toMatchObject({ data: null, code: 'VALIDATION_FAILED', field: 'amount' });
    expect(refusal(tooMuch, 'createCreditNote').message).toContain('1199 JPY');
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);

    // All that is left: each rate gets exactly what it has left, so the two notes add up to the invoice.
    const rest = await credit(t.client, { invoiceId: invoice.id, amount: '1199' });
    expect(rest.creditNote).toMatchObject({
      number: 'CN-2026-000002',
      taxByRate: [
        { rate: '8', taxable: { minorUnits: '556' }, tax: { minorUnits: '44' } },
        { rate: '10', taxable: { minorUnits: '544' }, tax: { minorUnits: '55' } },
      ],
      total: { minorUnits: '1199' },
    });
    expect(rest.invoice).toMatchObject({ status: 'PAID', amountCredited: { minorUnits: '2199' }, amountRemaining: { minorUnits: '0' } });
    expect(await balanceOf(app, t.tenantId, 'SYS-1200-JPY')).toBe(0n);
    expect(await balanceOf(app, t.tenantId, 'SYS-2100-JPY')).toBe(0n);
    expect(await balanceOf(app, t.tenantId, 'SYS-4100-JPY')).toBe(2018n);
    expect((await t.client.ok(TrialBalanceDocument, { currency: 'JPY' })).trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('credits KWD lines with an amount discount spread over the quantity, then an amount on the rate left, in three decimals', async () => {
    const t = await tenantWithCustomer('KWD');
    const invoice = await openInvoice(t.client, t.customerId, 'KWD', KWD_LINES);
    expect(invoice.total.minorUnits).toBe('6483');

    // 1 of 2.5 cables: 3.000 after discount × 1 / 2.5 = 1.200, and 5% of it.
    const one = await credit(t.client, { invoiceId: invoice.id, lines: [{ position: 0, quantity: '1' }] });
    expect(one.creditNote).toMatchObject({ lines: [{ net: { minorUnits: '1200' }, tax: { minorUnits: '60' }, total: { minorUnits: '1260' } }], total: { amount: '1.260' } });
    const rest = await credit(t.client, { invoiceId: invoice.id, lines: [{ position: 0, quantity: '1.5' }] });
    expect(rest.creditNote).toMatchObject({ lines: [{ net: { minorUnits: '1800' }, tax: { minorUnits: '90' }, total: { minorUnits: '1890' } }] });
    expect(postingsOf(rest.creditNote.journalEntry)).toEqual(['SYS-1200-KWD CREDIT 1890', 'SYS-2100-KWD DEBIT 90', 'SYS-4100-KWD DEBIT 1800'].sort());

    // Only the 0% rate is left: an amount goes to it whole, and no tax line of zero is posted.
    const amount = await credit(t.client, { invoiceId: invoice.id, amount: '1.000' });
    expect(amount.creditNote).toMatchObject({ taxByRate: [{ rate: '0', taxable: { minorUnits: '1000' }, tax: { minorUnits: '0' } }], total: { minorUnits: '1000' } });
    expect(postingsOf(amount.creditNote.journalEntry)).toEqual(['SYS-1200-KWD CREDIT 1000', 'SYS-4100-KWD DEBIT 1000'].sort());

    // The share line (3.333) is more than is left (2.333).
    const before = await storedState(app, t.tenantId, invoice.id);
    const share = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, lines: [{ position: 1 }] } });
    expect(refusal(share, 'createCreditNote')).toMatchObject({ data: null, code: 'VALIDATION_FAILED', field: 'lines' });
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);
    expect(amount.invoice).toMatchObject({ status: 'OPEN', amountRemaining: { minorUnits: '2333' } });
    expect(await balanceOf(app, t.tenantId, 'SYS-1200-KWD')).toBe(2333n);
    expect((await t.client.ok(TrialBalanceDocument, { currency: 'KWD' })).trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('gives what the invoice no longer owes to the customer as credit: a partly paid invoice credited past what is left, and a PAID one', async () => {
    const t = await tenantWithCustomer('Customer credit');
    const invoice = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    await recordPaymentDirectly(app, t.tenantId, invoice.id, 'USD', 20000n);

    // 252.55 − 200.00 paid = 52.55 left: 60.00 credited takes 52.55 off and gives 7.45 as credit.
    const note = await credit(t.client, { invoiceId: invoice.id, amount: '60.00' });
    expect(note.creditNote).toMatchObject({ appliedToInvoice: { minorUnits: '5255' }, creditedToCustomer: { minorUnits: '745' }, total: { minorUnits: '6000' } });
    const tax = note.creditNote.taxByRate.map((group) => BigInt(group.tax.minorUnits));
    expect(postingsOf(note.creditNote.journalEntry)).toEqual(
      [
        'SYS-1200-USD CREDIT 5255',
        'SYS-2200-USD CREDIT 745',
        `SYS-4100-USD DEBIT ${note.creditNote.subtotal.minorUnits}`,
        ...note.creditNote.taxByRate.map((group) => `SYS-2100-USD DEBIT ${group.tax.minorUnits}`),
      ].sort(),
    );
    expect(BigInt(note.creditNote.subtotal.minorUnits) + tax.reduce((a, b) => a + b, 0n)).toBe(6000n);
    expect(note.invoice).toMatchObject({ status: 'PAID', amountPaid: { minorUnits: '20000' }, amountCredited: { minorUnits: '5255' }, amountRemaining: { minorUnits: '0' } });

    // On a PAID invoice, a credit note is all customer credit.
    const paid = await credit(t.client, { invoiceId: invoice.id, amount: '10.00' });
    expect(paid.creditNote).toMatchObject({ appliedToInvoice: { minorUnits: '0' }, creditedToCustomer: { minorUnits: '1000' } });
    expect(paid.invoice).toMatchObject({ status: 'PAID', amountCredited: { minorUnits: '5255' } });
    const movements = await app.runtime.dataSource.query('SELECT amount_minor, source_kind, source_id, invoice_id, journal_entry_id FROM customer_credit_movements WHERE tenant_id = ? ORDER BY id', [
      t.tenantId,
    ]);
    expect(movements.map((row: Record<string, unknown>) => ({ ...row, amount_minor: String(row.amount_minor) }))).toEqual([
      { amount_minor: '745', source_kind: 'CREDIT_NOTE', source_id: note.creditNote.id, invoice_id: invoice.id, journal_entry_id: note.creditNote.journalEntry?.id },
      { amount_minor: '1000', source_kind: 'CREDIT_NOTE', source_id: paid.creditNote.id, invoice_id: invoice.id, journal_entry_id: paid.creditNote.journalEntry?.id },
    ]);
    const balances = await app.runtime.dataSource.query('SELECT customer_id, currency, balance_minor FROM customer_credit_balances WHERE tenant_id = ?', [t.tenantId]);
    expect(balances.map((row: Record<string, unknown>) => [row.customer_id, row.currency, String(row.balance_minor)])).toEqual([[t.customerId, 'USD', '1745']]);
    expect(await balanceOf(app, t.tenantId, 'SYS-2200-USD')).toBe(-1745n);
    expect(await balanceOf(app, t.tenantId, 'SYS-1200-USD')).toBe(0n);

    // A paid invoice cannot be voided: the message says what to do instead.
    const before = await storedState(app, t.tenantId, invoice.id);
    const voided = await t.client.request(VoidInvoiceDocument, { input: { invoiceId: invoice.id } });
    expect(refusal(voided, 'voidInvoice')).toMatchObject({ data: null, code: 'INVALID_STATE_TRANSITION', message: expect.stringContaining('refund') });
    const writeOff = await t.client.request(MarkInvoiceUncollectibleDocument, { input: { invoiceId: invoice.id } });
    expect(refusal(writeOff, 'markInvoiceUncollectible')).toMatchObject({ data: null, code: 'INVALID_STATE_TRANSITION', message: expect.stringContaining('PAID') });
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);
    expect((await t.client.ok(TrialBalanceDocument, { currency: 'USD' })).trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('voids an OPEN invoice with nothing paid by reversing its finalisation: the receivable is back to zero and it keeps its number', async () => {
    const t = await tenantWithCustomer('Void');
    const invoice = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    expect(await balanceOf(app, t.tenantId, 'SYS-1200-USD')).toBe(25255n);
    const { voidInvoice } = await t.client.ok(VoidInvoiceDocument, { input: { invoiceId: invoice.id, reason: 'Issued twice' } });
    expect(voidInvoice.invoice).toMatchObject({
      id: invoice.id,
      status: 'VOID',
      number: invoice.number,
      voidedAt: START.toISOString(),
      // A void invoice owes nothing; its total stays what it was.
      total: { minorUnits: '25255' },
      amountRemaining: { minorUnits: '0' },
      journalEntry: { id: invoice.journalEntry?.id },
      voidEntry: { reversalOf: { id: invoice.journalEntry?.id }, metadata: { invoiceId: invoice.id, reason: 'Issued twice' } },
    });
    expect(postingsOf(voidInvoice.invoice.voidEntry)).toEqual(['SYS-1200-USD CREDIT 25255', 'SYS-2100-USD DEBIT 104', 'SYS-2100-USD DEBIT 3800', 'SYS-4000-USD DEBIT 21351'].sort());
    for (const code of ['SYS-1200-USD', 'SYS-2100-USD', 'SYS-4000-USD']) expect({ code, balance: await balanceOf(app, t.tenantId, code) }).toEqual({ code, balance: 0n });

    // Nothing more can happen to a VOID invoice.
    const before = await storedState(app, t.tenantId, invoice.id);
    for (const [result, field] of [
      [await t.client.request(VoidInvoiceDocument, { input: { invoiceId: invoice.id } }), 'voidInvoice'],
      [await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: '1.00' } }), 'createCreditNote'],
      [await t.client.request(MarkInvoiceUncollectibleDocument, { input: { invoiceId: invoice.id } }), 'markInvoiceUncollectible'],
    ] as const) {
      expect({ mutation: field, ...refusal(result, field) }).toMatchObject({ mutation: field, data: null, code: 'INVALID_STATE_TRANSITION' });
    }
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);

    // A DRAFT cannot be voided (or credited, or written off): it has nothing in the ledger.
    const draft = (await t.client.ok(CreateInvoiceDocument, { input: { customerId: t.customerId, currency: 'USD', lines: USD_LINES } })).createInvoice.invoice;
    const beforeDraft = await storedState(app, t.tenantId, draft.id);
    const voidDraft = refusal(await t.client.request(VoidInvoiceDocument, { input: { invoiceId: draft.id } }), 'voidInvoice');
    expect(voidDraft).toMatchObject({ data: null, code: 'INVALID_STATE_TRANSITION', message: expect.stringContaining('DRAFT') });
    expect(voidDraft.message).toContain('nothing in the ledger');
    expect(refusal(await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: draft.id, amount: '1.00' } }), 'createCreditNote')).toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
    });
    expect(refusal(await t.client.request(MarkInvoiceUncollectibleDocument, { input: { invoiceId: draft.id } }), 'markInvoiceUncollectible')).toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
    });
    expect(await storedState(app, t.tenantId, draft.id)).toEqual(beforeDraft);

    // After a credit note, or a payment, void is refused and says what to do instead.
    const credited = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    await credit(t.client, { invoiceId: credited.id, amount: '1.00' });
    const beforeCredited = await storedState(app, t.tenantId, credited.id);
    expect(refusal(await t.client.request(VoidInvoiceDocument, { input: { invoiceId: credited.id } }), 'voidInvoice')).toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
      message: expect.stringContaining('credit note'),
    });
    expect(await storedState(app, t.tenantId, credited.id)).toEqual(beforeCredited);
    const paid = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    await recordPaymentDirectly(app, t.tenantId, paid.id, 'USD', 100n);
    const beforePaid = await storedState(app, t.tenantId, paid.id);
    expect(refusal(await t.client.request(VoidInvoiceDocument, { input: { invoiceId: paid.id } }), 'voidInvoice')).toMatchObject({
      code: 'INVALID_STATE_TRANSITION',
      message: expect.stringContaining('refund the payments first'),
    });
    expect(await storedState(app, t.tenantId, paid.id)).toEqual(beforePaid);

    // An invoice totalling zero posted nothing, and voids without an entry.
    const zero = await openInvoice(t.client, t.customerId, 'USD', [{ description: 'Free', quantity: '1', unitPrice: '0.00', taxRate: '0', taxBehaviour: 'EXCLUSIVE' }]);
    expect((await t.client.ok(VoidInvoiceDocument, { input: { invoiceId: zero.id } })).voidInvoice.invoice).toMatchObject({ status: 'VOID', voidEntry: null });
    expect((await t.client.ok(TrialBalanceDocument, { currency: 'USD' })).trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('writes off what is left of an OPEN invoice as bad debt, in USD, JPY and KWD, and refuses it on anything else', async () => {
    const t = await tenantWithCustomer('Write-off');
    for (const [currency, lines, creditAmount, total] of [
      ['USD', USD_LINES, '50.00', 25255n],
      ['JPY', JPY_LINES, '199', 2199n],
      ['KWD', KWD_LINES, '0.483', 6483n],
    ] as const) {
      const invoice = await openInvoice(t.client, t.customerId, currency, lines);
      const { invoice: credited } = await credit(t.client, { invoiceId: invoice.id, amount: creditAmount });
      const remaining = BigInt(credited.amountRemaining.minorUnits);
      expect(remaining).toBe(total - BigInt(credited.amountCredited.minorUnits));
      const { markInvoiceUncollectible } = await t.client.ok(MarkInvoiceUncollectibleDocument, { input: { invoiceId: invoice.id, reason: 'Customer insolvent' } });
      expect(markInvoiceUncollectible.invoice).toMatchObject({
        status: 'UNCOLLECTIBLE',
        amountWrittenOff: { minorUnits: String(remaining) },
        amountRemaining: { minorUnits: '0' },
        uncollectibleAt: START.toISOString(),
        writeOffEntry: { metadata: { invoiceId: invoice.id, reason: 'Customer insolvent' } },
      });
      expect(postingsOf(markInvoiceUncollectible.invoice.writeOffEntry)).toEqual([`SYS-1200-${currency} CREDIT ${remaining}`, `SYS-6300-${currency} DEBIT ${remaining}`].sort());
      expect(await balanceOf(app, t.tenantId, `SYS-1200-${currency}`)).toBe(0n);
      expect(await balanceOf(app, t.tenantId, `SYS-6300-${currency}`)).toBe(remaining);

      const before = await storedState(app, t.tenantId, invoice.id);
      for (const [result, field] of [
        [await t.client.request(MarkInvoiceUncollectibleDocument, { input: { invoiceId: invoice.id } }), 'markInvoiceUncollectible'],
        [await t.client.request(VoidInvoiceDocument, { input: { invoiceId: invoice.id } }), 'voidInvoice'],
        [await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: creditAmount } }), 'createCreditNote'],
      ] as const) {
        expect({ currency, mutation: field, ...refusal(result, field) }).toMatchObject({ currency, mutation: field, data: null, code: 'INVALID_STATE_TRANSITION' });
      }
      expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);
      expect((await t.client.ok(TrialBalanceDocument, { currency })).trialBalance.balanced).toBe(true);
    }
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('refuses bad credit notes with VALIDATION_FAILED naming the field, and changes nothing', async () => {
    const t = await tenantWithCustomer('Bad input');
    const invoice = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    const before = await storedState(app, t.tenantId, invoice.id);
    const cases: [Partial<CreateCreditNoteInput>, string][] = [
      [{}, 'lines'],
      [{ lines: [{ position: 0 }], amount: '1.00' }, 'lines'],
      [{ lines: [] }, 'lines'],
      [{ lines: [{ position: 3 }] }, 'lines[0].position'],
      [{ lines: [{ position: -1 }] }, 'lines[0].position'],
      [{ lines: [{ position: 1 }, { position: 1 }] }, 'lines[1].position'],
      [{ lines: [{ position: 0, quantity: '0' }] }, 'lines[0].quantity'],
      [{ lines: [{ position: 0, quantity: '-1' }] }, 'lines[0].quantity'],
      [{ lines: [{ position: 0, quantity: '1.0000001' }] }, 'lines[0].quantity'],
      [{ lines: [{ position: 0, quantity: '3.000001' }] }, 'lines[0].quantity'],
      [{ lines: [{ position: 2, quantity: 'one' }] }, 'lines[0].quantity'],
      [{ amount: '0' }, 'amount'],
      [{ amount: '-1.00' }, 'amount'],
      [{ amount: '1.001' }, 'amount'],
      [{ amount: '252.56' }, 'amount'],
      [{ amount: '1.00', reason: 'x'.repeat(501) }, 'reason'],
    ];
    for (const [change, field] of cases) {
      const result = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, ...change } });
      expect({ change, ...refusal(result, 'createCreditNote'), message: undefined }).toEqual({ change, data: null, code: 'VALIDATION_FAILED', field, message: undefined });
    }
    expect(refusal(await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: newId('customer'), amount: '1.00' } }), 'createCreditNote')).toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'invoiceId',
    });
    expect(refusal(await t.client.request(VoidInvoiceDocument, { input: { invoiceId: invoice.id, reason: 'y'.repeat(501) } }), 'voidInvoice')).toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'reason',
    });
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);
  });

  it('answers NOT_FOUND for another tenant’s invoices and credit notes, exactly as for ids that exist nowhere, and changes nothing', async () => {
    const t = await tenantWithCustomer('Isolated');
    const invoice = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    const { creditNote } = await credit(t.client, { invoiceId: invoice.id, amount: '1.00' });
    const before = await storedState(app, t.tenantId, invoice.id);
    for (const id of [invoice.id, newId('invoice')]) {
      for (const result of [
        await other.client.request(CreateCreditNoteDocument, { input: { invoiceId: id, amount: '1.00' } }),
        await other.client.request(CreateCreditNoteDocument, { input: { invoiceId: id, lines: [{ position: 0 }] } }),
        await other.client.request(VoidInvoiceDocument, { input: { invoiceId: id } }),
        await other.client.request(MarkInvoiceUncollectibleDocument, { input: { invoiceId: id } }),
        await other.client.request(CreditNotesDocument, { filter: { invoiceId: id } }),
      ]) {
        expect({ id, codes: result.errors?.map((error) => error.extensions?.code) }).toEqual({ id, codes: ['NOT_FOUND'] });
      }
    }
    for (const id of [creditNote.id, newId('creditNote')]) {
      for (const result of [await other.client.request(CreditNoteDocument, { id }), await other.client.request(NodeOfAnyKindDocument, { id })]) {
        expect({ id, codes: result.errors?.map((error) => error.extensions?.code) }).toEqual({ id, codes: ['NOT_FOUND'] });
      }
    }
    expect((await other.client.request(CreditNotesDocument, { filter: { customerId: t.customerId } })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await other.client.ok(CreditNotesDocument, {})).creditNotes.totalCount).toBe(0);
    expect(await storedState(app, t.tenantId, invoice.id)).toEqual(before);
  });

  it('replays a retried credit note, void or write-off under its idempotency key: one note, one entry, one number', async () => {
    const t = await tenantWithCustomer('Retries');
    const invoice = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    const first = await credit(t.client, { invoiceId: invoice.id, lines: [{ position: 1 }] }, 'cn-retry-1');
    const postings = (await storedState(app, t.tenantId, invoice.id)).postings;
    const retried = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, lines: [{ position: 1 }] }, idempotencyKey: 'cn-retry-1' });
    expect(retried.data?.createCreditNote).toEqual(first);
    expect((await storedState(app, t.tenantId, invoice.id)).postings).toBe(postings);
    const reused = await t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: '1.00' }, idempotencyKey: 'cn-retry-1' });
    expect(reused.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');

    const written = await t.client.ok(MarkInvoiceUncollectibleDocument, { input: { invoiceId: invoice.id }, idempotencyKey: 'wo-retry-1' });
    const writtenAgain = await t.client.ok(MarkInvoiceUncollectibleDocument, { input: { invoiceId: invoice.id }, idempotencyKey: 'wo-retry-1' });
    expect(writtenAgain).toEqual(written);

    const other2 = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    const voided = await t.client.ok(VoidInvoiceDocument, { input: { invoiceId: other2.id }, idempotencyKey: 'void-retry-1' });
    expect(await t.client.ok(VoidInvoiceDocument, { input: { invoiceId: other2.id }, idempotencyKey: 'void-retry-1' })).toEqual(voided);
    const entries = await app.runtime.dataSource.query('SELECT COUNT(*) AS n FROM journal_entries WHERE tenant_id = ? AND reversal_of_id = ?', [t.tenantId, other2.journalEntry?.id]);
    expect(Number(entries[0].n)).toBe(1);
    expect((await t.client.ok(CreditNotesDocument, {})).creditNotes.totalCount).toBe(1);
  });

  it('needs invoices:read to read credit notes and invoices:write to create them, void or write off', async () => {
    const t = await tenantWithCustomer('Scopes');
    const invoice = await openInvoice(t.client, t.customerId, 'USD', USD_LINES);
    const { creditNote } = await credit(t.client, { invoiceId: invoice.id, amount: '1.00' });
    const keyWith = async (scopes: ('INVOICES_READ' | 'LEDGER_READ')[]) =>
      t.client.withKey((await t.client.ok(CreateApiKeyDocument, { input: { name: scopes.join(' '), scopes } })).createApiKey.secret);
    const reader = await keyWith(['INVOICES_READ']);
    const ledgerOnly = await keyWith(['LEDGER_READ']);
    expect((await reader.ok(CreditNoteDocument, { id: creditNote.id })).creditNote.id).toBe(creditNote.id);
    expect((await reader.ok(CreditNotesDocument, { first: 1 })).creditNotes.totalCount).toBe(1);
    for (const write of [
      await reader.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: '1.00' } }),
      await reader.request(VoidInvoiceDocument, { input: { invoiceId: invoice.id } }),
      await reader.request(MarkInvoiceUncollectibleDocument, { input: { invoiceId: invoice.id } }),
    ]) {
      expect(write.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:write' } });
    }
    for (const read of [
      await ledgerOnly.request(CreditNoteDocument, { id: creditNote.id }),
      await ledgerOnly.request(CreditNotesDocument, { first: 1 }),
      await ledgerOnly.request(NodeOfAnyKindDocument, { id: creditNote.id }),
    ]) {
      expect(read.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:read' } });
    }
    expect((await t.client.ok(InvoiceWithCreditNotesDocument, { id: invoice.id })).invoice).toMatchObject({ status: 'OPEN', amountCredited: { minorUnits: '100' } });
  });

  it('reads the credit notes of a page of invoices in one statement however many invoices it holds', async () => {
    const t = await tenantWithCustomer('Batched');
    for (let i = 0; i < 4; i += 1) {
      const invoice = await openInvoice(t.client, t.customerId, 'JPY', JPY_LINES);
      await credit(t.client, { invoiceId: invoice.id, amount: '10' });
    }
    const statementsFor = async (first: number) => {
      const before = app.runtime.statements.count;
      const { invoices } = await t.client.ok(InvoicesWithCreditNotesDocument, { first });
      for (const edge of invoices.edges) expect(edge.node.creditNotes.totalCount).toBe(1);
      return app.runtime.statements.count - before;
    };
    expect(await statementsFor(4)).toBe(await statementsFor(1));
  });

  it('tells the invoice event publisher of each committed step, after the commit, and of nothing refused', async () => {
    const t = await tenantWithCustomer('Events');
    const { dataSource, clock: serviceClock, ledger, invoices, idempotency } = app.runtime.services;
    const published: InvoiceEvent[][] = [];
    const publisher = { invoiceEventsCommitted: (events: readonly InvoiceEvent[]) => published.push([...events]) };
    const creditNotes = new CreditNotesService(dataSource, serviceClock, ledger, invoices, idempotency, publisher);
    const closing = new InvoiceClosingService(dataSource, serviceClock, ledger, invoices, idempotency, publisher);
    const typesOf = () => published.map((events) => events.map((event) => [event.type, event.invoice.status]));

    const first = await openInvoice(t.client, t.customerId, 'JPY', JPY_LINES);
    await creditNotes.createCreditNote(t.tenantId, { invoiceId: first.id, amount: '100' });
    await expect(creditNotes.createCreditNote(t.tenantId, { invoiceId: first.id, amount: '9999' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await creditNotes.createCreditNote(t.tenantId, { invoiceId: first.id, amount: '2099' });
    const second = await openInvoice(t.client, t.customerId, 'JPY', JPY_LINES);
    await closing.voidInvoice(t.tenantId, { invoiceId: second.id });
    await expect(closing.voidInvoice(t.tenantId, { invoiceId: second.id })).rejects.toMatchObject({ code: 'INVALID_STATE_TRANSITION' });
    const third = await openInvoice(t.client, t.customerId, 'JPY', JPY_LINES);
    await closing.markInvoiceUncollectible(t.tenantId, { invoiceId: third.id });
    expect(typesOf()).toEqual([
      [[InvoiceEventType.CREDIT_NOTE_CREATED, 'OPEN']],
      [
        [InvoiceEventType.CREDIT_NOTE_CREATED, 'PAID'],
        [InvoiceEventType.PAID, 'PAID'],
      ],
      [[InvoiceEventType.VOIDED, 'VOID']],
      [[InvoiceEventType.MARKED_UNCOLLECTIBLE, 'UNCOLLECTIBLE']],
    ]);
    expect(published[1][0].invoice).toMatchObject({ id: first.id, amountCreditedMinor: 2199n, paidAt: START });
  });
});
