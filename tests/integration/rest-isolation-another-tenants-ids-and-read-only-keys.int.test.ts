import { type IdKind, idKindOf, newId } from '../../src/common/ids';
import {
  BankStatementDocument,
  CreateBankAccountDocument,
  CreateCreditNoteDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  CreateOAuthClientDocument,
  FinalizeInvoiceDocument,
  ImportBankStatementDocument,
  OpenDisputeDocument,
  RecordPayoutDocument,
  RefundPaymentDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { clientCredentialsToken } from '../helpers/oauth-http';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';
import { type Json, originOf } from '../helpers/rest-client';
import { snapshotOfTenant } from '../helpers/tenant-snapshot';

/**
 * Tenant isolation and scopes over REST, operation by operation of the OpenAPI document itself (so an
 * operation added to the document is covered without touching this file):
 * - every operation with a path parameter, asked by tenant B (with its API key and with an OAuth
 *   token) with tenant A's real id of the right kind, answers 404 problem+json NOT_FOUND,
 *   indistinguishable from an id that exists nowhere, and changes nothing of either tenant; so do
 *   the lists filtered by A's ids and the creates whose body names them;
 * - every POST and PATCH, asked with a key that holds only the read scopes, answers 403 FORBIDDEN
 *   with RFC 6750's insufficient_scope challenge and changes nothing, while the key's reads work;
 * - every operation asked without a key answers 401.
 */

interface Operation {
  method: string;
  /** Every query parameter's name. */
  query: string[];
  /** The document's path, /v1/payments/{paymentId}. */
  path: string;
  operationId: string;
  pathParameters: string[];
  requiredQuery: { name: string; schema: Json }[];
  requiredScopes: string[];
  hasBody: boolean;
  example?: unknown;
  /** Whether its answer is a stream (Server-Sent Events) rather than a JSON document. */
  streams: boolean;
}

function operationsOf(document: Json): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Json>(document.paths)) {
    for (const [method, operation] of Object.entries<Json>(item)) {
      if (!['get', 'post', 'patch', 'put', 'delete'].includes(method)) continue;
      const parameters: Json[] = (operation.parameters ?? []).map((parameter: Json) =>
        parameter.$ref ? document.components.parameters[String(parameter.$ref).split('/').pop() as string] : parameter,
      );
      const success = Object.entries<Json>(operation.responses).find(([status]) => status.startsWith('2'))?.[1];
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: operation.operationId,
        pathParameters: parameters.filter((parameter) => parameter.in === 'path').map((parameter) => parameter.name),
        query: parameters.filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name),
        requiredQuery: parameters.filter((parameter) => parameter.in === 'query' && parameter.required).map((parameter) => ({ name: parameter.name, schema: parameter.schema })),
        requiredScopes: operation['x-required-scopes'] ?? [],
        hasBody: Boolean(operation.requestBody),
        example: operation.requestBody?.content?.['application/json']?.example,
        streams: Object.keys(success?.content ?? {}).some((type) => type.startsWith('text/event-stream')),
      });
    }
  }
  return operations;
}

/** One REST answer; a stream is not read (its status and headers are the answer). */
interface Answer {
  status: number;
  headers: Headers;
  body: Json;
}

