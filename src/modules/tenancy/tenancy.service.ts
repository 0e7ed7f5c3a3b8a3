import type { DataSource } from 'typeorm';
import type { Clock } from '../../common/clock';
import { validationError } from '../../common/errors';
import { newId } from '../../common/ids';
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
}
