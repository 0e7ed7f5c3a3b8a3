import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { type Json, originOf, RestClient, type RestResponse } from '../helpers/rest-client';
import { codesOfResponse, type DocumentOperation, DocumentValidators, keyOf, operationAt, operationsOf, pathWith } from '../helpers/rest-document';
import { buildRestWorld, dayFromToday, type RestWorld } from '../helpers/rest-world';
import { WebhookReceiver } from '../helpers/webhook-receiver';

/**
 * The contract between the REST interface and its OpenAPI document, read from the running server:
 * every operation the document lists answers a valid request with the status, headers and body
 * schema the document declares, and every error answers a Problem the operation declares. The
 * operations come from the document, not from a list here: one without a case below fails.
 */

interface ContractRequest {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

type ContractCase = (world: RestWorld) => ContractRequest;

const line = (accountId: string, direction: 'DEBIT' | 'CREDIT', amount: string) => ({ accountId, direction, amount, currency: 'USD' });

/**
 * A valid request for each operation that changes something, against an object of the world set
 * aside for it. Reads need no case: their path parameters are the world's ids by name.
 */
const WRITE_CASES: Record<string, ContractCase> = {
  createAccount: () => ({ body: { code: `C${Date.now()}`, name: 'Contract account', type: 'LIABILITY', currency: 'USD' } }),
  postJournalEntry: (w) => ({ body: { description: 'Contract', lines: [line(w.cashAccountId, 'DEBIT', '12.34'), line(w.revenueAccountId, 'CREDIT', '12.34')] } }),
  postJournalEntries: (w) => ({
    body: { entries: [{ lines: [line(w.cashAccountId, 'DEBIT', '5.00'), line(w.revenueAccountId, 'CREDIT', '5.00')] }, { lines: [line(w.cashAccountId, 'DEBIT', '6.00'), line(w.revenueAccountId, 'CREDIT', '6.00')] }] },
  }),
  reverseJournalEntry: (w) => ({ params: { journalEntryId: w.spare.postedEntryToReverse }, body: { description: 'Entered twice' } }),
  postPendingJournalEntry: (w) => ({ params: { journalEntryId: w.spare.pendingEntryToPost }, body: {} }),
  voidPendingJournalEntry: (w) => ({ params: { journalEntryId: w.spare.pendingEntryToVoid } }),
  authorizePayment: () => ({ body: { amount: '25.00', currency: 'USD', paymentToken: 'tok_approve', description: 'Table 12' } }),
  capturePayment: (w) => ({ params: { paymentId: w.spare.authorizedToCapture }, body: { amount: '15.00' } }),
  voidPayment: (w) => ({ params: { paymentId: w.spare.authorizedToVoid } }),
  refundPayment: (w) => ({ params: { paymentId: w.spare.capturedToRefund }, body: { amount: '5.00', reason: 'One item returned' } }),
  openDispute: (w) => ({ params: { paymentId: w.ids.paymentId }, body: { amount: '10.00', reason: 'fraudulent', fee: '15.00' } }),
  submitDisputeEvidence: (w) => ({ params: { disputeId: w.ids.disputeId }, body: { evidence: 'Signed receipt attached.' } }),
  closeDispute: (w) => ({ params: { disputeId: w.spare.disputeToClose }, body: { outcome: 'WON' } }),
  createGateway: () => ({ body: { name: `Contract simulator ${Date.now()}`, kind: 'SIMULATOR', currencies: ['GBP'] } }),
  recordPayout: (w) => ({ body: { gatewayId: w.gatewayId, amount: '2.00', currency: 'USD', externalRef: `po_contract_${Date.now()}` } }),
  createCustomer: () => ({ body: { name: 'Globex', email: 'ap@globex.example', currency: 'USD', address: { line1: '1 Main St', city: 'Springfield', country: 'US' } } }),
  updateCustomer: (w) => ({ params: { customerId: w.ids.customerId }, body: { email: 'accounts@acme.example' } }),
  createInvoice: (w) => ({
    body: { customerId: w.ids.customerId, currency: 'USD', lines: [{ description: 'Consulting', quantity: '10', unitPrice: '150.00', taxRate: '8', taxBehaviour: 'EXCLUSIVE' }] },
  }),
  updateInvoice: (w) => ({ params: { invoiceId: w.spare.draftInvoiceToUpdate }, body: { memo: 'Thank you for your business' } }),
  finalizeInvoice: (w) => ({ params: { invoiceId: w.spare.draftInvoiceToFinalize } }),
  payInvoice: (w) => ({ params: { invoiceId: w.spare.openInvoiceToPay }, body: { paymentToken: 'tok_approve' } }),
  recordInvoicePayment: (w) => ({ params: { invoiceId: w.spare.openInvoiceToRecordPayment }, body: { amount: '20.00', method: 'BANK_TRANSFER', reference: 'TRF-1042' } }),
  createCreditNote: (w) => ({ params: { invoiceId: w.spare.openInvoiceToCredit }, body: { amount: '10.00', reason: 'Discount agreed' } }),
  voidInvoice: (w) => ({ params: { invoiceId: w.spare.openInvoiceToVoid }, body: { reason: 'Wrong customer' } }),
  markInvoiceUncollectible: (w) => ({ params: { invoiceId: w.spare.openInvoiceToWriteOff }, body: { reason: 'Customer insolvent' } }),
  createBankAccount: (w) => ({ body: { name: 'Savings', currency: 'USD', ledgerAccountId: w.cashAccountId, iban: 'DE89370400440532013000' } }),
  importBankStatement: (w) => ({
    params: { bankAccountId: w.ids.bankAccountId },
    body: {
      format: 'CSV',
      content: `date,amount,description\n${dayFromToday(-2)},12.34,Card sale\n`,
      csvMapping: { currency: 'USD', dateColumn: 'date', dateFormat: 'YYYY-MM-DD', amountColumn: 'amount', descriptionColumn: 'description', decimalSeparator: '.' },
    },
  }),
  matchStatementLine: (w) => ({ params: { statementLineId: w.spare.unmatchedLineId }, body: { postingIds: [w.spare.postingForUnmatchedLine], note: 'Deposit' } }),
  unmatchStatementLine: (w) => ({ params: { statementLineId: w.ids.statementLineId }, body: { note: 'Wrong deposit' } }),
  acknowledgeReconciliationFlag: (w) => ({ params: { flagId: w.spare.flagToAcknowledge }, body: { note: 'Checking with the bank' } }),
  resolveReconciliationFlag: (w) => ({ params: { flagId: w.spare.flagToResolve }, body: { resolution: 'ACCEPTED', note: 'Bank fee' } }),
  createWebhookEndpoint: () => ({ body: { url: 'https://127.0.0.1:9/hooks/contract', events: ['JOURNAL_ENTRY_POSTED'] } }),
  disableWebhookEndpoint: (w) => ({ params: { webhookEndpointId: w.spare.endpointToDisable } }),
  redeliverWebhookEvent: (w) => ({ body: { deliveryId: w.spare.deliveryToRedeliver } }),
  createApiKey: () => ({ body: { name: 'POS terminal 7', scopes: ['PAYMENTS_WRITE'] } }),
  revokeApiKey: (w) => ({ params: { apiKeyId: w.spare.keyToRevoke } }),
  rollApiKey: (w) => ({ params: { apiKeyId: w.spare.keyToRoll }, body: { oldKeyExpiresAt: new Date(Date.now() + 86_400_000).toISOString() } }),
};

/** A value for a required query parameter of a read, from its name and format (a period's bounds). */
function queryValueOf(parameter: Json): string {
  const format = parameter.schema?.format;
  const end = parameter.name === 'to';
  if (format === 'date') return dayFromToday(end ? 1 : -365);
  if (format === 'date-time') return `${dayFromToday(end ? 1 : -365)}T00:00:00Z`;
  throw new Error(`No value for the required query parameter ${parameter.name} (${JSON.stringify(parameter.schema)})`);
}

function readCase(operation: DocumentOperation): ContractCase {
  return (world) => {
    const query: Record<string, string> = {};
    for (const parameter of operation.operation.parameters ?? []) {
      if (parameter.in === 'query' && parameter.required) query[parameter.name] = queryValueOf(parameter);
    }
    return { params: world.ids, query };
  };
}

function successOf(operation: DocumentOperation): { status: string; response: Json } {
  const status = Object.keys(operation.operation.responses).find((code) => /^2\d\d$/.test(code));
  if (!status) throw new Error(`${keyOf(operation)} declares no 2xx response`);
  return { status, response: operation.operation.responses[status] };
}

function hasLimit(operation: DocumentOperation): boolean {
  return (operation.operation.parameters ?? []).some((parameter: Json) => parameter.name === 'limit');
}

/** The list envelope of a paged response: the body itself, or the property of it that pages. */
function envelopeOf(body: Json): Json | undefined {
  if (body && typeof body === 'object' && 'hasMore' in body) return body;
  return Object.values<Json>(body ?? {}).find((value) => value && typeof value === 'object' && 'hasMore' in value);
}

describeEachDatabase('REST contract: every operation answers as its document says', (kind) => {
  let app: TestApp;
  let rest: RestClient;
  let document: Json;
  let validators: DocumentValidators;
  let operations: DocumentOperation[];
  let world: RestWorld;
  let receiver: WebhookReceiver;
  /** Every error response a test saw, with the operation it answered, checked against the document. */
  const problems: { operation: DocumentOperation; response: RestResponse }[] = [];

  beforeAll(async () => {
    // The delivery worker polls, so that a delivery is DELIVERED by the time redelivering it is tried.
    receiver = await WebhookReceiver.start();
    app = await startTestApp(kind, { env: { WEBHOOK_POLL_INTERVAL_MS: '50' } });
    rest = new RestClient(originOf(app.url), app.apiKey);
    const served = await rest.get('/openapi.json');
    expect(served.status).toBe(200);
    document = served.body;
    validators = new DocumentValidators(document);
    operations = operationsOf(document);
    world = await buildRestWorld(app, rest, receiver.url());
  });

  afterAll(async () => {
    await app?.close();
    await receiver?.close();
  });

  /** Sends the request an operation's case makes, as the document describes it. */
  async function send(client: RestClient, operation: DocumentOperation, request: ContractRequest, idempotencyKey?: string): Promise<RestResponse> {
    const path = pathWith(operation.path, request.params ?? {});
    return client.call(operation.method.toUpperCase(), path, { body: request.body, query: request.query, idempotencyKey });
  }

  /** Checks an error response against the Problem schema and the operation's declared responses. */
  function expectDeclaredProblem(operation: DocumentOperation, response: RestResponse): void {
    problems.push({ operation, response });
    const context = `${keyOf(operation)} answered ${response.status}: ${JSON.stringify(response.body)}`;
    expect({ context, contentType: response.contentType.split(';')[0] }).toEqual({ context, contentType: 'application/problem+json' });
    expect({ context, errors: validators.problemErrors(response.body) }).toEqual({ context, errors: null });
    const declared = operation.operation.responses[String(response.status)];
    expect({ context, declared: declared !== undefined }).toEqual({ context, declared: true });
    expect({ context, declaredCodes: codesOfResponse(document, declared) }).toEqual({ context, declaredCodes: expect.arrayContaining([response.body.code]) });
  }

  /** Checks a success response's status, content type, headers and body against the document. */
  async function expectDocumentedSuccess(operation: DocumentOperation, response: RestResponse, status: string, successResponse: Json): Promise<void> {
    const context = `${keyOf(operation)} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 2000)}`;
    if (response.status >= 400) expectDeclaredProblem(operation, response);
    expect({ context, status: response.status }).toEqual({ context, status: Number(status) });
    const mediaType = Object.keys(successResponse.content ?? {})[0];
    if (mediaType === 'application/json') {
      expect({ context, errors: validators.errorsAt(['paths', operation.path, operation.method, 'responses', status, 'content', mediaType, 'schema'], response.body) }).toEqual({
        context,
        errors: null,
      });
    } else if (mediaType) {
      expect({ context, contentType: response.contentType.startsWith(mediaType) }).toEqual({ context, contentType: true });
    }
    const headers = Object.keys(successResponse.headers ?? {});
    if (headers.includes('ETag')) expect({ context, etag: response.headers.get('etag') }).toEqual({ context, etag: expect.stringMatching(/^(W\/)?".*"$/) });
    if (headers.includes('X-Request-Id')) expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    if (status === '201') {
      const location = response.headers.get('location');
      expect({ context, location }).toEqual({ context, location: expect.stringMatching(/^\/v1\//) });
      const target = operationAt(operations, 'get', location as string);
      expect({ context, location, readable: target !== undefined }).toEqual({ context, location, readable: true });
      const read = await rest.get(location as string);
      expect({ context, location, status: read.status }).toEqual({ context, location, status: 200 });
      const targetStatus = successOf(target as DocumentOperation).status;
      expect({ location, errors: validators.errorsAt(['paths', (target as DocumentOperation).path, 'get', 'responses', targetStatus, 'content', 'application/json', 'schema'], read.body) }).toEqual({
        location,
        errors: null,
      });
    }
  }

  /** A stream (text/event-stream) or another body that does not end: only its head is read. */
  async function expectStreamHead(operation: DocumentOperation, request: ContractRequest, mediaType: string): Promise<void> {
    const url = new URL(pathWith(operation.path, request.params ?? {}), rest.origin);
    const abort = new AbortController();
    const response = await fetch(url, { headers: { Authorization: `Bearer ${app.apiKey}`, Accept: mediaType }, signal: abort.signal });
    try {
      expect({ operation: keyOf(operation), status: response.status, contentType: (response.headers.get('content-type') ?? '').startsWith(mediaType) }).toEqual({
        operation: keyOf(operation),
        status: 200,
        contentType: true,
      });
    } finally {
      abort.abort();
      await response.body?.cancel().catch(() => undefined);
    }
  }

  test('a valid request to every operation in the document succeeds with the declared status, headers and body', async () => {
    const exercised = new Set<string>();
    const missing: string[] = [];
    let listsWithMorePages = 0;
    let replays = 0;
    // Reads first, then writes: a write changes the object it acts on, which the reads describe as the world built it.
    const ordered = [...operations.filter((op) => op.method === 'get'), ...operations.filter((op) => op.method !== 'get')];
    for (const operation of ordered) {
      const { operationId } = operation.operation;
      const contractCase = operation.method === 'get' ? readCase(operation) : WRITE_CASES[operationId];
      if (!contractCase) {
        missing.push(`${operationId} (${keyOf(operation)})`);
        continue;
      }
      const request = contractCase(world);
      const { status, response: successResponse } = successOf(operation);
      const mediaType = Object.keys(successResponse.content ?? {})[0] ?? '';
      if (mediaType === 'text/event-stream') {
        await expectStreamHead(operation, request, mediaType);
        exercised.add(keyOf(operation));
        continue;
      }
      const isWrite = operation.method !== 'get';
      const idempotencyKey = isWrite ? `contract-${operationId}-${Date.now()}` : undefined;
      const response = await send(rest, operation, request, idempotencyKey);
      await expectDocumentedSuccess(operation, response, status, successResponse);
      exercised.add(keyOf(operation));

      if (isWrite && successResponse.headers?.['Idempotent-Replayed']) {
        expect({ operation: keyOf(operation), replayed: response.headers.get('idempotent-replayed') }).toEqual({ operation: keyOf(operation), replayed: null });
        const replay = await send(rest, operation, request, idempotencyKey);
        const context = `${keyOf(operation)} replayed: ${replay.status} ${JSON.stringify(replay.body).slice(0, 500)}`;
        expect({ context, replayed: replay.headers.get('idempotent-replayed') }).toEqual({ context, replayed: 'true' });
        await expectDocumentedSuccess(operation, replay, status, successResponse);
        expect({ context, location: replay.headers.get('location') }).toEqual({ context, location: response.headers.get('location') });
        replays += 1;
      }

      if (operation.method === 'get' && hasLimit(operation) && mediaType === 'application/json') {
        // A page of one: where more follow, the Link header names the next page, which reads as documented too.
        const paged = await send(rest, operation, { ...request, query: { ...request.query, limit: '1' } });
        await expectDocumentedSuccess(operation, paged, status, successResponse);
        const envelope = envelopeOf(paged.body);
        expect({ operation: keyOf(operation), envelope: envelope !== undefined }).toEqual({ operation: keyOf(operation), envelope: true });
        const link = paged.headers.get('link');
        if (envelope.hasMore) {
          listsWithMorePages += 1;
          expect({ operation: keyOf(operation), link }).toEqual({ operation: keyOf(operation), link: expect.stringMatching(/<[^>]+>; rel="next"/) });
          const next = /<([^>]+)>; rel="next"/.exec(link as string)?.[1] as string;
          const nextPage = await rest.get(next);
          await expectDocumentedSuccess(operation, nextPage, status, successResponse);
          expect(envelopeOf(nextPage.body).previousCursor).not.toBeNull();
        } else {
          expect({ operation: keyOf(operation), link: link?.includes('rel="next"') ?? false }).toEqual({ operation: keyOf(operation), link: false });
        }
      }
    }
    expect(missing).toEqual([]);
    // Every operation the document lists was sent, and nothing else: a new operation needs a case here.
    expect([...exercised].sort()).toEqual(operations.map(keyOf).sort());
    // The world is large enough for the paging and replay checks to have run, not to have been skipped.
    expect(listsWithMorePages).toBeGreaterThanOrEqual(10);
    expect(replays).toBe(operations.filter((op) => op.method !== 'get' && successOf(op).response.headers?.['Idempotent-Replayed']).length);
  });

  test('errors answer a Problem the operation declares: 401 without a key, 403 to a read-only key, 404 for an unknown id, 400 for a bad body', async () => {
    const anonymous = rest.withKey(null);
    const readOnly = rest.withKey(world.readOnlyKey);
    const readScopes = new Set(['LEDGER_READ', 'PAYMENTS_READ', 'INVOICES_READ', 'RECONCILIATION_READ', 'AUDIT_READ']);
    let unknownIds = 0;
    let badBodies = 0;
    let forbidden = 0;
    for (const operation of operations) {
      const { status: successStatus, response: successResponse } = successOf(operation);
      if (Object.keys(successResponse.content ?? {})[0] === 'text/event-stream') continue;
      const query = readCase(operation)(world).query;
      const request: ContractRequest = { params: world.ids, query, ...(operation.operation.requestBody ? { body: {} } : {}) };
      const name = keyOf(operation);

      const unauthenticated = await send(anonymous, operation, request);
      expect({ name, status: unauthenticated.status, code: unauthenticated.body.code }).toEqual({ name, status: 401, code: 'UNAUTHENTICATED' });
      expectDeclaredProblem(operation, unauthenticated);

      // The scopes an operation needs are in the document (`ledger:read`, the Scope LEDGER_READ); a key with read scopes only lacks the others.
      const scopes: string[] = (operation.operation['x-required-scopes'] ?? []).map((scope: string) => scope.toUpperCase().replace(':', '_'));
      const readable = scopes.every((scope) => readScopes.has(scope));
      if (!readable) {
        // A valid request, so that nothing but the scope is wrong with it.
        const valid = operation.method === 'get' ? request : { ...request, ...WRITE_CASES[operation.operation.operationId]?.(world), params: { ...world.ids, ...WRITE_CASES[operation.operation.operationId]?.(world).params } };
        const refused = await send(readOnly, operation, valid);
        expect({ name, status: refused.status, code: refused.body.code }).toEqual({ name, status: 403, code: 'FORBIDDEN' });
        expectDeclaredProblem(operation, refused);
        forbidden += 1;
      } else if (operation.method === 'get') {
        const read = await send(readOnly, operation, request);
        await expectDocumentedSuccess(operation, read, successStatus, successResponse);
      }

      // Another id of the same kind that does not exist: the last path parameter's prefix with a ULID nobody made.
      const idParameters = (operation.path.match(/\{(\w+)\}/g) ?? []).map((part) => part.slice(1, -1)).filter((param) => /^[a-z]+_/.test(world.ids[param] ?? ''));
      if (operation.method === 'get' && idParameters.length) {
        const last = idParameters[idParameters.length - 1];
        const unknown = `${world.ids[last].split('_')[0]}_01ARZ3NDEKTSV4RRFFQ69G5FAV`;
        const notFound = await send(rest, operation, { ...request, params: { ...world.ids, [last]: unknown } });
        expect({ name, status: notFound.status, code: notFound.body.code }).toEqual({ name, status: 404, code: 'NOT_FOUND' });
        expectDeclaredProblem(operation, notFound);
        unknownIds += 1;
      }

      // A valid body but for a field no input has: refused before anything runs, naming the field.
      if (operation.operation.requestBody) {
        const valid = WRITE_CASES[operation.operation.operationId]?.(world) ?? {};
        const body = { ...(valid.body as Record<string, unknown> | undefined), notAField: 1 };
        const refused = await send(rest, operation, { params: { ...world.ids, ...valid.params }, body });
        expect({ name, status: refused.status, code: refused.body.code, field: refused.body.details?.field }).toEqual({ name, status: 400, code: 'VALIDATION_FAILED', field: 'notAField' });
        expectDeclaredProblem(operation, refused);
        badBodies += 1;
      }
    }
    expect(unknownIds).toBeGreaterThanOrEqual(15);
    expect(badBodies).toBeGreaterThanOrEqual(25);
    expect(forbidden).toBeGreaterThanOrEqual(30);
    expect(problems.length).toBeGreaterThan(operations.length);
  });
});
