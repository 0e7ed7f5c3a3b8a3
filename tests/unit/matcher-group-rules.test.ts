import { MatchRule, matchStatementLines } from '../../src/modules/reconciliation/matcher';
import { line, posting, summary } from '../helpers/matcher-items';

// 2026-03-02 is a Monday.
const PAYOUT = 'po_01KEABZFN9R46HF6B22QXYR0ND';
const OTHER_PAYOUT = 'po_01KEBBBBBBBBBBBBBBBBBBBBBB';

/** A gateway batch on the bank's ledger account: two captures, their fees and a refund, all carrying the payout id. */
function payoutBatch(payout: string, prefix: string, date: string) {
  return [
    posting(`${prefix}-capture-1`, 4500n, date, { relatedIds: [`pay_${prefix}00001`, payout], description: 'Capture' }),
    posting(`${prefix}-fee-1`, -161n, date, { relatedIds: [`pay_${prefix}00001`, payout] }),
    posting(`${prefix}-capture-2`, 12000n, date, { relatedIds: [`pay_${prefix}00002`, payout] }),
    posting(`${prefix}-fee-2`, -193n, date, { relatedIds: [`pay_${prefix}00002`, payout] }),
    posting(`${prefix}-refund-1`, -1000n, date, { relatedIds: [`pay_${prefix}00001`, `re_${prefix}00001`, payout] }),
  ];
}
const BATCH_NET = 4500n - 161n + 12000n - 193n - 1000n;

