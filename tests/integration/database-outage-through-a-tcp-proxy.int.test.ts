import { Writable } from 'node:stream';
import { GraphQLError } from 'graphql';
import { createLogger, type Runtime } from '../../src/bootstrap';
import { newId } from '../../src/common/ids';
import { DatabaseUnavailableError, runInTransaction } from '../../src/db/transaction';
import { fingerprintOf } from '../../src/modules/idempotency/fingerprint';
import { TenantEntity } from '../../src/modules/tenancy/tenant.entity';
import type { RunningServer } from '../../src/server/app';
import { formatError } from '../../src/server/format-error';
import { type ApiBehindProxy, startApiBehindProxy } from '../helpers/api-behind-proxy';
import { describeOnMysql } from '../helpers/harness';
import {
  type Answer,
  expectEachIntentOnceAndWhole,
  type Intent,
  type LedgerFixture,
  makeIntents,
  postIntent,
  storedEntries,
} from '../helpers/keyed-entries';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import type { TcpProxy } from '../helpers/tcp-proxy';

/**
 * The network between the API and MariaDB fails for a few seconds under load: a TCP proxy the test
 * controls resets every connection and refuses new ones, then comes back. Requests caught by the
 * outage fail with SERVICE_UNAVAILABLE (retryable), none claims a success it did not commit, the
 * server serves again on its own once the database is reachable, and every write retried with its key
 * lands exactly once.
 */
const CLIENTS = 16;
const INTENTS = 6000;
/** Load runs at least this long and until this many entries were acknowledged, before the cut and after it. */
const LOAD_PHASE_MS = 700;
const ACKNOWLEDGED_PER_PHASE = 20;
const LOAD_PHASE_MAX_MS = 15_000;
const OUTAGE_MS = 3000;
/** A claim whose release the outage prevented blocks its key this long (IDEMPOTENCY_LEASE). */
const LEASE = '5s';
const RETRY_DEADLINE_MS = 30_000;
/** A client that was refused waits this long before its next request, as a real client backs off. */
const BACKOFF_MS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const ME = '{ me { tenant { id } } }';

