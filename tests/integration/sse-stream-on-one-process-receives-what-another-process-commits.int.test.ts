import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { startServer, type RunningServer } from '../../src/server/app';
import { ImportBankStatementDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';
import { originOf, RestClient } from '../helpers/rest-client';
import { SseStream } from '../helpers/sse-stream';
import { createBankAccount } from '../helpers/statement-fixtures';

/**
 * Two API servers, each with its own services, database pool and Redis connections (as two
 * processes have them), on one MySQL database and one Redis: a client streaming from server A
 * receives the flags a statement imported through server B raises, through Redis, and the other
 * tenant's client nothing.
 */
const runs = process.env.RECKON_TEST_MYSQL === '1' && process.env.RECKON_TEST_REDIS === '1';
const describeWithMysqlAndRedis = runs ? describe : describe.skip;

const STATEMENT = [
  ':20:SSE-X',
  ':25:DE14740618130000033626',
  ':28C:1/1',
  ':60F:C260101EUR1000,00',
  ':61:2601050105C98,50NTRFNONREF//B26010500001',
  ':86:Unknown sender',
  ':61:2601060106C40,00NTRFNONREF//B26010600002',
  ':86:Unknown sender',
  ':62F:C260106EUR1138,50',
  '',
].join('\n');

describeWithMysqlAndRedis(`An SSE stream on one server receives what another server commits [mysql+redis${runs ? '' : ': skipped, MySQL or Redis not reachable'}]`, () => {
  let database: TestDatabase;
  const runtimes: Runtime[] = [];
  const servers: RunningServer[] = [];
  const streams: SseStream[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('mysql');
    const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
    // One set of keys for both, as one deployment has: the tests' API keys work on either server.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-sse-'));
    for (let i = 0; i < 2; i += 1) {
      const config = testRuntimeConfig(database.url, { env: { REDIS_URL: String(process.env.TEST_REDIS_URL), DATA_DIR: dataDir } });
      const runtime = await bootstrap(config, { log });
      runtimes.push(runtime);
      servers.push(await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1'));
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(streams.map((stream) => stream.close()));
    for (const server of servers) await server.close();
    for (const runtime of runtimes) await runtime.close();
    await database?.drop();
  });

  async function newTenant(name: string) {
    const tenant = await runtimes[0].services.tenancy.createTenant(name);
    const { secret } = await runtimes[0].services.auth.createApiKey(tenant.id, { name: 'auditor' });
    return { tenantId: tenant.id, apiKey: secret, viaB: new GraphQLClient(servers[1].url, secret) };
  }

  async function streamFromA(path: string, apiKey: string): Promise<SseStream> {
    const opened = await SseStream.open(`${originOf(servers[0].url)}/v1${path}`, { Authorization: `Bearer ${apiKey}` });
    if (!opened.stream) throw new Error(`refused: ${JSON.stringify(opened.problem)}`);
    streams.push(opened.stream);
    await opened.stream.take(1);
    return opened.stream;
  }

  it('delivers the flags of a statement imported through server B to the tenant’s stream on server A, in order, and nothing to another tenant', async () => {
    const acme = await newTenant('Acme');
    const other = await newTenant('Other');
    const bank = await createBankAccount(acme.viaB, { iban: 'DE14740618130000033626', currency: 'EUR' });
    const auditor = await streamFromA('/reconciliation-flags/stream', acme.apiKey);
    const otherAuditor = await streamFromA('/reconciliation-flags/stream', other.apiKey);

    await acme.viaB.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'MT940', content: STATEMENT } });
    const expected = await runtimes[0].services.reconciliationFlags.eventsAfter(acme.tenantId, Number(auditor.events[0].id), 1000);
    expect(expected.map((step) => step.kind)).toEqual(['UNMATCHED_STATEMENT_LINE', 'UNMATCHED_STATEMENT_LINE']);
    const received = (await auditor.take(1 + expected.length)).slice(1);
    expect(received.map((event) => [event.event, event.id, JSON.parse(event.data).flagId])).toEqual(
      expected.map((step) => ['reconciliation_flag.raised', String(step.sequence), step.flagId]),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(auditor.feedEvents).toHaveLength(expected.length);
    expect(otherAuditor.feedEvents).toEqual([]);
  });

  it('delivers a journal entry posted through server B to the tenant’s event stream on server A, and resumes there after a drop with nothing lost', async () => {
    const acme = await newTenant('Acme events');
    const other = await newTenant('Other events');
    const rest = new RestClient(originOf(servers[1].url), acme.apiKey);
    const cash = (await createAccount(acme.viaB, { type: 'ASSET', currency: 'USD' })).id;
    const revenue = (await createAccount(acme.viaB, { type: 'REVENUE', currency: 'USD' })).id;
    const post = async (amount: string) =>
      String(
        (
          await rest.ok('POST', '/journal-entries', {
            body: {
              description: `Sale ${amount}`,
              lines: [
                { accountId: cash, direction: 'DEBIT', amount, currency: 'USD' },
                { accountId: revenue, direction: 'CREDIT', amount, currency: 'USD' },
              ],
            },
          })
        ).id,
      );
    const client = await streamFromA('/events/stream', acme.apiKey);
    const otherClient = await streamFromA('/events/stream', other.apiKey);
    const first = await post('5.00');
    const [, posted] = await client.take(2);
    expect([posted.event, JSON.parse(posted.data).data.journalEntry.id]).toEqual(['journal_entry.posted', first]);

    const lastSeen = client.lastEventId;
    await client.close();
    const missed = [await post('6.00'), await post('7.00')];
    const opened = await SseStream.open(`${originOf(servers[0].url)}/v1/events/stream`, { Authorization: `Bearer ${acme.apiKey}`, 'Last-Event-ID': lastSeen });
    if (!opened.stream) throw new Error(JSON.stringify(opened.problem));
    streams.push(opened.stream);
    const caughtUp = (await opened.stream.take(3)).slice(1);
    expect(caughtUp.map((event) => JSON.parse(event.data).data.journalEntry.id)).toEqual(missed);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(opened.stream.feedEvents).toHaveLength(2);
    expect(otherClient.feedEvents).toEqual([]);
  });
});
