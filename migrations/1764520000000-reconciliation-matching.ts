import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';
import { addColumnsPortably, portableColumns } from './portable-columns';

/**
 * The matching engine's bookkeeping.
 *
 * Unmatching never deletes: a match row keeps who unmatched it, when and why, and each of its items
 * keeps the line or posting it held in recorded_statement_line_id / recorded_posting_id, while the
 * unique claim columns (statement_line_id, posting_id) are set to NULL. NULLs never collide in a
 * unique index on MySQL/MariaDB or SQLite, so the plain unique indexes keep "one current match per
 * line and per posting" without a partial index, which MySQL lacks. The recorded columns are indexed:
 * automatic matching leaves alone anything a person has unmatched (only a person matches it again).
 *
 * payouts.journal_entry_id gets an index: matching reads the payout ids of the entries it compares;
 * statement_lines.bank_reference one per bank account: a posting's externalRef is looked up there (and
 * in end_to_end_id, indexed already) whatever the line's date, since the reference rule ignores dates.
 */
export class ReconciliationMatching1764520000000 implements MigrationInterface {
  name = 'ReconciliationMatching1764520000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id } = portableColumns(queryRunner);
    await addColumnsPortably(queryRunner, 'reconciliation_matches', [
      { name: 'note', type: 'varchar', length: '500', isNullable: true },
      { ...id('unmatched_by'), isNullable: true },
      { name: 'unmatch_note', type: 'varchar', length: '500', isNullable: true },
    ]);
    await addColumnsPortably(queryRunner, 'reconciliation_match_items', [
      { ...id('recorded_statement_line_id'), isNullable: true },
      { ...id('recorded_posting_id'), isNullable: true },
    ]);
    await queryRunner.createIndex('reconciliation_match_items', new TableIndex({ name: 'ix_match_items_recorded_line', columnNames: ['recorded_statement_line_id'] }));
    await queryRunner.createIndex('reconciliation_match_items', new TableIndex({ name: 'ix_match_items_recorded_posting', columnNames: ['recorded_posting_id'] }));
    await queryRunner.createIndex('payouts', new TableIndex({ name: 'ix_payouts_journal_entry', columnNames: ['journal_entry_id'] }));
    await queryRunner.createIndex('statement_lines', new TableIndex({ name: 'ix_statement_lines_bank_reference', columnNames: ['bank_account_id', 'bank_reference'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('statement_lines', 'ix_statement_lines_bank_reference');
    await queryRunner.dropIndex('payouts', 'ix_payouts_journal_entry');
    await queryRunner.dropIndex('reconciliation_match_items', 'ix_match_items_recorded_posting');
    await queryRunner.dropIndex('reconciliation_match_items', 'ix_match_items_recorded_line');
    await queryRunner.dropColumns('reconciliation_match_items', ['recorded_statement_line_id', 'recorded_posting_id']);
    await queryRunner.dropColumns('reconciliation_matches', ['note', 'unmatched_by', 'unmatch_note']);
  }
}
