/**
 * A seeded generator of labelled reconciliation data: ledger postings on a cash-at-bank account, the
 * bank's statement lines, and the true pairing, with the noise real statements have: gateway payouts
 * that batch several captures with fees and refunds deducted, bank dates shifted over weekends,
 * references truncated, re-cased, split by spaces or missing, duplicated lines, amounts that collide on
 * purpose, short payments, bank fees the books lack and postings the bank has not cleared yet.
 *
 * The same seed and options always give the same data. Used by the precision/recall test and by
 * `npm run bench:reconcile-match`.
 */
import type { Match, MatcherPosting, MatcherStatementLine, MatchResult } from '../src/modules/reconciliation/matcher';

export type Scenario =
  | 'invoice-in'
  | 'card-payout-batch'
  | 'single-payout'
  | 'supplier-out'
  | 'instalments'
  | 'colliding-amounts'
  | 'duplicate-line'
  | 'short-payment'
  | 'bank-fee-line'
  | 'uncleared-posting'
  | 'opposite-sign';

/** Ambiguous by construction: two lines or two postings fit equally well, and an automatic match there is a guess. */
export const AMBIGUOUS_SCENARIOS: ReadonlySet<Scenario> = new Set(['colliding-amounts', 'duplicate-line']);

export interface TruePair {
  scenario: Scenario;
  lineIds: string[];
  postingIds: string[];
  /** False when the data leaves two equally good answers (colliding amounts without references): the pair is true, but finding it would be a guess. */
  decidable: boolean;
}

export interface LabelledSet {
  lines: MatcherStatementLine[];
  postings: MatcherPosting[];
  truth: TruePair[];
  /** Which scenario produced each line and posting id. */
  scenarioOf: Map<string, Scenario>;
  scenarioCounts: Record<Scenario, number>;
}

export interface GeneratorOptions {
  seed: number;
  /** Generate until there are at least this many statement lines. */
  lines: number;
  /** Scenarios started per business day: the density that decides how often amounts meet in the window. */
  perBusinessDay?: number;
  startDate?: string;
  currency?: string;
}

const WEIGHTS: [Scenario, number][] = [
  ['invoice-in', 36],
  ['card-payout-batch', 12],
  ['single-payout', 10],
  ['supplier-out', 18],
  ['instalments', 3],
  ['colliding-amounts', 2],
  ['duplicate-line', 1],
  ['short-payment', 3],
  ['bank-fee-line', 4],
  ['uncleared-posting', 4],
  ['opposite-sign', 1],
];

// Prices that many customers pay: they meet each other in the window on purpose.
const POPULAR_PRICES = [999n, 1999n, 2500n, 4900n, 9900n, 10000n, 14900n, 19900n, 25000n, 4999n, 2999n, 5000n];

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MS_PER_DAY = 86_400_000;

