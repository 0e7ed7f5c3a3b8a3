import { Arg, Args, Ctx, Int, Query, Resolver } from 'type-graphql';
import { PageArgs, toConnection } from '../../graphql/common.objects';
import type { RequestContext } from '../../graphql/context';
import { AuditEventFilterInput } from './audit.inputs';
import { AuditChainVerification, AuditEventConnection, toAuditEvent } from './audit.objects';

/**
 * Reads of the audit trail (scope audit:read). Each read is itself an AUDIT_READ event. Events this
 * process still holds in its buffer are written first, so a caller sees its own earlier calls.
 */
@Resolver()
export class AuditResolver {
  @Query(() => AuditEventConnection, { nullable: true, description: 'The tenant’s audit events, oldest first, filtered. Needs audit:read.' })
  async auditEvents(
    @Args() page: PageArgs,
    @Arg('filter', () => AuditEventFilterInput, { nullable: true }) filter: AuditEventFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    await ctx.services.audit.flush();
    const result = await ctx.services.audit.list(ctx.principal.tenantId, filter ?? {}, page);
    return toConnection(result, (event) => String(event.sequence), toAuditEvent);
  }

  @Query(() => AuditChainVerification, {
    nullable: true,
    description: 'Recomputes the tenant’s hash chain from `from` to `to` (sequence numbers; default: all events kept) and names the first broken one. Needs audit:read.',
  })
  async verifyAuditChain(
    @Arg('from', () => Int, { nullable: true, description: 'First sequence to check; default the first kept.' }) from: number | null,
    @Arg('to', () => Int, { nullable: true, description: 'Last sequence to check; default the last.' }) to: number | null,
    @Ctx() ctx: RequestContext,
  ): Promise<AuditChainVerification> {
    await ctx.services.audit.flush();
    return ctx.services.audit.verify(ctx.principal.tenantId, from, to);
  }
}
