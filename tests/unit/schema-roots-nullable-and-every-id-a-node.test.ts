import { getIntrospectionQuery, graphqlSync, type IntrospectionObjectType, type IntrospectionQuery, type IntrospectionTypeRef } from 'graphql';
import { ID_PREFIXES } from '../../src/common/ids';
import { NODE_TYPE_NAMES } from '../../src/graphql/common.objects';
import { buildReckonSchema } from '../../src/server/graphql/schema';

/**
 * The schema's conventions, read the way a client reads them (introspection), so that a new field or
 * type that breaks them fails here: root fields are nullable (one failing field never nulls its
 * siblings), and every object with an `id: ID!` is a Node that node(id:) can fetch.
 */
const introspection = graphqlSync({ schema: buildReckonSchema(), source: getIntrospectionQuery() }).data as unknown as IntrospectionQuery;
const types = introspection.__schema.types;
const objectTypes = types.filter((type): type is IntrospectionObjectType => type.kind === 'OBJECT' && !type.name.startsWith('__'));

function printed(type: IntrospectionTypeRef): string {
  if (type.kind === 'NON_NULL') return `${printed(type.ofType)}!`;
  if (type.kind === 'LIST') return `[${printed(type.ofType)}]`;
  return type.name;
}

describe('the schema as clients see it', () => {
  it.each(['Query', 'Mutation'])('every %s field is nullable', (root) => {
    const fields = objectTypes.find((type) => type.name === root)!.fields;
    expect(fields.length).toBeGreaterThan(0);
    expect(fields.filter((field) => field.type.kind === 'NON_NULL').map((field) => `${root}.${field.name}: ${printed(field.type)}`)).toEqual([]);
  });

  it('every object type with an id: ID! implements Node', () => {
    const withId = objectTypes.filter((type) => type.fields.some((field) => field.name === 'id' && printed(field.type) === 'ID!'));
    expect(withId.length).toBeGreaterThanOrEqual(13);
    expect(withId.filter((type) => !type.interfaces.some((iface) => iface.name === 'Node')).map((type) => type.name)).toEqual([]);
  });

  it('Node has one implementation per kind of id, and node(id:) routes each prefix to it', () => {
    const node = types.find((type) => type.name === 'Node');
    const implementations = node && 'possibleTypes' in node ? (node.possibleTypes ?? []).map((type) => type.name).sort() : [];
    expect(implementations).toEqual(Object.values(NODE_TYPE_NAMES).sort());
    // Every kind of id but these is a Node: the idempotency record and the customer credit movement
    // (neither is in the schema), the audit event (addressed by its chain's sequence number), the
    // webhook event (seen only as WebhookDelivery.eventId) and the delivery attempt.
    const notInSchema = ['idempotencyRecord', 'customerCreditMovement', 'auditEvent', 'webhookEvent', 'webhookDeliveryAttempt'];
    expect(Object.keys(NODE_TYPE_NAMES).sort()).toEqual(Object.keys(ID_PREFIXES).filter((kind) => !notInSchema.includes(kind)).sort());
  });

  it('nodes(ids:) takes a non-null list of ids and answers a nullable list of nullable nodes', () => {
    const nodes = objectTypes.find((type) => type.name === 'Query')!.fields.find((field) => field.name === 'nodes')!;
    expect({ args: nodes.args.map((arg) => `${arg.name}: ${printed(arg.type)}`), type: printed(nodes.type) }).toEqual({
      args: ['ids: [ID!]!'],
      type: '[Node]',
    });
  });
});
