import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { addColumnsPortably, portableColumns } from './portable-columns';

/**
 * The tenant's event stream (GET /v1/events/stream) over the webhook outbox.
 *
 * - webhook_events.stream_sequence: the event's position in its tenant's stream, given after the
 *   event's transaction has committed (event-stream.service.ts), so that positions follow commit
 *   order and a client resuming after position n can never miss an event that committed late with
 *   an earlier id. NULL until sequenced (and for ever for events from before the stream was kept).
 * - event_streams: one row per tenant whose events are streamed: its last position (the row the
 *   sequencer locks), the first position a client may resume from, and until when its events are
 *   kept for resuming clients when no webhook endpoint asks for them.
 */
export class EventStream1764730000000 implements MigrationInterface {
  name = 'EventStream1764730000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp } = portableColumns(queryRunner);
    // With the id last: the sequencer walks a tenant's unsequenced events in id order from a bound.
    await addColumnsPortably(queryRunner, 'webhook_events', [{ name: 'stream_sequence', type: 'bigint', isNullable: true }]);
    await queryRunner.createIndex('webhook_events', new TableIndex({ name: 'ix_webhook_events_stream', columnNames: ['tenant_id', 'stream_sequence', 'id'] }));
    await queryRunner.createTable(
      new Table({
        name: 'event_streams',
        columns: [
          id('tenant_id', true),
          { name: 'last_sequence', type: 'bigint', default: 0 },
          { name: 'resumable_after', type: 'bigint', default: 0 },
          // Events with ids up to this one were recorded before the stream was kept (or while it lapsed): never sequenced.
          id('sequencing_after_id'),
          timestamp('retain_until'),
          timestamp('created_at'),
        ],
        foreignKeys: [{ columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] }],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('event_streams');
    await queryRunner.dropIndex('webhook_events', 'ix_webhook_events_stream');
    await queryRunner.dropColumn('webhook_events', 'stream_sequence');
  }
}
