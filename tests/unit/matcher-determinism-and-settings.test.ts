import fc from 'fast-check';
import { AppError, ErrorCode } from '../../src/common/errors';
import { MatchRule, matcherSettings, matchStatementLines, type MatchResult } from '../../src/modules/reconciliation/matcher';
import { generateLabelledSet } from '../../bench/reconcile-data';
import { canonical, line, posting } from '../helpers/matcher-items';

function eachItemOnce(result: MatchResult): void {
  const lineIds = result.matches.flatMap((m) => m.lineIds);
  const postingIds = result.matches.flatMap((m) => m.postingIds);
  expect(new Set(lineIds).size).toBe(lineIds.length);
  expect(new Set(postingIds).size).toBe(postingIds.length);
}

describe('the same items in any order give the same result', () => {
  // Small, dense sets: every rule and every kind of ambiguity occurs in them.
  const sets = [1, 2, 3].map((seed) => generateLabelledSet({ seed, lines: 150, perBusinessDay: 30 }));

  it.each(sets.map((set, i) => [i + 1, set] as const))('seed %i: shuffled input, identical output, each item matched once', (_seed, set) => {
    const expected = matchStatementLines({ lines: set.lines, postings: set.postings });
    expect(new Set(expected.matches.map((m) => m.rule)).size).toBe(4);
    expect(expected.problems.some((p) => p.kind === 'AMBIGUOUS_MATCH')).toBe(true);
    eachItemOnce(expected);
    const reference = canonical(expected);
    fc.assert(
      fc.property(fc.shuffledSubarray(set.lines, { minLength: set.lines.length }), fc.shuffledSubarray(set.postings, { minLength: set.postings.length }), (lines, postings) => {
        expect(canonical(matchStatementLines({ lines, postings }))).toBe(reference);
      }),
      { numRuns: 25, seed: 20260302 },
    );
  });

  it('matches each item at most once on any subset a caller passes', () => {
    const [set] = sets;
    fc.assert(
      fc.property(fc.subarray(set.lines), fc.subarray(set.postings), (lines, postings) => {
        eachItemOnce(matchStatementLines({ lines, postings }));
      }),
      { numRuns: 40, seed: 7 },
    );
  });
});

describe('incremental use', () => {
  it('matches a new line against the unmatched postings, and a new posting against the unmatched lines', () => {
    const postings = [posting('p1', 1000n, '2026-03-02', { relatedIds: ['INV-2026-000042'] }), posting('p2', 2500n, '2026-03-03')];
    const first = matchStatementLines({ lines: [line('l1', 1000n, '2026-03-03', { remittanceInformation: 'INV-2026-000042' })], postings });
    expect(first.matches.map((m) => [m.lineIds, m.postingIds])).toEqual([[['l1'], ['p1']]]);
    // The caller records that match and passes what is still unmatched next time.
    const second = matchStatementLines({ lines: [line('l2', 2500n, '2026-03-04')], postings: [postings[1]] });
    expect(second.matches.map((m) => [m.lineIds, m.postingIds])).toEqual([[['l2'], ['p2']]]);
    const third = matchStatementLines({ lines: [line('l3', 900n, '2026-03-05')], postings: [posting('p3', 900n, '2026-03-06')] });
    expect(third.matches.map((m) => m.rule)).toEqual([MatchRule.AMOUNT_DATE]);
  });

  it('sees an ambiguity only among the items it is given: the caller passes every unmatched competitor', () => {
    const competitor = line('l-old', 2500n, '2026-03-04');
    const newLine = line('l-new', 2500n, '2026-03-04');
    const postings = [posting('p1', 2500n, '2026-03-04')];
    expect(matchStatementLines({ lines: [newLine], postings }).matches).toHaveLength(1);
    expect(matchStatementLines({ lines: [competitor, newLine], postings }).problems.map((p) => p.kind)).toEqual(['AMBIGUOUS_MATCH']);
  });
});

describe('settings and input checks', () => {
  it('defaults to ±3 business days, every rule in order, no holidays', () => {
    expect(matcherSettings()).toEqual({
      windowBusinessDays: 3,
      rules: [MatchRule.REFERENCE, MatchRule.AMOUNT_DATE, MatchRule.MANY_TO_ONE, MatchRule.ONE_TO_MANY, MatchRule.INVOICE_NUMBER],
      holidays: [],
      maxSubsetCandidates: 12,
      maxSubsetSize: 4,
    });
  });

  it.each([
    [{ windowBusinessDays: -1 }, 'windowBusinessDays'],
    [{ windowBusinessDays: 1.5 }, 'windowBusinessDays'],
    [{ windowBusinessDays: 31 }, 'windowBusinessDays'],
    [{ rules: ['FUZZY' as MatchRule] }, 'rules'],
    [{ rules: [MatchRule.REFERENCE, MatchRule.REFERENCE] }, 'rules'],
    [{ holidays: ['2026-02-30'] }, 'holidays'],
    [{ maxSubsetCandidates: 21 }, 'maxSubsetCandidates'],
    [{ maxSubsetSize: 1 }, 'maxSubsetSize'],
  ])('refuses %j, naming %s', (settings, field) => {
    let error: unknown;
    try {
      matcherSettings(settings);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: ErrorCode.VALIDATION_FAILED, details: { field } });
  });

  it('runs the rules in the order given: amount and date first takes the pair before the reference rule sees it', () => {
    const items = {
      lines: [line('l1', 1000n, '2026-03-02', { remittanceInformation: 'INV-2026-000042' })],
      postings: [posting('p1', 1000n, '2026-03-02', { relatedIds: ['INV-2026-000042'] })],
    };
    expect(matchStatementLines(items).matches.map((m) => m.rule)).toEqual([MatchRule.REFERENCE]);
    expect(matchStatementLines({ ...items, settings: { rules: [MatchRule.AMOUNT_DATE, MatchRule.REFERENCE] } }).matches.map((m) => m.rule)).toEqual([MatchRule.AMOUNT_DATE]);
    expect(matchStatementLines({ ...items, settings: { rules: [] } }).matches).toEqual([]);
  });

  it('refuses an id passed twice and a date that is not YYYY-MM-DD', () => {
    expect(() => matchStatementLines({ lines: [line('l1', 1n, '2026-03-02'), line('l1', 2n, '2026-03-02')], postings: [] })).toThrow('l1 was passed twice');
    expect(() => matchStatementLines({ lines: [], postings: [posting('p1', 1n, '02.03.2026')] })).toThrow('not YYYY-MM-DD');
  });
});
