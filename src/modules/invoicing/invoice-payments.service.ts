import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { newId, requireIdOfKind } from '../../common/ids';
import { optionalText } from '../../common/input';
import { parsePositiveAmount, toBigInt } from '../../common/money';
import { databaseKindOfSource } from '../../db/data-source';
import { runInTransaction } from '../../db/transaction';
import { validationError } from '../../common/errors';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { JournalEntryRecord, LedgerCommand, LineDraft } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import { EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';
import { InvoiceSettlement, minOf } from './invoice-settlement';
import { InvoicePaymentErrors } from './invoice-payments.errors';
import { InvoicePaymentMethod, type InvoicePaymentRecord, InvoicePaymentStatus, invoicePaymentFromRow, RecordedPaymentMethod } from './invoice-payments.types';
import { type InvoiceEvent, type InvoiceEventPublisher, NO_INVOICE_EVENTS } from './invoices.events';
import type { InvoicesService } from './invoices.service';
import { requireDate, utcDateOf } from './invoices.service';
import { amountRemainingOf, type InvoiceRecord, InvoiceStatus } from './invoices.types';

export const INVOICE_PAYMENT_LIMITS = { referenceLength: 255, reasonLength: 500 } as const;

export interface RecordInvoicePaymentInput {
  invoiceId: string;
  /** A decimal in the invoice's currency, greater than zero. */
  amount: string;
  method: RecordedPaymentMethod;
  /** Required for a bank transfer (what the bank shows), optional for cash. */
  reference?: string | null;
  /** YYYY-MM-DD, not after today; today (UTC) when left out. */
  receivedOn?: string | null;
  /** The bank account the money arrived on; its ledger account is debited instead of the chart's cash at bank. */
  bankAccountId?: string | null;
}

/** What recordBankTransferWithin is given by a caller that already holds a transaction (reconciliation). */
export interface BankTransferWithin {
  invoiceId: string;
  amountMinor: bigint;
  reference: string;
  /** YYYY-MM-DD. */
  receivedOn: string;
  bankAccountId: string | null;
  /** The statement line that carried the transfer: one invoice payment per line, at most. */
  statementLineId: string | null;
}

export interface RefundInvoicePaymentInput {
  invoicePaymentId: string;
  /** Left out: everything the payment can still give back. */
  amount?: string | null;
  reason?: string | null;
}

/** The ledger account of a bank account and its currency; null when the tenant has no such bank account. */
export type BankAccountLedgerLookup = (tenantId: string, bankAccountId: string) => Promise<{ ledgerAccountId: string; currency: string } | null>;

export interface InvoicePaymentResult {
  invoice: InvoiceRecord;
  invoicePayment: InvoicePaymentRecord;
}

/** What a change made inside a caller's transaction leaves for the caller to publish once it has committed. */
export interface InvoicePaymentWithinResult extends InvoicePaymentResult {
  /** Pass to `ledger.entriesCommitted` after the commit. */
  entries: JournalEntryRecord[];
  /** Pass to the invoice event publisher after the commit (or to `publishCommitted`). */
  events: InvoiceEvent[];
}

/** What a customer owes and is owed in one currency. */
export interface CustomerBalanceRecord {
  currency: string;
  /** Σ amountRemaining of the customer's OPEN invoices. */
  openReceivablesMinor: bigint;
  unappliedCreditMinor: bigint;
}

/**
 * Payments of invoices: money recorded by hand (bank transfer, cash) or by reconciliation, and the
 * customer credit an overpayment leaves, refunds of them, and the reads (card payments are
 * InvoiceCardPaymentsService's; both share InvoiceSettlement and this publisher). Every change
 * takes its locks in one order, so that two changes never wait on each other in a circle: the card
 * payment's row (held by the payments module, for card payments), the invoice, its invoice payment
 * rows, the customer's credit balance, and last the accounts (the ledger writer, which writes the
 * entry), all in one transaction; events are published after the commit.
 *
 * Posting rule of money received (one POSTED entry, in the invoice's currency): debit the cash account
 * (the bank account's ledger account, or the default chart's CASH_AT_BANK) the whole amount; credit
 * ACCOUNTS_RECEIVABLE the part applied (at most what the invoice still owes); credit CUSTOMER_CREDIT the
 * rest, which becomes the customer's unapplied credit.
 */
export class InvoicePaymentsService {
  private readonly forUpdate: string;
  /** The rows and rules shared with card payments (InvoiceCardPaymentsService) and finalisation. */
  readonly settlement: InvoiceSettlement;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly ledger: LedgerService,
    private readonly invoices: InvoicesService,
    private readonly bankAccounts: BankAccountLedgerLookup,
    private readonly events: InvoiceEventPublisher = NO_INVOICE_EVENTS,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
  ) {
    const kind = databaseKindOfSource(dataSource);
    this.forUpdate = kind === 'mysql' ? ' FOR UPDATE' : '';
    this.settlement = new InvoiceSettlement(kind, events);
  }

  // ---------------------------------------------------------------------------------------------
  // Money recorded by hand or by reconciliation

  /**
   * A bank transfer or cash payment of an OPEN invoice. Every bad field is VALIDATION_FAILED naming it;
   * an invoice that is not OPEN is INVALID_STATE_TRANSITION; another tenant's invoice or bank account is
   * NOT_FOUND; in every case nothing changes.
   */
  async recordInvoicePayment(tenantId: string, input: RecordInvoicePaymentInput, idempotency?: IdempotencyHandle): Promise<InvoicePaymentResult> {
    requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    if (!Object.values(RecordedPaymentMethod).includes(input.method)) throw validationError('method must be BANK_TRANSFER or CASH', { field: 'method' });
    const reference = optionalText(input.reference, 'reference', INVOICE_PAYMENT_LIMITS.referenceLength, { printable: true });
    if (input.method === RecordedPaymentMethod.BANK_TRANSFER && reference === null) throw InvoicePaymentErrors.referenceRequired();
    const receivedOn = this.receivedOnOf(input.receivedOn);
    if (input.bankAccountId !== null && input.bankAccountId !== undefined) requireIdOfKind(input.bankAccountId, 'bankAccount', 'bankAccountId');
    const invoice = await this.invoices.getInvoice(tenantId, input.invoiceId, 'invoiceId');
    const amountMinor = parsePositiveAmount(input.amount, invoice.currency);
    const chart = await this.ledger.defaultChartAccounts(tenantId, invoice.currency);
    const cashAccountId = await this.cashAccountOf(tenantId, input.bankAccountId ?? null, invoice.currency, chart);
    const done = await runInTransaction(this.dataSource, async (manager) => {
      const result = await this.receiveWithin(manager, tenantId, {
        invoiceId: invoice.id,
        method: input.method === RecordedPaymentMethod.CASH ? InvoicePaymentMethod.CASH : InvoicePaymentMethod.BANK_TRANSFER,
        amountMinor,
        reference,
        receivedOn,
        cashAccountId,
        statementLineId: null,
        chart,
      });
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { invoicePaymentId: result.invoicePayment.id } });
      return result;
    });
    this.publishCommitted(done);
    return { invoice: done.invoice, invoicePayment: done.invoicePayment };
  }

  /**
   * A bank transfer that pays an invoice, recorded inside the caller's transaction (the reconciliation
   * engine, matching a statement line by the invoice number it carries). `chart` is the default chart in
   * the invoice's currency, read before the transaction. The caller commits, then publishes the result's
   * entries (`ledger.entriesCommitted`) and events (`publishCommitted`). Refusals are thrown as for
   * recordInvoicePayment (an invoice that is not OPEN is INVALID_STATE_TRANSITION) and leave the caller's
   * transaction to roll back or carry on without it.
   */
  async recordBankTransferWithin(manager: EntityManager, tenantId: string, input: BankTransferWithin, chart: ChartAccounts): Promise<InvoicePaymentWithinResult> {
    requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    if (input.amountMinor <= 0n) throw validationError('amount must be greater than zero', { field: 'amount' });
    const receivedOn = requireDate(input.receivedOn, 'receivedOn');
    const reference = optionalText(input.reference, 'reference', INVOICE_PAYMENT_LIMITS.referenceLength);
    const invoice = await this.invoices.lockInvoice(manager, tenantId, input.invoiceId);
    if (input.statementLineId !== null) {
      // One payment per statement line (a unique index holds it too): a second is refused with a code, not a driver error.
      const taken: unknown[] = await manager.query('SELECT id FROM invoice_payments WHERE tenant_id = ? AND statement_line_id = ?', [tenantId, input.statementLineId]);
      if (taken.length > 0) throw InvoicePaymentErrors.statementLineTaken(input.statementLineId);
    }
    const cashAccountId = await this.cashAccountOf(tenantId, input.bankAccountId, invoice.currency, chart);
    return this.receiveWithin(manager, tenantId, {
      invoiceId: input.invoiceId,
      method: InvoicePaymentMethod.BANK_TRANSFER,
      amountMinor: input.amountMinor,
      reference,
      receivedOn,
      cashAccountId,
      statementLineId: input.statementLineId,
      chart,
    });
  }

  /** Publishes what a committed change left (the entries to the ledger's subscribers, the invoice events). */
  publishCommitted(result: { entries: readonly JournalEntryRecord[]; events: readonly InvoiceEvent[] }): void {
    this.ledger.entriesCommitted(result.entries);
    if (result.events.length > 0) this.events.invoiceEventsCommitted(result.events);
  }

  /** The posting and the rows of money received (see the class comment), under the invoice's lock. */
  private async receiveWithin(
    manager: EntityManager,
    tenantId: string,
    money: {
      invoiceId: string;
      method: InvoicePaymentMethod;
      amountMinor: bigint;
      reference: string | null;
      receivedOn: string;
      cashAccountId: string;
      statementLineId: string | null;
      chart: ChartAccounts;
    },
  ): Promise<InvoicePaymentWithinResult> {
    const invoice = await this.invoices.lockInvoice(manager, tenantId, money.invoiceId);
    if (invoice.status !== InvoiceStatus.OPEN) throw InvoicePaymentErrors.notOpen(invoice.id, invoice.status, 'paid');
    const now = this.clock.now();
    const appliedMinor = minOf(money.amountMinor, amountRemainingOf(invoice));
    const creditedMinor = money.amountMinor - appliedMinor;
    const entryId = newId('journalEntry');
    const payment: InvoicePaymentRecord = {
      id: newId('invoicePayment'),
      tenantId,
      invoiceId: invoice.id,
      customerId: invoice.customerId,
      currency: invoice.currency,
      method: money.method,
      status: InvoicePaymentStatus.SUCCEEDED,
      amountMinor: money.amountMinor,
      appliedMinor,
      creditedMinor,
      refundedMinor: 0n,
      reference: money.reference,
      paymentId: null,
      statementLineId: money.statementLineId,
      journalEntryId: entryId,
      receivedOn: money.receivedOn,
      failureCode: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.settlement.insertPayment(manager, payment);
    if (creditedMinor > 0n) await this.settlement.giveCredit(manager, payment, creditedMinor, entryId, now);
    const { invoice: updated, events } = await this.settlement.applyToInvoice(manager, invoice, appliedMinor, now);
    const line = (accountId: string, direction: EntryDirection, amountMinor: bigint, field: string): LineDraft => ({
      accountId,
      direction,
      amountMinor,
      currency: invoice.currency,
      field,
    });
    const command: LedgerCommand = {
      type: 'create',
      entryId,
      tenantId,
      status: JournalEntryStatus.POSTED,
      description: `Invoice ${invoice.number ?? invoice.id}: ${money.method === InvoicePaymentMethod.CASH ? 'cash' : 'bank transfer'} received`,
      effectiveAt: now,
      externalRef: null,
      metadata: { invoiceId: invoice.id, invoicePaymentId: payment.id },
      lines: [
        line(money.cashAccountId, EntryDirection.DEBIT, money.amountMinor, 'amount'),
        line(money.chart[ChartRole.ACCOUNTS_RECEIVABLE], EntryDirection.CREDIT, appliedMinor, 'applied'),
        line(money.chart[ChartRole.CUSTOMER_CREDIT], EntryDirection.CREDIT, creditedMinor, 'credited'),
      ].filter((draft) => draft.amountMinor > 0n),
    };
    const writes = await this.ledger.writeWithin(manager, [command]);
    return { invoice: updated, invoicePayment: payment, entries: writes.map((write) => write.entry), events };
  }

  // ---------------------------------------------------------------------------------------------
  // Refunds of bank transfers and cash

  /**
   * Gives back money of a BANK_TRANSFER or CASH payment: first what is left of the credit it gave the
   * customer, then what it paid of the invoice, which reopens it (PAID → OPEN). Never more than what
   * the payment brought in and is still there to take back: more is VALIDATION_FAILED. Posting: debit
   * CUSTOMER_CREDIT (the credit part) and ACCOUNTS_RECEIVABLE (the invoice part), credit the cash
   * account the payment was received on.
   */
  async refundInvoicePayment(tenantId: string, input: RefundInvoicePaymentInput, idempotency?: IdempotencyHandle): Promise<InvoicePaymentResult> {
    requireIdOfKind(input.invoicePaymentId, 'invoicePayment', 'invoicePaymentId');
    const reason = optionalText(input.reason, 'reason', INVOICE_PAYMENT_LIMITS.reasonLength);
    const found = await this.getInvoicePayment(tenantId, input.invoicePaymentId, 'invoicePaymentId');
    if (found.method !== InvoicePaymentMethod.BANK_TRANSFER && found.method !== InvoicePaymentMethod.CASH) throw InvoicePaymentErrors.refundMethod(found.id, found.method);
    const askedMinor = input.amount === null || input.amount === undefined ? null : parsePositiveAmount(input.amount, found.currency);
    const chart = await this.ledger.defaultChartAccounts(tenantId, found.currency);
    // The account the money arrived on: the debit of the entry that booked it (bank accounts and their ledger accounts never change).
    const postings = found.journalEntryId ? await this.ledger.postingsByEntryIds(tenantId, [found.journalEntryId]) : [];
    const cashAccountId = postings.find((posting) => posting.direction === EntryDirection.DEBIT)?.accountId ?? chart[ChartRole.CASH_AT_BANK];
    const done = await runInTransaction(this.dataSource, async (manager) => {
      // Invoice first, then its payment row: every path locks in this order (invoice, payment row, credit, accounts).
      const invoice = await this.invoices.lockInvoice(manager, tenantId, found.invoiceId);
      const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM invoice_payments WHERE tenant_id = ? AND id = ?${this.forUpdate}`, [tenantId, found.id]);
      const record = invoicePaymentFromRow(rows[0]);
      if (record.status !== InvoicePaymentStatus.SUCCEEDED) throw InvoicePaymentErrors.refundNotSucceeded(record.id, record.status);
      const refundable = await this.settlement.refundableWithin(manager, record);
      if (refundable <= 0n) throw InvoicePaymentErrors.nothingToRefund(record.id);
      const amountMinor = askedMinor ?? refundable;
      if (amountMinor > refundable) throw InvoicePaymentErrors.refundTooLarge(record.id, amountMinor, refundable, record.currency);
      const now = this.clock.now();
      const refunded = await this.settlement.refundWithin(manager, record, invoice, amountMinor, now);
      const command = this.settlement.entry(record, refunded.creditEntryId, `Invoice ${invoice.number ?? invoice.id}: ${record.method === InvoicePaymentMethod.CASH ? 'cash' : 'bank transfer'} refunded${reason ? ` (${reason})` : ''}`, now, [
        [chart[ChartRole.CUSTOMER_CREDIT], EntryDirection.DEBIT, refunded.fromCreditMinor],
        [chart[ChartRole.ACCOUNTS_RECEIVABLE], EntryDirection.DEBIT, refunded.fromAppliedMinor],
        [cashAccountId, EntryDirection.CREDIT, amountMinor],
      ]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { invoicePaymentId: record.id } });
      await this.settlement.linkEntry(manager, record, refunded.creditEntryId, now);
      const writes = await this.ledger.writeWithin(manager, [command]);
      return { invoice: refunded.invoice, invoicePayment: refunded.invoicePayment, entries: writes.map((write) => write.entry), events: refunded.events };
    });
    this.publishCommitted(done);
    return { invoice: done.invoice, invoicePayment: done.invoicePayment };
  }


  // ---------------------------------------------------------------------------------------------
  // Reads

  async invoicePaymentsByIds(tenantId: string, ids: readonly string[]): Promise<InvoicePaymentRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM invoice_payments WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map(invoicePaymentFromRow);
  }

  async getInvoicePayment(tenantId: string, id: string, field = 'id'): Promise<InvoicePaymentRecord> {
    requireIdOfKind(id, 'invoicePayment', field);
    const [payment] = await this.invoicePaymentsByIds(tenantId, [id]);
    if (!payment) throw InvoicePaymentErrors.invoicePaymentNotFound(id);
    return payment;
  }

  /** Every payment of each invoice, oldest first; one statement for all of them. */
  async paymentsByInvoiceIds(tenantId: string, invoiceIds: readonly string[]): Promise<Map<string, InvoicePaymentRecord[]>> {
    const byInvoice = new Map<string, InvoicePaymentRecord[]>(invoiceIds.map((id) => [id, []]));
    if (invoiceIds.length === 0) return byInvoice;
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM invoice_payments WHERE tenant_id = ? AND invoice_id IN (${invoiceIds.map(() => '?').join(',')}) ORDER BY invoice_id, id`,
      [tenantId, ...invoiceIds],
    );
    for (const row of rows) {
      const payment = invoicePaymentFromRow(row);
      byInvoice.get(payment.invoiceId)?.push(payment);
    }
    return byInvoice;
  }

  /**
   * Each customer's open receivables and unapplied credit per currency (only currencies where one of
   * them is not zero), in currency order: one grouped statement over OPEN invoices and one over the
   * credit balances, for every customer of a page. amountRemaining is the one rule of invoices.types.ts,
   * summed in SQL the same way (never below zero per invoice).
   */
  async balancesByCustomerIds(tenantId: string, customerIds: readonly string[]): Promise<Map<string, CustomerBalanceRecord[]>> {
    const result = new Map<string, CustomerBalanceRecord[]>(customerIds.map((id) => [id, []]));
    if (customerIds.length === 0) return result;
    const placeholders = customerIds.map(() => '?').join(',');
    const receivables: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT customer_id, currency,
              SUM(CASE WHEN total_minor - amount_credited_minor - amount_paid_minor - amount_written_off_minor > 0
                       THEN total_minor - amount_credited_minor - amount_paid_minor - amount_written_off_minor ELSE 0 END) AS remaining
         FROM invoices WHERE tenant_id = ? AND status = ? AND customer_id IN (${placeholders}) GROUP BY customer_id, currency`,
      [tenantId, InvoiceStatus.OPEN, ...customerIds],
    );
    const credits = await this.settlement.credit.balancesOf(this.dataSource.manager, tenantId, customerIds);
    const byKey = new Map<string, CustomerBalanceRecord>();
    const entry = (customerId: string, currency: string) => {
      const key = `${customerId} ${currency}`;
      let found = byKey.get(key);
      if (!found) {
        found = { currency, openReceivablesMinor: 0n, unappliedCreditMinor: 0n };
        byKey.set(key, found);
        result.get(customerId)?.push(found);
      }
      return found;
    };
    for (const row of receivables) {
      const remaining = toBigInt(row.remaining ?? 0);
      if (remaining !== 0n) entry(String(row.customer_id), String(row.currency)).openReceivablesMinor = remaining;
    }
    for (const [customerId, balances] of credits) for (const balance of balances) entry(customerId, balance.currency).unappliedCreditMinor = balance.balanceMinor;
    for (const list of result.values()) list.sort((a, b) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0));
    return result;
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing shared by every way of paying

  /** The account money arrives on: the bank account's ledger account (same currency required) or the chart's cash at bank. */
  private async cashAccountOf(tenantId: string, bankAccountId: string | null, currency: string, chart: ChartAccounts): Promise<string> {
    if (bankAccountId === null) return chart[ChartRole.CASH_AT_BANK];
    const account = await this.bankAccounts(tenantId, bankAccountId);
    if (!account) throw InvoicePaymentErrors.bankAccountNotFound(bankAccountId);
    if (account.currency !== currency) throw InvoicePaymentErrors.bankAccountCurrency(bankAccountId, account.currency, currency);
    return account.ledgerAccountId;
  }

  private receivedOnOf(value: string | null | undefined): string {
    const today = utcDateOf(this.clock.now());
    if (value === null || value === undefined) return today;
    const date = requireDate(value, 'receivedOn');
    if (date > today) throw validationError(`receivedOn ${date} is after today (${today}): record money once it has arrived`, { field: 'receivedOn' });
    return date;
  }
}
