import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { buildSchemaSync } from 'type-graphql';
import { AuthResolver } from '../../modules/auth/auth.resolver';
import { LEDGER_RESOLVERS } from '../../modules/ledger/ledger.resolver';
import { NodeResolver } from './node.resolver';

let cached: GraphQLSchema | undefined;

/** The executable schema, built once from the resolver classes (code first). */
export function buildReckonSchema(): GraphQLSchema {
  cached ??= buildSchemaSync({
    resolvers: [NodeResolver, AuthResolver, ...LEDGER_RESOLVERS],
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    validate: false,
  });
  return cached;
}
