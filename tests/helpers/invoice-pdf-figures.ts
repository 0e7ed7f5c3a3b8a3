import { formatMinorAsDecimal } from '../../src/common/money';
import { toWinAnsi, type InvoicePdfView } from '../../src/modules/invoicing/invoice-pdf';

/** Checks on the text pdftotext -layout extracts from an invoice PDF (pdfPagesText), shared by the renderer's and the route's tests. */

export const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
export const textLinesOf = (pages: string[]) => pages.join('\n').split('\n');

/** Some text line holds exactly this label followed by this amount, as the totals block prints them. */
export function expectTotalsRow(pages: string[], label: string, amount: string): void {
  const row = new RegExp(`^\\s*${escapeRegExp(label)}\\s+${escapeRegExp(amount)}\\s*$`);
  expect(textLinesOf(pages).filter((line) => row.test(line))).toHaveLength(1);
}

/** Every figure and party of the view is on the pages, each where the layout puts it. */
export function expectEveryFigure(view: InvoicePdfView, pages: string[]): void {
  const money = (minor: bigint) => formatMinorAsDecimal(minor, view.currency);
  const text = pages.join('\n');
  const factRow = (label: string, value: string) => new RegExp(`${escapeRegExp(label)}:\\s+${escapeRegExp(value)}\\s*$`, 'm');

  expect(text).toMatch(factRow('Number', view.number ?? 'not yet assigned'));
  expect(text).toMatch(factRow('Issue date', view.issueDate));
  expect(text).toMatch(factRow('Due date', view.dueDate));
  expect(text).toMatch(factRow('Currency', view.currency));
  expect(text).toContain(toWinAnsi(view.seller.name));
  expect(text).toContain(toWinAnsi(view.customer.name));

  // Each line's figures, in column order, on the row's first text line.
  for (const line of view.lines) {
    const cells = [
      line.quantity,
      money(line.unitPrice),
      ...(line.discount ? [money(line.discount)] : []),
      `${line.taxRate}%${line.taxInclusive ? ' incl.' : ''}`,
      money(line.net),
      money(line.tax),
      money(line.total),
    ];
    const row = new RegExp(`\\s${cells.map(escapeRegExp).join('\\s+')}\\s*$`);
    expect(textLinesOf(pages).filter((textLine) => row.test(textLine))).toHaveLength(1);
  }

  expectTotalsRow(pages, 'Subtotal', money(view.subtotal));
  if (view.discounts === 0n) expect(text).not.toContain('Discounts');
  else expectTotalsRow(pages, 'Discounts', `-${money(view.discounts)}`);
  for (const group of view.taxes) expectTotalsRow(pages, `Tax ${group.rate}% on ${money(group.taxable)}`, money(group.tax));
  expectTotalsRow(pages, `Total (${view.currency})`, money(view.total));
  const optionalRow = (label: string, amount: bigint | null | undefined) => {
    if (amount) expectTotalsRow(pages, label, money(amount));
    else expect(textLinesOf(pages).filter((line) => new RegExp(`^\\s*${label}\\s+\\S+\\s*$`).test(line))).toEqual([]);
  };
  optionalRow('Credit notes', view.amountCredited);
  expectTotalsRow(pages, 'Amount paid', money(view.amountPaid));
  optionalRow('Written off', view.amountWrittenOff);
  optionalRow('Voided', view.amountVoided);
  expectTotalsRow(pages, `Amount due (${view.currency})`, money(view.amountDue));
}
