import type { DataSource } from 'typeorm';
import type { Clock } from '../../common/clock';
import { validationError } from '../../common/errors';
import { newId } from '../../common/ids';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { runInTransaction } from '../../db/transaction';
import { TenantEntity } from './tenant.entity';

export class TenancyService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  async createTenant(name: string): Promise<TenantEntity> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > 200) throw validationError('A tenant name has 1 to 200 characters', { field: 'name' });
    const tenant: TenantEntity = { id: newId('tenant'), name: trimmed, createdAt: this.clock.now() };
    await runInTransaction(this.dataSource, (manager) => manager.insert(TenantEntity, tenant));
    return tenant;
  }

  async getTenant(id: string): Promise<TenantEntity | null> {
    return this.dataSource.getRepository(TenantEntity).findOneBy({ id });
  }

  async countTenants(): Promise<number> {
    return this.dataSource.getRepository(TenantEntity).count();
  }

  /**
   * Every tenant, oldest first, with how many of its API keys work now (neither revoked nor expired).
   * For operators (the CLI): no secrets, and no tenant scoping.
   */
  async listTenantsWithActiveKeys(): Promise<(TenantEntity & { activeKeys: number })[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT t.id, t.name, t.created_at, COUNT(k.id) AS active_keys
         FROM tenants t
         LEFT JOIN api_keys k ON k.tenant_id = t.id AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)
        GROUP BY t.id, t.name, t.created_at
        ORDER BY t.created_at, t.id`,
      [toDbTimestamp(this.clock.now())],
    );
    return rows.map((row) => ({ id: String(row.id), name: String(row.name), createdAt: fromDbTimestamp(row.created_at), activeKeys: Number(row.active_keys) }));
  }
}
