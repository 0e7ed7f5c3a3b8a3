import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { runCli } from '../../src/cli';
import { GATEWAY_SIGNATURE_HEADER, signGatewayEvent } from '../../src/modules/payments/gateway-event-signature';
import { startServer, type RunningServer } from '../../src/server/app';
import { WhoAmIDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { authorize } from '../helpers/payment-fixtures';

/**
 * `npm run reckon -- tenant list | tenant create "<name>" [--with-demo-gateway]`, run through the CLI's
 * own entry function on a fresh database: what it prints works (the key authenticates, the gateway
 * takes a payment, the webhook secret signs an event the server accepts), the list shows no secrets,
 * and anything it does not know prints the usage, exits non-zero and changes nothing.
 */
describeEachDatabase('CLI: tenant list, tenant create --with-demo-gateway', (kind) => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;

  async function cli(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, { env, out: (line) => out.push(line), err: (line) => err.push(line) });
    return { code, out, err };
  }

  /** The value printed after `label` on its line. */
  function printed(lines: string[], pattern: RegExp): string {
    const match = lines.map((line) => pattern.exec(line)).find(Boolean);
    if (!match) throw new Error(`nothing matching ${pattern} in:\n${lines.join('\n')}`);
    return match[1];
  }

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    // Every run shares the key material the first one generates, as runs on one machine do.
    env = { DATABASE_URL: database.url, DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-cli-')), LOG_LEVEL: 'warn' };
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('lists no tenants on a fresh database', async () => {
    const { code, out } = await cli('tenant', 'list');
    expect(code).toBe(0);
    expect(out[0].split(/\s{2,}/)).toEqual(['ID', 'NAME', 'CREATED', 'ACTIVE KEYS']);
    expect(out).toHaveLength(2);
  });

  describe('with tenants', () => {
    let demo: { tenantId: string; apiKey: string; gatewayId: string; webhookSecret: string };
    let plainTenantId: string;
    let runtime: Runtime;
    let server: RunningServer;

    beforeAll(async () => {
      const created = await cli('tenant', 'create', 'Café Nord', '--with-demo-gateway');
      expect(created).toMatchObject({ code: 0, err: [] });
      demo = {
        tenantId: printed(created.out, /^tenant (ten_\S+) "Café Nord"$/),
        apiKey: printed(created.out, /^API key \(shown once\): (\S+)$/),
        gatewayId: printed(created.out, /^gateway (gw_\S+) "Simulator" \(SIMULATOR: USD, EUR\)/),
        webhookSecret: printed(created.out, /^gateway webhook secret \(shown once.*\): (gwsec_\S+)$/),
      };
      const plain = await cli('tenant', 'create', 'Bistro');
      expect(plain.code).toBe(0);
      expect(plain.out.join('\n')).not.toContain('gateway');
      plainTenantId = printed(plain.out, /^tenant (ten_\S+) "Bistro"$/);
      expect((await cli('key', 'create', plainTenantId, 'till 2')).code).toBe(0);

      const config = testRuntimeConfig(database.url, { env: { DATA_DIR: env.DATA_DIR as string } });
      runtime = await bootstrap(config, { log: createLogger('silent') });
      server = await startServer({ services: runtime.services, log: runtime.log, config }, 0, '127.0.0.1');
    });
    afterAll(async () => {
      await server?.close();
      await runtime?.close();
    });

    it('prints a key that works, and a gateway that takes a payment and accepts events signed with the printed secret', async () => {
      const client = new GraphQLClient(server.url, demo.apiKey);
      const { me } = await client.ok(WhoAmIDocument, {});
      expect(me.tenant).toEqual({ id: demo.tenantId, name: 'Café Nord' });

      const payment = await authorize(client, { amount: '20.00', capture: true });
      expect(payment).toMatchObject({ status: 'CAPTURED', gateway: { id: demo.gatewayId, kind: 'SIMULATOR' } });

      const body = JSON.stringify({ id: 'evt_cli_1', type: 'dispute.opened', data: { gatewayPaymentId: payment.gatewayPaymentId } });
      const response = await fetch(`${new URL(server.url).origin}/webhooks/gateways/${demo.gatewayId}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', [GATEWAY_SIGNATURE_HEADER]: signGatewayEvent(demo.webhookSecret, body, Math.floor(Date.now() / 1000)) },
        body,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'applied', paymentId: payment.id });
    });

    it('lists every tenant with its count of working keys, and no secret', async () => {
      const [firstKey] = await runtime.dataSource.query('SELECT id FROM api_keys WHERE tenant_id = ? ORDER BY id', [plainTenantId]);
      await runtime.services.auth.revokeApiKey(plainTenantId, String(firstKey.id));
      const { code, out } = await cli('tenant', 'list');
      expect(code).toBe(0);
      const rows = out.slice(1).map((line) => line.split(/\s{2,}/));
      expect(rows).toEqual([
        [demo.tenantId, 'Café Nord', expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), '1'],
        [plainTenantId, 'Bistro', expect.any(String), '1'],
      ]);
      expect(out.join('\n')).not.toMatch(/rk_|gwsec_/);
    });

    it.each([
      [['tenant', 'create', 'Acme', '--with-demo'], 'an unknown flag'],
      [['tenant', 'create', 'Acme', '--with-demo-gateway', '--with-demo-gateway'], 'a flag twice'],
      [['tenant', 'create', '--with-demo-gateway'], 'no name'],
      [['tenant', 'list', '--all'], 'a flag list does not take'],
      [['tenant', 'delete', 'Acme'], 'an unknown command'],
      [['tenants', 'list'], 'an unknown noun'],
      [['key', 'create', 'ten_x', 'pos', '--admin'], 'an extra argument'],
      [[], 'nothing'],
    ])('prints the usage, exits 2 and creates nothing for %j (%s)', async (args) => {
      const before = await runtime.services.tenancy.countTenants();
      const { code, out, err } = await cli(...args);
      expect(code).toBe(2);
      expect(out).toEqual([]);
      expect(err.join('\n')).toContain('tenant create "<name>" [--with-demo-gateway]');
      expect(await runtime.services.tenancy.countTenants()).toBe(before);
    });
  });
});
