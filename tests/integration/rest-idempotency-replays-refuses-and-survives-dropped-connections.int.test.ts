import { PaymentDocument } from '../generated/graphql';
import { runWithWorkers } from '../helpers/concurrency';
import { DroppingHttpProxy, dropByKeySchedule, type ProxyAction } from '../helpers/dropping-http-proxy';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { countRows, idempotencyRows, newIdempotencyKey, sleep } from '../helpers/idempotency-http';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';
import { createSimulatorGateway } from '../helpers/payment-fixtures';
import { paymentTableRows } from '../helpers/payment-snapshot';
import { type Json, originOf } from '../helpers/rest-client';

/**
 * The Idempotency-Key header over REST, as a POS terminal on a flaky network relies on it: a retry
 * with the same key and body gets the first answer again (status, body byte for byte, and
 * `Idempotent-Replayed: true`) and changes nothing more; the same key with another body is 422
 * IDEMPOTENCY_KEY_REUSED; the same key sent many times at once has one effect; and a call whose
 * answer the network lost after the server committed is retried through the same network and
 * answered with the first outcome: one charge, one set of entries.
 */

/** One REST answer as it came over the wire: the body's exact text as well as the parsed JSON. */
interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: Json;
}

async function send(origin: string, apiKey: string, method: string, path: string, body: unknown, idempotencyKey?: string): Promise<RawAnswer> {
  const response = await fetch(new URL(`/v1${path}`, origin), {
    method,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text && /json/.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text };
}

/** A first answer of a keyed call, or its replay (same status, same bytes, marked). */
function expectReplayOf(first: RawAnswer, replay: RawAnswer): void {
  expect(first.headers.get('idempotent-replayed')).toBeNull();
  expect({ status: replay.status, text: replay.text, replayed: replay.headers.get('idempotent-replayed') }).toEqual({ status: first.status, text: first.text, replayed: 'true' });
  expect(replay.headers.get('location')).toBe(first.headers.get('location'));
  // A new request all the same: its own request id.
  expect(replay.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));
}

function expectProblem(answer: RawAnswer, status: number, code: string): Json {
  expect({ status: answer.status, contentType: answer.headers.get('content-type'), code: answer.body?.code }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/problem\+json/),
    code,
  });
  expect(answer.body).toMatchObject({ status, type: `urn:reckon:error:${code}`, requestId: answer.headers.get('x-request-id') });
  return answer.body;
}

