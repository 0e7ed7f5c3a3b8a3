import { type QueryRunner, TableColumn, type TableColumnOptions } from 'typeorm';

/**
 * Column shapes shared by the migrations, written once for MySQL/MariaDB and SQLite.
 *
 * - Timestamps are DATETIME(3) on MySQL and plain DATETIME (text) on SQLite: TypeORM rebuilds a SQLite
 *   table to add a column and misreads "datetime(3)" while doing so, dropping its NULL-ability.
 * - Codes, references and key prefixes compare byte for byte on both: MySQL's default collation
 *   would make "ABC" and "abc" collide where SQLite (BINARY by default) keeps them apart.
 */
export function portableColumns(queryRunner: QueryRunner) {
  const mysql = queryRunner.connection.driver.options.type === 'mysql';
  return {
    id: (name: string, primary = false): TableColumnOptions => ({ name, type: 'varchar', length: '40', isPrimary: primary }),
    timestamp: (name: string, nullable = false): TableColumnOptions => ({
      name,
      type: 'datetime',
      ...(mysql ? { precision: 3 } : {}),
      isNullable: nullable,
    }),
    exactText: (name: string, length: number, nullable = false): TableColumnOptions => ({
      name,
      type: 'varchar',
      length: String(length),
      isNullable: nullable,
      ...(mysql ? { collation: 'utf8mb4_bin' } : {}),
    }),
    minorUnits: (name: string, nullable = false): TableColumnOptions =>
      nullable ? { name, type: 'bigint', isNullable: true } : { name, type: 'bigint', default: 0 },
  };
}

/**
 * Adds columns to an existing table. On SQLite TypeORM would rebuild the whole table from its own
 * reading of the schema, and that reading loses NOT NULL/NULL on existing columns; SQLite's own
 * ALTER TABLE ADD COLUMN needs no rebuild for nullable columns or columns with a default.
 */
export async function addColumnsPortably(queryRunner: QueryRunner, table: string, columns: TableColumnOptions[]): Promise<void> {
  if (queryRunner.connection.driver.options.type === 'mysql') {
    await queryRunner.addColumns(
      table,
      columns.map((column) => new TableColumn(column)),
    );
    return;
  }
  for (const column of columns) {
    if (!column.isNullable && column.default === undefined) {
      throw new Error(`SQLite can only add a NOT NULL column with a default: ${table}.${column.name}`);
    }
    const length = column.length ? `(${column.length})` : '';
    const nullability = column.isNullable ? '' : ' NOT NULL';
    const fallback = column.default === undefined ? '' : ` DEFAULT ${column.default}`;
    await queryRunner.query(`ALTER TABLE "${table}" ADD COLUMN "${column.name}" ${column.type}${length}${nullability}${fallback}`);
  }
}