describeOnMysql('Database outage through a TCP proxy, mid-load', () => {
  let setup: ApiBehindProxy;
  let proxy: TcpProxy;
  /** Reads the outcome directly, not through the proxy. */
  let direct: Runtime;
  /** The API under test, whose pool goes through the proxy. */
  let api: Runtime;
  let server: RunningServer;
  let fixture: LedgerFixture;

  /** The API's log lines, as it writes them at the default level. */
  const logged: { level: number; msg: string; [field: string]: unknown }[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logged.push(JSON.parse(line) as (typeof logged)[number]);
        done();
      },
    });
    setup = await startApiBehindProxy({ dataDirPrefix: 'reckon-outage-', env: { IDEMPOTENCY_LEASE: LEASE }, log: createLogger('info', sink) });
    ({ proxy, direct, api, server, fixture } = setup);
  });

  afterAll(async () => {
    await setup?.close();
  });

  /** What a client is told, as formatError makes it from what a path without a transaction throws. */
  async function formattedFailureOf(work: () => Promise<unknown>): Promise<Record<string, unknown> | undefined> {
    try {
      await work();
      return undefined;
    } catch (error) {
      return formatError(new GraphQLError('x').toJSON(), error).extensions;
    }
  }

  it('rolls back a transaction whose connection dies in the middle, reports SERVICE_UNAVAILABLE, and reconnects', async () => {
    const tenantId = newId('tenant');
    let written!: () => void;
    const halfWay = new Promise<void>((resolve) => (written = resolve));
    let proceed!: () => void;
    const cutDone = new Promise<void>((resolve) => (proceed = resolve));
    const attempt = runInTransaction(api.dataSource, async (manager) => {
      await manager.insert(TenantEntity, { id: tenantId, name: 'half-written', createdAt: new Date() });
      written();
      await cutDone;
      await manager.query('SELECT 1');
    });
    await halfWay;
    await proxy.cut();
    proceed();
    const failure = await attempt.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(DatabaseUnavailableError);
    expect(formatError(new GraphQLError('x').toJSON(), failure).extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
    await proxy.restore();

    // The database rolled the transaction back when its connection died; the pool connects anew by itself.
    expect(await direct.dataSource.query('SELECT id FROM tenants WHERE id = ?', [tenantId])).toEqual([]);
    expect(await api.dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('answers SERVICE_UNAVAILABLE during the outage, resumes by itself, and loses no accepted write', async () => {
    const intents = makeIntents('outage', INTENTS, fixture.accountIds);
    const sent = new Set<number>();
    const acknowledged = new Map<number, string>();
    const failed = new Set<number>();
    const unexpected: { index: number; answer: Answer }[] = [];
    let acknowledgedAfterRestore = 0;
    let phase: 'before' | 'outage' | 'after' = 'before';
    let stop = false;
    let next = 0;

    const client = async () => {
      while (!stop && next < intents.length) {
        const intent = intents[next++];
        sent.add(intent.index);
        const answer = await postIntent(server.url, fixture.apiKey, intent);
        if (answer.kind === 'ok') {
          acknowledged.set(intent.index, answer.entryId);
          if (phase === 'after') acknowledgedAfterRestore += 1;
          continue;
        }
        failed.add(intent.index);
        // Refused at authentication (HTTP 503) or in the resolver (HTTP 200 with errors): the same code.
        if (!(answer.kind === 'error' && answer.code === 'SERVICE_UNAVAILABLE' && answer.retryable === true)) {
          unexpected.push({ index: intent.index, answer });
        }
        await sleep(BACKOFF_MS);
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, client));

    const runPhase = async (acknowledgedInPhase: () => number) => {
      const started = Date.now();
      while (Date.now() - started < LOAD_PHASE_MAX_MS && (Date.now() - started < LOAD_PHASE_MS || acknowledgedInPhase() < ACKNOWLEDGED_PER_PHASE)) {
        await sleep(20);
      }
    };
    let acknowledgedBeforeCut = 0;
    // A key this process has never seen: its authentication needs the database (the one in use is cached).
    const { secret: unseenKey } = await api.services.auth.createApiKey(fixture.tenantId, { name: 'unseen during the outage' });
    try {
      await runPhase(() => acknowledged.size);
      acknowledgedBeforeCut = acknowledged.size;
      await proxy.cut();
      phase = 'outage';
      const outageEnds = Date.now() + OUTAGE_MS;

      // While the database is unreachable: the authentication lookup of a credential this process has
      // not cached (README, The authentication cache; the load's key is cached), reads outside any
      // transaction and the idempotency claim (its own statement, outside the business transaction) all
      // come out as SERVICE_UNAVAILABLE, retryable; so does readiness.
      await sleep(200);
      const meAs = async (key: string) => {
        const response = await fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ query: ME }),
        });
        return { status: response.status, body: (await response.json()) as { errors?: { extensions?: Record<string, unknown> }[] } };
      };
      const unseen = await meAs(unseenKey);
      expect(unseen.status).toBe(503);
      expect(unseen.body.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
      expect((await fetch(new URL('/readyz', server.url))).status).toBe(503);
      const { ledger, idempotency } = api.services;
      for (const failure of [
        await formattedFailureOf(() => ledger.getAccount(fixture.tenantId, fixture.accountIds[0])),
        await formattedFailureOf(() => ledger.trialBalance(fixture.tenantId, {})),
        await formattedFailureOf(() =>
          idempotency.claim({ tenantId: fixture.tenantId, credentialId: 'cred', operation: 'postJournalEntry', key: 'outage-probe-key' }, fingerprintOf('postJournalEntry', {}, '')),
        ),
      ]) {
        expect(failure).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
      }

      await sleep(Math.max(0, outageEnds - Date.now()));
      await proxy.restore();
      phase = 'after';
      await runPhase(() => acknowledgedAfterRestore);
    } finally {
      stop = true;
      await proxy.restore();
      await load;
    }

    expect(unexpected).toEqual([]);
    expect(acknowledgedBeforeCut).toBeGreaterThan(0);
    expect(failed.size).toBeGreaterThan(0);
    // Served again without a restart: the pool replaced its dead connections by itself.
    expect(acknowledgedAfterRestore).toBeGreaterThan(0);
    expect((await fetch(new URL('/readyz', server.url))).status).toBe(200);

    // The outage is in the log at the default level: warnings naming the driver's cause, the refused
    // requests' access lines at warn with their code, the failing readiness probe; an outage is no bug,
    // so no line is an error.
    expect(logged.filter((line) => line.msg === 'database unavailable' && line.level === 40).length).toBeGreaterThan(0);
    expect(logged.filter((line) => line.msg === 'request' && line.level === 40 && (line.errorCodes as string[] | undefined)?.includes('SERVICE_UNAVAILABLE')).length).toBe(failed.size + 1);
    expect(logged.filter((line) => line.msg === 'request' && line.route === '/readyz' && line.status === 503)).toEqual([expect.objectContaining({ level: 40 })]);
    expect(logged.filter((line) => line.level >= 50)).toEqual([]);

    // No success without its entry: every acknowledged id is stored, as that intent, before any retry.
    const beforeRetries = expectEachIntentOnceAndWhole(
      await storedEntries(direct.dataSource, 'outage'),
      intents,
      new Set([...acknowledged.keys(), ...(await storedIntentIndexes(direct, intents))]),
    );
    for (const [index, entryId] of acknowledged) expect([index, beforeRetries.get(index)]).toEqual([index, entryId]);

    // Each failed request retried with its own key until it succeeds: written once, or replayed once.
    const retryDeadline = Date.now() + RETRY_DEADLINE_MS;
    const retryOne = async (intent: Intent) => {
      while (Date.now() < retryDeadline) {
        const answer = await postIntent(server.url, fixture.apiKey, intent);
        if (answer.kind === 'ok') {
          acknowledged.set(intent.index, answer.entryId);
          return;
        }
        // A claim whose release the outage swallowed holds its key until the lease runs out.
        expect(answer).toMatchObject({ kind: 'error', code: 'IDEMPOTENCY_KEY_IN_USE', retryable: true });
        await sleep(250);
      }
    };
    const toRetry = intents.filter((intent) => failed.has(intent.index));
    for (let i = 0; i < toRetry.length; i += CLIENTS) await Promise.all(toRetry.slice(i, i + CLIENTS).map(retryOne));
    expect(toRetry.filter((intent) => !acknowledged.has(intent.index)).map((intent) => intent.index)).toEqual([]);

    const idByIntent = expectEachIntentOnceAndWhole(await storedEntries(direct.dataSource, 'outage'), intents, sent);
    for (const [index, entryId] of acknowledged) expect([index, idByIntent.get(index)]).toEqual([index, entryId]);
    await assertLedgerInvariants(direct.dataSource);
  });
});

/** Intents stored so far, whatever their clients were told (a failure may have committed). */
async function storedIntentIndexes(runtime: Runtime, intents: Intent[]): Promise<number[]> {
  const byDescription = new Map(intents.map((intent) => [intent.description, intent.index]));
  const stored = await storedEntries(runtime.dataSource, 'outage');
  return stored.map((entry) => byDescription.get(entry.description)).filter((index): index is number => index !== undefined);
}
