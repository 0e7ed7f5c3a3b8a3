import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { newId, requireIdOfKind } from '../../common/ids';
import { optionalText } from '../../common/input';
import { parsePositiveAmount, toBigInt } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource, type DatabaseKind } from '../../db/data-source';
import { runInTransaction } from '../../db/transaction';
import { validationError } from '../../common/errors';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { JournalEntryRecord, LedgerCommand, LineDraft } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import { EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';
import { CustomerCreditBook, CustomerCreditSource } from './customer-credit';
import { InvoicePaymentErrors } from './invoice-payments.errors';
import { InvoicePaymentMethod, type InvoicePaymentRecord, InvoicePaymentStatus, invoicePaymentFromRow, RecordedPaymentMethod } from './invoice-payments.types';
import { type InvoiceEvent, type InvoiceEventPublisher, InvoiceEventType, NO_INVOICE_EVENTS } from './invoices.events';
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
 * customer credit an overpayment leaves. Every change locks the invoice first, then the customer's
 * credit balance, and writes the ledger entry last (the ledger writer locks the accounts), all in one
 * transaction; events are published after the commit.
 *
 * Posting rule of money received (one POSTED entry, in the invoice's currency): debit the cash account
 * (the bank account's ledger account, or the default chart's CASH_AT_BANK) the whole amount; credit
 * ACCOUNTS_RECEIVABLE the part applied (at most what the invoice still owes); credit CUSTOMER_CREDIT the
 * rest, which becomes the customer's unapplied credit.
 */
export class InvoicePaymentsService {
  private readonly kind: DatabaseKind;
  private readonly forUpdate: string;
  private readonly credit: CustomerCreditBook;

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
    this.kind = databaseKindOfSource(dataSource);
    this.forUpdate = this.kind === 'mysql' ? ' FOR UPDATE' : '';
    this.credit = new CustomerCreditBook(this.kind);
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
    await this.insertPayment(manager, payment);
    if (creditedMinor > 0n) await this.giveCredit(manager, payment, creditedMinor, entryId, now);
    const { invoice: updated, events } = await this.applyToInvoice(manager, invoice, appliedMinor, now);
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
    const credits = await this.credit.balancesOf(this.dataSource.manager, tenantId, customerIds);
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

  /**
   * Adds what a payment applied to the locked invoice: amountPaid grows, and nothing left to pay makes
   * it PAID. Returns the invoice as stored and the events to publish after the commit.
   */
  private async applyToInvoice(manager: EntityManager, invoice: InvoiceRecord, appliedMinor: bigint, now: Date): Promise<{ invoice: InvoiceRecord; events: InvoiceEvent[] }> {
    const paid = { ...invoice, amountPaidMinor: invoice.amountPaidMinor + appliedMinor, updatedAt: now };
    const becamePaid = invoice.status === InvoiceStatus.OPEN && amountRemainingOf(paid) === 0n;
    const updated: InvoiceRecord = becamePaid ? { ...paid, status: InvoiceStatus.PAID, paidAt: now } : paid;
    await this.writeSettlement(manager, updated);
    const events: InvoiceEvent[] = [{ type: InvoiceEventType.PAYMENT_SUCCEEDED, invoice: updated, occurredAt: now }];
    if (becamePaid) events.push({ type: InvoiceEventType.PAID, invoice: updated, occurredAt: now });
    return { invoice: updated, events };
  }

  /** Writes what payments change on an invoice row (the row is locked by the caller). */
  private async writeSettlement(manager: EntityManager, invoice: InvoiceRecord): Promise<void> {
    await manager.query('UPDATE invoices SET amount_paid_minor = ?, status = ?, paid_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?', [
      this.minor(invoice.amountPaidMinor),
      invoice.status,
      invoice.paidAt === null ? null : toDbTimestamp(invoice.paidAt),
      toDbTimestamp(invoice.updatedAt),
      invoice.tenantId,
      invoice.id,
    ]);
  }

  private async giveCredit(manager: EntityManager, payment: InvoicePaymentRecord, amountMinor: bigint, entryId: string, now: Date): Promise<void> {
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

  private async insertPayment(manager: EntityManager, p: InvoicePaymentRecord): Promise<void> {
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
        this.minor(p.amountMinor),
        this.minor(p.appliedMinor),
        this.minor(p.creditedMinor),
        this.minor(p.refundedMinor),
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

  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }
}

function minOf(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
