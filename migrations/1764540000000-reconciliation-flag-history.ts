import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * The append-only history of reconciliation flags: one row per step (raised, recurred, reopened,
 * acknowledged, resolved), keyed by the tenant's flag sequence number that step took. Never updated:
 * it is the flag's audit trail, and what a live-feed subscriber resuming with `since:` reads.
 */
export class ReconciliationFlagHistory1764540000000 implements MigrationInterface {
  name = 'ReconciliationFlagHistory1764540000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'reconciliation_flag_events',
        columns: [
          id('tenant_id', true),
          { name: 'sequence', type: 'bigint', isPrimary: true },
          id('flag_id'),
          // RAISED, RECURRED, REOPENED, ACKNOWLEDGED or RESOLVED.
          { name: 'action', type: 'varchar', length: '16' },
          { name: 'status_from', type: 'varchar', length: '16', isNullable: true },
          { name: 'status_to', type: 'varchar', length: '16' },
          { name: 'occurrence_count', type: 'int' },
          // The cause's values, for the steps that raise.
          { name: 'details', type: 'text', isNullable: true },
          { ...id('actor_credential_id'), isNullable: true },
          { name: 'note', type: 'text', isNullable: true },
          { name: 'resolution', type: 'varchar', length: '24', isNullable: true },
          { ...id('journal_entry_id'), isNullable: true },
          timestamp('created_at'),
        ],
        indices: [new TableIndex({ name: 'ix_reconciliation_flag_events_flag', columnNames: ['flag_id', 'sequence'] })],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['flag_id'], referencedTableName: 'reconciliation_flags', referencedColumnNames: ['id'] },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('reconciliation_flag_events');
  }
}
