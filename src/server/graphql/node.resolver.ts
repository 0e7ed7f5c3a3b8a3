import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, validationError } from '../../common/errors';
import { idKindOf, type IdKind } from '../../common/ids';
import type { RequestContext } from '../../graphql/context';
import { Node, NODE_TYPE_NAMES, type NodeKind } from '../../graphql/common.objects';
import { toApiKey, toOAuthClient } from '../../modules/auth/auth.resolver';
import { allowsScope, insufficientScopeError, Scope } from '../../modules/auth/scopes';
import { toWebhookEndpoint } from '../../modules/webhooks/webhooks.resolver';
import { toWebhookDelivery } from '../../modules/webhooks/webhook-deliveries.resolver';

/** nodes(ids:) answers at most this many ids per call. */
export const NODES_MAX_IDS = 100;

interface NodeReader {
  /** The scope that reading this kind needs everywhere else (see permissions.ts); null: any credential. */
  scope: Scope | null;
  /** The object in the caller's tenant, through the owning module's request loaders; null when absent. */
  load(ctx: RequestContext, id: string): Promise<object | null>;
}

const mapped =
  <T, R>(map: (value: T) => R) =>
  (value: T | null): R | null =>
    value === null ? null : map(value);

/** How node(id:) and nodes(ids:) read each kind of id. */
const NODE_READERS: Record<NodeKind, NodeReader> = {
  tenant: {
    scope: null,
    // A credential sees only its own tenant (as `me.tenant` shows it); any other tenant id is NOT_FOUND.
    load: async (ctx, id) => {
      if (id !== ctx.principal.tenantId) return null;
      const tenant = await ctx.services.tenancy.getTenant(id);
      return tenant ? { id: tenant.id, name: tenant.name } : null;
    },
  },
  apiKey: { scope: Scope.ADMIN, load: (ctx, id) => ctx.loaders.auth.apiKeyById.load(id).then(mapped(toApiKey)) },
  oauthClient: { scope: Scope.ADMIN, load: (ctx, id) => ctx.loaders.auth.oauthClientById.load(id).then(mapped(toOAuthClient)) },
  webhookEndpoint: { scope: Scope.ADMIN, load: (ctx, id) => ctx.loaders.webhooks.webhookEndpointById.load(id).then(mapped(toWebhookEndpoint)) },
  webhookDelivery: { scope: Scope.ADMIN, load: (ctx, id) => ctx.loaders.webhooks.webhookDeliveryById.load(id).then(mapped(toWebhookDelivery)) },
  account: { scope: Scope.LEDGER_READ, load: (ctx, id) => ctx.loaders.ledger.accountById.load(id) },
  journalEntry: { scope: Scope.LEDGER_READ, load: (ctx, id) => ctx.loaders.ledger.journalEntryById.load(id) },
  posting: { scope: Scope.LEDGER_READ, load: (ctx, id) => ctx.loaders.ledger.postingById.load(id) },
  payment: { scope: Scope.PAYMENTS_READ, load: (ctx, id) => ctx.loaders.payments.paymentById.load(id) },
  paymentGateway: { scope: Scope.PAYMENTS_READ, load: (ctx, id) => ctx.loaders.payments.gatewayById.load(id) },
  refund: { scope: Scope.PAYMENTS_READ, load: (ctx, id) => ctx.loaders.payments.refundById.load(id) },
  dispute: { scope: Scope.PAYMENTS_READ, load: (ctx, id) => ctx.loaders.payments.disputeById.load(id) },
  paymentEvent: { scope: Scope.PAYMENTS_READ, load: (ctx, id) => ctx.loaders.payments.paymentEventById.load(id) },
  payout: { scope: Scope.PAYMENTS_READ, load: (ctx, id) => ctx.loaders.payments.payoutById.load(id) },
  bankAccount: { scope: Scope.RECONCILIATION_READ, load: (ctx, id) => ctx.loaders.reconciliation.bankAccountById.load(id) },
  bankStatement: { scope: Scope.RECONCILIATION_READ, load: (ctx, id) => ctx.loaders.reconciliation.bankStatementById.load(id) },
  bankStatementLine: { scope: Scope.RECONCILIATION_READ, load: (ctx, id) => ctx.loaders.reconciliation.bankStatementLineById.load(id) },
  reconciliationFlag: { scope: Scope.RECONCILIATION_READ, load: (ctx, id) => ctx.loaders.reconciliation.reconciliationFlagById.load(id) },
  reconciliationMatch: { scope: Scope.RECONCILIATION_READ, load: (ctx, id) => ctx.loaders.reconciliation.reconciliationMatchById.load(id) },
  customer: { scope: Scope.INVOICES_READ, load: (ctx, id) => ctx.loaders.invoicing.customerById.load(id) },
  invoice: { scope: Scope.INVOICES_READ, load: (ctx, id) => ctx.loaders.invoicing.invoiceById.load(id) },
  creditNote: { scope: Scope.INVOICES_READ, load: (ctx, id) => ctx.loaders.invoicing.creditNoteById.load(id) },
  invoicePayment: { scope: Scope.INVOICES_READ, load: (ctx, id) => ctx.loaders.invoicing.payments.invoicePaymentById.load(id) },
};