describeEachDatabase('REST idempotency: replays, refuses reuse, one effect under concurrency and dropped connections', (kind) => {
  let app: TestApp;
  let origin: string;

  /** A tenant of its own per test, with a simulator gateway: its counts start from zero. */
  async function freshTenant(name: string): Promise<TestTenant> {
    const tenant = await app.createTenant(name);
    await createSimulatorGateway(tenant.client, ['USD']);
    return tenant;
  }

  async function paymentEventTypes(tenant: TestTenant, paymentId: string): Promise<{ events: string[]; entries: number }> {
    const { payment } = await tenant.client.ok(PaymentDocument, { id: paymentId });
    return { events: payment.events.edges.map((edge) => edge.node.type), entries: payment.journalEntries.edges.length };
  }

  beforeAll(async () => {
    app = await startTestApp(kind);
    origin = originOf(app.url);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('replays a keyed create, action and journal entry over REST: same status, same bytes, Idempotent-Replayed, one effect', async () => {
    const tenant = await freshTenant('Replays');
    const post = (path: string, body: unknown, key: string) => send(origin, tenant.apiKey, 'POST', path, body, key);

    // An account created twice under one key: one account, the same 201 and Location.
    const accountKey = newIdempotencyKey('rest-account');
    const cash = await post('/accounts', { code: '1010', name: 'Till', type: 'ASSET', currency: 'USD' }, accountKey);
    expect(cash.status).toBe(201);
    expectReplayOf(cash, await post('/accounts', { code: '1010', name: 'Till', type: 'ASSET', currency: 'USD' }, accountKey));
    const sales = await post('/accounts', { code: '4010', name: 'Sales', type: 'REVENUE', currency: 'USD' }, newIdempotencyKey('rest-account'));
    expect(await countRows(app.runtime.dataSource, 'accounts', 'tenant_id = ? AND code = ?', [tenant.tenantId, '1010'])).toBe(1);

    // A journal entry sent three times: one entry, two postings, balances moved once.
    const entryKey = newIdempotencyKey('rest-entry');
    const entry = {
      description: 'Cash sale, till 3',
      lines: [
        { accountId: cash.body.id, direction: 'DEBIT', amount: '12.34', currency: 'USD' },
        { accountId: sales.body.id, direction: 'CREDIT', amount: '12.34', currency: 'USD' },
      ],
    };
    const posted = await post('/journal-entries', entry, entryKey);
    expect(posted.status).toBe(201);
    expect(posted.headers.get('location')).toBe(`/v1/journal-entries/${posted.body.id}`);
    for (let retry = 0; retry < 2; retry += 1) expectReplayOf(posted, await post('/journal-entries', entry, entryKey));
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND description = ?', [tenant.tenantId, 'Cash sale, till 3'])).toBe(1);
    expect(await countRows(app.runtime.dataSource, 'postings', 'journal_entry_id = ?', [posted.body.id])).toBe(2);
    const balances = await send(origin, tenant.apiKey, 'GET', `/accounts/${cash.body.id}/balances`, undefined);
    expect(balances.body.posted.net).toEqual({ amount: '12.34', currency: 'USD' });

    // A payment authorized, then captured, each retried: one authorization, one capture at the gateway.
    const authorizeKey = newIdempotencyKey('rest-authorize');
    const authorized = await post('/payments', { amount: '25.00', currency: 'USD', paymentToken: 'tok_approve', description: 'Table 12' }, authorizeKey);
    expect(authorized.status).toBe(201);
    expectReplayOf(authorized, await post('/payments', { amount: '25.00', currency: 'USD', paymentToken: 'tok_approve', description: 'Table 12' }, authorizeKey));
    const captureKey = newIdempotencyKey('rest-capture');
    const captured = await post(`/payments/${authorized.body.id}/capture`, { amount: '20.00' }, captureKey);
    expect(captured.status).toBe(200);
    expect(captured.body).toMatchObject({ status: 'CAPTURED', capturedAmount: { amount: '20.00', currency: 'USD' } });
    expectReplayOf(captured, await post(`/payments/${authorized.body.id}/capture`, { amount: '20.00' }, captureKey));
    expect(await paymentEventTypes(tenant, authorized.body.id)).toEqual({
      events: ['AUTHORIZATION_REQUESTED', 'AUTHORIZED', 'CAPTURE_REQUESTED', 'CAPTURED'],
      entries: 2,
    });
    expect(await countRows(app.runtime.dataSource, 'payments', 'tenant_id = ?', [tenant.tenantId])).toBe(1);

    // A PATCH is keyed the same way.
    const customer = await post('/customers', { name: 'Acme Corp', email: 'billing@acme.example' }, newIdempotencyKey('rest-customer'));
    const patchKey = newIdempotencyKey('rest-patch');
    const patched = await send(origin, tenant.apiKey, 'PATCH', `/customers/${customer.body.id}`, { email: 'accounts@acme.example' }, patchKey);
    expect(patched.status).toBe(200);
    expect(patched.body.email).toBe('accounts@acme.example');
    expectReplayOf(patched, await send(origin, tenant.apiKey, 'PATCH', `/customers/${customer.body.id}`, { email: 'accounts@acme.example' }, patchKey));

    // A key the retry sends without: a new request, answered afresh (a refusal now: already captured).
    expectProblem(await post(`/payments/${authorized.body.id}/capture`, { amount: '20.00' }, newIdempotencyKey('rest-capture')), 409, 'INVALID_STATE_TRANSITION');
    // The records are REST's own keys, completed, one per key.
    for (const key of [accountKey, entryKey, authorizeKey, captureKey, patchKey]) expect((await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.status)).toEqual(['COMPLETED']);
  });

  it('refuses the same key with another body: 422 IDEMPOTENCY_KEY_REUSED, and nothing changes', async () => {
    const tenant = await freshTenant('Reuse');
    const post = (path: string, body: unknown, key: string) => send(origin, tenant.apiKey, 'POST', path, body, key);
    const key = newIdempotencyKey('rest-reuse');
    const first = await post('/payments', { amount: '40.00', currency: 'USD', paymentToken: 'tok_approve', capture: true }, key);
    expect(first.status).toBe(201);
    const refundKey = newIdempotencyKey('rest-reuse-refund');
    expect((await post(`/payments/${first.body.id}/refunds`, { amount: '5.00' }, refundKey)).status).toBe(201);
    const other = await post('/payments', { amount: '40.00', currency: 'USD', paymentToken: 'tok_approve', capture: true }, newIdempotencyKey('rest-reuse'));

    const ledgerBefore = await takeLedgerSnapshot(app.runtime.dataSource);
    const paymentsBefore = await paymentTableRows(app.runtime.dataSource);
    const reuses: [string, unknown, string][] = [
      ['/payments', { amount: '41.00', currency: 'USD', paymentToken: 'tok_approve', capture: true }, key],
      ['/payments', { amount: '40.00', currency: 'USD', paymentToken: 'tok_approve', capture: false }, key],
      ['/payments', { amount: '40.00', currency: 'USD', paymentToken: 'tok_approve', capture: true, description: 'one more field' }, key],
      [`/payments/${first.body.id}/refunds`, { amount: '6.00' }, refundKey],
      // The same body on another payment's path is another request too.
      [`/payments/${other.body.id}/refunds`, { amount: '5.00' }, refundKey],
    ];
    for (const [path, body, reusedKey] of reuses) {
      const refused = await post(path, body, reusedKey);
      const problem = expectProblem(refused, 422, 'IDEMPOTENCY_KEY_REUSED');
      expect(problem.retryable).toBe(false);
      expect(refused.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(ledgerBefore);
    expect(await paymentTableRows(app.runtime.dataSource)).toEqual(paymentsBefore);
    // The key still answers its own body, whatever the order of its fields.
    expectReplayOf(first, await post('/payments', { amount: '40.00', currency: 'USD', paymentToken: 'tok_approve', capture: true }, key));
    expectReplayOf(first, await post('/payments', { capture: true, paymentToken: 'tok_approve', currency: 'USD', amount: '40.00' }, key));
  });

  it('replays a refusal under its key as the same problem, marked Idempotent-Replayed, and does not ask the gateway again', async () => {
    const tenant = await freshTenant('Refusal replayed');
    const key = newIdempotencyKey('rest-declined');
    const body = { amount: '18.00', currency: 'USD', paymentToken: 'tok_decline_insufficient_funds' };
    const declined = await send(origin, tenant.apiKey, 'POST', '/payments', body, key);
    const problem = expectProblem(declined, 402, 'GATEWAY_DECLINED');
    expect(declined.headers.get('idempotent-replayed')).toBeNull();
    const rowsAfterFirst = await paymentTableRows(app.runtime.dataSource);

    const again = await send(origin, tenant.apiKey, 'POST', '/payments', body, key);
    expectProblem(again, 402, 'GATEWAY_DECLINED');
    const { requestId: _first, ...firstProblem } = problem;
    const { requestId: _again, ...againProblem } = again.body;
    expect(againProblem).toEqual(firstProblem);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // The decline was recorded once (a FAILED payment with its events) and not asked for again.
    expect(await paymentTableRows(app.runtime.dataSource)).toEqual(rowsAfterFirst);
    expect(await countRows(app.runtime.dataSource, 'payments', 'tenant_id = ?', [tenant.tenantId])).toBe(1);
    // A new key is a new attempt: the gateway is asked (and declines) again.
    expect((await send(origin, tenant.apiKey, 'POST', '/payments', body, newIdempotencyKey('rest-declined'))).headers.get('idempotent-replayed')).toBeNull();
    expect(await countRows(app.runtime.dataSource, 'payments', 'tenant_id = ?', [tenant.tenantId])).toBe(2);
  });

  it('refuses a malformed key before anything runs: 400 VALIDATION_FAILED naming the header', async () => {
    const tenant = await freshTenant('Malformed key');
    const before = await paymentTableRows(app.runtime.dataSource);
    for (const key of ['short', 'x'.repeat(256), 'tab\tinside-key']) {
      const refused = await send(origin, tenant.apiKey, 'POST', '/payments', { amount: '5.00', currency: 'USD', paymentToken: 'tok_approve' }, key);
      const problem = expectProblem(refused, 400, 'VALIDATION_FAILED');
      expect({ key, field: problem.details?.field }).toEqual({ key, field: expect.stringMatching(/idempotency/i) });
    }
    expect(await paymentTableRows(app.runtime.dataSource)).toEqual(before);
  });

  it('has one effect when the same key is sent many times at once; the others replay or are 409 IN_USE (retryable) and replay when retried', async () => {
    const tenant = await freshTenant('Concurrent');
    const key = newIdempotencyKey('rest-concurrent');
    // A slow authorization (the simulator's tok_slow) keeps the first call running while the others
    // arrive, as a terminal's retries do when the gateway is slow: they are IN_USE rather than replays.
    const body = { amount: '33.00', currency: 'USD', paymentToken: 'tok_slow', capture: true, description: `lost terminal ${key}` };
    const sendIt = () => send(origin, tenant.apiKey, 'POST', '/payments', body, key);
    const calls = 12;
    const answers = await Promise.all(Array.from({ length: calls }, sendIt));

    const fresh = answers.filter((answer) => answer.status === 201 && answer.headers.get('idempotent-replayed') === null);
    const replays = answers.filter((answer) => answer.headers.get('idempotent-replayed') === 'true');
    const inUse = answers.filter((answer) => answer.status === 409);
    expect({ fresh: fresh.length, others: replays.length + inUse.length }).toEqual({ fresh: 1, others: calls - 1 });
    const [first] = fresh;
    for (const replay of replays) expectReplayOf(first, replay);
    for (const refused of inUse) {
      const problem = expectProblem(refused, 409, 'IDEMPOTENCY_KEY_IN_USE');
      expect(problem.retryable).toBe(true);
      expect(problem.details).toMatchObject({ key, retryAfterSeconds: expect.any(Number) });
      expect(refused.headers.get('retry-after')).toBe(String(problem.details.retryAfterSeconds));
    }
    // Each refused caller retries with a small backoff, as a client should, and gets the first answer.
    for (const _refused of inUse) {
      let retried = await sendIt();
      for (let attempt = 1; retried.status === 409 && attempt < 40; attempt += 1) {
        await sleep(10 * attempt);
        retried = await sendIt();
      }
      expectReplayOf(first, retried);
    }
    expect(await countRows(app.runtime.dataSource, 'payments', 'tenant_id = ?', [tenant.tenantId])).toBe(1);
    expect(await paymentEventTypes(tenant, first.body.id)).toEqual({
      events: ['AUTHORIZATION_REQUESTED', 'AUTHORIZED', 'CAPTURE_REQUESTED', 'CAPTURED'],
      entries: 2,
    });
    expect((await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.status)).toEqual(['COMPLETED']);
  });

  it('authorizes and captures every payment exactly once through a proxy that loses requests and answers', async () => {
    const tenant = await freshTenant('Dropped connections');
    const proxy = await DroppingHttpProxy.start(app.url);
    try {
      const schedules = dropByKeySchedule(proxy);

      /**
       * What a POS terminal does: send, and on a lost connection (or the key still in use) send the
       * same request with the same key again, until it has an answer.
       */
      const callUntilAnswered = async (path: string, body: unknown, key: string): Promise<RawAnswer & { attempts: number }> => {
        for (let attempts = 1; attempts <= 10; attempts += 1) {
          const answer = await send(proxy.origin, tenant.apiKey, 'POST', path, body, key).catch(() => null);
          if (answer && !(answer.status === 409 && answer.body?.code === 'IDEMPOTENCY_KEY_IN_USE')) return { ...answer, attempts };
          await sleep(20 * attempts);
        }
        throw new Error(`${path} got no answer in 10 attempts`);
      };

      const payments = 9;
      const calls: { key: string; answer: RawAnswer & { attempts: number } }[] = [];
      const paymentIds: string[] = [];
      await runWithWorkers(Array.from({ length: payments }, (_, i) => i), 3, async (i) => {
        const amount = `${10 + i}.00`;
        const authorizeKey = newIdempotencyKey(`rest-drop-authorize-${i}`);
        const authorized = await callUntilAnswered('/payments', { amount, currency: 'USD', paymentToken: 'tok_approve', description: `Lane ${i}` }, authorizeKey);
        expect(authorized.status).toBe(201);
        expect(authorized.body).toMatchObject({ status: 'AUTHORIZED', amount: { amount } });
        const captureKey = newIdempotencyKey(`rest-drop-capture-${i}`);
        const captured = await callUntilAnswered(`/payments/${authorized.body.id}/capture`, {}, captureKey);
        expect(captured.status).toBe(200);
        expect(captured.body).toMatchObject({ id: authorized.body.id, status: 'CAPTURED', capturedAmount: { amount } });
        calls.push({ key: authorizeKey, answer: authorized }, { key: captureKey, answer: captured });
        paymentIds.push(authorized.body.id);
      });

      // Every call carried one key on every attempt, and what it got matches what the network did:
      // a replay exactly when an answer was lost after the server had committed.
      for (const { key, answer } of calls) {
        const schedule = schedules.get(key) as ProxyAction[];
        const sent = proxy.requestsWithKey(key);
        expect({ key, attempts: sent.length, sameBody: new Set(sent.map((request) => request.body)).size }).toEqual({ key, attempts: schedule.length + 1, sameBody: 1 });
        expect(answer.attempts).toBe(schedule.length + 1);
        expect({ key, replayed: answer.headers.get('idempotent-replayed') === 'true' }).toEqual({ key, replayed: schedule.includes('drop-after-forwarding') });
      }
      expect(calls.filter(({ answer }) => answer.headers.get('idempotent-replayed') === 'true').length).toBeGreaterThan(0);

      // One charge and one capture per payment, and one set of entries each.
      expect(await countRows(app.runtime.dataSource, 'payments', 'tenant_id = ?', [tenant.tenantId])).toBe(payments);
      for (const paymentId of paymentIds) {
        expect({ paymentId, ...(await paymentEventTypes(tenant, paymentId)) }).toEqual({
          paymentId,
          events: ['AUTHORIZATION_REQUESTED', 'AUTHORIZED', 'CAPTURE_REQUESTED', 'CAPTURED'],
          entries: 2,
        });
      }
      const trialBalance = await send(origin, tenant.apiKey, 'GET', '/trial-balance', undefined);
      expect(trialBalance.body.balanced).toBe(true);
      await assertLedgerInvariants(app.runtime.dataSource, tenant.client);
    } finally {
      await proxy.close();
    }
  });
});
