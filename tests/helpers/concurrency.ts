import { ConcurrencyBalancesDocument, type ConcurrencyBalancesQuery } from '../generated/graphql';
import type { GraphQLClient, GraphQLResult } from './graphql-client';

/**
 * Runs `work` over `items` with `workers` concurrent loops, each taking the next item as soon as its
 * previous one is done: real concurrency, bounded, in a deterministic order of starts.
 */
export async function runWithWorkers<T>(items: readonly T[], workers: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, items.length) }, loop));
}

/** A small, seeded PRNG (mulberry32): the same seed gives the same sequence on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Exponent of the currencies these suites use. */
const EXPONENTS: Record<string, number> = { USD: 2, JPY: 0 };

/** Minor units to the decimal string the API takes: 1234n USD → "12.34", 1234n JPY → "1234". */
export function minorToDecimal(minor: bigint, currency: string): string {
  const exponent = EXPONENTS[currency];
  if (exponent === undefined) throw new Error(`No exponent known for ${currency}`);
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = digits.slice(digits.length - exponent);
  return `${negative ? '-' : ''}${whole}${exponent > 0 ? `.${fraction}` : ''}`;
}

export interface AccountBalancesSnapshot {
  id: string;
  code: string;
  currency: string;
  /** Null when the account has no limit. */
  floorMinor: bigint | null;
  postedMinor: bigint;
  pendingMinor: bigint;
  availableMinor: bigint;
}

/** Every account of the client's tenant with its net balances (in its normal direction), through the API. */
export async function readBalances(client: GraphQLClient): Promise<Map<string, AccountBalancesSnapshot>> {
  const balances = new Map<string, AccountBalancesSnapshot>();
  let after: string | null = null;
  for (;;) {
    const { accounts }: ConcurrencyBalancesQuery = await client.ok(ConcurrencyBalancesDocument, { first: 500, after });
    for (const { node } of accounts.edges) {
      balances.set(node.id, {
        id: node.id,
        code: node.code,
        currency: node.currency,
        floorMinor: node.availableBalanceFloor ? BigInt(node.availableBalanceFloor.minorUnits) : null,
        postedMinor: BigInt(node.balances.posted.net.minorUnits),
        pendingMinor: BigInt(node.balances.pending.net.minorUnits),
        availableMinor: BigInt(node.balances.available.net.minorUnits),
      });
    }
    if (!accounts.pageInfo.hasNextPage) return balances;
    after = accounts.pageInfo.endCursor;
  }
}

/** The outcome of one request: its data, or the code of its (single) error. */
export type Outcome<T> = { ok: true; data: T } | { ok: false; code: string; message: string; details?: Record<string, unknown> };

export function outcomeOf<T>(result: GraphQLResult<T>): Outcome<T> {
  if (result.errors?.length) {
    const [error] = result.errors;
    return { ok: false, code: String(error.extensions?.code), message: error.message, details: error.extensions?.details };
  }
  if (!result.data) return { ok: false, code: `HTTP_${result.status}`, message: 'no data and no errors' };
  return { ok: true, data: result.data };
}
