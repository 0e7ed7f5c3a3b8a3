import type { DataSource } from 'typeorm';

/**
 * Every row of a tenant in every table that has a tenant_id, the tenant's own row, and every table
 * without tenant_id in full: what another tenant's requests (or a refused credential's) must leave
 * exactly as it was. `except` leaves tables out, for rows a refused request is meant to write (the
 * caller's own audit trail); `exceptColumns` leaves columns out (a credential's last use).
 */
export async function snapshotOfTenant(
  dataSource: DataSource,
  tenantId: string,
  options: { except?: readonly string[]; exceptColumns?: readonly string[] } = {},
): Promise<Record<string, unknown[]>> {
  const mysql = dataSource.options.type === 'mysql';
  const tables: { name: string }[] = mysql
    ? await dataSource.query('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name')
    : await dataSource.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  const snapshot: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    if (options.except?.includes(name)) continue;
    const columns: string[] = mysql
      ? (
          await dataSource.query('SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?', [name])
        ).map((column: { name: string }) => column.name)
      : (await dataSource.query(`PRAGMA table_info("${name}")`)).map((column: { name: string }) => column.name);
    if (name === 'tenants') snapshot[name] = await dataSource.query('SELECT * FROM tenants WHERE id = ?', [tenantId]);
    else if (columns.includes('tenant_id')) snapshot[name] = await dataSource.query(`SELECT * FROM ${name} WHERE tenant_id = ? ORDER BY 1`, [tenantId]);
    else snapshot[name] = await dataSource.query(`SELECT * FROM ${name} ORDER BY 1`);
    const left = options.exceptColumns ?? [];
    if (left.length) snapshot[name] = (snapshot[name] as Record<string, unknown>[]).map((row) => Object.fromEntries(Object.entries(row).filter(([column]) => !left.includes(column))));
  }
  return snapshot;
}
