import { BusinessCalendar } from '../../src/modules/reconciliation/matcher-rules';
import { MatchRule, matchStatementLines } from '../../src/modules/reconciliation/matcher';
import { line, posting, summary } from '../helpers/matcher-items';

// 2026-03-02 is a Monday; 2026-03-06 a Friday, 03-07/08 the weekend.
describe('business days', () => {
  const calendar = new BusinessCalendar();
  it.each([
    ['2026-03-06', '2026-03-09', 1, 'Friday to Monday'],
    ['2026-03-07', '2026-03-09', 1, 'Saturday to Monday'],
    ['2026-03-06', '2026-03-08', 0, 'Friday to Sunday'],
    ['2026-03-02', '2026-03-06', 4, 'Monday to Friday'],
    ['2026-03-05', '2026-03-10', 3, 'Thursday to the next Tuesday'],
    ['2026-03-10', '2026-03-05', 3, 'either way round'],
    ['2025-12-31', '2026-01-02', 2, 'over a year end'],
  ])('%s → %s is %i business day(s) (%s)', (a, b, expected) => {
    expect(calendar.distance(a, b)).toBe(expected);
  });

  it('skips the holidays it is given', () => {
    expect(new BusinessCalendar(['2026-04-03', '2026-04-06']).distance('2026-04-02', '2026-04-07')).toBe(1);
  });

  it('refuses what is not a date', () => {
    expect(calendar.ordinal('2026-02-30')).toBeNull();
    expect(calendar.ordinal('03/02/2026')).toBeNull();
  });
});

