import type { MigrationInterface, QueryRunner } from 'typeorm';
import { addColumnsPortably, portableColumns } from './portable-columns';

/**
 * Matching settings per bank account, beside the window it had already (match_window_business_days):
 * which rules run and in what order (rule names joined by commas), and the limits of the groups found
 * by summing. Existing accounts get the engine's defaults, so they match as before.
 */
export class BankAccountMatchingSettings1764590000000 implements MigrationInterface {
  name = 'BankAccountMatchingSettings1764590000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { exactText } = portableColumns(queryRunner);
    await addColumnsPortably(queryRunner, 'bank_accounts', [
      { ...exactText('match_rules', 100), default: "'REFERENCE,AMOUNT_DATE,MANY_TO_ONE,ONE_TO_MANY'" },
      { name: 'match_max_group_size', type: 'int', default: 4 },
      { name: 'match_max_group_candidates', type: 'int', default: 12 },
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumns('bank_accounts', ['match_rules', 'match_max_group_size', 'match_max_group_candidates']);
  }
}
