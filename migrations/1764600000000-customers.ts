import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Customers of the invoicing module. Email, tax id and address are FieldCipher ciphertexts (listed in
 * src/db/encrypted-columns.ts for `keys reencrypt`); email_index is the keyed blind index of the
 * normalised email for exact lookups, deliberately not unique (customers may share an email).
 */
export class Customers1764600000000 implements MigrationInterface {
  name = 'Customers1764600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'customers',
        columns: [
          id('id', true),
          id('tenant_id'),
          { name: 'name', type: 'varchar', length: '200' },
          { name: 'email_ciphertext', type: 'text', isNullable: true },
          { name: 'email_index', type: 'varchar', length: '64', isNullable: true },
          { name: 'tax_id_ciphertext', type: 'text', isNullable: true },
          { name: 'address_ciphertext', type: 'text', isNullable: true },
          { name: 'currency', type: 'varchar', length: '3', isNullable: true },
          { name: 'metadata', type: 'text', isNullable: true },
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_customers_tenant', columnNames: ['tenant_id', 'id'] }),
          new TableIndex({ name: 'ix_customers_email_index', columnNames: ['tenant_id', 'email_index'] }),
        ],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('customers');
  }
}
