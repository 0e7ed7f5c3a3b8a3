import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Journal entries an invoice caused that no other row of the invoicing module names: refunds of bank
 * transfers and cash (a payment can be refunded several times, so its row cannot hold them). With
 * the entries on invoices, invoice_payments, credit_notes, customer_credit_movements and the payments
 * module's refunds, Invoice.journalEntries lists every entry of an invoice.
 */
export class InvoiceJournalEntries1764660000000 implements MigrationInterface {
  name = 'InvoiceJournalEntries1764660000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'invoice_journal_entries',
        columns: [
          { ...id('tenant_id'), isPrimary: true },
          { ...id('invoice_id'), isPrimary: true },
          { ...id('journal_entry_id'), isPrimary: true },
          timestamp('created_at'),
        ],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['invoice_id'], referencedTableName: 'invoices', referencedColumnNames: ['id'] },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('invoice_journal_entries');
  }
}
