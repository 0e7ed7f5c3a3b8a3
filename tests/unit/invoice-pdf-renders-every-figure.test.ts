import { renderInvoicePdf, toWinAnsi, type InvoicePdfLine, type InvoicePdfView } from '../../src/modules/invoicing/invoice-pdf';
import { expectEveryFigure, textLinesOf as lines } from '../helpers/invoice-pdf-figures';
import { describeWithPoppler, pdfPageCount, pdfPagesText } from '../helpers/pdf-text';

const LONG_DESCRIPTION =
  'Consulting, senior engineer: architecture review of the payments ledger, reconciliation of the three operating ' +
  'accounts, migration planning for the MariaDB cluster and a written report for the audit committee';

// Each view's figures add up the way the invoice arithmetic will compute them (per-line rounding, half up),
// so the PDFs read as real invoices; the renderer itself only prints them.
const USD_VIEW: InvoicePdfView = {
  seller: { name: 'Müller & Søn Consulting LLC', addressLines: ['350 Fifth Avenue, Suite 4100', 'New York, NY 10118'], taxId: 'EIN 12-3456789' },
  customer: { name: 'Acme Widgets Inc.', addressLines: ['1 Infinite Loop', 'Cupertino, CA 95014'], email: 'ap@acme.example' },
  number: 'INV-2026-000042',
  status: 'OPEN',
  issueDate: '2026-12-01',
  dueDate: '2026-12-31',
  currency: 'USD',
  lines: [
    // 12.5 × 150.00 = 1875.00; 8.875 % on top = 166.40625 → 166.41.
    { description: LONG_DESCRIPTION, quantity: '12.5', unitPrice: 15000n, taxRate: '8.875', taxInclusive: false, net: 187500n, tax: 16641n, total: 204141n },
    // 49.99 less 5.00 = 44.99; 8.875 % = 3.99286 → 3.99.
    { description: 'Hosting, monthly', quantity: '1', unitPrice: 4999n, discount: 500n, taxRate: '8.875', taxInclusive: false, net: 4499n, tax: 399n, total: 4898n },
    // 3 × 120.00 = 360.00 including 20 %: tax 60.00, net 300.00.
    { description: 'Workshop tickets', quantity: '3', unitPrice: 12000n, taxRate: '20', taxInclusive: true, net: 30000n, tax: 6000n, total: 36000n },
  ],
  subtotal: 222499n,
  discounts: 500n,
  taxes: [
    { rate: '8.875', taxable: 191999n, tax: 17040n },
    { rate: '20', taxable: 30000n, tax: 6000n },
  ],
  total: 245039n,
  amountPaid: 100000n,
  amountDue: 145039n,
  memo: 'Wire transfers only.',
};

const KWD_VIEW: InvoicePdfView = {
  seller: { name: 'Gulf Freight Company K.S.C.', addressLines: ['Block 3, Street 14', 'Shuwaikh Industrial, Kuwait'] },
  customer: { name: 'Łódź Trading Sp. z o.o.', addressLines: ['ul. Piotrkowska 104', '90-926 Łódź, Poland'], taxId: 'PL7251801126' },
  number: 'GF-2026-000007',
  status: 'OPEN',
  issueDate: '2026-11-15',
  dueDate: '2026-12-15',
  currency: 'KWD',
  lines: [
    // 2 × 1250.500 = 2501.000; 5 % on top = 125.050.
    { description: 'Container lease, 40 ft', quantity: '2', unitPrice: 1250500n, taxRate: '5', taxInclusive: false, net: 2501000n, tax: 125050n, total: 2626050n },
    // 0.75 × 86.125 = 64.59375 → 64.594 including 5 %: tax 3.07590 → 3.076, net 61.518.
    { description: 'Customs brokerage', quantity: '0.75', unitPrice: 86125n, taxRate: '5', taxInclusive: true, net: 61518n, tax: 3076n, total: 64594n },
  ],
  subtotal: 2562518n,
  discounts: 0n,
  taxes: [{ rate: '5', taxable: 2562518n, tax: 128126n }],
  total: 2690644n,
  amountPaid: 0n,
  amountDue: 2690644n,
};

