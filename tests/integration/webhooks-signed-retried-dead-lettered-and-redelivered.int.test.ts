import { freePort } from '../helpers/child-server';
import {
  CreateCustomerDocument,
  CreateInvoiceDocument,
  CreateWebhookEndpointDocument,
  FinalizeInvoiceDocument,
  PostJournalEntriesDocument,
  RedeliverWebhookEventDocument,
  VoidInvoiceDocument,
  WebhookDeliveriesDocument,
  type WebhookDeliveryFilter,
  type WebhookEvent,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';
import { sendKeyed } from '../helpers/idempotency-http';
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver';

/**
 * Outbound webhooks as a bookkeeping system receives them: each event once per endpoint, signed the
 * Standard Webhooks way (checked here with its reference library, as a receiver would), retried with
 * backoff while the receiver fails, dead-lettered past the retry budget and sent again by hand; an
 * event of a change that rolled back is never stored nor sent. The worker polls every 50 ms and
 * retries after at most 100 ms here, so a test's three days pass in seconds.
 */

const FAST = {
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  WEBHOOK_POLL_INTERVAL_MS: '50',
  WEBHOOK_RETRY_BASE_MS: '20',
  WEBHOOK_RETRY_MAX_DELAY_MS: '100',
};

async function createEndpoint(client: GraphQLClient, url: string, events: WebhookEvent[]) {
  const { createWebhookEndpoint } = await client.ok(CreateWebhookEndpointDocument, { input: { url, events } });
  return { id: createWebhookEndpoint.webhookEndpoint.id, secret: createWebhookEndpoint.signingSecret };
}

async function deliveries(client: GraphQLClient, filter: WebhookDeliveryFilter = {}) {
  const { webhookDeliveries } = await client.ok(WebhookDeliveriesDocument, { filter, first: 500 });
  return webhookDeliveries.edges.map((edge) => edge.node);
}

async function rowCounts(app: TestApp) {
  const count = async (table: string) => Number((await app.runtime.dataSource.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
  return { events: await count('webhook_events'), deliveries: await count('webhook_deliveries'), attempts: await count('webhook_delivery_attempts') };
}

function metricValue(app: TestApp, outcome: string): Promise<number> {
  return app.runtime.services.metrics.webhookDeliveries.get().then((metric) => metric.values.find((value) => value.labels.outcome === outcome)?.value ?? 0);
}

describeEachDatabase('outbound webhooks: signed, retried, delivered once, dead-lettered and redelivered', (kind) => {
  describe('with a three-day retry budget', () => {
    let app: TestApp;
    const receivers: WebhookReceiver[] = [];

    beforeAll(async () => {
      app = await startTestApp(kind, { env: FAST });
    });
    afterAll(async () => {
      for (const receiver of receivers) await receiver.close();
      await app?.close();
    });

    it('a receiver that fails the first 3 deliveries gets the 4th, once, with a valid Standard Webhooks signature', async () => {
      const receiver = await WebhookReceiver.start((index) => (index < 3 ? 500 : 204));
      receivers.push(receiver);
      const endpoint = await createEndpoint(app.client, receiver.url(), ['JOURNAL_ENTRY_POSTED']);
      expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const cash = await createAccount(app.client, { type: 'ASSET' });
      const equity = await createAccount(app.client, { type: 'EQUITY' });
      const entry = await postTransfer(app.client, cash.id, equity.id, '12.34');

      const [delivered] = await eventually(
        () => deliveries(app.client, { endpointId: endpoint.id }),
        (list) => list.length === 1 && list[0].status === 'DELIVERED',
        'the delivery to be DELIVERED',
      );
      expect(receiver.received).toHaveLength(4);
      expect(receiver.received.map((request) => request.answered)).toEqual([500, 500, 500, 204]);
      // Every attempt is the same message (one webhook-id, the same body), each signed anew.
      expect(new Set(receiver.received.map((request) => request.headers['webhook-id']))).toEqual(new Set([delivered.eventId]));
      expect(new Set(receiver.received.map((request) => request.body)).size).toBe(1);
      for (const request of receiver.received) {
        const payload = WebhookReceiver.verify(endpoint.secret, request);
        expect(payload).toMatchObject({ id: delivered.eventId, type: 'journal_entry.posted', tenantId: app.tenantId });
        expect(payload.data).toMatchObject({ journalEntry: { id: entry.id, status: 'POSTED', tenantId: app.tenantId } });
        expect((payload.data.postings as { amountMinor: string; accountId: string }[]).map((p) => [p.accountId, p.amountMinor]).sort()).toEqual(
          [
            [cash.id, '1234'],
            [equity.id, '1234'],
          ].sort(),
        );
      }
      // A wrong secret or a changed body fails verification: the signature covers both.
      expect(() => WebhookReceiver.verify(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, receiver.received[3])).toThrow();
      expect(() => WebhookReceiver.verify(endpoint.secret, { ...receiver.received[3], body: receiver.received[3].body.replace('1234', '1235') })).toThrow();

      expect(delivered.payload).toBe(receiver.received[3].body);
      expect(delivered.endpoint.id).toBe(endpoint.id);
      expect(delivered.attemptCount).toBe(4);
      expect(delivered.nextAttemptAt).toBeNull();
      expect(delivered.deliveredAt).not.toBeNull();
      expect(delivered.attempts.map((attempt) => [attempt.attemptNumber, attempt.statusCode, attempt.outcome])).toEqual([
        [1, 500, 'RETRY_SCHEDULED'],
        [2, 500, 'RETRY_SCHEDULED'],
        [3, 500, 'RETRY_SCHEDULED'],
        [4, 204, 'DELIVERED'],
      ]);
      expect(delivered.attempts.slice(0, 3).every((attempt) => attempt.error === 'HTTP 500')).toBe(true);
      expect(delivered.attempts[3].error).toBeNull();
      expect(delivered.attempts.every((attempt) => attempt.latencyMs >= 0)).toBe(true);
      expect(await metricValue(app, 'delivered')).toBeGreaterThanOrEqual(1);
      expect(await metricValue(app, 'retry_scheduled')).toBeGreaterThanOrEqual(3);

      // Delivered means done: later rounds of the worker send nothing more.
      const before = receiver.received.length;
      await postTransfer(app.client, cash.id, equity.id, '1.00');
      await eventually(() => deliveries(app.client, { endpointId: endpoint.id, status: 'DELIVERED' }), (list) => list.length === 2, 'the second entry delivered');
      expect(receiver.received).toHaveLength(before + 1);
      expect((await deliveries(app.client, { endpointId: endpoint.id, status: 'DELIVERED' })).map((d) => d.eventId)).toContain(delivered.eventId);
    });

    it('an event of a change that rolled back is never stored nor sent', async () => {
      const receiver = await WebhookReceiver.start();
      receivers.push(receiver);
      const tenant = await app.createTenant('Rollback');
      const endpoint = await createEndpoint(tenant.client, receiver.url('/rollback'), ['ALL']);
      const cash = await createAccount(tenant.client, { type: 'ASSET' });
      const equity = await createAccount(tenant.client, { type: 'EQUITY' });
      const counts = await rowCounts(app);
      // All or nothing: the first entry is written in the transaction (its event with it), the second
      // reuses its reference, and the whole batch rolls back.
      const result = await tenant.client.request(PostJournalEntriesDocument, {
        input: {
          entries: [
            { description: 'first', externalRef: 'dup-ref', lines: transfer(cash.id, equity.id, '5.00') },
            { description: 'second', externalRef: 'dup-ref', lines: transfer(cash.id, equity.id, '6.00') },
          ],
        },
      });
      expect(result.errors?.[0].extensions?.code).toBe('ALREADY_EXISTS');
      expect(await rowCounts(app)).toEqual(counts);
      // A committed entry after it is delivered, and is the only thing the receiver ever sees.
      const entry = await postTransfer(tenant.client, cash.id, equity.id, '7.00');
      const [delivery] = await eventually(() => deliveries(tenant.client), (list) => list.length === 1 && list[0].status === 'DELIVERED', 'the committed entry delivered');
      expect(receiver.received).toHaveLength(1);
      expect(WebhookReceiver.verify(endpoint.secret, receiver.received[0]).data).toMatchObject({ journalEntry: { id: entry.id } });
      expect(delivery.eventType).toBe('JOURNAL_ENTRY_POSTED');
    });

    it('payments and invoices announce their steps: payment.*, invoice.created/finalized/voided, journal_entry.pending', async () => {
      const receiver = await WebhookReceiver.start();
      receivers.push(receiver);
      const tenant = await app.createTenant('Everything');
      const endpoint = await createEndpoint(tenant.client, receiver.url('/all'), ['ALL']);
      await createSimulatorGateway(tenant.client);
      const held = await authorize(tenant.client, { amount: '20.00' });
      const captured = await authorize(tenant.client, { amount: '30.00', capture: true });
      const customerId = (await tenant.client.ok(CreateCustomerDocument, { input: { name: 'Bookkeeper GmbH' } })).createCustomer.customer.id;
      const invoiceId = (
        await tenant.client.ok(CreateInvoiceDocument, {
          input: { customerId, currency: 'USD', lines: [{ description: 'Audit', quantity: '1', unitPrice: '100.00', taxRate: '0', taxBehaviour: 'EXCLUSIVE' }] },
        })
      ).createInvoice.invoice.id;
      await tenant.client.ok(FinalizeInvoiceDocument, { input: { invoiceId } });
      await tenant.client.ok(VoidInvoiceDocument, { input: { invoiceId } });

      const expected = ['PAYMENT_AUTHORIZED', 'PAYMENT_CAPTURED', 'INVOICE_CREATED', 'INVOICE_FINALIZED', 'INVOICE_VOIDED', 'JOURNAL_ENTRY_PENDING', 'JOURNAL_ENTRY_POSTED'];
      const all = await eventually(
        () => deliveries(tenant.client),
        (list) => expected.every((type) => list.some((d) => d.eventType === type)) && list.every((d) => d.status === 'DELIVERED'),
        'every kind of event delivered',
      );
      const payloads = receiver.received.map((request) => WebhookReceiver.verify(endpoint.secret, request));
      expect(payloads).toHaveLength(all.length);
      const authorized = payloads.filter((p) => p.type === 'payment.authorized').map((p) => (p.data.payment as { id: string }).id);
      expect(authorized.sort()).toEqual([held.id, captured.id].sort());
      const capture = payloads.find((p) => p.type === 'payment.captured');
      expect(capture?.data).toMatchObject({ payment: { id: captured.id, capturedMinor: '3000' }, paymentEvent: { type: 'CAPTURED' } });
      // Reckon's own idempotency bookkeeping stays out of the payload.
      expect(Object.keys(capture?.data.payment as object).some((key) => /key|hash/i.test(key))).toBe(false);
      expect(payloads.find((p) => p.type === 'invoice.voided')?.data).toMatchObject({ invoice: { id: invoiceId, status: 'VOID' } });
      expect(payloads.find((p) => p.type === 'invoice.finalized')?.data).toMatchObject({ invoice: { id: invoiceId, status: 'OPEN', totalMinor: '10000' } });
      // The filter narrows by type; another tenant sees none of it, and its endpoint is not found.
      expect((await deliveries(tenant.client, { eventType: 'INVOICE_VOIDED' })).map((d) => d.eventType)).toEqual(['INVOICE_VOIDED']);
      expect((await deliveries(app.client)).map((d) => d.id)).not.toEqual(expect.arrayContaining([all[0].id]));
      expect(await app.client.errorCode(WebhookDeliveriesDocument, { filter: { endpointId: endpoint.id } })).toBe('NOT_FOUND');
    });
  });

  describe('with a two-second retry budget', () => {
    let app: TestApp;
    let receiver: WebhookReceiver | null = null;

    beforeAll(async () => {
      app = await startTestApp(kind, { env: { ...FAST, WEBHOOK_RETRY_BUDGET: '2s' } });
    });
    afterAll(async () => {
      await receiver?.close();
      await app?.close();
    });

    it('a receiver down past the budget: dead-lettered, then redelivered by hand once it is back', async () => {
      const port = await freePort();
      const endpoint = await createEndpoint(app.client, `http://127.0.0.1:${port}/down`, ['JOURNAL_ENTRY_POSTED']);
      const cash = await createAccount(app.client, { type: 'ASSET' });
      const equity = await createAccount(app.client, { type: 'EQUITY' });
      const entry = await postTransfer(app.client, cash.id, equity.id, '99.00');
      const [dead] = await eventually(
        () => deliveries(app.client, { endpointId: endpoint.id }),
        (list) => list.length === 1 && list[0].status === 'DEAD_LETTERED',
        'the delivery to be dead-lettered',
      );
      expect(dead.attempts.length).toBeGreaterThanOrEqual(2);
      expect(dead.attempts.every((attempt) => attempt.statusCode === null && /ECONNREFUSED/.test(attempt.error ?? ''))).toBe(true);
      expect(dead.attempts.map((attempt) => attempt.outcome)).toEqual([...dead.attempts.slice(1).map(() => 'RETRY_SCHEDULED'), 'DEAD_LETTERED']);
      expect(dead.deadLetteredAt).not.toBeNull();
      expect(await metricValue(app, 'dead_lettered')).toBeGreaterThanOrEqual(1);
      expect(await deliveries(app.client, { status: 'DEAD_LETTERED' })).toHaveLength(1);

      // Dead letters stay: nothing more is tried until someone asks.
      const attemptsBefore = (await rowCounts(app)).attempts;

      // Refusals change nothing: bad input, another tenant's delivery, unknown ids.
      const other = await app.createTenant('Other');
      const refusals = [
        await app.client.errorCode(RedeliverWebhookEventDocument, { input: {} }),
        await app.client.errorCode(RedeliverWebhookEventDocument, { input: { deliveryId: dead.id, eventId: dead.eventId, endpointId: endpoint.id } }),
        await app.client.errorCode(RedeliverWebhookEventDocument, { input: { eventId: dead.eventId } }),
        await app.client.errorCode(RedeliverWebhookEventDocument, { input: { deliveryId: 'not-an-id' } }),
        await other.client.errorCode(RedeliverWebhookEventDocument, { input: { deliveryId: dead.id } }),
        await other.client.errorCode(RedeliverWebhookEventDocument, { input: { eventId: dead.eventId, endpointId: endpoint.id } }),
      ];
      expect(refusals).toEqual(['VALIDATION_FAILED', 'VALIDATION_FAILED', 'VALIDATION_FAILED', 'VALIDATION_FAILED', 'NOT_FOUND', 'NOT_FOUND']);
      expect((await deliveries(app.client, { endpointId: endpoint.id }))[0]).toMatchObject({ status: 'DEAD_LETTERED', attemptCount: dead.attemptCount });
      expect((await rowCounts(app)).attempts).toBe(attemptsBefore);

      receiver = await WebhookReceiver.start(() => 200, port);
      const key = `redeliver-${dead.id}`;
      const { redeliverWebhookEvent } = await app.client.ok(RedeliverWebhookEventDocument, { input: { deliveryId: dead.id }, idempotencyKey: key });
      expect(redeliverWebhookEvent.webhookDelivery).toMatchObject({ id: dead.id, status: 'PENDING', deadLetteredAt: null });
      expect(new Date(redeliverWebhookEvent.webhookDelivery.retryUntil).getTime()).toBeGreaterThan(new Date(dead.retryUntil).getTime());
      const [delivered] = await eventually(
        () => deliveries(app.client, { endpointId: endpoint.id }),
        (list) => list[0]?.status === 'DELIVERED',
        'the redelivery to arrive',
      );
      expect(receiver.received).toHaveLength(1);
      const payload = WebhookReceiver.verify(endpoint.secret, receiver.received[0]);
      expect(payload).toMatchObject({ id: dead.eventId, type: 'journal_entry.posted', data: { journalEntry: { id: entry.id } } });
      expect(delivered.attempts.at(-1)).toMatchObject({ attemptNumber: dead.attemptCount + 1, statusCode: 200, outcome: 'DELIVERED' });

      // The same key again is the same answer, not another delivery.
      const replay = await sendKeyed(app.url, app.apiKey, RedeliverWebhookEventDocument, { input: { deliveryId: dead.id }, idempotencyKey: key });
      expect(replay.extensions?.idempotency).toMatchObject({ replayed: true });
      expect(replay.data?.redeliverWebhookEvent?.webhookDelivery.id).toBe(dead.id);
      // A DELIVERED one can be sent again on purpose (a receiver that lost it), by event and endpoint too.
      await app.client.ok(RedeliverWebhookEventDocument, { input: { eventId: dead.eventId, endpointId: endpoint.id }, idempotencyKey: `again-${dead.id}` });
      await eventually(async () => receiver?.received.length ?? 0, (n) => n === 2, 'the second redelivery');
      expect(receiver.received[1].headers['webhook-id']).toBe(dead.eventId);
      expect((await deliveries(app.client, { endpointId: endpoint.id }))).toHaveLength(1);
    });
  });
});
