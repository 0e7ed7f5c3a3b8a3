import crypto from 'node:crypto';
import type { Runtime } from '../../src/bootstrap';
import { formatEncryptionKeys, generateEncryptionKey } from '../../src/common/encryption';
import { reencryptAll } from '../../src/db/encrypted-columns';
import type { RunningServer } from '../../src/server/app';
import { AuthorizePaymentDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, type TestDatabase, withServerOn } from '../helpers/harness';
import { createSimulatorGateway } from '../helpers/payment-fixtures';

/**
 * `keys reencrypt` must reach every encrypted column, or a column left under the old key becomes
 * unreadable once that key leaves ENCRYPTION_KEYS. Here: a stored refusal (idempotency error_json) and
 * a gateway's credentials and webhook secret, written under "old", re-encrypted, then read with "new"
 * alone: the refusal replays as first answered, the gateway still charges, its secret still reads.
 */
describeEachDatabase('key rotation keeps stored refusals and gateway secrets readable', (kind) => {
  const oldKey = generateEncryptionKey('old');
  const newKey = generateEncryptionKey('new');
  const blindIndexKey = crypto.randomBytes(32).toString('base64');
  const ring = (...keys: (typeof oldKey)[]) => ({ ENCRYPTION_KEYS: formatEncryptionKeys(keys), BLIND_INDEX_KEY: blindIndexKey });
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.drop();
  });

  const withServer = <T>(env: Record<string, string>, work: (runtime: Runtime, server: RunningServer) => Promise<T>): Promise<T> => withServerOn(database.url, env, work);

  it('re-encrypts error_json, gateway credentials and webhook secrets, and needs only the new key afterwards', async () => {
    const declined = { input: { amount: '9.00', currency: 'USD', paymentToken: 'tok_decline_expired_card' }, idempotencyKey: 'rotate-declined-1' };
    const first = await withServer(ring(oldKey), async (runtime, server) => {
      const tenant = await runtime.services.tenancy.createTenant('Rotating payments');
      const { secret: apiKey } = await runtime.services.auth.createApiKey(tenant.id, { name: 'admin' });
      const client = new GraphQLClient(server.url, apiKey);
      const gateway = await createSimulatorGateway(client, ['USD']);
      const answer = await client.request(AuthorizePaymentDocument, declined);
      return { apiKey, gateway, tenantId: tenant.id, error: answer.errors?.[0] };
    });
    expect(first.error?.extensions?.code).toBe('GATEWAY_DECLINED');

    await withServer(ring(newKey, oldKey), async (runtime) => {
      const reports = await reencryptAll(runtime.dataSource, runtime.services.cipher);
      const byTable = Object.fromEntries(reports.map((report) => [report.table, report]));
      expect(byTable.idempotency_records).toMatchObject({ rowsReencrypted: 1, failures: [] });
      expect(byTable.payment_gateways).toMatchObject({ rowsReencrypted: 1, valuesReencrypted: 2, failures: [] });
    });

    await withServer(ring(newKey), async (runtime, server) => {
      const client = new GraphQLClient(server.url, first.apiKey);
      const replay = await client.request(AuthorizePaymentDocument, declined);
      expect(replay.errors?.[0]).toMatchObject({ message: first.error?.message, extensions: { code: 'GATEWAY_DECLINED', details: first.error?.extensions?.details } });
      const { authorizePayment } = await client.ok(AuthorizePaymentDocument, { input: { amount: '5.00', currency: 'USD', paymentToken: 'tok_approve' } });
      expect(authorizePayment.payment.status).toBe('AUTHORIZED');
      await expect(runtime.services.payments.gateways.webhookSecretOf(first.gateway.id)).resolves.toEqual({
        tenantId: first.tenantId,
        secret: first.gateway.webhookSecret,
      });
    });
  });
});
