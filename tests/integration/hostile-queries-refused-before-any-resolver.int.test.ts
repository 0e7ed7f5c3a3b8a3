import { setRootFieldsOf } from '../helpers/graphql-client';
import { getIntrospectionQuery, print } from 'graphql';
import { formatEncryptionKeys, generateEncryptionKey } from '../../src/common/encryption';
import { generateSigningKey } from '../../src/services/key-material';
import { AccountsDocument, DashboardDocument } from '../generated/graphql';
import type { GraphQLErrorShape, GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';

/** Defaults from config.ts, which these tests run with. */
const LIMITS = { depth: 12, cost: 50_000, aliases: 30, tokens: 5000, directives: 20, bytes: 100_000 };

/** `journalEntry(id:) { reversalOf { reversalOf { … id } } }`: `depth` fields deep, cheap otherwise. */
function queryOfDepth(depth: number): string {
  return `{ journalEntry(id: "je_01J00000000000000000000000") ${'{ reversalOf '.repeat(depth - 2)}{ id }${' }'.repeat(depth - 2)} }`;
}

interface Refusal {
  status: number;
  error: GraphQLErrorShape;
  headers: Headers;
}

/**
 * Sends a request and proves that it ran no database statement: not the API-key lookup of
 * authentication, so not any resolver either (every resolver runs after authentication).
 */
async function withoutStatements<T>(app: TestApp, send: () => Promise<T>): Promise<T> {
  const before = app.runtime.statements.count;
  const result = await send();
  expect(app.runtime.statements.count - before).toBe(0);
  return result;
}

function onlyError(result: GraphQLResult<unknown>): Refusal {
  expect(setRootFieldsOf(result.data)).toBeNull();
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors ?? [];
  expect(error.extensions?.requestId).toBe(result.headers.get('x-request-id'));
  return { status: result.status, error, headers: result.headers };
}

async function refused(app: TestApp, body: unknown, apiKey: string | null = app.apiKey): Promise<Refusal> {
  return withoutStatements(app, async () => onlyError(await app.client.withKey(apiKey).raw(body)));
}

function expectLimit(refusal: Refusal, limit: string, max: number, actual?: number): void {
  expect({ status: refusal.status, code: refusal.error.extensions?.code, details: refusal.error.extensions?.details }).toEqual({
    // A refused document is 200 for these clients, which accept application/json (GraphQL over HTTP's
    // legacy rule; 400 under application/graphql-response+json); a batch is not a well-formed request.
    status: limit === 'bytes' ? 413 : limit === 'batch' ? 400 : 200,
    code: limit === 'bytes' ? 'QUERY_TOO_LARGE' : 'QUERY_REFUSED',
    details: { limit, max, ...(actual === undefined ? {} : { actual }) },
  });
  expect(refusal.error.extensions?.retryable).toBe(false);
}

async function getRequest(app: TestApp, params: Record<string, string>, headers: Record<string, string> = {}): Promise<GraphQLResult<unknown>> {
  const response = await fetch(`${app.url}?${new URLSearchParams(params).toString()}`, {
    headers: { 'apollo-require-preflight': 'true', authorization: `Bearer ${app.apiKey}`, ...headers },
  });
  const json = (await response.json()) as { data?: unknown; errors?: GraphQLErrorShape[] };
  return { status: response.status, data: json.data, errors: json.errors, headers: response.headers };
}

describeEachDatabase('hostile queries are refused before authentication, any resolver or any database statement', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
    for (const code of ['1000-cash', '4000-sales']) await createAccount(app.client, { type: 'ASSET', code });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('refuses a query 20 fields deep, naming the depth and the limit', async () => {
    const refusal = await refused(app, { query: queryOfDepth(20) });
    expectLimit(refusal, 'depth', LIMITS.depth, 20);
    expect(refusal.error.message).toContain('20 fields deep');
    expect(refusal.error.message).toContain('QUERY_MAX_DEPTH');
  });

  it('accepts a query exactly at the depth limit', async () => {
    const result = await app.client.raw({ query: queryOfDepth(LIMITS.depth) });
    expect(result.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('refuses first: 1000000000, written in the document or passed as a variable', async () => {
    const literal = await refused(app, { query: '{ accounts(first: 1000000000) { edges { node { id } } } }' });
    expect({ code: literal.error.extensions?.code, limit: literal.error.extensions?.details?.limit }).toEqual({ code: 'QUERY_REFUSED', limit: 'cost' });
    expect(Number(literal.error.extensions?.details?.actual)).toBeGreaterThan(LIMITS.cost);

    const query = print(AccountsDocument);
    const variable = await refused(app, { query, variables: { first: 1_000_000_000 } });
    expect({ code: variable.error.extensions?.code, limit: variable.error.extensions?.details?.limit }).toEqual({ code: 'QUERY_REFUSED', limit: 'cost' });
    // The same document with a page the API serves is fine: the verdict depends on the variables.
    const page = await app.client.ok(AccountsDocument, { first: 500 });
    expect(page.accounts.edges.map((edge) => edge.node.code)).toEqual(['1000-cash', '4000-sales']);
  });

  it('refuses 1,000 aliases', async () => {
    const aliases = Array.from({ length: 1000 }, (_, i) => `a${i}: __typename`).join(' ');
    const refusal = await refused(app, { query: `{ ${aliases} }` });
    expectLimit(refusal, 'aliases', LIMITS.aliases, 1000);
  });

  it('refuses an HTTP batch (a JSON array of operations), even of one operation', async () => {
    const batch = await refused(app, [{ query: '{ me { credentialId } }' }, { query: '{ me { scopes } }' }]);
    expectLimit(batch, 'batch', 1, 2);
    expect(batch.error.message).toMatch(/batching is not supported/);
    expectLimit(await refused(app, [{ query: '{ me { credentialId } }' }]), 'batch', 1, 1);
  });

  it('refuses a 1 MB query string with 413, and a body past the JSON limit the same way', async () => {
    const query = `{ me { credentialId } } #${'x'.repeat(1_000_000)}`;
    expectLimit(await refused(app, { query }), 'bytes', LIMITS.bytes, Buffer.byteLength(query));

    const huge = await refused(app, { query: '{ me { credentialId } }', variables: { padding: 'x'.repeat(3_000_000) } });
    expect({ status: huge.status, code: huge.error.extensions?.code, limit: huge.error.extensions?.details?.limit }).toEqual({
      status: 413,
      code: 'QUERY_TOO_LARGE',
      limit: 'bytes',
    });
  });

  it('refuses more tokens than QUERY_MAX_TOKENS', async () => {
    const query = `{ me { ${'credentialId '.repeat(LIMITS.tokens)} } }`;
    expectLimit(await refused(app, { query }), 'tokens', LIMITS.tokens);
  });

  it('refuses too many directives', async () => {
    const fields = Array.from({ length: LIMITS.directives + 1 }, () => '__typename @include(if: true)').join(' ');
    expectLimit(await refused(app, { query: `{ ${fields} }` }), 'directives', LIMITS.directives, LIMITS.directives + 1);
  });

  it('refuses a query over the cost limit built only from legitimate nesting', async () => {
    const query = `{
      accounts(first: 500) { edges { node {
        recentEntries(first: 50) { edges { node { postings { account { recentEntries(first: 50) { edges { node { id } } } } } } } }
      } } }
    }`;
    const refusal = await refused(app, { query });
    expect({ code: refusal.error.extensions?.code, limit: refusal.error.extensions?.details?.limit, max: refusal.error.extensions?.details?.max }).toEqual({
      code: 'QUERY_REFUSED',
      limit: 'cost',
      max: LIMITS.cost,
    });
    expect(Number(refusal.error.extensions?.details?.actual)).toBeGreaterThan(1_000_000);
    expect(refusal.error.message).toContain('QUERY_MAX_COST');
  });

  it('costs a query whose variables are invalid as if they were absent, rather than letting it through', async () => {
    // A `first` that is not an Int fails only at variable coercion; its cost must still be checked, as
    // the list's default page (5 for recentEntries).
    const query = `query ($recent: Int) {
      accounts(first: 500) { edges { node {
        recentEntries(first: 50) { edges { node { postings { account { recentEntries(first: $recent) { edges { node { id } } } } } } } }
      } } }
    }`;
    for (const recent of [null, 'five']) {
      const refusal = await refused(app, { query, variables: { recent } });
      expect({ code: refusal.error.extensions?.code, limit: refusal.error.extensions?.details?.limit }).toEqual({ code: 'QUERY_REFUSED', limit: 'cost' });
    }
  });

  it('measures a fragment bomb without expanding it, and refuses it', async () => {
    const fragments = Array.from({ length: 40 }, (_, i) =>
      i === 0 ? 'fragment F0 on Query { __typename }' : `fragment F${i} on Query { ...F${i - 1} ...F${i - 1} }`,
    );
    const started = Date.now();
    const refusal = await refused(app, { query: `{ ...F39 }\n${fragments.join('\n')}` });
    expect(Date.now() - started).toBeLessThan(2000);
    expect({ status: refusal.status, code: refusal.error.extensions?.code, limit: refusal.error.extensions?.details?.limit }).toEqual({
      status: 200,
      code: 'QUERY_REFUSED',
      limit: 'cost',
    });
  });

  it('refuses before authentication: the answer is the same with a wrong key or none', async () => {
    const query = queryOfDepth(20);
    const wrongKey = `${app.apiKey.slice(0, -10)}AAAAAAAAAA`;
    for (const key of [wrongKey, null]) {
      expectLimit(await refused(app, { query }, key), 'depth', LIMITS.depth, 20);
    }
  });

  it('refuses a syntax error or an unreadable body before authentication', async () => {
    const syntax = await refused(app, { query: '{ me { credentialId }' });
    expect({ status: syntax.status, code: syntax.error.extensions?.code }).toEqual({ status: 200, code: 'GRAPHQL_PARSE_FAILED' });

    const unreadable = await withoutStatements(app, async () => {
      const response = await fetch(app.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${app.apiKey}` },
        body: '{"query": "{ me { credentialId } }"',
      });
      return { status: response.status, body: (await response.json()) as { errors: GraphQLErrorShape[] } };
    });
    expect({ status: unreadable.status, code: unreadable.body.errors[0].extensions?.code }).toEqual({ status: 400, code: 'BAD_REQUEST' });
  });

  it('checks GET requests the same way, and still serves a legitimate GET query', async () => {
    const deep = await withoutStatements(app, () => getRequest(app, { query: queryOfDepth(20) }));
    expectLimit(onlyError(deep), 'depth', LIMITS.depth, 20);

    const ok = await getRequest(app, { query: '{ me { credentialKind } }' });
    expect({ status: ok.status, data: ok.data, errors: ok.errors }).toEqual({ status: 200, data: { me: { credentialKind: 'API_KEY' } }, errors: undefined });
  });

  it('serves the Dashboard query, and refuses the same document when its variables make it too costly', async () => {
    const dashboard = await app.client.request(DashboardDocument, { first: 100, recent: 5 });
    expect(dashboard.errors).toBeUndefined();
    expect(dashboard.data?.accounts!.edges).toHaveLength(2);

    const heavy = await withoutStatements(app, async () => onlyError(await app.client.request(DashboardDocument, { first: 500, recent: 50 })));
    expect({ code: heavy.error.extensions?.code, limit: heavy.error.extensions?.details?.limit }).toEqual({ code: 'QUERY_REFUSED', limit: 'cost' });

    // Verdicts are cached per document and per cost-relevant variables; the cache never mixes them up.
    expect((await app.client.request(DashboardDocument, { first: 100, recent: 5 })).errors).toBeUndefined();
  });

  it('keeps introspection and field suggestions outside production', async () => {
    const introspection = await app.client.raw({ query: getIntrospectionQuery() });
    expect(introspection.errors).toBeUndefined();
    const typo = await app.client.raw({ query: '{ acounts { edges { node { id } } } }' });
    expect(typo.errors?.[0]?.message).toMatch(/Did you mean "accounts"/);
  });
});

describeEachDatabase('in production, introspection and field suggestions are off', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind, {
      env: {
        NODE_ENV: 'production',
        JWT_SIGNING_KEYS: JSON.stringify([await generateSigningKey()]),
        ENCRYPTION_KEYS: formatEncryptionKeys([generateEncryptionKey('k1')]),
        BLIND_INDEX_KEY: generateEncryptionKey('blind').key.toString('base64'),
      },
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('refuses introspection before authentication, however it is spelled', async () => {
    const queries = [
      getIntrospectionQuery(),
      '{ __schema { types { name } } }',
      '{ __type(name: "Account") { fields { name } } }',
      '{ ...Peek } fragment Peek on Query { schema: __schema { queryType { name } } }',
    ];
    for (const query of queries) {
      for (const key of [app.apiKey, null]) {
        const refusal = await refused(app, { query }, key);
        expect({ status: refusal.status, code: refusal.error.extensions?.code }).toEqual({ status: 200, code: 'GRAPHQL_VALIDATION_FAILED' });
        expect(refusal.error.message).toMatch(/introspection is not allowed/);
      }
    }
  });

  it('still answers __typename', async () => {
    const result = await app.client.raw({ query: '{ __typename me { __typename credentialKind } }' });
    expect(result.data).toEqual({ __typename: 'Query', me: { __typename: 'Viewer', credentialKind: 'API_KEY' } });
  });

  it('does not suggest field, argument or enum names', async () => {
    const typos = [
      { query: '{ acounts { edges { node { id } } } }', says: 'Cannot query field "acounts" on type "Query".' },
      { query: '{ accounts(frist: 5) { edges { node { id } } } }', says: 'Unknown argument "frist" on field "Query.accounts".' },
      { query: '{ accounts(filter: { type: ASSETS }) { edges { node { id } } } }', says: 'Value "ASSETS" does not exist in "AccountType" enum.' },
    ];
    for (const { query, says } of typos) {
      const result = await app.client.raw({ query });
      expect({ status: result.status, code: result.errors?.[0]?.extensions?.code, message: result.errors?.[0]?.message }).toEqual({
        status: 200,
        code: 'GRAPHQL_VALIDATION_FAILED',
        message: says,
      });
    }
    // Variables are coerced after validation, with suggestions of their own.
    const badVariables = [
      {
        query: 'query ($type: AccountType) { accounts(filter: { type: $type }) { edges { node { id } } } }',
        variables: { type: 'ASSETS' },
        says: 'Variable "$type" got invalid value "ASSETS"; Value "ASSETS" does not exist in "AccountType" enum.',
      },
      {
        query: 'query ($filter: AccountFilterInput) { accounts(filter: $filter) { edges { node { id } } } }',
        variables: { filter: { tpye: 'ASSET' } },
        says: 'Variable "$filter" got invalid value { tpye: "ASSET" }; Field "tpye" is not defined by type "AccountFilterInput".',
      },
    ];
    for (const { query, variables, says } of badVariables) {
      const result = await app.client.raw({ query, variables });
      expect({ status: result.status, code: result.errors?.[0]?.extensions?.code, message: result.errors?.[0]?.message }).toEqual({
        status: 200,
        code: 'VALIDATION_FAILED',
        message: says,
      });
    }
  });

  it('still refuses hostile documents before any statement', async () => {
    expectLimit(await refused(app, { query: queryOfDepth(20) }), 'depth', LIMITS.depth, 20);
  });
});
