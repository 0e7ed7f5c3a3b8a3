import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { invoiceEventsChannel } from '../../src/modules/invoicing/invoices.events';
import { type RunningServer, startServer } from '../../src/server/app';
import {
  CreateCustomerDocument,
  CreateInvoiceDocument,
  type CreateInvoiceInput,
  FinalizeInvoiceDocument,
  InvoiceDocument,
  type InvoiceUpdatedSubscription,
  InvoiceUpdatedDocument,
  UpdateInvoiceDocument,
} from '../generated/graphql';
import { GraphQLClient, setRootFieldsOf } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, startTestApp, type TestApp, type TestDatabase, type TestTenant, testRuntimeConfig } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { TestClock } from '../helpers/test-clock';
import { SocketClient, type SubscriptionProbe, waitUntil } from '../helpers/ws-client';

/**
 * invoiceUpdated over a real graphql-ws connection: each committed change of the caller's tenant's
 * invoices arrives once, in order (created, updated, finalized), never another tenant's, and never a
 * change that was refused or rolled back; invoiceId and customerId narrow the stream. invoice.overdue
 * is emitted once per invoice by the sweep, judged by the service clock (moved by hand here), also
 * when sweeps run twice or race, and by the server's own background job.
 */

const START = new Date('2026-03-10T12:00:00Z');
const LINES: CreateInvoiceInput['lines'] = [{ description: 'Consulting', quantity: '2', unitPrice: '50.00', taxRate: '10', taxBehaviour: 'EXCLUSIVE' }];

type Delivered = InvoiceUpdatedSubscription['invoiceUpdated'];
type Probe = SubscriptionProbe<InvoiceUpdatedSubscription>;

/** The next `count` events, failing on any error. */
async function events(probe: Probe, count: number): Promise<Delivered[]> {
  const results = await probe.take(count);
  return results.map((result) => {
    expect(result.errors).toBeUndefined();
    return result.data!.invoiceUpdated;
  });
}

const brief = (event: Delivered) => `${event.type} ${event.invoice.id}`;

async function newCustomer(client: GraphQLClient, name: string): Promise<string> {
  return (await client.ok(CreateCustomerDocument, { input: { name } })).createCustomer.customer.id;
}

async function draft(client: GraphQLClient, customerId: string, extra: Partial<CreateInvoiceInput> = {}) {
  return (await client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'USD', lines: LINES, ...extra } })).createInvoice.invoice;
}

async function finalize(client: GraphQLClient, invoiceId: string, idempotencyKey?: string) {
  return (await client.ok(FinalizeInvoiceDocument, { input: { invoiceId }, idempotencyKey })).finalizeInvoice.invoice;
}

