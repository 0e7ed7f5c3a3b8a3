import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { optionalText, requireMetadata } from '../../common/input';
import { formatMinorAsDecimal, requireCurrency, toBigInt } from '../../common/money';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource, type DatabaseKind } from '../../db/data-source';
import { keysetSql } from '../../db/keyset';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { JournalEntryRecord, LedgerCommand, LineDraft } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import { EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';
import { CustomerCreditBook } from './customer-credit';
import { CustomerErrors } from './customers.errors';
import { applyCustomerCreditAtFinalization } from './invoice-credit-at-finalization';
import { computeInvoiceAmounts, type InvoiceAmounts, type InvoiceLineInput, taxByRateFromJson, taxByRateToJson } from './invoice-amounts';
import { nextInvoiceNumber } from './invoice-numbers.service';
import { defaultPaymentTermsOf, invoiceNumberingOf } from './invoice-settings.service';
import { InvoiceErrors } from './invoices.errors';
import { type InvoiceEvent, type InvoiceEventPublisher, InvoiceEventType, recordInvoiceEvents } from './invoices.events';
import {
  DEFAULT_PAYMENT_TERMS_DAYS,
  type InvoiceLineRecord,
  type InvoiceRecord,
  InvoiceStatus,
  MAX_PAYMENT_TERMS_DAYS,
  MEMO_MAX_LENGTH,
  nextVersionOf,
} from './invoices.types';

/** A line as GraphQL gives it: the discount's unused alternative may be null rather than absent. */
export type InvoiceLineEntry = Omit<InvoiceLineInput, 'discount'> & { discount?: { percent?: string | null; amount?: string | null } | null };

export interface CreateInvoiceInput {
  customerId: string;
  currency: string;
  lines: InvoiceLineEntry[];
  /** YYYY-MM-DD. Give this or paymentTermsDays (default: DEFAULT_PAYMENT_TERMS_DAYS after issue). */
  dueDate?: string | null;
  paymentTermsDays?: number | null;
  memo?: string | null;
  metadata?: Record<string, unknown> | null;
}

/** A field left out (undefined) keeps its value; null clears an optional one. */
export interface UpdateInvoiceInput {
  invoiceId: string;
  customerId?: string | null;
  currency?: string | null;
  /** Replaces every line. */
  lines?: InvoiceLineEntry[] | null;
  dueDate?: string | null;
  paymentTermsDays?: number | null;
  memo?: string | null;
  metadata?: Record<string, unknown> | null;
  /** The version the caller read (see requireExpectedVersion); left out, the change applies to whatever is stored. */
  expectedVersion?: number | null;
}

export interface FinalizeInvoiceInput {
  invoiceId: string;
  /** The version the caller read: finalise the draft it reviewed, not one changed since. */
  expectedVersion?: number | null;
}

export interface InvoiceFilter {
  status?: InvoiceStatus | null;
  customerId?: string | null;
  /** true: OPEN and due before today (UTC, by the service's clock); false: every other invoice. */
  overdue?: boolean | null;
  /** Inclusive bounds, YYYY-MM-DD. A bound on a date leaves out invoices without that date (drafts). */
  issueDateFrom?: string | null;
  issueDateTo?: string | null;
  dueDateFrom?: string | null;
  dueDateTo?: string | null;
}

const DATE_SHAPE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A real calendar date written YYYY-MM-DD ("2026-02-30" is refused, not moved to March). */
export function requireDate(value: string, field: string): string {
  const match = DATE_SHAPE.exec(value);
  if (!match) throw InvoiceErrors.invalidDate(field);
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  if (date.toISOString().slice(0, 10) !== value) throw InvoiceErrors.invalidDate(field);
  return value;
}

function requireTerms(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_PAYMENT_TERMS_DAYS) throw InvoiceErrors.invalidTerms(MAX_PAYMENT_TERMS_DAYS);
  return value;
}

/**
 * Optimistic concurrency: a caller that names the version it read changes the invoice only if it still
 * has that version; otherwise PRECONDITION_FAILED naming the current one, and the caller's transaction
 * (which holds the invoice's lock) changes nothing. Without a version the last write wins.
 */
export function requireExpectedVersion(invoice: InvoiceRecord, expectedVersion: number | null | undefined): void {
  if (expectedVersion === null || expectedVersion === undefined || expectedVersion === invoice.version) return;
  throw InvoiceErrors.versionChanged(invoice.id, expectedVersion, invoice.version);
}

/** The UTC calendar day of an instant, YYYY-MM-DD. */
export function utcDateOf(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

function addDays(date: string, days: number): string {
  return utcDateOf(new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS));
}

/** Due date and terms as stored on a draft: exactly one of them set. */
interface DueTerms {
  dueDate: string | null;
  paymentTermsDays: number | null;
}

