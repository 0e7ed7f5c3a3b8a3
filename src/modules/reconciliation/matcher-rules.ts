import { validationError } from '../../common/errors';

/**
 * The matching engine's vocabulary: its rules and settings, how references are read out of bank and
 * ledger text, and business-day arithmetic. Pure functions only (no database, no clock).
 */

export enum MatchRule {
  /** A reference on the line equals (or is the bank-truncated prefix of) a posting's reference, and the amounts are equal. */
  REFERENCE = 'REFERENCE',
  /** Equal amount, dates within the window, exactly one candidate on each side. */
  AMOUNT_DATE = 'AMOUNT_DATE',
  /** One statement line equals the sum of several postings (a gateway payout: captures − refunds − fees). */
  MANY_TO_ONE = 'MANY_TO_ONE',
  /** One posting equals the sum of several statement lines (an invoice paid in instalments). */
  ONE_TO_MANY = 'ONE_TO_MANY',
  /**
   * A line of money in that the other rules left unmatched names one OPEN invoice of the tenant by its
   * number: the line is recorded as that invoice's payment and matched to the posting this writes.
   * Not the pure engine's (it writes to the books): MatchingService runs it after the engine, wherever
   * it stands in the list, so that money the books already hold is never recorded a second time.
   */
  INVOICE_NUMBER = 'INVOICE_NUMBER',
}

export const ALL_MATCH_RULES: readonly MatchRule[] = [MatchRule.REFERENCE, MatchRule.AMOUNT_DATE, MatchRule.MANY_TO_ONE, MatchRule.ONE_TO_MANY, MatchRule.INVOICE_NUMBER];

export interface MatcherSettings {
  /** Dates within this many business days match (AMOUNT_DATE, and the groups of MANY_TO_ONE/ONE_TO_MANY found without a reference). */
  windowBusinessDays: number;
  /** The rules that run, in this order; a rule left out never matches. */
  rules: readonly MatchRule[];
  /** Non-business days besides Saturdays and Sundays (bank holidays), YYYY-MM-DD. */
  holidays: readonly string[];
  /** A subset-sum search (a group without any shared reference) runs only when at most this many candidates are in the window. */
  maxSubsetCandidates: number;
  /** The largest number of items a subset-sum group may hold. */
  maxSubsetSize: number;
}

export const DEFAULT_MATCHER_SETTINGS: Readonly<MatcherSettings> = Object.freeze({
  windowBusinessDays: 3,
  rules: ALL_MATCH_RULES,
  holidays: [],
  maxSubsetCandidates: 12,
  maxSubsetSize: 4,
});

const MAX_WINDOW_BUSINESS_DAYS = 30;
// 2^20 subset sums per searched item is the most a request may cost; the default (12) costs 4,096.
const MAX_SUBSET_CANDIDATES = 20;

/** Fills in defaults and refuses settings the engine cannot honour (VALIDATION_FAILED naming the field). */
export function matcherSettings(input: Partial<MatcherSettings> = {}): MatcherSettings {
  const settings: MatcherSettings = { ...DEFAULT_MATCHER_SETTINGS, ...stripUndefined(input) };
  const window = settings.windowBusinessDays;
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW_BUSINESS_DAYS) {
    throw validationError(`windowBusinessDays must be a whole number from 0 to ${MAX_WINDOW_BUSINESS_DAYS}`, { field: 'windowBusinessDays', max: MAX_WINDOW_BUSINESS_DAYS });
  }
  const seen = new Set<MatchRule>();
  for (const rule of settings.rules) {
    if (!ALL_MATCH_RULES.includes(rule)) throw validationError(`rules: unknown rule "${String(rule)}"; use ${ALL_MATCH_RULES.join(', ')}`, { field: 'rules' });
    if (seen.has(rule)) throw validationError(`rules: ${rule} is listed twice; list each rule once, in the order it should run`, { field: 'rules', rule });
    seen.add(rule);
  }
  for (const day of settings.holidays) {
    if (parseDay(day) === null) throw validationError(`holidays: "${String(day).slice(0, 40)}" is not a date (YYYY-MM-DD)`, { field: 'holidays' });
  }
  if (!Number.isInteger(settings.maxSubsetCandidates) || settings.maxSubsetCandidates < 0 || settings.maxSubsetCandidates > MAX_SUBSET_CANDIDATES) {
    throw validationError(`maxSubsetCandidates must be a whole number from 0 to ${MAX_SUBSET_CANDIDATES}`, { field: 'maxSubsetCandidates', max: MAX_SUBSET_CANDIDATES });
  }
  if (!Number.isInteger(settings.maxSubsetSize) || settings.maxSubsetSize < 2 || settings.maxSubsetSize > MAX_SUBSET_CANDIDATES) {
    throw validationError(`maxSubsetSize must be a whole number from 2 to ${MAX_SUBSET_CANDIDATES}`, { field: 'maxSubsetSize', max: MAX_SUBSET_CANDIDATES });
  }
  return { ...settings, rules: [...settings.rules], holidays: [...settings.holidays] };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------------------------
