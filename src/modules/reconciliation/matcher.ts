import {
  BusinessCalendar,
  type LineReferenceField,
  MatchRule,
  MIN_TRUNCATED_REFERENCE_LENGTH,
  matcherSettings,
  type MatcherSettings,
  type PostingReferenceField,
  type ReferenceToken,
  referenceTokens,
} from './matcher-rules';

export { MatchRule, DEFAULT_MATCHER_SETTINGS, matcherSettings, type MatcherSettings } from './matcher-rules';

/**
 * The matching engine: unmatched statement lines against unmatched postings on the bank account's
 * ledger account. Pure and deterministic: no database, no clock; the same items in any order give the
 * same result (everything is sorted by id first), and every match says which rule made it, with the
 * values it compared. It never guesses: when two candidates are equally good it reports an
 * AMBIGUOUS_MATCH problem instead of choosing, and a reference that points at a posting of another
 * amount is an AMOUNT_MISMATCH problem, not a match.
 *
 * Incremental use: it matches whatever it is given, so a caller may pass the new lines of an import
 * or a newly written posting together with the unmatched items of the other side. Uniqueness is only
 * judged among the items passed, so pass every unmatched item of the bank account that could compete
 * (simplest: all unmatched lines and all unmatched postings of the account; `npm run
 * bench:reconcile-match` times 100,000 lines against 218,000 postings). The reference rules ignore
 * dates: a caller that reads only the items dated near the new ones misses reference matches beyond
 * that range, and sees a payout whose older captures it did not read as an AMOUNT_MISMATCH. Each line
 * and posting is matched at most once within one call; across calls that is the caller's: it must
 * hold a database constraint (one match per line, one per posting) and serialise matching per bank
 * account, so two calls never match the same item.
 */

export interface MatcherStatementLine {
  id: string;
  /** Signed, the bank's view: money in positive, money out negative. */
  amountMinor: bigint;
  currency: string;
  bookingDate: string | null; // YYYY-MM-DD
  valueDate: string | null; // YYYY-MM-DD
  bankReference: string | null;
  endToEndId: string | null;
  remittanceInformation: string | null;
  counterpartyName: string | null;
}

export interface MatcherPosting {
  id: string;
  journalEntryId: string;
  /** Signed, the same view as the lines: a DEBIT to the cash-at-bank asset is money in, positive. */
  amountMinor: bigint;
  currency: string;
  /** The entry's effective date, YYYY-MM-DD (in the bank account's time zone: the caller's choice). */
  effectiveDate: string;
  /** The journal entry's externalRef. */
  externalRef: string | null;
  /** The journal entry's description; words that look like references count. */
  description: string | null;
  /** Ids the posting settles or belongs to: payments (pay_…), payouts (po_…), invoices (INV-2026-000042), batches. */
  relatedIds: readonly string[];
}

export interface MatchInput {
  lines: readonly MatcherStatementLine[];
  postings: readonly MatcherPosting[];
  settings?: Partial<MatcherSettings>;
}

export type ReferenceHow = 'EXACT' | 'PREFIX' | 'SHARED';

export interface ReferenceComparison {
  /** EXACT: equal after normalising; PREFIX: the line holds the first characters of the posting's reference (truncated by the bank); SHARED: the grouped items share it, the other side holds none. */
  how: ReferenceHow;
  line: { field: LineReferenceField; text: string } | null;
  posting: { field: PostingReferenceField; text: string } | null;
  /** How many normalised characters were equal. */
  matchedCharacters: number;
  /**
   * PREFIX only, when the truncated text starts more than one of our references: how many it starts,
   * and how many postings have the line's amount and currency within the window (exactly one of which
   * carries a reference starting with the text). Absent when the prefix names one reference by itself.
   */
  singledOutByAmount?: { referencesWithPrefix: number; postingsOfAmountInWindow: number };
}

export type GroupHow = 'LINE_REFERENCE' | 'SHARED_REFERENCE' | 'SUBSET_SUM';

export interface MatchComparison {
  amount: { line: bigint; postings: bigint; equal: boolean };
  currency: { line: string; postings: string; equal: boolean };
  reference: ReferenceComparison | null;
  /** Business days between the line's dates and the posting's (0 when between its booking and value date); for a group, the nearest member. Null when the line has no date. */
  dateDistanceBusinessDays: number | null;
  /** For MANY_TO_ONE and ONE_TO_MANY: how the group was found and from how many candidates. */
  group?: { how: GroupHow; candidates: number };
}

export interface Match {
  rule: MatchRule;
  /** 0..1, for display: the rule decides, the score says how strong its evidence was. */
  score: number;
  lineIds: string[];
  postingIds: string[];
  compared: MatchComparison;
}

export type MatchProblem =
  | {
      kind: 'AMBIGUOUS_MATCH';
      rule: MatchRule;
      reason: string;
      lineIds: string[];
      postingIds: string[];
    }
  | {
      kind: 'AMOUNT_MISMATCH';
      reason: string;
      lineIds: string[];
      postingIds: string[];
      lineAmountMinor: bigint;
      postingAmountMinor: bigint;
      differenceMinor: bigint;
      lineCurrency: string;
      postingCurrency: string;
      reference: ReferenceComparison;
    };

export interface MatchResult {
  matches: Match[];
  problems: MatchProblem[];
}

// ---------------------------------------------------------------------------------------------

interface Link {
  other: number;
  reference: ReferenceComparison;
}

/** Lines and postings seen the same way, so MANY_TO_ONE and ONE_TO_MANY are one algorithm with the sides swapped. */
interface Side {
  kind: 'line' | 'posting';
  ids: string[];
  amounts: bigint[];
  currencies: string[];
  /** Business-day ordinal range of the item's dates (a posting: one date; a line: booking and value date), or null. */
  lo: (number | null)[];
  hi: (number | null)[];
  /** Reference links to the other side's items. */
  links: Link[][];
  /** Keys that group items of this side with each other (a payout id on every capture it settles), by interned id. */
  groupKeyIds: Map<string, number>;
  groupCarriers: number[][];
  groupTokens: ReferenceToken<string>[];
  used: Uint8Array;
  held: Uint8Array;
}