const JPY_VIEW: InvoicePdfView = {
  seller: { name: 'Reckon Demo KK', addressLines: ['1-1 Marunouchi, Chiyoda-ku', 'Tokyo 100-0005'], taxId: 'T1234567890123' },
  customer: { name: '株式会社テスト', addressLines: ['東京都港区1-2-3'], email: 'keiri@test.example' },
  number: 'INV-2026-000043',
  status: 'PAID',
  issueDate: '2026-10-01',
  dueDate: '2026-10-31',
  currency: 'JPY',
  lines: [
    // 7 × 3300 = 23100 including 10 %: tax 2100, net 21000.
    { description: 'Translation, per page', quantity: '7', unitPrice: 3300n, taxRate: '10', taxInclusive: true, net: 21000n, tax: 2100n, total: 23100n },
    // 1.5 × 1999 = 2998.5 → 2999, less 299 = 2700; 8 % on top = 216.
    { description: 'Express surcharge', quantity: '1.5', unitPrice: 1999n, discount: 299n, taxRate: '8', taxInclusive: false, net: 2700n, tax: 216n, total: 2916n },
  ],
  subtotal: 23999n,
  discounts: 299n,
  taxes: [
    { rate: '10', taxable: 21000n, tax: 2100n },
    { rate: '8', taxable: 2700n, tax: 216n },
  ],
  total: 26016n,
  amountPaid: 26016n,
  amountDue: 0n,
  memo: 'Payable in € or ₹ on request.',
};

function manyLinesView(count: number): InvoicePdfView {
  const lines: InvoicePdfLine[] = Array.from({ length: count }, (_, index) => ({
    description: `Support ticket batch #${String(index + 1).padStart(3, '0')}`,
    quantity: '1',
    unitPrice: 1000n + BigInt(index),
    taxRate: '0',
    taxInclusive: false,
    net: 1000n + BigInt(index),
    tax: 0n,
    total: 1000n + BigInt(index),
  }));
  const sum = lines.reduce((total, line) => total + line.total, 0n);
  return {
    ...USD_VIEW,
    number: 'INV-2026-000099',
    lines,
    subtotal: sum,
    discounts: 0n,
    taxes: [{ rate: '0', taxable: sum, tax: 0n }],
    total: sum,
    amountPaid: 0n,
    amountDue: sum,
  };
}

describe('toWinAnsi keeps what standard PDF fonts can draw and replaces the rest', () => {
  it('keeps Latin-1 and the WinAnsi extras such as the euro sign and typographic quotes', () => {
    expect(toWinAnsi('Müller & Søn – “Café” € 5 ™ Œuvre')).toBe('Müller & Søn – “Café” € 5 ™ Œuvre');
  });

  it('decomposes what it can and prints "?" for the rest, one per character', () => {
    expect(toWinAnsi('Łódź Győr ﬁnance Ｔokyo')).toBe('?ódz Gyor finance Tokyo');
    expect(toWinAnsi('株式会社テスト')).toBe('???????');
    expect(toWinAnsi('₹ 100 😀')).toBe('? 100 ?');
  });

  it('keeps line breaks and turns other control characters into spaces', () => {
    expect(toWinAnsi('a\tb\r\nc\u0085d')).toBe('a b \nc d');
  });
});