describe('MANY_TO_ONE: one line against the sum of several postings', () => {
  it('matches a payout line to every posting carrying its payout id (captures − refunds − fees), whatever their dates', () => {
    const batch = payoutBatch(PAYOUT, 'a', '2026-02-20');
    const result = matchStatementLines({ lines: [line('l1', BATCH_NET, '2026-03-04', { remittanceInformation: `STRIPE PAYOUT ${PAYOUT}` })], postings: batch });
    expect(result.problems).toEqual([]);
    expect(result.matches).toHaveLength(1);
    expect(result.matches[0]).toMatchObject({
      rule: MatchRule.MANY_TO_ONE,
      score: 0.95,
      lineIds: ['l1'],
      postingIds: batch.map((p) => p.id).sort(),
      compared: {
        amount: { line: BATCH_NET, postings: BATCH_NET, equal: true },
        reference: { how: 'EXACT', line: { field: 'remittanceInformation', text: PAYOUT }, posting: { field: 'relatedId', text: PAYOUT } },
        group: { how: 'LINE_REFERENCE', candidates: 5 },
        dateDistanceBusinessDays: 8,
      },
    });
  });

  it('scores a truncated payout id lower', () => {
    const result = matchStatementLines({ lines: [line('l1', BATCH_NET, '2026-03-04', { remittanceInformation: 'STRIPE PAYOUT PO01KEABZFN9R4' })], postings: payoutBatch(PAYOUT, 'a', '2026-03-02') });
    expect(result.matches).toHaveLength(1);
    expect(result.matches[0]).toMatchObject({ rule: MatchRule.MANY_TO_ONE, score: 0.85, compared: { reference: { how: 'PREFIX' } } });
  });

  it('reports the payout that differs from what the gateway owes as AMOUNT_MISMATCH with both amounts', () => {
    // recordPayout of 35.00 after a capture of 45.00, a fee of 1.61 and a refund of 10.00: 33.39 was owed.
    const result = matchStatementLines({
      lines: [line('l1', 3500n, '2026-03-04', { remittanceInformation: `PAYOUT ${PAYOUT}` })],
      postings: [
        posting('p-capture', 4500n, '2026-03-02', { relatedIds: ['pay_A0000001', PAYOUT] }),
        posting('p-fee', -161n, '2026-03-02', { relatedIds: ['pay_A0000001', PAYOUT] }),
        posting('p-refund', -1000n, '2026-03-03', { relatedIds: ['pay_A0000001', PAYOUT] }),
      ],
    });
    expect(result.matches).toEqual([]);
    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'AMOUNT_MISMATCH', lineIds: ['l1'], postingIds: ['p-capture', 'p-fee', 'p-refund'], lineAmountMinor: 3500n, postingAmountMinor: 3339n, differenceMinor: 161n }),
    ]);
  });

  it('finds the batch of a line without reference by the id its postings share, when a member is within the window', () => {
    const batch = payoutBatch(PAYOUT, 'a', '2026-03-02');
    const result = matchStatementLines({ lines: [line('l1', BATCH_NET, '2026-03-04', { remittanceInformation: 'STRIPE PAYMENTS UK' })], postings: batch });
    expect(summary(result)).toEqual({ matches: [`MANY_TO_ONE l1=${batch.map((p) => p.id).sort().join('+')}`], problems: [] });
    expect(result.matches[0]).toMatchObject({ score: 0.7, compared: { group: { how: 'SHARED_REFERENCE', candidates: 5 }, reference: { how: 'SHARED', line: null, posting: { field: 'relatedId', text: PAYOUT } } } });
  });

  it('does not take a shared-id batch dated outside the window', () => {
    const result = matchStatementLines({ lines: [line('l1', BATCH_NET, '2026-03-12')], postings: payoutBatch(PAYOUT, 'a', '2026-03-02') });
    expect(summary(result)).toEqual({ matches: [], problems: [] });
  });

  it('flags two batches with the same sum for one line as ambiguous', () => {
    const result = matchStatementLines({
      lines: [line('l1', BATCH_NET, '2026-03-04')],
      postings: [...payoutBatch(PAYOUT, 'a', '2026-03-02'), ...payoutBatch(OTHER_PAYOUT, 'b', '2026-03-03')],
    });
    expect(result.matches).toEqual([]);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ kind: 'AMBIGUOUS_MATCH', rule: MatchRule.MANY_TO_ONE, lineIds: ['l1'] });
    expect(result.problems[0].postingIds).toHaveLength(10);
  });

  it('flags two lines claiming the same batch as ambiguous', () => {
    const result = matchStatementLines({
      lines: [line('l1', BATCH_NET, '2026-03-04'), line('l2', BATCH_NET, '2026-03-04')],
      postings: payoutBatch(PAYOUT, 'a', '2026-03-02'),
    });
    expect(result.matches).toEqual([]);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'AMBIGUOUS_MATCH', rule: MatchRule.MANY_TO_ONE, lineIds: ['l1', 'l2'] })]);
  });

  it('finds a group without any shared id by a subset-sum with a unique solution', () => {
    const result = matchStatementLines({
      lines: [line('l1', 777n, '2026-03-04')],
      postings: [posting('p1', 700n, '2026-03-03'), posting('p2', 77n, '2026-03-04'), posting('p3', 5000n, '2026-03-04'), posting('p4', 1n, '2026-03-20')],
    });
    expect(summary(result)).toEqual({ matches: ['MANY_TO_ONE l1=p1+p2'], problems: [] });
    expect(result.matches[0]).toMatchObject({ score: 0.6, compared: { reference: null, group: { how: 'SUBSET_SUM', candidates: 3 } } });
  });

  it('flags a subset-sum with two solutions as ambiguous', () => {
    const result = matchStatementLines({
      lines: [line('l1', 1000n, '2026-03-04')],
      postings: [posting('p1', 400n, '2026-03-04'), posting('p2', 600n, '2026-03-04'), posting('p3', 300n, '2026-03-04'), posting('p4', 700n, '2026-03-04')],
    });
    expect(summary(result)).toEqual({ matches: [], problems: ['AMBIGUOUS_MATCH l1=p1+p2+p3+p4'] });
  });

  it('searches no subsets when more than maxSubsetCandidates postings are in the window', () => {
    const postings = [posting('p-a', 700n, '2026-03-04'), posting('p-b', 77n, '2026-03-04')];
    for (let i = 0; i < 11; i++) postings.push(posting(`p-noise-${i}`, 100_000n + BigInt(i) * 1000n, '2026-03-04'));
    const items = { lines: [line('l1', 777n, '2026-03-04')], postings };
    expect(summary(matchStatementLines(items)).matches).toEqual([]);
    expect(summary(matchStatementLines({ ...items, settings: { maxSubsetCandidates: 13 } })).matches).toEqual(['MANY_TO_ONE l1=p-a+p-b']);
  });

  it('searches groups of at most maxSubsetSize items', () => {
    const postings = [100n, 200n, 300n, 400n, 500n].map((amount, i) => posting(`p${i}`, amount, '2026-03-04'));
    const items = { lines: [line('l1', 1500n, '2026-03-04')], postings };
    expect(summary(matchStatementLines(items)).matches).toEqual([]);
    expect(summary(matchStatementLines({ ...items, settings: { maxSubsetSize: 5 } })).matches).toEqual(['MANY_TO_ONE l1=p0+p1+p2+p3+p4']);
  });

  it('sums only movements of the line’s direction when no reference ties them', () => {
    const result = matchStatementLines({
      lines: [line('l1', 4227n, '2026-03-04')],
      postings: [posting('p-in', 5000n, '2026-03-04'), posting('p-out', -773n, '2026-03-04')],
    });
    expect(summary(result)).toEqual({ matches: [], problems: [] });
  });

  it('never sums across currencies', () => {
    const result = matchStatementLines({
      lines: [line('l1', 777n, '2026-03-04')],
      postings: [posting('p1', 700n, '2026-03-04'), posting('p2', 77n, '2026-03-04', { currency: 'USD' })],
    });
    expect(summary(result)).toEqual({ matches: [], problems: [] });
  });

  it('matches nothing by groups when the rule is switched off', () => {
    const result = matchStatementLines({
      lines: [line('l1', BATCH_NET, '2026-03-04', { remittanceInformation: `PAYOUT ${PAYOUT}` })],
      postings: payoutBatch(PAYOUT, 'a', '2026-03-02'),
      settings: { rules: [MatchRule.REFERENCE, MatchRule.AMOUNT_DATE, MatchRule.ONE_TO_MANY] },
    });
    expect(summary(result)).toEqual({ matches: [], problems: [] });
  });
});

