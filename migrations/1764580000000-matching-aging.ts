import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Aging of unmatched items whatever their age. Per bank account, a frontier cursor on each side says
 * how far (in date order, then id) the sweep has examined the items past their window: each sweep
 * reads a bounded batch after it, so the whole history is aged once, over as many sweeps as it takes.
 * An audit cursor per side walks, with what is left of the batch, the items behind the frontier again
 * (those a run after their write should have flagged but did not), starting over at the frontier. Lines are read in (booking_date, id) order, which needs the
 * id in the index on SQLite (its secondary indexes carry the rowid, not the text primary key);
 * postings already have (account_id, effective_at, id).
 */
export class MatchingAging1764580000000 implements MigrationInterface {
  name = 'MatchingAging1764580000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'reconciliation_aging_cursors',
        columns: [
          id('bank_account_id', true),
          id('tenant_id'),
          // The last line examined: its booking date (YYYY-MM-DD) and id; null before the first.
          { name: 'line_booking_date', type: 'varchar', length: '10', isNullable: true },
          { ...id('line_id'), isNullable: true },
          // The last posting examined: its effective time and id; null before the first.
          timestamp('posting_effective_at', true),
          { ...id('posting_id'), isNullable: true },
          // The audit behind the frontier (what a run after a write may have missed): same shape.
          { name: 'audit_line_booking_date', type: 'varchar', length: '10', isNullable: true },
          { ...id('audit_line_id'), isNullable: true },
          timestamp('audit_posting_effective_at', true),
          { ...id('audit_posting_id'), isNullable: true },
          timestamp('updated_at'),
        ],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['bank_account_id'], referencedTableName: 'bank_accounts', referencedColumnNames: ['id'] },
        ],
      }),
    );
    await queryRunner.createIndex('statement_lines', new TableIndex({ name: 'ix_statement_lines_account_date_id', columnNames: ['bank_account_id', 'booking_date', 'id'] }));
    // Its prefix: every read it served is served by the new one, and an import keeps one index fewer up to date per line.
    await queryRunner.dropIndex('statement_lines', 'ix_statement_lines_account_date');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex('statement_lines', new TableIndex({ name: 'ix_statement_lines_account_date', columnNames: ['bank_account_id', 'booking_date'] }));
    await queryRunner.dropIndex('statement_lines', 'ix_statement_lines_account_date_id');
    await queryRunner.dropTable('reconciliation_aging_cursors');
  }
}
