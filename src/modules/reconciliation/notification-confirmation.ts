import type { EntityManager } from 'typeorm';
import { StatementSource, type BankAccountRecord } from './reconciliation.types';

/** Fingerprints per IN (…) lookup, as the import's own look-ups take them. */
const FINGERPRINT_CHUNK = 500;

/**
 * Marks the lines that real-time notifications stored, and that a statement now being imported holds
 * too, as confirmed by that statement. `knownFingerprints` are the statement's line fingerprints that
 * are already stored (the import stores none of them again); the lines among them that a
 * NOTIFICATION statement row holds and no statement has confirmed yet get `statementId`, once: a
 * later overlapping statement finds them confirmed and counts them as duplicates.
 *
 * Runs in the import's transaction, after its per-account lock, so two statements cannot both confirm
 * a line. Returns how many lines this statement confirmed.
 */
export async function confirmNotifiedLines(
  manager: EntityManager,
  account: Pick<BankAccountRecord, 'id' | 'tenantId'>,
  statementId: string,
  knownFingerprints: ReadonlySet<string>,
): Promise<number> {
  let confirmed = 0;
  const fingerprints = [...knownFingerprints];
  for (let i = 0; i < fingerprints.length; i += FINGERPRINT_CHUNK) {
    const chunk = fingerprints.slice(i, i + FINGERPRINT_CHUNK);
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT l.id FROM statement_lines l JOIN bank_statements s ON s.id = l.statement_id
        WHERE l.tenant_id = ? AND l.bank_account_id = ? AND l.confirmed_by_statement_id IS NULL AND s.source = ?
          AND l.fingerprint IN (${chunk.map(() => '?').join(',')})`,
      [account.tenantId, account.id, StatementSource.NOTIFICATION, ...chunk],
    );
    if (rows.length === 0) continue;
    const ids = rows.map((row) => String(row.id));
    await manager.query(
      `UPDATE statement_lines SET confirmed_by_statement_id = ? WHERE tenant_id = ? AND confirmed_by_statement_id IS NULL AND id IN (${ids.map(() => '?').join(',')})`,
      [statementId, account.tenantId, ...ids],
    );
    confirmed += ids.length;
  }
  return confirmed;
}
