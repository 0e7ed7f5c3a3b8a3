import type { DataSource } from 'typeorm';
import { DecryptionError, type FieldCipher } from '../common/encryption';
import { CUSTOMER_ENCRYPTED_COLUMNS } from '../modules/invoicing/customers.types';
import { IDEMPOTENCY_ENCRYPTED_COLUMNS } from '../modules/idempotency/idempotency.service';
import { GATEWAY_ENCRYPTED_COLUMNS } from '../modules/payments/payment-gateways.service';
import { BANK_ACCOUNT_ENCRYPTED_COLUMNS } from '../modules/reconciliation/reconciliation.types';
import { WEBHOOK_ENDPOINT_ENCRYPTED_COLUMNS } from '../modules/webhooks/webhook-endpoint.entity';
import { databaseKindOfSource } from './data-source';
import { withLongStatements } from './statement-scope';
import { runInTransaction } from './transaction';

/**
 * Every column that holds FieldCipher ciphertext. Each table has an `id` primary key and a
 * `tenant_id`, and each value is encrypted with `{ table, column, tenantId }` as its context (the
 * column being the database column's own name). A table missing here would keep ciphertexts under an
 * old key after `keys reencrypt`, and become unreadable once that key is dropped: add new ones here.
 */
export interface EncryptedTable {
  table: string;
  columns: readonly string[];
}

export const ENCRYPTED_TABLES: readonly EncryptedTable[] = [
  WEBHOOK_ENDPOINT_ENCRYPTED_COLUMNS,
  GATEWAY_ENCRYPTED_COLUMNS,
  IDEMPOTENCY_ENCRYPTED_COLUMNS,
  BANK_ACCOUNT_ENCRYPTED_COLUMNS,
  CUSTOMER_ENCRYPTED_COLUMNS,
];

export interface ReencryptionFailure {
  id: string;
  column: string;
  reason: string;
}

export interface TableReencryptionReport {
  table: string;
  /** Rows in the table when the run started. */
  rows: number;
  /** Rows rewritten under the newest key. */
  rowsReencrypted: number;
  /** Values rewritten (a row may hold several). */
  valuesReencrypted: number;
  /** Rows that could not be decrypted (key missing from the ring, or tampered) and were left as they were. */
  failures: ReencryptionFailure[];
}

export interface ReencryptionOptions {
  /** Rows read per query; each row is then rewritten in its own short transaction. */
  batchSize?: number;
  tables?: readonly EncryptedTable[];
  onBatch?: (table: string, rowsDone: number) => void;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Re-encrypts every encrypted value that is not under the newest key of the ring, so that older keys
 * can then be removed from ENCRYPTION_KEYS. Rows are visited in id order, a batch at a time, and each
 * row is rewritten in its own transaction after locking and reading it again, so a running API can
 * keep writing meanwhile and a stopped run can simply be started again: values already under the
 * newest key are never selected, which makes the command idempotent.
 */
export async function reencryptAll(
  dataSource: DataSource,
  cipher: FieldCipher,
  options: ReencryptionOptions = {},
): Promise<TableReencryptionReport[]> {
  const batchSize = options.batchSize ?? 200;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new Error('batchSize must be between 1 and 10000');
  // Finding the stale rows scans each table: the long statement limit, not a request's.
  return withLongStatements(async () => {
    const reports: TableReencryptionReport[] = [];
    for (const spec of options.tables ?? ENCRYPTED_TABLES) {
      reports.push(await reencryptTable(dataSource, cipher, spec, batchSize, options.onBatch));
    }
    return reports;
  });
}

async function reencryptTable(
  dataSource: DataSource,
  cipher: FieldCipher,
  spec: EncryptedTable,
  batchSize: number,
  onBatch: ReencryptionOptions['onBatch'],
): Promise<TableReencryptionReport> {
  for (const name of [spec.table, ...spec.columns]) {
    if (!IDENTIFIER.test(name)) throw new Error(`Not a plain SQL identifier: ${name}`);
  }
  const { table, columns } = spec;
  const prefix = cipher.currentCiphertextPrefix;
  // HEX() compares bytes on both databases, whatever the column's collation: a case-insensitive
  // MySQL collation would otherwise take key "K1" for key "k1".
  const prefixHex = Buffer.from(prefix, 'utf8').toString('hex').toUpperCase();
  const stale = columns.map((column) => `(${column} IS NOT NULL AND HEX(SUBSTR(${column}, 1, ${prefix.length})) <> '${prefixHex}')`).join(' OR ');
  const lock = databaseKindOfSource(dataSource) === 'mysql' ? ' FOR UPDATE' : '';
  const [{ total }] = await dataSource.query(`SELECT COUNT(*) AS total FROM ${table}`);
  const report: TableReencryptionReport = { table, rows: Number(total), rowsReencrypted: 0, valuesReencrypted: 0, failures: [] };
  let afterId = '';
  let rowsDone = 0;
  for (;;) {
    const batch: { id: string }[] = await dataSource.query(`SELECT id FROM ${table} WHERE id > ? AND (${stale}) ORDER BY id LIMIT ${batchSize}`, [
      afterId,
    ]);
    if (batch.length === 0) break;
    for (const { id } of batch) {
      try {
        const rewritten = await runInTransaction(dataSource, async (manager) => {
          const [row]: Record<string, unknown>[] = await manager.query(`SELECT id, tenant_id, ${columns.join(', ')} FROM ${table} WHERE id = ?${lock}`, [
            id,
          ]);
          if (!row) return 0;
          const updates: Record<string, string> = {};
          for (const column of columns) {
            const value = row[column];
            if (value === null || value === undefined || !cipher.needsReencryption(String(value))) continue;
            const context = { table, column, tenantId: String(row.tenant_id) };
            try {
              updates[column] = cipher.encrypt(cipher.decrypt(String(value), context), context);
            } catch (error) {
              if (error instanceof DecryptionError) throw new ColumnFailure(column, error.message);
              throw error;
            }
          }
          const changed = Object.keys(updates);
          if (changed.length === 0) return 0;
          await manager.query(`UPDATE ${table} SET ${changed.map((column) => `${column} = ?`).join(', ')} WHERE id = ?`, [
            ...changed.map((column) => updates[column]),
            id,
          ]);
          return changed.length;
        });
        if (rewritten > 0) {
          report.rowsReencrypted += 1;
          report.valuesReencrypted += rewritten;
        }
      } catch (error) {
        if (!(error instanceof ColumnFailure)) throw error;
        report.failures.push({ id, column: error.column, reason: error.message });
      }
    }
    afterId = batch[batch.length - 1].id;
    rowsDone += batch.length;
    onBatch?.(table, rowsDone);
  }
  return report;
}

class ColumnFailure extends Error {
  constructor(
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}