describeEachDatabase('invoiceUpdated over WebSocket, and invoice.overdue once', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  const clock = new TestClock(START);
  const sockets: SocketClient[] = [];
  let customerId: string;
  let otherCustomerId: string;

  async function keyWithScopes(tenant: TestTenant, scopes: string[]): Promise<string> {
    return (await app.runtime.services.auth.createApiKey(tenant.tenantId, { name: `ws ${scopes.join(' ')}`, scopes })).secret;
  }

  async function subscribe(tenant: TestTenant, variables: { invoiceId?: string; customerId?: string } = {}, scopes = ['invoices:read']): Promise<Probe> {
    const socket = SocketClient.withKey(app.url, await keyWithScopes(tenant, scopes));
    sockets.push(socket);
    return socket.subscribe(InvoiceUpdatedDocument, variables);
  }

  /** Until this many invoiceUpdated streams of the tenant are live, so nothing done afterwards is missed. */
  function live(tenantId: string, count: number): Promise<void> {
    return waitUntil(() => app.runtime.services.pubSub.listenerCount(invoiceEventsChannel(tenantId)) >= count, `${count} invoiceUpdated streams of ${tenantId} are live`);
  }

  beforeAll(async () => {
    // The server's own sweep is kept out of the way: these tests run the sweep by hand.
    app = await startTestApp(kind, { clock, env: { INVOICE_OVERDUE_SWEEP_MS: '3600000' } });
    other = await app.createTenant('Globex');
    customerId = await newCustomer(app.client, 'Acme Trading GmbH');
    otherCustomerId = await newCustomer(other.client, 'Initech');
  });

  afterEach(async () => {
    clock.set(START);
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
    for (const tenantId of [app.tenantId, other.tenantId]) {
      await waitUntil(() => app.runtime.services.pubSub.listenerCount(invoiceEventsChannel(tenantId)) === 0, 'every stream is detached');
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  it('delivers created, updated and finalized once each and in order to its own tenant, never to another', async () => {
    const mine = await subscribe(app);
    const theirs = await subscribe(other);
    await live(app.tenantId, 1);
    await live(other.tenantId, 1);

    const invoice = await draft(app.client, customerId, { memo: 'First' });
    await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: invoice.id, memo: 'Second' } });
    const finalized = await finalize(app.client, invoice.id);
    // Each stream's next event after these is a marker of its own: nothing came twice or in between.
    const markerOfOther = await draft(other.client, otherCustomerId);
    const marker = await draft(app.client, customerId);

    const seen = await events(mine, 4);
    expect(seen.map(brief)).toEqual([`CREATED ${invoice.id}`, `UPDATED ${invoice.id}`, `FINALIZED ${invoice.id}`, `CREATED ${marker.id}`]);
    expect(seen.map((event) => [event.invoice.status, event.invoice.memo, event.invoice.number])).toEqual([
      ['DRAFT', 'First', null],
      ['DRAFT', 'Second', null],
      ['OPEN', 'Second', finalized.number],
      ['DRAFT', null, null],
    ]);
    // The event carries the invoice as committed; its nested fields are read on delivery.
    expect(seen[2]).toEqual({
      type: 'FINALIZED',
      occurredAt: START.toISOString(),
      invoice: {
        id: invoice.id,
        status: 'OPEN',
        number: finalized.number,
        dueDate: finalized.dueDate,
        overdue: false,
        memo: 'Second',
        customer: { id: customerId, name: 'Acme Trading GmbH' },
        total: { amount: '110.00', minorUnits: '11000', currency: 'USD' },
        journalEntries: { totalCount: 1, edges: [{ node: { id: finalized.journalEntry!.id } }] },
      },
    });
    expect(finalized.number).toMatch(/^INV-2026-\d{6}$/);

    expect((await events(theirs, 1)).map(brief)).toEqual([`CREATED ${markerOfOther.id}`]);
    expect(mine.unread).toBe(0);
    expect(theirs.unread).toBe(0);
  });

  it('emits nothing for a refused or replayed change: a finalisation that fails on its due date, an edit after finalisation, a retried finalisation', async () => {
    const probe = await subscribe(app);
    await live(app.tenantId, 1);

    // Due before the issue date (today by the server's clock): the finalisation is refused and rolls back.
    const early = await draft(app.client, customerId, { dueDate: '2026-03-01' });
    const refused = await app.client.request(FinalizeInvoiceDocument, { input: { invoiceId: early.id } });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await app.client.ok(InvoiceDocument, { id: early.id })).invoice).toMatchObject({ status: 'DRAFT', number: null, journalEntry: null });

    const open = await draft(app.client, customerId);
    const first = await finalize(app.client, open.id, 'finalize-once');
    // The retry answers the stored invoice and changes nothing, so it emits nothing either.
    expect(await finalize(app.client, open.id, 'finalize-once')).toEqual(first);
    expect(await app.client.errorCode(UpdateInvoiceDocument, { input: { invoiceId: open.id, memo: 'too late' } })).toBe('INVALID_STATE_TRANSITION');
    expect(await app.client.errorCode(FinalizeInvoiceDocument, { input: { invoiceId: open.id } })).toBe('INVALID_STATE_TRANSITION');
    // A bad field is refused before anything is written.
    expect(await app.client.errorCode(UpdateInvoiceDocument, { input: { invoiceId: early.id, dueDate: '2026-02-30' } })).toBe('VALIDATION_FAILED');

    await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: early.id, dueDate: '2026-04-01' } });
    expect((await events(probe, 4)).map(brief)).toEqual([`CREATED ${early.id}`, `CREATED ${open.id}`, `FINALIZED ${open.id}`, `UPDATED ${early.id}`]);
    expect(probe.unread).toBe(0);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('narrows the stream by invoiceId and customerId; another tenant’s ids never match', async () => {
    const secondCustomer = await newCustomer(app.client, 'Umbrella Corp');
    const watched = await draft(app.client, customerId);
    const theirs = await draft(other.client, otherCustomerId);

    const byInvoice = await subscribe(app, { invoiceId: watched.id });
    const byCustomer = await subscribe(app, { customerId: secondCustomer });
    const byBoth = await subscribe(app, { invoiceId: watched.id, customerId: secondCustomer });
    const probingInvoice = await subscribe(app, { invoiceId: theirs.id });
    const probingCustomer = await subscribe(app, { customerId: otherCustomerId });
    await live(app.tenantId, 5);

    await other.client.ok(UpdateInvoiceDocument, { input: { invoiceId: theirs.id, memo: 'theirs' } });
    await finalize(other.client, theirs.id);
    await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: watched.id, memo: 'watched' } });
    const ofSecond = await draft(app.client, secondCustomer);
    // The watched invoice moves to the second customer: now both filters hold.
    await app.client.ok(UpdateInvoiceDocument, { input: { invoiceId: watched.id, customerId: secondCustomer } });
    await finalize(app.client, watched.id);

    expect((await events(byInvoice, 3)).map(brief)).toEqual([`UPDATED ${watched.id}`, `UPDATED ${watched.id}`, `FINALIZED ${watched.id}`]);
    expect((await events(byCustomer, 3)).map(brief)).toEqual([`CREATED ${ofSecond.id}`, `UPDATED ${watched.id}`, `FINALIZED ${watched.id}`]);
    expect((await events(byBoth, 2)).map(brief)).toEqual([`UPDATED ${watched.id}`, `FINALIZED ${watched.id}`]);
    // Every event of the tenant was published by now (the last one reached the streams above).
    expect(probingInvoice.results).toEqual([]);
    expect(probingCustomer.results).toEqual([]);
    expect(byInvoice.unread + byCustomer.unread + byBoth.unread).toBe(0);
  });

  it('refuses a key without invoices:read (FORBIDDEN) and an id of the wrong kind (VALIDATION_FAILED), and streams to invoices:write', async () => {
    for (const scopes of [['payments:read'], ['ledger:write', 'payments:write', 'reconciliation:read']]) {
      const refused = await subscribe(app, {}, scopes);
      const [result] = await refused.take(1);
      expect(setRootFieldsOf(result.data)).toBeNull();
      expect(result.errors).toEqual([
        expect.objectContaining({
          message: 'This credential lacks the "invoices:read" scope',
          path: ['invoiceUpdated'],
          extensions: expect.objectContaining({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:read' } }),
        }),
      ]);
      expect(await refused.ended()).toEqual({ completed: true });
    }
    for (const variables of [{ invoiceId: customerId }, { customerId: 'inv_01JNOTACUSTOMER' }]) {
      const refused = await subscribe(app, variables);
      const [result] = await refused.take(1);
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: Object.keys(variables)[0] } });
      expect(await refused.ended()).toEqual({ completed: true });
    }
    expect(app.runtime.services.pubSub.listenerCount(invoiceEventsChannel(app.tenantId))).toBe(0);

    const writer = await subscribe(app, {}, ['invoices:write']);
    await live(app.tenantId, 1);
    const invoice = await draft(app.client, customerId);
    expect((await events(writer, 1)).map(brief)).toEqual([`CREATED ${invoice.id}`]);
  });

  it('emits invoice.overdue once per invoice when the clock passes its due date, however often the sweep runs', async () => {
    const sweep = () => app.runtime.services.invoiceOverdue.sweep();
    // Earlier tests left OPEN invoices due in 30 days; these are due sooner.
    const dueSoon = await finalize(app.client, (await draft(app.client, customerId, { dueDate: '2026-03-12' })).id);
    const theirs = await finalize(other.client, (await draft(other.client, otherCustomerId, { dueDate: '2026-03-12' })).id);
    const stillDraft = await draft(app.client, customerId, { dueDate: '2026-03-11' });
    const mine = await subscribe(app);
    const watching = await subscribe(other);
    await live(app.tenantId, 1);
    await live(other.tenantId, 1);

    expect(await sweep()).toBe(0);
    // Due today is not overdue yet.
    clock.set(new Date('2026-03-12T23:59:59Z'));
    expect(await sweep()).toBe(0);
    clock.set(new Date('2026-03-13T00:00:01Z'));
    expect(await sweep()).toBe(2);
    expect(await sweep()).toBe(0);
    const marker = await draft(app.client, customerId);

    const seen = await events(mine, 2);
    expect(seen.map(brief)).toEqual([`OVERDUE ${dueSoon.id}`, `CREATED ${marker.id}`]);
    expect(seen[0]).toMatchObject({ occurredAt: '2026-03-13T00:00:01.000Z', invoice: { status: 'OPEN', dueDate: '2026-03-12', overdue: true } });
    expect((await events(watching, 1)).map(brief)).toEqual([`OVERDUE ${theirs.id}`]);
    // A draft is never overdue, whatever its due date; the mark is stored once.
    const marked: { id: string; overdue_notified_at: unknown }[] = await app.runtime.dataSource.query(
      'SELECT id, overdue_notified_at FROM invoices WHERE overdue_notified_at IS NOT NULL ORDER BY id',
    );
    expect(marked.map((row) => row.id).sort()).toEqual([dueSoon.id, theirs.id].sort());
    expect((await app.client.ok(InvoiceDocument, { id: stillDraft.id })).invoice).toMatchObject({ status: 'DRAFT', overdue: false });

    // Sweeps racing (several API processes): each invoice is announced by exactly one of them.
    const racing = await finalize(app.client, (await draft(app.client, customerId, { dueDate: '2026-03-13' })).id);
    clock.set(new Date('2026-03-14T08:00:00Z'));
    const counts = await Promise.all([sweep(), sweep(), sweep(), sweep()]);
    expect(counts.reduce((sum, count) => sum + count, 0)).toBe(1);
    const nextMarker = await draft(app.client, customerId);
    expect((await events(mine, 4)).map(brief)).toEqual([`CREATED ${racing.id}`, `FINALIZED ${racing.id}`, `OVERDUE ${racing.id}`, `CREATED ${nextMarker.id}`]);
    expect(mine.unread).toBe(0);
    expect(watching.unread).toBe(0);
  });
});

