import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { validationError } from '../../common/errors';
import { newId, requireIdOfKind } from '../../common/ids';
import { formatMinorAsDecimal, parsePositiveAmount } from '../../common/money';
import { databaseKindOfSource } from '../../db/data-source';
import type { IdempotencyHandle } from '../idempotency/idempotency.service';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { LedgerCommand } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import { EntryDirection } from '../ledger/ledger.types';
import type { LinkedPaymentChange, LinkedPaymentSettlement, PaymentInvoiceLink } from '../payments/payment-invoice-link';
import type { PaymentsService } from '../payments/payments.service';
import type { PaymentRecord } from '../payments/payments.types';
import { InvoicePaymentErrors } from './invoice-payments.errors';
import type { InvoicePaymentResult, InvoicePaymentsService } from './invoice-payments.service';
import { InvoicePaymentMethod, type InvoicePaymentRecord, InvoicePaymentStatus, invoicePaymentFromRow } from './invoice-payments.types';
import { type InvoiceSettlement, minOf } from './invoice-settlement';
import { type InvoiceEvent, InvoiceEventType } from './invoices.events';
import type { InvoicesService } from './invoices.service';
import { utcDateOf } from './invoices.service';
import { amountRemainingOf, InvoiceStatus } from './invoices.types';

export interface PayInvoiceInput {
  invoiceId: string;
  paymentToken: string;
  /** Left out: everything left to pay (less card payments in progress). */
  amount?: string | null;
  gatewayId?: string | null;
}

export interface PayInvoiceResult extends InvoicePaymentResult {
  payment: PaymentRecord;
}

/**
 * Card payments of invoices (payInvoice), through the payments module: a payment linked to the
 * invoice, whose every step the payments module reports here (PaymentInvoiceLink) inside the
 * transaction that records it, so that the invoice changes in the same commit as the payment. Locks
 * follow the order of InvoicePaymentsService: the payment row (the payments module's), the invoice,
 * its invoice payment rows, the credit balance, the accounts. Events go out through
 * InvoicePaymentsService's publisher once the payments module's transaction has committed.
 */
