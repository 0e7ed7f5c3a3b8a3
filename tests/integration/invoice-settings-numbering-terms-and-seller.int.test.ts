import {
  CreateApiKeyDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  type CreateInvoiceInput,
  FinalizeInvoiceDocument,
  InvoiceSettingsDocument,
  UpdateInvoiceDocument,
  UpdateInvoiceSettingsDocument,
  type UpdateInvoiceSettingsInput,
} from '../generated/graphql';
import { describeEachDatabase, describeOnMysql, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { TestClock } from '../helpers/test-clock';

/**
 * Per-tenant invoice settings: read with their defaults, replaced whole by updateInvoiceSettings
 * (validated, idempotent, scoped, tenant by tenant), and used by finalizeInvoice (numbering) and
 * createInvoice (default terms). A prefix change starts the series of the new text; going back to
 * an earlier prefix continues its series with no gap and no repeat.
 */

const START = new Date('2026-05-04T09:00:00Z');
const LINES: CreateInvoiceInput['lines'] = [{ description: 'Work', quantity: '1', unitPrice: '100.00', taxRate: '10', taxBehaviour: 'EXCLUSIVE' }];

const ACME: UpdateInvoiceSettingsInput = {
  numbering: { prefix: 'AC', yearlyReset: false, padding: 4 },
  defaultPaymentTermsDays: 14,
  sellerName: '  Acme Supplies Ltd  ',
  sellerAddress: ['1 High Street', 'London EC1A 1AA', 'United Kingdom'],
  sellerTaxId: 'GB123456789',
  footer: 'IBAN GB33BUKB20201555555555',
};

describeEachDatabase('invoice settings: numbering, default terms and seller details per tenant', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let customerId: string;
  const clock = new TestClock(START);

  const settingsRows = async () => app.runtime.dataSource.query('SELECT * FROM invoice_settings ORDER BY tenant_id');
  const draft = async (input: Partial<CreateInvoiceInput> = {}) =>
    (await app.client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: LINES, ...input } })).createInvoice.invoice;
  const issue = async () => (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: (await draft()).id } })).finalizeInvoice.invoice.number;
  const save = async (input: UpdateInvoiceSettingsInput, idempotencyKey?: string) =>
    (await app.client.ok(UpdateInvoiceSettingsDocument, { input, idempotencyKey })).updateInvoiceSettings.invoiceSettings;

  beforeAll(async () => {
    app = await startTestApp(kind, { clock });
    other = await app.createTenant('Globex');
    customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Customer One' } })).createCustomer.customer.id;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('reads the defaults before anything is saved: INV yearly, 6 digits, 30 days, the tenant’s name as seller', async () => {
    expect((await app.client.ok(InvoiceSettingsDocument)).invoiceSettings).toEqual({
      numbering: { prefix: 'INV', yearlyReset: true, padding: 6 },
      defaultPaymentTermsDays: 30,
      sellerName: 'Acme',
      sellerAddress: [],
      sellerTaxId: null,
      footer: null,
      updatedAt: null,
    });
    expect(await issue()).toBe('INV-2026-000001');
    expect(await settingsRows()).toEqual([]);
  });

  it('saves settings whole (trimmed), answers a retry under its key from the record, and numbers and terms follow them', async () => {
    const saved = await save(ACME, 'settings-1');
    expect(saved).toEqual({
      numbering: { prefix: 'AC', yearlyReset: false, padding: 4 },
      defaultPaymentTermsDays: 14,
      sellerName: 'Acme Supplies Ltd',
      sellerAddress: ['1 High Street', 'London EC1A 1AA', 'United Kingdom'],
      sellerTaxId: 'GB123456789',
      footer: 'IBAN GB33BUKB20201555555555',
      updatedAt: START.toISOString(),
    });
    // A minute later the retry is answered from the record: saved again, updatedAt would have moved.
    clock.advance(60_000);
    try {
      expect(await save(ACME, 'settings-1')).toEqual(saved);
    } finally {
      clock.set(START);
    }
    const reused = await app.client.request(UpdateInvoiceSettingsDocument, { input: { ...ACME, sellerName: 'Other' }, idempotencyKey: 'settings-1' });
    expect(reused.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect((await app.client.ok(InvoiceSettingsDocument)).invoiceSettings).toEqual(saved);

    expect(await issue()).toBe('AC-0001');
    expect(await issue()).toBe('AC-0002');
    // New drafts take the tenant's 14 days; explicit terms and due dates still win.
    expect((await draft()).paymentTermsDays).toBe(14);
    expect((await draft({ paymentTermsDays: 3 })).paymentTermsDays).toBe(3);
    const dated = await draft({ dueDate: '2026-06-01' });
    expect(dated).toMatchObject({ dueDate: '2026-06-01', paymentTermsDays: null });
    // Clearing a draft's due date returns it to the tenant's default terms.
    expect((await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: dated.id, dueDate: null } })).updateInvoice.invoice.paymentTermsDays).toBe(14);
    const finalized = (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: (await draft()).id } })).finalizeInvoice.invoice;
    expect(finalized).toMatchObject({ number: 'AC-0003', issueDate: '2026-05-04', dueDate: '2026-05-18' });
  });

  it('starts a new series for a new prefix, and continues an earlier prefix’s series without a gap or a repeat', async () => {
    await save({ ...ACME, numbering: { prefix: 'B', yearlyReset: false, padding: 4 } });
    expect(await issue()).toBe('B-0001');
    await save(ACME);
    expect(await issue()).toBe('AC-0004');
    // The default numbering again (INV, yearly): its 2026 series continues at 2.
    await save({ ...ACME, numbering: { prefix: 'INV', yearlyReset: true } });
    expect(await issue()).toBe('INV-2026-000002');
    // Prefix "INV-2026" without reset prints the same text: it is the same series, never a repeat.
    await save({ ...ACME, numbering: { prefix: 'INV-2026', yearlyReset: false } });
    expect(await issue()).toBe('INV-2026-000003');
    // A new year starts the yearly series at 1; the other series are untouched.
    await save({ ...ACME, numbering: { prefix: 'INV', yearlyReset: true, padding: 3 } });
    clock.set(new Date('2027-01-02T08:00:00Z'));
    try {
      expect(await issue()).toBe('INV-2027-001');
      await save(ACME);
      expect(await issue()).toBe('AC-0005');
    } finally {
      clock.set(START);
    }
    const series = await app.runtime.dataSource.query('SELECT series_key, next_value FROM invoice_number_sequences WHERE tenant_id = ? ORDER BY series_key', [app.tenantId]);
    expect(series.map((row: { series_key: string; next_value: unknown }) => [row.series_key, Number(row.next_value)])).toEqual([
      ['AC', 6],
      ['B', 2],
      ['INV-2026', 4],
      ['INV-2027', 2],
    ]);
  });

  it('refuses every bad field with VALIDATION_FAILED naming it, and changes nothing', async () => {
    await save(ACME);
    const before = await settingsRows();
    const cases: [Partial<UpdateInvoiceSettingsInput>, string][] = [
      [{ numbering: { prefix: 'inv' } }, 'numbering.prefix'],
      [{ numbering: { prefix: 'INV-' } }, 'numbering.prefix'],
      [{ numbering: { prefix: 'ABCDEFGHIJKLM' } }, 'numbering.prefix'],
      [{ numbering: { prefix: 'INV', padding: 0 } }, 'numbering.padding'],
      [{ numbering: { prefix: 'INV', padding: 13 } }, 'numbering.padding'],
      [{ defaultPaymentTermsDays: -1 }, 'defaultPaymentTermsDays'],
      [{ defaultPaymentTermsDays: 3651 }, 'defaultPaymentTermsDays'],
      [{ sellerName: '   ' }, 'sellerName'],
      [{ sellerName: 'x'.repeat(201) }, 'sellerName'],
      [{ sellerAddress: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] }, 'sellerAddress'],
      [{ sellerAddress: ['1 High Street', ' '] }, 'sellerAddress[1]'],
      [{ sellerTaxId: 'x'.repeat(65) }, 'sellerTaxId'],
      [{ footer: 'x'.repeat(1001) }, 'footer'],
    ];
    for (const [change, field] of cases) {
      const result = await app.client.request(UpdateInvoiceSettingsDocument, { input: { ...ACME, ...change } });
      expect({ field, error: result.errors?.[0]?.extensions }).toMatchObject({ field, error: { code: 'VALIDATION_FAILED', details: { field } } });
      expect(result.data?.updateInvoiceSettings ?? null).toBeNull();
    }
    expect(await settingsRows()).toEqual(before);
  });

  it('keeps each tenant’s settings and series apart, and needs invoices:read to read and invoices:write to change', async () => {
    expect((await other.client.ok(InvoiceSettingsDocument)).invoiceSettings).toMatchObject({ numbering: { prefix: 'INV' }, sellerName: 'Globex', updatedAt: null });
    const otherCustomer = (await other.client.ok(CreateCustomerDocument, { input: { name: 'Their customer' } })).createCustomer.customer.id;
    const theirs = (await other.client.ok(CreateInvoiceDocument, { input: { customerId: otherCustomer, currency: 'USD', lines: LINES } })).createInvoice.invoice;
    expect(theirs.paymentTermsDays).toBe(30);
    expect((await other.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: theirs.id } })).finalizeInvoice.invoice.number).toBe('INV-2026-000001');

    const before = await settingsRows();
    const keyWith = async (scopes: ('INVOICES_READ' | 'LEDGER_READ')[]) =>
      app.client.withKey((await app.client.ok(CreateApiKeyDocument, { input: { name: scopes.join(' '), scopes } })).createApiKey.secret);
    const reader = await keyWith(['INVOICES_READ']);
    const ledgerOnly = await keyWith(['LEDGER_READ']);
    expect((await reader.ok(InvoiceSettingsDocument)).invoiceSettings.sellerName).toBe('Acme Supplies Ltd');
    expect((await reader.request(UpdateInvoiceSettingsDocument, { input: ACME })).errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      details: { requiredScope: 'invoices:write' },
    });
    expect((await ledgerOnly.request(InvoiceSettingsDocument)).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:read' } });
    expect(await settingsRows()).toEqual(before);
  });
});