describeEachDatabase('invoice.overdue from the server’s own sweep (INVOICE_OVERDUE_SWEEP_MS)', (kind) => {
  let app: TestApp;
  const clock = new TestClock(START);
  let socket: SocketClient | undefined;

  beforeAll(async () => {
    app = await startTestApp(kind, { clock, env: { INVOICE_OVERDUE_SWEEP_MS: '50' } });
  });

  afterAll(async () => {
    await socket?.dispose();
    await app?.close();
  });

  it('announces an invoice once the clock passes its due date, with no call from outside', async () => {
    const customerId = await newCustomer(app.client, 'Acme');
    const invoice = await finalize(app.client, (await draft(app.client, customerId, { dueDate: '2026-03-10' })).id);
    socket = SocketClient.withKey(app.url, app.apiKey);
    const probe = socket.subscribe(InvoiceUpdatedDocument, { invoiceId: invoice.id });
    await waitUntil(() => app.runtime.services.pubSub.listenerCount(invoiceEventsChannel(app.tenantId)) === 1, 'the stream is live');

    clock.set(new Date('2026-03-11T00:00:00Z'));
    const [event] = await events(probe, 1);
    expect(event).toMatchObject({ type: 'OVERDUE', occurredAt: '2026-03-11T00:00:00.000Z', invoice: { id: invoice.id, overdue: true } });
    expect((await app.client.ok(InvoiceDocument, { id: invoice.id })).invoice.overdue).toBe(true);
  });
});

