import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';

/**
 * Everything a refused request must leave as it was, read straight from the database: each table's
 * row count and a digest of its rows (so a changed balance, status or field shows, not only a new
 * row). What a request writes whatever its outcome (the audit trail, a credential's last use) is
 * left out by the options.
 */
export interface BooksDigest {
  rows: Record<string, number>;
  digests: Record<string, string>;
}

const tablesByDataSource = new WeakMap<DataSource, Promise<string[]>>();

/** The database's tables, read once per data source: requests add rows, never tables. */
function tablesOf(dataSource: DataSource): Promise<string[]> {
  let tables = tablesByDataSource.get(dataSource);
  if (!tables) {
    tables = readTables(dataSource);
    tablesByDataSource.set(dataSource, tables);
  }
  return tables;
}

async function readTables(dataSource: DataSource): Promise<string[]> {
  const rows: Record<string, unknown>[] =
    dataSource.options.type === 'mysql'
      ? await dataSource.query(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'`)
      : await dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
  return rows.map((row) => String(row.name ?? row.NAME ?? row.TABLE_NAME)).sort();
}

function canonical(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('hex');
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value);
}

export interface BooksDigestOptions {
  /** Tables left out whole. */
  ignoredTables: RegExp;
  /** Columns left out of every table's digest (a credential's last use, written on authentication). */
  ignoredColumns: RegExp;
}

export async function takeBooksDigest(dataSource: DataSource, options: BooksDigestOptions): Promise<BooksDigest> {
  const rows: Record<string, number> = {};
  const digests: Record<string, string> = {};
  const tables = (await tablesOf(dataSource)).filter((table) => !options.ignoredTables.test(table));
  // Read side by side: on MySQL each table is a round trip of its own.
  const contents = await Promise.all(
    tables.map((table) => dataSource.query(`SELECT * FROM ${dataSource.options.type === 'mysql' ? `\`${table}\`` : `"${table}"`}`) as Promise<Record<string, unknown>[]>),
  );
  tables.forEach((table, index) => {
    const records = contents[index];
    const lines = records
      .map((record) =>
        Object.keys(record)
          .filter((column) => !options.ignoredColumns.test(column))
          .sort()
          .map((column) => `${column}=${canonical(record[column])}`)
          .join('|'),
      )
      .sort();
    rows[table] = records.length;
    digests[table] = crypto.createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
  });
  return { rows, digests };
}
