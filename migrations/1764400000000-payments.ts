import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Payments: gateways (credentials and webhook secret encrypted), payments with their running amounts
 * and the gateway operation in flight, refunds, disputes, the timeline of payment events (which links
 * each event to the journal entries it posted), payouts, and the ids of inbound gateway events already
 * applied (deduplication).
 */
export class Payments1764400000000 implements MigrationInterface {
  name = 'Payments1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText, minorUnits } = portableColumns(queryRunner);
    const tenantKey = { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] };
    await queryRunner.createTable(
      new Table({
        name: 'payment_gateways',
        columns: [
          id('id', true),
          id('tenant_id'),
          { name: 'name', type: 'varchar', length: '200' },
          { name: 'kind', type: 'varchar', length: '16' },
          // Space-separated ISO 4217 codes this gateway is chosen for when a payment names no gateway.
          { name: 'currencies', type: 'varchar', length: '400' },
          { name: 'credentials_ciphertext', type: 'text' },
          { name: 'webhook_secret_ciphertext', type: 'text' },
          timestamp('created_at'),
          timestamp('disabled_at', true),
        ],
        indices: [new TableIndex({ name: 'ix_payment_gateways_tenant', columnNames: ['tenant_id', 'id'] })],
        foreignKeys: [tenantKey],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'payments',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('gateway_id'),
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'currency', type: 'varchar', length: '3' },
          minorUnits('authorized_minor'),
          minorUnits('captured_minor'),
          minorUnits('refunded_minor'),
          // Refunds sent to the gateway whose outcome is not recorded yet: reserved against the refundable amount.
          minorUnits('refund_pending_minor'),
          minorUnits('disputed_minor'),
          minorUnits('dispute_lost_minor'),
          minorUnits('fee_minor'),
          exactText('customer_id', 255, true),
          { name: 'description', type: 'varchar', length: '500', isNullable: true },
          exactText('external_ref', 255, true),
          { name: 'metadata', type: 'text', isNullable: true },
          exactText('gateway_payment_id', 255, true),
          { name: 'card_brand', type: 'varchar', length: '32', isNullable: true },
          { name: 'card_last4', type: 'varchar', length: '4', isNullable: true },
          // The key the authorization was sent to the gateway with: a retry of the same request finds its payment by it.
          exactText('authorize_key', 128),
          // A hash of the authorization's input: a retry under the same key with other input is refused.
          { name: 'authorize_request_hash', type: 'varchar', length: '64' },
          { ...id('authorization_entry_id'), isNullable: true },
          // The capture, void or authorization sent to the gateway and not settled yet (a crash or an unknown outcome).
          { name: 'pending_operation', type: 'varchar', length: '16', isNullable: true },
          minorUnits('pending_amount_minor', true),
          exactText('pending_key', 128, true),
          { name: 'pending_request_hash', type: 'varchar', length: '64', isNullable: true },
          timestamp('pending_since', true),
          { name: 'failure_code', type: 'varchar', length: '32', isNullable: true },
          { name: 'failure_message', type: 'varchar', length: '500', isNullable: true },
          timestamp('expires_at'),
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_payments_authorize_key', columnNames: ['tenant_id', 'authorize_key'], isUnique: true }),
          new TableIndex({ name: 'uq_payments_external_ref', columnNames: ['tenant_id', 'external_ref'], isUnique: true }),
          new TableIndex({ name: 'ix_payments_tenant_created', columnNames: ['tenant_id', 'created_at', 'id'] }),
          new TableIndex({ name: 'ix_payments_tenant_status', columnNames: ['tenant_id', 'status', 'id'] }),
          new TableIndex({ name: 'ix_payments_gateway_payment', columnNames: ['gateway_id', 'gateway_payment_id'] }),
          new TableIndex({ name: 'ix_payments_expires', columnNames: ['status', 'expires_at'] }),
          new TableIndex({ name: 'ix_payments_pending', columnNames: ['pending_since'] }),
        ],
        foreignKeys: [tenantKey, { columnNames: ['gateway_id'], referencedTableName: 'payment_gateways', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'refunds',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('payment_id'),
          { name: 'status', type: 'varchar', length: '16' },
          minorUnits('amount_minor'),
          { name: 'reason', type: 'varchar', length: '500', isNullable: true },
          exactText('gateway_key', 128),
          { name: 'request_hash', type: 'varchar', length: '64' },
          exactText('gateway_refund_id', 255, true),
          { ...id('journal_entry_id'), isNullable: true },
          { name: 'failure_code', type: 'varchar', length: '32', isNullable: true },
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_refunds_payment', columnNames: ['payment_id', 'id'] }),
          new TableIndex({ name: 'uq_refunds_gateway_key', columnNames: ['tenant_id', 'gateway_key'], isUnique: true }),
          new TableIndex({ name: 'ix_refunds_pending', columnNames: ['status', 'created_at'] }),
        ],
        foreignKeys: [tenantKey, { columnNames: ['payment_id'], referencedTableName: 'payments', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'disputes',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('payment_id'),
          { name: 'status', type: 'varchar', length: '16' },
          minorUnits('amount_minor'),
          minorUnits('fee_minor'),
          { name: 'reason', type: 'varchar', length: '500' },
          { name: 'evidence', type: 'text', isNullable: true },
          exactText('gateway_dispute_id', 255, true),
          timestamp('evidence_submitted_at', true),
          timestamp('created_at'),
          timestamp('closed_at', true),
        ],
        indices: [
          new TableIndex({ name: 'ix_disputes_payment', columnNames: ['payment_id', 'id'] }),
          new TableIndex({ name: 'ix_disputes_gateway', columnNames: ['tenant_id', 'gateway_dispute_id'] }),
        ],
        foreignKeys: [tenantKey, { columnNames: ['payment_id'], referencedTableName: 'payments', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'payment_events',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('payment_id'),
          { name: 'type', type: 'varchar', length: '32' },
          minorUnits('amount_minor', true),
          // Space-separated ids of the journal entries this event posted or resolved.
          { name: 'journal_entry_ids', type: 'varchar', length: '400', isNullable: true },
          { ...id('refund_id'), isNullable: true },
          { ...id('dispute_id'), isNullable: true },
          { name: 'source', type: 'varchar', length: '16' },
          // The gateway idempotency key of the operation this event settled: a retry of a settled request finds it by this.
          exactText('operation_key', 128, true),
          { name: 'request_hash', type: 'varchar', length: '64', isNullable: true },
          { name: 'detail', type: 'varchar', length: '500', isNullable: true },
          timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_payment_events_payment', columnNames: ['payment_id', 'id'] }),
          new TableIndex({ name: 'ix_payment_events_operation', columnNames: ['payment_id', 'operation_key'] }),
        ],
        foreignKeys: [tenantKey, { columnNames: ['payment_id'], referencedTableName: 'payments', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'payouts',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('gateway_id'),
          minorUnits('amount_minor'),
          { name: 'currency', type: 'varchar', length: '3' },
          exactText('external_ref', 255, true),
          id('journal_entry_id'),
          timestamp('arrived_at'),
          timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_payouts_external_ref', columnNames: ['tenant_id', 'external_ref'], isUnique: true }),
          new TableIndex({ name: 'ix_payouts_tenant', columnNames: ['tenant_id', 'id'] }),
        ],
        foreignKeys: [tenantKey, { columnNames: ['gateway_id'], referencedTableName: 'payment_gateways', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'gateway_events',
        columns: [
          id('gateway_id', true),
          { ...exactText('event_id', 191), isPrimary: true },
          id('tenant_id'),
          { name: 'type', type: 'varchar', length: '32' },
          { ...id('payment_id'), isNullable: true },
          timestamp('received_at'),
        ],
        foreignKeys: [tenantKey],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['gateway_events', 'payouts', 'payment_events', 'disputes', 'refunds', 'payments', 'payment_gateways']) {
      await queryRunner.dropTable(table);
    }
  }
}
