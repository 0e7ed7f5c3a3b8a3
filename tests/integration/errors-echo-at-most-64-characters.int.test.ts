import { print } from 'graphql';
import { AccountDocument, CreateAccountDocument, MeDocument, NodeDocument, PostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';
import { requestToken } from '../helpers/oauth-http';
import { SocketClient } from '../helpers/ws-client';

const HUNDRED_KB = 100_000;
/** Far below what one echo of 100 kB would weigh: a whole refusal with its request id and details. */
const MAX_RESPONSE_BYTES = 2048;
const ECHO_MAX = 64;

/** The longest run of `char` in the text: how much of a value made of that character came back. */
function longestRunOf(char: string, text: string): number {
  let longest = 0;
  let current = 0;
  for (const c of text) {
    current = c === char ? current + 1 : 0;
    longest = Math.max(longest, current);
  }
  return longest;
}

interface RawAnswer {
  status: number;
  text: string;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function post(app: TestApp, body: unknown, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const response = await fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${app.apiKey}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as RawAnswer['body'] };
}

/** One refusal with `code`, small, and showing at most ECHO_MAX characters of the value made of `char`. */
function expectSmallRefusal(answer: RawAnswer, code: string, char: string): void {
  expect(answer.body.errors?.map((error) => error.extensions?.code)).toEqual([code]);
  expect(Buffer.byteLength(answer.text)).toBeLessThan(MAX_RESPONSE_BYTES);
  expect(longestRunOf(char, answer.text)).toBeLessThanOrEqual(ECHO_MAX);
  // The echo is marked as cut, so nobody mistakes it for the whole value.
  expect(answer.text).toContain('…');
}

describeEachDatabase('an error shows at most 64 characters of a bad value', (kind) => {
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

  const entryWith = (line: Record<string, unknown>) => ({
    query: print(PostJournalEntryDocument),
    variables: {
      input: {
        lines: [
          { accountId: cash.id, direction: 'DEBIT', amount: '1.00', currency: 'USD', ...line },
          { accountId: revenue.id, direction: 'CREDIT', amount: '1.00', currency: 'USD' },
        ],
      },
    },
  });

  it('a 100 kB amount that is not a number', async () => {
    const answer = await post(app, entryWith({ amount: `1${'x'.repeat(HUNDRED_KB)}` }));
    expectSmallRefusal(answer, 'VALIDATION_FAILED', 'x');
    const [error] = answer.body.errors ?? [];
    expect(error.message).toMatch(/^lines\[0\]\.amount "1x+…" is not a decimal number/);
    expect((error.extensions?.details as { amount: string }).amount).toHaveLength(ECHO_MAX);
  });

  it('a 100 kB run of digits (out of range) and 100 kB of decimals (too many for USD)', async () => {
    expectSmallRefusal(await post(app, entryWith({ amount: '9'.repeat(HUNDRED_KB) })), 'VALIDATION_FAILED', '9');
    expectSmallRefusal(await post(app, entryWith({ amount: `1.${'7'.repeat(HUNDRED_KB)}` })), 'VALIDATION_FAILED', '7');
  });

  it('a 100 kB currency, refused by the Currency scalar while graphql-js coerces the variables', async () => {
    const answer = await post(app, entryWith({ currency: 'Q'.repeat(HUNDRED_KB) }));
    expectSmallRefusal(answer, 'VALIDATION_FAILED', 'Q');
    expect(answer.body.errors?.[0].message).toMatch(/^Variable "\$input" got invalid value "Q+…" at "input.lines\[0\].currency"; Unknown currency "Q+…"/);
  });

  it('a 100 kB account id in an entry, a by-id field and node', async () => {
    expectSmallRefusal(await post(app, entryWith({ accountId: `acct_${'Z'.repeat(HUNDRED_KB)}` })), 'VALIDATION_FAILED', 'Z');
    const byId = await post(app, { query: print(AccountDocument), variables: { id: 'Z'.repeat(HUNDRED_KB) } });
    expect(Buffer.byteLength(byId.text)).toBeLessThan(MAX_RESPONSE_BYTES);
    expect(longestRunOf('Z', byId.text)).toBeLessThanOrEqual(ECHO_MAX);
    const node = await post(app, { query: print(NodeDocument), variables: { id: 'Z'.repeat(HUNDRED_KB) } });
    expect(Buffer.byteLength(node.text)).toBeLessThan(MAX_RESPONSE_BYTES);
    expect(longestRunOf('Z', node.text)).toBeLessThanOrEqual(ECHO_MAX);
  });

  it('a 100 kB input field name that the input type does not have', async () => {
    const answer = await post(app, entryWith({ ['W'.repeat(HUNDRED_KB)]: 1 }));
    expectSmallRefusal(answer, 'VALIDATION_FAILED', 'W');
  });

  it('a 100 kB value for an enum and for a wrong type', async () => {
    expectSmallRefusal(await post(app, entryWith({ direction: 'D'.repeat(HUNDRED_KB) })), 'VALIDATION_FAILED', 'D');
    const answer = await post(app, { query: print(CreateAccountDocument), variables: { input: { code: 'c', name: 'n', type: 'ASSET', currency: ['U'.repeat(HUNDRED_KB)] } } });
    expectSmallRefusal(answer, 'VALIDATION_FAILED', 'U');
  });

  it('the same over the WebSocket transport', async () => {
    const socket = SocketClient.withKey(app.url, app.apiKey);
    try {
      const { query, variables } = entryWith({ amount: `1${'x'.repeat(HUNDRED_KB)}`, currency: 'Q'.repeat(HUNDRED_KB) });
      const result = await socket.executeRaw(query, variables);
      const text = JSON.stringify(result);
      expect(result.errors?.map((error) => error.extensions?.code)).toEqual(['VALIDATION_FAILED']);
      expect(Buffer.byteLength(text)).toBeLessThan(MAX_RESPONSE_BYTES);
      expect(longestRunOf('Q', text)).toBeLessThanOrEqual(ECHO_MAX);
    } finally {
      await socket.dispose();
    }
  });

  it('an unknown OAuth scope of 7 kB', async () => {
    const { client, secret } = await app.runtime.services.auth.createOAuthClient(app.tenantId, 'echo', ['ledger:read']);
    const answer = await requestToken(app.url, {
      basic: { clientId: client.id, clientSecret: secret },
      form: { grant_type: 'client_credentials', scope: 'S'.repeat(7000) },
    });
    expect(answer.body.error).toBe('invalid_scope');
    expect(longestRunOf('S', JSON.stringify(answer.body))).toBeLessThanOrEqual(ECHO_MAX);
  });
});

describeEachDatabase('token errors say what is wrong in plain words, with no library codes', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  const header = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each([
    ['three dots of nothing', 'a.b.c'],
    ['a header that is not JSON', `${Buffer.from('{not json').toString('base64url')}.${header({ sub: 'x' })}.c2ln`],
    ['alg none', `${header({ alg: 'none', typ: 'at+jwt' })}.${header({ sub: 'x', exp: 4102444800 })}.`],
    ['an HMAC signature', `${header({ alg: 'HS256', typ: 'at+jwt' })}.${header({ sub: 'x', exp: 4102444800 })}.c2lnbmF0dXJl`],
    ['an ES256 signature from nobody', `${header({ alg: 'ES256', typ: 'at+jwt', kid: 'nobody' })}.${header({ sub: 'x', exp: 4102444800 })}.${'A'.repeat(86)}`],
  ])('%s', async (_name, token) => {
    const result = await app.client.withKey(token).request(MeDocument);
    expect(result.status).toBe(401);
    const [error] = result.errors ?? [];
    expect(error.extensions?.code).toBe('UNAUTHENTICATED');
    expect(error.message).toMatch(/^The access token /);
    expect(error.message).not.toMatch(/ERR_|\(|JWS|JOSE/);
    const challenge = result.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/error_description="The access token /);
    expect(challenge).not.toMatch(/ERR_/);
  });
});
