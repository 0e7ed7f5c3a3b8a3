import fs from 'node:fs';
import path from 'node:path';
import { DataSource, type Logger as TypeOrmLogger } from 'typeorm';
import type { Logger } from 'pino';
import { ENTITIES } from './entities';
import { MIGRATIONS } from '../../migrations';
import { DEFAULT_STATEMENT_LIMITS, installMysqlGuards, type StatementLimits } from './mysql-guards';
import { mysqlUrlWithTls } from './mysql-tls';

export type DatabaseKind = 'mysql' | 'sqlite';

export function databaseKindOf(url: string): DatabaseKind {
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) return 'mysql';
  throw new Error(`Unsupported database URL scheme: ${url.split(':')[0]}`);
}

/**
 * Counts the SQL statements a DataSource runs. Tests use it to prove that batched reads do not grow
 * with the number of objects; it also feeds debug logging.
 */
export class StatementCounter implements TypeOrmLogger {
  count = 0;

  constructor(private readonly sink?: Logger) {}

  logQuery(query: string): void {
    this.count += 1;
    this.sink?.trace({ query }, 'sql');
  }
  logQueryError(error: string | Error, query: string): void {
    this.count += 1;
    this.sink?.debug({ err: error, query }, 'sql failed');
  }
  logQuerySlow(time: number, query: string): void {
    this.sink?.warn({ time, query }, 'slow sql');
  }
  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.sink?.info(message);
  }
  log(): void {}
}

export interface DataSourceOptions {
  url: string;
  poolSize?: number;
  logger?: Logger;
  /** Statement time limits and the pool wait bound (MySQL only; see mysql-guards.ts). */
  limits?: Partial<StatementLimits>;
}

/**
 * The one DataSource factory. BIGINT values come back as strings from mysql2 and as bigint from
 * better-sqlite3 (safe integers on); the bigint column transformer turns both into bigint.
 */
export function createDataSource(options: DataSourceOptions): { dataSource: DataSource; statements: StatementCounter } {
  const statements = new StatementCounter(options.logger);
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    logging: ['query', 'error'] as ('query' | 'error')[],
    logger: statements,
    maxQueryExecutionTime: 1000,
  };
  const kind = databaseKindOf(options.url);
  if (kind === 'sqlite') {
    const file = options.url.slice('sqlite:'.length);
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const dataSource = new DataSource({
      ...common,
      type: 'better-sqlite3',
      database: file,
      // better-sqlite3 waits this long for another process's write lock before SQLITE_BUSY.
      timeout: 5000,
      prepareDatabase: (db: { pragma(sql: string): unknown; defaultSafeIntegers(on: boolean): unknown }) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        db.defaultSafeIntegers(true);
      },
    });
    return { dataSource, statements };
  }
  const { url, ssl, mode } = mysqlUrlWithTls(options.url.replace(/^mariadb:/, 'mysql:'));
  if (ssl && !ssl.rejectUnauthorized) options.logger?.warn({ sslMode: mode }, 'MySQL TLS without certificate verification: encrypted, but open to impersonation');
  const dataSource = new DataSource({
    ...common,
    type: 'mysql',
    url,
    ...(ssl ? { ssl } : {}),
    charset: 'utf8mb4_bin',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: true,
    poolSize: options.poolSize ?? 20,
    extra: { connectionLimit: options.poolSize ?? 20, waitForConnections: true, enableKeepAlive: true },
  });
  installMysqlGuards(dataSource, { ...DEFAULT_STATEMENT_LIMITS, ...options.limits }, options.logger);
  return { dataSource, statements };
}

export function databaseKindOfSource(dataSource: DataSource): DatabaseKind {
  return dataSource.options.type === 'mysql' ? 'mysql' : 'sqlite';
}

/**
 * For `UPDATE table${primaryKeyHint(kind)} SET … WHERE id IN (…)` on MySQL/MariaDB. Without it the
 * optimizer may walk the whole primary key instead of seeking each id when the list is large next to
 * the table (a young table, a big batch), and an UPDATE locks every row it walks, not only the rows it
 * changes: two ledger batches then deadlocked on accounts neither of them wrote (seen in the tests and
 * in bench:ledger-batch). SQLite has one writer and no such locks.
 */
export function primaryKeyHint(kind: DatabaseKind): string {
  return kind === 'mysql' ? ' FORCE INDEX (PRIMARY)' : '';
}
