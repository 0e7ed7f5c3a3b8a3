import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * The outbound webhook outbox. An event is written in the transaction of the change it describes
 * (so a change that rolls back leaves no event, and a committed one always has its event), with one
 * delivery row per endpoint subscribed at that moment. Delivery workers lease due delivery rows
 * (lease_owner, lease_expires_at) so that several API processes send each delivery once, and record
 * every attempt.
 */
export class WebhookOutbox1764710000000 implements MigrationInterface {
  name = 'WebhookOutbox1764710000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'webhook_events',
        columns: [
          id('id', true),
          id('tenant_id'),
          exactText('type', 64),
          // The exact body POSTed to every endpoint (signatures cover these bytes).
          { name: 'payload', type: queryRunner.connection.driver.options.type === 'mysql' ? 'mediumtext' : 'text' },
          timestamp('created_at'),
        ],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
        indices: [new TableIndex({ name: 'ix_webhook_events_tenant', columnNames: ['tenant_id', 'id'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'webhook_deliveries',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('event_id'),
          id('endpoint_id'),
          exactText('event_type', 64),
          // PENDING, DELIVERED, DEAD_LETTERED.
          exactText('status', 16),
          { name: 'attempt_count', type: 'int', default: 0 },
          timestamp('next_attempt_at'),
          // Past this, a failed attempt dead-letters instead of scheduling another (event time or redelivery + budget).
          timestamp('retry_until'),
          { ...id('lease_owner'), isNullable: true },
          timestamp('lease_expires_at', true),
          { name: 'last_status_code', type: 'int', isNullable: true },
          { name: 'last_error', type: 'varchar', length: '300', isNullable: true },
          timestamp('delivered_at', true),
          timestamp('dead_lettered_at', true),
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        foreignKeys: [
          { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] },
          { columnNames: ['event_id'], referencedTableName: 'webhook_events', referencedColumnNames: ['id'] },
          { columnNames: ['endpoint_id'], referencedTableName: 'webhook_endpoints', referencedColumnNames: ['id'] },
        ],
        indices: [
          new TableIndex({ name: 'uq_webhook_deliveries_event_endpoint', columnNames: ['event_id', 'endpoint_id'], isUnique: true }),
          // What the workers poll: due PENDING rows, soonest first.
          new TableIndex({ name: 'ix_webhook_deliveries_due', columnNames: ['status', 'next_attempt_at'] }),
          new TableIndex({ name: 'ix_webhook_deliveries_lease', columnNames: ['lease_owner'] }),
          new TableIndex({ name: 'ix_webhook_deliveries_tenant', columnNames: ['tenant_id', 'id'] }),
          new TableIndex({ name: 'ix_webhook_deliveries_endpoint', columnNames: ['tenant_id', 'endpoint_id', 'id'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'webhook_delivery_attempts',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('delivery_id'),
          { name: 'attempt_number', type: 'int' },
          timestamp('started_at'),
          { name: 'latency_ms', type: 'int' },
          { name: 'status_code', type: 'int', isNullable: true },
          { name: 'error', type: 'varchar', length: '300', isNullable: true },
          // delivered, retry_scheduled, dead_lettered (the metric's outcomes).
          exactText('outcome', 20),
        ],
        foreignKeys: [{ columnNames: ['delivery_id'], referencedTableName: 'webhook_deliveries', referencedColumnNames: ['id'] }],
        indices: [new TableIndex({ name: 'uq_webhook_delivery_attempts_number', columnNames: ['delivery_id', 'attempt_number'], isUnique: true })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('webhook_delivery_attempts');
    await queryRunner.dropTable('webhook_deliveries');
    await queryRunner.dropTable('webhook_events');
  }
}
