import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { createDataSource } from '../../src/db/data-source';
import { GatewayKind } from '../../src/modules/payments/gateways/payment-gateway';
import { SimulatorGateway } from '../../src/modules/payments/gateways/simulator-gateway';
import { CapturePaymentDocument, RefundPaymentDocument } from '../generated/graphql';
import { buildServer, type ChildServer, generateServerKeys, type ServerBuild, startChildServer } from '../helpers/child-server';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, readPayment } from '../helpers/payment-fixtures';

/**
 * The simulator gateway keeps its books in the database, as a real gateway keeps its own: a payment
 * authorized by an API process that is then killed (SIGKILL, no shutdown) is captured and refunded by
 * the next process on the same database, and two processes running at once see one set of books. A
 * gateway call made with one idempotency key from two processes at once charges once.
 */

let build: ServerBuild;
beforeAll(() => {
  build = buildServer();
});

describeEachDatabase('the simulator gateway across restarts and processes', (kind) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let keys: Record<string, string>;
  let apiKey: string;
  let gatewayId: string;
  const servers: ChildServer[] = [];

  const start = async () => {
    const server = await startChildServer({ build, databaseUrl: database.url, keys, env: { LOG_LEVEL: 'warn' } });
    servers.push(server);
    return { server, client: new GraphQLClient(server.url, apiKey) };
  };

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    keys = await generateServerKeys();
    // The test's own runtime: migrations, the tenant and its key, and the reads that check the outcome.
    const config = testRuntimeConfig(database.url, { env: { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-simulator-')), ...keys } });
    runtime = await bootstrap(config, { log: createLogger('silent') });
    const tenant = await runtime.services.tenancy.createTenant('Cafe');
    apiKey = (await runtime.services.auth.createApiKey(tenant.id, { name: 'pos' })).secret;
    const created = await runtime.services.payments.gateways.createGateway(tenant.id, { name: 'Simulator', kind: GatewayKind.SIMULATOR, currencies: ['USD'] });
    gatewayId = created.gateway.id;
  });

  afterAll(async () => {
    for (const server of servers) await server.kill();
    await runtime?.close();
    await database?.drop();
  });

  it('captures and refunds after a kill -9 and a restart a payment authorized before it', async () => {
    const first = await start();
    const authorized = await authorize(first.client, { amount: '80.00' }, 'till-3-order-88-auth');
    expect(authorized.status).toBe('AUTHORIZED');
    await first.server.kill();

    const second = await start();
    const { capturePayment } = await second.client.ok(CapturePaymentDocument, {
      input: { paymentId: authorized.id, amount: '60.00' },
      idempotencyKey: 'till-3-order-88-capture',
    });
    expect(capturePayment.payment).toMatchObject({ status: 'CAPTURED', capturedAmount: { amount: '60.00' } });
    const { refundPayment } = await second.client.ok(RefundPaymentDocument, {
      input: { paymentId: authorized.id, amount: '25.00', reason: 'one item returned' },
      idempotencyKey: 'till-3-order-88-refund',
    });
    expect(refundPayment.refund).toMatchObject({ status: 'SUCCEEDED', amount: { amount: '25.00' } });
    // The authorization retried after the restart is the same payment, not a second charge.
    expect((await authorize(second.client, { amount: '80.00' }, 'till-3-order-88-auth')).id).toBe(authorized.id);

    const books = await new SimulatorGateway(runtime.dataSource, gatewayId).stats();
    expect(books.chargeCount).toBe(1);
    expect(books.payments[authorized.gatewayPaymentId as string]).toMatchObject({
      authorizedAmountMinor: 8000n,
      capturedAmountMinor: 6000n,
      refundedAmountMinor: 2500n,
      captureCount: 1,
      refundCount: 1,
    });
    await assertLedgerInvariants(runtime.dataSource, second.client);
  });

  it('lets a second process running at the same time capture, refund and void what the first authorized', async () => {
    const [a, b] = [await start(), await start()];
    const onA = await authorize(a.client, { amount: '30.00', gatewayId }, 'till-4-order-1-auth');
    const captured = await b.client.ok(CapturePaymentDocument, { input: { paymentId: onA.id }, idempotencyKey: 'till-4-order-1-capture' });
    expect(captured.capturePayment.payment.status).toBe('CAPTURED');
    const refunded = await a.client.ok(RefundPaymentDocument, { input: { paymentId: onA.id, amount: '30.00' }, idempotencyKey: 'till-4-order-1-refund' });
    expect(refunded.refundPayment.payment.refundedAmount.amount).toBe('30.00');

    const onB = await authorize(b.client, { amount: '12.00', gatewayId }, 'till-4-order-2-auth');
    const payment = await readPayment(a.client, onB.id);
    expect(payment.status).toBe('AUTHORIZED');
    const books = await new SimulatorGateway(runtime.dataSource, gatewayId).stats();
    expect(books.payments[onA.gatewayPaymentId as string]).toMatchObject({ capturedAmountMinor: 3000n, refundedAmountMinor: 3000n });
    expect(books.payments[onB.gatewayPaymentId as string]).toMatchObject({ authorizedAmountMinor: 1200n, captureCount: 0 });
    await assertLedgerInvariants(runtime.dataSource, b.client);
  });

  it('charges once when one gateway call is sent at once from two processes with the same key', async () => {
    // Two connection pools of their own: to the database they are two processes.
    const pools: DataSource[] = [];
    try {
      for (let i = 0; i < 2; i += 1) {
        const { dataSource } = createDataSource({ url: database.url, poolSize: 5 });
        await dataSource.initialize();
        pools.push(dataSource);
      }
      const simulators = pools.map((pool) => new SimulatorGateway(pool, gatewayId));
      const request = { idempotencyKey: 'gateway-key-raced', amountMinor: 4200n, currency: 'USD', paymentToken: 'tok_approve', reference: 'pay_raced' };
      const before = await simulators[0].stats();
      const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => simulators[i % 2].authorize(request)));
      expect(outcomes[0].kind).toBe('succeeded');
      for (const outcome of outcomes) expect(outcome).toEqual(outcomes[0]);
      expect((await simulators[1].stats()).chargeCount).toBe(before.chargeCount + 1);

      const gatewayPaymentId = (outcomes[0] as { value: { gatewayPaymentId: string } }).value.gatewayPaymentId;
      const refund = { idempotencyKey: 'gateway-refund-raced', gatewayPaymentId, amountMinor: 1000n, currency: 'USD' };
      await simulators[0].capture({ idempotencyKey: 'gateway-capture-raced', gatewayPaymentId, amountMinor: 4200n, currency: 'USD' });
      const refunds = await Promise.all(Array.from({ length: 10 }, (_, i) => simulators[i % 2].refund(refund)));
      expect(refunds[0].kind).toBe('succeeded');
      for (const outcome of refunds) expect(outcome).toEqual(refunds[0]);
      expect((await simulators[0].stats()).payments[gatewayPaymentId]).toMatchObject({ refundedAmountMinor: 1000n, refundCount: 1 });
    } finally {
      for (const pool of pools) await pool.destroy();
    }
  });
});
