import type { DataSource, EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../common/errors';
import { databaseKindOfSource } from './data-source';

/** MySQL/MariaDB errors that mean "the transaction lost a race; running it again will do". */
const MYSQL_RETRYABLE_ERRNOS = new Set([1213 /* ER_LOCK_DEADLOCK */, 1205 /* ER_LOCK_WAIT_TIMEOUT */]);
/**
 * Errors that mean the database could not be reached or the connection died mid-transaction: the
 * socket codes Node gives mysql2 (a reset, a refused or timed-out connect, a write to a closed socket)
 * and mysql2's own code for a socket the server closed.
 */
const CONNECTION_ERROR_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'POOL_CLOSED',
]);
/** Server errors of the same kind, by number: too many connections, shutdown in progress, connection killed. */
const CONNECTION_ERRNOS = new Set([1040, 1053, 1927]);
/**
 * mysql2 raises some of these without a code: a statement sent on a connection that has already died
 * (the rest of a transaction after the reset), and a pool closed by shutdown.
 */
const CONNECTION_ERROR_MESSAGES = [
  "Can't add new command when connection is in closed state",
  "Can't write in closed state",
  'Pool is closed',
  'Connection lost',
];
/** TypeORM's refusals once the DataSource is destroyed (shutdown): the database is gone for this process. */
const NOT_CONNECTED_ERROR_NAMES = new Set(['CannotExecuteNotConnectedError', 'ConnectionIsNotSetError']);

interface DriverErrorShape {
  errno?: number;
  code?: string;
  /** mysql2 marks an error fatal when the connection it happened on is dead. */
  fatal?: boolean;
  name?: string;
  message?: string;
  driverError?: DriverErrorShape;
}

export function isRetryableConflict(error: unknown): boolean {
  const e = error as DriverErrorShape | undefined;
  if (!e) return false;
  if (typeof e.errno === 'number' && MYSQL_RETRYABLE_ERRNOS.has(e.errno)) return true;
  if (typeof e.code === 'string' && (e.code === 'SQLITE_BUSY' || e.code.startsWith('SQLITE_BUSY_'))) return true;
  return e.driverError ? isRetryableConflict(e.driverError) : false;
}

/**
 * True when the error means the database connection was lost or could not be had. A statement that
 * failed so may or may not have run; a transaction that failed so never committed, unless the loss
 * came with the COMMIT itself, which is why clients retry with their idempotency key.
 */
export function isConnectionError(error: unknown): boolean {
  const e = error as DriverErrorShape | undefined;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && CONNECTION_ERROR_CODES.has(e.code)) return true;
  if (typeof e.errno === 'number' && CONNECTION_ERRNOS.has(e.errno)) return true;
  if (e.fatal === true) return true;
  if (typeof e.name === 'string' && NOT_CONNECTED_ERROR_NAMES.has(e.name)) return true;
  if (typeof e.message === 'string' && CONNECTION_ERROR_MESSAGES.some((text) => e.message?.startsWith(text))) return true;
  return e.driverError ? isConnectionError(e.driverError) : false;
}

/**
 * A statement stopped by its time limit or cancelled: MariaDB's max_statement_time (1969, no code
 * name in mysql2), MySQL's max_execution_time (3024) and KILL QUERY (1317), which is how a statement
 * past the client-side bound, or of a request that was abandoned or ran past its deadline, is stopped.
 */
const STATEMENT_TIMEOUT_ERRNOS = new Set([1969, 3024, 1317]);

interface CancelledStatementShape extends DriverErrorShape {
  /** Set by the statement guard (mysql-guards.ts): what the client is told, and the limit that applied. */
  clientMessage?: string;
  limitMs?: number;
}

function findStatementTimeout(error: unknown): CancelledStatementShape | null {
  const e = error as CancelledStatementShape | undefined;
  if (!e || typeof e !== 'object') return null;
  if (typeof e.errno === 'number' && STATEMENT_TIMEOUT_ERRNOS.has(e.errno)) return e;
  return e.driverError ? findStatementTimeout(e.driverError) : null;
}

export function isStatementTimeout(error: unknown): boolean {
  return findStatementTimeout(error) !== null;
}

/** STATEMENT_TIMEOUT (retryable) for a statement that ran out of time or was cancelled. */
export function statementTimeoutError(error: unknown): AppError {
  const found = findStatementTimeout(error);
  if (found?.clientMessage) return new AppError(ErrorCode.STATEMENT_TIMEOUT, found.clientMessage);
  const limit = found?.limitMs ? ` (${found.limitMs} ms)` : '';
  return new AppError(
    ErrorCode.STATEMENT_TIMEOUT,
    `A database statement ran past its time limit${limit} and was cancelled. Retry later; for a read, ask for less (a smaller page, a narrower filter).`,
  );
}

