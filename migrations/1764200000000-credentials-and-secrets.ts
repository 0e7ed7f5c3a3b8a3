import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { addColumnsPortably, portableColumns } from './portable-columns';


/**
 * Scoped, expiring API keys; OAuth clients; webhook endpoints, whose URL and signing secret are stored
 * encrypted (the URL may carry a token) with a blind index for uniqueness.
 */
export class CredentialsAndSecrets1764200000000 implements MigrationInterface {
  name = 'CredentialsAndSecrets1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp } = portableColumns(queryRunner);
    await addColumnsPortably(queryRunner, 'api_keys', [
      // Space-separated scopes. Keys made before scopes existed keep full access.
      { name: 'scopes', type: 'varchar', length: '500', default: "'admin'" },
      timestamp('expires_at', true),
      timestamp('last_used_at', true),
    ]);
    await queryRunner.createTable(
      new Table({
        name: 'oauth_clients',
        columns: [
          id('id', true),
          id('tenant_id'),
          { name: 'name', type: 'varchar', length: '200' },
          { name: 'secret_hash', type: 'varchar', length: '64' },
          { name: 'scopes', type: 'varchar', length: '500' },
          timestamp('created_at'),
          timestamp('revoked_at', true),
        ],
        indices: [new TableIndex({ name: 'ix_oauth_clients_tenant', columnNames: ['tenant_id', 'id'] })],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'webhook_endpoints',
        columns: [
          id('id', true),
          id('tenant_id'),
          { name: 'url_ciphertext', type: 'text' },
          { name: 'url_index', type: 'varchar', length: '64' },
          { name: 'secret_ciphertext', type: 'text' },
          { name: 'events', type: 'varchar', length: '1000' },
          timestamp('created_at'),
          timestamp('disabled_at', true),
        ],
        indices: [new TableIndex({ name: 'uq_webhook_endpoints_url', columnNames: ['tenant_id', 'url_index'], isUnique: true })],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('webhook_endpoints');
    await queryRunner.dropTable('oauth_clients');
    await queryRunner.dropColumns('api_keys', ['scopes', 'expires_at', 'last_used_at']);
  }
}
