import { MatchRule, matchStatementLines, type MatchProblem } from '../../src/modules/reconciliation/matcher';
import { line, posting, summary } from '../helpers/matcher-items';

// 2026-03-02 is a Monday.
const INVOICE = 'INV-2026-000042';
const PAYOUT = 'po_01KEABZFN9R46HF6B22QXYR0ND';

describe('REFERENCE: a reference on the line equals a posting reference, with the same amount', () => {
  it.each([
    ['end-to-end id equals the externalRef', line('l1', 1000n, '2026-03-02', { endToEndId: 'SUP-0000017' }), posting('p1', 1000n, '2026-03-02', { externalRef: 'SUP-0000017' }), 'endToEndId', 'externalRef', 'EXACT'],
    ['bank reference equals the externalRef', line('l1', 1000n, '2026-03-02', { bankReference: 'ABC123456' }), posting('p1', 1000n, '2026-03-02', { externalRef: 'ABC123456' }), 'bankReference', 'externalRef', 'EXACT'],
    ['invoice number inside remittance text', line('l1', 1000n, '2026-03-02', { remittanceInformation: `Rechnung ${INVOICE}, danke!` }), posting('p1', 1000n, '2026-02-26', { relatedIds: [INVOICE] }), 'remittanceInformation', 'relatedId', 'EXACT'],
    ['other case and separators', line('l1', 1000n, '2026-03-02', { remittanceInformation: 'inv.2026.000042' }), posting('p1', 1000n, '2026-03-02', { relatedIds: [INVOICE] }), 'remittanceInformation', 'relatedId', 'EXACT'],
    ['reference split by spaces', line('l1', 1000n, '2026-03-02', { remittanceInformation: 'Invoice INV 2026 000042' }), posting('p1', 1000n, '2026-03-02', { relatedIds: [INVOICE] }), 'remittanceInformation', 'relatedId', 'EXACT'],
    ['after a field code', line('l1', 1000n, '2026-03-02', { remittanceInformation: `EREF+${PAYOUT} SVWZ+Payout` }), posting('p1', 1000n, '2026-03-02', { relatedIds: [PAYOUT] }), 'remittanceInformation', 'relatedId', 'EXACT'],
    ['reference word in the posting description', line('l1', 1000n, '2026-03-02', { remittanceInformation: 'ORDER 7781AB' }), posting('p1', 1000n, '2026-03-02', { description: 'Web shop order 7781AB' }), 'remittanceInformation', 'description', 'EXACT'],
    ['truncated by the bank to 12 characters', line('l1', 1000n, '2026-03-02', { remittanceInformation: 'PAYOUT PO01KEABZFN9' }), posting('p1', 1000n, '2026-03-02', { relatedIds: [PAYOUT] }), 'remittanceInformation', 'relatedId', 'PREFIX'],
    ['no date needed', line('l1', 1000n, '2026-03-02', { bookingDate: null, valueDate: null, endToEndId: 'SUP-0000017' }), posting('p1', 1000n, '2026-09-30', { externalRef: 'SUP-0000017' }), 'endToEndId', 'externalRef', 'EXACT'],
  ] as const)('%s', (_name, statementLine, ledgerPosting, lineField, postingField, how) => {
    const result = matchStatementLines({ lines: [statementLine], postings: [ledgerPosting] });
    expect(result.problems).toEqual([]);
    expect(result.matches).toHaveLength(1);
    const [match] = result.matches;
    expect(match.rule).toBe(MatchRule.REFERENCE);
    expect(match.lineIds).toEqual(['l1']);
    expect(match.postingIds).toEqual(['p1']);
    expect(match.compared.amount).toEqual({ line: 1000n, postings: 1000n, equal: true });
    expect(match.compared.reference).toMatchObject({ how, line: { field: lineField }, posting: { field: postingField } });
    // A truncated reference is weaker evidence than a whole one.
    expect(match.score).toBe(how === 'EXACT' ? 1 : 0.9);
  });

  it('prefers the reference over a closer posting of the same amount, whatever the dates', () => {
    const result = matchStatementLines({
      lines: [line('l1', 5000n, '2026-03-02', { remittanceInformation: INVOICE })],
      postings: [posting('p-near', 5000n, '2026-03-02'), posting('p-ref', 5000n, '2026-01-15', { relatedIds: [INVOICE] })],
    });
    expect(summary(result)).toEqual({ matches: ['REFERENCE l1=p-ref'], problems: [] });
    expect(result.matches[0].compared.dateDistanceBusinessDays).toBe(32);
  });

  it('ignores a truncated reference shorter than 8 characters, leaving the line to the other rules', () => {
    const result = matchStatementLines({
      lines: [line('l1', 1000n, '2026-03-02', { remittanceInformation: 'PAYOUT PO01KEA' })],
      postings: [posting('p1', 1000n, '2026-03-02', { relatedIds: [PAYOUT] })],
    });
    // Not a reference: matched as an equal amount on the same day, and said so.
    expect(summary(result)).toEqual({ matches: ['AMOUNT_DATE l1=p1'], problems: [] });
    expect(result.matches[0].compared.reference).toBeNull();
  });

  describe('a truncated reference that starts several of our references', () => {
    const OTHER_PAYOUT = 'po_01KEABQQQQQQQQQQQQQQQQQQQQ';

    it('is linked when exactly one posting with the line’s amount within the window carries one of them, and says how it was singled out', () => {
      const result = matchStatementLines({
        lines: [line('l1', 1000n, '2026-03-02', { remittanceInformation: 'PAYOUT PO01KEAB' })],
        postings: [
          posting('p1', 1000n, '2026-03-03', { relatedIds: [PAYOUT] }),
          posting('p-other-amount', 2000n, '2026-03-02', { relatedIds: [OTHER_PAYOUT] }),
          // Same amount, in the window, but no reference starting with the line's text: not a candidate.
          posting('p-no-reference', 1000n, '2026-03-02'),
        ],
      });
      expect(summary(result)).toEqual({ matches: ['REFERENCE l1=p1'], problems: [] });
      expect(result.matches[0].score).toBe(0.9);
      expect(result.matches[0].compared.reference).toEqual({
        how: 'PREFIX',
        line: { field: 'remittanceInformation', text: 'PO01KEAB' },
        posting: { field: 'relatedId', text: PAYOUT },
        matchedCharacters: 8,
        singledOutByAmount: { referencesWithPrefix: 2, postingsOfAmountInWindow: 2 },
      });
    });

    it.each([
      ['both postings have the line’s amount within the window', '2026-03-04', 1000n],
      ['the only posting of that amount lies outside the window', '2026-06-01', 2000n],
    ])('is no reference when %s: the line is left to the other rules', (_name, firstDate, otherAmount) => {
      const result = matchStatementLines({
        lines: [line('l1', 1000n, '2026-03-02', { remittanceInformation: 'PAYOUT PO01KEAB' })],
        postings: [posting('p1', 1000n, firstDate, { relatedIds: [PAYOUT] }), posting('p2', otherAmount, '2026-03-03', { relatedIds: [OTHER_PAYOUT] })],
      });
      expect(result.matches).toEqual([]);
      if (otherAmount === 1000n) {
        // Two postings of the amount in the window: AMOUNT_DATE says so instead of choosing.
        expect(summary(result).problems).toEqual(['AMBIGUOUS_MATCH l1=p1+p2']);
      } else {
        expect(result.problems).toEqual([]);
      }
    });
  });

  it.each([
    ['the amount differs by a fee', line('l1', 4839n, '2026-03-02', { remittanceInformation: INVOICE }), posting('p1', 5000n, '2026-03-02', { relatedIds: [INVOICE] }), 'EUR', 'EUR'],
    ['the sign differs (a refund booked as money in)', line('l1', 5000n, '2026-03-02', { remittanceInformation: INVOICE }), posting('p1', -5000n, '2026-03-02', { relatedIds: [INVOICE] }), 'EUR', 'EUR'],
    ['the currency differs', line('l1', 5000n, '2026-03-02', { remittanceInformation: INVOICE, currency: 'USD' }), posting('p1', 5000n, '2026-03-02', { relatedIds: [INVOICE] }), 'USD', 'EUR'],
  ])('reports AMOUNT_MISMATCH, with both amounts, and matches nothing when %s', (_name, statementLine, ledgerPosting, lineCurrency, postingCurrency) => {
    const result = matchStatementLines({ lines: [statementLine], postings: [ledgerPosting, posting('p-other', statementLine.amountMinor, '2026-03-02')] });
    expect(result.matches).toEqual([]);
    expect(result.problems).toHaveLength(1);
    const problem = result.problems[0] as Extract<MatchProblem, { kind: 'AMOUNT_MISMATCH' }>;
    expect(problem).toMatchObject({
      kind: 'AMOUNT_MISMATCH',
      lineIds: ['l1'],
      postingIds: ['p1'],
      lineAmountMinor: statementLine.amountMinor,
      postingAmountMinor: ledgerPosting.amountMinor,
      differenceMinor: statementLine.amountMinor - ledgerPosting.amountMinor,
      lineCurrency,
      postingCurrency,
      reference: { how: 'EXACT', line: { field: 'remittanceInformation', text: INVOICE }, posting: { field: 'relatedId', text: INVOICE } },
    });
  });

  it('flags two identical lines with the same reference as ambiguous instead of choosing one', () => {
    const duplicate = { remittanceInformation: `Payment ${INVOICE}` };
    const result = matchStatementLines({
      lines: [line('l1', 1000n, '2026-03-02', duplicate), line('l2', 1000n, '2026-03-02', duplicate)],
      postings: [posting('p1', 1000n, '2026-03-02', { relatedIds: [INVOICE] })],
    });
    expect(summary(result)).toEqual({ matches: [], problems: ['AMBIGUOUS_MATCH l1+l2=p1'] });
    expect(result.problems[0]).toMatchObject({ rule: MatchRule.REFERENCE });
  });

  it('flags a reference that fits two postings of the same amount as ambiguous', () => {
    const result = matchStatementLines({
      lines: [line('l1', 1000n, '2026-03-02', { remittanceInformation: 'BATCH-2026-17' })],
      postings: [posting('p1', 1000n, '2026-03-02', { relatedIds: ['BATCH-2026-17'] }), posting('p2', 1000n, '2026-03-03', { relatedIds: ['BATCH-2026-17'] })],
    });
    expect(summary(result)).toEqual({ matches: [], problems: ['AMBIGUOUS_MATCH l1=p1+p2'] });
  });

  it('flags a line that one posting of the group equals, and the whole group sums to, as ambiguous', () => {
    const result = matchStatementLines({
      lines: [line('l1', 10000n, '2026-03-04', { remittanceInformation: `PAYOUT ${PAYOUT}` })],
      postings: [
        posting('p-capture-a', 10000n, '2026-03-02', { relatedIds: ['pay_A0000001', PAYOUT] }),
        posting('p-capture-b', 500n, '2026-03-02', { relatedIds: ['pay_B0000001', PAYOUT] }),
        posting('p-refund-b', -500n, '2026-03-02', { relatedIds: ['pay_B0000001', PAYOUT] }),
      ],
    });
    expect(summary(result)).toEqual({ matches: [], problems: ['AMBIGUOUS_MATCH l1=p-capture-a+p-capture-b+p-refund-b'] });
  });

  it('matches a capture and its refund to their own lines when both carry the payment id', () => {
    const result = matchStatementLines({
      lines: [line('l-in', 10000n, '2026-03-02', { remittanceInformation: 'pay_A0000001' }), line('l-out', -3000n, '2026-03-05', { remittanceInformation: 'refund pay_A0000001' })],
      postings: [posting('p-capture', 10000n, '2026-03-02', { relatedIds: ['pay_A0000001'] }), posting('p-refund', -3000n, '2026-03-05', { relatedIds: ['pay_A0000001', 're_B0000001'] })],
    });
    expect(summary(result)).toEqual({ matches: ['REFERENCE l-in=p-capture', 'REFERENCE l-out=p-refund'], problems: [] });
  });

  it.each([
    [10, 'REFERENCE'],
    [11, 'AMOUNT_DATE'],
  ])('treats a key that %i lines and as many postings carry as a label, not a reference, beyond 10', (count, rule) => {
    const lines = Array.from({ length: count }, (_, i) => line(`l${i}`, 1000n + BigInt(i), '2026-03-02', { remittanceInformation: 'Customer CUST12345' }));
    const postings = Array.from({ length: count }, (_, i) => posting(`p${i}`, 1000n + BigInt(i), '2026-03-02', { description: 'Customer CUST12345' }));
    const result = matchStatementLines({ lines, postings });
    expect(result.problems).toEqual([]);
    expect(result.matches.map((m) => m.rule)).toEqual(new Array(count).fill(rule));
  });

  it('does not count words without digits, or NONREF, as references', () => {
    const result = matchStatementLines({
      lines: [line('l1', 1000n, '2026-03-02', { bankReference: 'NONREF', remittanceInformation: 'PAYMENT THANK YOU' })],
      postings: [posting('p1', 2000n, '2026-03-02', { externalRef: 'NONREF', description: 'PAYMENT THANK YOU' })],
    });
    expect(summary(result)).toEqual({ matches: [], problems: [] });
  });
});
