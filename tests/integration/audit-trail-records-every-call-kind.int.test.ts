import { newUlid } from '../../src/common/ids';
import { SYSTEM_CHAIN_ID } from '../../src/modules/audit/audit.types';
import {
  AccountDocument,
  AccountsDocument,
  type AuditEventFilterInput,
  AuditEventsDocument,
  type AuditEventsQuery,
  CreateAccountDocument,
  CreateApiKeyDocument,
  CreateCustomerDocument,
  CreateOAuthClientDocument,
  CreateWebhookEndpointDocument,
  IdempotentCreateAccountDocument,
  JournalEntryPostedIdsDocument,
  MeDocument,
  PostJournalEntryLeanDocument,
  VerifyAuditChainDocument,
} from '../generated/graphql';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { withAuditEventsRefused } from '../helpers/audit-refusal';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { requestToken } from '../helpers/oauth-http';
import { SocketClient } from '../helpers/ws-client';

/**
 * Every kind of API call leaves one audit event with who, from where, which request, what and how it
 * ended: GraphQL queries and mutations (over HTTP and WebSocket), credential changes, subscription
 * starts and ends, REST calls, failed authentications (in the system chain) and reads of the trail.
 */

type AuditEventNode = AuditEventsQuery['auditEvents'] extends infer C ? (C extends { edges: { node: infer N }[] } ? N : never) : never;

async function auditEvents(app: { client: TestApp['client'] }, filter: AuditEventFilterInput = {}): Promise<AuditEventNode[]> {
  const { auditEvents: page } = await app.client.ok(AuditEventsDocument, { filter, first: 500 });
  return page.edges.map((edge) => edge.node);
}

/** Polls the trail until an event matches (REST events are recorded once their answer is sent). */
async function eventMatching(app: TestApp, predicate: (event: AuditEventNode) => boolean, filter: AuditEventFilterInput = {}): Promise<AuditEventNode> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = (await auditEvents(app, filter)).find(predicate);
    if (found) return found;
    if (Date.now() > deadline) throw new Error('no audit event matched');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$|^::1$/;

