import { Writable } from 'node:stream';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { generateApiKey } from '../../src/modules/auth/api-key-format';
import { startServer, type RunningServer } from '../../src/server/app';
import {
  AccountDocument,
  AuthorizePaymentDocument,
  CreateApiKeyDocument,
  CreateBankAccountWithSecretDocument,
  CreateGatewayDocument,
  CreateOAuthClientDocument,
  CreateWebhookEndpointDocument,
  JournalEntryPostedIdsDocument,
  MeDocument,
  NodeDocument,
  PostJournalEntryDocument,
} from '../generated/graphql';
import { FakeGateway } from '../helpers/fake-gateway';
import { GraphQLClient, type GraphQLResult } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, testRuntimeConfig, type TestDatabase } from '../helpers/harness';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { requestToken } from '../helpers/oauth-http';
import { SocketClient, waitUntil } from '../helpers/ws-client';

/**
 * The logs of a full scenario, read line by line as the server wrote them (the logger main.ts makes,
 * at `trace`, so that every line any level can write is scanned): one access line per HTTP request
 * and per WebSocket operation with who, what, how long and which error codes; warnings for the
 * gateway's 503s and retries, the unknown outcome they end in, and a client that hangs up; no error
 * line for any of the users' mistakes; and not one secret, API key, token or card number anywhere,
 * although the scenario puts them where a log would pick them up: an X-Request-Id that is a card
 * number or an API key, ids that are (echoed in error messages, logged at debug), a memo and a
 * description that hold card numbers, a secret in the query string of /oauth/token.
 */

interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  [field: string]: unknown;
}

const INFO = 30;
const WARN = 40;
const ERROR = 50;
const DEBUG = 20;

/** Card numbers that pass the Luhn check: Visa's and Mastercard's test numbers. */
const PAN_SPACED = '4111 1111 1111 1111';
const PAN_VISA = '4111111111111111';
const PAN_MASTERCARD = '5555555555554444';

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** Runs of 13 to 19 digits (spaces or dashes between them allowed) of which some window passes the Luhn check. */
function cardNumbersIn(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/[0-9](?:[ -]?[0-9])*/g)) {
    const digits = match[0].replace(/[ -]/g, '');
    for (let length = 13; length <= Math.min(19, digits.length); length += 1) {
      for (let start = 0; start + length <= digits.length; start += 1) {
        if (luhnValid(digits.slice(start, start + length))) found.push(match[0]);
      }
    }
  }
  return found;
}

