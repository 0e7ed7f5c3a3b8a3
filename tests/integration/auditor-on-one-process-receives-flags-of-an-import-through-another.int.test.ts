import fs from 'node:fs';
import Redis from 'ioredis';
import os from 'node:os';
import path from 'node:path';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { flagEventChannel } from '../../src/modules/reconciliation/reconciliation-flags.events';
import { ImportBankStatementDocument, ReconciliationFlagRaisedDocument, ReconciliationFlagsDocument } from '../generated/graphql';
import { buildServer, type ChildServer, generateServerKeys, type ServerBuild, startChildServer } from '../helpers/child-server';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, type TestDatabase, testRuntimeConfig } from '../helpers/harness';
import { bankAccountAwaitingTwoDiscrepancies, createBankAccount, describeWithStatementFixtures, importFixture, TWO_DISCREPANCIES_MT940 } from '../helpers/statement-fixtures';
import { SocketClient } from '../helpers/ws-client';

/**
 * The end-to-end story, with two API processes as production runs them (`node dist/src/main.js`,
 * each with its own pub/sub and Redis connections) on one MySQL database and one Redis: an auditor
 * subscribed on process A sees, in order, exactly the flags a statement imported through process B
 * raised; another tenant's auditor sees nothing; an auditor who was away resumes with `since:` and
 * misses nothing.
 */
const runs = process.env.RECKON_TEST_MYSQL === '1' && process.env.RECKON_TEST_REDIS === '1';
const describeWithMysqlAndRedis = runs ? describe : describe.skip;
const ING = 'mt940/wolph__jejik_ing.sta';

