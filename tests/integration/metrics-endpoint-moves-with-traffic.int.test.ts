import crypto from 'node:crypto';
import { CapturePaymentDocument, ImportBankStatementDocument, PostJournalEntryDocument, PostJournalEntryLeanKeyedDocument } from '../generated/graphql';
import { createLogger } from '../../src/bootstrap';
import { startServer } from '../../src/server/app';
import { describeEachDatabase, startTestApp, type TestApp, testRuntimeConfig } from '../helpers/harness';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';
import { type Family, hasSeries, parsePrometheusText, promtoolMetricsComplaints, valueOf } from '../helpers/prometheus-text';
import { createBankAccount } from '../helpers/statement-fixtures';
import { SocketClient } from '../helpers/ws-client';
import { ReconciliationFlagKind } from '../../src/modules/reconciliation/reconciliation.types';

/**
 * GET /metrics as Prometheus scrapes it: refused without the metrics token (an API key is not one),
 * valid exposition text (a strict parser, and promtool when installed), and every figure moves with
 * real traffic: request and operation latencies, errors by code, idempotent replays, payment changes and
 * payments in flight, ledger batches, open flags and reconciliation accuracy against the database.
 */
const METRICS_TOKEN = crypto.randomBytes(32).toString('hex');
const today = () => new Date().toISOString().slice(0, 10);

