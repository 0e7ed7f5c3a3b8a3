/**
 * The φ-quantile of a histogram's cumulative buckets, computed exactly as Prometheus's
 * histogram_quantile computes it (promql/quantile.go, bucketQuantile), so that a figure the API
 * answers and the one a Prometheus dashboard draws from the same buckets agree: the rank is
 * φ × (observations); the first bucket whose cumulative count reaches the rank holds the quantile, which
 * is interpolated linearly between that bucket's lower and upper bound (the lower bound of the first
 * bucket is 0 unless its upper bound is ≤ 0, when that bound is the answer); a rank past every finite
 * bucket (in the +Inf bucket) answers the highest finite upper bound.
 *
 * The estimate has the buckets' resolution: the true quantile lies somewhere in the bucket named, and
 * the interpolation assumes the observations are spread evenly inside it.
 *
 * Where Prometheus answers NaN (no observation, no +Inf bucket, fewer than two buckets) this answers
 * null: a client reads "no figure" more easily than NaN, which JSON cannot carry anyway.
 */

/** One bucket as Prometheus exposes it: the count of observations ≤ upperBound (cumulative). */
export interface CumulativeBucket {
  /** The bucket's `le`; Infinity for the +Inf bucket. */
  upperBound: number;
  /** Observations ≤ upperBound, the lower buckets' included. */
  count: number;
}

export function histogramQuantile(quantile: number, buckets: readonly CumulativeBucket[]): number | null {
  if (Number.isNaN(quantile)) return null;
  if (quantile < 0) return -Infinity;
  if (quantile > 1) return Infinity;
  if (buckets.length === 0) return null;
  const sorted = [...buckets].sort((a, b) => a.upperBound - b.upperBound);
  if (sorted[sorted.length - 1].upperBound !== Infinity) return null;
  const coalesced = monotonic(coalesce(sorted));
  if (coalesced.length < 2) return null;
  const observations = coalesced[coalesced.length - 1].count;
  if (observations === 0) return null;
  let rank = quantile * observations;
  // The first bucket, among all but +Inf, whose cumulative count reaches the rank (Go's sort.Search).
  let b = coalesced.findIndex((bucket, index) => index < coalesced.length - 1 && bucket.count >= rank);
  if (b === -1) b = coalesced.length - 1;
  if (b === coalesced.length - 1) return coalesced[coalesced.length - 2].upperBound;
  if (b === 0 && coalesced[0].upperBound <= 0) return coalesced[0].upperBound;
  let bucketStart = 0;
  const bucketEnd = coalesced[b].upperBound;
  let count = coalesced[b].count;
  if (b > 0) {
    bucketStart = coalesced[b - 1].upperBound;
    count -= coalesced[b - 1].count;
    rank -= coalesced[b - 1].count;
  }
  const estimate = bucketStart + (bucketEnd - bucketStart) * (rank / count);
  // Only φ = 0 over empty leading buckets gets here with 0 / 0, as Prometheus's NaN.
  return Number.isNaN(estimate) ? null : estimate;
}

/** Buckets of the same bound (series summed from several label sets, say) count as one, as Prometheus merges them. */
function coalesce(sorted: readonly CumulativeBucket[]): CumulativeBucket[] {
  const merged: CumulativeBucket[] = [];
  for (const bucket of sorted) {
    const last = merged[merged.length - 1];
    if (last && last.upperBound === bucket.upperBound) last.count += bucket.count;
    else merged.push({ ...bucket });
  }
  return merged;
}

/**
 * Cumulative counts never fall with the bound; Prometheus raises a lower one to its predecessor's (a
 * scrape can catch buckets mid-update), and so does this.
 */
function monotonic(buckets: CumulativeBucket[]): CumulativeBucket[] {
  let highest = -Infinity;
  for (const bucket of buckets) {
    if (bucket.count < highest) bucket.count = highest;
    else highest = bucket.count;
  }
  return buckets;
}
