import { ReckonClient, ReckonError, type ReckonDocument } from '../../client/src/reckon-client';

/**
 * The client's retry rules for answers a real server gives rarely on demand (a 429 with Retry-After,
 * a proxy's 502 page), with a fetch that answers from a script and records each request.
 */

type Answer = { status: number; body: string; headers?: Record<string, string> } | Error;

function scriptedFetch(answers: Answer[]) {
  const requests: { at: number; body: Record<string, unknown> }[] = [];
  const fetch = (async (_url: unknown, init?: RequestInit) => {
    requests.push({ at: Date.now(), body: JSON.parse(String(init?.body)) as Record<string, unknown> });
    const answer = answers.shift();
    if (!answer) throw new Error('No scripted answer left');
    if (answer instanceof Error) throw answer;
    return new Response(answer.body, { status: answer.status, headers: { 'content-type': 'application/json', ...answer.headers } });
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

const error = (code: string, retryable: boolean, details: Record<string, unknown> = {}) =>
  JSON.stringify({ errors: [{ message: code, extensions: { code, retryable, details, requestId: 'req_1' } }], data: { postJournalEntry: null } });
const ok = JSON.stringify({ data: { postJournalEntry: { journalEntry: { id: 'je_1' } } } });

type Data = { postJournalEntry: { journalEntry: { id: string } } | null };
const keyed = `mutation Post($input: PostJournalEntryInput!, $idempotencyKey: String) { postJournalEntry(input: $input, idempotencyKey: $idempotencyKey) { journalEntry { id } } }` as unknown as ReckonDocument<
  Data,
  { input: Record<string, unknown>; idempotencyKey?: string | null }
>;
const keyless = `mutation Post($input: PostJournalEntryInput!) { postJournalEntry(input: $input) { journalEntry { id } } }` as unknown as ReckonDocument<Data, { input: Record<string, unknown> }>;
const fragmentFirst = `fragment Parts on JournalEntry { id }
mutation Post($input: PostJournalEntryInput!, $idempotencyKey: String) { postJournalEntry(input: $input, idempotencyKey: $idempotencyKey) { journalEntry { ...Parts } } }` as unknown as ReckonDocument<
  Data,
  { input: Record<string, unknown> }
>;

function client(fetch: typeof globalThis.fetch, options: Partial<ConstructorParameters<typeof ReckonClient>[0]> = {}) {
  return new ReckonClient({ url: 'http://reckon.test/graphql', apiKey: 'rk_test', fetch, baseDelayMs: 1, maxDelayMs: 2, ...options });
}

describe('ReckonClient retry rules', () => {
  it('waits at least Retry-After on RATE_LIMITED, then sends the same key again', async () => {
    const { fetch, requests } = scriptedFetch([
      { status: 429, body: error('RATE_LIMITED', true, { retryAfterSeconds: 1 }), headers: { 'retry-after': '1' } },
      { status: 200, body: ok },
    ]);
    const result = await client(fetch).request(keyed, { input: {} });
    expect(result.attempts).toBe(2);
    expect(requests[1].at - requests[0].at).toBeGreaterThanOrEqual(950);
    expect(requests[1].body.variables).toEqual(requests[0].body.variables);
    expect((requests[0].body.variables as { idempotencyKey: string }).idempotencyKey).toBe(result.idempotencyKey);
  });

  it('retries a gateway page without a GraphQL answer (502) and a dropped connection', async () => {
    const { fetch, requests } = scriptedFetch([
      { status: 502, body: '<html>Bad gateway</html>' },
      new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) }),
      { status: 200, body: ok },
    ]);
    const result = await client(fetch).request(fragmentFirst, { input: {} });
    expect(result.attempts).toBe(3);
    const keys = requests.map((request) => (request.body.variables as { idempotencyKey: string }).idempotencyKey);
    expect(new Set(keys).size).toBe(1);
  });

  it('sends a mutation without a key once, even when the error says retryable', async () => {
    const { fetch, requests } = scriptedFetch([{ status: 503, body: error('SERVICE_UNAVAILABLE', true) }]);
    const refusal = await client(fetch)
      .request(keyless, { input: {} })
      .then(() => null, (caught: unknown) => caught as ReckonError);
    expect(refusal).toBeInstanceOf(ReckonError);
    expect(refusal?.code).toBe('SERVICE_UNAVAILABLE');
    expect(refusal?.retryable).toBe(true);
    expect(requests).toHaveLength(1);
  });

  it('gives up after maxAttempts with the last error, its key and its attempt count', async () => {
    const { fetch, requests } = scriptedFetch([
      { status: 503, body: error('SERVICE_UNAVAILABLE', true) },
      { status: 503, body: error('SERVICE_UNAVAILABLE', true) },
      { status: 503, body: error('SERVICE_UNAVAILABLE', true) },
    ]);
    const refusal = await client(fetch, { maxAttempts: 3 })
      .request(keyed, { input: {} }, { idempotencyKey: 'order-1-sale' })
      .then(() => null, (caught: unknown) => caught as ReckonError);
    expect(refusal?.code).toBe('SERVICE_UNAVAILABLE');
    expect(refusal?.attempts).toBe(3);
    expect(refusal?.idempotencyKey).toBe('order-1-sale');
    expect(refusal?.requestId).toBe('req_1');
    expect(requests.map((request) => (request.body.variables as { idempotencyKey: string }).idempotencyKey)).toEqual(['order-1-sale', 'order-1-sale', 'order-1-sale']);
  });

  it('does not retry when one of the errors is final', async () => {
    const mixed = JSON.stringify({
      errors: [
        { message: 'busy', extensions: { code: 'SERVICE_UNAVAILABLE', retryable: true } },
        { message: 'bad', extensions: { code: 'VALIDATION_FAILED', retryable: false, details: { field: 'x' } } },
      ],
      data: null,
    });
    const { fetch, requests } = scriptedFetch([{ status: 200, body: mixed }]);
    const refusal = await client(fetch)
      .request(keyed, { input: {} })
      .then(() => null, (caught: unknown) => caught as ReckonError);
    expect(refusal?.code).toBe('VALIDATION_FAILED');
    expect(refusal?.details).toEqual({ field: 'x' });
    expect(refusal?.errors).toHaveLength(2);
    expect(requests).toHaveLength(1);
  });
});