/** The scope reading a node type needs (null: any credential), for the REST document; undefined when it is no node. */
export function scopeToReadNodeType(typeName: string): Scope | null | undefined {
  const kind = (Object.keys(NODE_TYPE_NAMES) as NodeKind[]).find((candidate) => NODE_TYPE_NAMES[candidate] === typeName);
  return kind ? NODE_READERS[kind].scope : undefined;
}

function readerOf(kind: IdKind | undefined): NodeReader | undefined {
  return kind && kind in NODE_TYPE_NAMES ? NODE_READERS[kind as NodeKind] : undefined;
}

function objectNotFound(id: string): AppError {
  const echo = echoOfInput(id);
  return new AppError(ErrorCode.NOT_FOUND, `No object with id ${echo} in this tenant`, { id: echo });
}

/**
 * One id: FORBIDDEN when the credential may not read its kind (decided by the kind alone, before any
 * read, so it tells nothing about whether the object exists); NOT_FOUND for an unknown id, another
 * tenant's object, a malformed id or an id of a kind that is not a node.
 */
async function loadNode(ctx: RequestContext, id: string): Promise<object> {
  const reader = readerOf(idKindOf(id));
  if (!reader) throw objectNotFound(id);
  if (reader.scope && !allowsScope(ctx.principal.scopes, reader.scope)) throw insufficientScopeError(reader.scope);
  const found = await reader.load(ctx, id);
  if (!found) throw objectNotFound(id);
  return found;
}

/**
 * Relay's node(id:) and nodes(ids:). The id's prefix names the type. The scope check is here rather
 * than in a shield rule because nodes() decides it per id: one id of a kind the credential may not
 * read is FORBIDDEN at its own position, and the other ids still answer.
 */
@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true, description: 'Any object by its global id; null plus NOT_FOUND when the tenant has none.' })
  node(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<object> {
    return loadNode(ctx, id);
  }

  @Query(() => [Node], {
    nullable: 'itemsAndList',
    description: `Objects by their global ids, in the order given, at most ${NODES_MAX_IDS}. An id that is not found (or that the credential may not read) is null at its position, with a NOT_FOUND (or FORBIDDEN) error whose path ends in that position.`,
  })
  nodes(@Arg('ids', () => [ID]) ids: string[], @Ctx() ctx: RequestContext): Promise<object | Error>[] {
    if (ids.length > NODES_MAX_IDS) {
      throw validationError(`ids: at most ${NODES_MAX_IDS} ids per call (${ids.length} given); split the list`, {
        field: 'ids',
        max: NODES_MAX_IDS,
        given: ids.length,
      });
    }
    // An item that is an Error becomes that item's error (path ['nodes', i]) and null, leaving the
    // others; resolving to the Error rather than rejecting leaves no rejection unhandled meanwhile.
    return ids.map((id) => loadNode(ctx, id).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))));
  }
}
