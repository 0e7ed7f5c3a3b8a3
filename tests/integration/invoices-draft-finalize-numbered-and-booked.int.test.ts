import { newId } from '../../src/common/ids';
import {
  CreateApiKeyDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  type CreateInvoiceInput,
  FinalizeInvoiceDocument,
  InvoiceDocument,
  type InvoiceFieldsFragment,
  InvoicesDocument,
  NodeOfAnyKindDocument,
  TrialBalanceDocument,
  UpdateInvoiceDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, describeOnMysql, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { TestClock } from '../helpers/test-clock';
import { INVOICE_TEST_START as START, type InvoiceLineInput as Line, USD_LINES, JPY_LINES, KWD_LINES } from '../helpers/invoice-fixtures';

/** The figures of an invoice in minor units, as the API gives them. */
function figures(invoice: InvoiceFieldsFragment) {
  return {
    lines: invoice.lines.map((line) => [line.gross.minorUnits, line.discount.minorUnits, line.net.minorUnits, line.tax.minorUnits, line.total.minorUnits]),
    subtotal: invoice.subtotal.minorUnits,
    discountTotal: invoice.discountTotal.minorUnits,
    taxTotal: invoice.taxTotal.minorUnits,
    taxByRate: invoice.taxByRate.map((group) => [group.rate, group.taxable.minorUnits, group.tax.minorUnits]),
    total: invoice.total.minorUnits,
    amountDue: invoice.amountDue.minorUnits,
    amountPaid: invoice.amountPaid.minorUnits,
    amountRemaining: invoice.amountRemaining.minorUnits,
  };
}

/** The finalisation entry's postings as (account code, direction, minor units), sorted. */
function postingsOf(invoice: InvoiceFieldsFragment): string[] {
  return (invoice.journalEntry?.postings ?? []).map((posting) => `${posting.account.code} ${posting.direction} ${posting.amount.minorUnits}`).sort();
}

/** Every row of the invoice and its lines, and the number of postings: what a refused request must leave alone. */
async function storedState(app: TestApp, invoiceId: string) {
  const dataSource = app.runtime.dataSource;
  return {
    invoice: await dataSource.query('SELECT * FROM invoices WHERE id = ?', [invoiceId]),
    lines: await dataSource.query('SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY position', [invoiceId]),
    postings: (await dataSource.query('SELECT COUNT(*) AS n FROM postings'))[0].n,
    sequences: await dataSource.query('SELECT * FROM invoice_number_sequences ORDER BY tenant_id, series_key'),
  };
}

describeEachDatabase('invoices: drafts, editable only as drafts, finalised with a number and a journal entry', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  const clock = new TestClock(START);
  let customerId: string;

  const create = async (client: GraphQLClient, input: Partial<CreateInvoiceInput> & { lines: Line[]; currency: string }, idempotencyKey?: string) =>
    (await client.ok(CreateInvoiceDocument, { input: { customerId, ...input }, idempotencyKey })).createInvoice.invoice;
  const finalize = async (invoiceId: string, idempotencyKey?: string) =>
    (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId }, idempotencyKey })).finalizeInvoice.invoice;

  beforeAll(async () => {
    app = await startTestApp(kind, { clock });
    other = await app.createTenant('Globex');
    customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Acme Trading GmbH' } })).createCustomer.customer.id;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('creates a USD draft, replaces its lines while DRAFT, and finalises it: number, dates, exact totals and a balanced entry equal to them', async () => {
    const draft = await create(app.client, { currency: 'USD', lines: USD_LINES.slice(0, 1), memo: 'First draft', metadata: { order: 'A-1' } });
    expect(draft).toMatchObject({ status: 'DRAFT', number: null, issueDate: null, dueDate: null, paymentTermsDays: 30, journalEntry: null, finalizedAt: null });
    expect(draft.id).toMatch(/^inv_/);
    expect(figures(draft)).toMatchObject({ subtotal: '9999', taxTotal: '1900', total: '11899' });

    const { updateInvoice } = await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: draft.id, lines: USD_LINES, memo: 'Three lines' } });
    expect(updateInvoice.invoice).toMatchObject({ status: 'DRAFT', memo: 'Three lines', metadata: { order: 'A-1' } });
    const expected = {
      lines: [
        ['9999', '0', '9999', '1900', '11899'],
        ['11900', '0', '10000', '1900', '11900'],
        ['1502', '150', '1352', '104', '1456'],
      ],
      subtotal: '21351',
      discountTotal: '150',
      taxTotal: '3904',
      taxByRate: [
        ['7.7', '1352', '104'],
        ['19', '19999', '3800'],
      ],
      total: '25255',
      amountDue: '25255',
      amountPaid: '0',
      amountRemaining: '25255',
    };
    expect(figures(updateInvoice.invoice)).toEqual(expected);
    expect(updateInvoice.invoice.lines[2]).toMatchObject({ quantity: '1.5', unitPrice: { amount: '10.01' }, taxRate: '7.7', discountPercent: '10' });

    const finalized = await finalize(draft.id);
    expect(finalized).toMatchObject({
      status: 'OPEN',
      number: 'INV-2026-000001',
      issueDate: '2026-03-10',
      dueDate: '2026-04-09',
      paymentTermsDays: 30,
      overdue: false,
      finalizedAt: START.toISOString(),
    });
    expect(figures(finalized)).toEqual(expected);
    expect(finalized.journalEntry?.status).toBe('POSTED');
    expect(postingsOf(finalized)).toEqual(['SYS-1200-USD DEBIT 25255', 'SYS-2100-USD CREDIT 104', 'SYS-2100-USD CREDIT 3800', 'SYS-4000-USD CREDIT 21351'].sort());
    expect((await app.client.ok(InvoiceDocument, { id: draft.id })).invoice).toEqual(finalized);

    const { trialBalance } = await app.client.ok(TrialBalanceDocument, { currency: 'USD' });
    expect(trialBalance.balanced).toBe(true);
    const byCode = new Map(trialBalance.lines.edges.map((edge) => [edge.node.account.code, edge.node]));
    expect(byCode.get('SYS-1200-USD')?.debit.minorUnits).toBe('25255');
    expect(byCode.get('SYS-4000-USD')?.credit.minorUnits).toBe('21351');
    expect(byCode.get('SYS-2100-USD')?.credit.minorUnits).toBe('3904');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('computes JPY and KWD invoices exactly, in their own decimals, and books them on their own currency’s chart', async () => {
    const jpy = await finalize((await create(app.client, { currency: 'JPY', lines: JPY_LINES, dueDate: '2026-03-31' })).id);
    expect(figures(jpy)).toEqual({
      lines: [
        ['999', '0', '999', '100', '1099'],
        ['1100', '0', '1019', '81', '1100'],
      ],
      subtotal: '2018',
      discountTotal: '0',
      taxTotal: '181',
      taxByRate: [
        ['8', '1019', '81'],
        ['10', '999', '100'],
      ],
      total: '2199',
      amountDue: '2199',
      amountPaid: '0',
      amountRemaining: '2199',
    });
    expect(jpy).toMatchObject({ number: 'INV-2026-000002', dueDate: '2026-03-31', paymentTermsDays: null, total: { amount: '2199', currency: 'JPY' } });
    expect(postingsOf(jpy)).toEqual(['SYS-1200-JPY DEBIT 2199', 'SYS-2100-JPY CREDIT 100', 'SYS-2100-JPY CREDIT 81', 'SYS-4000-JPY CREDIT 2018'].sort());

    const kwd = await finalize((await create(app.client, { currency: 'KWD', lines: KWD_LINES, paymentTermsDays: 0 })).id);
    expect(figures(kwd)).toEqual({
      lines: [
        ['3085', '85', '3000', '150', '3150'],
        ['3333', '0', '3333', '0', '3333'],
      ],
      subtotal: '6333',
      discountTotal: '85',
      taxTotal: '150',
      taxByRate: [
        ['0', '3333', '0'],
        ['5', '3000', '150'],
      ],
      total: '6483',
      amountDue: '6483',
      amountPaid: '0',
      amountRemaining: '6483',
    });
    expect(kwd).toMatchObject({ number: 'INV-2026-000003', issueDate: '2026-03-10', dueDate: '2026-03-10', total: { amount: '6.483' } });
    // The 0% rate has no tax to owe: no line of zero in the entry.
    expect(postingsOf(kwd)).toEqual(['SYS-1200-KWD DEBIT 6483', 'SYS-2100-KWD CREDIT 150', 'SYS-4000-KWD CREDIT 6333'].sort());
    for (const currency of ['JPY', 'KWD']) expect((await app.client.ok(TrialBalanceDocument, { currency })).trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('updates a DRAFT field by field: a due date replaces the terms and back, a new currency recomputes the stored lines in it', async () => {
    const draft = await create(app.client, { currency: 'USD', lines: [USD_LINES[0]], memo: 'Keep me' });
    const update = async (input: Record<string, unknown>) => (await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: draft.id, ...input } })).updateInvoice.invoice;
    expect(await update({ dueDate: '2026-05-01' })).toMatchObject({ dueDate: '2026-05-01', paymentTermsDays: null, memo: 'Keep me' });
    expect(await update({ paymentTermsDays: 14 })).toMatchObject({ dueDate: null, paymentTermsDays: 14 });
    expect(await update({ paymentTermsDays: null })).toMatchObject({ dueDate: null, paymentTermsDays: 30 });
    // 3 × 33.33 EUR as stored, recomputed in EUR: the same figures, in the new currency.
    const inEur = await update({ currency: 'EUR', memo: null });
    expect(inEur).toMatchObject({ currency: 'EUR', memo: null, total: { amount: '118.99', currency: 'EUR' } });
    // JPY has no decimals: the stored 33.33 no longer fits, and nothing changes.
    const before = await storedState(app, draft.id);
    const refused = await app.client.request(UpdateInvoiceDocument, { input: { invoiceId: draft.id, currency: 'JPY' } });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'lines[0].unitPrice' } });
    const empty = await app.client.request(UpdateInvoiceDocument, { input: { invoiceId: draft.id } });
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'input' } });
    expect(await storedState(app, draft.id)).toEqual(before);
  });

  it('refuses to edit or finalise an invoice that is not a DRAFT, with INVALID_STATE_TRANSITION, and changes nothing', async () => {
    const invoice = await finalize((await create(app.client, { currency: 'USD', lines: USD_LINES.slice(0, 1) })).id);
    const before = await storedState(app, invoice.id);
    const edit = await app.client.request(UpdateInvoiceDocument, { input: { invoiceId: invoice.id, memo: 'changed after the fact' } });
    expect({ data: edit.data?.updateInvoice ?? null, code: edit.errors?.[0]?.extensions?.code }).toEqual({ data: null, code: 'INVALID_STATE_TRANSITION' });
    const again = await app.client.request(FinalizeInvoiceDocument, { input: { invoiceId: invoice.id } });
    expect({ data: again.data?.finalizeInvoice ?? null, code: again.errors?.[0]?.extensions?.code }).toEqual({ data: null, code: 'INVALID_STATE_TRANSITION' });
    expect(again.errors?.[0]?.extensions?.details).toMatchObject({ id: invoice.id, status: 'OPEN' });
    expect(await storedState(app, invoice.id)).toEqual(before);
  });

  it('refuses bad input with VALIDATION_FAILED naming the field and stores nothing', async () => {
    const count = async () => Number((await app.runtime.dataSource.query('SELECT COUNT(*) AS n FROM invoices'))[0].n);
    const before = await count();
    const cases: [Partial<CreateInvoiceInput>, string][] = [
      [{ lines: [] }, 'lines'],
      [{ lines: [{ ...USD_LINES[0], unitPrice: '1.234' }] }, 'lines[0].unitPrice'],
      [{ lines: [USD_LINES[0], { ...USD_LINES[1], quantity: '0' }] }, 'lines[1].quantity'],
      [{ lines: [{ ...USD_LINES[0], discount: { percent: '5', amount: '1.00' } }] }, 'lines[0].discount'],
      [{ lines: USD_LINES, dueDate: '2026-02-30' }, 'dueDate'],
      [{ lines: USD_LINES, dueDate: '2026-04-01', paymentTermsDays: 10 }, 'dueDate'],
      [{ lines: USD_LINES, paymentTermsDays: -1 }, 'paymentTermsDays'],
    ];
    for (const [change, field] of cases) {
      const result = await app.client.request(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: USD_LINES, ...change } });
      expect({ field, code: result.errors?.[0]?.extensions?.code, details: result.errors?.[0]?.extensions?.details?.field }).toEqual({
        field,
        code: 'VALIDATION_FAILED',
        details: field,
      });
    }
    expect(await count()).toBe(before);

    // A due date before the issue date is refused at finalisation, and the draft stays a draft without a number.
    const draft = await create(app.client, { currency: 'USD', lines: USD_LINES, dueDate: '2026-03-09' });
    const before2 = await storedState(app, draft.id);
    const refused = await app.client.request(FinalizeInvoiceDocument, { input: { invoiceId: draft.id } });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'dueDate' } });
    expect(await storedState(app, draft.id)).toEqual(before2);
  });

  it('replays a finalisation retried with its idempotency key: the same number, one journal entry', async () => {
    const draft = await create(app.client, { currency: 'USD', lines: USD_LINES }, 'create-retry-1');
    expect((await create(app.client, { currency: 'USD', lines: USD_LINES }, 'create-retry-1')).id).toBe(draft.id);
    const first = await finalize(draft.id, 'finalize-retry-1');
    const postings = (await storedState(app, draft.id)).postings;
    const retried = await finalize(draft.id, 'finalize-retry-1');
    expect(retried.number).toBe(first.number);
    expect(retried.journalEntry?.id).toBe(first.journalEntry?.id);
    expect((await storedState(app, draft.id)).postings).toBe(postings);
  });

  it('is overdue once OPEN past its due date by the server’s clock, and lists by status and customer', async () => {
    const open = await finalize((await create(app.client, { currency: 'USD', lines: USD_LINES, paymentTermsDays: 1 })).id);
    const draft = await create(app.client, { currency: 'USD', lines: USD_LINES, dueDate: '2026-03-10' });
    expect(open).toMatchObject({ dueDate: '2026-03-11', overdue: false });
    clock.advance(24 * 60 * 60 * 1000);
    expect((await app.client.ok(InvoiceDocument, { id: open.id })).invoice.overdue).toBe(false);
    clock.advance(24 * 60 * 60 * 1000);
    expect((await app.client.ok(InvoiceDocument, { id: open.id })).invoice.overdue).toBe(true);
    // A draft is never overdue, whatever its due date.
    expect((await app.client.ok(InvoiceDocument, { id: draft.id })).invoice.overdue).toBe(false);
    clock.set(START);

    const otherCustomer = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Initech' } })).createCustomer.customer.id;
    const ofOther = await create(app.client, { customerId: otherCustomer, currency: 'EUR', lines: [{ ...USD_LINES[0] }] });
    const { invoices: drafts } = await app.client.ok(InvoicesDocument, { filter: { status: 'DRAFT' }, first: 500 });
    expect(drafts.edges.every((edge) => edge.node.status === 'DRAFT')).toBe(true);
    expect(drafts.edges.map((edge) => edge.node.id)).toEqual(expect.arrayContaining([draft.id, ofOther.id]));
    expect(drafts.totalCount).toBe(drafts.edges.length);
    const { invoices: ofCustomer } = await app.client.ok(InvoicesDocument, { filter: { customerId: otherCustomer } });
    expect(ofCustomer).toMatchObject({ totalCount: 1, edges: [{ node: { id: ofOther.id } }] });
    const { invoices: openOnes } = await app.client.ok(InvoicesDocument, { filter: { status: 'OPEN', customerId }, last: 2 });
    expect(openOnes.edges.map((edge) => edge.node.status)).toEqual(['OPEN', 'OPEN']);
    expect(openOnes.edges[1].node.id).toBe(open.id);
  });

  it('answers NOT_FOUND for another tenant’s invoices and customers, exactly as for ids that exist nowhere, and changes nothing', async () => {
    const mine = await create(app.client, { currency: 'USD', lines: USD_LINES });
    const before = await storedState(app, mine.id);
    for (const id of [mine.id, newId('invoice')]) {
      for (const result of [
        await other.client.request(InvoiceDocument, { id }),
        await other.client.request(NodeOfAnyKindDocument, { id }),
        await other.client.request(UpdateInvoiceDocument, { input: { invoiceId: id, memo: 'Taken over' } }),
        await other.client.request(FinalizeInvoiceDocument, { input: { invoiceId: id } }),
      ]) {
        expect(result.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
      }
    }
    for (const id of [customerId, newId('customer')]) {
      const created = await other.client.request(CreateInvoiceDocument, { input: { customerId: id, currency: 'USD', lines: USD_LINES } });
      expect(created.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
      const listed = await other.client.request(InvoicesDocument, { filter: { customerId: id } });
      expect(listed.errors?.map((error) => error.extensions?.code)).toEqual(['NOT_FOUND']);
    }
    expect((await other.client.ok(InvoicesDocument, { first: 500 })).invoices.totalCount).toBe(0);
    expect(await storedState(app, mine.id)).toEqual(before);
    expect((await app.client.ok(NodeOfAnyKindDocument, { id: mine.id })).node).toMatchObject({ __typename: 'Invoice', id: mine.id, invoiceStatus: 'DRAFT' });
  });

  it('needs invoices:read to read and invoices:write to create, change or finalise', async () => {
    const keyWith = async (scopes: ('INVOICES_READ' | 'LEDGER_READ')[]) =>
      app.client.withKey((await app.client.ok(CreateApiKeyDocument, { input: { name: scopes.join(' '), scopes } })).createApiKey.secret);
    const reader = await keyWith(['INVOICES_READ']);
    const ledgerOnly = await keyWith(['LEDGER_READ']);
    const draft = await create(app.client, { currency: 'USD', lines: USD_LINES });
    expect((await reader.ok(InvoiceDocument, { id: draft.id })).invoice.id).toBe(draft.id);
    expect((await reader.ok(InvoicesDocument, { first: 1 })).invoices.totalCount).toBeGreaterThan(0);
    for (const write of [
      await reader.request(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: USD_LINES } }),
      await reader.request(UpdateInvoiceDocument, { input: { invoiceId: draft.id, memo: 'no' } }),
      await reader.request(FinalizeInvoiceDocument, { input: { invoiceId: draft.id } }),
    ]) {
      expect(write.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:write' } });
    }
    for (const read of [
      await ledgerOnly.request(InvoiceDocument, { id: draft.id }),
      await ledgerOnly.request(InvoicesDocument, { first: 1 }),
      await ledgerOnly.request(NodeOfAnyKindDocument, { id: draft.id }),
    ]) {
      expect(read.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:read' } });
    }
    expect((await app.client.ok(InvoiceDocument, { id: draft.id })).invoice.status).toBe('DRAFT');
  });
});