// Business days

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const MS_PER_DAY = 86_400_000;

/** Days since 1970-01-01 for a valid YYYY-MM-DD, else null. */
export function parseDay(value: string): number | null {
  const match = DATE_PATTERN.exec(value);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(year, month - 1, day);
  const date = new Date(ms);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return ms / MS_PER_DAY;
}

/**
 * Business-day ordinals: the number of business days on or before a day. Two days' distance in
 * business days is the difference of their ordinals, so Friday→Monday is 1 and Saturday→Monday is 1,
 * and a weekend or holiday date shares the ordinal of the business day before it.
 */
export class BusinessCalendar {
  private readonly holidays: number[];
  private readonly cache = new Map<string, number | null>();

  constructor(holidays: readonly string[] = []) {
    const weekdayHolidays = new Set<number>();
    for (const day of holidays) {
      const parsed = parseDay(day);
      if (parsed !== null && !isWeekend(parsed)) weekdayHolidays.add(parsed);
    }
    this.holidays = [...weekdayHolidays].sort((a, b) => a - b);
  }

  ordinalOfDay(day: number): number {
    return weekdaysUpTo(day) - countAtMost(this.holidays, day);
  }

  /** The ordinal of a YYYY-MM-DD date, or null when it is not one. */
  ordinal(date: string): number | null {
    let cached = this.cache.get(date);
    if (cached === undefined) {
      const day = parseDay(date);
      cached = day === null ? null : this.ordinalOfDay(day);
      this.cache.set(date, cached);
    }
    return cached;
  }

  distance(a: string, b: string): number | null {
    const [oa, ob] = [this.ordinal(a), this.ordinal(b)];
    return oa === null || ob === null ? null : Math.abs(oa - ob);
  }
}

function isWeekend(day: number): boolean {
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
  return weekday === 0 || weekday === 6;
}

/** Mondays to Fridays in (epochMonday - ∞ … day], shifted to a fixed origin; only differences matter. */
function weekdaysUpTo(day: number): number {
  const sinceMonday = day + 3; // 1969-12-29 was a Monday: day -3
  const weeks = Math.floor(sinceMonday / 7);
  const rest = sinceMonday - weeks * 7; // 0 = Monday … 6 = Sunday
  return weeks * 5 + Math.min(rest + 1, 5);
}

