import type { DataSource } from 'typeorm';

/** Applies pending migrations, each in its own transaction. Safe to call on every start. */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const applied = await dataSource.runMigrations({ transaction: 'each' });
  return applied.map((migration) => migration.name);
}
