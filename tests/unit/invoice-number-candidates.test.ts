import { invoiceNumberCandidates, MAX_CANDIDATES_PER_LINE } from '../../src/modules/reconciliation/invoice-remittance';

/** What the INVOICE_NUMBER rule looks up for a line: every token that could be one of the tenant's numbers. */
describe('invoice numbers read out of remittance text', () => {
  it.each([
    ['as issued', 'INV-2026-000042', ['INV-2026-000042']],
    ['in lower case, with punctuation around it', 'Rechnung Nr.: inv-2026-000042, danke', ['INV-2026-000042']],
    ['after a structured-remittance tag', 'EREF+INV-2026-000042', ['INV-2026-000042']],
    ['in brackets', '(INV-2026-000042)', ['INV-2026-000042']],
    ['wrapped by the bank after a dash', 'Payment INV-2026-\n000042', ['INV-2026-000042']],
    ['with spaces instead of dashes', 'INV 2026 000042', ['INV-2026', 'INV-2026-000042']],
    ['glued to words before it', 'PO-77-INV-2026-000042', ['PO-77-INV-2026-000042', '77-INV-2026-000042', 'INV-2026-000042']],
    ['of a prefix without a year', 'ACME-EU-17', ['ACME-EU-17', 'EU-17']],
  ])('finds a number %s', (_how, text, expected) => {
    expect(invoiceNumberCandidates(text)).toEqual(expected);
  });

  it('finds nothing in text without a number: dates, amounts, words, digits alone', () => {
    expect(invoiceNumberCandidates('Transfer on 2026-03-10, 119.00 EUR, thanks', null, undefined, '')).toEqual([]);
    expect(invoiceNumberCandidates('INV2026000042')).toEqual([]);
  });

  it('puts numbers as written before tails and joins, so the bound never drops one', () => {
    const noise = Array.from({ length: 40 }, (_, i) => `X${i} ${i}`).join(' ');
    expect(invoiceNumberCandidates(`${noise} INV-2026-000042`)[0]).toBe('INV-2026-000042');
  });

  it('reads several texts, each number once, and at most a bounded number per line', () => {
    expect(invoiceNumberCandidates('INV-2026-000001', 'inv-2026-000001 INV-2026-000002')).toEqual(['INV-2026-000001', 'INV-2026-000002']);
    const many = Array.from({ length: 100 }, (_, i) => `A-${i}`).join(' ');
    expect(invoiceNumberCandidates(many)).toHaveLength(MAX_CANDIDATES_PER_LINE);
  });
});
