import { Field, Float, Int, ObjectType } from 'type-graphql';
import { LATENCY_BUCKETS } from '../../common/metrics';

const FINEST_BUCKET_MS = LATENCY_BUCKETS[0] * 1000;
const LARGEST_BUCKET_MS = LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1] * 1000;

/** What every latency figure is: how it is estimated, and so how fine it can be. */
const ESTIMATE =
  `estimated from the histogram’s buckets exactly as Prometheus’s histogram_quantile does (linear inside the bucket; the highest finite bound when the rank falls past it), so it has the buckets’ resolution (bounds from ${FINEST_BUCKET_MS} ms to ${LARGEST_BUCKET_MS} ms; never above the largest)`;

@ObjectType({
  description:
    'Service figures of the API process that answers, since that process started: with several processes each answers for itself, and figures of two calls may come from different processes (Prometheus, scraping GET /metrics of every process, aggregates them). For dashboards’ uptime and transaction-latency tiles.',
})
export class ServiceHealth {
  @Field(() => Date, { description: 'When this process started serving.' })
  startedAt!: Date;

  @Field(() => Int, { description: 'Whole seconds since startedAt, on a monotonic clock (as reckon_uptime_seconds).' })
  uptimeSeconds!: number;

  @Field(() => Float, {
    nullable: true,
    description: `The 99th percentile of GraphQL mutation latency in milliseconds, over HTTP (REST included) and WebSocket, every outcome, in this process since it started (reckon_graphql_operation_duration_seconds{type="mutation"}); ${ESTIMATE}. Null before the first mutation.`,
  })
  mutationLatencyMsP99!: number | null;

  @Field(() => Int, { description: 'Mutations timed in this process since it started: the sample of mutationLatencyMsP99.' })
  mutationCount!: number;

  @Field(() => Float, {
    nullable: true,
    description: `The 99th percentile of the ledger writer’s committed transactions (locks, writes and commit) in milliseconds, in this process since it started (reckon_ledger_commit_duration_seconds{outcome="committed"}); ${ESTIMATE}. Null before the first commit.`,
  })
  ledgerCommitLatencyMsP99!: number | null;

  @Field(() => Int, { description: 'Ledger writer transactions committed in this process since it started: the sample of ledgerCommitLatencyMsP99.' })
  ledgerCommitCount!: number;
}
