import { validationError } from '../../common/errors';
import { ALL_MATCH_RULES, DEFAULT_MATCHER_SETTINGS, type MatchRule, type MatcherSettings } from './matcher-rules';

/**
 * A bank account's matching settings: which rules of the engine run, in what order, and the limits an
 * operator may tune. Stored on bank_accounts; turned into the engine's MatcherSettings for every run.
 */
export interface BankAccountMatchingSettings {
  /** The rules that run, in this order; at least one, each once. */
  rules: MatchRule[];
  /** Business days a line and a posting may lie apart (AMOUNT_DATE, and groups found without a reference). */
  windowBusinessDays: number;
  /** The most items a MANY_TO_ONE / ONE_TO_MANY group found by summing (no shared reference) may hold. */
  maxGroupSize: number;
  /** Summing is tried only when at most this many candidates lie in the window (0: never). */
  maxGroupCandidates: number;
}

/** What a caller may change; a field left out (or null) keeps its current (or default) value. */
export interface BankAccountMatchingSettingsChange {
  rules?: readonly string[] | null;
  windowBusinessDays?: number | null;
  maxGroupSize?: number | null;
  maxGroupCandidates?: number | null;
}

export const DEFAULT_BANK_ACCOUNT_MATCHING: Readonly<BankAccountMatchingSettings> = Object.freeze({
  rules: [...DEFAULT_MATCHER_SETTINGS.rules],
  windowBusinessDays: DEFAULT_MATCHER_SETTINGS.windowBusinessDays,
  maxGroupSize: DEFAULT_MATCHER_SETTINGS.maxSubsetSize,
  maxGroupCandidates: DEFAULT_MATCHER_SETTINGS.maxSubsetCandidates,
});

/**
 * Bounds of the settings. maxGroupCandidates stops at 16 (the engine takes 20): summing over n
 * candidates costs 2^n per line, and 65,536 per line is what one account may ask of a shared server.
 */
export const BANK_ACCOUNT_MATCHING_LIMITS = {
  windowBusinessDays: { min: 0, max: 30 },
  maxGroupSize: { min: 2, max: 10 },
  maxGroupCandidates: { min: 0, max: 16 },
} as const;

type Bounded = keyof typeof BANK_ACCOUNT_MATCHING_LIMITS;

/**
 * Applies a change to settings and validates the result: VALIDATION_FAILED naming `${prefix}.field`
 * for an empty rule list, an unknown or repeated rule, or a number out of its range.
 */
export function changedMatchingSettings(current: BankAccountMatchingSettings, change: BankAccountMatchingSettingsChange, prefix: string): BankAccountMatchingSettings {
  const next: BankAccountMatchingSettings = { ...current, rules: [...current.rules] };
  if (change.rules !== undefined && change.rules !== null) next.rules = matchRules(change.rules, `${prefix}.rules`);
  for (const name of Object.keys(BANK_ACCOUNT_MATCHING_LIMITS) as Bounded[]) {
    const value = change[name];
    if (value === undefined || value === null) continue;
    const { min, max } = BANK_ACCOUNT_MATCHING_LIMITS[name];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw validationError(`${prefix}.${name} must be a whole number from ${min} to ${max}`, { field: `${prefix}.${name}`, min, max });
    }
    next[name] = value;
  }
  return next;
}

function matchRules(rules: readonly string[], field: string): MatchRule[] {
  if (rules.length === 0) {
    throw validationError(`${field} must list at least one rule, in the order they should run (${ALL_MATCH_RULES.join(', ')})`, { field });
  }
  const seen = new Set<MatchRule>();
  for (const rule of rules) {
    if (!(ALL_MATCH_RULES as readonly string[]).includes(rule)) {
      throw validationError(`${field}: unknown rule "${String(rule).slice(0, 40)}"; use ${ALL_MATCH_RULES.join(', ')}`, { field, allowed: [...ALL_MATCH_RULES] });
    }
    if (seen.has(rule as MatchRule)) throw validationError(`${field}: ${rule} is listed twice; list each rule once, in the order it should run`, { field, rule });
    seen.add(rule as MatchRule);
  }
  return [...seen];
}

/** The engine's settings for an account. */
export function matcherSettingsOf(settings: BankAccountMatchingSettings): Partial<MatcherSettings> {
  return {
    rules: settings.rules,
    windowBusinessDays: settings.windowBusinessDays,
    maxSubsetSize: settings.maxGroupSize,
    maxSubsetCandidates: settings.maxGroupCandidates,
  };
}

/** The rules as bank_accounts.match_rules stores them: names joined by commas, in order. */
export function encodeMatchRules(rules: readonly MatchRule[]): string {
  return rules.join(',');
}

/** Reads bank_accounts.match_rules; a value the API could not have written is a broken row, not a user's error. */
export function decodeMatchRules(stored: string, bankAccountId: string): MatchRule[] {
  const rules = stored.split(',').filter((rule) => rule !== '');
  if (rules.length === 0 || rules.some((rule) => !(ALL_MATCH_RULES as readonly string[]).includes(rule))) {
    throw new Error(`bank_accounts.match_rules of ${bankAccountId} holds "${stored.slice(0, 100)}", not a list of ${ALL_MATCH_RULES.join(', ')}`);
  }
  return rules as MatchRule[];
}