describeWithStatementFixtures('the reconciliation flag feed across processes', () => {
  describeWithMysqlAndRedis(`Flags raised through process B reach an auditor on process A through Redis [mysql+redis${runs ? '' : ': skipped, MySQL or Redis not reachable'}]`, () => {
    let database: TestDatabase;
    let build: ServerBuild;
    let runtime: Runtime;
    let processA: ChildServer;
    let processB: ChildServer;
    let redis: Redis;
    const sockets: SocketClient[] = [];

    beforeAll(async () => {
      build = buildServer();
      database = await createTestDatabase('mysql');
      const keys = await generateServerKeys();
      // The test's own runtime: migrations, tenants and keys, and the reads that check the outcome.
      const config = testRuntimeConfig(database.url, { env: { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-flag-feed-')), ...keys } });
      runtime = await bootstrap(config, { log: createLogger('silent') });
      redis = new Redis(String(process.env.TEST_REDIS_URL));
      const env = { REDIS_URL: String(process.env.TEST_REDIS_URL), LOG_LEVEL: 'warn' };
      [processA, processB] = await Promise.all([startChildServer({ build, databaseUrl: database.url, keys, env }), startChildServer({ build, databaseUrl: database.url, keys, env })]);
    }, 180_000);

    afterAll(async () => {
      await Promise.all(sockets.map((socket) => socket.dispose()));
      for (const server of [processA, processB]) await server?.kill();
      await runtime?.close();
      redis?.disconnect();
      await database?.drop();
    });

    async function newTenant(name: string) {
      const tenant = await runtime.services.tenancy.createTenant(name);
      const { secret } = await runtime.services.auth.createApiKey(tenant.id, { name: 'auditor' });
      return { tenantId: tenant.id, apiKey: secret, viaA: new GraphQLClient(processA.url, secret), viaB: new GraphQLClient(processB.url, secret) };
    }

    function connect(server: ChildServer, apiKey: string): SocketClient {
      const socket = SocketClient.withKey(server.url, apiKey);
      sockets.push(socket);
      return socket;
    }

    /** Redis's count of connections subscribed to the tenant's flag channel: process A's, once its subscription listens. */
    async function redisSubscribers(tenantId: string): Promise<number> {
      const [, count] = (await redis.pubsub('NUMSUB', flagEventChannel(tenantId))) as [string, number];
      return Number(count);
    }

    /**
     * Subscribes on process A and waits until Redis counts its listener. A refusal with the retryable
     * SERVICE_UNAVAILABLE ("subscribe again later": A's Redis SUBSCRIBE failed) is retried, as the
     * README tells clients to; anything else fails the test with what A logged.
     */
    async function listenOnA(apiKey: string, tenantId: string, variables: { since?: string }) {
      for (let attempt = 1; ; attempt += 1) {
        const socket = connect(processA, apiKey);
        const probe = socket.subscribe(ReconciliationFlagRaisedDocument, variables);
        const deadline = Date.now() + 20_000;
        let refused: unknown = null;
        while ((await redisSubscribers(tenantId)) < 1) {
          if (probe.results.length) {
            refused = probe.results[0];
            break;
          }
          const ended = await probe.ended(1).catch(() => null);
          if (ended) throw new Error(`the subscription ended before it listened: ${String(ended.error instanceof Error ? ended.error.message : JSON.stringify(ended))}`);
          if (Date.now() > deadline) throw new Error(`no Redis subscriber of ${tenantId}'s flag channel after 20 s`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        if (!refused) return { socket, probe };
        const retryable = JSON.stringify(refused).includes('"code":"SERVICE_UNAVAILABLE"');
        if (!retryable || attempt >= 3) {
          throw new Error(`the subscription answered before it listened: ${JSON.stringify(refused)}\nprocess A said:\n${processA.lines.slice(-20).join('\n')}`);
        }
        await socket.dispose();
      }
    }

    /** The tenant's raising steps after a sequence number, in order, from the flags' history: what a Raised feed must deliver. */
    function raisesAfter(tenantId: string, after: number) {
      return runtime.services.reconciliationFlags.eventsAfter(tenantId, after, 1000, { raisingOnly: true });
    }

    it('delivers exactly the two flags of the import (a line the books lack, an amount short by a fee), in order, to the tenant’s auditor only, and the ones raised while it was away on resuming', async () => {
      const acme = await newTenant('Acme');
      const other = await newTenant('Other');
      const bank = await bankAccountAwaitingTwoDiscrepancies(acme.viaB);
      const ing = await createBankAccount(acme.viaB, { accountNumber: '0001234567', currency: 'EUR' });

      // since: 0 — from the tenant's first flag: an auditor that must miss nothing says where it starts.
      // Both listen on A before the import (so that the flags travel B → Redis → A, and the other tenant's silence means something).
      const { socket: auditorSocket, probe: auditor } = await listenOnA(acme.apiKey, acme.tenantId, { since: '0' });
      const { probe: otherAuditor } = await listenOnA(other.apiKey, other.tenantId, {});

      const { importBankStatement: imported } = await acme.viaB.ok(ImportBankStatementDocument, {
        input: { bankAccountId: bank.id, format: 'MT940', content: TWO_DISCREPANCIES_MT940 },
      });
      expect([imported.importedLineCount, imported.flags]).toEqual([2, []]);
      // The two discrepancies the import's matching raised, in the order they were raised.
      const expected = await raisesAfter(acme.tenantId, 0);
      expect(expected.map((step) => step.kind).sort()).toEqual(['AMOUNT_MISMATCH', 'UNMATCHED_STATEMENT_LINE']);
      expect(expected.find((step) => step.kind === 'AMOUNT_MISMATCH')?.details).toMatchObject({ lineAmount: '98.50', postingAmount: '100.00' });
      const received = (await auditor.take(expected.length, 20_000)).map((result) => result.data!.reconciliationFlagRaised);
      expect(received.map((event) => [event.sequence, event.action, event.flag.id, event.flag.kind])).toEqual(
        expected.map((step) => [String(step.sequence), step.action, step.flagId, step.kind]),
      );
      const { reconciliationFlags } = await acme.viaA.ok(ReconciliationFlagsDocument, { first: 100 });
      expect(new Set(reconciliationFlags.edges.map((edge) => edge.node.id))).toEqual(new Set(received.map((event) => event.flag.id)));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(auditor.unread).toBe(0);
      expect(otherAuditor.unread).toBe(0);

      // The auditor goes away; another statement raises more flags meanwhile; it comes back with since:.
      const lastSeen = received.at(-1)!.sequence;
      await auditorSocket.dispose();
      const later = await importFixture(acme.viaB, ing.id, ING, 'MT940');
      expect(later.flags.map((flag) => flag.kind)).toEqual(['STATEMENT_BALANCE_MISMATCH']);
      const missed = await raisesAfter(acme.tenantId, Number(lastSeen));
      expect(missed.map((step) => step.flagId)).toContain(later.flags[0].id);

      const { probe: resumed } = await listenOnA(acme.apiKey, acme.tenantId, { since: lastSeen });
      const caughtUp = (await resumed.take(missed.length, 20_000)).map((result) => result.data!.reconciliationFlagRaised);
      expect(caughtUp.map((event) => [event.sequence, event.flag.id])).toEqual(missed.map((step) => [String(step.sequence), step.flagId]));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(resumed.unread).toBe(0);
      expect(otherAuditor.unread).toBe(0);
    });
  });
});
