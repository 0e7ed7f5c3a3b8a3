import { type CumulativeBucket, histogramQuantile } from '../../src/common/histogram-quantile';

/**
 * histogramQuantile against answers worked out by hand with Prometheus's bucketQuantile
 * (promql/quantile.go): rank = φ × observations; the first finite bucket whose cumulative count reaches
 * the rank holds it, interpolated linearly from the previous bound (0 for the first bucket); a rank past
 * every finite bucket answers the highest finite bound. Prometheus's NaN is null here.
 */
const buckets = (...pairs: [number, number][]): CumulativeBucket[] => pairs.map(([upperBound, count]) => ({ upperBound, count }));

describe('histogramQuantile', () => {
  it.each<[string, number, CumulativeBucket[], number | null]>([
    ['no bucket at all', 0.99, [], null],
    ['buckets without an observation', 0.99, buckets([0.1, 0], [1, 0], [Infinity, 0]), null],
    ['only the +Inf bucket (fewer than two buckets)', 0.5, buckets([Infinity, 5]), null],
    ['no +Inf bucket', 0.5, buckets([0.1, 1], [0.2, 2]), null],
    // rank 9.9 in [0, 0.1] holding all 10: 0.1 × 9.9 / 10.
    ['one finite bucket holding every observation', 0.99, buckets([0.1, 10], [Infinity, 10]), 0.099],
    // rank 5 in (0.025, 0.05] holding 6 (2 below): 0.025 + 0.025 × (5 − 2) / 6.
    ['median between two bounds', 0.5, buckets([0.005, 0], [0.01, 0], [0.025, 2], [0.05, 8], [0.1, 10], [Infinity, 10]), 0.0375],
    // rank 9.9 in (0.05, 0.1] holding 2 (8 below): 0.05 + 0.05 × 1.9 / 2.
    ['p99 in the last finite bucket', 0.99, buckets([0.005, 0], [0.01, 0], [0.025, 2], [0.05, 8], [0.1, 10], [Infinity, 10]), 0.0975],
    // rank 9.9 > 8, the last finite count: the highest finite bound.
    ['rank in the +Inf bucket', 0.99, buckets([0.1, 5], [0.25, 8], [Infinity, 10]), 0.25],
    // rank 8 reaches 0.25's cumulative 8 exactly: that bucket's upper bound.
    ['rank exactly on a bucket’s cumulative count', 0.8, buckets([0.1, 5], [0.25, 8], [Infinity, 10]), 0.25],
    ['φ = 1 with every observation in the first bucket', 1, buckets([0.1, 5], [Infinity, 5]), 0.1],
    // Given out of order and with 0.1 twice (two series' buckets): 0.1 → 2, 0.2 → 5, +Inf → 6; rank 3
    // in (0.1, 0.2] holding 3 (2 below): 0.1 + 0.1 × 1 / 3.
    ['unsorted buckets and a repeated bound are merged', 0.5, buckets([Infinity, 6], [0.1, 1], [0.2, 5], [0.1, 1]), 0.1 + 0.1 / 3],
    // 0.2's count 3 is raised to 5; rank 5.4 is past it: the highest finite bound.
    ['a cumulative count lower than its predecessor’s is raised to it', 0.9, buckets([0.1, 5], [0.2, 3], [Infinity, 6]), 0.2],
    ['a first bucket with a bound ≤ 0 answers that bound', 0.25, buckets([-1, 2], [0, 4], [Infinity, 4]), -1],
    // rank 0 in an empty first bucket is 0 / 0: Prometheus's NaN.
    ['φ = 0 over an empty first bucket', 0, buckets([0.1, 0], [0.2, 2], [Infinity, 2]), null],
    ['φ below 0', -0.5, buckets([0.1, 1], [Infinity, 1]), -Infinity],
    ['φ above 1', 1.5, buckets([0.1, 1], [Infinity, 1]), Infinity],
    ['φ NaN', Number.NaN, buckets([0.1, 1], [Infinity, 1]), null],
  ])('%s', (_case, quantile, given, expected) => {
    const answer = histogramQuantile(quantile, given);
    if (expected === null || !Number.isFinite(expected)) expect(answer).toBe(expected);
    else expect(answer).toBeCloseTo(expected, 12);
  });

  it('leaves the buckets it is given as they were', () => {
    const given = buckets([Infinity, 6], [0.1, 1], [0.2, 3], [0.1, 1]);
    const copy = JSON.parse(JSON.stringify(given, (_key, value) => (value === Infinity ? 'Infinity' : value)));
    histogramQuantile(0.5, given);
    expect(JSON.parse(JSON.stringify(given, (_key, value) => (value === Infinity ? 'Infinity' : value)))).toEqual(copy);
  });
});
