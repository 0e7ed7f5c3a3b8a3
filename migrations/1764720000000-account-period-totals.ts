import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { rebuildPeriodTotalsWithin } from '../src/modules/ledger/period-totals';
import { portableColumns } from './portable-columns';

/**
 * Reads that stay flat as the ledger grows.
 *
 * - account_period_totals: per account, what its postings changed in each UTC month and day (see
 *   src/modules/ledger/period-totals.ts). Balances as of an instant, statement opening and closing
 *   balances read these plus one day's postings instead of every posting of the account. Filled here
 *   from the postings already written; the ledger writer keeps it from now on.
 * - postings (account_id, journal_entry_id): journalEntries(filter: { accountId }) lists an account's
 *   entries newest first (by entry id) by walking this index backwards and stopping after a page,
 *   instead of collecting and sorting every entry of the account.
 */
export class AccountPeriodTotals1764720000000 implements MigrationInterface {
  name = 'AccountPeriodTotals1764720000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText, minorUnits } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'account_period_totals',
        columns: [
          id('account_id', true),
          // 'M': a UTC month, 'D': a UTC day, each starting at period_start.
          { ...exactText('period_kind', 1), isPrimary: true },
          { ...timestamp('period_start'), isPrimary: true },
          id('tenant_id'),
          minorUnits('posted_debits_minor'),
          minorUnits('posted_credits_minor'),
          minorUnits('pending_debits_minor'),
          minorUnits('pending_credits_minor'),
        ],
        foreignKeys: [{ columnNames: ['account_id'], referencedTableName: 'accounts', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createIndex('postings', new TableIndex({ name: 'ix_postings_account_entry', columnNames: ['account_id', 'journal_entry_id'] }));
    await rebuildPeriodTotalsWithin(queryRunner, queryRunner.connection.driver.options.type === 'mysql' ? 'mysql' : 'sqlite');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('postings', 'ix_postings_account_entry');
    await queryRunner.dropTable('account_period_totals');
  }
}
