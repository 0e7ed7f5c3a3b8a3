import type { GraphQLObjectType } from 'graphql';
import { buildReckonSchema } from '../../src/server/graphql/schema';
import { ROOT_FIELD_RULES } from '../../src/server/permissions';

/**
 * fallbackRule: deny already refuses a root field without a rule, but silently: a new field would ship
 * unusable, or worse, someone would loosen the fallback. This test makes the omission loud instead,
 * and catches rules left behind for fields that no longer exist.
 */
const schema = buildReckonSchema();
const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
  (root): root is GraphQLObjectType => Boolean(root),
);
const rules = ROOT_FIELD_RULES as Record<string, Record<string, unknown> | undefined>;

describe('permission rules for root fields', () => {
  it('the schema has the roots the rules are written for', () => {
    expect(roots.map((root) => root.name)).toEqual(expect.arrayContaining(['Query', 'Mutation']));
  });

  it.each(roots.map((root) => [root.name, root] as const))('every %s field has an explicit rule in ROOT_FIELD_RULES', (name, root) => {
    const missing = Object.keys(root.getFields()).filter((field) => !rules[name]?.[field]);
    expect(missing).toEqual([]);
  });

  it('ROOT_FIELD_RULES names only root types and fields that exist', () => {
    const byName = new Map(roots.map((root) => [root.name, root]));
    const stale: string[] = [];
    for (const [typeName, fields] of Object.entries(rules)) {
      const root = byName.get(typeName);
      for (const field of Object.keys(fields ?? {})) {
        if (!root?.getFields()[field]) stale.push(`${typeName}.${field}`);
      }
    }
    expect(stale).toEqual([]);
  });

  it('every rule is a shield rule, not a placeholder', () => {
    for (const [typeName, fields] of Object.entries(rules)) {
      for (const [field, rule] of Object.entries(fields ?? {})) {
        expect({ field: `${typeName}.${field}`, isRule: typeof rule === 'object' && rule !== null }).toEqual({
          field: `${typeName}.${field}`,
          isRule: true,
        });
      }
    }
  });
});
