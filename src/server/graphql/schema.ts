import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { buildSchemaSync, type PubSub } from 'type-graphql';
import { AuthResolver } from '../../modules/auth/auth.resolver';
import { LEDGER_RESOLVERS } from '../../modules/ledger/ledger.resolver';
import { PAYMENT_RESOLVERS } from '../../modules/payments/payments.resolver';
import { WebhooksResolver } from '../../modules/webhooks/webhooks.resolver';
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
  cached ??= buildSchemaSync({
    resolvers: [NodeResolver, AuthResolver, ...LEDGER_RESOLVERS, ...PAYMENT_RESOLVERS, WebhooksResolver],
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    validate: false,
    pubSub: UNUSED_PUB_SUB,
  });
  return cached;
}
