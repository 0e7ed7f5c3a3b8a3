import type { EntityManager } from 'typeorm';
import { newId } from '../../common/ids';
import { toBigInt } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import type { DatabaseKind } from '../../db/data-source';

/**
 * A customer's unapplied credit, per currency: what they overpaid, or were credited beyond what an
 * invoice still owed, and that their later invoices use. The balance row is the one place it is
 * changed, locked for the change (FOR UPDATE on MySQL; SQLite's single writer serialises), so two
 * concurrent uses can never spend the same credit. Every change also writes a movement that says why.
 *
 * These functions only keep the balance; the caller posts the matching ledger entry (the
 * CUSTOMER_CREDIT liability account) in the same transaction and passes its id.
 */
export enum CustomerCreditSource {
  /** A payment larger than what the invoice still owed. */
  OVERPAYMENT = 'OVERPAYMENT',
  /** A credit note larger than what the invoice still owed. */
  CREDIT_NOTE = 'CREDIT_NOTE',
  /** Used to pay an invoice. */
  APPLIED_TO_INVOICE = 'APPLIED_TO_INVOICE',
  /** Paid back to the customer (a refund of an overpayment). */
  REFUNDED = 'REFUNDED',
}

export interface CustomerCreditChange {
  tenantId: string;
  customerId: string;
  currency: string;
  /** Positive gives credit, negative uses it. */
  amountMinor: bigint;
  source: CustomerCreditSource;
  /** The payment, credit note or invoice payment that caused it. */
  sourceId: string;
  invoiceId: string | null;
  journalEntryId: string | null;
  at: Date;
}

export class CustomerCreditBook {
  constructor(private readonly kind: DatabaseKind) {}

  /** The balance, locked until the caller's transaction ends; 0 when the customer never had credit in it. */
  async lockBalance(manager: EntityManager, tenantId: string, customerId: string, currency: string): Promise<bigint> {
    const forUpdate = this.kind === 'mysql' ? ' FOR UPDATE' : '';
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT balance_minor FROM customer_credit_balances WHERE tenant_id = ? AND customer_id = ? AND currency = ?${forUpdate}`,
      [tenantId, customerId, currency],
    );
    return rows[0] ? toBigInt(rows[0].balance_minor) : 0n;
  }

  /**
   * Applies one change and returns the new balance. A change that would take the balance below zero
   * is a programming error (callers lock and check first), so it throws rather than clamps.
   */
  async change(manager: EntityManager, change: CustomerCreditChange): Promise<bigint> {
    const { tenantId, customerId, currency } = change;
    const at = toDbTimestamp(change.at);
    const minor = (value: bigint) => (this.kind === 'sqlite' ? value : value.toString());
    // The row exists before it is locked, so two first changes cannot both insert it.
    const insertIgnore = this.kind === 'mysql' ? 'INSERT IGNORE' : 'INSERT OR IGNORE';
    await manager.query(`${insertIgnore} INTO customer_credit_balances (tenant_id, customer_id, currency, balance_minor, updated_at) VALUES (?, ?, ?, 0, ?)`, [
      tenantId,
      customerId,
      currency,
      at,
    ]);
    const current = await this.lockBalance(manager, tenantId, customerId, currency);
    if (change.amountMinor === 0n) return current;
    const next = current + change.amountMinor;
    if (next < 0n) throw new Error(`customer credit of ${customerId} would go below zero (${current} + ${change.amountMinor})`);
    await manager.query('UPDATE customer_credit_balances SET balance_minor = ?, updated_at = ? WHERE tenant_id = ? AND customer_id = ? AND currency = ?', [
      minor(next),
      at,
      tenantId,
      customerId,
      currency,
    ]);
    await manager.query(
      `INSERT INTO customer_credit_movements (id, tenant_id, customer_id, currency, amount_minor, source_kind, source_id, invoice_id, journal_entry_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [newId('customerCreditMovement'), tenantId, customerId, currency, minor(change.amountMinor), change.source, change.sourceId, change.invoiceId, change.journalEntryId, at],
    );
    return next;
  }

  /** Balances of several customers, per currency (only non-zero ones); one statement. */
  async balancesOf(manager: EntityManager, tenantId: string, customerIds: readonly string[]): Promise<Map<string, { currency: string; balanceMinor: bigint }[]>> {
    const byCustomer = new Map<string, { currency: string; balanceMinor: bigint }[]>(customerIds.map((id) => [id, []]));
    if (customerIds.length === 0) return byCustomer;
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT customer_id, currency, balance_minor FROM customer_credit_balances
        WHERE tenant_id = ? AND customer_id IN (${customerIds.map(() => '?').join(',')}) AND balance_minor <> 0 ORDER BY customer_id, currency`,
      [tenantId, ...customerIds],
    );
    for (const row of rows) byCustomer.get(String(row.customer_id))?.push({ currency: String(row.currency), balanceMinor: toBigInt(row.balance_minor) });
    return byCustomer;
  }
}