function dueTermsOf(dueDate: string | null | undefined, paymentTermsDays: number | null | undefined, defaultTerms = DEFAULT_PAYMENT_TERMS_DAYS): DueTerms {
  const hasDue = dueDate !== null && dueDate !== undefined;
  const hasTerms = paymentTermsDays !== null && paymentTermsDays !== undefined;
  if (hasDue && hasTerms) throw InvoiceErrors.dueAndTerms();
  if (hasDue) return { dueDate: requireDate(dueDate, 'dueDate'), paymentTermsDays: null };
  return { dueDate: null, paymentTermsDays: hasTerms ? requireTerms(paymentTermsDays) : defaultTerms };
}

/** A percent as computeInvoiceAmounts accepted it ("010.50"), in its shortest form ("10.5"). */
function normalisePercent(value: string): string {
  const [whole, fraction = ''] = value.split('.');
  const trimmedFraction = fraction.replace(/0+$/, '');
  const trimmedWhole = whole.replace(/^0+(?=\d)/, '');
  return trimmedFraction ? `${trimmedWhole}.${trimmedFraction}` : trimmedWhole;
}

function amountsOf(currency: string, lines: readonly InvoiceLineEntry[] | null | undefined): InvoiceAmounts {
  if (!Array.isArray(lines) || lines.length === 0) throw InvoiceErrors.noLines();
  // computeInvoiceAmounts reads a null alternative as absent and refuses a discount with both or neither.
  return computeInvoiceAmounts({ currency, lines: lines as InvoiceLineInput[] });
}

/** The line inputs a stored line was computed from, to recompute it exactly. */
function lineInputOf(line: InvoiceLineRecord, currency: string): InvoiceLineInput {
  return {
    description: line.description,
    quantity: line.quantity,
    unitPrice: formatMinorAsDecimal(line.unitPriceMinor, currency),
    taxRate: line.taxRate,
    taxBehaviour: line.taxBehaviour,
    discount:
      line.discountPercent !== null
        ? { percent: line.discountPercent }
        : line.discountAmountInputMinor !== null
          ? { amount: formatMinorAsDecimal(line.discountAmountInputMinor, currency) }
          : null,
  };
}

/**
 * Invoices of a tenant: created and edited as DRAFTs, then finalised into OPEN invoices, which takes
 * the next number of the tenant's series and books the receivable in the ledger, in one transaction.
 *
 * Posting rule of a finalisation (one POSTED journal entry, on the default chart in the invoice's
 * currency): debit ACCOUNTS_RECEIVABLE the total; credit REVENUE the subtotal (net of tax, after
 * discounts); credit SALES_TAX_PAYABLE the tax of each rate, one line per rate. Lines of zero are left
 * out; an invoice whose total is zero posts no entry.
 */