describe('renderInvoicePdf output is a function of the view', () => {
  it('renders the same view to identical bytes, and a changed figure to different bytes', async () => {
    const first = await renderInvoicePdf(USD_VIEW);
    const second = await renderInvoicePdf(USD_VIEW);
    expect(first.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(first.equals(second)).toBe(true);
    const changed = await renderInvoicePdf({ ...USD_VIEW, amountDue: USD_VIEW.amountDue + 1n });
    expect(changed.equals(first)).toBe(false);
  });

  it('refuses a date that is not a calendar day instead of stamping a wrong one', async () => {
    await expect(renderInvoicePdf({ ...USD_VIEW, issueDate: '2026-02-30' })).rejects.toThrow(/issueDate "2026-02-30"/);
    await expect(renderInvoicePdf({ ...USD_VIEW, dueDate: '31/12/2026' })).rejects.toThrow(/dueDate/);
  });
});

describeWithPoppler('invoice PDF text, as pdftotext extracts it', () => {
  it.each([
    ['USD, 2 decimals, a discount, inclusive and exclusive tax', USD_VIEW],
    ['KWD, 3 decimals, no discount', KWD_VIEW],
    ['JPY, no decimals, a Japanese customer name', JPY_VIEW],
  ])('shows every figure of an invoice in %s', async (_name, view) => {
    const pdf = await renderInvoicePdf(view);
    const pages = pdfPagesText(pdf);
    expect(pages).toHaveLength(1);
    expect(pdfPageCount(pdf)).toBe(1);
    expectEveryFigure(view, pages);
    expect(pages[0]).toMatch(/Page 1 of 1\s*$/);
  });

  it('prints what credit notes took off, what was written off or voided, each only when not zero, above the amount due', async () => {
    const settled: InvoicePdfView = { ...USD_VIEW, amountCredited: 10000n, amountPaid: 50000n, amountWrittenOff: 12345n, amountDue: USD_VIEW.total - 10000n - 50000n - 12345n };
    const pages = pdfPagesText(await renderInvoicePdf(settled));
    expectEveryFigure(settled, pages);
    const totals = lines(pages).filter((line) => /^\s*(Total \(USD\)|Credit notes|Amount paid|Written off|Amount due)/.test(line)).map((line) => line.trim().split(/\s{2,}/)[0]);
    expect(totals).toEqual(['Total (USD)', 'Credit notes', 'Amount paid', 'Written off', 'Amount due (USD)']);
    const voided: InvoicePdfView = { ...USD_VIEW, status: 'VOID', amountPaid: 0n, amountVoided: USD_VIEW.total, amountDue: 0n };
    expectEveryFigure(voided, pdfPagesText(await renderInvoicePdf(voided)));
  });

  it('wraps a long description inside its column, keeping its figures on the first line', async () => {
    const textLines = lines(pdfPagesText(await renderInvoicePdf(USD_VIEW)));
    const first = textLines.findIndex((line) => line.trimStart().startsWith('Consulting, senior engineer:'));
    expect(first).toBeGreaterThan(0);
    // In -layout output the description is the leftmost column: its text ends where a wide gap begins.
    const fragments: string[] = [];
    for (let index = first; fragments.join(' ').length < LONG_DESCRIPTION.length; index += 1) {
      fragments.push(textLines[index].trim().split(/\s{2,}/)[0]);
    }
    expect(fragments.length).toBeGreaterThan(1);
    expect(fragments.join(' ')).toBe(LONG_DESCRIPTION);
    expect(textLines[first]).toMatch(/\s2041\.41\s*$/);
  });

  it('prints "?" for characters the standard font cannot draw, and the euro sign as is', async () => {
    const jpy = pdfPagesText(await renderInvoicePdf(JPY_VIEW)).join('\n');
    expect(jpy).toMatch(/^\?{7}$/m);
    expect(jpy).toContain('Payable in € or ? on request.');
    const kwd = pdfPagesText(await renderInvoicePdf(KWD_VIEW)).join('\n');
    expect(kwd).toContain('?ódz Trading Sp. z o.o.');
  });

  it('pages 120 lines with the table header repeated, every description once and "Page n of m" on each page', async () => {
    const view = manyLinesView(120);
    const pdf = await renderInvoicePdf(view);
    const pages = pdfPagesText(pdf);
    const pageCount = pdfPageCount(pdf);
    expect(pages).toHaveLength(pageCount);
    expect(pageCount).toBeGreaterThanOrEqual(3);

    const text = pages.join('\n');
    for (const line of view.lines) {
      expect(text.split(line.description)).toHaveLength(2);
    }
    const rowsPerPage = pages.map((page) => (page.match(/Support ticket batch #\d{3}/g) ?? []).length);
    pages.forEach((page, index) => {
      expect(page).toMatch(new RegExp(`Page ${index + 1} of ${pageCount}\\s*$`));
      if (rowsPerPage[index] > 0) expect(page).toMatch(/^Description\s+Qty\s+Unit price\s+Tax rate\s+Net\s+Tax\s+Total\s*$/m);
      if (index > 0) expect(page).toMatch(/^Invoice INV-2026-000099 \(continued\)/);
    });
    // Rows are in order, and a page only breaks when it is full: every page between the first and the
    // last holds as many rows as the next full page, the last no more.
    const order = (text.match(/Support ticket batch #(\d{3})/g) ?? []).map((match) => Number(match.slice(-3)));
    expect(order).toEqual(view.lines.map((_, index) => index + 1));
    const middle = rowsPerPage.slice(1, -1);
    expect(new Set(middle).size).toBeLessThanOrEqual(1);
    expect(rowsPerPage[rowsPerPage.length - 1]).toBeLessThanOrEqual(Math.max(...rowsPerPage.slice(1)));
    expectEveryFigure(view, pages);
  });
});