async function call(origin: string, apiKey: string | null, method: string, path: string, body?: unknown, query: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(path, origin);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  const response = await fetch(url, {
    method,
    headers: { ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const contentType = response.headers.get('content-type') ?? '';
  if (contentType.startsWith('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status, headers: response.headers, body: null };
  }
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: /json/.test(contentType) && text ? JSON.parse(text) : text };
}

/** The kind of id each path parameter of the document names; a parameter missing here fails the test. */
const KIND_OF_PATH_PARAMETER: Record<string, IdKind> = {
  accountId: 'account',
  journalEntryId: 'journalEntry',
  paymentId: 'payment',
  refundId: 'refund',
  disputeId: 'dispute',
  payoutId: 'payout',
  customerId: 'customer',
  invoiceId: 'invoice',
  creditNoteId: 'creditNote',
  bankAccountId: 'bankAccount',
  bankStatementId: 'bankStatement',
  statementLineId: 'bankStatementLine',
  flagId: 'reconciliationFlag',
  webhookEndpointId: 'webhookEndpoint',
  apiKeyId: 'apiKey',
  gatewayId: 'paymentGateway',
};

/**
 * The kind of id each filter of a list names (`GET /journal-entries?accountId=`): another tenant's is
 * NOT_FOUND, as in GraphQL, not an empty page. A query parameter ending in Id that is in neither this
 * table nor the next fails the test.
 */
const KIND_OF_QUERY_PARAMETER: Record<string, IdKind> = {
  'listJournalEntries.accountId': 'account',
  'listPayments.gatewayId': 'paymentGateway',
  'listInvoices.customerId': 'customer',
  'listCreditNotes.invoiceId': 'invoice',
  'listCreditNotes.customerId': 'customer',
  'listBankAccounts.ledgerAccountId': 'account',
  'listReconciliationFlags.bankAccountId': 'bankAccount',
  'listWebhookDeliveries.endpointId': 'webhookEndpoint',
  'streamReconciliationFlags.bankAccountId': 'bankAccount',
};

/** Query parameters named like ids that are free text to match, not ids looked up. */
const FREE_TEXT_QUERY_PARAMETERS = new Set([
  // A payment's customerId is the POS system's own reference, not a Reckon customer.
  'listPayments.customerId',
  // A stream's position to resume after (an event sequence number), not an object's id.
  'streamReconciliationFlags.lastEventId',
  'streamEvents.lastEventId',
  // Audit filters match what was recorded, whoever it named.
  'listAuditEvents.actorCredentialId',
  'listAuditEvents.resourceId',
]);

/** Path parameters that are not ids, with a valid value. */
const VALUE_OF_OTHER_PATH_PARAMETER: Record<string, () => string> = {
  asOf: () => new Date().toISOString(),
};

/** A value for a required query parameter, by its schema: a window that holds everything. */
function queryValueOf(name: string, schema: Json): string {
  const late = name === 'to' || name.endsWith('To');
  if (schema?.format === 'date-time') return late ? '2100-01-01T00:00:00Z' : '2000-01-01T00:00:00Z';
  if (schema?.format === 'date') return late ? '2026-12-31' : '2026-01-01';
  throw new Error(`No value for the required query parameter ${name} (${JSON.stringify(schema)}): add one to queryValueOf`);
}

function requiredQueryOf(operation: Operation): Record<string, string> {
  return Object.fromEntries(operation.requiredQuery.map(({ name, schema }) => [name, queryValueOf(name, schema)]));
}

/** The operation's path with each parameter filled in. */
function pathWith(operation: Operation, values: Record<string, string>): string {
  return operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = values[name] ?? VALUE_OF_OTHER_PATH_PARAMETER[name]?.();
    if (value === undefined) throw new Error(`${operation.operationId}: no value for the path parameter ${name}`);
    return encodeURIComponent(value);
  });
}

/** A valid-looking body: the document's own example, or an empty object where every field is optional. */
function bodyOf(operation: Operation): unknown {
  if (!operation.hasBody || operation.method === 'GET') return undefined;
  return operation.example ?? {};
}

/** An MT940 statement whose balances do not add up (1,000 + 250 ≠ 1,200): one line, one flag. */
const UNBALANCED_MT940 = ':20:STARTUMS\n:25:DE14740618130000033626\n:28C:1/1\n:60F:C260101USD1000,00\n:61:2601050105C250,00NTRFINV-1002//B26010500001\n:86:Invoice 1002\n:62F:C260105USD1200,00\n';

describeEachDatabase('REST isolation and scopes: another tenant’s ids are 404, a read-only key is 403 on every write, no key is 401', (kind) => {
  let app: TestApp;
  let origin: string;
  let tenantA: TestTenant;
  let tenantB: TestTenant;
  let operations: Operation[];
  /** Tenant B's credentials: its API key and an OAuth access token; the tenant comes from either. */
  let credentialsOfB: [string, string][] = [];
  /** Tenant A's real ids, by kind (several of a kind where the kind has states that matter). */
  const idsOfA: Partial<Record<IdKind, string[]>> = {};

  const remember = (idKind: IdKind, id: string) => {
    expect(idKindOf(id)).toBe(idKind);
    (idsOfA[idKind] ??= []).push(id);
  };

  beforeAll(async () => {
    app = await startTestApp(kind);
    // A's webhook endpoint refuses every delivery, and the worker's retries would move its rows on
    // their own: stopped, so that "nothing changed" compares every row.
    await app.runtime.services.webhookWorker.stop();
    origin = originOf(app.url);
    tenantA = app;
    tenantB = await app.createTenant('Beta');
    const a = tenantA.client;

    // Over REST, the document's own operations: an endpoint (first, so that what follows has
    // deliveries) and an API key of A's.
    const endpoint = await call(origin, tenantA.apiKey, 'POST', '/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/reckon-a', events: ['ALL'] });
    expect(endpoint.status).toBe(201);
    remember('webhookEndpoint', endpoint.body.webhookEndpoint.id);
    const key = await call(origin, tenantA.apiKey, 'POST', '/v1/api-keys', { name: 'A reporting', scopes: ['LEDGER_READ'] });
    expect(key.status).toBe(201);
    remember('apiKey', key.body.apiKey.id);

    const cash = await createAccount(a, { type: 'ASSET' });
    const revenue = await createAccount(a, { type: 'REVENUE' });
    remember('account', cash.id);
    remember('account', revenue.id);
    remember('journalEntry', (await postTransfer(a, cash.id, revenue.id, '100.00')).id);
    remember('journalEntry', (await postTransfer(a, cash.id, revenue.id, '7.00', { status: 'PENDING' })).id);

    remember('paymentGateway', (await createSimulatorGateway(a, ['USD'])).id);
    const gatewayId = (await createSimulatorGateway(a, ['EUR'])).id;
    remember('payment', (await authorize(a, { amount: '50.00' })).id);
    const captured = (await authorize(a, { amount: '100.00', capture: true })).id;
    remember('payment', captured);
    remember('refund', (await a.ok(RefundPaymentDocument, { input: { paymentId: captured, amount: '10.00' } })).refundPayment.refund.id);
    remember('dispute', (await a.ok(OpenDisputeDocument, { input: { paymentId: captured, amount: '20.00', reason: 'fraudulent' } })).openDispute.dispute.id);
    remember('payout', (await a.ok(RecordPayoutDocument, { input: { gatewayId, amount: '5.00', currency: 'EUR' } })).recordPayout.payout.id);

    const customerId = (await a.ok(CreateCustomerDocument, { input: { name: 'A customer', email: 'billing@a.example' } })).createCustomer.customer.id;
    remember('customer', customerId);
    const lines = [{ description: 'Work', quantity: '2', unitPrice: '10.00', taxRate: '19', taxBehaviour: 'EXCLUSIVE' as const }];
    remember('invoice', (await a.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines } })).createInvoice.invoice.id);
    const open = (await a.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines } })).createInvoice.invoice.id;
    await a.ok(FinalizeInvoiceDocument, { input: { invoiceId: open } });
    remember('invoice', open);
    remember('creditNote', (await a.ok(CreateCreditNoteDocument, { input: { invoiceId: open, amount: '1.00' } })).createCreditNote.creditNote.id);

    const bankAccountId = (
      await a.ok(CreateBankAccountDocument, { input: { name: 'A bank', iban: 'DE14740618130000033626', currency: 'USD', ledgerAccountId: cash.id } })
    ).createBankAccount.bankAccount.id;
    remember('bankAccount', bankAccountId);
    const { importBankStatement } = await a.ok(ImportBankStatementDocument, { input: { bankAccountId, format: 'MT940', content: UNBALANCED_MT940 } });
    remember('bankStatement', importBankStatement.statements[0].id);
    remember('reconciliationFlag', importBankStatement.flags[0].id);
    remember('bankStatementLine', (await a.ok(BankStatementDocument, { id: importBankStatement.statements[0].id })).bankStatement.lines.edges[0].node.id);

    // A's endpoint takes every event: A's payments above have deliveries (waiting: the worker is stopped).
    const [delivery] = await app.runtime.dataSource.query('SELECT id FROM webhook_deliveries WHERE tenant_id = ? ORDER BY id LIMIT 1', [tenantA.tenantId]);
    remember('webhookDelivery', String(delivery.id));

    const { createOAuthClient } = await tenantB.client.ok(CreateOAuthClientDocument, { input: { name: 'B admin', scopes: ['ADMIN'] } });
    const { accessToken } = await clientCredentialsToken(app.url, createOAuthClient.client.id, createOAuthClient.clientSecret);
    credentialsOfB = [
      ['API key', tenantB.apiKey],
      ['OAuth token', accessToken],
    ];

    const document = await call(origin, null, 'GET', '/v1/openapi.json');
    expect(document.status).toBe(200);
    operations = operationsOf(document.body);
  }, 120_000);
  afterAll(async () => {
    await app?.close();
  });

  /**
   * The rows refused requests must not change: every row of both tenants, but for the calling
   * tenant's own audit trail (which records the attempts) and when its key was last used.
   */
  const snapshots = async (caller: TestTenant | null) => {
    await app.runtime.services.audit.flush();
    const ofTenant = (tenant: TestTenant) =>
      snapshotOfTenant(
        app.runtime.dataSource,
        tenant.tenantId,
        tenant === caller ? { except: ['audit_events', 'audit_event_resources', 'audit_chain_heads'], exceptColumns: ['last_used_at'] } : {},
      );
    return { a: await ofTenant(tenantA), b: await ofTenant(tenantB) };
  };

  it('reads every operation from the document, and knows every path parameter in it', () => {
    expect(operations.length).toBeGreaterThan(50);
    const unknown = operations.flatMap((operation) => operation.pathParameters).filter((name) => !(name in KIND_OF_PATH_PARAMETER) && !(name in VALUE_OF_OTHER_PATH_PARAMETER));
    expect(unknown).toEqual([]);
    expect(Object.values(KIND_OF_PATH_PARAMETER).filter((idKind) => !idsOfA[idKind]?.length)).toEqual([]);
  });

  it('answers 404 NOT_FOUND to tenant B for every operation naming tenant A’s id, as for an id that exists nowhere, and changes nothing', async () => {
    const before = await snapshots(tenantB);
    const exercised = new Set<string>();
    for (const [credential, secret] of credentialsOfB) {
      for (const operation of operations.filter((candidate) => candidate.pathParameters.some((name) => name in KIND_OF_PATH_PARAMETER))) {
        const idParameters = operation.pathParameters.filter((name) => name in KIND_OF_PATH_PARAMETER);
        for (const parameter of idParameters) {
          for (const id of idsOfA[KIND_OF_PATH_PARAMETER[parameter]] ?? []) {
            // The other id parameters (none today) get A's first id of their kind too.
            const values = Object.fromEntries(idParameters.map((name) => [name, idsOfA[KIND_OF_PATH_PARAMETER[name]]![0]]));
            values[parameter] = id;
            const where = { credential, operation: `${operation.method} ${operation.path}`, id };
            const answer = await call(origin, secret, operation.method, pathWith(operation, values), bodyOf(operation), requiredQueryOf(operation));
            expect({ ...where, status: answer.status, contentType: answer.headers.get('content-type'), code: answer.body?.code }).toEqual({
              ...where,
              status: 404,
              contentType: expect.stringMatching(/^application\/problem\+json/),
              code: 'NOT_FOUND',
            });
            expect({ ...where, named: answer.body.details?.id }).toEqual({ ...where, named: id });
            expect(answer.body.requestId).toBe(answer.headers.get('x-request-id'));

            // Indistinguishable from an id that exists nowhere: the same answer but for the id.
            const ghost = newId(KIND_OF_PATH_PARAMETER[parameter]);
            const control = await call(origin, secret, operation.method, pathWith(operation, { ...values, [parameter]: ghost }), bodyOf(operation), requiredQueryOf(operation));
            const withoutIds = (problem: Json, of: string) => JSON.parse(JSON.stringify({ ...problem, requestId: undefined, instance: undefined }).split(of).join('<id>'));
            expect({ ...where, problem: withoutIds(answer.body, id) }).toEqual({ ...where, problem: withoutIds(control.body, ghost) });
            exercised.add(`${operation.method} ${operation.path}`);
          }
        }
      }
    }
    // Every operation of the document with a path parameter was tried.
    const withPathParameters = operations.filter((operation) => operation.pathParameters.length > 0).map((operation) => `${operation.method} ${operation.path}`);
    expect([...exercised].sort()).toEqual(withPathParameters.sort());
    expect(await snapshots(tenantB)).toEqual(before);
  });

  it('answers 404 NOT_FOUND to tenant B for every list filtered by one of tenant A’s ids, and changes nothing', async () => {
    const before = await snapshots(tenantB);
    const idFilters = operations.flatMap((operation) => operation.query.filter((name) => /Id$/.test(name)).map((name) => `${operation.operationId}.${name}`));
    expect(idFilters.filter((filter) => !(filter in KIND_OF_QUERY_PARAMETER) && !FREE_TEXT_QUERY_PARAMETERS.has(filter))).toEqual([]);
    const exercised: string[] = [];
    for (const operation of operations) {
      for (const name of operation.query) {
        const idKind = KIND_OF_QUERY_PARAMETER[`${operation.operationId}.${name}`];
        if (!idKind) continue;
        for (const id of idsOfA[idKind] ?? []) {
          const where = { operation: `${operation.method} ${operation.path}?${name}=`, id };
          const answer = await call(origin, tenantB.apiKey, operation.method, pathWith(operation, {}), undefined, { ...requiredQueryOf(operation), [name]: id });
          expect({ ...where, status: answer.status, code: answer.body?.code, named: answer.body?.details?.id }).toEqual({ ...where, status: 404, code: 'NOT_FOUND', named: id });
        }
        exercised.push(`${operation.operationId}.${name}`);
      }
    }
    expect(exercised.sort()).toEqual(Object.keys(KIND_OF_QUERY_PARAMETER).sort());
    expect(await snapshots(tenantB)).toEqual(before);
  });

  it('answers 404 NOT_FOUND to tenant B for every create whose example names ids, given tenant A’s ids of those kinds, and changes nothing', async () => {
    const before = await snapshots(tenantB);
    const exercised: string[] = [];
    for (const operation of operations.filter((candidate) => candidate.method !== 'GET' && candidate.pathParameters.length === 0 && candidate.example !== undefined)) {
      // Each id of the example becomes one of A's of its kind, distinct ids staying distinct.
      const text = JSON.stringify(operation.example);
      const exampleIds = [...new Set(text.match(/\b[a-z]{2,5}_[0-9A-HJKMNP-TV-Z]{26}\b/g) ?? [])];
      if (exampleIds.length === 0) continue;
      const taken = new Map<IdKind, number>();
      const substitutes = exampleIds.map((exampleId) => {
        const idKind = idKindOf(exampleId) as IdKind;
        const ofKind = idsOfA[idKind] ?? [];
        if (ofKind.length === 0) throw new Error(`${operation.operationId}: the example names a ${idKind} id; give tenant A one`);
        const index = taken.get(idKind) ?? 0;
        taken.set(idKind, index + 1);
        return ofKind[index % ofKind.length];
      });
      const body = JSON.parse(exampleIds.reduce((replaced, exampleId, index) => replaced.split(exampleId).join(substitutes[index]), text));
      const where = { operation: `${operation.method} ${operation.path}`, ids: substitutes };
      const answer = await call(origin, tenantB.apiKey, operation.method, pathWith(operation, {}), body);
      expect({ ...where, status: answer.status, code: answer.body?.code, namesOneOfThem: substitutes.includes(answer.body?.details?.id) }).toEqual({
        ...where,
        status: 404,
        code: 'NOT_FOUND',
        namesOneOfThem: true,
      });
      exercised.push(operation.operationId);
    }
    // The document's examples name ids in these creates today; more are covered as they come.
    expect(exercised).toEqual(expect.arrayContaining(['postJournalEntry', 'createInvoice', 'createBankAccount', 'recordPayout']));
    expect(await snapshots(tenantB)).toEqual(before);
  });

  it('answers 403 FORBIDDEN with the insufficient_scope challenge to every POST and PATCH asked with a read-only key, and changes nothing', async () => {
    const scopes = await call(origin, null, 'GET', '/v1/openapi.json').then((document) => document.body.components.schemas.Scope.enum as string[]);
    const readScopes = scopes.filter((scope) => scope.endsWith('_READ'));
    expect(readScopes.length).toBeGreaterThanOrEqual(5);
    const created = await call(origin, tenantA.apiKey, 'POST', '/v1/api-keys', { name: 'Read-only dashboard', scopes: readScopes });
    expect(created.status).toBe(201);
    const readOnlyKey: string = created.body.secret;
    expect([...created.body.apiKey.scopes].sort()).toEqual([...readScopes].sort());

    const writes = operations.filter((operation) => operation.method !== 'GET');
    expect(writes.length).toBeGreaterThan(30);
    const before = await snapshots(tenantA);
    const exercised = new Set<string>();
    for (const operation of writes) {
      const where = { operation: `${operation.method} ${operation.path}` };
      // Every write needs a scope a read-only key lacks (or the document would be wrong to list it here).
      expect({ ...where, writeScopes: operation.requiredScopes.some((scope) => !scope.endsWith(':read')) }).toEqual({ ...where, writeScopes: true });
      const values = Object.fromEntries(operation.pathParameters.filter((name) => name in KIND_OF_PATH_PARAMETER).map((name) => [name, idsOfA[KIND_OF_PATH_PARAMETER[name]]![0]]));
      const answer = await call(origin, readOnlyKey, operation.method, pathWith(operation, values), bodyOf(operation), requiredQueryOf(operation));
      expect({ ...where, status: answer.status, contentType: answer.headers.get('content-type'), code: answer.body?.code }).toEqual({
        ...where,
        status: 403,
        contentType: expect.stringMatching(/^application\/problem\+json/),
        code: 'FORBIDDEN',
      });
      const challenge = answer.headers.get('www-authenticate') ?? '';
      expect({ ...where, challenge }).toEqual({ ...where, challenge: expect.stringMatching(/^Bearer realm="reckon", error="insufficient_scope"/) });
      expect({ ...where, scope: /scope="([^"]*)"/.exec(challenge.replace(/error_description="[^"]*"/, ''))?.[1] }).toEqual({
        ...where,
        scope: expect.stringMatching(new RegExp(`^(${operation.requiredScopes.join('|')})$`)),
      });
      expect(answer.body.details?.requiredScope).toBe(/scope="([^"]*)"/.exec(challenge.replace(/error_description="[^"]*"/, ''))?.[1]);
      exercised.add(where.operation);
    }
    expect([...exercised].sort()).toEqual(writes.map((operation) => `${operation.method} ${operation.path}`).sort());
    expect(await snapshots(tenantA)).toEqual(before);

    // The key itself works: every read its scopes cover answers.
    for (const operation of operations.filter((candidate) => candidate.method === 'GET' && candidate.requiredScopes.every((scope) => scope.endsWith(':read')))) {
      const values = Object.fromEntries(operation.pathParameters.filter((name) => name in KIND_OF_PATH_PARAMETER).map((name) => [name, idsOfA[KIND_OF_PATH_PARAMETER[name]]![0]]));
      const answer = await call(origin, readOnlyKey, 'GET', pathWith(operation, values), undefined, requiredQueryOf(operation));
      expect({ operation: operation.path, status: answer.status, problem: answer.status >= 300 ? answer.body : undefined }).toEqual({ operation: operation.path, status: 200, problem: undefined });
    }
    await assertLedgerInvariants(app.runtime.dataSource, tenantA.client);
  });

  it('answers 401 with a bare Bearer challenge to every operation asked without a key', async () => {
    const before = await snapshots(null);
    const exercised = new Set<string>();
    for (const operation of operations) {
      const where = { operation: `${operation.method} ${operation.path}` };
      const values = Object.fromEntries(operation.pathParameters.filter((name) => name in KIND_OF_PATH_PARAMETER).map((name) => [name, idsOfA[KIND_OF_PATH_PARAMETER[name]]![0]]));
      const answer = await call(origin, null, operation.method, pathWith(operation, values), bodyOf(operation), requiredQueryOf(operation));
      expect({ ...where, status: answer.status, contentType: answer.headers.get('content-type'), code: answer.body?.code, challenge: answer.headers.get('www-authenticate') }).toEqual({
        ...where,
        status: 401,
        contentType: expect.stringMatching(/^application\/problem\+json/),
        code: 'UNAUTHENTICATED',
        challenge: 'Bearer realm="reckon"',
      });
      exercised.add(where.operation);
    }
    expect(exercised.size).toBe(operations.length);
    expect(await snapshots(null)).toEqual(before);
  });
});
