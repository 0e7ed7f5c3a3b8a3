import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { type RunningServer, startServer } from '../../src/server/app';
import { CreateWebhookEndpointDocument, WebhookDeliveriesDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver';

/**
 * Two API processes (two servers, each with its own services, pool and delivery worker) on one
 * database, as behind a load balancer, both polling every 20 ms for the same due deliveries: every
 * event reaches the receiver exactly once, one attempt each, and the two processes' delivered counts
 * add up to the number of events.
 */
const ENTRIES = 40;

interface ApiProcess {
  runtime: Runtime;
  server: RunningServer;
}

describeEachDatabase('outbound webhooks from two API processes', (kind) => {
  let database: TestDatabase;
  let receiver: WebhookReceiver;
  const processes: ApiProcess[] = [];

  async function startApiProcess(dataDir: string): Promise<ApiProcess> {
    const config = testRuntimeConfig(database.url, {
      env: { DATA_DIR: dataDir, WEBHOOK_POLL_INTERVAL_MS: '20', WEBHOOK_CONCURRENCY: '3', WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_RETRY_MAX_DELAY_MS: '100' },
    });
    const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
    const runtime = await bootstrap(config, { log });
    const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
    return { runtime, server };
  }

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    receiver = await WebhookReceiver.start();
    // One key directory for both, as one deployment's processes share their configured keys.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-webhook-keys-'));
    processes.push(await startApiProcess(dataDir));
    processes.push(await startApiProcess(dataDir));
  });
  afterAll(async () => {
    for (const api of processes) {
      await api.server.close();
      await api.runtime.close();
    }
    await receiver?.close();
    await database?.drop();
  });

  it('delivers each event once, whichever process sends it', async () => {
    const [first, second] = processes;
    const tenant = await first.runtime.services.tenancy.createTenant('Two processes');
    const { secret: apiKey } = await first.runtime.services.auth.createApiKey(tenant.id, { name: 'two processes' });
    const viaFirst = new GraphQLClient(first.server.url, apiKey);
    const viaSecond = new GraphQLClient(second.server.url, apiKey);
    const { createWebhookEndpoint } = await viaFirst.ok(CreateWebhookEndpointDocument, { input: { url: receiver.url('/two'), events: ['JOURNAL_ENTRY_POSTED'] } });
    const secret = createWebhookEndpoint.signingSecret;
    const cash = await createAccount(viaFirst, { type: 'ASSET' });
    const equity = await createAccount(viaFirst, { type: 'EQUITY' });
    const entries = await Promise.all(
      Array.from({ length: ENTRIES }, (_, i) => postTransfer(i % 2 === 0 ? viaFirst : viaSecond, cash.id, equity.id, `${i + 1}.00`)),
    );

    const delivered = await eventually(
      async () => (await viaSecond.ok(WebhookDeliveriesDocument, { first: 500 })).webhookDeliveries.edges.map((edge) => edge.node),
      (list) => list.length === ENTRIES && list.every((delivery) => delivery.status === 'DELIVERED'),
      'every entry delivered',
    );
    expect(delivered.every((delivery) => delivery.attemptCount === 1 && delivery.attempts.length === 1)).toBe(true);
    expect(receiver.received).toHaveLength(ENTRIES);
    const ids = receiver.received.map((request) => request.headers['webhook-id']);
    expect(new Set(ids).size).toBe(ENTRIES);
    const entryIds = receiver.received.map((request) => (WebhookReceiver.verify(secret, request).data.journalEntry as { id: string }).id);
    expect(entryIds.sort()).toEqual(entries.map((entry) => entry.id).sort());
    const deliveredBy = await Promise.all(
      processes.map(async (api) => (await api.runtime.services.metrics.webhookDeliveries.get()).values.find((value) => value.labels.outcome === 'delivered')?.value ?? 0),
    );
    expect(deliveredBy[0] + deliveredBy[1]).toBe(ENTRIES);
  });
});
