import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, parse } from 'graphql';
import { estimateCost, measureDocument, QueryLimiter, type QueryLimits } from '../../src/server/query-guard';

const schema = buildSchema(fs.readFileSync(path.join(__dirname, '../../schema/schema.graphql'), 'utf8'));
const LIMITS: QueryLimits = {
  queryMaxDepth: 12,
  queryMaxCost: 50_000,
  queryMaxAliases: 30,
  queryMaxTokens: 5000,
  queryMaxDirectives: 20,
  queryMaxBytes: 100_000,
};

describe('estimateCost: objects count 1, lists multiply by first (or their default), scalars are free', () => {
  const cases: { query: string; variables?: Record<string, unknown>; operationName?: string; cost: number | null }[] = [
    { query: '{ me { credentialId tenant { id } } }', cost: 2 },
    { query: '{ accounts { edges { node { id } } } }', cost: 100 * 3 },
    { query: '{ accounts(first: 500) { edges { cursor node { id } } pageInfo { hasNextPage } } }', cost: 500 * 4 },
    { query: '{ accounts(first: 500) { edges { node { recentEntries { edges { node { id } } } } } } }', cost: 500 * (3 + 5 * 3) },
    { query: '{ accounts(first: 500) { edges { node { recentEntries(first: 50) { edges { node { id } } } } } } }', cost: 76_500 },
    // `last` asks for a page as `first` does, at every level.
    { query: '{ accounts(last: 500) { edges { node { id } } } }', cost: 500 * 3 },
    { query: '{ accounts(last: 500) { edges { node { recentEntries(last: 50) { edges { node { id } } } } } } }', cost: 76_500 },
    { query: 'query ($n: Int) { accounts(last: $n) { edges { node { id } } } }', variables: { n: 10 }, cost: 30 },
    { query: 'query ($n: Int) { journalEntries(last: $n, before: "x") { edges { node { id } } } }', variables: { n: 400 }, cost: 1200 },
    { query: '{ trialBalance { lines(last: 3) { edges { node { account { id } } } } } }', cost: 1 + 3 * 4 },
    // A payment's lists page 20 by default.
    { query: '{ payment(id: "pay_x") { refunds { edges { node { id } } } events(last: 2) { edges { node { id } } } } }', cost: 1 + 20 * 3 + 2 * 3 },
    { query: '{ journalEntry(id: "je_x") { postings { id account { code } } } }', cost: 1 + 5 * 2 },
    { query: 'query ($n: Int) { accounts(first: $n) { edges { node { id } } } }', variables: { n: 10 }, cost: 30 },
    { query: 'query ($n: Int) { accounts(first: $n) { edges { node { id } } } }', variables: { n: null }, cost: 300 },
    { query: 'query ($n: Int = 7) { accounts(first: $n) { edges { node { id } } } }', cost: 21 },
    { query: 'query ($n: Int) { accounts(first: $n) { edges { node { id } } } }', variables: { n: 'many' }, cost: 300 },
    { query: 'query ($s: Boolean!) { me { scopes } accounts(first: 500) @skip(if: $s) { edges { node { id } } } }', variables: { s: true }, cost: 1 },
    { query: 'query ($s: Boolean!) { me { scopes } accounts(first: 500) @skip(if: $s) { edges { node { id } } } }', variables: { s: false }, cost: 1501 },
    { query: '{ accounts(first: 2) { ...Page } } fragment Page on AccountConnection { edges { node { id } } }', cost: 6 },
    { query: '{ node(id: "acct_x") { ... on Account { recentEntries { edges { node { id } } } } ... on JournalEntry { postings { id } } } }', cost: 1 + 15 + 5 },
    { query: 'query A { me { scopes } } query B { accounts { edges { node { id } } } }', operationName: 'A', cost: 1 },
    { query: 'query A { me { scopes } } query B { accounts { edges { node { id } } } }', cost: 300 },
    { query: 'query A { me { scopes } }', operationName: 'Z', cost: null },
    { query: '{ nothing { here } }', cost: 0 },
  ];
  it.each(cases)('$query → $cost', ({ query, variables, operationName, cost }) => {
    expect(estimateCost(schema, parse(query), operationName, variables ?? {})).toBe(cost);
  });
});

describe('measureDocument counts as executed, each fragment measured once', () => {
  it('follows fragments and inline fragments for depth, and counts aliases and directives at every spread', () => {
    const shape = measureDocument(
      parse(`
        query Q($a: Boolean! @deprecated) @skip(if: false) { ...Top ...Top }
        fragment Top on Query { x: me { ... on Viewer { y: tenant @include(if: true) { id } } } }
      `),
    );
    expect(shape).toMatchObject({ depth: 3, aliases: 4, directives: 4, introspection: false });
  });

  it('terminates on cyclic fragments (invalid documents that validation refuses later)', () => {
    const shape = measureDocument(parse('{ ...A } fragment A on Query { me { id: credentialId } ...B } fragment B on Query { ...A }'));
    expect(shape.depth).toBe(2);
  });

  it('measures a fragment bomb in linear time', () => {
    const fragments = Array.from({ length: 60 }, (_, i) => (i === 0 ? 'fragment F0 on Query { a: __typename }' : `fragment F${i} on Query { ...F${i - 1} ...F${i - 1} }`));
    const shape = measureDocument(parse(`{ ...F59 }\n${fragments.join('\n')}`));
    expect(shape.aliases).toBe(2 ** 59);
  });
});

describe('QueryLimiter.check', () => {
  const limiter = new QueryLimiter(LIMITS, { introspection: false, schema });

  it('lets requests without a query string through to Apollo, which refuses them itself', () => {
    expect(limiter.check({})).toBeNull();
    expect(limiter.check({ query: { kind: 'Document' } })).toBeNull();
  });

  it('judges the same text by its variables each time, from the cache', () => {
    const query = 'query ($n: Int) { accounts(first: $n) { edges { node { recentEntries(first: 10) { edges { node { id } } } } } } }';
    for (let round = 0; round < 2; round += 1) {
      expect(limiter.check({ query, variables: { n: 500 } })).toBeNull();
      expect(limiter.check({ query, variables: { n: 5000 } })).toMatchObject({ code: 'QUERY_REFUSED', details: { limit: 'cost', actual: 165_000 } });
    }
  });

  it('refuses a page asked for with last as with first, whatever the variables held before', () => {
    const query = 'query ($n: Int, $m: Int) { accounts(last: $n) { edges { node { recentEntries(last: $m) { edges { node { id } } } } } } }';
    expect(limiter.check({ query, variables: { n: 500, m: 10 } })).toBeNull();
    expect(limiter.check({ query, variables: { n: 500, m: 50 } })).toMatchObject({ code: 'QUERY_REFUSED', details: { limit: 'cost', actual: 76_500 } });
    expect(limiter.check({ query, variables: { n: 5000, m: 10 } })).toMatchObject({ code: 'QUERY_REFUSED', details: { limit: 'cost', actual: 165_000 } });
  });

  it('refuses introspection where it is off, and allows __typename', () => {
    expect(limiter.check({ query: '{ __schema { queryType { name } } }' })).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', httpStatus: 400 });
    expect(limiter.check({ query: '{ __typename }' })).toBeNull();
  });

  it('measures size in UTF-8 bytes', () => {
    const query = `{ __typename } # ${'€'.repeat(40_000)}`;
    expect(limiter.check({ query })).toMatchObject({ code: 'QUERY_TOO_LARGE', httpStatus: 413, details: { limit: 'bytes', actual: Buffer.byteLength(query) } });
  });
});
