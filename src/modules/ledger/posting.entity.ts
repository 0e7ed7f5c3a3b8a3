import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintTransformer } from '../../db/transformers';
import { EntryDirection, PostingPhase } from './ledger.types';

/** One side of a journal entry on one account. Inserted once, never updated or deleted. */
@Entity({ name: 'postings' })
export class PostingEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 40 })
  tenantId!: string;

  @Column({ name: 'journal_entry_id', type: 'varchar', length: 40 })
  journalEntryId!: string;

  @Column({ name: 'account_id', type: 'varchar', length: 40 })
  accountId!: string;

  @Column({ type: 'varchar', length: 6 })
  direction!: EntryDirection;

  /** Positive, except a PENDING posting that releases a hold, which is negative. */
  @Column({ name: 'amount_minor', type: 'bigint', transformer: bigintTransformer })
  amountMinor!: bigint;

  @Column({ type: 'varchar', length: 3 })
  currency!: string;

  @Column({ type: 'varchar', length: 8 })
  phase!: PostingPhase;

  @Column({ name: 'effective_at', type: 'datetime', precision: 3 })
  effectiveAt!: Date;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;
}