describeEachDatabase('audit trail: one event per call kind', (kind) => {
  let app: TestApp;
  let keyId: string;

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { AUDIT_FLUSH_INTERVAL_MS: '50' } });
    keyId = (await app.client.ok(MeDocument)).me.credentialId;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('records a query with its actor, origin, request id, the ids it named and got back, and its outcome', async () => {
    const account = await createAccount(app.client);
    const requestId = `req-audit-query-${newUlid()}`;
    const result = await app.client.request(AccountDocument, { id: account.id }, { 'x-request-id': requestId });
    expect(result.errors).toBeUndefined();

    const event = await eventMatching(app, (candidate) => candidate.requestId === requestId);
    expect(event).toMatchObject({
      kind: 'QUERY',
      operationType: 'QUERY',
      operationName: 'account',
      actorKind: 'API_KEY',
      actorCredentialId: keyId,
      outcome: 'SUCCESS',
      errorCode: null,
      resourceIds: [account.id],
    });
    expect(event.originIp).toMatch(LOOPBACK);
    expect(event.argumentsDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(event.hash).toMatch(/^[0-9a-f]{64}$/);

    // A list's ids come from its result.
    const listId = `req-audit-list-${newUlid()}`;
    await app.client.request(AccountsDocument, {}, { 'x-request-id': listId });
    const listed = await eventMatching(app, (candidate) => candidate.requestId === listId);
    expect(listed.operationName).toBe('accounts');
    expect(listed.resourceIds).toContain(account.id);
  });

  it('writes a mutation’s event with its change: it is in the table when the answer arrives, naming the new id', async () => {
    const requestId = `req-audit-mutation-${newUlid()}`;
    const code = `audit-${newUlid()}`;
    const result = await app.client.request(
      IdempotentCreateAccountDocument,
      { input: { code, name: 'Audited', type: 'ASSET', currency: 'USD' }, idempotencyKey: `audit-${newUlid()}` },
      { 'x-request-id': requestId },
    );
    expect(result.errors).toBeUndefined();
    const accountId = result.data?.createAccount?.account.id as string;

    // Read straight from the table, nothing flushed: the mutation's transaction wrote it.
    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT * FROM audit_events WHERE request_id = ?', [requestId]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ tenant_id: app.tenantId, kind: 'MUTATION', operation_type: 'MUTATION', operation_name: 'createAccount', outcome: 'SUCCESS' });
    expect(JSON.parse(String(rows[0].resource_ids))).toContain(accountId);
  });

  it('cannot commit a keyed change whose audit event cannot be written: the change rolls back with it', async () => {
    const code = `refused-${newUlid()}`;
    await withAuditEventsRefused(app.runtime.dataSource, kind, 'createAccount', async () => {
      const result = await app.client.request(IdempotentCreateAccountDocument, {
        input: { code, name: 'Never', type: 'ASSET', currency: 'USD' },
        idempotencyKey: `audit-refused-${newUlid()}`,
      });
      expect(result.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    });
    const accounts: unknown[] = await app.runtime.dataSource.query('SELECT id FROM accounts WHERE code = ?', [code]);
    expect(accounts).toEqual([]);
  });

  it('writes an unkeyed journal entry’s event in the entry’s batch: it cannot commit without it, and a refusal is recorded there too', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET', noOverdraft: true });
    const equity = await createAccount(app.client, { type: 'EQUITY' });
    const requestId = `req-audit-unkeyed-${newUlid()}`;
    const posted = await app.client.request(
      PostJournalEntryLeanDocument,
      { input: { lines: transfer(cash.id, equity.id, '10.00'), description: 'unkeyed' } },
      { 'x-request-id': requestId },
    );
    expect(posted.errors).toBeUndefined();
    const entryId = posted.data?.postJournalEntry?.journalEntry.id as string;
    // In the table when the answer arrives, with the entry's id: the batch wrote it, nothing was flushed.
    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT * FROM audit_events WHERE request_id = ?', [requestId]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ operation_name: 'postJournalEntry', outcome: 'SUCCESS', error_code: null });
    expect(JSON.parse(String(rows[0].resource_ids))).toContain(entryId);

    // A refusal decided in the batch (the floor) is recorded by it with its code.
    const refusedId = `req-audit-unkeyed-refused-${newUlid()}`;
    const refused = await app.client.request(
      PostJournalEntryLeanDocument,
      { input: { lines: transfer(equity.id, cash.id, '25.00'), description: 'overdraws' } },
      { 'x-request-id': refusedId },
    );
    expect(refused.errors?.[0].extensions?.code).toBe('INSUFFICIENT_FUNDS');
    const refusedRows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT * FROM audit_events WHERE request_id = ?', [refusedId]);
    expect(refusedRows.map((row) => [row.outcome, row.error_code])).toEqual([['ERROR', 'INSUFFICIENT_FUNDS']]);

    // The event and the entry share a transaction: when the event cannot be written, no entry is.
    const description = `never-${newUlid()}`;
    await withAuditEventsRefused(app.runtime.dataSource, kind, 'postJournalEntry', async () => {
      const result = await app.client.request(PostJournalEntryLeanDocument, { input: { lines: transfer(cash.id, equity.id, '1.00'), description } });
      expect(result.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    });
    const entries: unknown[] = await app.runtime.dataSource.query('SELECT id FROM journal_entries WHERE description = ?', [description]);
    expect(entries).toEqual([]);
  });

  it('records a refused mutation as an ERROR with its code, and the change is not made', async () => {
    const existing = await createAccount(app.client);
    const requestId = `req-audit-refused-${newUlid()}`;
    const duplicate = await app.client.request(
      CreateAccountDocument,
      { input: { code: existing.code, name: 'Again', type: 'ASSET', currency: 'USD' } },
      { 'x-request-id': requestId },
    );
    expect(duplicate.errors?.[0].extensions?.code).toBe('ALREADY_EXISTS');
    const event = await eventMatching(app, (candidate) => candidate.requestId === requestId);
    expect(event).toMatchObject({ kind: 'MUTATION', operationName: 'createAccount', outcome: 'ERROR', errorCode: 'ALREADY_EXISTS' });

    // Refused before any field ran (a variable that does not coerce): one event for the request.
    const coercionId = `req-audit-coercion-${newUlid()}`;
    const code = `bad-${newUlid()}`;
    const result = await app.client.request(CreateAccountDocument, { input: { code, name: 'Bad', type: 'ASSET', currency: 'XXQ' } }, { 'x-request-id': coercionId });
    expect(result.errors?.[0].extensions?.code).toBe('VALIDATION_FAILED');
    const refused = await eventMatching(app, (candidate) => candidate.requestId === coercionId);
    expect(refused).toMatchObject({ kind: 'MUTATION', operationType: 'MUTATION', operationName: 'createAccount', outcome: 'ERROR', errorCode: 'VALIDATION_FAILED' });
    expect(await app.runtime.dataSource.query('SELECT id FROM accounts WHERE code = ?', [code])).toEqual([]);
  });

  it('records a replayed mutation as a call of its own', async () => {
    const idempotencyKey = `audit-replay-${newUlid()}`;
    const first = await app.client.ok(CreateApiKeyDocument, { input: { name: 'replayed', scopes: ['LEDGER_READ'] }, idempotencyKey });
    const again = await app.client.request(CreateApiKeyDocument, { input: { name: 'replayed', scopes: ['LEDGER_READ'] }, idempotencyKey });
    expect(again.data?.createApiKey?.apiKey.id).toBe(first.createApiKey.apiKey.id);
    const events = (await auditEvents(app, { resourceId: first.createApiKey.apiKey.id })).filter((event) => event.operationName === 'createApiKey');
    expect(events.map((event) => event.outcome)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it('records credential changes as CREDENTIAL_CHANGE naming the credential, with no secret anywhere in the trail', async () => {
    const { createApiKey } = await app.client.ok(CreateApiKeyDocument, { input: { name: 'audited key', scopes: ['LEDGER_READ'] } });
    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'audited client', scopes: ['LEDGER_READ'] } });
    const keyEvent = await eventMatching(app, (event) => event.operationName === 'createApiKey' && event.resourceIds.includes(createApiKey.apiKey.id));
    expect(keyEvent).toMatchObject({ kind: 'CREDENTIAL_CHANGE', operationType: 'MUTATION', outcome: 'SUCCESS', actorCredentialId: keyId });
    const { createWebhookEndpoint } = await app.client.ok(CreateWebhookEndpointDocument, { input: { url: 'https://hooks.example.com/audit', events: ['JOURNAL_ENTRY_POSTED'] } });
    // A card number in free text is redacted from the digest as well; nothing stores the text itself.
    const { createCustomer } = await app.client.ok(CreateCustomerDocument, { input: { name: 'Card 4111 1111 1111 1111 holder', email: 'card@example.com' } });
    const clientEvent = await eventMatching(app, (event) => event.operationName === 'createOAuthClient');
    expect(clientEvent.kind).toBe('CREDENTIAL_CHANGE');
    expect(clientEvent.resourceIds).toContain(createOAuthClient.client.id);

    await app.runtime.services.audit.flush();
    const everything = JSON.stringify([
      ...(await app.runtime.dataSource.query('SELECT * FROM audit_events')),
      ...(await app.runtime.dataSource.query('SELECT * FROM audit_event_resources')),
      ...(await app.runtime.dataSource.query('SELECT * FROM audit_chain_heads')),
    ], (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    expect((await auditEvents(app, { resourceId: createWebhookEndpoint.webhookEndpoint.id }))[0].kind).toBe('CREDENTIAL_CHANGE');
    expect((await auditEvents(app, { resourceId: createCustomer.customer.id }))[0].kind).toBe('MUTATION');
    // The card number is looked for whole, in its two spellings: four digits alone turn up by chance
    // in the hex hashes and ids (one run in about twenty failed on "4111" inside a hash).
    const cardNumbers = ['4111 1111 1111 1111', '4111111111111111'];
    for (const secret of [createApiKey.secret, createApiKey.secret.slice(16), createOAuthClient.clientSecret, createWebhookEndpoint.signingSecret, app.apiKey, ...cardNumbers, 'card@example.com']) {
      expect(everything).not.toContain(secret);
    }
  });

  it('records a subscription’s start and end over WebSocket, and a refused start with its code', async () => {
    const socket = SocketClient.withKey(app.url, app.apiKey);
    try {
      await socket.connected;
      const probe = socket.subscribe(JournalEntryPostedIdsDocument);
      const started = await eventMatching(app, (event) => event.kind === 'SUBSCRIPTION_START' && event.operationName === 'journalEntryPosted');
      expect(started).toMatchObject({ operationType: 'SUBSCRIPTION', outcome: 'SUCCESS', actorCredentialId: keyId });
      expect(started.originIp).toMatch(LOOPBACK);
      probe.unsubscribe();
      const ended = await eventMatching(app, (event) => event.kind === 'SUBSCRIPTION_END' && event.requestId === started.requestId);
      expect(ended).toMatchObject({ operationName: 'journalEntryPosted', outcome: 'SUCCESS' });
    } finally {
      await socket.dispose();
    }

    const { createApiKey: payments } = await app.client.ok(CreateApiKeyDocument, { input: { name: 'payments only', scopes: ['PAYMENTS_READ'] } });
    const refusedSocket = SocketClient.withKey(app.url, payments.secret);
    try {
      await refusedSocket.connected;
      const refused = refusedSocket.subscribe(JournalEntryPostedIdsDocument);
      await refused.ended();
      const event = await eventMatching(app, (candidate) => candidate.kind === 'SUBSCRIPTION_START' && candidate.actorCredentialId === payments.apiKey.id);
      expect(event).toMatchObject({ outcome: 'ERROR', errorCode: 'FORBIDDEN' });
    } finally {
      await refusedSocket.dispose();
    }
  });

  it('records queries and mutations sent over WebSocket like those over HTTP', async () => {
    const socket = SocketClient.withKey(app.url, app.apiKey);
    try {
      await socket.connected;
      const code = `ws-${newUlid()}`;
      const result = await socket.execute(CreateAccountDocument, { input: { code, name: 'Over WS', type: 'ASSET', currency: 'USD' } });
      const accountId = result.data?.createAccount?.account.id as string;
      const event = await eventMatching(app, (candidate) => candidate.operationName === 'createAccount' && candidate.resourceIds.includes(accountId));
      expect(event).toMatchObject({ kind: 'MUTATION', outcome: 'SUCCESS', actorCredentialId: keyId });
      expect(event.originIp).toMatch(LOOPBACK);
    } finally {
      await socket.dispose();
    }
  });

  it('records a REST call with its route, the id in its path and its outcome', async () => {
    const invoiceId = `inv_${newUlid()}`;
    const origin = new URL(app.url).origin;
    const response = await fetch(`${origin}/invoices/${invoiceId}/pdf`, { headers: { authorization: `Bearer ${app.apiKey}`, 'x-request-id': `req-rest-${invoiceId}` } });
    expect(response.status).toBe(404);
    const event = await eventMatching(app, (candidate) => candidate.requestId === `req-rest-${invoiceId}`);
    expect(event).toMatchObject({
      kind: 'REST',
      operationType: 'REST',
      operationName: 'GET /invoices/:id/pdf',
      actorCredentialId: keyId,
      resourceIds: [invoiceId],
      outcome: 'ERROR',
      errorCode: 'NOT_FOUND',
    });
  });

  it('records the token endpoint: a granted token in the client’s tenant, a refused client in the system chain', async () => {
    const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'token audit', scopes: ['LEDGER_READ'] } });
    const clientId = createOAuthClient.client.id;
    const granted = await requestToken(app.url, {
      form: { grant_type: 'client_credentials' },
      basic: { clientId, clientSecret: createOAuthClient.clientSecret },
      headers: { 'x-request-id': `req-token-ok-${clientId}` },
    });
    expect(granted.status).toBe(200);
    const event = await eventMatching(app, (candidate) => candidate.requestId === `req-token-ok-${clientId}`);
    expect(event).toMatchObject({ kind: 'REST', operationName: 'POST /oauth/token', actorKind: 'OAUTH_CLIENT', actorCredentialId: clientId, outcome: 'SUCCESS' });

    // Then the token's own calls are the client's.
    const token = String(granted.body.access_token);
    const tokenCall = `req-token-call-${clientId}`;
    await app.client.withKey(token).request(AccountsDocument, {}, { 'x-request-id': tokenCall });
    expect(await eventMatching(app, (candidate) => candidate.requestId === tokenCall)).toMatchObject({ actorKind: 'OAUTH_TOKEN', actorCredentialId: clientId });

    const refused = await requestToken(app.url, {
      form: { grant_type: 'client_credentials' },
      basic: { clientId, clientSecret: 'not-the-secret' },
      headers: { 'x-request-id': `req-token-bad-${clientId}` },
    });
    expect(refused.status).toBe(401);
    let rows: Record<string, unknown>[] = [];
    for (let attempt = 0; attempt < 100 && rows.length === 0; attempt += 1) {
      await app.runtime.services.audit.flush();
      rows = await app.runtime.dataSource.query('SELECT * FROM audit_events WHERE request_id = ?', [`req-token-bad-${clientId}`]);
      if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(rows.map((row) => [row.tenant_id, row.kind, row.operation_name, row.actor_credential_id])).toEqual([
      [SYSTEM_CHAIN_ID, 'AUTHENTICATION_FAILED', 'POST /oauth/token', null],
    ]);
    expect(JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))).not.toContain('not-the-secret');
  });

  it('records failed authentications in the system chain, never in a tenant’s, with the address they came from', async () => {
    const requestId = `req-badauth-${newUlid()}`;
    const refused = await app.client.withKey('rk_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBCCCCCC').raw({ query: '{ me { credentialId } }' }, { 'x-request-id': requestId });
    expect(refused.status).toBe(401);
    const restId = `req-badauth-rest-${newUlid()}`;
    const origin = new URL(app.url).origin;
    expect((await fetch(`${origin}/invoices/inv_${newUlid()}/pdf`, { headers: { 'x-request-id': restId } })).status).toBe(401);

    await app.runtime.services.audit.flush();
    const deadline = Date.now() + 5000;
    let rows: Record<string, unknown>[] = [];
    while (rows.length < 2 && Date.now() < deadline) {
      await app.runtime.services.audit.flush();
      rows = await app.runtime.dataSource.query('SELECT * FROM audit_events WHERE request_id IN (?, ?) ORDER BY sequence', [requestId, restId]);
      if (rows.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(rows.map((row) => [row.tenant_id, row.kind, row.operation_name, row.error_code, row.actor_kind])).toEqual([
      [SYSTEM_CHAIN_ID, 'AUTHENTICATION_FAILED', 'POST /graphql', 'UNAUTHENTICATED', 'ANONYMOUS'],
      [SYSTEM_CHAIN_ID, 'AUTHENTICATION_FAILED', 'GET /invoices/:id/pdf', 'UNAUTHENTICATED', 'ANONYMOUS'],
    ]);
    expect(String(rows[0].origin_ip)).toMatch(LOOPBACK);
    expect((await auditEvents(app)).filter((event) => event.requestId === requestId)).toEqual([]);
    expect(await app.runtime.services.audit.verify(SYSTEM_CHAIN_ID)).toMatchObject({ valid: true, firstBrokenSequence: null });
  });

  it('records reads of the trail itself, and refuses a key without audit:read (recorded too)', async () => {
    const requestId = `req-audit-read-${newUlid()}`;
    await app.client.request(VerifyAuditChainDocument, {}, { 'x-request-id': requestId });
    const event = await eventMatching(app, (candidate) => candidate.requestId === requestId);
    expect(event).toMatchObject({ kind: 'AUDIT_READ', operationName: 'verifyAuditChain', outcome: 'SUCCESS' });
    const reads = await auditEvents(app, { operationName: 'auditEvents' });
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((read) => read.kind === 'AUDIT_READ')).toBe(true);

    const { createApiKey: ledgerOnly } = await app.client.ok(CreateApiKeyDocument, { input: { name: 'no audit', scopes: ['LEDGER_WRITE'] } });
    const refused = await app.client.withKey(ledgerOnly.secret).request(AuditEventsDocument, { first: 5 });
    expect(refused.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const refusal = await eventMatching(app, (candidate) => candidate.actorCredentialId === ledgerOnly.apiKey.id && candidate.operationName === 'auditEvents');
    expect(refusal).toMatchObject({ kind: 'AUDIT_READ', outcome: 'ERROR', errorCode: 'FORBIDDEN' });
  });

  it('filters by actor, operation, resource and time, and pages', async () => {
    const account = await createAccount(app.client);
    const byResource = await auditEvents(app, { resourceId: account.id });
    expect(byResource.map((event) => event.operationName)).toEqual(['createAccount']);
    const byActor = await auditEvents(app, { actorCredentialId: keyId, operationName: 'createAccount' });
    expect(byActor.length).toBeGreaterThan(1);
    expect(byActor.every((event) => event.operationName === 'createAccount' && event.actorCredentialId === keyId)).toBe(true);
    const future = new Date(Date.now() + 3600_000).toISOString();
    expect(await auditEvents(app, { from: future })).toEqual([]);
    const sequences = (await auditEvents(app)).map((event) => event.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));

    const { auditEvents: firstPage } = await app.client.ok(AuditEventsDocument, { first: 2 });
    const { auditEvents: secondPage } = await app.client.ok(AuditEventsDocument, { first: 2, after: firstPage.pageInfo.endCursor });
    expect(secondPage.edges[0].node.sequence).toBe(firstPage.edges[1].node.sequence + 1);
  });

  it('keeps each tenant’s trail to itself: another tenant sees none of these events and has its own chain', async () => {
    const other = await app.createTenant('Other');
    const account = await createAccount(app.client);
    const events = await auditEvents(other, { resourceId: account.id });
    expect(events).toEqual([]);
    const own = await auditEvents(other);
    expect(own.every((event) => event.actorCredentialId !== keyId)).toBe(true);
    expect(own[0].sequence).toBe(1);
    expect((await other.client.ok(VerifyAuditChainDocument)).verifyAuditChain).toMatchObject({ valid: true });
    expect((await app.client.ok(VerifyAuditChainDocument)).verifyAuditChain).toMatchObject({ valid: true, firstBrokenSequence: null });
  });
});
