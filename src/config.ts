/**
 * Every setting Reckon reads, from environment variables, validated once at start-up. The README's
 * configuration table lists the same variables with the same defaults; keep them in step.
 */
export interface Config {
  /** HTTP port of the API (GraphQL at /graphql). */
  port: number;
  /** Interface to listen on. */
  host: string;
  /**
   * API worker processes (WEB_CONCURRENCY): 1 runs the server in this process; more makes this process
   * a node:cluster primary that prepares the database once and forks that many workers sharing the port.
   */
  webConcurrency: number;
  /** `mysql://user:pass@host:port/db` or `sqlite:path` (`sqlite::memory:` for a throwaway database). */
  databaseUrl: string;
  /** Connections in the MySQL pool. */
  databasePoolSize: number;
  /**
   * Server-side time limit of each MySQL/MariaDB statement (MariaDB max_statement_time, MySQL
   * max_execution_time); past it the statement is cancelled and the client gets STATEMENT_TIMEOUT.
   */
  databaseStatementTimeoutMs: number;
  /** The same limit for long jobs that ask for it: `keys reencrypt`, exports and imports (migrations have none). */
  databaseLongStatementTimeoutMs: number;
  /** Longest wait for a free pool connection before SERVICE_UNAVAILABLE. */
  databaseAcquireTimeoutMs: number;
  /**
   * Deadline of a GraphQL query (a read) over HTTP: past it, its running statement is cancelled and
   * it answers STATEMENT_TIMEOUT. Its statements are also cancelled when its client goes away.
   */
  requestTimeoutMs: number;
  /** pino log level. */
  logLevel: string;
  /** Create a demo tenant and print its API key when the database has no tenant yet. */
  seedDemoTenant: boolean;
  /** Most journal entries the ledger writer commits in one database transaction (group commit). */
  ledgerMaxBatchSize: number;
  /** `production` hides introspection and field suggestions, and refuses to generate keys. */
  nodeEnv: string;
  /** Where keys generated for the embedded default are kept (JWT signing keys, encryption keys). */
  dataDir: string;
  auth: AuthConfig;
  limits: LimitsConfig;
  /** Field encryption: `id:base64` keys (first encrypts) and the blind-index key; null = generate under dataDir. */
  encryptionKeys: string | null;
  blindIndexKey: string | null;
  idempotency: {
    /** How long a completed idempotency record answers retries (IDEMPOTENCY_TTL). */
    ttlSeconds: number;
    /** How long an unfinished claim blocks its key before a retry may take it over. */
    leaseSeconds: number;
  };
  payments: {
    /** How long an authorization may be captured before it expires and its hold is released (PAYMENT_AUTHORIZATION_TTL). */
    authorizationTtlSeconds: number;
    /**
     * How old an unsettled gateway operation (a timeout, a crash) must be before the status check asks
     * the gateway about it (PAYMENT_STATUS_CHECK_AFTER). Longer than any gateway call with its retries.
     */
    statusCheckAfterSeconds: number;
    /** How often the expiry and status-check jobs run (PAYMENT_JOBS_INTERVAL_MS). */
    jobsIntervalMs: number;
    /** Attempts per gateway call when the outcome is unknown (timeouts, 5xx), the first included (GATEWAY_MAX_ATTEMPTS). */
    gatewayMaxAttempts: number;
    /** How long the simulator's tok_slow waits (SIMULATOR_SLOW_MS). */
    simulatorSlowMs: number;
  };
  invoices: {
    /** How often each API process sweeps for OPEN invoices past their due date to emit invoice.overdue (INVOICE_OVERDUE_SWEEP_MS). */
    overdueSweepIntervalMs: number;
  };
  statementUploads: {
    /** The largest file POST /bank-accounts/:id/statements takes, decoded (STATEMENT_UPLOAD_MAX_BYTES). */
    maxBytes: number;
    /** The largest camt or OFX file, read whole by fast-xml-parser; CSV and MT940 stream at any size (STATEMENT_XML_MAX_BYTES). */
    wholeDocumentMaxBytes: number;
    /** Where uploads wait on disk while they are imported (STATEMENT_SPOOL_DIR); the system's temporary directory when unset. */
    spoolDirectory: string | null;
  };
  exports: {
    /** Postings (trial balance lines: up to 500) an export reads per statement and writes before reading on (EXPORT_PAGE_ROWS). */
    pageRows: number;
  };
  /** Redis for pub/sub and rate limits; null keeps both in process memory (one process only). */
  redisUrl: string | null;
  /**
   * How often an open WebSocket connection checks that its credential still holds (not revoked, not
   * expired); the connection is closed with 4403 when it does not. Expiry itself is also timed exactly.
   */
  wsCredentialCheckIntervalMs: number;
  /**
   * On SIGTERM or SIGINT, how long the server may take to finish the requests in flight, close its
   * WebSockets, drain the ledger writer and close its pools before it exits anyway, with code 1.
   */
  shutdownTimeoutMs: number;
  /**
   * Which proxies in front of the server are trusted to give the client's address in
   * X-Forwarded-For (express's `trust proxy`): false (the default) takes the TCP peer's address and
   * ignores the header; true trusts every hop; a number trusts that many hops; a string lists trusted
   * addresses or subnets ("loopback", "10.0.0.0/8, 192.168.1.1"). The address is what failed
   * authentications are counted and locked by.
   */
  trustProxy: boolean | number | string;
  /** Where `npm run build` wrote the dashboard that GET /dashboard serves (DASHBOARD_DIR). */
  dashboardDirectory: string;
  metrics: {
    /**
     * Bearer token GET /metrics requires (METRICS_TOKEN), at least 32 characters. Unset, /metrics refuses
     * every scrape (403): operational figures (error rates, payment volumes, open flags) are not public.
     */
    token: string | null;
    /** Figures read from the database at scrape (open flags, accuracy, payments in flight) are re-read at most this often (METRICS_DB_READ_INTERVAL_MS). */
    databaseReadIntervalMs: number;
  };
  audit: {
    /** Audit events older than this many days are archived to a signed file and pruned (AUDIT_RETENTION_DAYS). */
    retentionDays: number;
    /** Where the retention job writes its signed archives (AUDIT_ARCHIVE_DIR); DATA_DIR/audit-archive when unset. */
    archiveDir: string;
    /** How often buffered audit events (reads, failed authentications) are written (AUDIT_FLUSH_INTERVAL_MS). */
    flushIntervalMs: number;
    /** How often each API process runs the retention job (AUDIT_RETENTION_INTERVAL_MS). */
    retentionIntervalMs: number;
  };
  webhooks: WebhooksConfig;
  /** PEM files: when both are set the server speaks HTTPS and WSS. */
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
}

