import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import Redis from 'ioredis';
import pino, { type DestinationStream, type Logger } from 'pino';
import { LOG_REDACT_PATHS, REDACTED, scrubLogLine } from './common/log-redaction';
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

/**
 * The one logger factory (main, the CLI, tests): JSON lines, ISO time, and the redaction of
 * src/common/log-redaction.ts on every line, children included (README "Logs"). `destination`
 * defaults to stdout; tests pass a stream to read what the server wrote.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...LOG_REDACT_PATHS], censor: REDACTED },
    serializers: { err: serializeError },
    hooks: { streamWrite: scrubLogLine },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Driver errors carry the statement's values (TypeORM's `parameters`, mysql2's `sql` with the values
 * inlined) and GraphQL errors the request's `variables`: dropped, at any depth, from every logged error.
 */
const ERROR_PROPERTIES_NEVER_LOGGED = new Set(['parameters', 'sql', 'variables']);

/** A copy without those properties: the values below may be the application's own objects, never changed here. */
function withoutStatementValues(value: unknown, depth: number): unknown {
  if (!value || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) return value.map((item) => withoutStatementValues(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (!ERROR_PROPERTIES_NEVER_LOGGED.has(key)) copy[key] = withoutStatementValues(item, depth + 1);
  }
  return copy;
}

function serializeError(error: unknown): unknown {
  return withoutStatementValues(pino.stdSerializers.err(error as Error), 0);
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
  | 'exports'
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
  | 'audit'
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
      await services.auth.close();
      // After the requests and the ledger writer: the reads they made are in the buffer until now.
      await services.audit.close();
      log.info('shutdown: audit events written');
      await dataSource.destroy();
      log.info('shutdown: database pool closed');
      if (redis) {
        await redis.quit();
        log.info('shutdown: Redis closed');
      }
    },
  };
}
