import type { DataSource } from 'typeorm';
import { withLongStatements } from './statement-scope';

/**
 * Applies pending migrations, each in its own transaction. Safe to call on every start. An index
 * built over a large table takes longer than a request's statement may: migrations run under the
 * long limit (DATABASE_LONG_STATEMENT_TIMEOUT_MS).
 */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const applied = await withLongStatements(() => dataSource.runMigrations({ transaction: 'each' }));
  return applied.map((migration) => migration.name);
}