export interface AuthConfig {
  /** JSON array of private JWKs (ES256 or EdDSA, each with a kid); the first signs, all verify. Null = generate under dataDir. */
  jwtSigningKeys: string | null;
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSeconds: number;
  /** Optional second issuer whose tokens are accepted, verified against its JWKS URL. */
  external: {
    jwksUrl: string;
    issuer: string;
    audience: string;
    tenantClaim: string;
    scopeClaim: string;
    algorithms: string[];
  } | null;
  /**
   * The in-process cache of authentication verdicts (README, Security): without Redis a process trusts
   * an entry for `ttlMs`, with Redis for `redisTtlMs` (changes are announced on a channel; the TTL is
   * only a backstop for a lost message).
   */
  cache: {
    /** AUTH_CACHE_MAX_ENTRIES; 0 turns the cache off. */
    maxEntries: number;
    /** AUTH_CACHE_TTL_MS: the staleness bound across processes without Redis. */
    ttlMs: number;
    /** AUTH_CACHE_REDIS_TTL_MS. */
    liveFeedTtlMs: number;
  };
}

/** Outbound webhook delivery (README, Webhooks). */
export interface WebhooksConfig {
  /**
   * Allow endpoint URLs that are or resolve to loopback, private (RFC 1918, unique-local), link-local
   * (cloud metadata included), multicast or unspecified addresses (WEBHOOK_ALLOW_PRIVATE_NETWORKS).
   * Development and tests only: in production it lets any admin make the server call its own network.
   */
  allowPrivateNetworks: boolean;
  /** How often each process looks for deliveries that are due (WEBHOOK_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** Deliveries one process sends at once (WEBHOOK_CONCURRENCY). */
  concurrency: number;
  /** One attempt's bound, connect to last response byte (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** The first retry's ceiling; each later one doubles it, full jitter below (WEBHOOK_RETRY_BASE_MS). */
  retryBaseMs: number;
  /** The ceiling of any one wait between attempts (WEBHOOK_RETRY_MAX_DELAY_MS). */
  retryMaxDelayMs: number;
  /** How long after its event (or a redelivery) a delivery is retried before it is dead-lettered (WEBHOOK_RETRY_BUDGET). */
  retryBudgetMs: number;
}

