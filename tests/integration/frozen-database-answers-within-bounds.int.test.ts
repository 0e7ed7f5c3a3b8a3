import { type ApiBehindProxy, startApiBehindProxy } from '../helpers/api-behind-proxy';
import { describeOnMysql } from '../helpers/harness';

/**
 * The database freezes (its process stopped: connections stay open, nothing answers) while requests
 * hold every pool connection. Before, each request waited in the pool queue for the whole freeze and
 * /readyz waited with them. Now a request that cannot get a connection within
 * DATABASE_ACQUIRE_TIMEOUT_MS is answered SERVICE_UNAVAILABLE (retryable), the requests caught inside
 * the freeze end too, /readyz answers 503 within its own bound on its own connection, and everything
 * serves again once the database does.
 */
const ACQUIRE_TIMEOUT_MS = 1500;
const STATEMENT_TIMEOUT_MS = 1500;
/** /readyz's own bound (READINESS_TIMEOUT_MS in src/server/app.ts). */
const READINESS_TIMEOUT_MS = 2000;
/** A statement unanswered past its limit plus a second is killed; a KILL unanswered within 2 s gives up its connection. */
const IN_FLIGHT_BOUND_MS = STATEMENT_TIMEOUT_MS + 1000 + 2000;
const FREEZE_MAX_MS = 25_000;
const ME = '{ me { tenant { id } } }';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  status: number;
  code?: unknown;
  retryable?: unknown;
  ms: number;
}

describeOnMysql('a frozen database', () => {
  let setup: ApiBehindProxy;

  beforeAll(async () => {
    setup = await startApiBehindProxy({
      dataDirPrefix: 'reckon-freeze-',
      accounts: 2,
      env: {
        DATABASE_POOL_SIZE: '2',
        DATABASE_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS),
        DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      },
    });
  });

  afterAll(async () => {
    setup?.proxy.thaw();
    await setup?.close();
  });

  /**
   * Asks `me` with `apiKey` (the fixture's by default). Inside the freeze each request comes with a key
   * of its own that the API has not seen: its authentication is then its first statement, as it was for
   * every request before the authentication cache (which serves a key already seen without one).
   */
  async function ask(apiKey = setup.fixture.apiKey): Promise<Answer> {
    const started = Date.now();
    const response = await fetch(setup.server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({ query: ME }),
    });
    const body = (await response.json()) as { errors?: { extensions?: { code?: unknown; retryable?: unknown } }[] };
    return { status: response.status, code: body.errors?.[0]?.extensions?.code, retryable: body.errors?.[0]?.extensions?.retryable, ms: Date.now() - started };
  }

  async function readiness(): Promise<{ status: number; ms: number }> {
    const started = Date.now();
    const response = await fetch(new URL('/readyz', setup.server.url));
    await response.text();
    return { status: response.status, ms: Date.now() - started };
  }

  async function eventually(probe: () => Promise<number>, want: number, withinMs: number): Promise<number> {
    const deadline = Date.now() + withinMs;
    let last = await probe();
    while (last !== want && Date.now() < deadline) {
      await sleep(200);
      last = await probe();
    }
    return last;
  }

  it('answers SERVICE_UNAVAILABLE within the wait bound while the pool is held, /readyz 503 within its own, and serves again after', async () => {
    expect(await ask()).toMatchObject({ status: 200 });
    expect(await readiness()).toMatchObject({ status: 200 });
    const unseenKeys = await Promise.all(
      Array.from({ length: 5 }, async (_, i) => (await setup.api.services.auth.createApiKey(setup.fixture.tenantId, { name: `unseen ${i}` })).secret),
    );

    setup.proxy.freeze();
    // The freeze ends by itself at the latest after this, so that code without the bounds fails on
    // the times below instead of hanging the suite.
    const freezeEnds = setTimeout(() => setup.proxy.thaw(), FREEZE_MAX_MS);
    let holders: Answer[];
    let waiting: Answer[];
    let ready: { status: number; ms: number };
    try {
      // These take both pool connections (one sends its statement into the freeze, one is still
      // connecting) and hang there.
      const holding = Promise.all([ask(unseenKeys[0]), ask(unseenKeys[1])]);
      await sleep(300);
      [waiting, ready] = await Promise.all([Promise.all([ask(unseenKeys[2]), ask(unseenKeys[3]), ask(unseenKeys[4])]), readiness()]);
      holders = await holding;
    } finally {
      clearTimeout(freezeEnds);
      setup.proxy.thaw();
    }
    if (process.env.TEST_REPORT_TIMINGS) console.log({ waiting, holders, ready });

    for (const answer of waiting) {
      expect(answer).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE', retryable: true });
      // Generous (the machine is shared): without the bound they waited for the whole freeze.
      expect(answer.ms).toBeLessThan(3 * ACQUIRE_TIMEOUT_MS);
    }
    for (const answer of holders) {
      expect(answer).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE', retryable: true });
      expect(answer.ms).toBeLessThan(3 * IN_FLIGHT_BOUND_MS);
    }
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(3 * READINESS_TIMEOUT_MS);

    // The database is back: readiness and requests recover by themselves, without a restart.
    expect(await eventually(async () => (await readiness()).status, 200, 15_000)).toBe(200);
    expect(await eventually(async () => (await ask()).status, 200, 15_000)).toBe(200);
  });
});