/** mulberry32: small, fast and good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateLabelledSet(options: GeneratorOptions): LabelledSet {
  const random = prng(options.seed);
  const currency = options.currency ?? 'EUR';
  const perDay = options.perBusinessDay ?? 40;
  const startDay = Date.parse(`${options.startDate ?? '2026-01-05'}T00:00:00Z`) / MS_PER_DAY;
  const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const chance = (p: number) => random() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];

  const lines: MatcherStatementLine[] = [];
  const postings: MatcherPosting[] = [];
  const truth: TruePair[] = [];
  const scenarioOf = new Map<string, Scenario>();
  const scenarioCounts = Object.fromEntries(WEIGHTS.map(([s]) => [s, 0])) as Record<Scenario, number>;
  let invoiceNumber = 0;
  let supplierNumber = 0;
  let bankSequence = 0;

  /** A ULID-like id: the day's time in the first characters, so ids of one day share a prefix, as real ones do. */
  const ulid = (day: number) => {
    let time = day * MS_PER_DAY + int(0, MS_PER_DAY - 1);
    const chars: string[] = new Array(26);
    for (let i = 9; i >= 0; i--) {
      chars[i] = CROCKFORD[time % 32];
      time = Math.floor(time / 32);
    }
    for (let i = 10; i < 26; i++) chars[i] = CROCKFORD[int(0, 31)];
    return chars.join('');
  };
  const dateOf = (day: number) => new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
  const isWeekend = (day: number) => {
    const weekday = (((day + 4) % 7) + 7) % 7;
    return weekday === 0 || weekday === 6;
  };
  const addBusinessDays = (day: number, count: number) => {
    let d = day;
    const step = count >= 0 ? 1 : -1;
    for (let left = Math.abs(count); left > 0; ) {
      d += step;
      if (!isWeekend(d)) left--;
    }
    return d;
  };
  const amount = (): bigint => {
    if (chance(0.05)) return pick(POPULAR_PRICES);
    return BigInt(Math.round(Math.exp(Math.log(500) + random() * (Math.log(500_000) - Math.log(500)))));
  };

  const addPosting = (scenario: Scenario, day: number, amountMinor: bigint, refs: { externalRef?: string; description?: string; relatedIds?: string[] }) => {
    const id = `pst_${ulid(day)}`;
    postings.push({
      id,
      journalEntryId: `je_${ulid(day)}`,
      amountMinor,
      currency,
      effectiveDate: dateOf(day),
      externalRef: refs.externalRef ?? null,
      description: refs.description ?? null,
      relatedIds: refs.relatedIds ?? [],
    });
    scenarioOf.set(id, scenario);
    return id;
  };
  /** The bank books a few business days later, sometimes on a Saturday with Monday's value date. */
  const addLine = (scenario: Scenario, day: number, amountMinor: bigint, refs: { endToEndId?: string | null; remittance?: string | null; counterparty?: string }) => {
    const id = `stl_${ulid(day)}`;
    let booking = day;
    let value = day;
    const weekday = (((day + 4) % 7) + 7) % 7;
    if (weekday === 5 && chance(0.3)) [booking, value] = [day + 1, day + 3]; // booked Saturday, value Monday
    else if (weekday === 1 && chance(0.3)) booking = day - 2; // booked on the Saturday before
    lines.push({
      id,
      amountMinor,
      currency,
      bookingDate: dateOf(booking),
      valueDate: dateOf(value),
      bankReference: `${dateOf(day).replace(/-/g, '')}${String(++bankSequence).padStart(8, '0')}`,
      endToEndId: refs.endToEndId ?? null,
      remittanceInformation: refs.remittance ?? null,
      counterpartyName: refs.counterparty ?? null,
    });
    scenarioOf.set(id, scenario);
    return id;
  };
  /** How the bank passes a reference on: as is, re-cased and re-separated, split by spaces, truncated, or not at all. */
  const asTheBankWritesIt = (reference: string): string | null => {
    const roll = random();
    if (roll < 0.55) return reference;
    if (roll < 0.65) return reference.toLowerCase().replace(/-/g, '.');
    if (roll < 0.7) return reference.replace(/[-_]/g, ' ');
    if (roll < 0.8) {
      const compact = reference.replace(/[-_]/g, '');
      return compact.slice(0, int(8, Math.max(8, compact.length - 1)));
    }
    return null;
  };
  const bankDelay = (day: number) => addBusinessDays(day, pick([0, 0, 1, 1, 1, 2, 2, 3]));
  const customers = ['ACME GMBH', 'Müller & Söhne KG', 'J. SMITH', 'Globex SARL', 'Initech Ltd', 'Umbrella BV'];

  let scenarioIndex = 0;
  const totalWeight = WEIGHTS.reduce((total, [, w]) => total + w, 0);
  while (lines.length < options.lines) {
    const day = addBusinessDays(startDay, Math.floor(scenarioIndex / perDay) + 1);
    scenarioIndex++;
    let roll = random() * totalWeight;
    let scenario: Scenario = WEIGHTS[0][0];
    for (const [s, w] of WEIGHTS) {
      if ((roll -= w) < 0) {
        scenario = s;
        break;
      }
    }
    scenarioCounts[scenario]++;

    switch (scenario) {
      case 'invoice-in':
      case 'duplicate-line':
      case 'short-payment': {
        const invoice = `INV-${dateOf(day).slice(0, 4)}-${String(++invoiceNumber).padStart(6, '0')}`;
        const value = amount();
        const p = addPosting(scenario, day, value, { relatedIds: [invoice], description: `Invoice ${invoice} paid by customer` });
        const written = scenario === 'invoice-in' ? asTheBankWritesIt(invoice) : invoice;
        const paid = scenario === 'short-payment' ? value - BigInt(int(50, 1500)) : value;
        const lineDay = bankDelay(day);
        const remittance = written ? `${pick(['Invoice', 'Rechnung', 'Payment', 'Facture'])} ${written}` : pick(['Thank you', 'Payment', null]);
        const l = addLine(scenario, lineDay, paid, { remittance, counterparty: pick(customers) });
        if (scenario === 'duplicate-line') addLine(scenario, lineDay, paid, { remittance, counterparty: pick(customers) });
        if (scenario !== 'short-payment') truth.push({ scenario, lineIds: [l], postingIds: [p], decidable: scenario === 'invoice-in' });
        break;
      }
      case 'card-payout-batch': {
        const payout = `po_${ulid(day)}`;
        const captureCount = int(2, 8);
        const postingIds: string[] = [];
        let net = 0n;
        let lastDay = -Infinity;
        for (let i = 0; i < captureCount; i++) {
          const captureDay = addBusinessDays(day, -int(0, 4));
          lastDay = Math.max(lastDay, captureDay);
          const payment = `pay_${ulid(captureDay)}`;
          const captured = amount();
          const fee = (captured * 14n) / 1000n + 25n;
          postingIds.push(addPosting(scenario, captureDay, captured, { relatedIds: [payment, payout], description: `Capture ${payment}` }));
          postingIds.push(addPosting(scenario, captureDay, -fee, { relatedIds: [payment, payout], description: `Fee for ${payment}` }));
          net += captured - fee;
          if (chance(0.15)) {
            const refunded = captured / BigInt(int(2, 5));
            postingIds.push(addPosting(scenario, captureDay, -refunded, { relatedIds: [payment, `re_${ulid(captureDay)}`, payout], description: `Refund of ${payment}` }));
            net -= refunded;
          }
        }
        const written = asTheBankWritesIt(payout);
        const l = addLine(scenario, addBusinessDays(lastDay, 2), net, { remittance: written ? `STRIPE PAYOUT ${written}` : 'STRIPE PAYMENTS UK', counterparty: 'Stripe Payments' });
        truth.push({ scenario, lineIds: [l], postingIds, decidable: true });
        break;
      }
      case 'single-payout': {
        const payout = `po_${ulid(day)}`;
        const value = amount();
        const p = addPosting(scenario, day, value, { relatedIds: [payout], description: `Payout ${payout}` });
        const written = asTheBankWritesIt(payout);
        const l = addLine(scenario, bankDelay(day), value, { remittance: written ? `PAYOUT ${written}` : 'ADYEN BV', counterparty: 'Adyen' });
        truth.push({ scenario, lineIds: [l], postingIds: [p], decidable: true });
        break;
      }
      case 'supplier-out': {
        const reference = `SUP-${String(++supplierNumber).padStart(7, '0')}`;
        const value = -amount();
        const p = addPosting(scenario, day, value, { externalRef: reference, description: `Supplier invoice ${reference}` });
        const e2e = chance(0.75) ? reference : null;
        const l = addLine(scenario, bankDelay(day), value, { endToEndId: e2e, remittance: e2e ? null : pick(['SEPA transfer', null]), counterparty: pick(customers) });
        truth.push({ scenario, lineIds: [l], postingIds: [p], decidable: true });
        break;
      }
      case 'instalments': {
        const invoice = `INV-${dateOf(day).slice(0, 4)}-${String(++invoiceNumber).padStart(6, '0')}`;
        const value = amount() + 1000n;
        const first = value / 2n + BigInt(int(1, 99));
        const p = addPosting(scenario, day, value, { relatedIds: [invoice], description: `Invoice ${invoice}` });
        const l1 = addLine(scenario, bankDelay(day), first, { remittance: `Instalment 1 ${invoice}` });
        const l2 = addLine(scenario, addBusinessDays(day, int(3, 10)), value - first, { remittance: `Instalment 2 ${invoice}` });
        truth.push({ scenario, lineIds: [l1, l2], postingIds: [p], decidable: true });
        break;
      }
      case 'colliding-amounts': {
        // Two customers pay the same price a day apart; with references the bank says who is who, without it nobody can.
        const value = pick(POPULAR_PRICES);
        const withReferences = chance(0.5);
        for (let i = 0; i < 2; i++) {
          const invoice = `INV-${dateOf(day).slice(0, 4)}-${String(++invoiceNumber).padStart(6, '0')}`;
          const p = addPosting(scenario, day + i, value, { relatedIds: [invoice] });
          const l = addLine(scenario, bankDelay(day + i), value, { remittance: withReferences ? `Order ${invoice}` : 'Online order' });
          truth.push({ scenario, lineIds: [l], postingIds: [p], decidable: withReferences });
        }
        break;
      }
      case 'bank-fee-line':
        addLine(scenario, day, -BigInt(int(100, 2500)), { remittance: pick(['Account maintenance fee', 'SEPA charges 03/2026', 'Interest']) });
        break;
      case 'uncleared-posting':
        addPosting(scenario, day, amount(), { description: 'Cheque deposit' });
        break;
      case 'opposite-sign': {
        // A refund to a customer (money out) on the day a customer pays the same amount in, no references.
        const value = amount();
        addPosting(scenario, day, -value, { description: 'Refund to customer' });
        addLine(scenario, day, value, { remittance: 'Card payment' });
        break;
      }
    }
  }
  return { lines, postings, truth, scenarioOf, scenarioCounts };
}