export interface LimitsConfig {
  /** Requests per second per credential; 0 turns the limit off. */
  requestsPerSecond: number;
  /**
   * Failed authentications for one key prefix or OAuth client id from one source address before that
   * pair is locked (the same credential from other addresses is not).
   */
  lockoutAttempts: number;
  /** Failed authentications from one source address, whatever the credential, before the address is locked. */
  lockoutSourceAttempts: number;
  /** How long a lock lasts, from the failure that locks (and the window failures are counted in). */
  lockoutSeconds: number;
  queryMaxDepth: number;
  queryMaxCost: number;
  queryMaxAliases: number;
  queryMaxTokens: number;
  queryMaxDirectives: number;
  /** Largest GraphQL document accepted, in bytes. */
  queryMaxBytes: number;
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

/** A duration in seconds: "90", "90s", "15m", "24h" or "7d". */
function readDuration(env: NodeJS.ProcessEnv, name: string, fallbackSeconds: number, minSeconds: number, maxSeconds: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackSeconds;
  const match = /^(\d+)(s|m|h|d)?$/.exec(raw.trim());
  const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!Number.isInteger(seconds) || seconds < minSeconds || seconds > maxSeconds) {
    throw new Error(`${name} must be a duration such as 90s, 15m, 24h or 7d, between ${minSeconds} s and ${maxSeconds} s; got "${raw}"`);
  }
  return seconds;
}