function countAtMost(sorted: number[], value: number): number {
  let [lo, hi] = [0, sorted.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// References

/** A truncated reference must keep at least this many characters (after normalising) to count. */
export const MIN_TRUNCATED_REFERENCE_LENGTH = 8;
/** A whole structured reference (end-to-end id, externalRef, a related id) counts from this length. */
const MIN_STRUCTURED_REFERENCE_LENGTH = 4;
/** A token found in free text (remittance information, a description) counts from this length… */
const MIN_FREE_TEXT_REFERENCE_LENGTH = 6;

export type LineReferenceField = 'endToEndId' | 'bankReference' | 'remittanceInformation';
export type PostingReferenceField = 'externalRef' | 'relatedId' | 'description';

export interface ReferenceToken<Field extends string> {
  /** Upper case, separators (space - _ / .) removed: what is compared. */
  key: string;
  /** As written, for the explanation. */
  text: string;
  field: Field;
  /** Made of neighbouring words of free text: matched exactly only. */
  joined?: boolean;
}

const SEPARATORS = /[\s\-_/.]+/g;
// Anything but letters, digits and the separators that occur inside references splits free text.
const FREE_TEXT_SPLIT = /[^A-Za-z0-9\-_/.]+/;
const HAS_DIGIT = /\d/;
const SINGLE_WORD = /^[A-Za-z0-9\-_.]*$/;
const HAS_LETTER = /[A-Z]/;

export function normaliseReference(text: string): string {
  return text.replace(SEPARATORS, '').toUpperCase();
}

function pushToken<F extends string>(tokens: ReferenceToken<F>[], seen: Set<string>, key: string, text: string, field: F): void {
  if (seen.has(key)) return;
  seen.add(key);
  tokens.push({ key, text, field });
}

/**
 * A whole structured value counts when it has a digit and 4+ characters ("NONREF", "NOTPROVIDED" do
 * not). Free text yields the words that look like references: 6+ characters with both a letter and a
 * digit, "/"-separated parts too ("EREF+po_01H…", "Inv. INV-2026-000042," and "REF/2026/42AB" all work).
 * With `joinWords`, two or three neighbouring words joined count as well ("INV 2026 000042") when
 * `joinWords` accepts their key; those only ever match a reference exactly, never as a truncated
 * prefix, so a caller passes the keys it could match (most remittance texts join into keys like
 * "INVOICEINV2026000042" that nothing carries, and keeping them costs memory for nothing).
 */
export function referenceTokens<F extends string>(
  tokens: ReferenceToken<F>[],
  seen: Set<string>,
  text: string | null | undefined,
  field: F,
  structured: boolean,
  joinWords: false | ((key: string) => boolean) = false,
): void {
  if (!text) return;
  if (structured) {
    const key = normaliseReference(text.trim());
    if (key.length >= MIN_STRUCTURED_REFERENCE_LENGTH && HAS_DIGIT.test(key)) pushToken(tokens, seen, key, text.trim(), field);
    // One word with no "/" in it ("po_01H…", "INV-2026-000042"): the free-text pass would find the same key again.
    if (SINGLE_WORD.test(text)) return;
  }
  const words = text.split(FREE_TEXT_SPLIT);
  // Whether each word is a reference of its own; a join starts only at a word that is not ("INV 2026 42", "po 01H…").
  const alone: boolean[] = joinWords ? new Array(words.length) : [];
  for (let i = 0; i < words.length; i++) {
    const word = trimSeparators(words[i]);
    words[i] = word;
    if (!word || !HAS_DIGIT.test(word)) {
      if (joinWords) alone[i] = false;
      continue;
    }
    let found = false;
    const parts = word.includes('/') ? [word, ...word.split('/')] : [word];
    for (const part of parts) {
      const key = normaliseReference(part);
      if (looksLikeReference(key)) {
        pushToken(tokens, seen, key, part, field);
        found = true;
      }
    }
    if (joinWords) alone[i] = found;
  }
  if (!joinWords) return;
  for (let i = 0; i < words.length; i++) {
    if (!words[i] || alone[i]) continue;
    for (let span = 2; span <= 3 && i + span <= words.length; span++) {
      const last = i + span - 1;
      if (!words[last]) break;
      const joined = words.slice(i, i + span).join(' ');
      const key = normaliseReference(joined);
      if (looksLikeReference(key) && !seen.has(key) && joinWords(key)) {
        seen.add(key);
        tokens.push({ key, text: joined, field, joined: true });
      }
    }
  }
}

function trimSeparators(word: string): string {
  let [start, end] = [0, word.length];
  while (start < end && isSeparator(word.charCodeAt(start))) start++;
  while (end > start && isSeparator(word.charCodeAt(end - 1))) end--;
  return start === 0 && end === word.length ? word : word.slice(start, end);
}

const isSeparator = (code: number) => code === 45 /* - */ || code === 95 /* _ */ || code === 47 /* / */ || code === 46; /* . */

function looksLikeReference(key: string): boolean {
  return key.length >= MIN_FREE_TEXT_REFERENCE_LENGTH && HAS_DIGIT.test(key) && HAS_LETTER.test(key);
}
