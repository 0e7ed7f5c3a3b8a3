import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, Info, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { InvoiceSettings, InvoiceSettingsPayload, UpdateInvoiceSettingsInput } from './invoice-settings.objects';
import type { InvoiceSettingsRecord } from './invoice-settings.types';

@Resolver(() => InvoiceSettings)
export class InvoiceSettingsResolver {
  @Query(() => InvoiceSettings, { nullable: true, description: 'The caller’s tenant’s invoice settings, with the defaults where none were saved.' })
  invoiceSettings(@Ctx() ctx: RequestContext): Promise<InvoiceSettingsRecord> {
    return ctx.services.invoiceSettings.getSettings(ctx.principal.tenantId);
  }

  @Mutation(() => InvoiceSettingsPayload, {
    nullable: true,
    description:
      'Replaces the tenant’s invoice settings. The next finalisation numbers with them; issued numbers never change. A bad field is VALIDATION_FAILED naming it, and nothing changes.',
  })
  updateInvoiceSettings(
    @Arg('input') input: UpdateInvoiceSettingsInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ invoiceSettings: await ctx.services.invoiceSettings.updateSettings(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: async () => ({ invoiceSettings: await ctx.services.invoiceSettings.getSettings(ctx.principal.tenantId) }),
    });
  }
}

export const INVOICE_SETTINGS_RESOLVERS = [InvoiceSettingsResolver] as const;
