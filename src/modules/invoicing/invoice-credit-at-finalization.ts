import type { EntityManager } from 'typeorm';
import { newId } from '../../common/ids';
import { toDbTimestamp } from '../../common/timestamps';
import type { DatabaseKind } from '../../db/data-source';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { LedgerCommand } from '../ledger/ledger-writer';
import { EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';
import { type CustomerCreditBook, CustomerCreditSource } from './customer-credit';
import { InvoicePaymentMethod, type InvoicePaymentRecord, InvoicePaymentStatus } from './invoice-payments.types';
import type { InvoiceRecord } from './invoices.types';

/** Stores one invoice payment row (every way of paying writes it through here). */
export async function insertInvoicePaymentRow(manager: EntityManager, kind: DatabaseKind, p: InvoicePaymentRecord): Promise<void> {
  const minor = (value: bigint) => (kind === 'sqlite' ? value : value.toString());
  await manager.query(
    `INSERT INTO invoice_payments (id, tenant_id, invoice_id, customer_id, currency, method, status, amount_minor, applied_minor, credited_minor,
                                   refunded_minor, reference, payment_id, statement_line_id, journal_entry_id, received_on, failure_code, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      p.id,
      p.tenantId,
      p.invoiceId,
      p.customerId,
      p.currency,
      p.method,
      p.status,
      minor(p.amountMinor),
      minor(p.appliedMinor),
      minor(p.creditedMinor),
      minor(p.refundedMinor),
      p.reference,
      p.paymentId,
      p.statementLineId,
      p.journalEntryId,
      p.receivedOn,
      p.failureCode,
      toDbTimestamp(p.createdAt),
      toDbTimestamp(p.updatedAt),
    ],
  );
}

/**
 * The customer's unapplied credit in the invoice's currency, used by the invoice as it is finalised, in
 * the finalisation's transaction (after the invoice is locked, before the ledger writer locks the
 * accounts): min(credit, total) is applied as an invoice payment of method CUSTOMER_CREDIT, the credit
 * balance falls by it, and the returned entry debits CUSTOMER_CREDIT and credits ACCOUNTS_RECEIVABLE.
 * The caller adds `appliedMinor` to amountPaid (PAID when it covers the total). Null when there is none.
 */
export async function applyCustomerCreditAtFinalization(
  manager: EntityManager,
  kind: DatabaseKind,
  book: CustomerCreditBook,
  invoice: InvoiceRecord,
  chart: ChartAccounts,
  now: Date,
): Promise<{ appliedMinor: bigint; command: LedgerCommand } | null> {
  if (invoice.totalMinor <= 0n) return null;
  const balance = await book.lockBalance(manager, invoice.tenantId, invoice.customerId, invoice.currency);
  const appliedMinor = balance < invoice.totalMinor ? balance : invoice.totalMinor;
  if (appliedMinor <= 0n) return null;
  const entryId = newId('journalEntry');
  const payment: InvoicePaymentRecord = {
    id: newId('invoicePayment'),
    tenantId: invoice.tenantId,
    invoiceId: invoice.id,
    customerId: invoice.customerId,
    currency: invoice.currency,
    method: InvoicePaymentMethod.CUSTOMER_CREDIT,
    status: InvoicePaymentStatus.SUCCEEDED,
    amountMinor: appliedMinor,
    appliedMinor,
    creditedMinor: 0n,
    refundedMinor: 0n,
    reference: null,
    paymentId: null,
    statementLineId: null,
    journalEntryId: entryId,
    receivedOn: now.toISOString().slice(0, 10),
    failureCode: null,
    createdAt: now,
    updatedAt: now,
  };
  await insertInvoicePaymentRow(manager, kind, payment);
  await book.change(manager, {
    tenantId: invoice.tenantId,
    customerId: invoice.customerId,
    currency: invoice.currency,
    amountMinor: -appliedMinor,
    source: CustomerCreditSource.APPLIED_TO_INVOICE,
    sourceId: payment.id,
    invoiceId: invoice.id,
    journalEntryId: entryId,
    at: now,
  });
  const line = (role: ChartRole, direction: EntryDirection, field: string) => ({ accountId: chart[role], direction, amountMinor: appliedMinor, currency: invoice.currency, field });
  return {
    appliedMinor,
    command: {
      type: 'create',
      entryId,
      tenantId: invoice.tenantId,
      status: JournalEntryStatus.POSTED,
      description: `Invoice ${invoice.id}: customer credit applied`,
      effectiveAt: now,
      externalRef: null,
      metadata: { invoiceId: invoice.id, invoicePaymentId: payment.id },
      lines: [line(ChartRole.CUSTOMER_CREDIT, EntryDirection.DEBIT, 'credit'), line(ChartRole.ACCOUNTS_RECEIVABLE, EntryDirection.CREDIT, 'applied')],
    },
  };
}
