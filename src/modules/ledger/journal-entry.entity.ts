import { Column, Entity, PrimaryColumn } from 'typeorm';
import { jsonTextTransformer } from '../../db/transformers';
import { JournalEntryStatus } from './ledger.types';

@Entity({ name: 'journal_entries' })
export class JournalEntryEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 40 })
  tenantId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: JournalEntryStatus;

  @Column({ type: 'varchar', length: 500 })
  description!: string;

  @Column({ name: 'effective_at', type: 'datetime', precision: 3 })
  effectiveAt!: Date;

  /** The caller's own reference (an order number, say), unique per tenant forever. */
  @Column({ name: 'external_ref', type: 'varchar', length: 255, nullable: true })
  externalRef!: string | null;

  @Column({ type: 'text', nullable: true, transformer: jsonTextTransformer })
  metadata!: Record<string, unknown> | null;

  /** Set on a reversing entry: the entry it reverses. Unique, so an entry is reversed at most once. */
  @Column({ name: 'reversal_of_id', type: 'varchar', length: 40, nullable: true })
  reversalOfId!: string | null;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  /** When a pending entry was posted or voided. */
  @Column({ name: 'resolved_at', type: 'datetime', precision: 3, nullable: true })
  resolvedAt!: Date | null;
}
