import { newId } from '../../src/common/ids';
import type { InvoicePdfView } from '../../src/modules/invoicing/invoice-pdf';
import { DRAFT_NOTE } from '../../src/modules/invoicing/invoice-pdf.service';
import {
  CreateApiKeyDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  type CreateInvoiceInput,
  FinalizeInvoiceDocument,
  InvoiceDocument,
  type InvoiceFieldsFragment,
  UpdateInvoiceSettingsDocument,
  type UpdateInvoiceSettingsInput,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { expectEveryFigure, expectTotalsRow, textLinesOf } from '../helpers/invoice-pdf-figures';
import { describeWithPoppler, pdfPageCount, pdfPagesText } from '../helpers/pdf-text';
import { TestClock } from '../helpers/test-clock';
import { INVOICE_TEST_START as START, type InvoiceLineInput as Line, USD_LINES, JPY_LINES, KWD_LINES } from '../helpers/invoice-fixtures';

/**
 * GET /invoices/:id/pdf through real HTTP: the PDF of a stored invoice, read back with pdftotext, shows
 * the seller (the tenant's invoice settings), the customer (decrypted), number, dates, every line, tax
 * per rate, totals, what was paid, credited, written off or voided, and the amount due, in USD, JPY and
 * KWD; a draft is marked DRAFT and has no number. Refusals: no or a bad key 401, no invoices:read 403,
 * another tenant's invoice 404 like a missing one, a malformed id 400.
 */

const SELLER: UpdateInvoiceSettingsInput = {
  numbering: { prefix: 'INV', yearlyReset: true },
  sellerName: 'Müller & Søn Consulting GmbH',
  sellerAddress: ['Unter den Linden 5', '10117 Berlin', 'Germany'],
  sellerTaxId: 'DE999999999',
  footer: 'IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX',
};
const CUSTOMER = {
  name: 'Acme Trading GmbH',
  email: 'billing@acme.example',
  taxId: 'DE813495425',
  address: { line1: 'Friedrichstraße 123', line2: 'c/o Accounts', city: 'Berlin', postalCode: '10117', country: 'de' },
};
const CUSTOMER_LINES = ['Friedrichstraße 123', 'c/o Accounts', '10117 Berlin', 'Germany'];

describeWithPoppler('GET /invoices/:id/pdf', () => {
  describeEachDatabase('invoice PDFs served to their own tenant, with every figure', (kind) => {
    let app: TestApp;
    let other: TestTenant;
    let customerId: string;
    const clock = new TestClock(START);

    const pdfUrl = (invoiceId: string) => app.url.replace(/\/graphql$/, `/invoices/${encodeURIComponent(invoiceId)}/pdf`);
    const get = (invoiceId: string, apiKey: string | null) => fetch(pdfUrl(invoiceId), { headers: apiKey === null ? {} : { authorization: `Bearer ${apiKey}` } });
    const pdfOf = async (invoiceId: string) => {
      const response = await get(invoiceId, app.apiKey);
      expect(response.status).toBe(200);
      return { response, pdf: Buffer.from(await response.arrayBuffer()) };
    };
    const invoiceOf = async (invoiceId: string) => (await app.client.ok(InvoiceDocument, { id: invoiceId })).invoice;
    const create = async (currency: string, lines: Line[], extra: Partial<CreateInvoiceInput> = {}) =>
      (await app.client.ok(CreateInvoiceDocument, { input: { customerId, currency, lines, ...extra } })).createInvoice.invoice;
    const finalize = async (invoiceId: string) => (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId } })).finalizeInvoice.invoice;

    /** What the PDF must show, from the invoice as the GraphQL API reads it (a path apart from the PDF's own). */
    const expectedView = (invoice: InvoiceFieldsFragment, overrides: Partial<InvoicePdfView> = {}): InvoicePdfView => ({
      seller: { name: SELLER.sellerName, addressLines: SELLER.sellerAddress ?? [], taxId: SELLER.sellerTaxId },
      customer: { name: CUSTOMER.name, addressLines: CUSTOMER_LINES, taxId: CUSTOMER.taxId, email: CUSTOMER.email },
      number: invoice.number ?? null,
      status: invoice.status,
      issueDate: invoice.issueDate as string,
      dueDate: invoice.dueDate as string,
      currency: invoice.currency,
      lines: invoice.lines.map((line) => ({
        description: line.description,
        quantity: line.quantity,
        unitPrice: BigInt(line.unitPrice.minorUnits),
        discount: BigInt(line.discount.minorUnits),
        taxRate: line.taxRate,
        taxInclusive: line.taxBehaviour === 'INCLUSIVE',
        net: BigInt(line.net.minorUnits),
        tax: BigInt(line.tax.minorUnits),
        total: BigInt(line.total.minorUnits),
      })),
      subtotal: BigInt(invoice.subtotal.minorUnits),
      discounts: BigInt(invoice.discountTotal.minorUnits),
      taxes: invoice.taxByRate.map((group) => ({ rate: group.rate, taxable: BigInt(group.taxable.minorUnits), tax: BigInt(group.tax.minorUnits) })),
      total: BigInt(invoice.total.minorUnits),
      amountPaid: BigInt(invoice.amountPaid.minorUnits),
      amountDue: BigInt(invoice.amountRemaining.minorUnits),
      ...overrides,
    });

    /** The parties' details, each on a text line of its own (pdftotext -layout keeps the columns apart). */
    const expectParties = (pages: string[]) => {
      const text = pages.join('\n');
      for (const line of [SELLER.sellerName, ...(SELLER.sellerAddress ?? []), `Tax ID: ${SELLER.sellerTaxId}`, CUSTOMER.name, ...CUSTOMER_LINES, `Tax ID: ${CUSTOMER.taxId}`, CUSTOMER.email]) {
        expect(text).toMatch(new RegExp(`(^|\\s{2})${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s{2}|$)`, 'm'));
      }
      expect(text).toContain(SELLER.footer);
    };

    beforeAll(async () => {
      app = await startTestApp(kind, { clock });
      other = await app.createTenant('Globex');
      await app.client.ok(UpdateInvoiceSettingsDocument, { input: SELLER });
      customerId = (await app.client.ok(CreateCustomerDocument, { input: CUSTOMER })).createCustomer.customer.id;
    });
    afterAll(async () => {
      await app?.close();
    });

    it('serves a finalised USD invoice: headers for a private download, and every figure, party and date in its text', async () => {
      const invoice = await finalize((await create('USD', USD_LINES, { memo: 'Thank you for your order.' })).id);
      const { response, pdf } = await pdfOf(invoice.id);
      expect(response.headers.get('content-type')).toBe('application/pdf');
      expect(response.headers.get('content-disposition')).toBe('inline; filename="INV-2026-000001.pdf"');
      expect(response.headers.get('cache-control')).toBe('private, no-store');
      expect(Number(response.headers.get('content-length'))).toBe(pdf.length);
      expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      expect(pdfPageCount(pdf)).toBe(1);
      const pages = pdfPagesText(pdf);
      expectEveryFigure(expectedView(invoice), pages);
      expectParties(pages);
      // The figures themselves, independently of the API: they must be what the invoice arithmetic says.
      expect(pages[0]).toMatch(/Number:\s+INV-2026-000001\s*$/m);
      expect(pages[0]).toMatch(/Issue date:\s+2026-03-10\s*$/m);
      expect(pages[0]).toMatch(/Due date:\s+2026-04-09\s*$/m);
      expect(pages[0]).toMatch(/\sConsulting\s+3\s+33\.33\s+19%\s+99\.99\s+19\.00\s+118\.99\s*$/m);
      expect(pages[0]).toMatch(/\sLicence\s+1\s+119\.00\s+19% incl\.\s+100\.00\s+19\.00\s+119\.00\s*$/m);
      expect(pages[0]).toMatch(/\sSupport hours\s+1\.5\s+10\.01\s+1\.50\s+7\.7%\s+13\.52\s+1\.04\s+14\.56\s*$/m);
      expectTotalsRow(pages, 'Subtotal', '213.51');
      expectTotalsRow(pages, 'Discounts', '-1.50');
      expectTotalsRow(pages, 'Tax 7.7% on 13.52', '1.04');
      expectTotalsRow(pages, 'Tax 19% on 199.99', '38.00');
      expectTotalsRow(pages, 'Total (USD)', '252.55');
      expectTotalsRow(pages, 'Amount paid', '0.00');
      expectTotalsRow(pages, 'Amount due (USD)', '252.55');
      expect(pages[0]).toContain('Thank you for your order.');
      expect(pages[0]).not.toContain('DRAFT');
      // The same invoice gives the same bytes.
      expect((await pdfOf(invoice.id)).pdf.equals(pdf)).toBe(true);
    });

    it('serves JPY without decimals and KWD with three, each with its own figures', async () => {
      const jpy = await finalize((await create('JPY', JPY_LINES, { dueDate: '2026-03-31' })).id);
      const jpyPages = pdfPagesText((await pdfOf(jpy.id)).pdf);
      expectEveryFigure(expectedView(jpy), jpyPages);
      expectParties(jpyPages);
      expectTotalsRow(jpyPages, 'Tax 8% on 1019', '81');
      expectTotalsRow(jpyPages, 'Tax 10% on 999', '100');
      expectTotalsRow(jpyPages, 'Total (JPY)', '2199');
      expectTotalsRow(jpyPages, 'Amount due (JPY)', '2199');

      const kwd = await finalize((await create('KWD', KWD_LINES, { paymentTermsDays: 0 })).id);
      const kwdPages = pdfPagesText((await pdfOf(kwd.id)).pdf);
      expectEveryFigure(expectedView(kwd), kwdPages);
      expect(kwdPages[0]).toMatch(/\sCable\s+2\.5\s+1\.234\s+0\.085\s+5%\s+3\.000\s+0\.150\s+3\.150\s*$/m);
      expect(kwdPages[0]).toMatch(/\sShare\s+0\.333333\s+10\.000\s+0%\s+3\.333\s+0\.000\s+3\.333\s*$/m);
      expectTotalsRow(kwdPages, 'Tax 0% on 3.333', '0.000');
      expectTotalsRow(kwdPages, 'Tax 5% on 3.000', '0.150');
      expectTotalsRow(kwdPages, 'Total (KWD)', '6.483');
      expectTotalsRow(kwdPages, 'Amount due (KWD)', '6.483');
      expect(kwdPages[0]).toMatch(/Due date:\s+2026-03-10\s*$/m);
    });

    it('marks a draft DRAFT, without a number, its dates previewed as finalising today would set them', async () => {
      const draft = await create('USD', USD_LINES, { paymentTermsDays: 14 });
      const { response, pdf } = await pdfOf(draft.id);
      expect(response.headers.get('content-disposition')).toBe(`inline; filename="draft-${draft.id}.pdf"`);
      const pages = pdfPagesText(pdf);
      expect(pages[0]).toMatch(/^\s*.*DRAFT INVOICE\s*$/m);
      expect(pages[0]).toMatch(/Status:\s+Draft\s*$/m);
      expectEveryFigure(expectedView(draft, { number: null, issueDate: '2026-03-10', dueDate: '2026-03-24' }), pages);
      expect(pages[0]).toContain(DRAFT_NOTE.slice(0, 40));
      expect(pages[0]).not.toMatch(/INV-\d{4}-\d+/);
      expect((await invoiceOf(draft.id)).status).toBe('DRAFT');
    });

    it('prints what was paid, credited and written off, and a voided invoice as owing nothing', async () => {
      // Payments, credit notes, write-offs and void are other parts of the invoicing module; the PDF
      // prints the invoice's stored columns, which those steps keep, so the test sets them directly.
      const invoice = await finalize((await create('USD', USD_LINES)).id);
      await app.runtime.dataSource.query('UPDATE invoices SET amount_paid_minor = 10000, amount_credited_minor = 2500, amount_written_off_minor = 755 WHERE id = ?', [invoice.id]);
      const settled = await invoiceOf(invoice.id);
      expect(settled.amountRemaining.minorUnits).toBe('12000');
      const pages = pdfPagesText((await pdfOf(invoice.id)).pdf);
      expectEveryFigure(expectedView(settled, { amountCredited: 2500n, amountWrittenOff: 755n }), pages);
      expectTotalsRow(pages, 'Credit notes', '25.00');
      expectTotalsRow(pages, 'Amount paid', '100.00');
      expectTotalsRow(pages, 'Written off', '7.55');
      expectTotalsRow(pages, 'Amount due (USD)', '120.00');

      const voided = await finalize((await create('USD', USD_LINES)).id);
      await app.runtime.dataSource.query("UPDATE invoices SET status = 'VOID' WHERE id = ?", [voided.id]);
      const voidPages = pdfPagesText((await pdfOf(voided.id)).pdf);
      expect(voidPages[0]).toMatch(/Status:\s+Void\s*$/m);
      expectEveryFigure(expectedView(await invoiceOf(voided.id), { amountVoided: 25255n, amountDue: 0n }), voidPages);
      expectTotalsRow(voidPages, 'Voided', '252.55');
      expectTotalsRow(voidPages, 'Amount due (USD)', '0.00');
      expect(textLinesOf(voidPages).some((line) => /^\s*Credit notes\s/.test(line))).toBe(false);
    });

    it('refuses without a key or with a bad one (401), without invoices:read (403), another tenant’s or a missing invoice (404 alike), a malformed id (400)', async () => {
      const invoice = await finalize((await create('USD', USD_LINES)).id);
      const refusal = async (response: Response) => ({
        status: response.status,
        cacheControl: response.headers.get('cache-control'),
        contentType: response.headers.get('content-type'),
        error: ((await response.json()) as { error: { code: string; details?: Record<string, unknown>; requestId?: string } }).error,
      });

      const anonymous = await refusal(await get(invoice.id, null));
      expect(anonymous).toMatchObject({ status: 401, cacheControl: 'no-store', error: { code: 'UNAUTHENTICATED' } });
      expect(anonymous.contentType).toMatch(/^application\/json/);
      expect((await get(invoice.id, null)).headers.get('www-authenticate')).toBe('Bearer realm="reckon"');
      const badKey = await get(invoice.id, 'rk_live_not-a-real-key');
      expect(badKey.headers.get('www-authenticate')).toMatch(/^Bearer realm="reckon", error="invalid_token"/);
      expect(await refusal(badKey)).toMatchObject({ status: 401, error: { code: 'UNAUTHENTICATED' } });

      const ledgerOnly = (await app.client.ok(CreateApiKeyDocument, { input: { name: 'ledger only', scopes: ['LEDGER_READ'] } })).createApiKey.secret;
      const unscoped = await get(invoice.id, ledgerOnly);
      expect(unscoped.headers.get('www-authenticate')).toMatch(/^Bearer realm="reckon", error="insufficient_scope", .*scope="invoices:read"$/);
      expect(await refusal(unscoped)).toMatchObject({ status: 403, error: { code: 'FORBIDDEN', details: { requiredScope: 'invoices:read' } } });
      const reader = (await app.client.ok(CreateApiKeyDocument, { input: { name: 'reader', scopes: ['INVOICES_READ'] } })).createApiKey.secret;
      expect((await get(invoice.id, reader)).status).toBe(200);

      const missing = newId('invoice');
      const theirs = await refusal(await get(invoice.id, other.apiKey));
      const absent = await refusal(await get(missing, other.apiKey));
      expect(theirs).toMatchObject({ status: 404, error: { code: 'NOT_FOUND', details: { id: invoice.id } } });
      // Another tenant's invoice reads exactly like one that does not exist: only the echoed id differs.
      const withoutId = (answer: typeof theirs, id: string) => JSON.parse(JSON.stringify({ ...answer, error: { ...answer.error, requestId: undefined } }).replaceAll(id, '<id>'));
      expect(withoutId(theirs, invoice.id)).toEqual(withoutId(absent, missing));

      for (const bad of ['not-an-id', customerId, 'inv_%27%20OR%201%3D1']) {
        expect(await refusal(await get(bad, app.apiKey))).toMatchObject({ status: 400, error: { code: 'VALIDATION_FAILED' } });
      }
      // Refusals never hand out a PDF, nor change the invoice.
      expect(await invoiceOf(invoice.id)).toEqual(invoice);
    });
  });
});
