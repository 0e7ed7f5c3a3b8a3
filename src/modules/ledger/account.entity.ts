import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintTransformer } from '../../db/transformers';
import { AccountType } from './ledger.types';

/**
 * A ledger account. Its four running totals are written only by the ledger writer, in the same
 * transaction as the postings they sum.
 */
@Entity({ name: 'accounts' })
export class AccountEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 40 })
  tenantId!: string;

  @Column({ type: 'varchar', length: 64 })
  code!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  type!: AccountType;

  @Column({ type: 'varchar', length: 3 })
  currency!: string;

  /**
   * Lowest net available balance an entry may leave: null for no limit, 0 for no overdraft, minus the
   * credit limit otherwise.
   */
  @Column({ name: 'available_floor_minor', type: 'bigint', nullable: true, transformer: bigintTransformer })
  availableFloorMinor!: bigint | null;

  @Column({ name: 'posted_debits_minor', type: 'bigint', transformer: bigintTransformer })
  postedDebitsMinor!: bigint;

  @Column({ name: 'posted_credits_minor', type: 'bigint', transformer: bigintTransformer })
  postedCreditsMinor!: bigint;

  @Column({ name: 'pending_debits_minor', type: 'bigint', transformer: bigintTransformer })
  pendingDebitsMinor!: bigint;

  @Column({ name: 'pending_credits_minor', type: 'bigint', transformer: bigintTransformer })
  pendingCreditsMinor!: bigint;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;
}
