import 'reflect-metadata';
import { GraphQLSchema } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { buildSchemaSync, type PubSub } from 'type-graphql';
import { ErrorCodeEnum } from '../../graphql/error-codes';
import { AuditResolver } from '../../modules/audit/audit.resolver';
import { AuthResolver } from '../../modules/auth/auth.resolver';
import { CUSTOMER_RESOLVERS } from '../../modules/invoicing/customers.resolver';
import { INVOICE_ENTRY_RESOLVERS } from '../../modules/invoicing/invoice-entries.resolver';
import { INVOICE_EVENT_RESOLVERS } from '../../modules/invoicing/invoice-events.resolver';
import { INVOICE_SETTINGS_RESOLVERS } from '../../modules/invoicing/invoice-settings.resolver';
import { INVOICE_RESOLVERS } from '../../modules/invoicing/invoices.resolver';
import { CREDIT_NOTE_RESOLVERS } from '../../modules/invoicing/credit-notes.resolver';
import { INVOICE_CLOSING_RESOLVERS } from '../../modules/invoicing/invoice-closing.resolver';
import { INVOICE_PAYMENT_RESOLVERS } from '../../modules/invoicing/invoice-payments.resolver';
import { LEDGER_RESOLVERS } from '../../modules/ledger/ledger.resolver';
import { PAYMENT_RESOLVERS } from '../../modules/payments/payments.resolver';
import { MATCHING_RESOLVERS } from '../../modules/reconciliation/matching.resolver';
import { RECONCILIATION_FLAG_RESOLVERS } from '../../modules/reconciliation/reconciliation-flags.resolver';
import { ReconciliationReportResolver } from '../../modules/reconciliation/reconciliation-report.resolver';
import { RECONCILIATION_RESOLVERS } from '../../modules/reconciliation/reconciliation.resolver';
import { ServiceHealthResolver } from '../../modules/service-health/service-health.resolver';
import { WebhooksResolver } from '../../modules/webhooks/webhooks.resolver';
import { WebhookDeliveriesResolver } from '../../modules/webhooks/webhook-deliveries.resolver';
import { NodeResolver } from './node.resolver';

let cached: GraphQLSchema | undefined;

/**
 * type-graphql wants a PubSub as soon as the schema has a subscription, but ours never use it: each
 * subscribe function takes the running server's pub/sub from the context (in memory or Redis, one per
 * server), while this schema is built once per process and shared by every server in it.
 */
const UNUSED_PUB_SUB: PubSub = {
  publish() {
    throw new Error('Publish through Services.pubSub');
  },
  subscribe() {
    throw new Error('Subscribe through Services.pubSub, in the subscription’s own subscribe function');
  },
};

/** The executable schema, built once from the resolver classes (code first). */
export function buildReckonSchema(): GraphQLSchema {
  cached ??= withErrorCodes(
    buildSchemaSync({
      resolvers: [
        NodeResolver,
        AuthResolver,
        ...LEDGER_RESOLVERS,
        ...PAYMENT_RESOLVERS,
        WebhooksResolver,
        WebhookDeliveriesResolver,
        ...RECONCILIATION_RESOLVERS,
        ...RECONCILIATION_FLAG_RESOLVERS,
        ...MATCHING_RESOLVERS,
        ReconciliationReportResolver,
        ...CUSTOMER_RESOLVERS,
        ...INVOICE_RESOLVERS,
        ...INVOICE_ENTRY_RESOLVERS,
        ...INVOICE_EVENT_RESOLVERS,
        ...INVOICE_SETTINGS_RESOLVERS,
        ...CREDIT_NOTE_RESOLVERS,
        ...INVOICE_CLOSING_RESOLVERS,
        ...INVOICE_PAYMENT_RESOLVERS,
        AuditResolver,
        ServiceHealthResolver,
      ],
      scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
      validate: false,
      pubSub: UNUSED_PUB_SUB,
    }),
  );
  return cached;
}

/**
 * Adds the ErrorCode enum, which no field returns (errors live outside `data`): type-graphql emits
 * only the enums its fields use, so it is added to the built schema as an orphan type.
 */
function withErrorCodes(schema: GraphQLSchema): GraphQLSchema {
  const config = schema.toConfig();
  return new GraphQLSchema({ ...config, types: [...config.types, ErrorCodeEnum] });
}
