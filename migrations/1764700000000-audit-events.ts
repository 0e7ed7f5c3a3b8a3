import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * The audit trail (README, Audit):
 * - audit_events: one row per API call, in one hash chain per tenant (and one "_system" chain for
 *   failed authentications that name no tenant). (tenant_id, sequence) is the key: a second writer of
 *   the same sequence fails on it, so a chain can never fork even if the head lock were bypassed.
 * - audit_chain_heads: one row per chain, locked FOR UPDATE by every writer: the last sequence and
 *   hash, and the retention boundary (events up to archived_through_sequence were archived to a signed
 *   file; archived_boundary_hash is the hash of the last of them, which the first kept event chains to).
 * - audit_event_resources: the resource ids of each event, for the resourceId filter (an index: the ids
 *   themselves are in audit_events.resource_ids, which the hash covers).
 *
 * Append-only, enforced by the database: triggers refuse UPDATE and DELETE on audit_events and on
 * postings, whatever the client. The one DELETE allowed is of audit events at or below their chain's
 * archived_through_sequence, which the retention job sets only after the signed archive is written.
 */
export class AuditEvents1764700000000 implements MigrationInterface {
  name = 'AuditEvents1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText } = portableColumns(queryRunner);
    const mysql = queryRunner.connection.driver.options.type === 'mysql';
    await queryRunner.createTable(
      new Table({
        name: 'audit_events',
        columns: [
          { ...id('tenant_id'), isPrimary: true },
          { name: 'sequence', type: 'bigint', isPrimary: true },
          id('id'),
          timestamp('occurred_at'),
          exactText('actor_kind', 24),
          { ...exactText('actor_credential_id', 255), isNullable: true },
          { ...exactText('origin_ip', 64), isNullable: true },
          { ...exactText('request_id', 64), isNullable: true },
          exactText('kind', 24),
          exactText('operation_type', 16),
          exactText('operation_name', 128),
          { name: 'resource_ids', type: 'text' },
          exactText('outcome', 8),
          { ...exactText('error_code', 48), isNullable: true },
          { ...exactText('arguments_digest', 64), isNullable: true },
          exactText('previous_hash', 64),
          exactText('hash', 64),
        ],
        indices: [
          new TableIndex({ name: 'uq_audit_events_id', columnNames: ['id'], isUnique: true }),
          new TableIndex({ name: 'ix_audit_events_actor', columnNames: ['tenant_id', 'actor_credential_id', 'sequence'] }),
          new TableIndex({ name: 'ix_audit_events_operation', columnNames: ['tenant_id', 'operation_name', 'sequence'] }),
          new TableIndex({ name: 'ix_audit_events_time', columnNames: ['tenant_id', 'occurred_at'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'audit_event_resources',
        columns: [
          { ...id('tenant_id'), isPrimary: true },
          { ...exactText('resource_id', 64), isPrimary: true },
          { name: 'sequence', type: 'bigint', isPrimary: true },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'audit_chain_heads',
        columns: [
          id('tenant_id', true),
          { name: 'last_sequence', type: 'bigint', default: 0 },
          exactText('last_hash', 64),
          { name: 'archived_through_sequence', type: 'bigint', default: 0 },
          exactText('archived_boundary_hash', 64),
        ],
      }),
    );
    for (const statement of mysql ? MYSQL_TRIGGERS : SQLITE_TRIGGERS) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const name of TRIGGER_NAMES) await queryRunner.query(`DROP TRIGGER IF EXISTS ${name}`);
    await queryRunner.dropTable('audit_chain_heads');
    await queryRunner.dropTable('audit_event_resources');
    await queryRunner.dropTable('audit_events');
  }
}

export const TRIGGER_NAMES = ['audit_events_no_update', 'audit_events_delete_archived_only', 'postings_no_update', 'postings_no_delete'] as const;

/** The trigger statements by name, for a database kind (the tamper tests drop one and put it back). */
export function appendOnlyTriggers(mysql: boolean): Record<(typeof TRIGGER_NAMES)[number], string> {
  const statements = mysql ? MYSQL_TRIGGERS : SQLITE_TRIGGERS;
  return Object.fromEntries(TRIGGER_NAMES.map((name, index) => [name, statements[index]])) as Record<(typeof TRIGGER_NAMES)[number], string>;
}

const ARCHIVED = `EXISTS (SELECT 1 FROM audit_chain_heads h WHERE h.tenant_id = OLD.tenant_id AND OLD.sequence <= h.archived_through_sequence)`;

/** SIGNAL with SQLSTATE 45000: the client sees the message; mysql2 reports errno 1644. */
const MYSQL_TRIGGERS = [
  `CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events FOR EACH ROW
     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only: UPDATE refused'`,
  `CREATE TRIGGER audit_events_delete_archived_only BEFORE DELETE ON audit_events FOR EACH ROW
     BEGIN
       IF NOT ${ARCHIVED} THEN
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only: only archived events may be deleted';
       END IF;
     END`,
  `CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings FOR EACH ROW
     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'postings are append-only: UPDATE refused (book a reversing entry)'`,
  `CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings FOR EACH ROW
     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'postings are append-only: DELETE refused (book a reversing entry)'`,
];

const SQLITE_TRIGGERS = [
  `CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END`,
  `CREATE TRIGGER audit_events_delete_archived_only BEFORE DELETE ON audit_events WHEN NOT ${ARCHIVED}
     BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: only archived events may be deleted'); END`,
  `CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
     BEGIN SELECT RAISE(ABORT, 'postings are append-only: UPDATE refused (book a reversing entry)'); END`,
  `CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
     BEGIN SELECT RAISE(ABORT, 'postings are append-only: DELETE refused (book a reversing entry)'); END`,
];
