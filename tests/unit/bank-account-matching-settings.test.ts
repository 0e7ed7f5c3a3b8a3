import { AppError, ErrorCode } from '../../src/common/errors';
import {
  type BankAccountMatchingSettings,
  changedMatchingSettings,
  DEFAULT_BANK_ACCOUNT_MATCHING,
  decodeMatchRules,
  encodeMatchRules,
  matcherSettingsOf,
} from '../../src/modules/reconciliation/bank-account-matching';
import { MatchRule, matchStatementLines } from '../../src/modules/reconciliation/matcher';
import { line, posting, summary } from '../helpers/matcher-items';

const defaults = (): BankAccountMatchingSettings => ({ ...DEFAULT_BANK_ACCOUNT_MATCHING, rules: [...DEFAULT_BANK_ACCOUNT_MATCHING.rules] });

function refusal(change: Parameters<typeof changedMatchingSettings>[1]): AppError {
  try {
    changedMatchingSettings(defaults(), change, 'matching');
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected VALIDATION_FAILED');
}

describe('bank account matching settings', () => {
  it('defaults to every rule in the engine’s order, a window of 3 business days and the engine’s group limits', () => {
    expect(defaults()).toEqual({
      rules: [MatchRule.REFERENCE, MatchRule.AMOUNT_DATE, MatchRule.MANY_TO_ONE, MatchRule.ONE_TO_MANY, MatchRule.INVOICE_NUMBER],
      windowBusinessDays: 3,
      maxGroupSize: 4,
      maxGroupCandidates: 12,
    });
  });

  it('changes what is given and keeps the rest, in the order given', () => {
    const current = { ...defaults(), maxGroupSize: 6 };
    const next = changedMatchingSettings(current, { rules: ['AMOUNT_DATE', 'REFERENCE'], windowBusinessDays: 0, maxGroupCandidates: null }, 'input');
    expect(next).toEqual({ rules: [MatchRule.AMOUNT_DATE, MatchRule.REFERENCE], windowBusinessDays: 0, maxGroupSize: 6, maxGroupCandidates: 12 });
    // The current settings are not changed in place.
    expect(current.rules).toEqual(defaults().rules);
  });

  it.each([
    ['an empty rule list', { rules: [] }, 'matching.rules', /at least one rule/],
    ['an unknown rule', { rules: ['REFERENCE', 'FUZZY_NAME'] }, 'matching.rules', /unknown rule "FUZZY_NAME"/],
    ['a rule listed twice', { rules: ['REFERENCE', 'AMOUNT_DATE', 'REFERENCE'] }, 'matching.rules', /REFERENCE is listed twice/],
    ['a negative window', { windowBusinessDays: -1 }, 'matching.windowBusinessDays', /from 0 to 30/],
    ['a window over 30 business days', { windowBusinessDays: 31 }, 'matching.windowBusinessDays', /from 0 to 30/],
    ['a fractional window', { windowBusinessDays: 1.5 }, 'matching.windowBusinessDays', /whole number/],
    ['groups of one', { maxGroupSize: 1 }, 'matching.maxGroupSize', /from 2 to 10/],
    ['groups of 11', { maxGroupSize: 11 }, 'matching.maxGroupSize', /from 2 to 10/],
    ['summing over 17 candidates', { maxGroupCandidates: 17 }, 'matching.maxGroupCandidates', /from 0 to 16/],
  ])('refuses %s with VALIDATION_FAILED naming the field', (_name, change, field, message) => {
    const error = refusal(change);
    expect(error.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(error.details.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it('stores rules as names joined by commas and reads them back; a stored value the API could not write is an internal error', () => {
    const rules = [MatchRule.ONE_TO_MANY, MatchRule.REFERENCE];
    expect(encodeMatchRules(rules)).toBe('ONE_TO_MANY,REFERENCE');
    expect(decodeMatchRules(encodeMatchRules(rules), 'bac_1')).toEqual(rules);
    expect(() => decodeMatchRules('REFERENCE,GUESS', 'bac_1')).toThrow(/bank_accounts.match_rules of bac_1/);
    expect(() => decodeMatchRules('', 'bac_1')).toThrow(/bank_accounts.match_rules of bac_1/);
  });
});

describe('the engine runs an account’s settings', () => {
  // 2026-03-02 is a Monday. One line that only AMOUNT_DATE can match, one payout only MANY_TO_ONE can.
  const lines = [line('l-plain', 1234n, '2026-03-03'), line('l-payout', 3000n, '2026-03-04', { remittanceInformation: 'STRIPE PAYOUT' })];
  const postings = [
    posting('p-plain', 1234n, '2026-03-02'),
    posting('p-capture-a', 2000n, '2026-03-02', { relatedIds: ['pay_A0000001', 'po_01KEABZFN9R46HF6B22QXYR0ND'] }),
    posting('p-capture-b', 1000n, '2026-03-02', { relatedIds: ['pay_B0000001', 'po_01KEABZFN9R46HF6B22QXYR0ND'] }),
  ];
  const run = (change: Parameters<typeof changedMatchingSettings>[1]) =>
    summary(matchStatementLines({ lines, postings, settings: matcherSettingsOf(changedMatchingSettings(defaults(), change, 'input')) }));

  it('matches both with every rule on', () => {
    expect(run({})).toEqual({ matches: ['MANY_TO_ONE l-payout=p-capture-a+p-capture-b', 'AMOUNT_DATE l-plain=p-plain'], problems: [] });
  });

  it('leaves the amount-and-date line unmatched, and raises nothing, with AMOUNT_DATE turned off', () => {
    expect(run({ rules: ['REFERENCE', 'MANY_TO_ONE', 'ONE_TO_MANY'] })).toEqual({ matches: ['MANY_TO_ONE l-payout=p-capture-a+p-capture-b'], problems: [] });
  });

  it('leaves the payout unmatched with the group rules turned off', () => {
    expect(run({ rules: ['REFERENCE', 'AMOUNT_DATE'] })).toEqual({ matches: ['AMOUNT_DATE l-plain=p-plain'], problems: [] });
  });

  it('takes the window: a line two business days from its posting is not matched with a window of 1', () => {
    const far = [line('l-far', 1234n, '2026-03-04')];
    const settings = (windowBusinessDays: number) => matcherSettingsOf(changedMatchingSettings(defaults(), { windowBusinessDays }, 'input'));
    expect(summary(matchStatementLines({ lines: far, postings: [postings[0]], settings: settings(1) })).matches).toEqual([]);
    expect(summary(matchStatementLines({ lines: far, postings: [postings[0]], settings: settings(2) })).matches).toEqual(['AMOUNT_DATE l-far=p-plain']);
  });

  it('takes the group limits: three postings summing to a line need maxGroupSize 3 and enough candidates', () => {
    const groupLine = [line('l-sum', 600n, '2026-03-03')];
    const parts = [posting('p-1', 100n, '2026-03-02'), posting('p-2', 200n, '2026-03-02'), posting('p-3', 300n, '2026-03-03')];
    const settings = (change: Parameters<typeof changedMatchingSettings>[1]) => matcherSettingsOf(changedMatchingSettings(defaults(), change, 'input'));
    expect(summary(matchStatementLines({ lines: groupLine, postings: parts, settings: settings({}) })).matches).toEqual(['MANY_TO_ONE l-sum=p-1+p-2+p-3']);
    expect(summary(matchStatementLines({ lines: groupLine, postings: parts, settings: settings({ maxGroupSize: 2 }) })).matches).toEqual([]);
    expect(summary(matchStatementLines({ lines: groupLine, postings: parts, settings: settings({ maxGroupCandidates: 2 }) })).matches).toEqual([]);
  });
});
