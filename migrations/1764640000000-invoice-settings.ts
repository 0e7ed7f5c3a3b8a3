import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Invoice settings per tenant (at most one row; a tenant without one uses the defaults of
 * DEFAULT_INVOICE_NUMBERING and DEFAULT_PAYMENT_TERMS_DAYS): how its invoice numbers look, its
 * default payment terms, and the seller details every invoice PDF prints. The seller details are the
 * tenant's own published business identity (name, address, tax id, bank details in the footer), shown
 * to every customer on every invoice, so they are kept in clear, unlike customers' details.
 *
 * And two indexes for invoices(filter:): overdue (OPEN and due before today) reads
 * (tenant, status, due_date); issue-date ranges read (tenant, issue_date).
 */
export class InvoiceSettings1764640000000 implements MigrationInterface {
  name = 'InvoiceSettings1764640000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'invoice_settings',
        columns: [
          id('tenant_id', true),
          exactText('number_prefix', 12),
          { name: 'yearly_reset', type: 'smallint' },
          { name: 'number_digits', type: 'int' },
          { name: 'default_payment_terms_days', type: 'int' },
          { name: 'seller_name', type: 'varchar', length: '200' },
          // The address as printed: a JSON array of lines.
          { name: 'seller_address', type: 'text', isNullable: true },
          { name: 'seller_tax_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'footer', type: 'text', isNullable: true },
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createIndex('invoices', new TableIndex({ name: 'ix_invoices_tenant_status_due', columnNames: ['tenant_id', 'status', 'due_date'] }));
    await queryRunner.createIndex('invoices', new TableIndex({ name: 'ix_invoices_tenant_issue', columnNames: ['tenant_id', 'issue_date'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('invoices', 'ix_invoices_tenant_issue');
    await queryRunner.dropIndex('invoices', 'ix_invoices_tenant_status_due');
    await queryRunner.dropTable('invoice_settings');
  }
}