/** True when a unique index refused the write (MySQL 1062, SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY). */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as DriverErrorShape | undefined;
  if (!e) return false;
  if (e.errno === 1062 || e.code === 'ER_DUP_ENTRY') return true;
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return true;
  return e.driverError ? isUniqueViolation(e.driverError) : false;
}

export interface TransactionOptions {
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** Backoff before the second attempt; doubles each time up to maxDelayMs, with full jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * SQLite has one connection per process, and TypeORM runs every query runner over it: two open
 * transactions would interleave. Transactions on SQLite therefore queue behind each other here.
 */
const sqliteQueues = new WeakMap<DataSource, Promise<unknown>>();

/**
 * Runs a write that needs no transaction of its own. On SQLite it still queues behind open
 * transactions, or its statement would join (and roll back with) whichever one is open.
 */
export function serializeOnSqlite<T>(dataSource: DataSource, work: () => Promise<T>): Promise<T> {
  if (databaseKindOfSource(dataSource) !== 'sqlite') return work();
  const previous = sqliteQueues.get(dataSource) ?? Promise.resolve();
  const next = previous.then(work, work);
  sqliteQueues.set(
    dataSource,
    next.catch(() => undefined),
  );
  return next;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SERVICE_UNAVAILABLE because the database connection was lost. Unlike a lost race, it leaves the
 * outcome of a COMMIT unknown: the loss may have come after the database committed. Callers must not
 * run the same change again on their own (the ledger writer does not split such a batch); the client
 * retries with its idempotency key, which turns an unknown outcome into exactly one effect.
 */
export class DatabaseUnavailableError extends AppError {
  override name = 'DatabaseUnavailableError';

  constructor(
    message = 'The database is unavailable; the change was not confirmed. Retry with the same idempotency key.',
    /** The driver's error, for the log line (databaseOutageCause); never shown to the client. */
    override readonly cause?: unknown,
  ) {
    super(ErrorCode.SERVICE_UNAVAILABLE, message);
  }
}

/**
 * Runs `work` in one database transaction, retrying the whole of it when the database reports a
 * deadlock, a lock-wait timeout or SQLITE_BUSY. `work` must therefore be safe to run again: it reads
 * what it needs inside the transaction. A lost connection is reported as SERVICE_UNAVAILABLE
 * (retryable, DatabaseUnavailableError), never as success, and is not retried here: the database rolls
 * back a transaction whose connection died, but a loss during COMMIT leaves its outcome unknown.
 */
export async function runInTransaction<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 8;
  const baseDelayMs = options.baseDelayMs ?? 5;
  const maxDelayMs = options.maxDelayMs ?? 200;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await serializeOnSqlite(dataSource, () => dataSource.transaction((manager) => work(manager)));
    } catch (error) {
      if (isRetryableConflict(error) && attempt < maxAttempts) {
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        await sleep(Math.random() * ceiling);
        continue;
      }
      // The database rolled the interrupted statement back and TypeORM the transaction.
      if (isStatementTimeout(error)) throw statementTimeoutError(error);
      if (error instanceof AppError) throw error;
      if (isConnectionError(error)) throw new DatabaseUnavailableError(undefined, error);
      if (isRetryableConflict(error)) {
        throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The change kept conflicting with concurrent changes and was not made. Retry.');
      }
      throw error;
    }
  }
}

/**
 * What a log line says of a database outage: the driver's code, number and message (never the
 * statement or its values), or null when `error` is not one (a lost connection, no pool connection in
 * time, a statement stopped by its limit). Follows `cause` and `driverError`.
 */
export function databaseOutageCause(error: unknown): { code?: string; errno?: number; message?: string } | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth += 1) {
    if (isConnectionError(current) || isStatementTimeout(current)) {
      const root = rootDriverError(current);
      return { code: root.code, errno: root.errno, message: typeof root.message === 'string' ? root.message.slice(0, 200) : undefined };
    }
    if (current instanceof DatabaseUnavailableError && !current.cause) return { code: 'SERVICE_UNAVAILABLE', message: current.message };
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

function rootDriverError(error: object): DriverErrorShape {
  let current = error as DriverErrorShape;
  while (current.driverError) current = current.driverError;
  return current;
}
