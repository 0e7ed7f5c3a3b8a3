import type { DataSource } from 'typeorm';
import type { DatabaseKindUnderTest } from './harness';

/**
 * Makes the database refuse every audit event of one operation (a trigger), runs `work`, then drops
 * the trigger: how the tests show that a change cannot commit without its audit event.
 */
export async function withAuditEventsRefused<T>(dataSource: DataSource, kind: DatabaseKindUnderTest, operationName: string, work: () => Promise<T>): Promise<T> {
  // A name of the operation's own: two suites refusing different operations never share a trigger.
  const trigger = `test_refuse_audit_${operationName.replace(/\W/g, '_')}`;
  await dataSource.query(
    kind === 'mysql'
      ? `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_events FOR EACH ROW
           BEGIN IF NEW.operation_name = '${operationName}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test refuses'; END IF; END`
      : `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_events WHEN NEW.operation_name = '${operationName}'
           BEGIN SELECT RAISE(ABORT, 'test refuses'); END`,
  );
  try {
    return await work();
  } finally {
    await dataSource.query(`DROP TRIGGER ${trigger}`);
  }
}
