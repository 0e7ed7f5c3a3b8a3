import { type MigrationInterface, type QueryRunner, TableIndex } from 'typeorm';

/**
 * Per-account lists (an account's recent entries) read the newest postings of one account by an index
 * seek on (account_id, effective_at, id) that stops after a page, so their cost does not grow with the
 * postings the account holds. The older index (account_id, phase, effective_at) cannot give that order
 * across both phases, and without this one MariaDB sorted every posting of a busy account per request.
 */
export class PostingsAccountRecentIndex1764480000000 implements MigrationInterface {
  name = 'PostingsAccountRecentIndex1764480000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createIndex('postings', new TableIndex({ name: 'ix_postings_account_effective_id', columnNames: ['account_id', 'effective_at', 'id'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('postings', 'ix_postings_account_effective_id');
  }
}