describe('ONE_TO_MANY: one posting against the sum of several lines', () => {
  it('matches an invoice paid in two instalments that both name it', () => {
    const result = matchStatementLines({
      lines: [line('l1', 4000n, '2026-03-02', { remittanceInformation: 'Instalment 1 INV-2026-000042' }), line('l2', 6000n, '2026-03-30', { remittanceInformation: '2nd instalment INV-2026-000042' })],
      postings: [posting('p1', 10000n, '2026-03-02', { relatedIds: ['INV-2026-000042'] })],
    });
    expect(summary(result)).toEqual({ matches: ['ONE_TO_MANY l1+l2=p1'], problems: [] });
    expect(result.matches[0]).toMatchObject({ compared: { amount: { line: 10000n, postings: 10000n, equal: true }, group: { how: 'LINE_REFERENCE', candidates: 2 } } });
  });

  it('finds lines without references by a unique subset-sum in the window', () => {
    const result = matchStatementLines({
      lines: [line('l1', 400n, '2026-03-03'), line('l2', 600n, '2026-03-04'), line('l3', 99_999n, '2026-03-04')],
      postings: [posting('p1', 1000n, '2026-03-02')],
    });
    expect(summary(result)).toEqual({ matches: ['ONE_TO_MANY l1+l2=p1'], problems: [] });
  });

  it('reports instalments that do not add up as AMOUNT_MISMATCH', () => {
    const result = matchStatementLines({
      lines: [line('l1', 4000n, '2026-03-02', { remittanceInformation: 'INV-2026-000042' }), line('l2', 5000n, '2026-03-05', { remittanceInformation: 'INV-2026-000042' })],
      postings: [posting('p1', 10000n, '2026-03-02', { relatedIds: ['INV-2026-000042'] })],
    });
    expect(result.matches).toEqual([]);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'AMOUNT_MISMATCH', lineIds: ['l1', 'l2'], postingIds: ['p1'], lineAmountMinor: 9000n, postingAmountMinor: 10000n })]);
  });
});
