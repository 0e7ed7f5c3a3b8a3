import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { addColumnsPortably, portableColumns } from './portable-columns';

/**
 * Everything that settles an invoice after it is finalised, and the customer credit it can leave:
 *
 * - invoices gain what was credited (credit notes) and written off beside what was paid, so that
 *   amountRemaining = total − paid − credited − written off, and the instants and entries of the
 *   terminal steps (paid, void, uncollectible) and of the one-time overdue notice.
 * - invoice_payments: each payment of an invoice, by card (a payment of the payments module), bank
 *   transfer, cash, or the customer's credit; what of it was applied to the invoice and what was
 *   left over as customer credit, and what was refunded.
 * - credit_notes: each credit note against an invoice; what it took off the amount due and what it
 *   gave the customer as credit.
 * - customer_credit_balances / customer_credit_movements: unapplied customer credit per currency, a
 *   balance row (locked to change it) and the movements that explain it.
 * - an index for the overdue sweep, which looks across tenants for OPEN invoices not yet announced.
 */
export class InvoiceSettlement1764630000000 implements MigrationInterface {
  name = 'InvoiceSettlement1764630000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText, minorUnits } = portableColumns(queryRunner);
    const optionalId = (name: string) => ({ ...id(name), isNullable: true });
    await addColumnsPortably(queryRunner, 'invoices', [
      minorUnits('amount_credited_minor'),
      minorUnits('amount_written_off_minor'),
      timestamp('paid_at', true),
      timestamp('voided_at', true),
      timestamp('uncollectible_at', true),
      timestamp('overdue_notified_at', true),
      optionalId('void_entry_id'),
      optionalId('write_off_entry_id'),
    ]);
    // The overdue sweep looks across tenants for OPEN invoices not yet announced, by due date.
    await queryRunner.createIndex('invoices', new TableIndex({ name: 'ix_invoices_overdue', columnNames: ['status', 'overdue_notified_at', 'due_date'] }));
    await queryRunner.createTable(
      new Table({
        name: 'invoice_payments',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('invoice_id'),
          id('customer_id'),
          { name: 'currency', type: 'varchar', length: '3' },
          // CARD, BANK_TRANSFER, CASH or CUSTOMER_CREDIT.
          { name: 'method', type: 'varchar', length: '16' },
          // PENDING (a card payment still at the gateway), SUCCEEDED, FAILED.
          { name: 'status', type: 'varchar', length: '16' },
          minorUnits('amount_minor'),
          minorUnits('applied_minor'),
          minorUnits('credited_minor'),
          minorUnits('refunded_minor'),
          exactText('reference', 255, true),
          optionalId('payment_id'),
          optionalId('statement_line_id'),
          optionalId('journal_entry_id'),
          // The calendar day the money arrived, YYYY-MM-DD.
          { name: 'received_on', type: 'varchar', length: '10' },
          { name: 'failure_code', type: 'varchar', length: '64', isNullable: true },
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_invoice_payments_invoice', columnNames: ['tenant_id', 'invoice_id', 'id'] }),
          new TableIndex({ name: 'ux_invoice_payments_payment', columnNames: ['tenant_id', 'payment_id'], isUnique: true }),
          new TableIndex({ name: 'ux_invoice_payments_statement_line', columnNames: ['tenant_id', 'statement_line_id'], isUnique: true }),
        ],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['invoice_id'], referencedTableName: 'invoices', referencedColumnNames: ['id'] },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'credit_notes',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('invoice_id'),
          id('customer_id'),
          { name: 'currency', type: 'varchar', length: '3' },
          exactText('number', 64),
          exactText('series_key', 32),
          { name: 'number_value', type: 'bigint' },
          { name: 'reason', type: 'varchar', length: '500', isNullable: true },
          // The credited lines ([{ position, quantity, netMinor, taxMinor, totalMinor, ... }]) as JSON with
          // amounts as strings, or null for a credit note of an amount.
          { name: 'lines', type: 'text', isNullable: true },
          minorUnits('subtotal_minor'),
          minorUnits('tax_total_minor'),
          minorUnits('total_minor'),
          { name: 'tax_by_rate', type: 'text' },
          minorUnits('applied_to_invoice_minor'),
          minorUnits('credited_to_customer_minor'),
          optionalId('journal_entry_id'),
          { name: 'metadata', type: 'text', isNullable: true },
          timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_credit_notes_invoice', columnNames: ['tenant_id', 'invoice_id', 'id'] }),
          new TableIndex({ name: 'ux_credit_notes_tenant_number', columnNames: ['tenant_id', 'number'], isUnique: true }),
        ],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['invoice_id'], referencedTableName: 'invoices', referencedColumnNames: ['id'] },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'customer_credit_balances',
        columns: [
          { ...id('tenant_id'), isPrimary: true },
          { ...id('customer_id'), isPrimary: true },
          { name: 'currency', type: 'varchar', length: '3', isPrimary: true },
          minorUnits('balance_minor'),
          timestamp('updated_at'),
        ],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['customer_id'], referencedTableName: 'customers', referencedColumnNames: ['id'] },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'customer_credit_movements',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('customer_id'),
          { name: 'currency', type: 'varchar', length: '3' },
          // Signed: credit given is positive, credit used or refunded is negative.
          { name: 'amount_minor', type: 'bigint' },
          // OVERPAYMENT, CREDIT_NOTE, APPLIED_TO_INVOICE, REFUNDED.
          { name: 'source_kind', type: 'varchar', length: '24' },
          id('source_id'),
          optionalId('invoice_id'),
          optionalId('journal_entry_id'),
          timestamp('created_at'),
        ],
        indices: [new TableIndex({ name: 'ix_customer_credit_movements_customer', columnNames: ['tenant_id', 'customer_id', 'currency', 'id'] })],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('customer_credit_movements');
    await queryRunner.dropTable('customer_credit_balances');
    await queryRunner.dropTable('credit_notes');
    await queryRunner.dropTable('invoice_payments');
    await queryRunner.dropIndex('invoices', 'ix_invoices_overdue');
    await queryRunner.dropColumns('invoices', [
      'amount_credited_minor',
      'amount_written_off_minor',
      'paid_at',
      'voided_at',
      'uncollectible_at',
      'overdue_notified_at',
      'void_entry_id',
      'write_off_entry_id',
    ]);
  }
}