describeOnMysql('invoices: concurrent finalisations take consecutive numbers', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp('mysql', { clock: new TestClock(START) });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('finalises 50 drafts at once through the API: 50 consecutive numbers from 1, each invoice booked once, the books balanced', async () => {
    const DRAFTS = 50;
    const customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Concurrent Ltd' } })).createCustomer.customer.id;
    const drafts: string[] = [];
    for (let i = 0; i < DRAFTS; i += 1) {
      drafts.push((await app.client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: USD_LINES } })).createInvoice.invoice.id);
    }
    const finalized = await Promise.all(
      drafts.map(async (invoiceId) => (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId } })).finalizeInvoice.invoice),
    );
    const numbers = finalized.map((invoice) => invoice.number).sort();
    expect(numbers).toEqual(Array.from({ length: DRAFTS }, (_, i) => `INV-2026-${String(i + 1).padStart(6, '0')}`));
    expect(new Set(finalized.map((invoice) => invoice.journalEntry?.id)).size).toBe(DRAFTS);
    const { trialBalance } = await app.client.ok(TrialBalanceDocument, { currency: 'USD' });
    expect(trialBalance.balanced).toBe(true);
    expect(trialBalance.lines.edges.find((edge) => edge.node.account.code === 'SYS-1200-USD')?.node.debit.minorUnits).toBe(String(DRAFTS * 25255));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
