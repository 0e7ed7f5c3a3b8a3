import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Invoices and their lines. An invoice is a DRAFT (editable, no number, nothing in the ledger) until
 * finalised: then it has its number (unique per tenant; NULL for every draft, which both databases
 * allow in a unique index), its issue and due dates, and the journal entry that booked it. Totals are
 * stored as computed by invoice-amounts.ts; lines keep both what was entered and what was computed, so
 * an invoice can be recomputed and checked from its own rows.
 */
export class Invoices1764620000000 implements MigrationInterface {
  name = 'Invoices1764620000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText, minorUnits } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'invoices',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('customer_id'),
          { name: 'currency', type: 'varchar', length: '3' },
          { name: 'status', type: 'varchar', length: '16' },
          exactText('number', 64, true),
          exactText('series_key', 32, true),
          { name: 'number_value', type: 'bigint', isNullable: true },
          // Calendar dates as YYYY-MM-DD text: a date, not an instant, and the same on both databases.
          { name: 'issue_date', type: 'varchar', length: '10', isNullable: true },
          { name: 'due_date', type: 'varchar', length: '10', isNullable: true },
          { name: 'payment_terms_days', type: 'int', isNullable: true },
          { name: 'memo', type: 'text', isNullable: true },
          { name: 'metadata', type: 'text', isNullable: true },
          minorUnits('subtotal_minor'),
          minorUnits('discount_total_minor'),
          minorUnits('tax_total_minor'),
          minorUnits('total_minor'),
          minorUnits('amount_paid_minor'),
          // Per rate: [{ rate, taxableMinor, taxMinor }] as JSON with amounts as strings.
          { name: 'tax_by_rate', type: 'text' },
          { name: 'journal_entry_id', type: 'varchar', length: '40', isNullable: true },
          timestamp('finalized_at', true),
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'ux_invoices_tenant_number', columnNames: ['tenant_id', 'number'], isUnique: true }),
          new TableIndex({ name: 'ix_invoices_tenant_status', columnNames: ['tenant_id', 'status', 'id'] }),
          new TableIndex({ name: 'ix_invoices_tenant_customer', columnNames: ['tenant_id', 'customer_id', 'id'] }),
        ],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['customer_id'], referencedTableName: 'customers', referencedColumnNames: ['id'] },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'invoice_lines',
        columns: [
          { ...id('invoice_id'), isPrimary: true },
          { name: 'position', type: 'int', isPrimary: true },
          id('tenant_id'),
          { name: 'description', type: 'varchar', length: '500' },
          // As entered (normalised decimals), so the amounts can be recomputed from the row.
          { name: 'quantity', type: 'varchar', length: '32' },
          { name: 'unit_price_minor', type: 'bigint' },
          { name: 'tax_rate', type: 'varchar', length: '16' },
          { name: 'tax_behaviour', type: 'varchar', length: '16' },
          { name: 'discount_percent', type: 'varchar', length: '16', isNullable: true },
          { name: 'discount_amount_input_minor', type: 'bigint', isNullable: true },
          // Computed.
          minorUnits('gross_minor'),
          minorUnits('discount_minor'),
          minorUnits('net_minor'),
          minorUnits('tax_minor'),
          minorUnits('total_minor'),
        ],
        foreignKeys: [
          { columnNames: ['invoice_id'], referencedTableName: 'invoices', referencedColumnNames: ['id'] },
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('invoice_lines');
    await queryRunner.dropTable('invoices');
  }
}