export interface Score {
  automaticMatches: number;
  correct: number;
  wrong: Match[];
  truePairs: number;
  precision: number;
  recall: number;
  /** Recall over the pairs a matcher could find without guessing. */
  decidableRecall: number;
  /** Wrong automatic matches that touch an item of an ambiguous-by-design scenario. */
  wrongOnAmbiguous: number;
  /** Per scenario: its true pairs (decidable or not) and how many were matched exactly: where the misses come from. */
  byScenario: Partial<Record<Scenario, { pairs: number; decidable: number; found: number; foundDecidable: number }>>;
}

const pairKey = (lineIds: string[], postingIds: string[]) => `${[...lineIds].sort().join(',')}|${[...postingIds].sort().join(',')}`;

export function scoreMatches(set: LabelledSet, result: MatchResult): Score {
  const truth = new Map(set.truth.map((pair) => [pairKey(pair.lineIds, pair.postingIds), pair]));
  let correct = 0;
  let correctDecidable = 0;
  const wrong: Match[] = [];
  const byScenario: Score['byScenario'] = {};
  for (const pair of set.truth) {
    const entry = (byScenario[pair.scenario] ??= { pairs: 0, decidable: 0, found: 0, foundDecidable: 0 });
    entry.pairs++;
    if (pair.decidable) entry.decidable++;
  }
  for (const match of result.matches) {
    const pair = truth.get(pairKey(match.lineIds, match.postingIds));
    if (pair) {
      correct++;
      byScenario[pair.scenario]!.found++;
      if (pair.decidable) {
        correctDecidable++;
        byScenario[pair.scenario]!.foundDecidable++;
      }
    } else wrong.push(match);
  }
  const wrongOnAmbiguous = wrong.filter((match) =>
    [...match.lineIds, ...match.postingIds].some((id) => AMBIGUOUS_SCENARIOS.has(set.scenarioOf.get(id)!)),
  ).length;
  const decidable = set.truth.filter((pair) => pair.decidable).length;
  return {
    automaticMatches: result.matches.length,
    correct,
    wrong,
    truePairs: set.truth.length,
    precision: result.matches.length === 0 ? 1 : correct / result.matches.length,
    recall: set.truth.length === 0 ? 1 : correct / set.truth.length,
    decidableRecall: decidable === 0 ? 1 : correctDecidable / decidable,
    wrongOnAmbiguous,
    byScenario,
  };
}
