import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, ID, Info, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { PageArgs, toConnection } from '../../graphql/common.objects';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { CustomerErrors } from './customers.errors';
import { CreateCustomerInput, CustomerFilterInput, UpdateCustomerInput } from './customers.inputs';
import { Customer, CustomerConnection, CustomerPayload } from './customers.objects';
import type { CustomerRecord } from './customers.types';

async function loadCustomer(ctx: RequestContext, id: string): Promise<CustomerRecord> {
  const customer = await ctx.loaders.invoicing.customerById.load(id);
  if (!customer) throw CustomerErrors.customerNotFound(id);
  return customer;
}

@Resolver(() => Customer)
export class CustomersResolver {
  @Query(() => Customer, { nullable: true, description: 'One customer of the caller’s tenant; NOT_FOUND otherwise.' })
  customer(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<CustomerRecord> {
    return ctx.services.customers.getCustomer(ctx.principal.tenantId, id);
  }

  @Query(() => CustomerConnection, { nullable: true, description: 'The tenant’s customers, oldest first; filter by name (contains, any case) or exact email.' })
  async customers(
    @Args() page: PageArgs,
    @Arg('filter', () => CustomerFilterInput, { nullable: true }) filter: CustomerFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.customers.listCustomers(tenantId, filter ?? {}, page);
    return toConnection(result, (c) => c.id, (c) => c, () => ctx.services.customers.countCustomers(tenantId, filter ?? {}));
  }

  @Mutation(() => CustomerPayload, {
    nullable: true,
    description: 'Adds a customer. Email, tax id and address are stored encrypted; a bad field is VALIDATION_FAILED naming it, and nothing is stored.',
  })
  createCustomer(
    @Arg('input') input: CreateCustomerInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ customer: await ctx.services.customers.createCustomer(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: async (ref) => ({ customer: await loadCustomer(ctx, (ref as { customerId: string }).customerId) }),
    });
  }

  @Mutation(() => CustomerPayload, {
    nullable: true,
    description:
      'Changes a customer: a field left out keeps its value, null clears an optional one. A bad field is VALIDATION_FAILED naming it and changes nothing; another tenant’s customer is NOT_FOUND.',
  })
  updateCustomer(
    @Arg('input') input: UpdateCustomerInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ customer: await ctx.services.customers.updateCustomer(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: async (ref) => ({ customer: await loadCustomer(ctx, (ref as { customerId: string }).customerId) }),
    });
  }
}

export const CUSTOMER_RESOLVERS = [CustomersResolver] as const;
