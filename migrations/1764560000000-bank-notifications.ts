import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';
import { addColumnsPortably, portableColumns } from './portable-columns';

/**
 * Real-time bank notifications (camt.054 and single-transaction pushes to
 * POST /bank-accounts/:id/notifications):
 * - bank_accounts.notification_secret_ciphertext: the secret that signs them, encrypted like the
 *   gateways' webhook secrets. Null for accounts created before: their notifications are refused
 *   until the secret is rolled (rollBankAccountNotificationSecret sets one).
 * - bank_statements.source: STATEMENT for an imported statement file, NOTIFICATION for a notification
 *   (stored as a statement row holding its lines). confirmed_line_count: notified lines this
 *   statement confirmed.
 * - statement_lines.confirmed_by_statement_id: the statement that later held a notified line, set once.
 *   No foreign key: the confirmation is written in the statement's import transaction just before its
 *   row, and neither database defers the check to the commit.
 */
export class BankNotifications1764560000000 implements MigrationInterface {
  name = 'BankNotifications1764560000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id } = portableColumns(queryRunner);
    await addColumnsPortably(queryRunner, 'bank_accounts', [{ name: 'notification_secret_ciphertext', type: 'text', isNullable: true }]);
    await addColumnsPortably(queryRunner, 'bank_statements', [
      { name: 'source', type: 'varchar', length: '12', default: "'STATEMENT'" },
      { name: 'confirmed_line_count', type: 'int', default: 0 },
    ]);
    await addColumnsPortably(queryRunner, 'statement_lines', [{ ...id('confirmed_by_statement_id'), isNullable: true }]);
    await queryRunner.createIndex(
      'statement_lines',
      new TableIndex({ name: 'ix_statement_lines_confirmed_by', columnNames: ['confirmed_by_statement_id'] }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('statement_lines', 'ix_statement_lines_confirmed_by');
    await queryRunner.dropColumn('statement_lines', 'confirmed_by_statement_id');
    await queryRunner.dropColumn('bank_statements', 'confirmed_line_count');
    await queryRunner.dropColumn('bank_statements', 'source');
    await queryRunner.dropColumn('bank_accounts', 'notification_secret_ciphertext');
  }
}
