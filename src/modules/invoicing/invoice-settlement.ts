import type { EntityManager } from 'typeorm';
import { newId } from '../../common/ids';
import { toBigInt } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import type { DatabaseKind } from '../../db/data-source';
import type { LedgerCommand } from '../ledger/ledger-writer';
import { type EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';
import { CustomerCreditBook, CustomerCreditSource } from './customer-credit';
import { insertInvoicePaymentRow } from './invoice-credit-at-finalization';
import { type InvoicePaymentRecord, InvoicePaymentStatus } from './invoice-payments.types';
import { type InvoiceEvent, type InvoiceEventPublisher, InvoiceEventType, NO_INVOICE_EVENTS, recordInvoiceEvents } from './invoices.events';
import { amountRemainingOf, type InvoiceRecord, InvoiceStatus, nextVersionOf } from './invoices.types';

export function minOf(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/**
 * The rows every way of paying an invoice changes, and the rules they share: what a payment applies
 * to an invoice (PAID when nothing is left), what an overpayment gives the customer, what a refund
 * takes back (credit first, then reopening). Callers hold the locks (the invoice, then its payment
 * rows, then the credit balance) and write the ledger entries; this only keeps the rows.
 */
export class InvoiceSettlement {
  readonly credit: CustomerCreditBook;
  private readonly forUpdate: string;

  constructor(
    private readonly kind: DatabaseKind,
    /** Stores the events of each settlement in its transaction (the webhook outbox); published after the commit by the caller. */
    private readonly events: InvoiceEventPublisher = NO_INVOICE_EVENTS,
  ) {
    this.credit = new CustomerCreditBook(kind);
    this.forUpdate = kind === 'mysql' ? ' FOR UPDATE' : '';
  }

  /** Stores events of a change made under the caller's transaction that no method here made (a failed card payment). */
  recordEvents(manager: EntityManager, events: readonly InvoiceEvent[]): Promise<void> {
    return recordInvoiceEvents(this.events, manager, events);
  }

  insertPayment(manager: EntityManager, p: InvoicePaymentRecord): Promise<void> {
    return insertInvoicePaymentRow(manager, this.kind, p);
  }

  /**
   * Adds what a payment applied to the locked invoice: amountPaid grows, and nothing left to pay makes
   * it PAID. Returns the invoice as stored and the events to publish after the commit.
   */
  async applyToInvoice(manager: EntityManager, invoice: InvoiceRecord, appliedMinor: bigint, now: Date): Promise<{ invoice: InvoiceRecord; events: InvoiceEvent[] }> {
    const paid = { ...invoice, amountPaidMinor: invoice.amountPaidMinor + appliedMinor, updatedAt: now, version: nextVersionOf(invoice) };
    const becamePaid = invoice.status === InvoiceStatus.OPEN && amountRemainingOf(paid) === 0n;
    const updated: InvoiceRecord = becamePaid ? { ...paid, status: InvoiceStatus.PAID, paidAt: now } : paid;
    await this.writeSettlement(manager, updated);
    const events: InvoiceEvent[] = [{ type: InvoiceEventType.PAYMENT_SUCCEEDED, invoice: updated, occurredAt: now }];
    if (becamePaid) events.push({ type: InvoiceEventType.PAID, invoice: updated, occurredAt: now });
    await recordInvoiceEvents(this.events, manager, events);
    return { invoice: updated, events };
  }

  /** Writes what payments change on an invoice row (the row is locked by the caller; the record carries its next version). */
  async writeSettlement(manager: EntityManager, invoice: InvoiceRecord): Promise<void> {
    await manager.query('UPDATE invoices SET amount_paid_minor = ?, status = ?, paid_at = ?, updated_at = ?, version = ? WHERE tenant_id = ? AND id = ?', [
      this.minor(invoice.amountPaidMinor),
      invoice.status,
      invoice.paidAt === null ? null : toDbTimestamp(invoice.paidAt),
      toDbTimestamp(invoice.updatedAt),
      invoice.version,
      invoice.tenantId,
      invoice.id,
    ]);
  }

  /**
   * Stores the next version of a locked invoice whose payments changed while its own row did not (a
   * card payment held or failed, a refund taken from customer credit): the invoice shows its payments,
   * so its version (its ETag) must change with them. Returns the invoice as stored.
   */
  async writeNextVersion(manager: EntityManager, invoice: InvoiceRecord): Promise<InvoiceRecord> {
    const touched: InvoiceRecord = { ...invoice, version: nextVersionOf(invoice) };
    await manager.query('UPDATE invoices SET version = ? WHERE tenant_id = ? AND id = ?', [touched.version, touched.tenantId, touched.id]);
    return touched;
  }

  /** Σ amount of the invoice's card payments still at the gateway (their holds). */
  async pendingCardMinor(manager: EntityManager, tenantId: string, invoiceId: string): Promise<bigint> {
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT amount_minor FROM invoice_payments WHERE tenant_id = ? AND invoice_id = ? AND status = ?${this.forUpdate}`,
      [tenantId, invoiceId, InvoicePaymentStatus.PENDING],
    );
    return rows.reduce<bigint>((sum, row) => sum + toBigInt(row.amount_minor), 0n);
  }

  /** A POSTED entry of the given lines (lines of zero left out) in the payment's currency. */
  entry(record: InvoicePaymentRecord, entryId: string, description: string, now: Date, lines: [string, EntryDirection, bigint][]): LedgerCommand {
    return {
      type: 'create',
      entryId,
      tenantId: record.tenantId,
      status: JournalEntryStatus.POSTED,
      description,
      effectiveAt: now,
      externalRef: null,
      metadata: { invoiceId: record.invoiceId, invoicePaymentId: record.id },
      lines: lines
        .filter(([, , amountMinor]) => amountMinor > 0n)
        .map(([accountId, direction, amountMinor], index) => ({ accountId, direction, amountMinor, currency: record.currency, field: `lines[${index}]` })),
    };
  }

  /** Names an entry of the invoice that no other invoicing row holds (a refund of a bank transfer or cash), for Invoice.journalEntries. */
  async linkEntry(manager: EntityManager, record: InvoicePaymentRecord, entryId: string, now: Date): Promise<void> {
    await manager.query('INSERT INTO invoice_journal_entries (tenant_id, invoice_id, journal_entry_id, created_at) VALUES (?, ?, ?, ?)', [
      record.tenantId,
      record.invoiceId,
      entryId,
      toDbTimestamp(now),
    ]);
  }

  async updatePayment(manager: EntityManager, p: InvoicePaymentRecord): Promise<void> {
    await manager.query(
      `UPDATE invoice_payments SET status = ?, amount_minor = ?, applied_minor = ?, credited_minor = ?, refunded_minor = ?, journal_entry_id = ?,
              failure_code = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
      [
        p.status,
        this.minor(p.amountMinor),
        this.minor(p.appliedMinor),
        this.minor(p.creditedMinor),
        this.minor(p.refundedMinor),
        p.journalEntryId,
        p.failureCode,
        toDbTimestamp(p.updatedAt),
        p.tenantId,
        p.id,
      ],
    );
  }

  async giveCredit(manager: EntityManager, payment: InvoicePaymentRecord, amountMinor: bigint, entryId: string, now: Date): Promise<void> {
    await this.credit.change(manager, {
      tenantId: payment.tenantId,
      customerId: payment.customerId,
      currency: payment.currency,
      amountMinor,
      source: CustomerCreditSource.OVERPAYMENT,
      sourceId: payment.id,
      invoiceId: payment.invoiceId,
      journalEntryId: entryId,
      at: now,
    });
  }


  /**
   * What a payment can still give back: its unused credit (what it credited, less what refunds took
   * back from it, at most the customer's balance now: credit already used by other invoices is gone)
   * plus what it paid of the invoice, less what refunds took from that.
   */
  async refundableWithin(manager: EntityManager, record: InvoicePaymentRecord): Promise<bigint> {
    const { creditLeftMinor, appliedLeftMinor } = await this.refundPartsWithin(manager, record);
    return creditLeftMinor + appliedLeftMinor;
  }

  async refundPartsWithin(manager: EntityManager, record: InvoicePaymentRecord): Promise<{ creditLeftMinor: bigint; appliedLeftMinor: bigint }> {
    const rows: Record<string, unknown>[] = await manager.query(
      'SELECT COALESCE(SUM(amount_minor), 0) AS taken FROM customer_credit_movements WHERE tenant_id = ? AND source_kind = ? AND source_id = ?',
      [record.tenantId, CustomerCreditSource.REFUNDED, record.id],
    );
    const creditTakenBack = -toBigInt(rows[0].taken);
    const appliedRefunded = record.refundedMinor - creditTakenBack;
    const balance = await this.credit.lockBalance(manager, record.tenantId, record.customerId, record.currency);
    return { creditLeftMinor: minOf(record.creditedMinor - creditTakenBack, balance), appliedLeftMinor: record.appliedMinor - appliedRefunded };
  }

  /**
   * The invoice side of a refund of a payment, under the locks of the invoice payment and the invoice:
   * the credit part leaves the customer's balance, the rest lowers amountPaid and reopens the invoice.
   */
  async refundWithin(manager: EntityManager, record: InvoicePaymentRecord, invoice: InvoiceRecord, amountMinor: bigint, now: Date) {
    const parts = await this.refundPartsWithin(manager, record);
    const fromCreditMinor = minOf(amountMinor, parts.creditLeftMinor > 0n ? parts.creditLeftMinor : 0n);
    // A card refund the gateway has made is recorded whatever it is; the invoice gives back at most what the payment paid of it.
    const fromAppliedMinor = minOf(amountMinor - fromCreditMinor, parts.appliedLeftMinor > 0n ? parts.appliedLeftMinor : 0n);
    const creditEntryId = newId('journalEntry');
    if (fromCreditMinor > 0n) {
      await this.credit.change(manager, {
        tenantId: record.tenantId,
        customerId: record.customerId,
        currency: record.currency,
        amountMinor: -fromCreditMinor,
        source: CustomerCreditSource.REFUNDED,
        sourceId: record.id,
        invoiceId: record.invoiceId,
        journalEntryId: creditEntryId,
        at: now,
      });
    }
    const invoicePayment: InvoicePaymentRecord = { ...record, refundedMinor: record.refundedMinor + amountMinor, updatedAt: now };
    await this.updatePayment(manager, invoicePayment);
    let updated: InvoiceRecord;
    const events: InvoiceEvent[] = [];
    if (fromAppliedMinor > 0n) {
      const lowered: InvoiceRecord = { ...invoice, amountPaidMinor: invoice.amountPaidMinor - fromAppliedMinor, updatedAt: now, version: nextVersionOf(invoice) };
      const reopened = invoice.status === InvoiceStatus.PAID && amountRemainingOf(lowered) > 0n;
      updated = reopened ? { ...lowered, status: InvoiceStatus.OPEN, paidAt: null } : lowered;
      await this.writeSettlement(manager, updated);
      events.push({ type: InvoiceEventType.REOPENED, invoice: updated, occurredAt: now });
    } else {
      // Only the payment's refunded amount changed, which the invoice shows.
      updated = await this.writeNextVersion(manager, invoice);
    }
    await recordInvoiceEvents(this.events, manager, events);
    return { invoice: updated, invoicePayment, fromCreditMinor, fromAppliedMinor, creditEntryId, events };
  }

  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }
}
