import { Arg, Ctx, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { requireIdOfKind } from '../../common/ids';
import type { RequestContext } from '../../graphql/context';
import { allowsScope, insufficientScopeError, Scope } from '../auth/scopes';
import { InvoiceEvent } from './invoice-events.objects';
import { type InvoiceEvent as InvoiceEventRecord, subscribeToInvoiceEvents } from './invoices.events';

interface InvoiceUpdatedArgs {
  invoiceId?: string | null;
  customerId?: string | null;
}

/**
 * Shield guards each event's resolve but not the subscribe step, so the subscribe function checks the
 * scope itself. The stream is the caller's own tenant's; an invoice or customer of another tenant
 * simply never matches (as paymentUpdated's paymentId), while an id of the wrong kind is refused.
 */
async function subscribeToOwnInvoices({ context, args }: SubscribeResolverData<unknown, InvoiceUpdatedArgs, RequestContext>) {
  if (!allowsScope(context.principal.scopes, Scope.INVOICES_READ)) throw insufficientScopeError(Scope.INVOICES_READ);
  const invoiceId = args.invoiceId ?? null;
  const customerId = args.customerId ?? null;
  if (invoiceId !== null) requireIdOfKind(invoiceId, 'invoice', 'invoiceId');
  if (customerId !== null) requireIdOfKind(customerId, 'customer', 'customerId');
  return subscribeToInvoiceEvents(context.services.pubSub, context.principal.tenantId, { invoiceId, customerId });
}

@Resolver()
export class InvoiceSubscriptionResolver {
  @Subscription(() => InvoiceEvent, {
    description:
      'Each change of an invoice of the caller’s tenant once it has committed (created, updated, finalized, overdue, …: see InvoiceEventType), in commit order, across server processes; optionally of one invoice, of one customer’s invoices, or both. Live only: an event published while the subscriber is not connected is not sent again, so catch up with invoices(…) after subscribing. Needs invoices:read.',
    subscribe: subscribeToOwnInvoices,
  })
  invoiceUpdated(
    @Root() event: InvoiceEventRecord,
    @Arg('invoiceId', () => ID, { nullable: true, description: 'Only this invoice’s events.' }) _invoiceId: string | null,
    @Arg('customerId', () => ID, { nullable: true, description: 'Only events of this customer’s invoices.' }) _customerId: string | null,
    @Ctx() ctx: RequestContext,
  ): InvoiceEventRecord {
    // One context serves every event of the subscription: fresh loaders read each event's nested
    // fields as they are now, starting from the invoice the event carries.
    ctx.loaders.invoicing = ctx.loaders.invoicing.renewed();
    ctx.loaders.invoicing.invoiceById.prime(event.invoice.id, event.invoice);
    return event;
  }
}

export const INVOICE_EVENT_RESOLVERS = [InvoiceSubscriptionResolver] as const;
