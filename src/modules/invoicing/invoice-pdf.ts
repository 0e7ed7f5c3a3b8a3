import type PDFDocumentClass from 'pdfkit';

/**
 * pdfkit, loaded when the first PDF is rendered: it takes a fifth of a second to load, which every
 * process start (each API worker, each CLI command, each test file) would pay for a PDF it may never make.
 */
let pdfDocumentClass: typeof PDFDocumentClass | undefined;
function loadPdfDocumentClass(): typeof PDFDocumentClass {
  if (!pdfDocumentClass) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load, see above
    const loaded = require('pdfkit') as typeof PDFDocumentClass & { default?: typeof PDFDocumentClass };
    pdfDocumentClass = loaded.default ?? loaded;
  }
  return pdfDocumentClass;
}
import { formatMinorAsDecimal } from '../../common/money';

/**
 * Renders an invoice as a PDF from a view model, without touching the database: the route
 * `GET /invoices/:id/pdf` loads the invoice, fills an InvoicePdfView and streams the bytes.
 *
 * - Figures are printed as given, never derived from one another: the invoice arithmetic owns the sums.
 *   Amounts arrive as bigint minor units and are formatted here, all with formatMinorAsDecimal, so
 *   every amount on the page has exactly the currency's decimals (USD 2, KWD 3, JPY 0).
 * - The text uses Helvetica, one of the PDF standard fonts every reader has, so nothing is bundled or
 *   embedded. Those fonts only draw WinAnsi (Windows-1252) text: every other character is first
 *   decomposed (ő → o, ﬁ → fi, full-width Ｔ → T) and, failing that, printed as "?" (see toWinAnsi).
 *   Japanese names therefore come out as "????": lifting that means bundling a Unicode TTF.
 * - The same view gives the same bytes: the document dates are the issue date, not the render time.
 * - The line table wraps long descriptions, continues on new pages with its header repeated, and
 *   every page ends with "Page n of m".
 */

export type InvoicePdfStatus = 'DRAFT' | 'OPEN' | 'PAID' | 'VOID' | 'UNCOLLECTIBLE';

export interface InvoicePdfSeller {
  name: string;
  addressLines: readonly string[];
  taxId?: string | null;
}

export interface InvoicePdfCustomer extends InvoicePdfSeller {
  email?: string | null;
}

export interface InvoicePdfLine {
  description: string;
  /** A decimal string as stored ("1.5"), printed as is. */
  quantity: string;
  unitPrice: bigint;
  /** Discount taken off this line, in minor units; absent or zero prints nothing. */
  discount?: bigint | null;
  /** Percent as a decimal string ("8.875" for 8.875 %). */
  taxRate: string;
  /** Whether unitPrice already includes the tax (printed as "incl." beside the rate). */
  taxInclusive: boolean;
  net: bigint;
  tax: bigint;
  total: bigint;
}

/** The tax of every line at one rate, on the net amount of those lines. */
export interface InvoicePdfTaxGroup {
  rate: string;
  taxable: bigint;
  tax: bigint;
}

export interface InvoicePdfView {
  seller: InvoicePdfSeller;
  customer: InvoicePdfCustomer;
  /** Null while the invoice is a draft: numbers are assigned when it is finalized. */
  number: string | null;
  status: InvoicePdfStatus;
  /** Calendar dates, YYYY-MM-DD. */
  issueDate: string;
  dueDate: string;
  /** ISO 4217 code; every amount below is in its minor units. */
  currency: string;
  lines: readonly InvoicePdfLine[];
  subtotal: bigint;
  /** Sum of the line discounts; the row is left out when zero. */
  discounts: bigint;
  taxes: readonly InvoicePdfTaxGroup[];
  total: bigint;
  /** Taken off the total by credit notes; the row is left out when absent or zero. */
  amountCredited?: bigint | null;
  amountPaid: bigint;
  /** Written off as bad debt; the row is left out when absent or zero. */
  amountWrittenOff?: bigint | null;
  /** Cancelled by voiding the invoice; the row is left out when absent or zero. */
  amountVoided?: bigint | null;
  /** What is still to be paid (the API's amountRemaining): total − credited − paid − written off − voided. */
  amountDue: bigint;
  memo?: string | null;
  footer?: string | null;
}

