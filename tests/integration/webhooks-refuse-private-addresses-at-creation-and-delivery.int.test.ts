import { CreateWebhookEndpointDocument, WebhookDeliveriesDocument, WebhookEndpointsDocument } from '../generated/graphql';
import { WebhooksService } from '../../src/modules/webhooks/webhooks.service';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver';

/**
 * SSRF: with WEBHOOK_ALLOW_PRIVATE_NETWORKS off (the default), an endpoint URL that is, or resolves
 * to, a loopback, private, link-local (the cloud metadata address), unique-local or unspecified
 * address is refused at creation, changing nothing; and a URL that got in anyway (it resolved to a
 * public address when created, and to a private one later: DNS rebinding) is refused again at every
 * delivery, after resolution, on the address the connection would use: the receiver on the loopback
 * interface never gets a byte.
 */
describeEachDatabase('webhook endpoints may not reach private networks', (kind) => {
  let app: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    app = await startTestApp(kind, { env: { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', WEBHOOK_POLL_INTERVAL_MS: '50', WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_RETRY_MAX_DELAY_MS: '100' } });
  });
  afterAll(async () => {
    await receiver?.close();
    await app?.close();
  });

  it.each([
    ['a name that resolves to 127.0.0.1', () => `http://localhost:${receiver.port}/hook`],
    ['the loopback address', () => `http://127.0.0.1:${receiver.port}/hook`],
    ['the IPv6 loopback', () => 'http://[::1]:8080/hook'],
    ['the cloud metadata address', () => 'https://169.254.169.254/latest/meta-data/iam/security-credentials/'],
    ['169.254.169.254 spelt as IPv4-mapped IPv6', () => 'https://[::ffff:169.254.169.254]/latest/meta-data/'],
    ['a private RFC 1918 address', () => 'https://10.1.2.3/hook'],
    ['another private range', () => 'https://192.168.1.10/hook'],
    ['a unique-local IPv6 address', () => 'https://[fd12:3456::1]/hook'],
    ['the unspecified address', () => 'https://0.0.0.0/hook'],
    ['a decimal spelling of 127.0.0.1', () => 'https://2130706433/hook'],
  ])('refuses %s at creation, storing nothing', async (_name, url) => {
    const result = await app.client.request(CreateWebhookEndpointDocument, { input: { url: url(), events: ['ALL'] } });
    expect(result.errors?.[0].extensions?.code).toBe('VALIDATION_FAILED');
    expect(result.errors?.[0].message).toMatch(/may not reach/);
    // The answer never names what the host resolved to.
    expect(result.errors?.[0].message).not.toMatch(/127\.0\.0\.1|::1/);
    expect((await app.client.ok(WebhookEndpointsDocument, { first: 100 })).webhookEndpoints.edges).toEqual([]);
  });

  it('refuses at delivery a URL that resolves to a private address now, and never connects to it', async () => {
    // As if the name had resolved to a public address at creation: stored by a service that allows it.
    const permissive = new WebhooksService(app.runtime.dataSource, app.runtime.services.clock, app.runtime.services.cipher, {
      allowLoopbackHttp: true,
      allowPrivateNetworks: true,
    });
    const byName = await permissive.createEndpoint(app.tenantId, { url: `http://localhost:${receiver.port}/rebound`, events: ['journal_entry.posted'] });
    const byAddress = await permissive.createEndpoint(app.tenantId, { url: `http://127.0.0.1:${receiver.port}/literal`, events: ['journal_entry.posted'] });
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const equity = await createAccount(app.client, { type: 'EQUITY' });
    await postTransfer(app.client, cash.id, equity.id, '3.00');

    for (const endpoint of [byName.endpoint, byAddress.endpoint]) {
      const [delivery] = await eventually(
        async () => (await app.client.ok(WebhookDeliveriesDocument, { filter: { endpointId: endpoint.id }, first: 10 })).webhookDeliveries.edges.map((e) => e.node),
        (list) => list.length === 1 && list[0].attempts.length >= 2,
        'two refused attempts',
      );
      expect(delivery.status).toBe('PENDING');
      for (const attempt of delivery.attempts) {
        expect(attempt).toMatchObject({ statusCode: null, outcome: 'RETRY_SCHEDULED' });
        expect(attempt.error).toMatch(/^Refused: .* may not reach/);
      }
    }
    expect(receiver.received).toEqual([]);
  });
});
