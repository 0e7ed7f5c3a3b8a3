import { toBigInt } from '../../src/common/money';
import {
  CreateCreditNoteDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  FinalizeInvoiceDocument,
  InvoiceWithCreditNotesDocument,
  TrialBalanceDocument,
  VoidInvoiceDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeOnMysql, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { TestClock } from '../helpers/test-clock';
import { INVOICE_TEST_START as START, USD_LINES } from '../helpers/invoice-fixtures';

describeOnMysql('credit notes: concurrent ones of one invoice never credit more than its total', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp('mysql', { clock: new TestClock(START) });
  });
  afterAll(async () => {
    await app?.close();
  });

  const openInvoice = async (client: GraphQLClient, customerId: string) => {
    const draft = (await client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: USD_LINES } })).createInvoice.invoice;
    return (await client.ok(FinalizeInvoiceDocument, { input: { invoiceId: draft.id } })).finalizeInvoice.invoice;
  };
  const newTenant = async (name: string) => {
    const tenant = await app.createTenant(name);
    const customerId = (await tenant.client.ok(CreateCustomerDocument, { input: { name } })).createCustomer.customer.id;
    return { ...tenant, customerId };
  };
  const creditedOf = async (tenantId: string, invoiceId: string) => {
    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT total_minor, number FROM credit_notes WHERE tenant_id = ? AND invoice_id = ?', [
      tenantId,
      invoiceId,
    ]);
    return { total: rows.reduce((sum, row) => sum + toBigInt(row.total_minor), 0n), numbers: rows.map((row) => String(row.number)).sort() };
  };

  it('takes 12 concurrent credit notes of 30.00 against 252.55: exactly 8 succeed, numbered CN-2026-000001..8, and the rest are refused', async () => {
    const t = await newTenant('Concurrent amounts');
    const invoice = await openInvoice(t.client, t.customerId);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: '30.00' } })),
    );
    const succeeded = results.filter((result) => result.data?.createCreditNote);
    const refused = results.filter((result) => !result.data?.createCreditNote);
    expect(succeeded).toHaveLength(8);
    expect(refused.map((result) => [result.errors?.[0]?.extensions?.code, result.errors?.[0]?.extensions?.details?.field])).toEqual(
      Array.from({ length: 4 }, () => ['VALIDATION_FAILED', 'amount']),
    );
    const credited = await creditedOf(t.tenantId, invoice.id);
    expect(credited.total).toBe(24000n);
    expect(credited.numbers).toEqual(Array.from({ length: 8 }, (_, i) => `CN-2026-00000${i + 1}`));
    const { invoice: read } = await t.client.ok(InvoiceWithCreditNotesDocument, { id: invoice.id });
    expect(read).toMatchObject({ status: 'OPEN', amountCredited: { minorUnits: '24000' }, amountRemaining: { minorUnits: '1255' }, creditNotes: { totalCount: 8 } });
    expect((await t.client.ok(TrialBalanceDocument, { currency: 'USD' })).trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('credits the same line in full from 10 requests at once: one succeeds, the others find it credited', async () => {
    const t = await newTenant('Concurrent lines');
    const invoice = await openInvoice(t.client, t.customerId);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, lines: [{ position: 1 }] } })),
    );
    expect(results.filter((result) => result.data?.createCreditNote).map((result) => result.data?.createCreditNote?.creditNote.total.minorUnits)).toEqual(['11900']);
    expect(new Set(results.filter((result) => !result.data?.createCreditNote).map((result) => result.errors?.[0]?.extensions?.code))).toEqual(new Set(['VALIDATION_FAILED']));
    expect((await creditedOf(t.tenantId, invoice.id)).total).toBe(11900n);
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });

  it('races credit notes that together exceed the total with the void of the invoice: either the void or the credit notes, never both, never above the total', async () => {
    const t = await newTenant('Void race');
    for (let round = 0; round < 3; round += 1) {
      const invoice = await openInvoice(t.client, t.customerId);
      const [voided, ...credits] = await Promise.all([
        t.client.request(VoidInvoiceDocument, { input: { invoiceId: invoice.id } }),
        ...Array.from({ length: 10 }, () => t.client.request(CreateCreditNoteDocument, { input: { invoiceId: invoice.id, amount: '100.00' } })),
      ]);
      const succeeded = credits.filter((result) => result.data?.createCreditNote).length;
      const { total } = await creditedOf(t.tenantId, invoice.id);
      expect(total).toBe(BigInt(succeeded) * 10000n);
      expect(total <= 25255n).toBe(true);
      if (voided.data?.voidInvoice) {
        expect(succeeded).toBe(0);
      } else {
        expect(voided.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
        expect(succeeded).toBe(2);
      }
      for (const refused of credits.filter((result) => !result.data?.createCreditNote)) {
        expect(['VALIDATION_FAILED', 'INVALID_STATE_TRANSITION']).toContain(refused.errors?.[0]?.extensions?.code);
      }
    }
    expect((await t.client.ok(TrialBalanceDocument, { currency: 'USD' })).trialBalance.balanced).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, t.client);
  });
});
