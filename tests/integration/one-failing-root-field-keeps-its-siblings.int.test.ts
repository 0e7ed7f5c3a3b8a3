import crypto from 'node:crypto';
import { newId } from '../../src/common/ids';
import { AccountByCodeDocument, NodeBesideMeDocument, TwoAccountsDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';

/**
 * Each root field reports its own outcome: a refused field is null with its error beside fields that
 * succeeded, instead of the whole document answering data: null (and hiding what did commit).
 */
describeEachDatabase('one failing root field keeps its siblings', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('two createAccount mutations: the first commits and is answered, the duplicate is null with ALREADY_EXISTS at ["b"]', async () => {
    const taken = await createAccount(app.client, { type: 'ASSET' });
    const fresh = `fresh-${crypto.randomUUID().slice(0, 8)}`;
    const result = await app.client.request(TwoAccountsDocument, {
      a: { code: fresh, name: 'Fresh', type: 'ASSET', currency: 'USD' },
      b: { code: taken.code, name: 'Duplicate', type: 'ASSET', currency: 'USD' },
    });
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ a: { account: { id: expect.stringMatching(/^acct_/), code: fresh } }, b: null });
    expect(result.errors?.map((error) => ({ path: error.path, code: error.extensions?.code }))).toEqual([{ path: ['b'], code: 'ALREADY_EXISTS' }]);

    // a committed: it is there to read, once.
    const { accounts } = await app.client.ok(AccountByCodeDocument, { filter: { codePrefix: fresh } });
    expect(accounts.edges.map((edge) => edge.node)).toEqual([result.data!.a!.account]);
  });

  it('node of an unknown id beside me: node is null with NOT_FOUND, me is answered', async () => {
    const unknown = newId('account');
    const result = await app.client.request(NodeBesideMeDocument, { id: unknown });
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ node: null, me: { scopes: ['ADMIN'] } });
    expect(result.errors?.map((error) => ({ path: error.path, code: error.extensions?.code, details: error.extensions?.details }))).toEqual([
      { path: ['node'], code: 'NOT_FOUND', details: { id: unknown } },
    ]);
  });
});