/**
 * Two API processes on one MariaDB and one Redis, as behind a load balancer: invoice events committed
 * through one reach subscribers connected to the other, in order, and the overdue sweeps of both,
 * racing, announce an invoice once.
 */
const withMysqlAndRedis = process.env.RECKON_TEST_MYSQL === '1' && process.env.RECKON_TEST_REDIS === '1';
(withMysqlAndRedis ? describe : describe.skip)(
  `invoiceUpdated across API processes through Redis [mysql+redis${withMysqlAndRedis ? '' : ': skipped, MySQL or Redis not reachable'}]`,
  () => {
    let database: TestDatabase;
    const processes: { runtime: Runtime; server: RunningServer }[] = [];
    const clock = new TestClock(START);
    const sockets: SocketClient[] = [];

    beforeAll(async () => {
      database = await createTestDatabase('mysql');
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-keys-'));
      // One after the other: the first applies the migrations and writes the keys the second reads.
      for (let i = 0; i < 2; i += 1) {
        const config = testRuntimeConfig(database.url, { env: { DATA_DIR: dataDir, REDIS_URL: String(process.env.TEST_REDIS_URL), INVOICE_OVERDUE_SWEEP_MS: '3600000' } });
        const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
        const runtime = await bootstrap(config, { clock, log });
        processes.push({ runtime, server: await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1') });
      }
    });

    afterAll(async () => {
      await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
      for (const api of processes) {
        await api.server.close();
        await api.runtime.close();
      }
      await database?.drop();
    });

    it('delivers changes made through one process to a subscriber of the other, in order, and an overdue invoice once', async () => {
      const [first, second] = processes;
      const tenant = await first.runtime.services.tenancy.createTenant('Acme');
      const { secret } = await first.runtime.services.auth.createApiKey(tenant.id, { name: 'redis test' });
      const other = await first.runtime.services.tenancy.createTenant('Globex');
      const otherKey = (await first.runtime.services.auth.createApiKey(other.id, { name: 'redis test' })).secret;
      const viaFirst = new GraphQLClient(first.server.url, secret);
      const customerId = await newCustomer(viaFirst, 'Acme Trading GmbH');

      const socket = SocketClient.withKey(second.server.url, secret);
      const otherSocket = SocketClient.withKey(second.server.url, otherKey);
      sockets.push(socket, otherSocket);
      const probe = socket.subscribe(InvoiceUpdatedDocument, {});
      const otherProbe = otherSocket.subscribe(InvoiceUpdatedDocument, {});
      await waitUntil(() => second.runtime.services.pubSub.listenerCount(invoiceEventsChannel(tenant.id)) === 1, 'the stream is live');
      await waitUntil(() => second.runtime.services.pubSub.listenerCount(invoiceEventsChannel(other.id)) === 1, 'the other tenant’s stream is live');

      const invoice = await draft(viaFirst, customerId, { dueDate: '2026-03-11' });
      await viaFirst.ok(UpdateInvoiceDocument, { input: { invoiceId: invoice.id, memo: 'via the first process' } });
      const finalized = await finalize(viaFirst, invoice.id);
      clock.set(new Date('2026-03-12T09:00:00Z'));
      const counts = await Promise.all([first.runtime.services.invoiceOverdue.sweep(), second.runtime.services.invoiceOverdue.sweep()]);
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(1);
      const marker = await draft(viaFirst, customerId);

      const seen = await events(probe, 5);
      expect(seen.map(brief)).toEqual([`CREATED ${invoice.id}`, `UPDATED ${invoice.id}`, `FINALIZED ${invoice.id}`, `OVERDUE ${invoice.id}`, `CREATED ${marker.id}`]);
      expect(seen[2].invoice).toMatchObject({ number: finalized.number, status: 'OPEN', memo: 'via the first process' });
      expect(seen[3].invoice.overdue).toBe(true);
      expect(probe.unread).toBe(0);
      // The other tenant's stream, on the same process and Redis connection, heard nothing of it.
      expect(otherProbe.results).toEqual([]);
    });
  },
);