interface Claim {
  one: number;
  many: number[];
  how: GroupHow;
  candidates: number;
  reference: ReferenceComparison | null;
}

/** Sorted by id; the default sort of the ids (UTF-16 code units, like `<`) is far faster than a comparator over objects. */
function sortById<T extends { id: string }>(items: readonly T[]): T[] {
  const byId = new Map<string, T>();
  for (const item of items) {
    if (byId.has(item.id)) throw new Error(`matchStatementLines: ${item.id} was passed twice`);
    byId.set(item.id, item);
  }
  return [...byId.keys()].sort().map((id) => byId.get(id)!);
}
const compareStrings = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function matchStatementLines(input: MatchInput): MatchResult {
  const settings = matcherSettings(input.settings);
  const calendar = new BusinessCalendar(settings.holidays);
  const lines = sortById(input.lines);
  const postings = sortById(input.postings);

  const lineSide = buildSide('line', lines, (line) => {
    const dates = [line.bookingDate, line.valueDate].filter((d): d is string => d !== null).map((d) => requireOrdinal(calendar, d, `line ${line.id}`));
    return dates.length ? [Math.min(...dates), Math.max(...dates)] : [null, null];
  });
  const postingSide = buildSide('posting', postings, (posting) => {
    const ordinal = requireOrdinal(calendar, posting.effectiveDate, `posting ${posting.id}`);
    return [ordinal, ordinal];
  });
  linkByReference(lines, postings, lineSide, postingSide, settings.windowBusinessDays);

  const engine = new Engine(settings, lineSide, postingSide);
  for (const rule of settings.rules) engine.run(rule);
  engine.reportAmountMismatches();
  return engine.result();
}

function requireOrdinal(calendar: BusinessCalendar, date: string, what: string): number {
  const ordinal = calendar.ordinal(date);
  if (ordinal === null) throw new Error(`matchStatementLines: ${what} has a date that is not YYYY-MM-DD: ${date.slice(0, 40)}`);
  return ordinal;
}

function buildSide<T extends { id: string; amountMinor: bigint; currency: string }>(
  kind: Side['kind'],
  items: T[],
  dates: (item: T) => [number | null, number | null],
): Side {
  const n = items.length;
  const side: Side = {
    kind,
    ids: new Array(n),
    amounts: new Array(n),
    currencies: new Array(n),
    lo: new Array(n),
    hi: new Array(n),
    links: new Array(n),
    groupKeyIds: new Map(),
    groupCarriers: [],
    groupTokens: [],
    used: new Uint8Array(n),
    held: new Uint8Array(n),
  };
  items.forEach((item, i) => {
    if (typeof item.amountMinor !== 'bigint') throw new Error(`matchStatementLines: ${kind} ${item.id} has a non-bigint amount`);
    side.ids[i] = item.id;
    side.amounts[i] = item.amountMinor;
    side.currencies[i] = item.currency;
    [side.lo[i], side.hi[i]] = dates(item);
    side.links[i] = NO_LINKS;
  });
  return side;
}

const LINE_FIELD_RANK: Record<LineReferenceField, number> = { endToEndId: 0, remittanceInformation: 1, bankReference: 2 };
const POSTING_FIELD_RANK: Record<PostingReferenceField, number> = { relatedId: 0, externalRef: 1, description: 2 };

/** The better of two links between the same pair: exact over prefix, then longer, then the more specific fields. */
function betterReference(a: ReferenceComparison, b: ReferenceComparison): boolean {
  if (a.how !== b.how) return a.how === 'EXACT';
  if (a.matchedCharacters !== b.matchedCharacters) return a.matchedCharacters > b.matchedCharacters;
  const lineRank = LINE_FIELD_RANK[a.line!.field] - LINE_FIELD_RANK[b.line!.field];
  if (lineRank !== 0) return lineRank < 0;
  const postingRank = POSTING_FIELD_RANK[a.posting!.field] - POSTING_FIELD_RANK[b.posting!.field];
  if (postingRank !== 0) return postingRank < 0;
  return a.line!.text + a.posting!.text < b.line!.text + b.posting!.text;
}

/**
 * Links every line to the postings whose references it holds. A posting reference is looked up
 * exactly; a line token of 8+ characters with no exact hit counts as a bank-truncated reference when
 * exactly one posting reference starts with it (a prefix that several references share identifies
 * none of them, and is ignored).
 */
