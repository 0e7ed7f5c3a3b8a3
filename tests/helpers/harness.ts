import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { type Config, loadConfig } from '../../src/config';
import type { Clock } from '../../src/common/clock';
import { startServer, type RunningServer } from '../../src/server/app';
import { GraphQLClient } from './graphql-client';

export type DatabaseKindUnderTest = 'sqlite' | 'mysql';

/** SQLite always; MySQL when global-setup found it reachable (always in CI). */
export function databaseKindsUnderTest(): DatabaseKindUnderTest[] {
  return process.env.RECKON_TEST_MYSQL === '1' ? ['sqlite', 'mysql'] : ['sqlite'];
}

/** Runs a suite once per database; the database kind is in every test's name. */
export function describeEachDatabase(name: string, suite: (kind: DatabaseKindUnderTest) => void): void {
  for (const kind of databaseKindsUnderTest()) {
    describe(`${name} [${kind}]`, () => suite(kind));
  }
}

/** MySQL-only suites: skipped, with the reason in the output, when MySQL is not reachable outside CI. */
export function describeOnMysql(name: string, suite: () => void): void {
  if (process.env.RECKON_TEST_MYSQL === '1') describe(`${name} [mysql]`, suite);
  else describe.skip(`${name} [mysql: skipped, MySQL not reachable]`, suite);
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh, uniquely named database that exists only for one suite. */
export async function createTestDatabase(kind: DatabaseKindUnderTest): Promise<TestDatabase> {
  const name = `reckon_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  if (kind === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-'));
    return {
      url: `sqlite:${path.join(dir, `${name}.sqlite`)}`,
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const serverUrl = new URL(process.env.TEST_MYSQL_URL as string);
  const admin = await mysql.createConnection({ uri: serverUrl.toString() });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = new URL(serverUrl.toString());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const connection = await mysql.createConnection({ uri: serverUrl.toString() });
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await connection.end();
    },
  };
}

export interface TestTenant {
  tenantId: string;
  apiKey: string;
  client: GraphQLClient;
}

export interface TestApp extends TestTenant {
  kind: DatabaseKindUnderTest;
  runtime: Runtime;
  server: RunningServer;
  url: string;
  /** Another tenant with its own key, for isolation tests. */
  createTenant(name?: string): Promise<TestTenant>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  clock?: Clock;
  ledgerMaxBatchSize?: number;
  poolSize?: number;
  /** Environment variables as the server would read them (e.g. RATE_LIMIT_PER_SECOND, NODE_ENV). */
  env?: Record<string, string>;
}

/**
 * The configuration a test server runs with: the defaults, as `npm start` has them, on the given
 * database, with generated keys in a throwaway directory, the per-credential request limit off
 * (load tests drive one key hard; the rate-limit tests turn it on through `env`), webhook
 * endpoints allowed on private networks (the tests' receivers are on 127.0.0.1), and the webhook
 * delivery worker and the audit buffer's timer all but idle.
 */
export function testRuntimeConfig(databaseUrl: string, options: TestAppOptions = {}): Config {
  const config = loadConfig({
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-keys-')),
    RATE_LIMIT_PER_SECOND: '0',
    // Test receivers listen on the loopback interface; the SSRF test turns this off again.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    // The delivery worker's polls would add statements to the tests that count them: it polls only in
    // the webhook tests, which set their own interval.
    WEBHOOK_POLL_INTERVAL_MS: '600000',
    // Likewise the audit buffer's timed writes (reads, REST calls): they are written when 200 wait, on
    // auditEvents and verifyAuditChain, at shutdown, and on the interval the audit tests set.
    AUDIT_FLUSH_INTERVAL_MS: '60000',
    // Likewise the authentication cache's 1 s TTL: a slow request would read its key again. One test
    // process needs no TTL (its revokes take effect at once). With Redis the default stays: it is what
    // a process trusts until its change feed is subscribed, as in production.
    ...(options.env?.REDIS_URL ? {} : { AUTH_CACHE_TTL_MS: '600000' }),
    ...options.env,
  });
  return {
    ...config,
    databaseUrl,
    databasePoolSize: options.poolSize ?? config.databasePoolSize,
    ledgerMaxBatchSize: options.ledgerMaxBatchSize ?? config.ledgerMaxBatchSize,
    logLevel: 'silent',
  };
}

/** Starts the real server on a fresh database, on a random loopback port, with one tenant and key. */
export async function startTestApp(kind: DatabaseKindUnderTest, options: TestAppOptions = {}): Promise<TestApp> {
  const database = await createTestDatabase(kind);
  const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
  const config = testRuntimeConfig(database.url, options);
  const runtime = await bootstrap(config, { clock: options.clock, log });
  const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
  const createTenant = async (name = 'Tenant'): Promise<TestTenant> => {
    const tenant = await runtime.services.tenancy.createTenant(name);
    const { secret } = await runtime.services.auth.createApiKey(tenant.id, { name: 'test' });
    return { tenantId: tenant.id, apiKey: secret, client: new GraphQLClient(server.url, secret) };
  };
  const first = await createTenant('Acme');
  return {
    ...first,
    kind,
    runtime,
    server,
    url: server.url,
    createTenant,
    close: async () => {
      await server.close();
      await runtime.close();
      await database.drop();
    },
  };
}

/**
 * Runs `work` against a server started on an existing database with the given environment (keys,
 * say), then stops it: the key-rotation tests start several servers in turn on one database.
 */
export async function withServerOn<T>(databaseUrl: string, env: Record<string, string>, work: (runtime: Runtime, server: RunningServer) => Promise<T>): Promise<T> {
  const log = createLogger(process.env.TEST_LOG_LEVEL || 'silent');
  const config = testRuntimeConfig(databaseUrl, { env });
  const runtime = await bootstrap(config, { log });
  const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
  try {
    return await work(runtime, server);
  } finally {
    await server.close();
    await runtime.close();
  }
}