// ---------------------------------------------------------------------------------------------------
// WinAnsi

/** Unicode code points outside Latin-1 that WinAnsi has a glyph for (its 0x80–0x9F block). */
const WIN_ANSI_EXTRAS = new Set([
  0x20ac, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x017d,
  0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x017e, 0x0178,
]);

function isWinAnsi(codePoint: number): boolean {
  return (codePoint >= 0x20 && codePoint <= 0x7e) || (codePoint >= 0xa0 && codePoint <= 0xff) || WIN_ANSI_EXTRAS.has(codePoint);
}

const COMBINING_MARK = /^\p{M}$/u;

/**
 * Makes text drawable with a standard PDF font. Characters WinAnsi lacks would otherwise be written as
 * broken glyph codes (pdfkit does not refuse them), so each is replaced by its compatibility
 * decomposition when that is drawable once combining marks are dropped, and by "?" otherwise.
 * Line breaks survive; other control characters become spaces.
 */
export function toWinAnsi(text: string): string {
  let out = '';
  for (const char of text.normalize('NFC')) {
    const codePoint = char.codePointAt(0) as number;
    if (char === '\n') out += '\n';
    else if (codePoint < 0x20 || (codePoint >= 0x7f && codePoint < 0xa0)) out += ' ';
    else if (isWinAnsi(codePoint)) out += char;
    else {
      const decomposed = [...char.normalize('NFKD')].filter((part) => !COMBINING_MARK.test(part));
      const drawable = decomposed.length > 0 && decomposed.every((part) => isWinAnsi(part.codePointAt(0) as number));
      out += drawable ? decomposed.join('') : '?';
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Layout

const PAGE_MARGIN = 50;
/** Room kept at the bottom of every page for the "Page n of m" line. */
const FOOTER_HEIGHT = 24;
const TABLE_FONT_SIZE = 8.5;
const TABLE_MIN_FONT_SIZE = 6;
/** Below this the description column is too narrow to read; the table font shrinks instead. */
const MIN_DESCRIPTION_WIDTH = 150;
const COLUMN_GAP = 10;
const REGULAR = 'Helvetica';
const BOLD = 'Helvetica-Bold';

const STATUS_LABEL: Record<InvoicePdfStatus, string> = {
  DRAFT: 'Draft',
  OPEN: 'Open',
  PAID: 'Paid',
  VOID: 'Void',
  UNCOLLECTIBLE: 'Uncollectible',
};

interface NumericColumn {
  header: string;
  cell: (line: InvoicePdfLine) => string;
  width: number;
}

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

function parseCalendarDate(value: string, field: string): Date {
  const match = DATE_PATTERN.exec(value);
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
  if (!date || date.toISOString().slice(0, 10) !== value) {
    throw new RangeError(`Invoice PDF: ${field} "${value}" is not a calendar date (YYYY-MM-DD)`);
  }
  return date;
}

export function renderInvoicePdf(view: InvoicePdfView): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    try {
      const issued = parseCalendarDate(view.issueDate, 'issueDate');
      parseCalendarDate(view.dueDate, 'dueDate');
      const money = (minor: bigint): string => formatMinorAsDecimal(minor, view.currency);
      const title = view.number ? `Invoice ${view.number}` : 'Draft invoice';
      const PDFDocument = loadPdfDocumentClass();
      const doc = new PDFDocument({
        size: 'A4',
        margins: { top: PAGE_MARGIN, bottom: PAGE_MARGIN + FOOTER_HEIGHT, left: PAGE_MARGIN, right: PAGE_MARGIN },
        bufferPages: true,
        // Fixed dates make the file (and its trailer ID, a hash of these entries) a function of the view.
        info: { Title: title, Author: view.seller.name, Creator: 'Reckon', Producer: 'Reckon', CreationDate: issued, ModDate: issued },
      });
      const chunks: Buffer[] = [];
      doc.on('data', (chunk: Buffer) => chunks.push(chunk));
      doc.on('end', () => resolve(Buffer.concat(chunks)));
      doc.on('error', reject);
      new InvoiceLayout(doc, view, money, title).draw();
      doc.end();
    } catch (error) {
      reject(error);
    }
  });
}