function linkByReference(lines: MatcherStatementLine[], postings: MatcherPosting[], lineSide: Side, postingSide: Side, window: number): void {
  const postingsByKey = new Map<string, number[]>();
  const postingTokens: ReferenceToken<PostingReferenceField>[][] = new Array(postings.length);
  const seen = new Set<string>();
  postings.forEach((posting, index) => {
    const tokens: ReferenceToken<PostingReferenceField>[] = [];
    seen.clear();
    for (const related of posting.relatedIds) referenceTokens(tokens, seen, related, 'relatedId', true);
    referenceTokens(tokens, seen, posting.externalRef, 'externalRef', true);
    referenceTokens(tokens, seen, posting.description, 'description', false);
    postingTokens[index] = tokens;
    for (const token of tokens) {
      const list = postingsByKey.get(token.key);
      if (list) list.push(index);
      else postingsByKey.set(token.key, [index]);
      // Free-text words of descriptions link to lines but do not make batches: only our own ids do.
      if (token.field !== 'description') addGroupKey(postingSide, token, index);
    }
  });
  // The default sort compares UTF-16 code units, the same order as `<`, and much faster than a comparator.
  const sortedKeys = [...postingsByKey.keys()].sort();
  // Postings by amount, sorted by date: built only when a truncated reference needs it. Keyed by the
  // bigint itself (Map keys compare bigints by value): no string per posting; currencies are checked in the scan.
  let byAmount: Map<bigint, number[]> | null = null;
  const postingsByAmount = (): Map<bigint, number[]> => {
    if (byAmount) return byAmount;
    byAmount = new Map();
    for (let p = 0; p < postings.length; p++) {
      const list = byAmount.get(postingSide.amounts[p]);
      if (list) list.push(p);
      else byAmount.set(postingSide.amounts[p], [p]);
    }
    for (const list of byAmount.values()) if (list.length > 1) list.sort((a, b) => postingSide.lo[a]! - postingSide.lo[b]! || a - b);
    return byAmount;
  };

  // Joined words only ever match exactly: a join no posting carries is not kept.
  const isPostingKey = (key: string) => postingsByKey.has(key);
  const lineTokens: ReferenceToken<LineReferenceField>[][] = new Array(lines.length);
  const linesByKey = new Map<string, number>();
  lines.forEach((line, lineIndex) => {
    const tokens: ReferenceToken<LineReferenceField>[] = [];
    seen.clear();
    referenceTokens(tokens, seen, line.endToEndId, 'endToEndId', true);
    referenceTokens(tokens, seen, line.remittanceInformation, 'remittanceInformation', false, isPostingKey);
    referenceTokens(tokens, seen, line.bankReference, 'bankReference', true);
    lineTokens[lineIndex] = tokens;
    for (const token of tokens) linesByKey.set(token.key, (linesByKey.get(token.key) ?? 0) + 1);
  });
  // A reference names one transaction, on one side at least: a key that many lines and many postings
  // carry (a customer number) identifies nothing, and linking it would pair every line with every posting.
  const identifies = (key: string, postingCount: number) => postingCount <= MAX_SHARED_REFERENCE_ITEMS || linesByKey.get(key)! <= MAX_SHARED_REFERENCE_ITEMS;

  lines.forEach((_line, lineIndex) => {
    const tokens = lineTokens[lineIndex];
    let best: Map<number, ReferenceComparison> | null = null;
    const offer = (posting: number, reference: ReferenceComparison) => {
      best ??= new Map();
      const current = best.get(posting);
      if (!current || betterReference(reference, current)) best.set(posting, reference);
    };
    for (const token of tokens) {
      // The bank's own reference is unique per line, so it would group a line only with its duplicates.
      if (token.field !== 'bankReference' && !token.joined) addGroupKey(lineSide, token, lineIndex);
      const exact = postingsByKey.get(token.key);
      if (exact) {
        if (!identifies(token.key, exact.length)) continue;
        for (const posting of exact) {
          const hit = postingTokens[posting].find((candidate) => candidate.key === token.key)!;
          offer(posting, {
            how: 'EXACT',
            line: { field: token.field, text: token.text },
            posting: { field: hit.field, text: hit.text },
            matchedCharacters: token.key.length,
          });
        }
        continue;
      }
      if (token.joined || token.key.length < MIN_TRUNCATED_REFERENCE_LENGTH) continue;
      const [first, end] = keyRangeWithPrefix(sortedKeys, token.key);
      if (end - first === 1) {
        const key = sortedKeys[first];
        if (!identifies(token.key, postingsByKey.get(key)!.length)) continue;
        for (const posting of postingsByKey.get(key)!) {
          const hit = postingTokens[posting].find((candidate) => candidate.key === key)!;
          offer(posting, {
            how: 'PREFIX',
            line: { field: token.field, text: token.text },
            posting: { field: hit.field, text: hit.text },
            matchedCharacters: token.key.length,
          });
        }
        continue;
      }
      if (end - first < 2 || lineSide.lo[lineIndex] === null) continue;
      // The prefix starts several of our references ("INV2026000" after the bank cut "INV-2026-000042"
      // short), so it names none by itself; but among the postings with the line's amount and currency
      // dated within the window, it may fit exactly one: that one is linked, with the count recorded.
      const bucket = postingsByAmount().get(lineSide.amounts[lineIndex]);
      if (!bucket) continue;
      const start = lowerBound(bucket, lineSide.lo[lineIndex]! - window, (p) => postingSide.lo[p]!);
      let single = -1;
      let singleToken: ReferenceToken<PostingReferenceField> | undefined;
      let fitting = 0;
      let inWindow = 0;
      for (let i = start; i < bucket.length && postingSide.lo[bucket[i]]! <= lineSide.hi[lineIndex]! + window; i++) {
        if (postingSide.currencies[bucket[i]] !== lineSide.currencies[lineIndex]) continue;
        inWindow++;
        const hit = postingTokens[bucket[i]].find((candidate) => candidate.key.startsWith(token.key));
        if (hit && ++fitting === 1) [single, singleToken] = [bucket[i], hit];
      }
      if (fitting !== 1) continue;
      offer(single, {
        how: 'PREFIX',
        line: { field: token.field, text: token.text },
        posting: { field: singleToken!.field, text: singleToken!.text },
        matchedCharacters: token.key.length,
        singledOutByAmount: { referencesWithPrefix: end - first, postingsOfAmountInWindow: inWindow },
      });
    }
    if (best === null) return;
    const found: Map<number, ReferenceComparison> = best;
    for (const posting of [...found.keys()].sort((a, b) => a - b)) {
      const reference = found.get(posting)!;
      addLink(lineSide, lineIndex, { other: posting, reference });
      addLink(postingSide, posting, { other: lineIndex, reference });
    }
  });
}

/** Lines and postings beyond which a reference both sides share is a label (a customer number), not a reference. */
const MAX_SHARED_REFERENCE_ITEMS = 10;

// Most items have no link: they share this empty array until their first one.
const NO_LINKS: Link[] = [];

function addLink(side: Side, item: number, link: Link): void {
  if (side.links[item] === NO_LINKS) side.links[item] = [link];
  else side.links[item].push(link);
}

