import { Ctx, Field, ID, ObjectType, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../../server/context';

@ObjectType({ description: 'The tenant a credential belongs to.' })
export class Tenant {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;
}

@ObjectType({ description: 'Who the caller is.' })
export class Viewer {
  @Field(() => Tenant)
  tenant!: Tenant;

  @Field(() => ID, { description: 'The API key used for this request.' })
  apiKeyId!: string;
}

@Resolver()
export class AuthResolver {
  @Query(() => Viewer)
  async me(@Ctx() ctx: RequestContext): Promise<Viewer> {
    const tenant = await ctx.services.tenancy.getTenant(ctx.principal.tenantId);
    if (!tenant) throw new Error('Authenticated tenant has no row');
    return { tenant: { id: tenant.id, name: tenant.name }, apiKeyId: ctx.principal.apiKeyId };
  }
}