class InvoiceLayout {
  private readonly left: number;
  private readonly right: number;
  private readonly bottom: number;
  private y: number;

  constructor(
    private readonly doc: PDFKit.PDFDocument,
    private readonly view: InvoicePdfView,
    private readonly money: (minor: bigint) => string,
    private readonly title: string,
  ) {
    this.left = doc.page.margins.left;
    this.right = doc.page.width - doc.page.margins.right;
    this.bottom = doc.page.height - doc.page.margins.bottom;
    this.y = doc.page.margins.top;
  }

  draw(): void {
    this.drawHeader();
    this.drawTable();
    this.drawTotals();
    if (this.view.memo) this.drawNote('Memo', this.view.memo);
    if (this.view.footer) this.drawNote(null, this.view.footer);
    this.numberPages();
  }

  // --- primitives ---------------------------------------------------------------------------------

  /** Draws one line of text at an exact position; pdfkit's own wrapping and page breaks stay out of it. */
  private put(text: string, x: number, y: number, font = REGULAR, size = 9): void {
    this.doc.font(font).fontSize(size).text(text, x, y, { lineBreak: false });
  }

  private putRight(text: string, rightEdge: number, y: number, font = REGULAR, size = 9): void {
    this.doc.font(font).fontSize(size);
    this.put(text, rightEdge - this.doc.widthOfString(text), y, font, size);
  }

  private lineHeight(font: string, size: number): number {
    return this.doc.font(font).fontSize(size).currentLineHeight(true);
  }

  /** Greedy word wrap on the sanitized text; words wider than the column are cut where they overflow. */
  private wrap(text: string, width: number, font: string, size: number): string[] {
    this.doc.font(font).fontSize(size);
    const fits = (candidate: string) => this.doc.widthOfString(candidate) <= width;
    const lines: string[] = [];
    for (const paragraph of toWinAnsi(text).split('\n')) {
      let current = '';
      for (const word of paragraph.split(/\s+/).filter((part) => part !== '')) {
        const candidate = current ? `${current} ${word}` : word;
        if (fits(candidate)) {
          current = candidate;
          continue;
        }
        if (current) lines.push(current);
        current = '';
        for (const char of word) {
          if (current && !fits(current + char)) {
            lines.push(current);
            current = '';
          }
          current += char;
        }
      }
      lines.push(current);
    }
    return lines;
  }

  private newPage(): void {
    this.doc.addPage();
    this.y = this.doc.page.margins.top;
    this.put(`${toWinAnsi(this.title)} (continued)`, this.left, this.y, BOLD, 10);
    this.y += this.lineHeight(BOLD, 10) + 8;
  }

  private ensureSpace(height: number): boolean {
    if (this.y + height <= this.bottom) return false;
    this.newPage();
    return true;
  }

  /** Wrapped text that continues on the next page when it runs out of room. */
  private paragraph(text: string, x: number, width: number, font = REGULAR, size = 9): void {
    const height = this.lineHeight(font, size);
    for (const line of this.wrap(text, width, font, size)) {
      this.ensureSpace(height);
      this.put(line, x, this.y, font, size);
      this.y += height;
    }
  }

  // --- sections -----------------------------------------------------------------------------------

