import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { currentRequestId } from '../common/log-context';
import { currentStatementScope, type StatementScope } from './statement-scope';
import { DatabaseUnavailableError } from './transaction';

/**
 * Bounds on every MySQL/MariaDB statement and on the wait for a pool connection, so that no read runs
 * away and no request hangs for as long as the database is frozen.
 *
 * - Server-side limit: each pooled connection runs under `SET SESSION max_statement_time` (MariaDB, in
 *   seconds) or `max_execution_time` (MySQL 8, in ms, SELECT only), sent once before the connection's
 *   first statement, so it costs nothing per statement. A job under withLongStatements() (or
 *   withoutStatementLimit(), migrations) sets its limit before its own first statement on a
 *   connection, and the next ordinary user sets it back.
 * - Client-side bound: a statement with no answer a second past its limit (a frozen server, or a MySQL
 *   write, which max_execution_time does not cover) is stopped with KILL QUERY from a separate
 *   connection; when even that gets no answer, its connection is closed and the statement fails as a
 *   lost connection (SERVICE_UNAVAILABLE, outcome unknown, like any connection loss).
 * - Cancellation: a statement of a cancellable scope (a GraphQL query) whose signal aborts (its client
 *   went away, its deadline passed) is stopped the same way, and the scope's later statements fail
 *   before they are sent. ROLLBACK is never refused or killed, so a transaction always ends.
 * - A KILL QUERY names a connection, not a statement: a statement that ends just before the KILL
 *   arrives would let the connection go back to the pool, and the KILL hit the next user's statement.
 *   So while a KILL is in flight, the connection sends nothing else; a KILL that finds the connection
 *   idle does nothing (MariaDB and MySQL clear the flag at the connection's next command).
 * - Pool wait: mysql2's pool queues getConnection without a time limit; past DATABASE_ACQUIRE_TIMEOUT_MS
 *   the caller gets SERVICE_UNAVAILABLE, and the connection, should it come later, goes back at once.
 *
 * SQLite has none of this: better-sqlite3 runs each statement synchronously in this process, on a
 * local file, with no way to interrupt it; the queries are the same indexed reads, local and short.
 */
export interface StatementLimits {
  /** DATABASE_STATEMENT_TIMEOUT_MS */
  statementTimeoutMs: number;
  /** DATABASE_LONG_STATEMENT_TIMEOUT_MS, for withLongStatements() */
  longStatementTimeoutMs: number;
  /** DATABASE_ACQUIRE_TIMEOUT_MS */
  acquireTimeoutMs: number;
}

export const DEFAULT_STATEMENT_LIMITS: StatementLimits = { statementTimeoutMs: 5000, longStatementTimeoutMs: 60_000, acquireTimeoutMs: 3000 };

/** How long past its own limit a statement may go unanswered before it is killed from outside. */
const CLIENT_GRACE_MS = 1000;
/** Connect plus KILL QUERY on the separate connection; also the bound of a readiness check. */
const CONTROL_TIMEOUT_MS = 2000;

type QueryCallback = (error: Error | null, rows?: unknown, fields?: unknown) => void;

interface MysqlConnection {
  threadId: number | null;
  query(sql: unknown, values?: unknown, callback?: QueryCallback): unknown;
  destroy(): void;
  release?(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  stream?: { destroy(): void };
  _handshakePacket?: { serverVersion?: string } | null;
}

interface MysqlPool {
  getConnection(callback: (error: Error | null, connection: MysqlConnection) => void): void;
}

interface MysqlDriverShape {
  mysql: { createConnection(options: Record<string, unknown>): MysqlConnection };
  options: Record<string, unknown>;
  createPool(options: Record<string, unknown>): Promise<MysqlPool>;
  createConnectionOptions(options: Record<string, unknown>, credentials: Record<string, unknown>): Record<string, unknown>;
}

/**
 * The refusal when no pool connection came free in time: nothing was sent, nothing was changed. A
 * DatabaseUnavailableError, so the ledger writer fails its batch rather than trying each entry alone.
 */
export function connectionWaitTimeoutError(waitedMs: number): DatabaseUnavailableError {
  return new DatabaseUnavailableError(
    `No database connection came free within ${waitedMs} ms (the database is slow or unreachable); nothing was changed. Retry later.`,
  );
}

interface ConnectionState {
  /** The session's limit as last set; undefined before the first statement. */
  limitMs: number | undefined;
  /** A KILL QUERY in flight for this connection: nothing else is sent on it until it is answered. */
  killing: Promise<void> | null;
}

const POOL_OPTIONS = ['connectionLimit', 'waitForConnections', 'queueLimit', 'maxIdle', 'idleTimeout', 'acquireTimeout'];

/** A connection of its own, outside the pool, for KILL QUERY and readiness: a full pool never blocks them. */
class SideConnection {
  private connection: MysqlConnection | null = null;

  constructor(private readonly open: () => MysqlConnection) {}