describeEachDatabase('Logs: access lines, warnings, and no secret in any line', (kind) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let server: RunningServer;
  let fake: FakeGateway;
  let client: GraphQLClient;
  let tenantId: string;
  let apiKeyId: string;
  const raw: string[] = [];
  /** Every secret, key, token and card number the scenario saw or sent. */
  const secrets = new Map<string, string>();
  /** The request ids the scenario sent, each of which must have exactly one access line. */
  const sent = new Set<string>();
  let sequence = 0;

  const lines = (): LogLine[] => raw.map((line) => JSON.parse(line) as LogLine);
  const accessLines = (requestId: string) => lines().filter((line) => line.msg === 'request' && line.requestId === requestId);
  const newRequestId = (label: string) => {
    sequence += 1;
    const id = `logs-${label}-${sequence}`;
    sent.add(id);
    return id;
  };
  const origin = () => new URL(server.url).origin;

  /** One GraphQL request with its own X-Request-Id, so that its access line can be found. */
  async function call<TData, TVariables>(
    label: string,
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    as: GraphQLClient = client,
  ): Promise<{ requestId: string; result: GraphQLResult<TData> }> {
    const requestId = newRequestId(label);
    const result = await as.request(document, variables, { 'x-request-id': requestId });
    return { requestId, result };
  }

  beforeAll(async () => {
    fake = await FakeGateway.start();
    database = await createTestDatabase(kind);
    const capture = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) raw.push(line);
        done();
      },
    });
    const log = createLogger('trace', capture);
    const config = testRuntimeConfig(database.url, {
      env: { GATEWAY_MAX_ATTEMPTS: '3', PAYMENT_JOBS_INTERVAL_MS: '3600000' },
    });
    runtime = await bootstrap(config, { log });
    server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
    const tenant = await runtime.services.tenancy.createTenant('Logged');
    tenantId = tenant.id;
    const key = await runtime.services.auth.createApiKey(tenant.id, { name: 'scenario' });
    apiKeyId = key.apiKey.id;
    secrets.set('the tenant API key', key.secret);
    client = new GraphQLClient(server.url, key.secret);
  });

  afterAll(async () => {
    await server?.close();
    await runtime?.close();
    await database?.drop();
    await fake?.close();
  });

  test('a full scenario leaves one access line per request and operation, the warnings it should, and no secret', async () => {
    // --- GraphQL over HTTP: successes, users' errors, secrets in answers ---------------------------
    const me = await call('me', MeDocument, {});
    expect(me.result.data?.me?.credentialId).toBe(apiKeyId);

    const cash = await createAccount(client, { type: 'ASSET' });
    const revenue = await createAccount(client, { type: 'REVENUE' });
    const memo = `card ${PAN_SPACED} exp 12/29, backup ${PAN_MASTERCARD}`;
    const posted = await call('post', PostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '12.00'), description: `paid with ${PAN_VISA}`, metadata: { memo } },
    });
    expect(posted.result.errors).toBeUndefined();
    secrets.set('the card number in the description', PAN_VISA);
    secrets.set('the card number in the memo', PAN_MASTERCARD);

    const unbalanced = await call('unbalanced', PostJournalEntryDocument, {
      input: {
        lines: [
          { accountId: cash.id, direction: 'DEBIT', amount: '5.00', currency: 'USD' },
          { accountId: revenue.id, direction: 'CREDIT', amount: '4.00', currency: 'USD' },
        ],
        description: `refused, card ${PAN_VISA}`,
      },
    });
    expect(unbalanced.result.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');

    // Ids that are a card number and an API key: their error messages echo them (logged at debug).
    const panAsId = await call('pan-as-id', AccountDocument, { id: PAN_VISA });
    expect(panAsId.result.errors?.length).toBeGreaterThan(0);
    const keyAsId = await call('key-as-id', NodeDocument, { id: secrets.get('the tenant API key') as string });
    expect(keyAsId.result.errors?.length).toBeGreaterThan(0);

    // X-Request-Id is the client's and logged on every line of its request: a card number, an API key.
    const panRequest = await client.request(MeDocument, {}, { 'x-request-id': PAN_VISA });
    expect(panRequest.headers.get('x-request-id')).toBe(PAN_VISA);
    const keyRequest = await client.request(MeDocument, {}, { 'x-request-id': secrets.get('the tenant API key') as string });
    expect(keyRequest.status).toBe(200);

    const bogusKey = generateApiKey().secret;
    secrets.set('a bad API key', bogusKey);
    const badKey = await call('bad-key', MeDocument, {}, client.withKey(bogusKey));
    expect(badKey.result.status).toBe(401);
    expect(badKey.result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    const created = await call('create-key', CreateApiKeyDocument, { input: { name: 'reader', scopes: ['LEDGER_READ'] } });
    secrets.set('a created API key', created.result.data?.createApiKey?.secret as string);

    const endpoint = await call('create-endpoint', CreateWebhookEndpointDocument, { input: { url: 'https://hooks.example.com/reckon', events: ['ALL'] } });
    secrets.set('a webhook signing secret', endpoint.result.data?.createWebhookEndpoint?.signingSecret as string);

    const bankLedger = await createAccount(client, { type: 'ASSET', currency: 'EUR' });
    const bank = await call('create-bank-account', CreateBankAccountWithSecretDocument, {
      input: { name: 'Logged bank', accountNumber: `LOGS-${kind}-${Date.now()}`, currency: 'EUR', ledgerAccountId: bankLedger.id },
    });
    secrets.set('a bank notification secret', bank.result.data?.createBankAccount?.notificationSecret as string);

    // --- OAuth: a secret in the body, in Basic, in the query string; a token ------------------------
    const oauthClient = await call('create-oauth-client', CreateOAuthClientDocument, { input: { name: 'logged client', scopes: ['LEDGER_READ'] } });
    const clientId = oauthClient.result.data?.createOAuthClient?.client.id as string;
    const clientSecret = oauthClient.result.data?.createOAuthClient?.clientSecret as string;
    secrets.set('an OAuth client secret', clientSecret);
    const tokenRequestId = newRequestId('token');
    const granted = await requestToken(server.url, {
      basic: { clientId, clientSecret },
      form: { grant_type: 'client_credentials' },
      headers: { 'x-request-id': tokenRequestId },
    });
    expect(granted.status).toBe(200);
    const accessToken = String(granted.body.access_token);
    secrets.set('an access token', accessToken);
    const wrongSecret = `rcs_${'x'.repeat(48)}`;
    secrets.set('a wrong OAuth client secret', wrongSecret);
    const refusedTokenId = newRequestId('token-refused');
    const refusedToken = await requestToken(server.url, {
      form: { grant_type: 'client_credentials', client_id: clientId, client_secret: wrongSecret },
      headers: { 'x-request-id': refusedTokenId },
    });
    expect(refusedToken.status).toBe(401);
    const secretInUrlId = newRequestId('token-secret-in-url');
    const secretInUrl = await requestToken(server.url, {
      query: `?client_secret=${encodeURIComponent(clientSecret)}`,
      form: { grant_type: 'client_credentials' },
      headers: { 'x-request-id': secretInUrlId },
    });
    expect(secretInUrl.status).toBe(400);
    const withToken = await call('me-with-token', MeDocument, {}, new GraphQLClient(server.url, accessToken));
    expect(withToken.result.data?.me?.credentialId).toBe(clientId);

    // --- A payment through a gateway that answers 503 ----------------------------------------------
    const gateway = await call('create-gateway', CreateGatewayDocument, {
      input: { name: 'Flaky gateway', kind: 'HTTP', currencies: ['USD'], http: { baseUrl: fake.url, apiSecret: fake.secret, timeoutMs: 2000 } },
    });
    expect(gateway.result.errors).toBeUndefined();
    secrets.set('the gateway API secret', fake.secret);
    secrets.set('the gateway webhook secret', gateway.result.data?.createGateway?.webhookSecret as string);
    const paymentToken = 'tok_approve';
    fake.fail5xx({ times: 2, operation: 'authorize' });
    const retried = await call('pay-after-503s', AuthorizePaymentDocument, {
      input: { amount: '20.00', currency: 'USD', paymentToken },
      idempotencyKey: 'logs-pay-1',
    });
    expect(retried.result.data?.authorizePayment?.payment.status).toBe('AUTHORIZED');
    fake.fail5xx({ times: 3, operation: 'authorize' });
    const unknown = await call('pay-unknown', AuthorizePaymentDocument, {
      input: { amount: '21.00', currency: 'USD', paymentToken },
      idempotencyKey: 'logs-pay-2',
    });
    expect(unknown.result.errors?.[0]?.extensions?.code).toBe('GATEWAY_UNAVAILABLE');

    // --- A client that hangs up before the answer --------------------------------------------------
    fake.slow(1500, { operation: 'authorize' });
    const authorizeRequests = fake.stats().requestsByTarget.authorize;
    const droppedId = newRequestId('dropped');
    const hangUp = new AbortController();
    const abandoned = fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${secrets.get('the tenant API key')}`,
        'x-request-id': droppedId,
      },
      body: JSON.stringify({
        query: 'mutation Abandoned($input: AuthorizePaymentInput!, $key: String) { authorizePayment(input: $input, idempotencyKey: $key) { payment { id } } }',
        variables: { input: { amount: '22.00', currency: 'USD', paymentToken }, key: 'logs-pay-3' },
      }),
      signal: hangUp.signal,
    });
    await waitUntil(() => fake.stats().requestsByTarget.authorize > authorizeRequests, 'the abandoned request to reach the gateway');
    hangUp.abort();
    await expect(abandoned).rejects.toThrow();
    await waitUntil(() => accessLines(droppedId).length === 1, 'the dropped request to be logged');

    // --- REST and probes -----------------------------------------------------------------------------
    const healthId = newRequestId('healthz');
    expect((await fetch(`${origin()}/healthz`, { headers: { 'x-request-id': healthId } })).status).toBe(200);
    const leakedId = newRequestId('token-in-url');
    const leaked = await fetch(`${server.url}?access_token=${encodeURIComponent(accessToken)}`, { headers: { 'x-request-id': leakedId } });
    expect(leaked.status).toBe(400);
    const scannerId = newRequestId('scanner');
    const scanner = await fetch(`${origin()}/.env/${secrets.get('the tenant API key')}`, { headers: { 'x-request-id': scannerId } });
    expect(scanner.status).toBe(404);

    // --- GraphQL over WebSocket: a subscription, a query, a refused mutation, a refused connection ---
    const socket = SocketClient.withKey(server.url, secrets.get('the tenant API key') as string);
    await socket.connected;
    const probe = socket.subscribe(JournalEntryPostedIdsDocument);
    await waitUntil(() => lines().some((line) => line.msg === 'ws subscription started'), 'the subscription to start');
    await call('post-for-subscriber', PostJournalEntryDocument, { input: { lines: transfer(cash.id, revenue.id, '1.00'), description: 'seen live' } });
    expect((await probe.next()).data?.journalEntryPosted.id).toMatch(/^je_/);
    const wsMe = await socket.execute(MeDocument);
    expect(wsMe.data?.me?.credentialId).toBe(apiKeyId);
    const wsRefused = await socket.execute(PostJournalEntryDocument, {
      input: { lines: [{ accountId: cash.id, direction: 'DEBIT', amount: '1.00', currency: 'USD' }], description: `ws ${PAN_VISA}` },
    });
    expect(wsRefused.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
    probe.unsubscribe();
    await waitUntil(
      () => lines().some((line) => line.msg === 'ws operation' && (line.rootFields as string[] | undefined)?.includes('journalEntryPosted')),
      'the subscription end to be logged',
    );
    await socket.dispose();
    const refusedSocket = SocketClient.withKey(server.url, bogusKey);
    expect((await refusedSocket.waitForClose()).code).toBe(4403);
    await waitUntil(() => lines().some((line) => line.msg === 'ws connection closed'), 'the WebSocket close to be logged');

    // ============================== what the log says ==============================================
    const all = lines();

    // One access line for every request the scenario sent with its own id, no more.
    for (const requestId of sent) expect({ requestId, lines: accessLines(requestId).length }).toEqual({ requestId, lines: 1 });

    const only = (requestId: string) => accessLines(requestId)[0];
    expect(only(me.requestId)).toMatchObject({
      level: INFO,
      method: 'POST',
      route: '/graphql',
      path: '/graphql',
      status: 200,
      tenantId,
      credentialId: apiKeyId,
      credentialKind: 'API_KEY',
      operationType: 'query',
      operationName: 'Me',
      rootFields: ['me'],
      durationMs: expect.any(Number),
      ip: '127.0.0.1',
    });
    expect(only(me.requestId).errorCodes).toBeUndefined();
    expect(only(posted.requestId)).toMatchObject({ level: INFO, operationType: 'mutation', rootFields: ['postJournalEntry'], status: 200 });
    // Users' errors: info, with their codes.
    expect(only(unbalanced.requestId)).toMatchObject({ level: INFO, errorCodes: ['VALIDATION_FAILED'], tenantId });
    expect(only(badKey.requestId)).toMatchObject({ level: INFO, status: 401, errorCodes: ['UNAUTHENTICATED'], operationName: 'Me', rootFields: ['me'] });
    expect(only(badKey.requestId).credentialId).toBeUndefined();
    expect(only(withToken.requestId)).toMatchObject({ level: INFO, credentialId: clientId, credentialKind: 'OAUTH_TOKEN', tenantId });
    expect(only(tokenRequestId)).toMatchObject({ level: INFO, route: '/oauth/token', status: 200, credentialId: clientId });
    expect(only(refusedTokenId)).toMatchObject({ level: INFO, route: '/oauth/token', status: 401, errorCodes: ['invalid_client'], credentialId: clientId });
    expect(only(secretInUrlId)).toMatchObject({ level: INFO, path: '/oauth/token', status: 400, errorCodes: ['VALIDATION_FAILED'] });
    expect(only(leakedId)).toMatchObject({ level: INFO, path: '/graphql', status: 400 });
    expect(only(scannerId)).toMatchObject({ level: INFO, route: '(unmatched)', status: 404, errorCodes: ['NOT_FOUND'] });
    // A health probe: debug, so that probes every few seconds do not drown the rest.
    expect(only(healthId)).toMatchObject({ level: DEBUG, route: '/healthz', status: 200 });

    // The card number as a request id reached the log and was scrubbed there, on its access line too.
    const redactedIds = all.filter((line) => line.msg === 'request' && line.requestId === '[Redacted]');
    expect(redactedIds).toHaveLength(1);

    // The gateway's 503s: a warning per retry, with the request id; the unknown outcome, and its access line, warn.
    const retries = all.filter((line) => line.msg.startsWith('gateway call failed; retrying'));
    expect(retries.filter((line) => line.requestId === retried.requestId)).toHaveLength(2);
    expect(retries.filter((line) => line.requestId === unknown.requestId)).toHaveLength(2);
    for (const line of retries) expect(line).toMatchObject({ level: WARN, operation: 'authorize', reason: 'authorize: HTTP 503', paymentId: expect.stringMatching(/^pay_/) });
    expect(all.filter((line) => line.msg.startsWith('gateway outcome unknown') && line.requestId === unknown.requestId)).toEqual([
      expect.objectContaining({ level: WARN, operation: 'authorize', attempts: 3 }),
    ]);
    expect(only(retried.requestId)).toMatchObject({ level: INFO, status: 200, rootFields: ['authorizePayment'] });
    expect(only(retried.requestId).errorCodes).toBeUndefined();
    expect(only(unknown.requestId)).toMatchObject({ level: WARN, errorCodes: ['GATEWAY_UNAVAILABLE'] });

    // The client that hung up: a warning with status 499, and what it was doing.
    expect(only(droppedId)).toMatchObject({
      level: WARN,
      status: 499,
      aborted: true,
      operationType: 'mutation',
      operationName: 'Abandoned',
      rootFields: ['authorizePayment'],
      tenantId,
    });

    // WebSocket: the subscription's start and end, the query, the refused mutation, the connection.
    const ws = all.filter((line) => line.transport === 'websocket');
    expect(ws.filter((line) => line.msg === 'ws subscription started')).toEqual([
      expect.objectContaining({
        level: INFO,
        operationType: 'subscription',
        operationName: 'JournalEntryPostedIds',
        rootFields: ['journalEntryPosted'],
        tenantId,
        credentialId: apiKeyId,
        requestId: expect.stringMatching(/^req_/),
      }),
    ]);
    const operations = ws.filter((line) => line.msg === 'ws operation');
    expect(operations).toHaveLength(3);
    expect(operations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: INFO, operationType: 'subscription', rootFields: ['journalEntryPosted'], durationMs: expect.any(Number), credentialId: apiKeyId }),
        expect.objectContaining({ level: INFO, operationType: 'query', operationName: 'Me', rootFields: ['me'], tenantId }),
        expect.objectContaining({ level: INFO, operationType: 'mutation', rootFields: ['postJournalEntry'], errorCodes: ['VALIDATION_FAILED'] }),
      ]),
    );
    expect(ws.filter((line) => line.msg === 'ws connection opened')).toHaveLength(1);
    expect(ws.filter((line) => line.msg === 'ws connection refused')).toEqual([expect.objectContaining({ level: INFO, errorCodes: ['UNAUTHENTICATED'] })]);

    // Not one error line: every failure of the scenario was a user's or the gateway's, none a bug.
    expect(all.filter((line) => line.level >= ERROR)).toEqual([]);

    // And no secret, key, token or card number in any line, at any level.
    for (const line of raw) {
      for (const [what, value] of secrets) {
        if (line.includes(value)) throw new Error(`${what} is in a log line: ${line}`);
      }
      expect({ line, cardNumbers: cardNumbersIn(line) }).toEqual({ line, cardNumbers: [] });
      expect(line).not.toMatch(/Bearer [^[]/);
      expect(line).not.toMatch(/eyJ[0-9A-Za-z_-]+\.eyJ/);
      expect(line).not.toContain(paymentToken);
    }
    // The scan had something to scan: lines of every level the scenario makes.
    expect(new Set(all.map((line) => line.level))).toEqual(new Set([10, DEBUG, INFO, WARN]));
  });
});