  private drawHeader(): void {
    const { view } = this;
    const top = this.y;
    const columnWidth = (this.right - this.left) / 2 - 10;

    this.paragraph(view.seller.name, this.left, columnWidth, BOLD, 14);
    this.y += 2;
    for (const line of view.seller.addressLines) this.paragraph(line, this.left, columnWidth);
    if (view.seller.taxId) this.paragraph(`Tax ID: ${view.seller.taxId}`, this.left, columnWidth);
    const sellerBottom = this.y;

    // The invoice's own facts, right-aligned in the right half.
    let y = top;
    this.putRight(view.status === 'DRAFT' ? 'DRAFT INVOICE' : 'INVOICE', this.right, y, BOLD, 18);
    y += this.lineHeight(BOLD, 18) + 4;
    const facts: [string, string][] = [
      ['Number', view.number ?? 'not yet assigned'],
      ['Status', STATUS_LABEL[view.status]],
      ['Issue date', view.issueDate],
      ['Due date', view.dueDate],
      ['Currency', view.currency],
    ];
    const factHeight = this.lineHeight(REGULAR, 9) + 1;
    const valueWidth = Math.max(...facts.map(([, value]) => this.widthOf(toWinAnsi(value), BOLD, 9)));
    for (const [label, value] of facts) {
      this.putRight(`${label}:`, this.right - valueWidth - 8, y);
      this.putRight(toWinAnsi(value), this.right, y, BOLD, 9);
      y += factHeight;
    }

    this.y = Math.max(sellerBottom, y) + 18;
    this.put('Bill to', this.left, this.y, BOLD, 9);
    this.y += this.lineHeight(BOLD, 9) + 2;
    const width = this.right - this.left;
    this.paragraph(view.customer.name, this.left, width, BOLD, 11);
    for (const line of view.customer.addressLines) this.paragraph(line, this.left, width);
    if (view.customer.taxId) this.paragraph(`Tax ID: ${view.customer.taxId}`, this.left, width);
    if (view.customer.email) this.paragraph(view.customer.email, this.left, width);
    this.y += 16;
  }

  private widthOf(text: string, font: string, size: number): number {
    return this.doc.font(font).fontSize(size).widthOfString(text);
  }

  private drawTable(): void {
    const { view, money } = this;
    const hasDiscounts = view.lines.some((line) => line.discount !== undefined && line.discount !== null && line.discount !== 0n);
    const columns: NumericColumn[] = [
      { header: 'Qty', cell: (line) => toWinAnsi(line.quantity), width: 0 },
      { header: 'Unit price', cell: (line) => money(line.unitPrice), width: 0 },
      ...(hasDiscounts ? [{ header: 'Discount', cell: (line: InvoicePdfLine) => (line.discount ? money(line.discount) : ''), width: 0 }] : []),
      { header: 'Tax rate', cell: (line) => `${toWinAnsi(line.taxRate)}%${line.taxInclusive ? ' incl.' : ''}`, width: 0 },
      { header: 'Net', cell: (line) => money(line.net), width: 0 },
      { header: 'Tax', cell: (line) => money(line.tax), width: 0 },
      { header: 'Total', cell: (line) => money(line.total), width: 0 },
    ];
    const cells = view.lines.map((line) => columns.map((column) => column.cell(line)));

    // Numeric columns take the width of their widest figure (figures never wrap); the description gets
    // the rest. Very large amounts shrink the table font rather than squeeze the description away.
    let size = TABLE_FONT_SIZE;
    let descriptionWidth = 0;
    for (;;) {
      columns.forEach((column, index) => {
        const widest = Math.max(this.widthOf(column.header, BOLD, size), ...cells.map((row) => this.widthOf(row[index], REGULAR, size)));
        column.width = widest + COLUMN_GAP;
      });
      descriptionWidth = this.right - this.left - columns.reduce((sum, column) => sum + column.width, 0);
      if (descriptionWidth >= MIN_DESCRIPTION_WIDTH || size <= TABLE_MIN_FONT_SIZE) break;
      size -= 0.5;
    }
    descriptionWidth = Math.max(descriptionWidth, 60);
    const rowLine = this.lineHeight(REGULAR, size);
    const headerHeight = this.lineHeight(BOLD, size) + 6;

    const drawTableHeader = () => {
      this.put('Description', this.left, this.y, BOLD, size);
      let edge = this.left + descriptionWidth;
      for (const column of columns) {
        edge += column.width;
        this.putRight(column.header, edge, this.y, BOLD, size);
      }
      this.y += headerHeight - 3;
      this.doc.moveTo(this.left, this.y).lineTo(this.right, this.y).lineWidth(0.5).strokeColor('#999999').stroke();
      this.y += 3;
    };

    this.ensureSpace(headerHeight + rowLine);
    drawTableHeader();
    view.lines.forEach((line, rowIndex) => {
      const descriptionLines = this.wrap(line.description, descriptionWidth - COLUMN_GAP, REGULAR, size);
      // A row starts on a page where at least its figures and first description line fit, and keeps
      // whole when it fits a page; a description longer than a page carries on to the next.
      const rowHeight = descriptionLines.length * rowLine + 3;
      const roomOnEmptyPage = this.bottom - this.doc.page.margins.top - 30 - headerHeight;
      if (this.ensureSpace(rowHeight <= roomOnEmptyPage ? rowHeight : rowLine)) drawTableHeader();
      let edge = this.left + descriptionWidth;
      columns.forEach((column, index) => {
        edge += column.width;
        this.putRight(cells[rowIndex][index], edge, this.y, REGULAR, size);
      });
      descriptionLines.forEach((text, index) => {
        if (index > 0 && this.ensureSpace(rowLine)) drawTableHeader();
        this.put(text, this.left, this.y, REGULAR, size);
        this.y += rowLine;
      });
      this.y += 3;
    });
    this.doc.moveTo(this.left, this.y).lineTo(this.right, this.y).lineWidth(0.5).strokeColor('#999999').stroke();
    this.y += 10;
  }

