import { ServiceHealthDocument, type ServiceHealthQuery } from '../generated/graphql';
import { Scope } from '../../src/modules/auth/scopes';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { originOf, RestClient } from '../helpers/rest-client';

type Figures = NonNullable<ServiceHealthQuery['serviceHealth']>;

/**
 * serviceHealth (and GET /v1/service-health) answers the process's own figures: a fresh server has
 * uptime and no latency sample; mutations over GraphQL and REST and the ledger commits they make move
 * the counts, and the p99s become positive figures inside the histograms' buckets. Any credential may
 * read it (the figures are no tenant's); no credential may not.
 */
describeEachDatabase('serviceHealth', (kind) => {
  let app: TestApp;
  let rest: RestClient;
  let startedBefore: number;

  beforeAll(async () => {
    startedBefore = Date.now();
    app = await startTestApp(kind);
    rest = new RestClient(originOf(app.url), app.apiKey);
  });
  afterAll(async () => {
    await app?.close();
  });

  const figures = async (): Promise<Figures> => (await app.client.ok(ServiceHealthDocument)).serviceHealth;

  /** The largest finite latency bucket, in milliseconds: no p99 estimate can be above it. */
  async function largestLatencyBucketMs(): Promise<number> {
    const { values } = await app.runtime.services.metrics.graphqlOperationDuration.get();
    const bounds = values.map((value) => Number((value.labels as { le?: unknown }).le)).filter((bound) => Number.isFinite(bound));
    return Math.max(...bounds) * 1000;
  }

  it('answers a fresh server with its start, its uptime and no latency sample yet', async () => {
    const fresh = await figures();
    const startedAt = Date.parse(fresh.startedAt);
    expect(startedAt).toBeGreaterThanOrEqual(startedBefore);
    expect(startedAt).toBeLessThanOrEqual(Date.now());
    expect(fresh.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(fresh.uptimeSeconds).toBeLessThanOrEqual(Math.ceil((Date.now() - startedBefore) / 1000));
    expect(fresh).toMatchObject({ mutationLatencyMsP99: null, mutationCount: 0, ledgerCommitLatencyMsP99: null, ledgerCommitCount: 0 });
  });

  it('counts every mutation over GraphQL and REST and the commits they made, with positive p99s inside the buckets', async () => {
    const before = await figures();
    const cash = await createAccount(app.client);
    const sales = await createAccount(app.client, { type: 'REVENUE' });
    const entries = 5;
    for (let index = 0; index < entries; index += 1) await postTransfer(app.client, cash.id, sales.id, '1.00');
    const posted = await rest.post('/journal-entries', { description: 'over REST', lines: transfer(cash.id, sales.id, '2.00') }, { idempotencyKey: 'service-health-rest' });
    expect(posted.status).toBe(201);

    const after = await figures();
    // Two accounts, the GraphQL entries and the REST one (REST runs its field through the same server),
    // each a mutation of this process; nothing else sent one meanwhile.
    expect(after.mutationCount - before.mutationCount).toBe(2 + entries + 1);
    // Each entry was committed by the ledger writer (a group commit may carry several in one transaction).
    expect(after.ledgerCommitCount - before.ledgerCommitCount).toBeGreaterThanOrEqual(1);
    const largest = await largestLatencyBucketMs();
    for (const p99 of [after.mutationLatencyMsP99, after.ledgerCommitLatencyMsP99]) {
      expect(typeof p99).toBe('number');
      expect(p99).toBeGreaterThan(0);
      expect(p99).toBeLessThanOrEqual(largest);
    }
    expect(after.startedAt).toBe(before.startedAt);
    expect(after.uptimeSeconds).toBeGreaterThanOrEqual(before.uptimeSeconds);
  });

  it('answers GET /v1/service-health with the same figures', async () => {
    const graphql = await figures();
    const response = await rest.get('/service-health');
    expect(response.status).toBe(200);
    expect(Object.keys(response.body).sort()).toEqual(Object.keys(graphql).sort());
    // Between the two reads only queries ran: the mutation and commit figures are the same ones.
    expect(response.body).toMatchObject({
      startedAt: graphql.startedAt,
      mutationCount: graphql.mutationCount,
      mutationLatencyMsP99: graphql.mutationLatencyMsP99,
      ledgerCommitCount: graphql.ledgerCommitCount,
      ledgerCommitLatencyMsP99: graphql.ledgerCommitLatencyMsP99,
    });
    expect(response.body.uptimeSeconds).toBeGreaterThanOrEqual(graphql.uptimeSeconds);
  });

  it('needs only a credential: a key with one unrelated scope reads it, no credential is UNAUTHENTICATED', async () => {
    const { secret } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'audit only', scopes: [Scope.AUDIT_READ] });
    expect((await app.client.withKey(secret).ok(ServiceHealthDocument)).serviceHealth.startedAt).toEqual(expect.any(String));
    expect((await rest.withKey(secret).get('/service-health')).status).toBe(200);

    const anonymous = await app.client.withKey(null).request(ServiceHealthDocument);
    expect({ status: anonymous.status, code: anonymous.errors?.[0]?.extensions?.code, data: anonymous.data?.serviceHealth ?? null }).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
      data: null,
    });
    const anonymousRest = await rest.withKey(null).get('/service-health');
    expect({ status: anonymousRest.status, code: anonymousRest.body.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    expect(JSON.stringify(anonymousRest.body)).not.toMatch(/uptimeSeconds|mutationCount/);
  });
});