  /** Runs one statement, connecting first if needed; a statement unanswered within `timeoutMs` closes the connection. */
  query(sql: string, timeoutMs: number): Promise<unknown> {
    if (!this.connection) {
      const connection = this.open();
      connection.on('error', () => this.discard(connection));
      this.connection = connection;
    }
    const connection = this.connection;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.discard(connection);
        reject(new Error(`The database did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      connection.query(sql, undefined, (error, rows) => {
        clearTimeout(timer);
        if (error) {
          if ((error as { fatal?: boolean }).fatal) this.discard(connection);
          reject(error);
        } else resolve(rows);
      });
    });
  }

  discard(connection: MysqlConnection | null = this.connection): void {
    if (!connection) return;
    if (this.connection === connection) this.connection = null;
    connection.destroy();
    connection.stream?.destroy();
  }
}

export class MysqlGuards {
  private readonly states = new WeakMap<MysqlConnection, ConnectionState>();
  private readonly killer: SideConnection;
  private readonly prober: SideConnection;
  private serverLimitUnsupported = false;

  constructor(
    private readonly driver: MysqlDriverShape,
    private readonly limits: StatementLimits,
    private readonly log?: Logger,
  ) {
    const open = () => {
      const options = this.driver.createConnectionOptions(this.driver.options, this.driver.options);
      for (const name of POOL_OPTIONS) delete options[name];
      return this.driver.mysql.createConnection({ ...options, connectTimeout: CONTROL_TIMEOUT_MS });
    };
    this.killer = new SideConnection(open);
    this.prober = new SideConnection(open);
  }

  /** Wraps the pool TypeORM creates; called from the driver's createPool. */
  guardPool(pool: MysqlPool): MysqlPool {
    const getConnection = pool.getConnection.bind(pool);
    pool.getConnection = (callback) => {
      let settled = false;
      // Read now: the timer's callback runs outside the request's async context.
      const requestId = currentRequestId();
      const timer = setTimeout(() => {
        settled = true;
        this.log?.warn({ requestId, waitedMs: this.limits.acquireTimeoutMs }, 'database outage: no pool connection came free in time');
        callback(connectionWaitTimeoutError(this.limits.acquireTimeoutMs), undefined as unknown as MysqlConnection);
      }, this.limits.acquireTimeoutMs);
      getConnection((error, connection) => {
        if (settled) {
          if (!error) connection.release?.();
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (error) return callback(error, connection);
        this.guardConnection(connection);
        callback(null, connection);
      });
    };
    return pool;
  }

  /** True when a fresh statement on a connection outside the pool is answered within `timeoutMs`. */
  async isReachable(timeoutMs = CONTROL_TIMEOUT_MS): Promise<boolean> {
    try {
      await this.prober.query('SELECT 1', timeoutMs);
      return true;
    } catch {
      this.prober.discard();
      return false;
    }
  }

  close(): void {
    this.killer.discard();
    this.prober.discard();
  }

  private guardConnection(connection: MysqlConnection): void {
    if (this.states.has(connection)) return;
    const state: ConnectionState = { limitMs: undefined, killing: null };
    this.states.set(connection, state);
    const query = connection.query.bind(connection);
    connection.query = (sql: unknown, values?: unknown, callback?: QueryCallback) => {
      if (typeof values === 'function') {
        callback = values as QueryCallback;
        values = undefined;
      }
      // Without a callback (a stream) the caller handles the Query object itself: passed through.
      if (typeof callback !== 'function') return query(sql, values);
      const done = callback;
      const scope = currentStatementScope();
      const start = () => this.run(connection, state, query, scope, sql, values, done);
      if (state.killing) {
        // start() returns mysql2's Query, a thenable that throws when awaited: a promise chain must
        // not resolve to it (the ROLLBACK after a kill came here, and failed now and then with
        // "You have tried to call .then() … on the result of query that is not a promise").
        void state.killing.then(() => {
          start();
        });
        return undefined;
      }
      return start();
    };
  }

  private run(
    connection: MysqlConnection,
    state: ConnectionState,
    query: MysqlConnection['query'],
    scope: StatementScope | undefined,
    sql: unknown,
    values: unknown,
    callback: QueryCallback,
  ): unknown {
    const limitMs = this.limitOf(scope);
    const text = typeof sql === 'string' ? sql : String((sql as { sql?: unknown }).sql ?? '');
    const signal = scope?.cancellable && !/^\s*ROLLBACK\b/i.test(text) ? scope.signal : undefined;
    if (signal?.aborted) {
      process.nextTick(() => callback(cancelledStatementError(signal.reason)));
      return undefined;
    }
    const requestId = currentRequestId();
    const send = (): unknown => {
      let finished = false;
      let cancelled: unknown = null;
      const finish: QueryCallback = (error, rows, fields) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error && cancelled !== null && (error as { errno?: number }).errno === 1317) return callback(cancelledStatementError(cancelled));
        if (error) Object.assign(error, { limitMs });
        callback(error, rows, fields);
      };
      const cancel = (reason: unknown) => {
        if (finished || cancelled !== null) return;
        cancelled = reason;
        // Past its limit, the database is slow or frozen: a warning. A read whose client left is routine.
        if (reason instanceof StatementOverdue) {
          this.log?.warn({ requestId, threadId: connection.threadId, limitMs }, 'database statement overdue: KILL QUERY sent');
        } else {
          this.log?.debug({ requestId, threadId: connection.threadId }, 'database statement of a cancelled request: KILL QUERY sent');
        }
        const killing = this.killQuery(connection).then((killed) => {
          if (killed || finished) return;
          // No answer from the database even to KILL: the statement is given up with its connection.
          this.log?.warn({ requestId, threadId: connection.threadId, limitMs }, 'database outage: no answer to the statement nor to KILL QUERY; connection closed');
          connection.destroy();
          connection.stream?.destroy();
          finish(lostConnectionError(limitMs));
        });
        state.killing = killing;
        void killing.finally(() => {
          if (state.killing === killing) state.killing = null;
        });
      };
      const onAbort = () => cancel(signal?.reason);
      const timer =
        limitMs > 0
          ? setTimeout(
              () => cancel(new StatementOverdue(`A database statement ran past its time limit (${limitMs} ms) and was cancelled. Retry later; for a read, ask for less.`)),
              limitMs + CLIENT_GRACE_MS,
            )
          : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      return query(sql, values, finish);
    };
    if (state.limitMs === limitMs || this.serverLimitUnsupported) return send();
    query(this.sessionLimitSql(connection, limitMs), undefined, (error) => {
      if (error && (error as { errno?: number }).errno === 1193 /* ER_UNKNOWN_SYSTEM_VARIABLE */) {
        this.serverLimitUnsupported = true;
        this.log?.warn({ serverVersion: connection._handshakePacket?.serverVersion }, 'the database has no statement time limit; only the client-side bound applies');
      } else if (error) {
        return callback(error);
      }
      state.limitMs = limitMs;
      send();
    });
    return undefined;
  }

  /** 0: no limit (both servers read 0 so). */
  private limitOf(scope: StatementScope | undefined): number {
    if (scope?.limit === 'none') return 0;
    return scope?.limit === 'long' ? this.limits.longStatementTimeoutMs : this.limits.statementTimeoutMs;
  }

  private sessionLimitSql(connection: MysqlConnection, limitMs: number): string {
    const mariadb = /mariadb/i.test(connection._handshakePacket?.serverVersion ?? '');
    return mariadb ? `SET SESSION max_statement_time = ${limitMs / 1000}` : `SET SESSION max_execution_time = ${Math.round(limitMs)}`;
  }

  /** True when the database confirmed the KILL (or the connection is already gone). */
  private async killQuery(connection: MysqlConnection): Promise<boolean> {
    if (connection.threadId === null) return false;
    try {
      await this.killer.query(`KILL QUERY ${Number(connection.threadId)}`, CONTROL_TIMEOUT_MS);
      return true;
    } catch (error) {
      return (error as { errno?: number }).errno === 1094; /* ER_NO_SUCH_THREAD */
    }
  }
}

class StatementOverdue extends Error {}

/** What a cancelled statement fails with: KILL QUERY's own error number, and the reason for the client. */
function cancelledStatementError(reason: unknown): Error {
  const message = reason instanceof Error ? reason.message : 'The request was cancelled; its database statements were stopped.';
  return Object.assign(new Error(message), { errno: 1317, code: 'ER_QUERY_INTERRUPTED', clientMessage: message });
}

function lostConnectionError(limitMs: number): Error {
  return Object.assign(new Error(`Connection lost: the database answered neither the statement nor KILL QUERY within ${limitMs + CLIENT_GRACE_MS} ms`), {
    code: 'PROTOCOL_CONNECTION_LOST',
    fatal: true,
  });
}

const guards = new WeakMap<DataSource, MysqlGuards>();

/** Installs the guards on a MySQL DataSource before it is initialized; its destroy() closes their connections. */
export function installMysqlGuards(dataSource: DataSource, limits: StatementLimits, log?: Logger): void {
  const driver = dataSource.driver as unknown as MysqlDriverShape;
  const installed = new MysqlGuards(driver, limits, log);
  const createPool = driver.createPool.bind(driver);
  driver.createPool = async (options) => installed.guardPool(await createPool(options));
  const destroy = dataSource.destroy.bind(dataSource);
  dataSource.destroy = async () => {
    installed.close();
    return destroy();
  };
  guards.set(dataSource, installed);
}

/**
 * The readiness check: a statement on a connection of its own, outside the pool, answered within
 * `timeoutMs` (connect included), so that a pool held by hung requests cannot make /readyz hang too.
 * SQLite is a local file: its one connection answers at once.
 */
export async function databaseIsReachable(dataSource: DataSource, timeoutMs = CONTROL_TIMEOUT_MS): Promise<boolean> {
  const installed = guards.get(dataSource);
  if (installed) return installed.isReachable(timeoutMs);
  try {
    await dataSource.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
