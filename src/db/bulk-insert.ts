import type { EntityManager } from 'typeorm';
import { databaseKindOfSource } from './data-source';

/** The part of better-sqlite3's Database this needs. */
interface SqliteDatabase {
  prepare(sql: string): { run(...params: unknown[]): unknown };
}

/** MySQL takes at most 65,535 placeholders per statement. */
const MYSQL_MAX_PLACEHOLDERS = 65_535;
/** Rows per multi-row INSERT on MySQL, below the placeholder limit: one round trip per few hundred rows. */
const MYSQL_ROWS_PER_INSERT = 500;

const sqliteStatements = new WeakMap<object, Map<string, { run(...params: unknown[]): unknown }>>();

/**
 * Inserts many rows into one table, inside the caller's transaction (`manager`): the one way bulk
 * imports write (a statement's lines, a run's matches). On MySQL, multi-row INSERTs of a few hundred
 * rows; on SQLite, one prepared single-row INSERT run per row on the connection itself, which is
 * several times faster there than building and preparing a 9,000-placeholder statement per batch
 * (SQLite has no round trips to save).
 */
export async function insertRows(manager: EntityManager, table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void> {
  if (rows.length === 0) return;
  const placeholders = `(${columns.map(() => '?').join(', ')})`;
  const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES `;
  if (databaseKindOfSource(manager.connection) !== 'mysql') {
    const db = sqliteConnectionOf(manager);
    let statements = sqliteStatements.get(db);
    if (!statements) {
      statements = new Map();
      sqliteStatements.set(db, statements);
    }
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql + placeholders);
      statements.set(sql, statement);
    }
    for (const row of rows) statement.run(...row);
    return;
  }
  const perInsert = Math.max(1, Math.min(MYSQL_ROWS_PER_INSERT, Math.floor(MYSQL_MAX_PLACEHOLDERS / columns.length)));
  for (let start = 0; start < rows.length; start += perInsert) {
    const chunk = rows.slice(start, start + perInsert);
    await manager.query(sql + chunk.map(() => placeholders).join(', '), chunk.flat());
  }
}

/**
 * The better-sqlite3 connection under TypeORM's driver. SQLite here has one connection, and the
 * caller's transaction is open on it, so a statement run on it directly is part of that transaction.
 */
function sqliteConnectionOf(manager: EntityManager): SqliteDatabase {
  const connection = (manager.connection.driver as unknown as { databaseConnection?: SqliteDatabase }).databaseConnection;
  if (!connection) throw new Error('The SQLite driver has no open connection');
  return connection;
}
