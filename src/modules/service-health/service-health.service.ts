import type { Histogram } from 'prom-client';
import { type CumulativeBucket, histogramQuantile } from '../../common/histogram-quantile';
import type { Metrics } from '../../common/metrics';

/** The quantile the dashboard's latency tiles show. */
const P99 = 0.99;

/** A latency histogram's figures for one selection of its series: how many, and their p99. */
export interface LatencyFigures {
  /** Observations since the process started. */
  count: number;
  /** The p99 in milliseconds as histogram_quantile estimates it from the buckets; null without an observation. */
  p99Ms: number | null;
}

/** This process's service figures, from its own metrics registry. */
export interface ServiceHealthFigures {
  startedAt: Date;
  uptimeSeconds: number;
  /** GraphQL mutations over HTTP and WebSocket, every outcome. */
  mutations: LatencyFigures;
  /** Ledger writer transactions that committed. */
  ledgerCommits: LatencyFigures;
}

/**
 * Reads the service figures a dashboard shows (uptime, transaction latency) from the process's
 * Prometheus registry, so that they are the very figures GET /metrics exposes: the same histograms,
 * and the p99 computed as Prometheus's histogram_quantile computes it. Each process answers for itself,
 * since it started; aggregating processes is Prometheus's job.
 */
export class ServiceHealthService {
  constructor(private readonly metrics: Pick<Metrics, 'startedAt' | 'uptimeSeconds' | 'graphqlOperationDuration' | 'ledgerCommitDuration'>) {}

  async figures(): Promise<ServiceHealthFigures> {
    const [mutations, ledgerCommits] = await Promise.all([
      latencyOf(this.metrics.graphqlOperationDuration, { type: 'mutation' }),
      latencyOf(this.metrics.ledgerCommitDuration, { outcome: 'committed' }),
    ]);
    return {
      startedAt: this.metrics.startedAt,
      uptimeSeconds: Math.floor(this.metrics.uptimeSeconds()),
      mutations,
      ledgerCommits,
    };
  }
}

/**
 * The count and p99 of the series whose labels include `selection`, summed bucket by bucket over the
 * other labels: histogram_quantile(0.99, sum by (le) (metric_bucket{selection})).
 */
async function latencyOf<T extends string>(histogram: Histogram<T>, selection: Partial<Record<T, string>>): Promise<LatencyFigures> {
  const { values } = await histogram.get();
  const countsByBound = new Map<number, number>();
  for (const { metricName, labels: seriesLabels, value } of values) {
    if (!metricName?.endsWith('_bucket')) continue;
    // Bucket series carry `le` beside the histogram's own labels.
    const labels = seriesLabels as Record<string, string | number | undefined>;
    if (!Object.entries(selection).every(([name, wanted]) => labels[name] === wanted)) continue;
    const upperBound = labels.le === '+Inf' ? Infinity : Number(labels.le);
    countsByBound.set(upperBound, (countsByBound.get(upperBound) ?? 0) + value);
  }
  const buckets: CumulativeBucket[] = [...countsByBound].map(([upperBound, count]) => ({ upperBound, count }));
  const seconds = histogramQuantile(P99, buckets);
  return { count: countsByBound.get(Infinity) ?? 0, p99Ms: seconds === null ? null : seconds * 1000 };
}