/** TRUST_PROXY: false (default), true, a number of hops, or a comma-separated list of addresses and subnets. */
function readTrustProxy(env: NodeJS.ProcessEnv): boolean | number | string {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (raw === '' || ['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  if (['true', 'yes'].includes(raw.toLowerCase())) return true;
  if (/^\d+$/.test(raw)) return readInteger(env, 'TRUST_PROXY', 0, 1, 100);
  if (!/^[0-9A-Za-z.:/, ]+$/.test(raw)) {
    throw new Error('TRUST_PROXY must be true, false, a number of hops, or addresses and subnets such as "loopback, 10.0.0.0/8"');
  }
  return raw;
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
  const redisUrl = env.REDIS_URL || null;
  return {
    port: readInteger(env, 'PORT', 4000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    webConcurrency: readWebConcurrency(env, databaseUrl, redisUrl),
    databaseUrl,
    databasePoolSize: readInteger(env, 'DATABASE_POOL_SIZE', 20, 1, 1000),
    ...readStatementLimits(env),
    logLevel,
    seedDemoTenant: readBoolean(env, 'SEED_DEMO_TENANT', true),
    ledgerMaxBatchSize: readInteger(env, 'LEDGER_MAX_BATCH_SIZE', 200, 1, 5000),
    nodeEnv: env.NODE_ENV || 'development',
    dataDir: env.DATA_DIR || './data',
    dashboardDirectory: env.DASHBOARD_DIR || './dist/dashboard',
    auth: {
      jwtSigningKeys: env.JWT_SIGNING_KEYS || null,
      jwtIssuer: env.JWT_ISSUER || 'reckon',
      jwtAudience: env.JWT_AUDIENCE || 'reckon-api',
      accessTokenTtlSeconds: readInteger(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 60, 86400),
      external: readExternalIssuer(env),
      cache: {
        maxEntries: readInteger(env, 'AUTH_CACHE_MAX_ENTRIES', 10_000, 0, 10_000_000),
        ttlMs: readInteger(env, 'AUTH_CACHE_TTL_MS', 1000, 0, 3_600_000),
        liveFeedTtlMs: readInteger(env, 'AUTH_CACHE_REDIS_TTL_MS', 60_000, 0, 3_600_000),
      },
    },
    limits: {
      requestsPerSecond: readInteger(env, 'RATE_LIMIT_PER_SECOND', 200, 0, 1_000_000),
      lockoutAttempts: readInteger(env, 'AUTH_LOCKOUT_ATTEMPTS', 10, 1, 1000),
      lockoutSourceAttempts: readInteger(env, 'AUTH_LOCKOUT_SOURCE_ATTEMPTS', 100, 1, 100_000),
      lockoutSeconds: readInteger(env, 'AUTH_LOCKOUT_SECONDS', 1800, 1, 86400 * 7),
      queryMaxDepth: readInteger(env, 'QUERY_MAX_DEPTH', 12, 2, 100),
      queryMaxCost: readInteger(env, 'QUERY_MAX_COST', 50_000, 10, 10_000_000),
      queryMaxAliases: readInteger(env, 'QUERY_MAX_ALIASES', 30, 1, 1000),
      queryMaxTokens: readInteger(env, 'QUERY_MAX_TOKENS', 5000, 100, 1_000_000),
      queryMaxDirectives: readInteger(env, 'QUERY_MAX_DIRECTIVES', 20, 0, 1000),
      queryMaxBytes: readInteger(env, 'QUERY_MAX_BYTES', 100_000, 1000, 10_000_000),
    },
    idempotency: {
      ttlSeconds: readDuration(env, 'IDEMPOTENCY_TTL', 24 * 3600, 60, 30 * 24 * 3600),
      leaseSeconds: readDuration(env, 'IDEMPOTENCY_LEASE', 60, 5, 3600),
    },
    payments: {
      authorizationTtlSeconds: readDuration(env, 'PAYMENT_AUTHORIZATION_TTL', 7 * 24 * 3600, 60, 31 * 24 * 3600),
      statusCheckAfterSeconds: readDuration(env, 'PAYMENT_STATUS_CHECK_AFTER', 300, 1, 24 * 3600),
      jobsIntervalMs: readInteger(env, 'PAYMENT_JOBS_INTERVAL_MS', 30_000, 50, 3_600_000),
      gatewayMaxAttempts: readInteger(env, 'GATEWAY_MAX_ATTEMPTS', 3, 1, 10),
      simulatorSlowMs: readInteger(env, 'SIMULATOR_SLOW_MS', 1500, 0, 60_000),
    },
    invoices: {
      overdueSweepIntervalMs: readInteger(env, 'INVOICE_OVERDUE_SWEEP_MS', 60_000, 50, 86_400_000),
    },
    statementUploads: {
      maxBytes: readInteger(env, 'STATEMENT_UPLOAD_MAX_BYTES', 1024 * 1024 * 1024, 1024 * 1024, 64 * 1024 * 1024 * 1024),
      wholeDocumentMaxBytes: readInteger(env, 'STATEMENT_XML_MAX_BYTES', 64 * 1024 * 1024, 1024 * 1024, 1024 * 1024 * 1024),
      spoolDirectory: env.STATEMENT_SPOOL_DIR || null,
    },
    exports: {
      pageRows: readInteger(env, 'EXPORT_PAGE_ROWS', 2000, 10, 10_000),
    },
    encryptionKeys: env.ENCRYPTION_KEYS || null,
    blindIndexKey: env.BLIND_INDEX_KEY || null,
    redisUrl,
    wsCredentialCheckIntervalMs: readInteger(env, 'WS_CREDENTIAL_CHECK_INTERVAL_MS', 5000, 50, 3_600_000),
    shutdownTimeoutMs: readInteger(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    trustProxy: readTrustProxy(env),
    metrics: readMetrics(env),
    audit: {
      retentionDays: readInteger(env, 'AUDIT_RETENTION_DAYS', 400, 1, 36_500),
      archiveDir: env.AUDIT_ARCHIVE_DIR || `${(env.DATA_DIR || './data').replace(/\/+$/, '')}/audit-archive`,
      flushIntervalMs: readInteger(env, 'AUDIT_FLUSH_INTERVAL_MS', 1000, 10, 60_000),
      retentionIntervalMs: readInteger(env, 'AUDIT_RETENTION_INTERVAL_MS', 3_600_000, 1000, 86_400_000),
    },
    webhooks: readWebhooks(env),
    ...readTls(env),
  };
}

/**
 * WEB_CONCURRENCY: more than one process is refused where it would be wrong rather than slow.
 * SQLite: the server queues its writes behind each other inside the process (one connection, one
 * writer); workers on one file would meet at its file lock instead, where a transaction that read before
 * another process wrote fails with SQLITE_BUSY rather than waiting, and SQLite writes one at a time
 * anyway. Without Redis: subscriptions, rate limits and lockouts live in each process's memory, so a
 * subscriber would miss what another worker wrote and the limits would be N times looser.
 */
function readWebConcurrency(env: NodeJS.ProcessEnv, databaseUrl: string, redisUrl: string | null): number {
  const workers = readInteger(env, 'WEB_CONCURRENCY', 1, 1, 256);
  if (workers === 1) return workers;
  if (databaseUrl.startsWith('sqlite:')) {
    throw new Error(
      `WEB_CONCURRENCY=${workers} needs a MySQL or MariaDB DATABASE_URL: SQLite takes one API process (its writes are queued inside the process, ` +
        'and several processes on one file fail with SQLITE_BUSY under load). Set WEB_CONCURRENCY=1, or move to MySQL (README, Running several processes or machines).',
    );
  }
  if (!redisUrl) {
    throw new Error(
      `WEB_CONCURRENCY=${workers} needs REDIS_URL: subscriptions, rate limits and lockouts are shared between processes through Redis; ` +
        'without it a subscriber would miss events written through another worker and every limit would be per worker (README, Running several processes or machines).',
    );
  }
  return workers;
}

function readExternalIssuer(env: NodeJS.ProcessEnv): AuthConfig['external'] {
  const jwksUrl = env.EXTERNAL_JWKS_URL;
  if (!jwksUrl) return null;
  if (!/^https?:\/\//.test(jwksUrl)) throw new Error('EXTERNAL_JWKS_URL must be an http(s) URL');
  const issuer = env.EXTERNAL_JWT_ISSUER;
  const audience = env.EXTERNAL_JWT_AUDIENCE;
  if (!issuer || !audience) throw new Error('EXTERNAL_JWKS_URL needs EXTERNAL_JWT_ISSUER and EXTERNAL_JWT_AUDIENCE');
  const algorithms = (env.EXTERNAL_JWT_ALGORITHMS || 'RS256,ES256').split(',').map((a) => a.trim());
  const allowed = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
  const bad = algorithms.filter((a) => !allowed.includes(a));
  if (bad.length) throw new Error(`EXTERNAL_JWT_ALGORITHMS: ${bad.join(', ')} not allowed; use asymmetric ones: ${allowed.join(', ')}`);
  return {
    jwksUrl,
    issuer,
    audience,
    tenantClaim: env.EXTERNAL_TENANT_CLAIM || 'tenant_id',
    scopeClaim: env.EXTERNAL_SCOPE_CLAIM || 'scope',
    algorithms,
  };
}

function readStatementLimits(
  env: NodeJS.ProcessEnv,
): Pick<Config, 'databaseStatementTimeoutMs' | 'databaseLongStatementTimeoutMs' | 'databaseAcquireTimeoutMs' | 'requestTimeoutMs'> {
  const databaseStatementTimeoutMs = readInteger(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5000, 100, 3_600_000);
  const databaseLongStatementTimeoutMs = readInteger(env, 'DATABASE_LONG_STATEMENT_TIMEOUT_MS', 60_000, 100, 86_400_000);
  if (databaseLongStatementTimeoutMs < databaseStatementTimeoutMs) {
    throw new Error(
      `DATABASE_LONG_STATEMENT_TIMEOUT_MS (${databaseLongStatementTimeoutMs}) must not be shorter than DATABASE_STATEMENT_TIMEOUT_MS (${databaseStatementTimeoutMs})`,
    );
  }
  return {
    databaseStatementTimeoutMs,
    databaseLongStatementTimeoutMs,
    databaseAcquireTimeoutMs: readInteger(env, 'DATABASE_ACQUIRE_TIMEOUT_MS', 3000, 50, 600_000),
    requestTimeoutMs: readInteger(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
  };
}

const METRICS_TOKEN_MIN_LENGTH = 32;

function readWebhooks(env: NodeJS.ProcessEnv): WebhooksConfig {
  const timeoutMs = readInteger(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000);
  const retryBaseMs = readInteger(env, 'WEBHOOK_RETRY_BASE_MS', 30_000, 10, 3_600_000);
  const retryMaxDelayMs = readInteger(env, 'WEBHOOK_RETRY_MAX_DELAY_MS', 3_600_000, 10, 86_400_000);
  if (retryMaxDelayMs < retryBaseMs) throw new Error(`WEBHOOK_RETRY_MAX_DELAY_MS (${retryMaxDelayMs}) must not be shorter than WEBHOOK_RETRY_BASE_MS (${retryBaseMs})`);
  return {
    allowPrivateNetworks: readBoolean(env, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    pollIntervalMs: readInteger(env, 'WEBHOOK_POLL_INTERVAL_MS', 1000, 20, 600_000),
    concurrency: readInteger(env, 'WEBHOOK_CONCURRENCY', 8, 1, 200),
    timeoutMs,
    retryBaseMs,
    retryMaxDelayMs,
    // A duration like IDEMPOTENCY_TTL ("3d", "12h", "2s"); three days is what a receiver can count on.
    retryBudgetMs: readDuration(env, 'WEBHOOK_RETRY_BUDGET', 3 * 86400, 1, 30 * 86400) * 1000,
  };
}

function readMetrics(env: NodeJS.ProcessEnv): Config['metrics'] {
  const token = env.METRICS_TOKEN || null;
  if (token !== null && (token.length < METRICS_TOKEN_MIN_LENGTH || !/^[\x21-\x7E]+$/.test(token))) {
    throw new Error(`METRICS_TOKEN must be at least ${METRICS_TOKEN_MIN_LENGTH} printable characters without spaces (for example: openssl rand -hex 32)`);
  }
  return { token, databaseReadIntervalMs: readInteger(env, 'METRICS_DB_READ_INTERVAL_MS', 15_000, 0, 3_600_000) };
}

function readTls(env: NodeJS.ProcessEnv): Pick<Config, 'tlsCertFile' | 'tlsKeyFile'> {
  const tlsCertFile = env.TLS_CERT_FILE || null;
  const tlsKeyFile = env.TLS_KEY_FILE || null;
  if (Boolean(tlsCertFile) !== Boolean(tlsKeyFile)) throw new Error('TLS_CERT_FILE and TLS_KEY_FILE are set together or not at all');
  return { tlsCertFile, tlsKeyFile };
}
