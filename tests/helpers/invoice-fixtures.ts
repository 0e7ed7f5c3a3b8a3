import type { CreateInvoiceInput } from '../generated/graphql';

/**
 * The invoices the invoicing tests share: one per currency exponent (2, 0 and 3 decimals), each line
 * chosen so that the one rounding rule (per line, half up) is seen at work. The figures in the
 * comments are what every test expects of them.
 */

/** The clock the invoicing tests' servers run on: 2026-03-10 12:00 UTC. */
export const INVOICE_TEST_START = new Date('2026-03-10T12:00:00Z');

export type InvoiceLineInput = CreateInvoiceInput['lines'][number];

/** Total 252.55: subtotal 213.51, tax 39.04 (38.00 at 19%, 1.04 at 7.7%). */
export const USD_LINES: InvoiceLineInput[] = [
  // 3 × 33.33 = 99.99; tax 19% = 18.9981 → 19.00.
  { description: 'Consulting', quantity: '3', unitPrice: '33.33', taxRate: '19', taxBehaviour: 'EXCLUSIVE' },
  // 119.00 including 19%: net 100.00, tax 19.00.
  { description: 'Licence', quantity: '1', unitPrice: '119.00', taxRate: '19', taxBehaviour: 'INCLUSIVE' },
  // 1.5 × 10.01 = 15.015 → 15.02; 10% off = 1.502 → 1.50; net 13.52; 7.7% = 1.04104 → 1.04.
  { description: 'Support hours', quantity: '1.5', unitPrice: '10.01', taxRate: '7.7', taxBehaviour: 'EXCLUSIVE', discount: { percent: '10' } },
];

/** Total 2199: 999 + 100 tax at 10%, and 1100 including 81 tax at 8%. */
export const JPY_LINES: InvoiceLineInput[] = [
  // 3 × 333 = 999; 10% = 99.9 → 100.
  { description: 'Tea', quantity: '3', unitPrice: '333', taxRate: '10', taxBehaviour: 'EXCLUSIVE' },
  // 1100 including 8%: net 1018.5… → 1019, tax 81.
  { description: 'Cake', quantity: '1', unitPrice: '1100', taxRate: '8', taxBehaviour: 'INCLUSIVE' },
];

/** Total 6.483: 3.000 + 0.150 tax at 5% after a discount of 0.085, and 3.333 at 0%. */
export const KWD_LINES: InvoiceLineInput[] = [
  // 2.5 × 1.234 = 3.085; less 0.085 = 3.000; 5% = 0.150.
  { description: 'Cable', quantity: '2.5', unitPrice: '1.234', taxRate: '5', taxBehaviour: 'EXCLUSIVE', discount: { amount: '0.085' } },
  // 0.333333 × 10.000 = 3.33333 → 3.333; 0%.
  { description: 'Share', quantity: '0.333333', unitPrice: '10.000', taxRate: '0', taxBehaviour: 'EXCLUSIVE' },
];