function addGroupKey(side: Side, token: ReferenceToken<string>, item: number): void {
  const id = side.groupKeyIds.get(token.key);
  if (id !== undefined) {
    const carriers = side.groupCarriers[id];
    if (carriers[carriers.length - 1] !== item) carriers.push(item);
    return;
  }
  side.groupKeyIds.set(token.key, side.groupCarriers.length);
  side.groupCarriers.push([item]);
  side.groupTokens.push(token);
}

/** [first, end) of the sorted keys that start with `prefix`. */
function keyRangeWithPrefix(sortedKeys: string[], prefix: string): [number, number] {
  const first = lowerBoundString(sortedKeys, prefix);
  let end = first;
  // Past the first few, find the end by binary search over the keys that still start with the prefix.
  while (end < sortedKeys.length && end - first < 2 && sortedKeys[end].startsWith(prefix)) end++;
  if (end - first < 2 || end >= sortedKeys.length || !sortedKeys[end].startsWith(prefix)) return [first, end];
  let [lo, hi] = [end, sortedKeys.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sortedKeys[mid].startsWith(prefix)) lo = mid + 1;
    else hi = mid;
  }
  return [first, lo];
}

function lowerBoundString(sorted: string[], target: string): number {
  let [lo, hi] = [0, sorted.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------

class UnionFind {
  private readonly parent: Int32Array;
  constructor(size: number) {
    this.parent = new Int32Array(size);
    for (let i = 0; i < size; i++) this.parent[i] = i;
  }
  find(x: number): number {
    let root = x;
    while (this.parent[root] !== root) root = this.parent[root];
    while (this.parent[x] !== root) {
      const next = this.parent[x];
      this.parent[x] = root;
      x = next;
    }
    return root;
  }
  union(a: number, b: number): void {
    const [ra, rb] = [this.find(a), this.find(b)];
    // The smaller index wins, so roots (and the order components are listed in) never depend on call order.
    if (ra < rb) this.parent[rb] = ra;
    else if (rb < ra) this.parent[ra] = rb;
  }
}

/** Items of both sides in one index space: lines first, then postings. */
interface Component {
  lines: number[];
  postings: number[];
}

function distance(aLo: number | null, aHi: number | null, bLo: number | null, bHi: number | null): number | null {
  if (aLo === null || aHi === null || bLo === null || bHi === null) return null;
  return Math.max(0, bLo - aHi, aLo - bHi);
}

const sum = (values: bigint[]) => values.reduce((total, value) => total + value, 0n);

class Engine {
  private readonly matches: Match[] = [];
  private readonly problems: MatchProblem[] = [];
  private readonly window: number;

  constructor(
    private readonly settings: MatcherSettings,
    private readonly lines: Side,
    private readonly postings: Side,
  ) {
    this.window = settings.windowBusinessDays;
  }

  run(rule: MatchRule): void {
    switch (rule) {
      case MatchRule.REFERENCE:
        return this.referenceRule();
      case MatchRule.AMOUNT_DATE:
        return this.amountDateRule();
      case MatchRule.MANY_TO_ONE:
        return this.groupRule(MatchRule.MANY_TO_ONE, this.lines, this.postings);
      case MatchRule.ONE_TO_MANY:
        return this.groupRule(MatchRule.ONE_TO_MANY, this.postings, this.lines);
      case MatchRule.INVOICE_NUMBER:
        // Writes a payment: MatchingService runs it once the engine is done (matchInvoiceNumbers).
        return;
    }
  }

  result(): MatchResult {
    const matches = [...this.matches].sort((a, b) => compareStrings(a.lineIds[0], b.lineIds[0]) || compareStrings(a.postingIds[0], b.postingIds[0]));
    const problems = [...this.problems].sort(
      (a, b) =>
        compareStrings(a.kind, b.kind) ||
        compareStrings(a.lineIds[0] ?? '', b.lineIds[0] ?? '') ||
        compareStrings(a.postingIds[0] ?? '', b.postingIds[0] ?? ''),
    );
    return { matches, problems };
  }

  private available(side: Side, i: number): boolean {
    return side.used[i] === 0 && side.held[i] === 0;
  }

  /** Links to items of the other side not matched yet (held ones included: they still claim the reference). */
  private liveLinks(side: Side, i: number): Link[] {
    const links = side.links[i];
    if (links.length === 0) return links;
    const other = side === this.lines ? this.postings : this.lines;
    return links.filter((link) => other.used[link.other] === 0);
  }

  private isLinked(side: Side, i: number): boolean {
    const other = side === this.lines ? this.postings : this.lines;
    for (const link of side.links[i]) if (other.used[link.other] === 0) return true;
    return false;
  }

  private lineDistance(line: number, posting: number): number | null {
    return distance(this.lines.lo[line], this.lines.hi[line], this.postings.lo[posting], this.postings.hi[posting]);
  }

  private record(rule: MatchRule, score: number, lineIds: number[], postingIds: number[], reference: ReferenceComparison | null, group?: MatchComparison['group']): void {
    const [lines, postings] = [this.lines, this.postings];
    for (const l of lineIds) lines.used[l] = 1;
    for (const p of postingIds) postings.used[p] = 1;
    let nearest: number | null = null;
    for (const l of lineIds) {
      for (const p of postingIds) {
        const d = this.lineDistance(l, p);
        if (d !== null && (nearest === null || d < nearest)) nearest = d;
      }
    }
    const lineCurrency = [...new Set(lineIds.map((l) => lines.currencies[l]))].sort().join(',');
    const postingCurrency = [...new Set(postingIds.map((p) => postings.currencies[p]))].sort().join(',');
    const lineAmount = sum(lineIds.map((l) => lines.amounts[l]));
    const postingAmount = sum(postingIds.map((p) => postings.amounts[p]));
    this.matches.push({
      rule,
      score: Math.round(score * 100) / 100,
      lineIds: lineIds.map((l) => lines.ids[l]).sort(compareStrings),
      postingIds: postingIds.map((p) => postings.ids[p]).sort(compareStrings),
      compared: {
        amount: { line: lineAmount, postings: postingAmount, equal: lineAmount === postingAmount },
        currency: { line: lineCurrency, postings: postingCurrency, equal: lineCurrency === postingCurrency },
        reference,
        dateDistanceBusinessDays: nearest,
        ...(group ? { group } : {}),
      },
    });
  }

  private ambiguous(rule: MatchRule, reason: string, component: Component): void {
    for (const l of component.lines) this.lines.held[l] = 1;
    for (const p of component.postings) this.postings.held[p] = 1;
    this.problems.push({
      kind: 'AMBIGUOUS_MATCH',
      rule,
      reason,
      lineIds: component.lines.map((l) => this.lines.ids[l]).sort(compareStrings),
      postingIds: component.postings.map((p) => this.postings.ids[p]).sort(compareStrings),
    });
  }

  /** Groups the touched items of a union-find into components (index space: lines, then postings), in index order. */
  private components(uf: UnionFind, touched: Iterable<number>): Component[] {
    const nLines = this.lines.ids.length;
    const marked = new Uint8Array(nLines + this.postings.ids.length);
    for (const item of touched) marked[item] = 1;
    const byRoot = new Map<number, Component>();
    const ordered: Component[] = [];
    for (let item = 0; item < marked.length; item++) {
      if (marked[item] === 0) continue;
      const root = uf.find(item);
      let component = byRoot.get(root);
      if (!component) {
        byRoot.set(root, (component = { lines: [], postings: [] }));
        ordered.push(component);
      }
      if (item < nLines) component.lines.push(item);
      else component.postings.push(item - nLines);
    }
    return ordered;
  }

  // -------------------------------------------------------------------------------------------
  // (1) REFERENCE

  /**
   * A line and a posting linked by a reference, with equal amounts (and currencies), each the other's
   * only such candidate. When the reference also links several items whose sum equals the amount
   * (a payout id carried by the capture that alone equals the payout), the group would explain it too:
   * that is ambiguous.
   */
  private referenceRule(): void {
    const { lines, postings } = this;
    const nLines = lines.ids.length;
    const uf = new UnionFind(nLines + postings.ids.length);
    const touched: number[] = [];
    const groupAlsoFits = new Set<number>();

    for (let l = 0; l < nLines; l++) {
      if (!this.available(lines, l)) continue;
      const live = this.liveLinks(lines, l);
      const equal = live.filter((link) => this.available(postings, link.other) && this.sameMoney(lines, l, postings, link.other));
      if (equal.length === 0) continue;
      touched.push(l);
      for (const link of equal) {
        uf.union(l, nLines + link.other);
        touched.push(nLines + link.other);
      }
      if (live.length >= 2 && this.groupSumEquals(lines, l, postings, live)) {
        for (const link of live) if (this.available(postings, link.other)) {
          uf.union(l, nLines + link.other);
          touched.push(nLines + link.other);
        }
        groupAlsoFits.add(l);
      }
    }
    for (let p = 0; p < postings.ids.length; p++) {
      if (!this.available(postings, p)) continue;
      const live = this.liveLinks(postings, p);
      if (live.length < 2 || !live.some((link) => this.available(lines, link.other) && this.sameMoney(postings, p, lines, link.other))) continue;
      if (!this.groupSumEquals(postings, p, lines, live)) continue;
      touched.push(nLines + p);
      for (const link of live) if (this.available(lines, link.other)) {
        uf.union(nLines + p, link.other);
        touched.push(link.other);
      }
      groupAlsoFits.add(nLines + p);
    }

    for (const component of this.components(uf, touched)) {
      const grouped = component.lines.some((l) => groupAlsoFits.has(l)) || component.postings.some((p) => groupAlsoFits.has(nLines + p));
      if (component.lines.length === 1 && component.postings.length === 1 && !grouped) {
        const [l, p] = [component.lines[0], component.postings[0]];
        const reference = lines.links[l].find((link) => link.other === p)!.reference;
        this.record(MatchRule.REFERENCE, reference.how === 'EXACT' ? 1 : 0.9, [l], [p], reference);
      } else {
        this.ambiguous(
          MatchRule.REFERENCE,
          grouped
            ? 'A reference links items with the same amount, and also a group whose sum is that amount; match by hand'
            : 'A reference with the same amount links more than one line or posting; match by hand',
          component,
        );
      }
    }
  }

  private sameMoney(a: Side, i: number, b: Side, j: number): boolean {
    return a.amounts[i] === b.amounts[j] && a.currencies[i] === b.currencies[j];
  }

  private groupSumEquals(one: Side, i: number, many: Side, links: Link[]): boolean {
    let total = 0n;
    for (const link of links) {
      if (many.currencies[link.other] !== one.currencies[i]) return false;
      total += many.amounts[link.other];
    }
    return total === one.amounts[i];
  }

  // -------------------------------------------------------------------------------------------
  // (2) AMOUNT_DATE

  /**
   * Equal amount and currency, dates within the window, one candidate on each side. An item linked by a
   * reference only pairs with the items it is linked to (the bank says which posting it is about, and
   * matching it elsewhere by amount would be a guess); unlinked items pair among themselves. A posting
   * that shares one of its ids with other unmatched postings (a capture carrying its payout's id)
   * belongs to a batch: it waits for MANY_TO_ONE instead of pairing alone with a line of its amount. The
   * unlinked pairs are found per amount over postings sorted by date: each line's candidates are a
   * contiguous run, so overlapping runs are merged into components without listing every pair.
   */
  private amountDateRule(): void {
    const { lines, postings } = this;
    const nLines = lines.ids.length;
    const W = this.window;
    const uf = new UnionFind(nLines + postings.ids.length);
    const touched: number[] = [];

    const free: number[] = [];
    for (let p = 0; p < postings.ids.length; p++) if (this.available(postings, p) && !this.isLinked(postings, p)) free.push(p);
    const batched = new Set<number>();
    for (const groups of this.sharedReferenceGroups(postings, free).values()) for (const group of groups) for (const p of group.members) batched.add(p);
    const buckets = new Map<string, number[]>();
    for (const p of free) {
      if (batched.has(p)) continue;
      const key = `${postings.currencies[p]} ${postings.amounts[p]}`;
      let bucket = buckets.get(key);
      if (!bucket) buckets.set(key, (bucket = []));
      bucket.push(p);
    }
    for (const bucket of buckets.values()) bucket.sort((a, b) => postings.lo[a]! - postings.lo[b]! || a - b);

    const runs = new Map<number[], { first: number; last: number; line: number }[]>();
    for (let l = 0; l < nLines; l++) {
      if (!this.available(lines, l) || lines.lo[l] === null) continue;
      if (this.isLinked(lines, l)) {
        for (const link of this.liveLinks(lines, l)) {
          const p = link.other;
          if (!this.available(postings, p) || !this.sameMoney(lines, l, postings, p)) continue;
          const d = this.lineDistance(l, p);
          if (d === null || d > W) continue;
          uf.union(l, nLines + p);
          touched.push(l, nLines + p);
        }
        continue;
      }
      const bucket = buckets.get(`${lines.currencies[l]} ${lines.amounts[l]}`);
      if (!bucket) continue;
      const first = lowerBound(bucket, lines.lo[l]! - W, (p) => postings.lo[p]!);
      const end = lowerBound(bucket, lines.hi[l]! + W + 1, (p) => postings.lo[p]!);
      if (first >= end) continue;
      let list = runs.get(bucket);
      if (!list) runs.set(bucket, (list = []));
      list.push({ first, last: end - 1, line: l });
    }
    for (const [bucket, list] of runs) {
      list.sort((a, b) => a.first - b.first || a.line - b.line);
      let current: { first: number; last: number; lines: number[] } | null = null;
      const flush = () => {
        if (!current) return;
        const anchor = current.lines[0];
        for (const l of current.lines) {
          uf.union(anchor, l);
          touched.push(l);
        }
        for (let i = current.first; i <= current.last; i++) {
          uf.union(anchor, nLines + bucket[i]);
          touched.push(nLines + bucket[i]);
        }
      };
      for (const run of list) {
        if (current && run.first <= current.last) {
          current.last = Math.max(current.last, run.last);
          current.lines.push(run.line);
        } else {
          flush();
          current = { first: run.first, last: run.last, lines: [run.line] };
        }
      }
      flush();
    }

    for (const component of this.components(uf, touched)) {
      if (component.lines.length === 1 && component.postings.length === 1) {
        const [l, p] = [component.lines[0], component.postings[0]];
        const reference = lines.links[l].find((link) => link.other === p)?.reference ?? null;
        const d = this.lineDistance(l, p)!;
        this.record(MatchRule.AMOUNT_DATE, 0.8 - 0.05 * Math.min(d, 6), [l], [p], reference);
      } else {
        this.ambiguous(
          MatchRule.AMOUNT_DATE,
          `${component.lines.length} line(s) and ${component.postings.length} posting(s) have the same amount within ${W} business days of each other; match by hand`,
          component,
        );
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // (3) MANY_TO_ONE / ONE_TO_MANY

  /**
   * One item ("one") against the sum of several of the other side ("many"), in three ways, the first
   * that applies:
   *  - the one holds references: the group is every item it is linked to, whatever their dates (the
   *    reference is the evidence), and their sum must equal its amount;
   *  - otherwise, items of the many side that share a reference among themselves (every capture and fee
   *    of a payout carries the payout id) form groups; a group whose sum equals the amount and with a
   *    member within the window is a candidate, and exactly one candidate group must remain;
   *  - otherwise, a bounded subset-sum over the unlinked items in the window (at most
   *    maxSubsetCandidates of them, groups of 2 to maxSubsetSize, all of the one's sign) with exactly
   *    one solution.
   * A many-side item that two ones claim makes both ambiguous.
   */
  private groupRule(rule: MatchRule, one: Side, many: Side): void {
    const W = this.window;
    const claims: Claim[] = [];
    const ambiguousOnes: { one: number; many: number[] }[] = [];

    const freeMany: number[] = [];
    // A line whose booking and value dates lie further apart than the window is left out: the window
    // search scans back by the widest span, and one odd line must not make every search scan weeks.
    for (let m = 0; m < many.ids.length; m++) {
      if (this.available(many, m) && !this.isLinked(many, m) && many.lo[m] !== null && many.hi[m]! - many.lo[m]! <= W) freeMany.push(m);
    }
    const byCurrency = new Map<string, number[]>();
    for (const m of freeMany) {
      let list = byCurrency.get(many.currencies[m]);
      if (!list) byCurrency.set(many.currencies[m], (list = []));
      list.push(m);
    }
    for (const list of byCurrency.values()) list.sort((a, b) => many.lo[a]! - many.lo[b]! || a - b);
    let maxSpan = 0;
    for (const m of freeMany) maxSpan = Math.max(maxSpan, many.hi[m]! - many.lo[m]!);
    const groups = this.sharedReferenceGroups(many, freeMany);

    for (let o = 0; o < one.ids.length; o++) {
      if (!this.available(one, o)) continue;
      const live = this.liveLinks(one, o);
      if (live.length > 0) {
        const linked = live.map((link) => link.other);
        if (linked.length >= 2 && linked.every((m) => this.available(many, m)) && this.groupSumEquals(one, o, many, live)) {
          const best = live.reduce((a, b) => (betterReference(b.reference, a.reference) ? b : a));
          claims.push({ one: o, many: linked, how: 'LINE_REFERENCE', candidates: linked.length, reference: best.reference });
        }
        continue;
      }
      if (one.lo[o] === null) continue;
      const fitting = (groups.get(`${one.currencies[o]} ${one.amounts[o]}`) ?? []).filter((group) =>
        group.members.some((m) => distance(one.lo[o], one.hi[o], many.lo[m], many.hi[m])! <= W),
      );
      if (fitting.length === 1) {
        const [group] = fitting;
        claims.push({
          one: o,
          many: group.members,
          how: 'SHARED_REFERENCE',
          candidates: group.members.length,
          reference: {
            how: 'SHARED',
            line: many === this.lines ? { field: group.token.field as LineReferenceField, text: group.token.text } : null,
            posting: many === this.postings ? { field: group.token.field as PostingReferenceField, text: group.token.text } : null,
            matchedCharacters: group.token.key.length,
          },
        });
        continue;
      }
      if (fitting.length > 1) {
        ambiguousOnes.push({ one: o, many: [...new Set(fitting.flatMap((group) => group.members))] });
        continue;
      }
      // Without any reference, only movements in the same direction add up (a mixed-sign group of
      // noise sums to almost anything); a payout net of fees needs its shared payout id.
      const candidates = this.windowCandidates(one, o, many, byCurrency.get(one.currencies[o]) ?? [], maxSpan)?.filter(
        (m) => many.amounts[m] > 0n === one.amounts[o] > 0n,
      );
      if (!candidates || candidates.length < 2) continue;
      const solutions = subsetSums(
        candidates.map((m) => many.amounts[m]),
        one.amounts[o],
        this.settings.maxSubsetSize,
      );
      if (solutions.length === 1) {
        claims.push({ one: o, many: solutions[0].map((i) => candidates[i]), how: 'SUBSET_SUM', candidates: candidates.length, reference: null });
      } else if (solutions.length > 1) {
        ambiguousOnes.push({ one: o, many: [...new Set(solutions.flat().map((i) => candidates[i]))] });
      }
    }

    // A many-side item claimed twice, or by an ambiguous one, makes everything connected to it ambiguous.
    const claimCount = new Map<number, number>();
    for (const entry of [...claims, ...ambiguousOnes]) for (const m of entry.many) claimCount.set(m, (claimCount.get(m) ?? 0) + 1);
    const nOne = one.ids.length;
    const uf = new UnionFind(nOne + many.ids.length);
    const contested: number[] = [];
    const ambiguousSet = new Set(ambiguousOnes.map((entry) => entry.one));
    for (const entry of [...claims, ...ambiguousOnes]) {
      const clean = !ambiguousSet.has(entry.one) && entry.many.every((m) => claimCount.get(m) === 1);
      if (clean) continue;
      contested.push(entry.one);
      for (const m of entry.many) {
        uf.union(entry.one, nOne + m);
        contested.push(nOne + m);
      }
    }
    const contestedSet = new Set(contested);
    for (const claim of claims) {
      if (contestedSet.has(claim.one)) continue;
      const score = claim.how === 'LINE_REFERENCE' ? (claim.reference?.how === 'EXACT' ? 0.95 : 0.85) : claim.how === 'SHARED_REFERENCE' ? 0.7 : 0.6;
      const [lineIds, postingIds] = one === this.lines ? [[claim.one], claim.many] : [claim.many, [claim.one]];
      this.record(rule, score, lineIds, postingIds, claim.reference, { how: claim.how, candidates: claim.candidates });
    }
    // Components over "one then many" indices, reported as lines and postings.
    const byRoot = new Map<number, { ones: number[]; manys: number[] }>();
    for (const item of [...contestedSet].sort((a, b) => a - b)) {
      const root = uf.find(item);
      let entry = byRoot.get(root);
      if (!entry) byRoot.set(root, (entry = { ones: [], manys: [] }));
      if (item < nOne) entry.ones.push(item);
      else entry.manys.push(item - nOne);
    }
    for (const [, entry] of [...byRoot.entries()].sort((a, b) => a[0] - b[0])) {
      const component = one === this.lines ? { lines: entry.ones, postings: entry.manys } : { lines: entry.manys, postings: entry.ones };
      this.ambiguous(
        rule,
        rule === MatchRule.MANY_TO_ONE
          ? 'More than one group of postings sums to the line’s amount, or a posting fits more than one line; match by hand'
          : 'More than one group of statement lines sums to the posting’s amount, or a line fits more than one posting; match by hand',
        component,
      );
    }
  }

  /**
   * Groups of many-side items that share a reference key (2+ members, one currency), indexed by
   * "currency sum". Every unmatched carrier of the key must be free (not held, not linked to the other
   * side, dated): a group with a member elsewhere in question is not offered.
   */
  private sharedReferenceGroups(many: Side, free: number[]): Map<string, SharedGroup[]> {
    const freeSet = new Set(free);
    const seenMembers = new Set<string>();
    const groups = new Map<string, SharedGroup[]>();
    const keyIds: number[] = [];
    many.groupCarriers.forEach((carriers, id) => carriers.length >= 2 && keyIds.push(id));
    keyIds.sort((a, b) => compareStrings(many.groupTokens[a].key, many.groupTokens[b].key));
    for (const id of keyIds) {
      const members = many.groupCarriers[id].filter((m) => many.used[m] === 0);
      if (members.length < 2 || !members.every((m) => freeSet.has(m))) continue;
      const currency = many.currencies[members[0]];
      if (!members.every((m) => many.currencies[m] === currency)) continue;
      members.sort((a, b) => a - b);
      const signature = members.join(',');
      if (seenMembers.has(signature)) continue;
      seenMembers.add(signature);
      const bucketKey = `${currency} ${sum(members.map((m) => many.amounts[m]))}`;
      let list = groups.get(bucketKey);
      if (!list) groups.set(bucketKey, (list = []));
      list.push({ token: many.groupTokens[id], members });
    }
    return groups;
  }

  /** Free many-side items of the currency within the window of `o`, or null when there are more than maxSubsetCandidates. */
  private windowCandidates(one: Side, o: number, many: Side, sorted: number[], maxSpan: number): number[] | null {
    const W = this.window;
    const start = lowerBound(sorted, one.lo[o]! - W - maxSpan, (m) => many.lo[m]!);
    const found: number[] = [];
    for (let i = start; i < sorted.length && many.lo[sorted[i]]! <= one.hi[o]! + W; i++) {
      const m = sorted[i];
      if (distance(one.lo[o], one.hi[o], many.lo[m], many.hi[m])! > W) continue;
      found.push(m);
      if (found.length > this.settings.maxSubsetCandidates) return null;
    }
    return found.sort((a, b) => a - b);
  }

  // -------------------------------------------------------------------------------------------

  /**
   * After the rules: a line and the postings it references that stayed unmatched, with amounts (or
   * currencies) that differ, are an AMOUNT_MISMATCH, one per connected group, never a match.
   */
  reportAmountMismatches(): void {
    const { lines, postings } = this;
    const nLines = lines.ids.length;
    const uf = new UnionFind(nLines + postings.ids.length);
    const touched: number[] = [];
    for (let l = 0; l < nLines; l++) {
      if (!this.available(lines, l)) continue;
      for (const link of lines.links[l]) {
        if (!this.available(postings, link.other)) continue;
        uf.union(l, nLines + link.other);
        touched.push(l, nLines + link.other);
      }
    }
    for (const component of this.components(uf, touched)) {
      const lineAmount = sum(component.lines.map((l) => lines.amounts[l]));
      const postingAmount = sum(component.postings.map((p) => postings.amounts[p]));
      const lineCurrency = [...new Set(component.lines.map((l) => lines.currencies[l]))].sort().join(',');
      const postingCurrency = [...new Set(component.postings.map((p) => postings.currencies[p]))].sort().join(',');
      if (lineAmount === postingAmount && lineCurrency === postingCurrency) continue;
      let reference: ReferenceComparison | null = null;
      const inComponent = new Set(component.postings);
      for (const l of component.lines) {
        for (const link of lines.links[l]) {
          if (inComponent.has(link.other) && (!reference || betterReference(link.reference, reference))) reference = link.reference;
        }
      }
      this.problems.push({
        kind: 'AMOUNT_MISMATCH',
        reason:
          lineCurrency !== postingCurrency
            ? `The line references postings in ${postingCurrency} but is in ${lineCurrency}; nothing was matched`
            : `The line references postings of another amount (line ${lineAmount}, postings ${postingAmount}, difference ${lineAmount - postingAmount} minor units); nothing was matched`,
        lineIds: component.lines.map((l) => lines.ids[l]).sort(compareStrings),
        postingIds: component.postings.map((p) => postings.ids[p]).sort(compareStrings),
        lineAmountMinor: lineAmount,
        postingAmountMinor: postingAmount,
        differenceMinor: lineAmount - postingAmount,
        lineCurrency,
        postingCurrency,
        reference: reference!,
      });
    }
  }
}

interface SharedGroup {
  /** The shared key as first seen, for the explanation. */
  token: ReferenceToken<string>;
  members: number[];
}

/** First index whose value is >= target, in an array sorted by `value`. */
function lowerBound(sorted: number[], target: number, value: (item: number) => number): number {
  let [lo, hi] = [0, sorted.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value(sorted[mid]) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The subset-sum tables, kept between searches: one search per line without a reference would
// otherwise allocate 2^maxSubsetCandidates × 9 bytes (36 KiB at the default 12) for the collector.
let scratchBits = new Uint8Array(0);
let scratchSums = new Float64Array(0);

/** Tables of at least `size` entries whose entry 0 is the empty subset (no items, sum 0); the rest is overwritten by each search. */
function subsetScratch(size: number): { bits: Uint8Array; sums: Float64Array } {
  if (scratchBits.length < size) {
    scratchBits = new Uint8Array(size);
    scratchSums = new Float64Array(size);
  }
  scratchBits[0] = 0;
  scratchSums[0] = 0;
  return { bits: scratchBits, sums: scratchSums };
}

/**
 * Every subset of 2..maxSize of `amounts` that sums to `target` (stops after two: one is a match,
 * two are ambiguous). Sums are built incrementally over bitmasks; plain numbers when every partial sum
 * is a safe integer, bigints otherwise.
 */
function subsetSums(amounts: bigint[], target: bigint, maxSize: number): number[][] {
  const n = amounts.length;
  const limit = BigInt(Number.MAX_SAFE_INTEGER) / BigInt(n + 1);
  const safe = amounts.every((a) => a <= limit && a >= -limit) && target <= limit && target >= -limit;
  const size = 1 << n;
  const { bits, sums } = subsetScratch(size);
  const found: number[][] = [];
  const toIndices = (mask: number) => amounts.map((_, i) => i).filter((i) => (mask >> i) & 1);
  if (safe) {
    const values = amounts.map(Number);
    const goal = Number(target);
    for (let mask = 1; mask < size; mask++) {
      const low = 31 - Math.clz32(mask & -mask);
      const rest = mask & (mask - 1);
      sums[mask] = sums[rest] + values[low];
      bits[mask] = bits[rest] + 1;
      if (bits[mask] >= 2 && bits[mask] <= maxSize && sums[mask] === goal) {
        found.push(toIndices(mask));
        if (found.length > 1) return found;
      }
    }
    return found;
  }
  const bigSums: bigint[] = new Array(size).fill(0n);
  for (let mask = 1; mask < size; mask++) {
    const low = 31 - Math.clz32(mask & -mask);
    const rest = mask & (mask - 1);
    bigSums[mask] = bigSums[rest] + amounts[low];
    bits[mask] = bits[rest] + 1;
    if (bits[mask] >= 2 && bits[mask] <= maxSize && bigSums[mask] === target) {
      found.push(toIndices(mask));
      if (found.length > 1) return found;
    }
  }
  return found;
}
