import { print } from 'graphql';
import { auditServer } from 'graphql-http';
import { ApiKeysDocument, MeDocument, PostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';

const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json';

interface Answer {
  status: number;
  contentType: string;
  body: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
}

/** One POST to /graphql, with the given Accept header (none when null) and raw body. */
async function post(app: TestApp, accept: string | null, body: string, credential: string | null = app.apiKey): Promise<Answer> {
  const response = await fetch(app.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      // fetch sends "accept: */*" when none is given; an empty value stands for no preference too.
      accept: accept ?? '',
      ...(credential ? { authorization: `Bearer ${credential}` } : {}),
    },
    body,
  });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: (await response.json()) as Answer['body'] };
}

const codesOf = (answer: Answer) => answer.body.errors?.map((error) => error.extensions?.code);

describeEachDatabase('HTTP status codes follow GraphQL over HTTP, by the Accept header', (kind) => {
  let app: TestApp;
  let cash: { id: string };
  let revenue: { id: string };

  beforeAll(async () => {
    app = await startTestApp(kind);
    cash = await createAccount(app.client, { code: 'cash', type: 'ASSET' });
    revenue = await createAccount(app.client, { code: 'revenue', type: 'REVENUE' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('passes the graphql-http server audit with a valid credential: no MUST error, no SHOULD warning', async () => {
    const results = await auditServer({
      url: app.url,
      fetchFn: (input: string | URL | Request, init?: RequestInit) =>
        fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), authorization: `Bearer ${app.apiKey}` } }),
    });
    const failed = results.filter((result) => result.status === 'error' || result.status === 'warn');
    expect(failed.map((result) => `${result.status} ${result.id} ${result.name}: ${'reason' in result ? result.reason : ''}`)).toEqual([]);
    // Every audit ran: only optional (MAY) ones may fail, as notices.
    expect(results.length).toBeGreaterThan(50);
  });

  const bodies = {
    parseFailure: () => JSON.stringify({ query: '{ me { scopes }' }),
    validationFailure: () => JSON.stringify({ query: '{ me { noSuchField } }' }),
    unknownOperation: () => JSON.stringify({ query: 'query A { me { scopes } } query B { me { scopes } }', operationName: 'C' }),
    coercionFailure: () =>
      JSON.stringify({
        query: print(PostJournalEntryDocument),
        variables: { input: { lines: [{ accountId: cash.id, direction: 'DEBIT', amount: '1.00', currency: 'XXX' }] } },
      }),
    overQueryLimit: () => JSON.stringify({ query: `{ ${Array.from({ length: 31 }, (_, i) => `a${i}: me { scopes }`).join(' ')} }` }),
  };

  describe.each([
    ['no Accept header', null, 200, 'application/json'],
    ['Accept: application/json', 'application/json', 200, 'application/json'],
    ['Accept: */*', '*/*', 200, 'application/json'],
    [`Accept: ${GRAPHQL_RESPONSE_JSON}`, GRAPHQL_RESPONSE_JSON, 400, GRAPHQL_RESPONSE_JSON],
    [`Accept: ${GRAPHQL_RESPONSE_JSON}, application/json;q=0.9`, `${GRAPHQL_RESPONSE_JSON}, application/json;q=0.9`, 400, GRAPHQL_RESPONSE_JSON],
  ])('%s', (_name, accept, requestErrorStatus, mediaType) => {
    it.each([
      ['a document that does not parse', 'parseFailure', 'GRAPHQL_PARSE_FAILED'],
      ['a document that does not validate', 'validationFailure', 'GRAPHQL_VALIDATION_FAILED'],
      ['an operationName that names no operation', 'unknownOperation', 'OPERATION_RESOLUTION_FAILURE'],
      ['variables that do not coerce', 'coercionFailure', 'VALIDATION_FAILED'],
      ['a document over a query limit', 'overQueryLimit', 'QUERY_REFUSED'],
    ] as const)(`answers %s with ${requestErrorStatus} and no data entry`, async (_what, body, code) => {
      const answer = await post(app, accept, bodies[body]());
      expect({ status: answer.status, codes: codesOf(answer), hasData: 'data' in answer.body }).toEqual({
        status: requestErrorStatus,
        codes: [code],
        hasData: false,
      });
      expect(answer.contentType).toBe(`${mediaType}; charset=utf-8`);
    });

    it('answers a resolver’s refusal with 200 and the field null', async () => {
      const answer = await post(
        app,
        accept,
        JSON.stringify({
          query: print(PostJournalEntryDocument),
          variables: {
            input: {
              lines: [
                { accountId: cash.id, direction: 'DEBIT', amount: '1.001', currency: 'USD' },
                { accountId: revenue.id, direction: 'CREDIT', amount: '1.001', currency: 'USD' },
              ],
            },
          },
        }),
      );
      expect({ status: answer.status, codes: codesOf(answer), data: answer.body.data }).toEqual({
        status: 200,
        codes: ['VALIDATION_FAILED'],
        data: { postJournalEntry: null },
      });
      expect(answer.contentType).toBe(`${mediaType}; charset=utf-8`);
    });

    it('answers a body that is not a GraphQL request (not JSON, an array, no query) with 400', async () => {
      for (const body of ['{ "not a JSON', JSON.stringify([{ query: '{ me { scopes } }' }]), JSON.stringify({ qeury: '{ me { scopes } }' })]) {
        const answer = await post(app, accept, body);
        expect({ body, status: answer.status, hasData: 'data' in answer.body }).toEqual({ body, status: 400, hasData: false });
      }
    });

    it('keeps the request-level refusals: 401 without a credential, 413 for a document over QUERY_MAX_BYTES', async () => {
      const unauthenticated = await post(app, accept, JSON.stringify({ query: '{ me { scopes } }' }), null);
      expect({ status: unauthenticated.status, codes: codesOf(unauthenticated) }).toEqual({ status: 401, codes: ['UNAUTHENTICATED'] });
      const tooLarge = await post(app, accept, JSON.stringify({ query: `{ me { scopes } } ${'#'.repeat(100_001)}` }));
      expect({ status: tooLarge.status, codes: codesOf(tooLarge) }).toEqual({ status: 413, codes: ['QUERY_TOO_LARGE'] });
    });
  });

  it('answers a document refused as a whole for want of scope with 403 and no data; one refused field beside others with 200', async () => {
    const { secret: reader } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'reader', scopes: ['ledger:read'] });
    const whole = await post(app, GRAPHQL_RESPONSE_JSON, JSON.stringify({ query: print(ApiKeysDocument) }), reader);
    expect({ status: whole.status, codes: codesOf(whole), hasData: 'data' in whole.body }).toEqual({ status: 403, codes: ['FORBIDDEN'], hasData: false });

    const partial = await post(
      app,
      GRAPHQL_RESPONSE_JSON,
      JSON.stringify({ query: `query Both { me { scopes } apiKeys(first: 1) { edges { node { id } } } }` }),
      reader,
    );
    expect({ status: partial.status, codes: codesOf(partial), data: partial.body.data }).toEqual({
      status: 200,
      codes: ['FORBIDDEN'],
      data: { me: { scopes: [expect.any(String)] }, apiKeys: null },
    });
    // The typed document the README shows works as it is.
    expect((await app.client.request(MeDocument)).status).toBe(200);
  });
});