describeEachDatabase('GET /metrics', (kind) => {
  let app: TestApp;
  let metricsUrl: string;

  beforeAll(async () => {
    // Database figures read at every scrape, so that each assertion sees the traffic just made.
    app = await startTestApp(kind, { env: { METRICS_TOKEN, METRICS_DB_READ_INTERVAL_MS: '0' } });
    metricsUrl = new URL('/metrics', app.url).toString();
  });
  afterAll(async () => {
    await app?.close();
  });

  async function scrape(): Promise<{ body: string; families: Map<string, Family> }> {
    const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await response.text();
    return { body, families: parsePrometheusText(body) };
  }

  it('refuses a scrape without the metrics token, with a wrong one, and with an API key', async () => {
    const before = (await scrape()).families;
    const attempts: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}x` },
      { authorization: `Bearer ${METRICS_TOKEN}extra` },
      { authorization: `Basic ${Buffer.from(`metrics:${METRICS_TOKEN}`).toString('base64')}` },
      { authorization: `Bearer ${app.apiKey}` },
    ];
    for (const headers of attempts) {
      const response = await fetch(metricsUrl, { headers });
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect([response.status, body.error.code]).toEqual([401, 'UNAUTHENTICATED']);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="reckon-metrics"/);
      // Nothing of the figures leaks in a refusal.
      expect(JSON.stringify(body)).not.toMatch(/reckon_|process_/);
    }
    const after = (await scrape()).families;
    const refused = { route: '/metrics', method: 'GET', status: '401' };
    expect(valueOf(after, 'reckon_http_request_duration_seconds_count', refused) - valueOf(before, 'reckon_http_request_duration_seconds_count', refused)).toBe(
      attempts.length,
    );
    expect(valueOf(after, 'reckon_errors_total', { code: 'UNAUTHENTICATED' }) - valueOf(before, 'reckon_errors_total', { code: 'UNAUTHENTICATED' })).toBe(attempts.length);
  });

  it('refuses every scrape when METRICS_TOKEN is not set', async () => {
    const config = testRuntimeConfig('sqlite::memory:');
    expect(config.metrics.token).toBeNull();
    const server = await startServer({ services: app.runtime.services, log: createLogger('silent'), config }, 0, '127.0.0.1');
    try {
      const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${METRICS_TOKEN}` }, { authorization: 'Bearer ' }];
      for (const headers of attempts) {
        const response = await fetch(new URL('/metrics', server.url), { headers });
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect([response.status, body.error.code]).toEqual([403, 'FORBIDDEN']);
        expect(body.error.message).toMatch(/METRICS_TOKEN/);
      }
    } finally {
      await server.close();
    }
  });

  it('is valid exposition text with process metrics, uptime and every webhook outcome at zero', async () => {
    const { body, families } = await scrape();
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect([name, families.has(name)]).toEqual([name, true]);
    }
    expect(valueOf(families, 'reckon_uptime_seconds')).toBeGreaterThan(0);
    expect(families.get('reckon_webhook_deliveries_total')?.samples.map((s) => [s.labels.outcome, s.value]).sort()).toEqual([
      ['dead_lettered', 0],
      ['delivered', 0],
      ['retry_scheduled', 0],
    ]);
    expect(valueOf(families, 'reckon_scrape_database_up')).toBe(1);
    const complaints = promtoolMetricsComplaints(body);
    if (complaints !== null) expect(complaints).toEqual([]);
  });

  it('moves with GraphQL traffic, errors, replays, payments and reconciliation', async () => {
    const before = (await scrape()).families;
    const delta = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) => valueOf(families, name, labels) - valueOf(before, name, labels);

    // Ledger: two accounts, one entry sent twice with its key (the second is a replay).
    const cash = await createAccount(app.client, { type: 'ASSET', currency: 'EUR' });
    const revenue = await createAccount(app.client, { type: 'REVENUE', currency: 'EUR' });
    const bank = await createBankAccount(app.client, { currency: 'EUR' });
    const entry = { input: { lines: transfer(cash.id, revenue.id, '10.00', 'EUR'), description: 'sale' }, idempotencyKey: `metrics-${crypto.randomUUID()}` };
    const first = await app.client.request(PostJournalEntryLeanKeyedDocument, entry);
    const second = await app.client.request(PostJournalEntryLeanKeyedDocument, entry);
    expect(first.errors).toBeUndefined();
    expect((second as unknown as { data: unknown }).data).toEqual(first.data);

    // Failing requests: a missing account (NOT_FOUND in GraphQL), a wrong key (refused before any
    // resolver), an unknown route (a REST 404). A client-chosen operation name and a field the schema
    // lacks never become labels.
    const missing = await app.client.raw({ query: 'query ReadMissing { account(id: "acct_01JZZZZZZZZZZZZZZZZZZZZZZZ") { id } }' });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const wrongKey = await app.client.withKey('rk_test_not_a_key').raw({ query: '{ me { tenant { id } } }' });
    expect(wrongKey.status).toBe(401);
    const notFound = await fetch(new URL('/no-such-route-7f3a', app.url));
    expect(notFound.status).toBe(404);
    const invented = `Invented_${crypto.randomBytes(6).toString('hex')}`;
    const bogus = await app.client.raw({ query: `query ${invented} { ${invented.toLowerCase()} }` });
    expect(bogus.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    // Refused by the query guard before Apollo sees it.
    const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: me { tenant { id } }`).join(' ');
    const hostile = await app.client.raw({ query: `{ ${aliases} }` });
    expect(hostile.errors?.[0]?.extensions?.code).toBe('QUERY_REFUSED');

    // Payments: two approved, one captured, one declined.
    await createSimulatorGateway(app.client, ['EUR']);
    const approved = await authorize(app.client, { amount: '20.00', currency: 'EUR' });
    await authorize(app.client, { amount: '21.00', currency: 'EUR' });
    await app.client.ok(CapturePaymentDocument, { input: { paymentId: approved.id } });
    const declined = await app.client.raw({
      query: 'mutation($input: AuthorizePaymentInput!) { authorizePayment(input: $input) { payment { id status } } }',
      variables: { input: { amount: '22.00', currency: 'EUR', paymentToken: 'tok_decline_fraud' } },
    });
    expect(declined.errors?.[0]?.extensions?.code).toBe('GATEWAY_DECLINED');

    // Reconciliation: the bank's ledger account takes 12.34 today; the statement has it and one line more.
    await app.client.ok(PostJournalEntryDocument, { input: { lines: transfer(bank.ledgerAccount.id, revenue.id, '12.34', 'EUR'), description: 'deposit' } });
    const csv = `Date,Amount,Description\n${today()},12.34,Deposit\n${today()},-5.00,Bank fee\n`;
    const { importBankStatement } = await app.client.ok(ImportBankStatementDocument, {
      input: {
        bankAccountId: bank.id,
        format: 'CSV',
        content: csv,
        contentEncoding: 'TEXT',
        csvMapping: { dateColumn: 'Date', dateFormat: 'YYYY-MM-DD', amountColumn: 'Amount', descriptionColumn: 'Description', decimalSeparator: '.', currency: 'EUR' },
      },
    });
    expect(importBankStatement.importedLineCount).toBe(2);

    const { body, families: after } = await scrape();

    // HTTP and GraphQL timings, by route and by root field.
    expect(delta(after, 'reckon_http_request_duration_seconds_count', { route: '/graphql', method: 'POST', status: '200' })).toBeGreaterThanOrEqual(10);
    expect(delta(after, 'reckon_http_request_duration_seconds_count', { route: '/graphql', method: 'POST', status: '401' })).toBe(1);
    expect(delta(after, 'reckon_http_request_duration_seconds_count', { route: '(unmatched)', method: 'GET', status: '404' })).toBe(1);
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: 'postJournalEntry', type: 'mutation', outcome: 'ok' })).toBe(3);
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: 'createAccount', type: 'mutation' })).toBeGreaterThanOrEqual(3);
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: 'authorizePayment', type: 'mutation', outcome: 'ok' })).toBe(2);
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: 'authorizePayment', type: 'mutation', outcome: 'error' })).toBe(1);
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: 'account', type: 'query', outcome: 'error' })).toBe(1);
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: '(unknown)', outcome: 'error' })).toBe(1);
    expect(body).not.toContain(invented);
    expect(body).not.toContain(invented.toLowerCase());
    expect(body).not.toContain('ReadMissing');

    // Errors by code: GraphQL, the refusal before Apollo's plugins, and the REST 404.
    expect(delta(after, 'reckon_errors_total', { code: 'NOT_FOUND' })).toBe(2);
    expect(delta(after, 'reckon_errors_total', { code: 'UNAUTHENTICATED' })).toBe(1);
    expect(delta(after, 'reckon_errors_total', { code: 'GATEWAY_DECLINED' })).toBe(1);
    expect(delta(after, 'reckon_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    expect(delta(after, 'reckon_errors_total', { code: 'QUERY_REFUSED' })).toBe(1);

    // The replay, and the ledger writer's transactions.
    expect(delta(after, 'reckon_idempotent_replays_total', { operation: 'postJournalEntry' })).toBe(1);
    expect(delta(after, 'reckon_ledger_batch_size_count')).toBeGreaterThanOrEqual(2);
    expect(delta(after, 'reckon_ledger_batch_size_sum')).toBeGreaterThanOrEqual(2);
    expect(delta(after, 'reckon_ledger_commit_duration_seconds_count', { outcome: 'committed' })).toBeGreaterThanOrEqual(2);

    // Payments: changes as they committed, and in flight as the database has them.
    expect(delta(after, 'reckon_payment_changes_total', { status: 'AUTHORIZED' })).toBeGreaterThanOrEqual(2);
    expect(delta(after, 'reckon_payment_changes_total', { status: 'CAPTURED' })).toBeGreaterThanOrEqual(1);
    expect(delta(after, 'reckon_payment_changes_total', { status: 'FAILED' })).toBeGreaterThanOrEqual(1);
    const inFlight: { status: string; count: unknown }[] = await app.runtime.dataSource.query(
      "SELECT status, COUNT(*) AS count FROM payments WHERE status IN ('PROCESSING', 'AUTHORIZED') GROUP BY status",
    );
    expect(valueOf(after, 'reckon_payments_in_flight', { status: 'AUTHORIZED' })).toBe(1);
    expect(valueOf(after, 'reckon_payments_in_flight', { status: 'AUTHORIZED' })).toBe(Number(inFlight.find((r) => r.status === 'AUTHORIZED')?.count ?? 0));
    expect(valueOf(after, 'reckon_payments_in_flight', { status: 'PROCESSING' })).toBe(0);

    // Reconciliation: the deposit matched, the fee not; accuracy is matched / lines.
    expect(valueOf(after, 'reckon_reconciliation_statement_lines', { window: '30d', matched: 'true' })).toBe(1);
    expect(valueOf(after, 'reckon_reconciliation_statement_lines', { window: '30d', matched: 'false' })).toBe(1);
    expect(valueOf(after, 'reckon_reconciliation_accuracy_ratio', { window: '30d' })).toBe(0.5);
    const flags: { kind: string; count: unknown }[] = await app.runtime.dataSource.query(
      "SELECT kind, COUNT(*) AS count FROM reconciliation_flags WHERE status IN ('OPEN', 'ACKNOWLEDGED') GROUP BY kind",
    );
    const flagFamily = after.get('reckon_reconciliation_open_flags');
    expect(flagFamily?.samples.length).toBe(Object.keys(ReconciliationFlagKind).length); // one series per kind, zeros included
    for (const sample of flagFamily?.samples ?? []) {
      expect([sample.labels.kind, sample.value]).toEqual([sample.labels.kind, Number(flags.find((f) => f.kind === sample.labels.kind)?.count ?? 0)]);
    }
    expect(hasSeries(after, 'reckon_reconciliation_open_flags', { kind: 'UNMATCHED_STATEMENT_LINE' })).toBe(true);

    // Still valid text now that every histogram has observations.
    const complaints = promtoolMetricsComplaints(body);
    if (complaints !== null) expect(complaints).toEqual([]);
  });

  it('times queries and mutations over WebSocket as over HTTP, and counts their errors', async () => {
    const before = (await scrape()).families;
    const delta = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) => valueOf(families, name, labels) - valueOf(before, name, labels);
    const socket = SocketClient.withKey(app.url, app.apiKey);
    try {
      await socket.connected;
      const me = await socket.executeRaw('query Whoever { me { tenant { id } } }');
      expect(me.errors).toBeUndefined();
      const missing = await socket.executeRaw('{ account(id: "acct_01JZZZZZZZZZZZZZZZZZZZZZZZ") { id } }');
      expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const refused = await socket.executeRaw('{ noSuchField }');
      expect(refused.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    } finally {
      await socket.dispose();
    }
    const after = (await scrape()).families;
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: 'me', type: 'query', outcome: 'ok' })).toBe(1);
    expect(delta(after, 'reckon_graphql_operation_duration_seconds_count', { operation: 'account', type: 'query', outcome: 'error' })).toBe(1);
    expect(delta(after, 'reckon_errors_total', { code: 'NOT_FOUND' })).toBe(1);
    expect(delta(after, 'reckon_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
  });
});
