/**
 * Writes a sample invoice PDF from a built-in view, to look at the layout without a database:
 *   npm run invoice:sample-pdf [-- path/to/file.pdf]     (default ./sample-invoice.pdf)
 */
import fs from 'node:fs';
import path from 'node:path';
import { renderInvoicePdf, type InvoicePdfView } from '../src/modules/invoicing/invoice-pdf';

const SAMPLE_VIEW: InvoicePdfView = {
  seller: { name: 'Reckon Demo GmbH', addressLines: ['Friedrichstraße 68', '10117 Berlin', 'Germany'], taxId: 'DE123456789' },
  customer: {
    name: 'Société Générale de Café SARL',
    addressLines: ['12 rue de la Paix', '75002 Paris', 'France'],
    taxId: 'FR40303265045',
    email: 'accounts@cafe.example',
  },
  number: 'INV-2026-000042',
  status: 'OPEN',
  issueDate: '2026-12-01',
  dueDate: '2026-12-31',
  currency: 'EUR',
  lines: [
    {
      description: 'Bookkeeping retainer, December 2026: monthly close, bank reconciliation of three accounts, VAT return preparation and a review call',
      quantity: '1',
      unitPrice: 120000n,
      taxRate: '19',
      taxInclusive: false,
      net: 120000n,
      tax: 22800n,
      total: 142800n,
    },
    {
      description: 'Additional hours (consulting)',
      quantity: '2.5',
      unitPrice: 9500n,
      discount: 2375n,
      taxRate: '19',
      taxInclusive: false,
      net: 21375n,
      tax: 4061n,
      total: 25436n,
    },
    {
      description: 'Printed annual report, 3 copies (7 % VAT included)',
      quantity: '3',
      unitPrice: 2140n,
      taxRate: '7',
      taxInclusive: true,
      net: 6000n,
      tax: 420n,
      total: 6420n,
    },
  ],
  subtotal: 149750n,
  discounts: 2375n,
  taxes: [
    { rate: '19', taxable: 141375n, tax: 26861n },
    { rate: '7', taxable: 6000n, tax: 420n },
  ],
  total: 174656n,
  amountPaid: 50000n,
  amountDue: 124656n,
  memo: 'Thank you for your business. Please quote the invoice number with your payment.',
  footer: 'Reckon Demo GmbH · IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX · Amtsgericht Berlin HRB 123456',
};

async function main(): Promise<void> {
  // npm runs scripts from the package root; INIT_CWD is where the command was typed.
  const base = process.env.INIT_CWD ?? process.cwd();
  const target = path.resolve(base, process.argv[2] ?? 'sample-invoice.pdf');
  const pdf = await renderInvoicePdf(SAMPLE_VIEW);
  fs.writeFileSync(target, pdf);
  console.log(`Wrote ${target} (${pdf.length} bytes)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
