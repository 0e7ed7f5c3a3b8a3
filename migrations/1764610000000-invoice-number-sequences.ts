import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * The counters invoice numbers are taken from: one row per tenant and series (the number's text
 * before its digits, "INV" or "INV-2026" with a yearly reset), holding the next value to hand out.
 * Taken inside the finalising transaction, so a rolled-back finalisation gives its number back.
 */
export class InvoiceNumberSequences1764610000000 implements MigrationInterface {
  name = 'InvoiceNumberSequences1764610000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, exactText } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'invoice_number_sequences',
        columns: [
          id('tenant_id', true),
          // Byte for byte on both databases: "INV" and "inv" are different series (prefixes are upper case anyway).
          { ...exactText('series_key', 32), isPrimary: true },
          { name: 'next_value', type: 'bigint', default: 1 },
        ],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('invoice_number_sequences');
  }
}
