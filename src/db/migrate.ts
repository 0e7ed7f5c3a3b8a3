import type { DataSource } from 'typeorm';
import { withoutStatementLimit } from './statement-scope';

/**
 * Applies pending migrations, each in its own transaction. Safe to call on every start. An index
 * built over a large table takes longer than a request's statement may: migrations run without a
 * statement time limit.
 */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const applied = await withoutStatementLimit(() => dataSource.runMigrations({ transaction: 'each' }));
  return applied.map((migration) => migration.name);
}
