import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import Redis from 'ioredis';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock } from './common/clock';
import type { Config } from './config';
import { createDataSource, type StatementCounter } from './db/data-source';
import { migrate } from './db/migrate';
import { loadKeyMaterial } from './services/key-material';
import { createServices, type Services } from './services/services';

export interface Runtime {
  dataSource: DataSource;
  statements: StatementCounter;
  services: Services;
  log: Logger;
  /** The Redis connection for rate limits and pub/sub, when REDIS_URL is set. */
  redis: Redis | null;
  /**
   * Drains the ledger writer (commands accepted before are written; still queued at `deadline`, ms
   * since the epoch, they fail with SERVICE_UNAVAILABLE), then closes the pub/sub streams, the database
   * pool and Redis.
   */
  close(options?: { deadline?: number }): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Opens the database, applies pending migrations and wires the services: what every entry point needs. */
export type RuntimeConfig = Pick<
  Config,
  | 'databaseUrl'
  | 'databasePoolSize'
  | 'databaseStatementTimeoutMs'
  | 'databaseLongStatementTimeoutMs'
  | 'databaseAcquireTimeoutMs'
  | 'ledgerMaxBatchSize'
  | 'logLevel'
  | 'auth'
  | 'limits'
  | 'encryptionKeys'
  | 'blindIndexKey'
  | 'dataDir'
  | 'nodeEnv'
  | 'redisUrl'
  | 'idempotency'
  | 'payments'
  | 'metrics'
  | 'webhooks'
>;

export async function bootstrap(config: RuntimeConfig, options: { clock?: Clock; log?: Logger } = {}): Promise<Runtime> {
  const log = options.log ?? createLogger(config.logLevel);
  const { dataSource, statements } = createDataSource({
    url: config.databaseUrl,
    poolSize: config.databasePoolSize,
    logger: log,
    limits: {
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      longStatementTimeoutMs: config.databaseLongStatementTimeoutMs,
      acquireTimeoutMs: config.databaseAcquireTimeoutMs,
    },
  });
  await dataSource.initialize();
  const applied = await migrate(dataSource);
  if (applied.length) log.info({ migrations: applied }, 'applied migrations');
  const keys = await loadKeyMaterial(config);
  const redis = config.redisUrl ? new Redis(config.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: false }) : null;
  const services = createServices(dataSource, options.clock ?? systemClock, { config, keys, redis, log });
  return {
    dataSource,
    statements,
    services,
    log,
    redis,
    close: async ({ deadline } = {}) => {
      const pending = services.ledgerWriter.pendingCount;
      const drained = await services.ledgerWriter.close(deadline);
      log.info({ pending, drained }, drained ? 'shutdown: ledger writer drained' : 'shutdown: ledger writer gave up queued commands at the deadline');
      await services.pubSub.close();
      await dataSource.destroy();
      log.info('shutdown: database pool closed');
      if (redis) {
        await redis.quit();
        log.info('shutdown: Redis closed');
      }
    },
  };
}