export class InvoiceCardPaymentsService implements PaymentInvoiceLink {
  private readonly forUpdate: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly ledger: LedgerService,
    private readonly invoices: InvoicesService,
    private readonly payments: PaymentsService,
    private readonly invoicePayments: InvoicePaymentsService,
    private readonly settlement: InvoiceSettlement,
  ) {
    this.forUpdate = databaseKindOfSource(dataSource) === 'mysql' ? ' FOR UPDATE' : '';
  }

  /**
   * Charges a card for an OPEN invoice: authorize and capture at once through the payments module, with
   * the payment linked to the invoice. The invoice changes in the transaction that records the capture
   * (paymentChanged below), wherever the capture is settled: this request, a retry, or the status check.
   * A card never overpays: more than what is left to pay (less card payments in progress) is
   * VALIDATION_FAILED, and nothing is charged. A decline is GATEWAY_DECLINED and leaves the invoice as it
   * was (its invoice payment FAILED). A retry under the same idempotency key resumes the same payment
   * and never charges twice.
   */
  async payInvoice(tenantId: string, input: PayInvoiceInput, idempotency?: IdempotencyHandle): Promise<PayInvoiceResult> {
    requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    const invoice = await this.invoices.getInvoice(tenantId, input.invoiceId, 'invoiceId');
    const askedMinor = input.amount === null || input.amount === undefined ? null : parsePositiveAmount(input.amount, invoice.currency);
    // A retry asks for exactly what the first attempt asked, even when "everything left" has changed since
    // (the first attempt may have paid it): the payment it created carries the amount.
    const earlier = idempotency ? await this.payments.paymentCreatedUnder(tenantId, idempotency) : null;
    let amountMinor: bigint;
    if (earlier && earlier.invoiceId === invoice.id) {
      amountMinor = askedMinor ?? earlier.authorizedMinor;
    } else {
      if (invoice.status !== InvoiceStatus.OPEN) throw InvoicePaymentErrors.notOpen(invoice.id, invoice.status, 'paid');
      const payable = amountRemainingOf(invoice) - (await this.settlement.pendingCardMinor(this.dataSource.manager, tenantId, invoice.id));
      if (payable <= 0n) throw InvoicePaymentErrors.nothingToPay(invoice.id);
      amountMinor = askedMinor ?? payable;
      if (amountMinor > payable) throw InvoicePaymentErrors.moreThanRemaining(invoice.id, amountMinor, payable, invoice.currency);
    }
    const payment = await this.payments.authorize(
      tenantId,
      {
        amount: formatMinorAsDecimal(amountMinor, invoice.currency),
        currency: invoice.currency,
        paymentToken: input.paymentToken,
        gatewayId: input.gatewayId ?? null,
        capture: true,
        customerId: invoice.customerId,
        description: `Invoice ${invoice.number ?? invoice.id}`,
        invoiceId: invoice.id,
      },
      idempotency,
    );
    return this.resultOfPayment(tenantId, payment);
  }

  /** The invoice, its invoice payment and the payment, once payInvoice's payment has settled. */
  async resultOfPayment(tenantId: string, payment: PaymentRecord): Promise<PayInvoiceResult> {
    const rows: Record<string, unknown>[] = await this.dataSource.query('SELECT * FROM invoice_payments WHERE tenant_id = ? AND payment_id = ?', [tenantId, payment.id]);
    if (!rows[0]) throw InvoicePaymentErrors.invoicePaymentNotFound(payment.id);
    const invoicePayment = invoicePaymentFromRow(rows[0]);
    return { invoice: await this.invoices.getInvoice(tenantId, invoicePayment.invoiceId), invoicePayment, payment };
  }

  /**
   * PaymentInvoiceLink: a new card payment of an invoice, in the payments module's transaction that
   * stores it. The invoice is locked and the amount held against it as a PENDING invoice payment, so two
   * concurrent payInvoice calls can never charge more than is left: the second sees the first's hold.
   */
  async paymentCreating(manager: EntityManager, payment: PaymentRecord): Promise<void> {
    const invoice = await this.invoices.lockInvoice(manager, payment.tenantId, payment.invoiceId as string);
    if (invoice.status !== InvoiceStatus.OPEN) throw InvoicePaymentErrors.notOpen(invoice.id, invoice.status, 'paid');
    if (invoice.currency !== payment.currency) throw validationError(`The invoice is in ${invoice.currency}; charge it in ${invoice.currency}`, { field: 'currency' });
    const payable = amountRemainingOf(invoice) - (await this.settlement.pendingCardMinor(manager, payment.tenantId, invoice.id));
    if (payable <= 0n) throw InvoicePaymentErrors.nothingToPay(invoice.id);
    if (payment.authorizedMinor > payable) throw InvoicePaymentErrors.moreThanRemaining(invoice.id, payment.authorizedMinor, payable, invoice.currency);
    const now = this.clock.now();
    await this.settlement.insertPayment(manager, {
      id: newId('invoicePayment'),
      tenantId: payment.tenantId,
      invoiceId: invoice.id,
      customerId: invoice.customerId,
      currency: invoice.currency,
      method: InvoicePaymentMethod.CARD,
      status: InvoicePaymentStatus.PENDING,
      amountMinor: payment.authorizedMinor,
      appliedMinor: 0n,
      creditedMinor: 0n,
      refundedMinor: 0n,
      reference: null,
      paymentId: payment.id,
      statementLineId: null,
      journalEntryId: null,
      receivedOn: utcDateOf(now),
      failureCode: null,
      createdAt: now,
      updatedAt: now,
    });
    // The invoice shows its payments, the held one included.
    await this.settlement.writeNextVersion(manager, invoice);
  }

  /**
   * PaymentInvoiceLink: a change of a card payment of an invoice, in the payments module's transaction
   * that records it (after its payment row is locked). A failure releases the hold; a capture pays the
   * invoice (anything beyond what it still owes, possible only when the invoice was paid otherwise
   * meanwhile, moves from receivable to customer credit); a refund reopens (see refundWithin).
   */
  async paymentChanged(manager: EntityManager, payment: PaymentRecord, change: LinkedPaymentChange): Promise<LinkedPaymentSettlement> {
    // The invoice is locked before its payment row: every path locks the invoice, its payment rows, the credit balance, then the accounts.
    const invoice = await this.invoices.lockInvoice(manager, payment.tenantId, payment.invoiceId as string);
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM invoice_payments WHERE tenant_id = ? AND payment_id = ?${this.forUpdate}`, [
      payment.tenantId,
      payment.id,
    ]);
    if (!rows[0]) return { commands: [] };
    const record = invoicePaymentFromRow(rows[0]);
    const now = this.clock.now();
    switch (change.kind) {
      case 'failed': {
        if (record.status !== InvoicePaymentStatus.PENDING) return { commands: [] };
        await this.settlement.updatePayment(manager, { ...record, status: InvoicePaymentStatus.FAILED, failureCode: change.code.slice(0, 64), updatedAt: now });
        const touched = await this.settlement.writeNextVersion(manager, invoice);
        const events: InvoiceEvent[] = [{ type: InvoiceEventType.PAYMENT_FAILED, invoice: touched, occurredAt: now }];
        await this.settlement.recordEvents(manager, events);
        return { commands: [], afterCommit: () => this.publish(events) };
      }
      case 'captured': {
        if (record.status === InvoicePaymentStatus.SUCCEEDED) return { commands: [] };
        const chart = await this.chartWithin(manager, payment.tenantId, payment.currency);
        const appliedMinor = invoice.status === InvoiceStatus.OPEN ? minOf(change.amountMinor, amountRemainingOf(invoice)) : 0n;
        const creditedMinor = change.amountMinor - appliedMinor;
        const captured: InvoicePaymentRecord = {
          ...record,
          status: InvoicePaymentStatus.SUCCEEDED,
          amountMinor: change.amountMinor,
          appliedMinor,
          creditedMinor,
          // The capture posts the authorization's pending entry.
          journalEntryId: payment.authorizationEntryId,
          failureCode: null,
          updatedAt: now,
        };
        await this.settlement.updatePayment(manager, captured);
        const commands: LedgerCommand[] = [];
        if (creditedMinor > 0n) {
          // The capture credited the receivable with all of it; what the invoice did not owe is the customer's.
          const entryId = newId('journalEntry');
          commands.push(
            this.settlement.entry(captured, entryId, `Payment ${payment.id}: beyond what invoice ${invoice.number ?? invoice.id} owed, to customer credit`, now, [
              [chart[ChartRole.ACCOUNTS_RECEIVABLE], EntryDirection.DEBIT, creditedMinor],
              [chart[ChartRole.CUSTOMER_CREDIT], EntryDirection.CREDIT, creditedMinor],
            ]),
          );
          await this.settlement.giveCredit(manager, captured, creditedMinor, entryId, now);
        }
        const applied = await this.settlement.applyToInvoice(manager, invoice, appliedMinor, now);
        return { commands, afterCommit: () => this.publish(applied.events) };
      }
      case 'refunded': {
        const chart = await this.chartWithin(manager, payment.tenantId, payment.currency);
        // The refund's own entry debited the receivable with all of it: the part taken back from credit moves there.
        const refunded = await this.settlement.refundWithin(manager, record, invoice, change.amountMinor, now);
        const commands: LedgerCommand[] = [];
        if (refunded.fromCreditMinor > 0n) {
          commands.push(
            this.settlement.entry(record, refunded.creditEntryId, `Payment ${payment.id}: refund taken from customer credit`, now, [
              [chart[ChartRole.CUSTOMER_CREDIT], EntryDirection.DEBIT, refunded.fromCreditMinor],
              [chart[ChartRole.ACCOUNTS_RECEIVABLE], EntryDirection.CREDIT, refunded.fromCreditMinor],
            ]),
          );
        }
        return { commands, afterCommit: () => this.publish(refunded.events) };
      }
    }
  }

  /**
   * The default chart inside a transaction that needs it (the payments module's): it exists already,
   * since the payment's own postings use it, so this only reads it (from the ledger's cache).
   */
  private chartWithin(_manager: EntityManager, tenantId: string, currency: string): Promise<ChartAccounts> {
    return this.ledger.defaultChartAccounts(tenantId, currency);
  }

  private publish(events: InvoiceEvent[]): void {
    this.invoicePayments.publishCommitted({ entries: [], events });
  }
}