export class InvoicesService {
  private readonly kind: DatabaseKind;
  private readonly forUpdate: string;
  private readonly credit: CustomerCreditBook;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly ledger: LedgerService,
    /** Told of each change once it has committed (invoice.created, invoice.updated, invoice.finalized). */
    private readonly events: InvoiceEventPublisher,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
  ) {
    this.kind = databaseKindOfSource(dataSource);
    this.forUpdate = this.kind === 'mysql' ? ' FOR UPDATE' : '';
    this.credit = new CustomerCreditBook(this.kind);
  }

  /** A DRAFT with its amounts computed; every bad field is VALIDATION_FAILED naming it, and nothing is stored. */
  async createInvoice(tenantId: string, input: CreateInvoiceInput, idempotency?: IdempotencyHandle): Promise<InvoiceRecord> {
    requireIdOfKind(input.customerId, 'customer', 'customerId');
    const currency = requireCurrency(input.currency, 'currency');
    const amounts = amountsOf(currency, input.lines);
    const terms = dueTermsOf(input.dueDate, input.paymentTermsDays, await this.defaultTermsUnlessGiven(tenantId, input.dueDate, input.paymentTermsDays));
    const memo = optionalText(input.memo, 'memo', MEMO_MAX_LENGTH);
    const metadata = requireMetadata(input.metadata);
    const now = this.clock.now();
    const invoice: InvoiceRecord = {
      id: newId('invoice'),
      tenantId,
      customerId: input.customerId,
      currency,
      status: InvoiceStatus.DRAFT,
      number: null,
      seriesKey: null,
      numberValue: null,
      issueDate: null,
      ...terms,
      memo,
      metadata,
      ...this.totalsOf(amounts),
      amountPaidMinor: 0n,
      amountCreditedMinor: 0n,
      amountWrittenOffMinor: 0n,
      journalEntryId: null,
      voidEntryId: null,
      writeOffEntryId: null,
      finalizedAt: null,
      paidAt: null,
      voidedAt: null,
      uncollectibleAt: null,
      overdueNotifiedAt: null,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
    const lines = this.linesOf(amounts, input.lines);
    await runInTransaction(this.dataSource, async (manager) => {
      await this.requireCustomer(manager, tenantId, invoice.customerId);
      await manager.query(
        `INSERT INTO invoices (id, tenant_id, customer_id, currency, status, due_date, payment_terms_days, memo, metadata,
                               subtotal_minor, discount_total_minor, tax_total_minor, total_minor, amount_paid_minor, tax_by_rate, created_at, updated_at, version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          invoice.id,
          tenantId,
          invoice.customerId,
          currency,
          invoice.status,
          invoice.dueDate,
          invoice.paymentTermsDays,
          memo,
          metadata === null ? null : JSON.stringify(metadata),
          this.minor(invoice.subtotalMinor),
          this.minor(invoice.discountTotalMinor),
          this.minor(invoice.taxTotalMinor),
          this.minor(invoice.totalMinor),
          this.minor(0n),
          taxByRateToJson(invoice.taxByRate),
          toDbTimestamp(now),
          toDbTimestamp(now),
          invoice.version,
        ],
      );
      await this.insertLines(manager, tenantId, invoice.id, lines);
      await recordInvoiceEvents(this.events, manager, [{ type: InvoiceEventType.CREATED, invoice, occurredAt: now }]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { invoiceId: invoice.id } });
    });
    this.events.invoiceEventsCommitted([{ type: InvoiceEventType.CREATED, invoice, occurredAt: now }]);
    return invoice;
  }

  /**
   * Changes a DRAFT: a field left out keeps its value; `lines` replaces every line and the amounts are
   * recomputed. Any other status is INVALID_STATE_TRANSITION and nothing changes; so is a stale
   * `expectedVersion` (PRECONDITION_FAILED, checked first: the caller's view is out of date whatever
   * else it asks).
   */
  async updateInvoice(tenantId: string, input: UpdateInvoiceInput, idempotency?: IdempotencyHandle): Promise<InvoiceRecord> {
    requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    const { invoiceId, expectedVersion, ...change } = input;
    if (Object.values(change).every((value) => value === undefined)) throw InvoiceErrors.nothingToChange();
    if (change.customerId === null) throw InvoiceErrors.customerIdRequired();
    const newCustomerId = change.customerId === undefined ? undefined : requireIdOfKind(change.customerId, 'customer', 'customerId');
    if (change.currency === null) throw InvoiceErrors.currencyRequired();
    const newCurrency = change.currency === undefined ? undefined : requireCurrency(change.currency, 'currency');
    if (change.lines === null) throw InvoiceErrors.noLines();
    const memo = change.memo === undefined ? undefined : optionalText(change.memo, 'memo', MEMO_MAX_LENGTH);
    const metadata = change.metadata === undefined ? undefined : requireMetadata(change.metadata);
    const dueChanged = change.dueDate !== undefined || change.paymentTermsDays !== undefined;
    const terms = dueChanged ? dueTermsOf(change.dueDate, change.paymentTermsDays, await this.defaultTermsUnlessGiven(tenantId, change.dueDate, change.paymentTermsDays)) : undefined;
    const stored = await runInTransaction(this.dataSource, async (manager) => {
      const current = await this.lockInvoice(manager, tenantId, invoiceId);
      requireExpectedVersion(current, expectedVersion);
      if (current.status !== InvoiceStatus.DRAFT) throw InvoiceErrors.notDraft(invoiceId, current.status, 'changed');
      const currency = newCurrency ?? current.currency;
      const lineInputs: InvoiceLineEntry[] = change.lines ?? (await this.readLines(manager, [invoiceId])).get(invoiceId)!.map((line) => lineInputOf(line, current.currency));
      // Recomputed whenever lines or currency change (a currency with fewer decimals may refuse a price).
      const amounts = amountsOf(currency, lineInputs);
      if (newCustomerId !== undefined) await this.requireCustomer(manager, tenantId, newCustomerId);
      const updated: InvoiceRecord = {
        ...current,
        customerId: newCustomerId ?? current.customerId,
        currency,
        ...(terms ?? {}),
        memo: memo === undefined ? current.memo : memo,
        metadata: metadata === undefined ? current.metadata : metadata,
        ...this.totalsOf(amounts),
        updatedAt: this.clock.now(),
        version: nextVersionOf(current),
      };
      await manager.query(
        `UPDATE invoices SET customer_id = ?, currency = ?, due_date = ?, payment_terms_days = ?, memo = ?, metadata = ?,
                subtotal_minor = ?, discount_total_minor = ?, tax_total_minor = ?, total_minor = ?, tax_by_rate = ?, updated_at = ?, version = ?
          WHERE tenant_id = ? AND id = ?`,
        [
          updated.customerId,
          currency,
          updated.dueDate,
          updated.paymentTermsDays,
          updated.memo,
          updated.metadata === null ? null : JSON.stringify(updated.metadata),
          this.minor(updated.subtotalMinor),
          this.minor(updated.discountTotalMinor),
          this.minor(updated.taxTotalMinor),
          this.minor(updated.totalMinor),
          taxByRateToJson(updated.taxByRate),
          toDbTimestamp(updated.updatedAt),
          updated.version,
          tenantId,
          invoiceId,
        ],
      );
      await manager.query('DELETE FROM invoice_lines WHERE tenant_id = ? AND invoice_id = ?', [tenantId, invoiceId]);
      await this.insertLines(manager, tenantId, invoiceId, this.linesOf(amounts, lineInputs));
      await recordInvoiceEvents(this.events, manager, [{ type: InvoiceEventType.UPDATED, invoice: updated, occurredAt: updated.updatedAt }]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { invoiceId } });
      return updated;
    });
    this.events.invoiceEventsCommitted([{ type: InvoiceEventType.UPDATED, invoice: stored, occurredAt: stored.updatedAt }]);
    return stored;
  }

  /**
   * DRAFT → OPEN, in one transaction: the invoice locked, its amounts recomputed from its stored lines,
   * the issue and due dates set, the journal entry posted (see the class comment), then the next number
   * of the series taken and the invoice updated with it, so that the counter row is locked for as short
   * a time as possible and a refusal anywhere (the ledger's included) gives the number back. Anything
   * but a DRAFT is INVALID_STATE_TRANSITION; a stale `expectedVersion` is PRECONDITION_FAILED.
   */
  async finalizeInvoice(tenantId: string, input: FinalizeInvoiceInput, idempotency?: IdempotencyHandle): Promise<InvoiceRecord> {
    requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    const invoiceId = input.invoiceId;
    // The chart is created outside the transaction (it commits its own accounts); a draft's currency
    // can change until it is locked, so the chart is re-read if it did.
    let chart = await this.chartFor(tenantId, (await this.getInvoice(tenantId, invoiceId)).currency);
    for (;;) {
      type Outcome = { kind: 'currency-changed'; currency: string } | { kind: 'finalized'; finalized: InvoiceRecord; entries: JournalEntryRecord[] };
      const outcome = await runInTransaction(this.dataSource, async (manager): Promise<Outcome> => {
        const current = await this.lockInvoice(manager, tenantId, invoiceId);
        requireExpectedVersion(current, input.expectedVersion);
        if (current.status !== InvoiceStatus.DRAFT) throw InvoiceErrors.notDraft(invoiceId, current.status, 'finalized');
        if (chart.currency !== current.currency) return { kind: 'currency-changed', currency: current.currency };
        const lines = (await this.readLines(manager, [invoiceId])).get(invoiceId)!;
        const amounts = amountsOf(current.currency, lines.map((line) => lineInputOf(line, current.currency)));
        const now = this.clock.now();
        const issueDate = utcDateOf(now);
        const dueDate = current.dueDate ?? addDays(issueDate, current.paymentTermsDays ?? DEFAULT_PAYMENT_TERMS_DAYS);
        if (dueDate < issueDate) throw InvoiceErrors.dueBeforeIssue(dueDate, issueDate);
        const command = this.postingCommand(current, amounts, chart.accounts, now);
        // ---- Customer credit (invoice-credit-at-finalization.ts): the customer's unapplied credit in this
        // currency pays the invoice at once, in this transaction; its balance is locked before the accounts.
        const credit = await applyCustomerCreditAtFinalization(manager, this.kind, this.credit, { ...current, ...this.totalsOf(amounts) }, chart.accounts, now);
        const paidByCredit = credit?.appliedMinor ?? 0n;
        const commands = [command, credit?.command].filter((c): c is LedgerCommand => Boolean(c));
        // ---- end of customer credit.
        // The ledger writer locks the accounts; the series' counter, shared by every currency of the
        // tenant, is taken after them, so it is held only for the last statements of the transaction.
        const writes = commands.length > 0 ? await this.ledger.writeWithin(manager, commands) : [];
        // The tenant's numbering as committed now; a prefix used before continues its own series.
        const issued = await nextInvoiceNumber(manager, tenantId, await invoiceNumberingOf(manager, tenantId), now);
        const paidInFull = paidByCredit > 0n && paidByCredit === amounts.totalMinor;
        const finalized: InvoiceRecord = {
          ...current,
          ...this.totalsOf(amounts),
          amountPaidMinor: current.amountPaidMinor + paidByCredit,
          paidAt: paidInFull ? now : current.paidAt,
          status: paidInFull ? InvoiceStatus.PAID : InvoiceStatus.OPEN,
          number: issued.number,
          seriesKey: issued.seriesKey,
          numberValue: issued.value,
          issueDate,
          dueDate,
          journalEntryId: command?.entryId ?? null,
          finalizedAt: now,
          updatedAt: now,
          version: nextVersionOf(current),
        };
        await manager.query(
          `UPDATE invoices SET status = ?, number = ?, series_key = ?, number_value = ?, issue_date = ?, due_date = ?,
                  subtotal_minor = ?, discount_total_minor = ?, tax_total_minor = ?, total_minor = ?, tax_by_rate = ?,
                  journal_entry_id = ?, finalized_at = ?, updated_at = ?, amount_paid_minor = ?, paid_at = ?, version = ?
            WHERE tenant_id = ? AND id = ?`,
          [
            finalized.status,
            finalized.number,
            finalized.seriesKey,
            finalized.numberValue,
            issueDate,
            dueDate,
            this.minor(finalized.subtotalMinor),
            this.minor(finalized.discountTotalMinor),
            this.minor(finalized.taxTotalMinor),
            this.minor(finalized.totalMinor),
            taxByRateToJson(finalized.taxByRate),
            finalized.journalEntryId,
            toDbTimestamp(now),
            toDbTimestamp(now),
            this.minor(finalized.amountPaidMinor),
            finalized.paidAt === null ? null : toDbTimestamp(finalized.paidAt),
            finalized.version,
            tenantId,
            invoiceId,
          ],
        );
        await recordInvoiceEvents(this.events, manager, finalizationEvents(finalized));
        if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { invoiceId } });
        return { kind: 'finalized', finalized, entries: writes.map((write) => write.entry) };
      });
      if (outcome.kind === 'currency-changed') {
        chart = await this.chartFor(tenantId, outcome.currency);
        continue;
      }
      this.ledger.entriesCommitted(outcome.entries);
      this.events.invoiceEventsCommitted(finalizationEvents(outcome.finalized));
      return outcome.finalized;
    }
  }

  /** `manager`: read inside a transaction (the overdue sweep reads what it has just marked). */
  async invoicesByIds(tenantId: string, ids: readonly string[], manager: EntityManager = this.dataSource.manager): Promise<InvoiceRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM invoices WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`, [
      tenantId,
      ...ids,
    ]);
    return rows.map((row) => this.invoiceFromRow(row));
  }

  async getInvoice(tenantId: string, id: string, field = 'id'): Promise<InvoiceRecord> {
    requireIdOfKind(id, 'invoice', field);
    const [invoice] = await this.invoicesByIds(tenantId, [id]);
    if (!invoice) throw InvoiceErrors.invoiceNotFound(id);
    return invoice;
  }

  /** The lines of each invoice, in order; one statement for all of them. Lines of other tenants are never read. */
  async linesByInvoiceIds(tenantId: string, invoiceIds: readonly string[]): Promise<Map<string, InvoiceLineRecord[]>> {
    return this.readLines(this.dataSource.manager, invoiceIds, tenantId);
  }

  /**
   * The journal entries each invoice's payments, refunds, credit notes and customer credit posted (the
   * invoice row names its own: finalisation, void, write-off), in one statement for all the invoices;
   * an entry may come twice (a credit note's entry is also its credit movement's), callers keep one.
   * Rows of other tenants are never read.
   */
  async settlementEntryIdsByInvoiceIds(tenantId: string, invoiceIds: readonly string[]): Promise<Map<string, string[]>> {
    const byInvoice = new Map<string, string[]>(invoiceIds.map((id) => [id, []]));
    if (invoiceIds.length === 0) return byInvoice;
    const marks = invoiceIds.map(() => '?').join(',');
    const rows: { invoice_id: string; journal_entry_id: string }[] = await this.dataSource.query(
      `SELECT invoice_id, journal_entry_id FROM invoice_payments WHERE tenant_id = ? AND invoice_id IN (${marks}) AND journal_entry_id IS NOT NULL
       UNION ALL
       SELECT invoice_id, journal_entry_id FROM credit_notes WHERE tenant_id = ? AND invoice_id IN (${marks}) AND journal_entry_id IS NOT NULL
       UNION ALL
       SELECT invoice_id, journal_entry_id FROM customer_credit_movements WHERE tenant_id = ? AND invoice_id IN (${marks}) AND journal_entry_id IS NOT NULL
       UNION ALL
       SELECT invoice_id, journal_entry_id FROM invoice_journal_entries WHERE tenant_id = ? AND invoice_id IN (${marks})
       UNION ALL
       SELECT ip.invoice_id, r.journal_entry_id FROM invoice_payments ip JOIN refunds r ON r.tenant_id = ip.tenant_id AND r.payment_id = ip.payment_id
        WHERE ip.tenant_id = ? AND ip.invoice_id IN (${marks}) AND r.journal_entry_id IS NOT NULL`,
      [tenantId, ...invoiceIds, tenantId, ...invoiceIds, tenantId, ...invoiceIds, tenantId, ...invoiceIds, tenantId, ...invoiceIds],
    );
    for (const row of rows) byInvoice.get(String(row.invoice_id))?.push(String(row.journal_entry_id));
    return byInvoice;
  }

  /** The tenant's invoices, oldest first. */
  async listInvoices(tenantId: string, filter: InvoiceFilter, request: PageRequest): Promise<Page<InvoiceRecord>> {
    const where = this.conditions(tenantId, filter);
    // A customer that is not the tenant's is NOT_FOUND, as everywhere else, rather than an empty list.
    if (filter.customerId !== null && filter.customerId !== undefined) await this.requireCustomer(this.dataSource.manager, tenantId, filter.customerId);
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM invoices WHERE ${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...where.params, ...keyset.params],
        );
        return rows.map((row) => this.invoiceFromRow(row));
      },
      (invoice) => invoice.id,
      { isKey: (key) => idKindOf(key) === 'invoice' },
    );
  }

  async countInvoices(tenantId: string, filter: InvoiceFilter): Promise<number> {
    const where = this.conditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM invoices WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  /** OPEN and past its due date, by this service's clock (UTC days): due today is not overdue yet. */
  isOverdue(invoice: InvoiceRecord): boolean {
    return invoice.status === InvoiceStatus.OPEN && invoice.dueDate !== null && utcDateOf(this.clock.now()) > invoice.dueDate;
  }

  private conditions(tenantId: string, filter: InvoiceFilter): { conditions: string[]; params: unknown[] } {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.status !== null && filter.status !== undefined) {
      conditions.push('status = ?');
      params.push(filter.status);
    }
    if (filter.customerId !== null && filter.customerId !== undefined) {
      // A customer of another tenant lists nothing, exactly like one that does not exist.
      conditions.push('customer_id = ?');
      params.push(requireIdOfKind(filter.customerId, 'customer', 'filter.customerId'));
    }
    if (filter.overdue !== null && filter.overdue !== undefined) {
      // The SQL form of isOverdue (dates are YYYY-MM-DD text, so text order is date order).
      const today = utcDateOf(this.clock.now());
      conditions.push(filter.overdue ? '(status = ? AND due_date < ?)' : '(status <> ? OR due_date IS NULL OR due_date >= ?)');
      params.push(InvoiceStatus.OPEN, today);
    }
    const range = (column: string, from: string | null | undefined, to: string | null | undefined, field: string) => {
      const low = from === null || from === undefined ? null : requireDate(from, `filter.${field}From`);
      const high = to === null || to === undefined ? null : requireDate(to, `filter.${field}To`);
      if (low !== null && high !== null && low > high) throw InvoiceErrors.emptyDateRange(`filter.${field}From`, low, high);
      if (low !== null) {
        conditions.push(`${column} >= ?`);
        params.push(low);
      }
      if (high !== null) {
        conditions.push(`${column} <= ?`);
        params.push(high);
      }
    };
    range('issue_date', filter.issueDateFrom, filter.issueDateTo, 'issueDate');
    range('due_date', filter.dueDateFrom, filter.dueDateTo, 'dueDate');
    return { conditions, params };
  }

  /** The tenant's default terms (its invoice settings), read only when a draft is given neither a due date nor terms. */
  private async defaultTermsUnlessGiven(tenantId: string, dueDate: string | null | undefined, paymentTermsDays: number | null | undefined): Promise<number | undefined> {
    const given = (dueDate !== null && dueDate !== undefined) || (paymentTermsDays !== null && paymentTermsDays !== undefined);
    return given ? undefined : defaultPaymentTermsOf(this.dataSource.manager, tenantId);
  }

  private async chartFor(tenantId: string, currency: string): Promise<{ currency: string; accounts: ChartAccounts }> {
    return { currency, accounts: await this.ledger.defaultChartAccounts(tenantId, currency) };
  }

  /** The finalisation's journal entry (see the class comment); null when the invoice totals zero. */
  private postingCommand(invoice: InvoiceRecord, amounts: InvoiceAmounts, chart: ChartAccounts, now: Date): (LedgerCommand & { entryId: string }) | null {
    if (amounts.totalMinor === 0n) return null;
    const line = (role: ChartRole, direction: EntryDirection, amountMinor: bigint, field: string): LineDraft => ({
      accountId: chart[role],
      direction,
      amountMinor,
      currency: invoice.currency,
      field,
    });
    const lines = [
      line(ChartRole.ACCOUNTS_RECEIVABLE, EntryDirection.DEBIT, amounts.totalMinor, 'total'),
      line(ChartRole.REVENUE, EntryDirection.CREDIT, amounts.subtotalMinor, 'subtotal'),
      ...amounts.taxByRate.map((group) => line(ChartRole.SALES_TAX_PAYABLE, EntryDirection.CREDIT, group.taxMinor, `tax at ${group.rate}%`)),
    ].filter((draft) => draft.amountMinor > 0n);
    return {
      type: 'create',
      entryId: newId('journalEntry'),
      tenantId: invoice.tenantId,
      status: JournalEntryStatus.POSTED,
      description: `Invoice ${invoice.id}: finalized`,
      effectiveAt: now,
      externalRef: null,
      metadata: { invoiceId: invoice.id },
      lines,
    };
  }

  private totalsOf(amounts: InvoiceAmounts) {
    return {
      subtotalMinor: amounts.subtotalMinor,
      discountTotalMinor: amounts.discountTotalMinor,
      taxTotalMinor: amounts.taxTotalMinor,
      totalMinor: amounts.totalMinor,
      taxByRate: amounts.taxByRate,
    };
  }

  private linesOf(amounts: InvoiceAmounts, inputs: readonly InvoiceLineEntry[]): InvoiceLineRecord[] {
    return amounts.lines.map((line, position) => {
      const discount = inputs[position].discount;
      const percent = discount?.percent ?? null;
      return {
        position,
        ...line,
        // Normalised through the amounts' own parser: "10.50" is stored as "10.5".
        discountPercent: percent === null ? null : normalisePercent(percent),
        discountAmountInputMinor: percent === null && discount?.amount !== undefined && discount?.amount !== null ? line.discountMinor : null,
      };
    });
  }

  private async insertLines(manager: EntityManager, tenantId: string, invoiceId: string, lines: InvoiceLineRecord[]): Promise<void> {
    // 14 values a row: 60 rows a statement stays under SQLite's and MySQL's parameter limits.
    for (let start = 0; start < lines.length; start += 60) {
      const chunk = lines.slice(start, start + 60);
      await manager.query(
        `INSERT INTO invoice_lines (invoice_id, position, tenant_id, description, quantity, unit_price_minor, tax_rate, tax_behaviour,
                                    discount_percent, discount_amount_input_minor, gross_minor, discount_minor, net_minor, tax_minor, total_minor)
         VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        chunk.flatMap((line) => [
          invoiceId,
          line.position,
          tenantId,
          line.description,
          line.quantity,
          this.minor(line.unitPriceMinor),
          line.taxRate,
          line.taxBehaviour,
          line.discountPercent,
          line.discountAmountInputMinor === null ? null : this.minor(line.discountAmountInputMinor),
          this.minor(line.grossMinor),
          this.minor(line.discountMinor),
          this.minor(line.netMinor),
          this.minor(line.taxMinor),
          this.minor(line.totalMinor),
        ]),
      );
    }
  }

  /** The lines of each invoice, in order, read with the caller's manager (inside its transaction, for the invoicing services). */
  async readLines(manager: EntityManager, invoiceIds: readonly string[], tenantId?: string): Promise<Map<string, InvoiceLineRecord[]>> {
    const byInvoice = new Map<string, InvoiceLineRecord[]>(invoiceIds.map((id) => [id, []]));
    if (invoiceIds.length === 0) return byInvoice;
    const rows: Record<string, unknown>[] = await manager.query(
      `SELECT * FROM invoice_lines WHERE invoice_id IN (${invoiceIds.map(() => '?').join(',')})${tenantId ? ' AND tenant_id = ?' : ''} ORDER BY invoice_id, position`,
      tenantId ? [...invoiceIds, tenantId] : [...invoiceIds],
    );
    for (const row of rows) {
      byInvoice.get(String(row.invoice_id))?.push({
        position: Number(row.position),
        description: String(row.description),
        quantity: String(row.quantity),
        unitPriceMinor: toBigInt(row.unit_price_minor),
        taxRate: String(row.tax_rate),
        taxBehaviour: String(row.tax_behaviour) as InvoiceLineRecord['taxBehaviour'],
        discountPercent: row.discount_percent === null ? null : String(row.discount_percent),
        discountAmountInputMinor: row.discount_amount_input_minor === null ? null : toBigInt(row.discount_amount_input_minor),
        grossMinor: toBigInt(row.gross_minor),
        discountMinor: toBigInt(row.discount_minor),
        netMinor: toBigInt(row.net_minor),
        taxMinor: toBigInt(row.tax_minor),
        totalMinor: toBigInt(row.total_minor),
      });
    }
    return byInvoice;
  }

  /** NOT_FOUND unless the customer is the tenant's (read with the caller's manager). */
  async requireCustomer(manager: EntityManager, tenantId: string, customerId: string): Promise<void> {
    const rows: unknown[] = await manager.query('SELECT id FROM customers WHERE tenant_id = ? AND id = ?', [tenantId, customerId]);
    if (rows.length === 0) throw CustomerErrors.customerNotFound(customerId);
  }

  /**
   * The invoice, locked until the caller's transaction ends (FOR UPDATE on MySQL; SQLite's single writer
   * serialises): every change of an invoice (finalisation, payments, credit notes, void, write-off)
   * takes this lock first, so they see each other's amounts and never interleave. NOT_FOUND otherwise.
   */
  async lockInvoice(manager: EntityManager, tenantId: string, invoiceId: string): Promise<InvoiceRecord> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM invoices WHERE tenant_id = ? AND id = ?${this.forUpdate}`, [tenantId, invoiceId]);
    if (!rows[0]) throw InvoiceErrors.invoiceNotFound(invoiceId);
    return this.invoiceFromRow(rows[0]);
  }

  /**
   * The tenant's finalised invoices whose number is one of these (exact: numbers are stored upper case),
   * read in the caller's transaction without a lock: one statement on the (tenant, number) index. For
   * reconciliation, which finds invoice numbers in remittance text and locks the one it pays.
   */
  async invoicesByNumbersWithin(manager: EntityManager, tenantId: string, numbers: readonly string[]): Promise<InvoiceRecord[]> {
    if (numbers.length === 0) return [];
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM invoices WHERE tenant_id = ? AND number IN (${numbers.map(() => '?').join(',')})`, [tenantId, ...numbers]);
    return rows.map((row) => this.invoiceFromRow(row));
  }

  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }

  invoiceFromRow(row: Record<string, unknown>): InvoiceRecord {
    const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
    const instant = (value: unknown): Date | null => (value === null || value === undefined ? null : fromDbTimestamp(value));
    const taxByRate = taxByRateFromJson(row.tax_by_rate);
    return {
      id: String(row.id),
      tenantId: String(row.tenant_id),
      customerId: String(row.customer_id),
      currency: String(row.currency),
      status: String(row.status) as InvoiceStatus,
      number: text(row.number),
      seriesKey: text(row.series_key),
      numberValue: row.number_value === null || row.number_value === undefined ? null : Number(row.number_value),
      issueDate: text(row.issue_date),
      dueDate: text(row.due_date),
      paymentTermsDays: row.payment_terms_days === null || row.payment_terms_days === undefined ? null : Number(row.payment_terms_days),
      memo: text(row.memo),
      metadata: row.metadata === null || row.metadata === undefined ? null : (JSON.parse(String(row.metadata)) as Record<string, unknown>),
      subtotalMinor: toBigInt(row.subtotal_minor),
      discountTotalMinor: toBigInt(row.discount_total_minor),
      taxTotalMinor: toBigInt(row.tax_total_minor),
      totalMinor: toBigInt(row.total_minor),
      amountPaidMinor: toBigInt(row.amount_paid_minor),
      amountCreditedMinor: toBigInt(row.amount_credited_minor),
      amountWrittenOffMinor: toBigInt(row.amount_written_off_minor),
      taxByRate,
      journalEntryId: text(row.journal_entry_id),
      voidEntryId: text(row.void_entry_id),
      writeOffEntryId: text(row.write_off_entry_id),
      finalizedAt: instant(row.finalized_at),
      paidAt: instant(row.paid_at),
      voidedAt: instant(row.voided_at),
      uncollectibleAt: instant(row.uncollectible_at),
      overdueNotifiedAt: instant(row.overdue_notified_at),
      createdAt: fromDbTimestamp(row.created_at),
      updatedAt: fromDbTimestamp(row.updated_at),
      version: Number(row.version),
    };
  }
}

/**
 * What finalising announces. The customer's credit may have paid some or all of the invoice in the
 * same transaction: subscribers hear of that payment as they would of any other.
 */
function finalizationEvents(finalized: InvoiceRecord): InvoiceEvent[] {
  const occurredAt = finalized.updatedAt;
  return [
    { type: InvoiceEventType.FINALIZED, invoice: finalized, occurredAt },
    ...(finalized.amountPaidMinor > 0n ? [{ type: InvoiceEventType.PAYMENT_SUCCEEDED, invoice: finalized, occurredAt }] : []),
    ...(finalized.status === InvoiceStatus.PAID ? [{ type: InvoiceEventType.PAID, invoice: finalized, occurredAt }] : []),
  ];
}
