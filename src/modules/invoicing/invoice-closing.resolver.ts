import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, Info, Mutation, Resolver } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { MarkInvoiceUncollectibleInput, VoidInvoiceInput } from './credit-notes.inputs';
import { InvoiceErrors } from './invoices.errors';
import { InvoicePayload } from './invoices.objects';

const rebuildInvoice = (ctx: RequestContext) => async (ref: unknown) => {
  const invoiceId = (ref as { invoiceId: string }).invoiceId;
  const invoice = await ctx.loaders.invoicing.invoiceById.load(invoiceId);
  if (!invoice) throw InvoiceErrors.invoiceNotFound(invoiceId);
  return { invoice };
};

@Resolver()
export class InvoiceClosingResolver {
  @Mutation(() => InvoicePayload, {
    nullable: true,
    description:
      'OPEN → VOID, for an invoice with nothing paid and no credit notes: reverses its finalisation entry; it keeps its number. Otherwise INVALID_STATE_TRANSITION saying what to do instead (refund first, or a credit note); a DRAFT has nothing to void.',
  })
  voidInvoice(
    @Arg('input') input: VoidInvoiceInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ invoice: await ctx.services.invoiceClosing.voidInvoice(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: rebuildInvoice(ctx),
    });
  }

  @Mutation(() => InvoicePayload, {
    nullable: true,
    description:
      'OPEN → UNCOLLECTIBLE: writes off what is still to be paid as bad debt (debit bad debt, credit receivable). Only an OPEN invoice with something left to pay; otherwise INVALID_STATE_TRANSITION.',
  })
  markInvoiceUncollectible(
    @Arg('input') input: MarkInvoiceUncollectibleInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ invoice: await ctx.services.invoiceClosing.markInvoiceUncollectible(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: rebuildInvoice(ctx),
    });
  }
}

export const INVOICE_CLOSING_RESOLVERS = [InvoiceClosingResolver] as const;
