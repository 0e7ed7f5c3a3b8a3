import { CreateCustomerDocument, CreateInvoiceDocument, FinalizeInvoiceDocument, InvoiceDocument, UpdateInvoiceDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { INVOICE_TEST_START, USD_LINES } from '../helpers/invoice-fixtures';
import { createSimulatorGateway } from '../helpers/payment-fixtures';
import { type Json, originOf, RestClient, type RestResponse } from '../helpers/rest-client';
import { TestClock } from '../helpers/test-clock';

/** The invoice's row and lines as stored: what a refused write must leave exactly as they were. */
async function storedInvoice(app: TestApp, invoiceId: string) {
  const dataSource = app.runtime.dataSource;
  return {
    invoice: await dataSource.query('SELECT * FROM invoices WHERE id = ?', [invoiceId]),
    lines: await dataSource.query('SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY position', [invoiceId]),
  };
}

function expectProblem(response: RestResponse, status: number, code: string): Json {
  expect({ status: response.status, contentType: response.contentType, code: response.body?.code }).toEqual({
    status,
    contentType: expect.stringContaining('application/problem+json'),
    code,
  });
  return response.body;
}

describeEachDatabase('invoice drafts: a version as ETag, and If-Match (expectedVersion) refuses a write made on a stale read', (kind) => {
  let app: TestApp;
  let rest: RestClient;
  let customerId: string;
  const clock = new TestClock(INVOICE_TEST_START);

  const createDraft = async (memo = 'Draft') => {
    const response = await rest.post('/invoices', { customerId, currency: 'USD', lines: USD_LINES.slice(0, 1), memo });
    expect(response.status).toBe(201);
    return response;
  };

  beforeAll(async () => {
    app = await startTestApp(kind, { clock });
    rest = new RestClient(originOf(app.url), app.apiKey);
    customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Acme Trading GmbH' } })).createCustomer.customer.id;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('GraphQL: a stale expectedVersion is PRECONDITION_FAILED naming the current version and changes nothing; the current one applies and bumps it', async () => {
    const draft = (await app.client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: USD_LINES.slice(0, 1), memo: 'v1' } })).createInvoice.invoice;
    expect(draft.version).toBe(1);

    const applied = (await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: draft.id, memo: 'v2', lines: USD_LINES, expectedVersion: 1 } })).updateInvoice.invoice;
    expect(applied).toMatchObject({ memo: 'v2', version: 2 });
    expect(applied.lines).toHaveLength(USD_LINES.length);

    const before = await storedInvoice(app, draft.id);
    const stale = await app.client.request(UpdateInvoiceDocument, { input: { invoiceId: draft.id, memo: 'lost update', lines: USD_LINES.slice(0, 1), expectedVersion: 1 } });
    expect(stale.data?.updateInvoice ?? null).toBeNull();
    expect(stale.errors?.[0].extensions).toMatchObject({ code: 'PRECONDITION_FAILED', details: { id: draft.id, expectedVersion: 1, currentVersion: 2 } });
    expect(await storedInvoice(app, draft.id)).toEqual(before);
    expect((await app.client.ok(InvoiceDocument, { id: draft.id })).invoice).toMatchObject({ memo: 'v2', version: 2 });

    // Finalising checks it too: the draft finalised is the one the caller reviewed.
    const staleFinalize = await app.client.request(FinalizeInvoiceDocument, { input: { invoiceId: draft.id, expectedVersion: 1 } });
    expect(staleFinalize.errors?.[0].extensions).toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: 2 } });
    expect(await storedInvoice(app, draft.id)).toEqual(before);
    const finalized = (await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: draft.id, expectedVersion: 2 } })).finalizeInvoice.invoice;
    expect(finalized).toMatchObject({ status: 'OPEN', version: 3 });
  });

  it('REST: GET gives the version as a strong ETag; PATCH with it succeeds and answers the next; the old one is 412 problem+json and nothing changes; no If-Match: the last write wins', async () => {
    const created = await createDraft('first');
    const invoiceId = created.body.id as string;
    expect(created.headers.get('etag')).toBe('"1"');

    const read = await rest.get(`/invoices/${invoiceId}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('"1"');
    expect(read.body.version).toBe(1);

    const patched = await rest.patch(`/invoices/${invoiceId}`, { memo: 'second' }, { headers: { 'If-Match': '"1"' } });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('etag')).toBe('"2"');
    expect(patched.body).toMatchObject({ memo: 'second', version: 2 });

    const before = await storedInvoice(app, invoiceId);
    const problem = expectProblem(await rest.patch(`/invoices/${invoiceId}`, { memo: 'lost update', lines: USD_LINES }, { headers: { 'If-Match': '"1"' } }), 412, 'PRECONDITION_FAILED');
    expect(problem).toMatchObject({ retryable: false, details: { expectedVersion: 1, currentVersion: 2 } });
    expect(problem.detail).toMatch(/version 2/);
    expect(await storedInvoice(app, invoiceId)).toEqual(before);

    // Without If-Match (or with *) the change applies to whatever is stored.
    const blind = await rest.patch(`/invoices/${invoiceId}`, { memo: 'third' });
    expect({ status: blind.status, etag: blind.headers.get('etag'), memo: blind.body.memo }).toEqual({ status: 200, etag: '"3"', memo: 'third' });
    const anyVersion = await rest.patch(`/invoices/${invoiceId}`, { memo: 'fourth' }, { headers: { 'If-Match': '*' } });
    expect({ status: anyVersion.status, etag: anyVersion.headers.get('etag') }).toEqual({ status: 200, etag: '"4"' });
    // The weak form of the tag (a compressing proxy may weaken it) names the same version.
    const weak = await rest.patch(`/invoices/${invoiceId}`, { memo: 'fifth' }, { headers: { 'If-Match': 'W/"4"' } });
    expect({ status: weak.status, etag: weak.headers.get('etag') }).toEqual({ status: 200, etag: '"5"' });
  });

  it('REST: If-Match that names no version is 412, a malformed one 400, on a write without a version 400; the body does not take expectedVersion; If-None-Match gives 304 while unchanged', async () => {
    const invoiceId = (await createDraft()).body.id as string;
    const before = await storedInvoice(app, invoiceId);
    const notOurs = expectProblem(await rest.patch(`/invoices/${invoiceId}`, { memo: 'x' }, { headers: { 'If-Match': '"abc"' } }), 412, 'PRECONDITION_FAILED');
    expect(notOurs.details).toEqual({ field: 'If-Match' });
    expectProblem(await rest.patch(`/invoices/${invoiceId}`, { memo: 'x' }, { headers: { 'If-Match': '"1", "2"' } }), 400, 'VALIDATION_FAILED');
    expectProblem(await rest.patch(`/invoices/${invoiceId}`, { memo: 'x', expectedVersion: 1 }), 400, 'VALIDATION_FAILED');
    const customer = await rest.patch(`/customers/${customerId}`, { email: 'ap@acme.example' }, { headers: { 'If-Match': '"1"' } });
    expect(expectProblem(customer, 400, 'VALIDATION_FAILED').details).toMatchObject({ field: 'If-Match' });
    expect(await storedInvoice(app, invoiceId)).toEqual(before);

    const unchanged = await rest.get(`/invoices/${invoiceId}`, { headers: { 'If-None-Match': '"1"' } });
    expect({ status: unchanged.status, etag: unchanged.headers.get('etag'), body: unchanged.body }).toEqual({ status: 304, etag: '"1"', body: '' });
    await rest.ok('PATCH', `/invoices/${invoiceId}`, { body: { memo: 'changed' }, headers: { 'If-Match': '"1"' } });
    const changed = await rest.get(`/invoices/${invoiceId}`, { headers: { 'If-None-Match': '"1"' } });
    expect({ status: changed.status, etag: changed.headers.get('etag'), memo: changed.body.memo }).toEqual({ status: 200, etag: '"2"', memo: 'changed' });
  });

  it('REST: two clients that read the same ETag and PATCH at once: in every round exactly one wins, the other gets 412, and the winner’s change is the one stored', async () => {
    const invoiceId = (await createDraft()).body.id as string;
    for (let round = 0; round < 6; round += 1) {
      const etag = (await rest.get(`/invoices/${invoiceId}`)).headers.get('etag') as string;
      const memos = [`round ${round}: client A`, `round ${round}: client B`];
      const answers = await Promise.all(memos.map((memo) => rest.patch(`/invoices/${invoiceId}`, { memo }, { headers: { 'If-Match': etag } })));
      const statuses = answers.map((answer) => answer.status).sort();
      expect(statuses).toEqual([200, 412]);
      const winner = answers.findIndex((answer) => answer.status === 200);
      expect(answers[1 - winner].body).toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: Number(JSON.parse(etag)) + 1 } });
      const after = await rest.get(`/invoices/${invoiceId}`);
      expect({ memo: after.body.memo, etag: after.headers.get('etag') }).toEqual({ memo: memos[winner], etag: `"${Number(JSON.parse(etag)) + 1}"` });
    }
  });

  it('REST: finalize (and every later change of what the invoice shows) changes the ETag; a replayed PATCH returns the stored answer, not 412', async () => {
    const invoiceId = (await createDraft()).body.id as string;
    const first = await rest.patch(`/invoices/${invoiceId}`, { memo: 'reviewed' }, { headers: { 'If-Match': '"1"' }, idempotencyKey: `etag-replay-${invoiceId}` });
    expect(first.status).toBe(200);
    await rest.ok('PATCH', `/invoices/${invoiceId}`, { body: { memo: 'changed by someone else' } });
    // The same request again (same key, same If-Match, same body): the stored answer, though "1" is stale now.
    const replayed = await rest.patch(`/invoices/${invoiceId}`, { memo: 'reviewed' }, { headers: { 'If-Match': '"1"' }, idempotencyKey: `etag-replay-${invoiceId}` });
    expect({ status: replayed.status, replayed: replayed.headers.get('idempotent-replayed'), id: replayed.body.id }).toEqual({ status: 200, replayed: 'true', id: invoiceId });
    expect(replayed.headers.get('etag')).toBe(`"${replayed.body.version}"`);

    expectProblem(await rest.post(`/invoices/${invoiceId}/finalize`, undefined, { headers: { 'If-Match': '"2"' } }), 412, 'PRECONDITION_FAILED');
    const finalized = await rest.post(`/invoices/${invoiceId}/finalize`, undefined, { headers: { 'If-Match': '"3"' } });
    expect({ status: finalized.status, etag: finalized.headers.get('etag'), state: finalized.body.status }).toEqual({ status: 200, etag: '"4"', state: 'OPEN' });
    expect(expectProblem(await rest.patch(`/invoices/${invoiceId}`, { memo: 'too late' }, { headers: { 'If-Match': '"3"' } }), 412, 'PRECONDITION_FAILED').details).toMatchObject({
      currentVersion: 4,
    });
    expectProblem(await rest.patch(`/invoices/${invoiceId}`, { memo: 'too late' }, { headers: { 'If-Match': '"4"' } }), 409, 'INVALID_STATE_TRANSITION');

    // Payments, declined card attempts and credit notes change what the invoice shows, so its ETag.
    const etags = [finalized.headers.get('etag')];
    const etagNow = async () => (await rest.get(`/invoices/${invoiceId}`)).headers.get('etag');
    await createSimulatorGateway(app.client, ['USD']);
    const declined = await rest.post(`/invoices/${invoiceId}/pay`, { paymentToken: 'tok_decline_insufficient_funds' });
    expect(declined.status).toBeGreaterThanOrEqual(400);
    etags.push(await etagNow());
    await rest.ok('POST', `/invoices/${invoiceId}/payments`, { body: { amount: '10.00', method: 'BANK_TRANSFER', reference: 'TRF-1' } });
    etags.push(await etagNow());
    await rest.ok('POST', `/invoices/${invoiceId}/credit-notes`, { body: { amount: '5.00', reason: 'Goodwill' } });
    etags.push(await etagNow());
    const written = await rest.post(`/invoices/${invoiceId}/mark-uncollectible`, { reason: 'Insolvent' });
    expect(written.status).toBe(200);
    etags.push(written.headers.get('etag'));
    expect(await etagNow()).toBe(written.headers.get('etag'));
    expect(new Set(etags).size).toBe(etags.length);
  });
});
