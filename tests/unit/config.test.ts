import { loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('defaults to the embedded SQLite database on port 4000', () => {
    const config = loadConfig({});
    expect(config.databaseUrl).toBe('sqlite:./data/reckon.sqlite');
    expect(config.port).toBe(4000);
    expect(config.seedDemoTenant).toBe(true);
    expect(config.shutdownTimeoutMs).toBe(10_000);
    expect(config.databaseStatementTimeoutMs).toBe(5000);
    expect(config.databaseLongStatementTimeoutMs).toBe(60_000);
    expect(config.databaseAcquireTimeoutMs).toBe(3000);
    expect(config.requestTimeoutMs).toBe(30_000);
    expect(config.exports.pageRows).toBe(2000);
  });

  it.each([
    ['86400', 86400],
    ['90s', 90],
    ['15m', 900],
    ['24h', 86400],
    ['7d', 604800],
  ])('reads IDEMPOTENCY_TTL=%s as %s seconds', (value, seconds) => {
    expect(loadConfig({ IDEMPOTENCY_TTL: value }).idempotency.ttlSeconds).toBe(seconds);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'postgres://x' }, 'DATABASE_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ SEED_DEMO_TENANT: 'maybe' }, 'SEED_DEMO_TENANT'],
    [{ LEDGER_MAX_BATCH_SIZE: '0' }, 'LEDGER_MAX_BATCH_SIZE'],
    [{ EXPORT_PAGE_ROWS: '5' }, 'EXPORT_PAGE_ROWS'],
    [{ EXPORT_PAGE_ROWS: '20000' }, 'EXPORT_PAGE_ROWS'],
    [{ IDEMPOTENCY_TTL: '1 day' }, 'IDEMPOTENCY_TTL'],
    [{ IDEMPOTENCY_TTL: '10s' }, 'IDEMPOTENCY_TTL'],
    [{ IDEMPOTENCY_LEASE: '2h' }, 'IDEMPOTENCY_LEASE'],
    [{ SHUTDOWN_TIMEOUT_MS: '10s' }, 'SHUTDOWN_TIMEOUT_MS'],
    [{ SHUTDOWN_TIMEOUT_MS: '0' }, 'SHUTDOWN_TIMEOUT_MS'],
    [{ DATABASE_STATEMENT_TIMEOUT_MS: '5s' }, 'DATABASE_STATEMENT_TIMEOUT_MS'],
    [{ DATABASE_STATEMENT_TIMEOUT_MS: '0' }, 'DATABASE_STATEMENT_TIMEOUT_MS'],
    [{ DATABASE_STATEMENT_TIMEOUT_MS: '10000', DATABASE_LONG_STATEMENT_TIMEOUT_MS: '5000' }, 'DATABASE_LONG_STATEMENT_TIMEOUT_MS'],
    [{ DATABASE_ACQUIRE_TIMEOUT_MS: '-1' }, 'DATABASE_ACQUIRE_TIMEOUT_MS'],
    [{ REQUEST_TIMEOUT_MS: 'never' }, 'REQUEST_TIMEOUT_MS'],
    [{ METRICS_TOKEN: 'short-token' }, 'METRICS_TOKEN'],
    [{ METRICS_TOKEN: `${'a'.repeat(20)} ${'b'.repeat(20)}` }, 'METRICS_TOKEN'],
    [{ METRICS_DB_READ_INTERVAL_MS: '15s' }, 'METRICS_DB_READ_INTERVAL_MS'],
    [{ AUTH_CACHE_MAX_ENTRIES: '-1' }, 'AUTH_CACHE_MAX_ENTRIES'],
    [{ AUTH_CACHE_TTL_MS: '1s' }, 'AUTH_CACHE_TTL_MS'],
    [{ AUTH_CACHE_REDIS_TTL_MS: '7200000' }, 'AUTH_CACHE_REDIS_TTL_MS'],
    [{ WEB_CONCURRENCY: '0' }, 'WEB_CONCURRENCY'],
    [{ WEB_CONCURRENCY: 'auto' }, 'WEB_CONCURRENCY'],
  ])('refuses %j at start-up, naming the variable', (env, name) => {
    expect(() => loadConfig(env)).toThrow(name);
  });

  it('serves the dashboard from ./dist/dashboard, where `npm run build` writes it, unless DASHBOARD_DIR names another directory', () => {
    expect(loadConfig({}).dashboardDirectory).toBe('./dist/dashboard');
    expect(loadConfig({ DASHBOARD_DIR: '/srv/reckon/dashboard' }).dashboardDirectory).toBe('/srv/reckon/dashboard');
  });

  it('keeps /metrics closed unless METRICS_TOKEN is set, and reads database figures at most every 15 s', () => {
    expect(loadConfig({}).metrics).toEqual({ token: null, databaseReadIntervalMs: 15_000 });
    const token = 'f'.repeat(64);
    expect(loadConfig({ METRICS_TOKEN: token, METRICS_DB_READ_INTERVAL_MS: '0' }).metrics).toEqual({ token, databaseReadIntervalMs: 0 });
  });

  it('caches 10,000 authentication verdicts, trusted 1 s without Redis and 60 s with it, unless told otherwise', () => {
    expect(loadConfig({}).auth.cache).toEqual({ maxEntries: 10_000, ttlMs: 1000, liveFeedTtlMs: 60_000 });
    expect(loadConfig({ AUTH_CACHE_MAX_ENTRIES: '0', AUTH_CACHE_TTL_MS: '250', AUTH_CACHE_REDIS_TTL_MS: '5000' }).auth.cache).toEqual({
      maxEntries: 0,
      ttlMs: 250,
      liveFeedTtlMs: 5000,
    });
  });

  it('runs one process unless WEB_CONCURRENCY says more, and more only on MySQL with Redis', () => {
    expect(loadConfig({}).webConcurrency).toBe(1);
    expect(loadConfig({ WEB_CONCURRENCY: '1' }).webConcurrency).toBe(1);
    const mysql = { DATABASE_URL: 'mysql://reckon@db:3306/reckon', REDIS_URL: 'redis://cache:6379' };
    expect(loadConfig({ ...mysql, WEB_CONCURRENCY: '4' }).webConcurrency).toBe(4);
    expect(() => loadConfig({ WEB_CONCURRENCY: '2', REDIS_URL: 'redis://cache:6379' })).toThrow(
      'WEB_CONCURRENCY=2 needs a MySQL or MariaDB DATABASE_URL: SQLite takes one API process',
    );
    expect(() => loadConfig({ DATABASE_URL: mysql.DATABASE_URL, WEB_CONCURRENCY: '2' })).toThrow('WEB_CONCURRENCY=2 needs REDIS_URL');
  });
});
