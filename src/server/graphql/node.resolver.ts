import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import { notFoundError } from '../../common/errors';
import { idKindOf } from '../../common/ids';
import type { RequestContext } from '../../graphql/context';
import { Node } from '../../graphql/common.objects';

/**
 * Relay's node(id:). The id's prefix names the type; objects of another tenant, unknown ids and ids
 * of types that are not nodes are all NOT_FOUND.
 */
@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true, description: 'Any object by its global id.' })
  async node(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<object> {
    const loaders = ctx.loaders.ledger;
    let found: object | null = null;
    switch (idKindOf(id)) {
      case 'account': {
        found = await loaders.accountById.load(id);
        break;
      }
      case 'journalEntry': {
        found = await loaders.journalEntryById.load(id);
        break;
      }
      case 'payment': {
        found = await ctx.loaders.payments.paymentById.load(id);
        break;
      }
      case 'paymentGateway': {
        found = await ctx.loaders.payments.gatewayById.load(id);
        break;
      }
      case 'refund': {
        found = await ctx.services.payments.refundById(ctx.principal.tenantId, id);
        break;
      }
      case 'dispute': {
        found = await ctx.services.payments.disputeById(ctx.principal.tenantId, id);
        break;
      }
      case 'payout': {
        found = await ctx.services.payments.payoutById(ctx.principal.tenantId, id);
        break;
      }
      default:
        found = null;
    }
    if (!found) throw notFoundError('Object', id);
    return found;
  }
}
