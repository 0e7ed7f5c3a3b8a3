/**
 * Every setting Reckon reads, from environment variables, validated once at start-up. The README's
 * configuration table lists the same variables with the same defaults; keep them in step.
 */
export interface Config {
  /** HTTP port of the API (GraphQL at /graphql). */
  port: number;
  /** Interface to listen on. */
  host: string;
  /** `mysql://user:pass@host:port/db` or `sqlite:path` (`sqlite::memory:` for a throwaway database). */
  databaseUrl: string;
  /** Connections in the MySQL pool. */
  databasePoolSize: number;
  /** pino log level. */
  logLevel: string;
  /** Create a demo tenant and print its API key when the database has no tenant yet. */
  seedDemoTenant: boolean;
  /** Most journal entries the ledger writer commits in one database transaction (group commit). */
  ledgerMaxBatchSize: number;
  /** `production` hides introspection and stack details; anything else is development. */
  nodeEnv: string;
}

const DEFAULT_SQLITE_URL = 'sqlite:./data/reckon.sqlite';

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function readBoolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env.DATABASE_URL || DEFAULT_SQLITE_URL;
  if (!/^(mysql|mariadb):\/\//.test(databaseUrl) && !databaseUrl.startsWith('sqlite:')) {
    throw new Error(`DATABASE_URL must start with mysql:// or sqlite:, got "${databaseUrl.split(':')[0]}:…"`);
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new Error(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  return {
    port: readInteger(env, 'PORT', 4000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    databaseUrl,
    databasePoolSize: readInteger(env, 'DATABASE_POOL_SIZE', 20, 1, 1000),
    logLevel,
    seedDemoTenant: readBoolean(env, 'SEED_DEMO_TENANT', true),
    ledgerMaxBatchSize: readInteger(env, 'LEDGER_MAX_BATCH_SIZE', 200, 1, 5000),
    nodeEnv: env.NODE_ENV || 'development',
  };
}
