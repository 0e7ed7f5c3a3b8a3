import type { MigrationInterface, QueryRunner } from 'typeorm';

const PREVIOUS_DEFAULT = 'REFERENCE,AMOUNT_DATE,MANY_TO_ONE,ONE_TO_MANY';
const NEW_DEFAULT = `${PREVIOUS_DEFAULT},INVOICE_NUMBER`;

/**
 * The INVOICE_NUMBER matching rule joins the default rules. Bank accounts still on the previous
 * default get it, so bank transfers that name an invoice pay it on accounts created before the rule
 * existed too; an account whose rules someone chose keeps exactly those. New accounts are written
 * with the engine's defaults by the service, so the column's own default is not used and stays.
 */
export class InvoiceNumberMatchRule1764650000000 implements MigrationInterface {
  name = 'InvoiceNumberMatchRule1764650000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('UPDATE bank_accounts SET match_rules = ? WHERE match_rules = ?', [NEW_DEFAULT, PREVIOUS_DEFAULT]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('UPDATE bank_accounts SET match_rules = ? WHERE match_rules = ?', [PREVIOUS_DEFAULT, NEW_DEFAULT]);
  }
}
