import { Ctx, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { ServiceHealth } from './service-health.objects';

@Resolver()
export class ServiceHealthResolver {
  @Query(() => ServiceHealth, {
    nullable: true,
    description:
      'Uptime and p99 latencies of the API process that answers, since it started (each process answers for itself), for dashboards. Any authenticated credential; nothing in it is a tenant’s.',
  })
  async serviceHealth(@Ctx() ctx: RequestContext): Promise<ServiceHealth> {
    const figures = await ctx.services.serviceHealth.figures();
    return {
      startedAt: figures.startedAt,
      uptimeSeconds: figures.uptimeSeconds,
      mutationLatencyMsP99: figures.mutations.p99Ms,
      mutationCount: figures.mutations.count,
      ledgerCommitLatencyMsP99: figures.ledgerCommits.p99Ms,
      ledgerCommitCount: figures.ledgerCommits.count,
    };
  }
}