describe('AMOUNT_DATE: equal amount, dates within the window, one candidate on each side', () => {
  it.each([
    ['same day', '2026-03-02', '2026-03-02', true, 0],
    ['three business days later, over a weekend (Thursday → Tuesday)', '2026-03-05', '2026-03-10', true, 3],
    ['four business days later (Thursday → Wednesday)', '2026-03-05', '2026-03-11', false, null],
    ['booked on a Saturday, posted the Wednesday after', '2026-03-11', '2026-03-07', true, 3],
    ['three business days earlier', '2026-03-10', '2026-03-05', true, 3],
  ])('%s: matched = %s', (_name, postingDate, lineDate, matched, distance) => {
    const result = matchStatementLines({ lines: [line('l1', 1234n, lineDate)], postings: [posting('p1', 1234n, postingDate)] });
    expect(summary(result)).toEqual({ matches: matched ? ['AMOUNT_DATE l1=p1'] : [], problems: [] });
    if (matched) {
      expect(result.matches[0].compared).toEqual({
        amount: { line: 1234n, postings: 1234n, equal: true },
        currency: { line: 'EUR', postings: 'EUR', equal: true },
        reference: null,
        dateDistanceBusinessDays: distance,
      });
      expect(result.matches[0].score).toBeLessThan(1);
    }
  });

  it('uses the nearer of the booking and value dates', () => {
    const result = matchStatementLines({
      lines: [line('l1', 1234n, '2026-03-20', { bookingDate: '2026-03-20', valueDate: '2026-03-10' })],
      postings: [posting('p1', 1234n, '2026-03-05')],
    });
    expect(summary(result).matches).toEqual(['AMOUNT_DATE l1=p1']);
    expect(result.matches[0].compared.dateDistanceBusinessDays).toBe(3);
  });

  it('honours the window and the holidays of the settings', () => {
    const items = { lines: [line('l1', 1234n, '2026-04-07')], postings: [posting('p1', 1234n, '2026-04-02')] };
    expect(summary(matchStatementLines(items)).matches).toEqual(['AMOUNT_DATE l1=p1']);
    expect(summary(matchStatementLines({ ...items, settings: { windowBusinessDays: 2 } })).matches).toEqual([]);
    // Thursday → Tuesday is 3 business days; with Good Friday and Easter Monday off, 1.
    expect(summary(matchStatementLines({ ...items, settings: { windowBusinessDays: 2, holidays: ['2026-04-03', '2026-04-06'] } })).matches).toEqual(['AMOUNT_DATE l1=p1']);
  });

  it.each([
    ['two postings for one line', [line('l1', 2500n, '2026-03-04')], [posting('p1', 2500n, '2026-03-03'), posting('p2', 2500n, '2026-03-05')], 'AMBIGUOUS_MATCH l1=p1+p2'],
    ['two lines for one posting', [line('l1', 2500n, '2026-03-03'), line('l2', 2500n, '2026-03-05')], [posting('p1', 2500n, '2026-03-04')], 'AMBIGUOUS_MATCH l1+l2=p1'],
    ['two identical lines for one posting', [line('l1', 2500n, '2026-03-04'), line('l2', 2500n, '2026-03-04')], [posting('p1', 2500n, '2026-03-04')], 'AMBIGUOUS_MATCH l1+l2=p1'],
    ['two lines and two postings on the same days', [line('l1', 2500n, '2026-03-04'), line('l2', 2500n, '2026-03-04')], [posting('p1', 2500n, '2026-03-04'), posting('p2', 2500n, '2026-03-04')], 'AMBIGUOUS_MATCH l1+l2=p1+p2'],
    [
      'a chain: l2 fits p1 and p2, so p1 has two candidates',
      [line('l1', 2500n, '2026-03-02'), line('l2', 2500n, '2026-03-05')],
      [posting('p1', 2500n, '2026-03-03'), posting('p2', 2500n, '2026-03-10')],
      'AMBIGUOUS_MATCH l1+l2=p1+p2',
    ],
  ])('never guesses between equal candidates: %s', (_name, lines, postings, problem) => {
    const result = matchStatementLines({ lines, postings });
    expect(summary(result)).toEqual({ matches: [], problems: [problem] });
    expect(result.problems[0]).toMatchObject({ rule: MatchRule.AMOUNT_DATE });
  });

  it('matches the same amount twice when the windows do not overlap', () => {
    const result = matchStatementLines({
      lines: [line('l1', 2500n, '2026-03-02'), line('l2', 2500n, '2026-03-20')],
      postings: [posting('p1', 2500n, '2026-03-02'), posting('p2', 2500n, '2026-03-19')],
    });
    expect(summary(result)).toEqual({ matches: ['AMOUNT_DATE l1=p1', 'AMOUNT_DATE l2=p2'], problems: [] });
  });

  it.each([
    ['the sign differs', line('l1', 2500n, '2026-03-02'), posting('p1', -2500n, '2026-03-02')],
    ['the currency differs', line('l1', 2500n, '2026-03-02', { currency: 'USD' }), posting('p1', 2500n, '2026-03-02')],
    ['the amount differs by one cent', line('l1', 2501n, '2026-03-02'), posting('p1', 2500n, '2026-03-02')],
    ['the line has no date', line('l1', 2500n, '2026-03-02', { bookingDate: null, valueDate: null }), posting('p1', 2500n, '2026-03-02')],
  ])('never matches when %s', (_name, statementLine, ledgerPosting) => {
    expect(summary(matchStatementLines({ lines: [statementLine], postings: [ledgerPosting] }))).toEqual({ matches: [], problems: [] });
  });

  it('does not match a line by amount to another posting than the one its reference names', () => {
    const result = matchStatementLines({
      lines: [line('l1', 2500n, '2026-03-02', { remittanceInformation: 'INV-2026-000042' })],
      postings: [posting('p-named', 2600n, '2026-03-02', { relatedIds: ['INV-2026-000042'] }), posting('p-other', 2500n, '2026-03-02')],
    });
    expect(summary(result)).toEqual({ matches: [], problems: ['AMOUNT_MISMATCH l1=p-named'] });
  });

  it('leaves a posting of a batch (sharing its payout id with others) to the group rules', () => {
    const batch = { relatedIds: ['po_01KEABZFN9R46HF6B22QXYR0ND'] };
    const result = matchStatementLines({
      lines: [line('l-fee', -61n, '2026-03-03', { remittanceInformation: 'Account fee' })],
      postings: [posting('p-capture', 4500n, '2026-03-02', batch), posting('p-fee', -61n, '2026-03-02', batch)],
    });
    expect(summary(result)).toEqual({ matches: [], problems: [] });
  });

  it('matches by amount alone when REFERENCE is switched off, but only the items a reference links', () => {
    const result = matchStatementLines({
      lines: [line('l1', 2500n, '2026-03-02', { remittanceInformation: 'INV-2026-000042' })],
      postings: [posting('p-named', 2500n, '2026-03-03', { relatedIds: ['INV-2026-000042'] }), posting('p-other', 2500n, '2026-03-02')],
      settings: { rules: [MatchRule.AMOUNT_DATE] },
    });
    expect(summary(result)).toEqual({ matches: ['AMOUNT_DATE l1=p-named'], problems: [] });
    expect(result.matches[0].compared.reference).toMatchObject({ how: 'EXACT' });
  });
});
