import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { bootstrap, createLogger, type Runtime } from '../../src/bootstrap';
import { type RunningServer, startServer } from '../../src/server/app';
import { generateServerKeys } from './child-server';
import { createTestDatabase, type TestDatabase, testRuntimeConfig } from './harness';
import { createLedgerFixture, type LedgerFixture } from './keyed-entries';
import { TcpProxy } from './tcp-proxy';

/** An API server whose database pool goes through a TCP proxy the test controls, on a fresh MySQL database. */
export interface ApiBehindProxy {
  database: TestDatabase;
  proxy: TcpProxy;
  /** Reads the outcome directly, not through the proxy. */
  direct: Runtime;
  /** The API under test, whose pool goes through the proxy. */
  api: Runtime;
  server: RunningServer;
  fixture: LedgerFixture;
  /** Restores the proxy, then stops everything and drops the database. */
  close(): Promise<void>;
}

export async function startApiBehindProxy(options: {
  dataDirPrefix: string;
  env?: Record<string, string>;
  accounts?: number;
  /** The API's logger (a test reading its lines); TEST_LOG_LEVEL's otherwise. */
  log?: Logger;
}): Promise<ApiBehindProxy> {
  const database = await createTestDatabase('mysql');
  const keys = await generateServerKeys();
  const env = { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), options.dataDirPrefix)), ...options.env, ...keys };
  const direct = await bootstrap(testRuntimeConfig(database.url, { env }), { log: createLogger('silent') });
  const fixture = await createLedgerFixture(direct.services, options.accounts);

  const target = new URL(database.url);
  const proxy = await TcpProxy.start(target.hostname, Number(target.port || 3306));
  const proxied = new URL(database.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const config = testRuntimeConfig(proxied.toString(), { env });
  const log = options.log ?? createLogger(process.env.TEST_LOG_LEVEL || 'silent');
  const api = await bootstrap(config, { log });
  const server = await startServer({ services: api.services, log, config }, 0, '127.0.0.1');
  return {
    database,
    proxy,
    direct,
    api,
    server,
    fixture,
    async close() {
      await proxy.restore();
      await server.close();
      await api.close();
      await proxy.close();
      await direct.close();
      await database.drop();
    },
  };
}
