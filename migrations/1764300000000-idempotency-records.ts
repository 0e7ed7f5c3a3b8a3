import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Idempotency records: one per (tenant, credential, mutation field, key). The fingerprint holds hashes
 * only; a stored response is encrypted (it may hold a secret shown once, such as a new API key).
 */
export class IdempotencyRecords1764300000000 implements MigrationInterface {
  name = 'IdempotencyRecords1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText } = portableColumns(queryRunner);
    const longText = queryRunner.connection.driver.options.type === 'mysql' ? 'mediumtext' : 'text';
    await queryRunner.createTable(
      new Table({
        name: 'idempotency_records',
        columns: [
          id('id', true),
          id('tenant_id'),
          exactText('credential_id', 128),
          { name: 'operation', type: 'varchar', length: '64' },
          exactText('idempotency_key', 255),
          { name: 'fingerprint', type: 'text' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'claim_token', type: 'varchar', length: '40' },
          timestamp('lease_expires_at'),
          { name: 'result_ref', type: 'text', isNullable: true },
          { name: 'error_json', type: 'text', isNullable: true },
          { name: 'response_ciphertext', type: longText, isNullable: true },
          timestamp('created_at'),
          timestamp('completed_at', true),
          timestamp('expires_at'),
        ],
        indices: [
          new TableIndex({
            name: 'uq_idempotency_scope_key',
            columnNames: ['tenant_id', 'credential_id', 'operation', 'idempotency_key'],
            isUnique: true,
          }),
          new TableIndex({ name: 'ix_idempotency_expires', columnNames: ['expires_at'] }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('idempotency_records');
  }
}
