import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/** Written with the portable Table API only: the same migration runs on MySQL/MariaDB and SQLite. */
export class InitialLedger1764100000000 implements MigrationInterface {
  name = 'InitialLedger1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText, minorUnits } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'tenants',
        columns: [id('id', true), { name: 'name', type: 'varchar', length: '200' }, timestamp('created_at')],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'api_keys',
        columns: [
          id('id', true),
          id('tenant_id'),
          { name: 'name', type: 'varchar', length: '200' },
          exactText('prefix', 40),
          { name: 'secret_hash', type: 'varchar', length: '64' },
          timestamp('created_at'),
          timestamp('revoked_at', true),
        ],
        indices: [new TableIndex({ name: 'uq_api_keys_prefix', columnNames: ['prefix'], isUnique: true })],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'accounts',
        columns: [
          id('id', true),
          id('tenant_id'),
          exactText('code', 64),
          { name: 'name', type: 'varchar', length: '200' },
          { name: 'type', type: 'varchar', length: '16' },
          { name: 'currency', type: 'varchar', length: '3' },
          minorUnits('available_floor_minor', true),
          minorUnits('posted_debits_minor'),
          minorUnits('posted_credits_minor'),
          minorUnits('pending_debits_minor'),
          minorUnits('pending_credits_minor'),
          timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_accounts_tenant_code', columnNames: ['tenant_id', 'code'], isUnique: true }),
          new TableIndex({ name: 'ix_accounts_tenant_id', columnNames: ['tenant_id', 'id'] }),
        ],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'journal_entries',
        columns: [
          id('id', true),
          id('tenant_id'),
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'description', type: 'varchar', length: '500' },
          timestamp('effective_at'),
          exactText('external_ref', 255, true),
          { name: 'metadata', type: 'text', isNullable: true },
          { ...id('reversal_of_id'), isNullable: true },
          timestamp('created_at'),
          timestamp('resolved_at', true),
        ],
        indices: [
          new TableIndex({ name: 'uq_journal_entries_external_ref', columnNames: ['tenant_id', 'external_ref'], isUnique: true }),
          new TableIndex({ name: 'uq_journal_entries_reversal_of', columnNames: ['reversal_of_id'], isUnique: true }),
          new TableIndex({ name: 'ix_journal_entries_tenant_id', columnNames: ['tenant_id', 'id'] }),
        ],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'postings',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('journal_entry_id'),
          id('account_id'),
          { name: 'direction', type: 'varchar', length: '6' },
          { name: 'amount_minor', type: 'bigint' },
          { name: 'currency', type: 'varchar', length: '3' },
          { name: 'phase', type: 'varchar', length: '8' },
          timestamp('effective_at'),
          timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_postings_account_phase_effective', columnNames: ['account_id', 'phase', 'effective_at'] }),
          new TableIndex({ name: 'ix_postings_entry', columnNames: ['journal_entry_id'] }),
          new TableIndex({ name: 'ix_postings_tenant_phase_effective', columnNames: ['tenant_id', 'phase', 'effective_at'] }),
        ],
        foreignKeys: [
          { columnNames: ['journal_entry_id'], referencedTableName: 'journal_entries', referencedColumnNames: ['id'] },
          { columnNames: ['account_id'], referencedTableName: 'accounts', referencedColumnNames: ['id'] },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['postings', 'journal_entries', 'accounts', 'api_keys', 'tenants']) {
      await queryRunner.dropTable(table);
    }
  }
}
