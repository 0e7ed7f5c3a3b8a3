import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * The built-in simulator gateway's own books, kept in the database so that they outlive a restart and
 * are shared by every API process on the database, as a real gateway's are. No foreign keys to
 * Reckon's tables: the simulator plays an outside system, which knows gateway ids only as names.
 *
 * - simulator_operations: one row per (gateway, operation, gateway idempotency key), the recorded
 *   answer to it. The primary key is what makes a call retried on another process charge once.
 * - simulator_payments: per authorization, what was authorized, captured, refunded and voided.
 */
export class SimulatorState1764460000000 implements MigrationInterface {
  name = 'SimulatorState1764460000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText, minorUnits } = portableColumns(queryRunner);
    await queryRunner.createTable(
      new Table({
        name: 'simulator_operations',
        columns: [
          id('gateway_id', true),
          { name: 'operation', type: 'varchar', length: '16', isPrimary: true },
          { ...exactText('idempotency_key', 255), isPrimary: true },
          // The request's parameters: the same key with other parameters is refused, not replayed.
          { name: 'fingerprint', type: 'text' },
          // The recorded answer (succeeded or declined) as JSON, replayed to every later call with the key.
          { name: 'outcome', type: 'text' },
          timestamp('created_at'),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'simulator_payments',
        columns: [
          id('gateway_id', true),
          { ...exactText('gateway_payment_id', 255), isPrimary: true },
          { name: 'currency', type: 'varchar', length: '3' },
          minorUnits('authorized_minor'),
          minorUnits('captured_minor'),
          minorUnits('refunded_minor'),
          minorUnits('fee_minor'),
          { name: 'voided', type: 'smallint', default: 0 },
          { name: 'capture_count', type: 'int', default: 0 },
          { name: 'refund_count', type: 'int', default: 0 },
          { name: 'dispute_on_capture', type: 'smallint', default: 0 },
          timestamp('created_at'),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('simulator_payments');
    await queryRunner.dropTable('simulator_operations');
  }
}