  private drawTotals(): void {
    const { view, money } = this;
    const rows: { label: string; amount: string; bold?: boolean }[] = [{ label: 'Subtotal', amount: money(view.subtotal) }];
    if (view.discounts !== 0n) rows.push({ label: 'Discounts', amount: `-${money(view.discounts)}` });
    for (const group of view.taxes) {
      rows.push({ label: `Tax ${toWinAnsi(group.rate)}% on ${money(group.taxable)}`, amount: money(group.tax) });
    }
    rows.push({ label: `Total (${view.currency})`, amount: money(view.total), bold: true });
    const optionalRow = (label: string, amount: bigint | null | undefined) => {
      if (amount !== null && amount !== undefined && amount !== 0n) rows.push({ label, amount: money(amount) });
    };
    optionalRow('Credit notes', view.amountCredited);
    rows.push({ label: 'Amount paid', amount: money(view.amountPaid) });
    optionalRow('Written off', view.amountWrittenOff);
    optionalRow('Voided', view.amountVoided);
    rows.push({ label: `Amount due (${view.currency})`, amount: money(view.amountDue), bold: true });

    const size = 9.5;
    const rowHeight = this.lineHeight(BOLD, size) + 3;
    const amountWidth = Math.max(...rows.map((row) => this.widthOf(row.amount, BOLD, size)));
    // The block keeps together so a reader never finds the total alone at the top of a page.
    this.ensureSpace(rows.length * rowHeight);
    for (const row of rows) {
      const font = row.bold ? BOLD : REGULAR;
      this.putRight(row.label, this.right - amountWidth - 16, this.y, font, size);
      this.putRight(row.amount, this.right, this.y, font, size);
      this.y += rowHeight;
    }
    this.y += 14;
  }

  private drawNote(heading: string | null, text: string): void {
    if (heading) {
      this.ensureSpace(this.lineHeight(BOLD, 9) * 2);
      this.put(heading, this.left, this.y, BOLD, 9);
      this.y += this.lineHeight(BOLD, 9);
    }
    this.paragraph(text, this.left, this.right - this.left, REGULAR, 8.5);
    this.y += 10;
  }

  /** Writes "Page n of m" in the space kept below the bottom margin of every page, once m is known. */
  private numberPages(): void {
    const range = this.doc.bufferedPageRange();
    for (let index = 0; index < range.count; index += 1) {
      this.doc.switchToPage(range.start + index);
      const { page } = this.doc;
      // pdfkit starts a new page for text below the bottom margin: lift the margin while writing there.
      const bottomMargin = page.margins.bottom;
      page.margins.bottom = 0;
      this.putRight(`Page ${index + 1} of ${range.count}`, this.right, page.height - PAGE_MARGIN - 10, REGULAR, 8);
      page.margins.bottom = bottomMargin;
    }
  }
}