describeOnMysql('invoice settings: a prefix change while invoices are being finalised', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp('mysql', { clock: new TestClock(START) });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('numbers every invoice in one series or the other, each series consecutive from 1 with no repeat', async () => {
    const customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Concurrent Ltd' } })).createCustomer.customer.id;
    const drafts: string[] = [];
    for (let i = 0; i < 24; i += 1) drafts.push((await app.client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: LINES } })).createInvoice.invoice.id);
    const finalizing = drafts.map(async (invoiceId) => (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId } })).finalizeInvoice.invoice.number as string);
    await app.client.ok(UpdateInvoiceSettingsDocument, { input: { ...ACME, numbering: { prefix: 'NEW', yearlyReset: false } } });
    const numbers = await Promise.all(finalizing);
    expect(new Set(numbers).size).toBe(24);
    const series = (prefix: string) =>
      numbers
        .filter((number) => number.startsWith(prefix))
        .map((number) => Number(number.slice(prefix.length)))
        .sort((a, b) => a - b);
    const old = series('INV-2026-');
    const fresh = series('NEW-');
    expect(old.length + fresh.length).toBe(24);
    expect(old).toEqual(Array.from({ length: old.length }, (_, i) => i + 1));
    expect(fresh).toEqual(Array.from({ length: fresh.length }, (_, i) => i + 1));
  });

  it('takes ten first saves of a tenant at once: each succeeds, one row remains, holding one of them whole', async () => {
    const tenant = await app.createTenant('Fresh');
    const inputs = Array.from({ length: 10 }, (_, i) => ({ ...ACME, sellerName: `Seller ${i}`, numbering: { prefix: `P${i}`, yearlyReset: false } }));
    await Promise.all(inputs.map((input) => tenant.client.ok(UpdateInvoiceSettingsDocument, { input })));
    const rows = await app.runtime.dataSource.query('SELECT number_prefix, seller_name FROM invoice_settings WHERE tenant_id = ?', [tenant.tenantId]);
    expect(rows).toHaveLength(1);
    const index = Number(String(rows[0].number_prefix).slice(1));
    expect(rows[0].seller_name).toBe(`Seller ${index}`);
    expect((await tenant.client.ok(InvoiceSettingsDocument)).invoiceSettings).toMatchObject({ numbering: { prefix: `P${index}` }, sellerName: `Seller ${index}` });
  });
});
