import type { DataSource, EntityManager } from 'typeorm';
import { assert } from '../../common/assert';
import type { Clock } from '../../common/clock';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { optionalText, requireMetadata } from '../../common/input';
import { parsePositiveAmount, toBigInt } from '../../common/money';
import { type Page, type PageRequest, type PageWindow, readPage, readPages } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource, type DatabaseKind } from '../../db/data-source';
import { keysetSql } from '../../db/keyset';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { LedgerCommand, LineDraft } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import { EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';
import { type CreditAmounts, type CreditNoteLineRequest, creditedQuantities, creditOfAmount, creditOfLines, uncreditedByRate } from './credit-note-amounts';
import { CreditNoteErrors } from './credit-notes.errors';
import { CREDIT_NOTE_NUMBERING, CREDIT_NOTE_REASON_MAX_LENGTH, type CreditNoteLineRecord, type CreditNoteRecord } from './credit-notes.types';
import { CustomerCreditBook, CustomerCreditSource } from './customer-credit';
import { type TaxRateTotal, taxByRateFromJson, taxByRateToJson } from './invoice-amounts';
import { nextInvoiceNumber } from './invoice-numbers.service';
import { type InvoiceEvent, type InvoiceEventPublisher, InvoiceEventType, NO_INVOICE_EVENTS, recordInvoiceEvents } from './invoices.events';
import type { InvoicesService } from './invoices.service';
import { amountRemainingOf, type InvoiceRecord, InvoiceStatus, nextVersionOf } from './invoices.types';

export interface CreateCreditNoteInput {
  invoiceId: string;
  /** Invoice lines to credit; give this or amount. */
  lines?: CreditNoteLineRequest[] | null;
  /** A tax-inclusive amount in the invoice's currency; give this or lines. */
  amount?: string | null;
  reason?: string | null;
  metadata?: Record<string, unknown> | null;
}

export interface CreditNoteFilter {
  invoiceId?: string | null;
  customerId?: string | null;
}

export interface CreditNoteResult {
  creditNote: CreditNoteRecord;
  invoice: InvoiceRecord;
}

const compareIds = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function linesJson(lines: readonly CreditNoteLineRecord[]): string {
  return JSON.stringify(lines.map((line) => ({ ...line, netMinor: line.netMinor.toString(), taxMinor: line.taxMinor.toString(), totalMinor: line.totalMinor.toString() })));
}

function linesFromJson(text: unknown): CreditNoteLineRecord[] | null {
  if (text === null || text === undefined) return null;
  return (JSON.parse(String(text)) as (Omit<CreditNoteLineRecord, 'netMinor' | 'taxMinor' | 'totalMinor'> & Record<'netMinor' | 'taxMinor' | 'totalMinor', string>)[]).map(
    (line) => ({ ...line, netMinor: BigInt(line.netMinor), taxMinor: BigInt(line.taxMinor), totalMinor: BigInt(line.totalMinor) }),
  );
}

export function creditNoteFromRow(row: Record<string, unknown>): CreditNoteRecord {
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    invoiceId: String(row.invoice_id),
    customerId: String(row.customer_id),
    currency: String(row.currency),
    number: String(row.number),
    seriesKey: String(row.series_key),
    numberValue: Number(row.number_value),
    reason: row.reason === null || row.reason === undefined ? null : String(row.reason),
    lines: linesFromJson(row.lines),
    subtotalMinor: toBigInt(row.subtotal_minor),
    taxTotalMinor: toBigInt(row.tax_total_minor),
    totalMinor: toBigInt(row.total_minor),
    taxByRate: taxByRateFromJson(row.tax_by_rate),
    appliedToInvoiceMinor: toBigInt(row.applied_to_invoice_minor),
    creditedToCustomerMinor: toBigInt(row.credited_to_customer_minor),
    journalEntryId: row.journal_entry_id === null || row.journal_entry_id === undefined ? null : String(row.journal_entry_id),
    metadata: row.metadata === null || row.metadata === undefined ? null : (JSON.parse(String(row.metadata)) as Record<string, unknown>),
    createdAt: fromDbTimestamp(row.created_at),
  };
}

/**
 * Credit notes against OPEN or PAID invoices, for some of their lines or for an amount
 * (credit-note-amounts.ts has the arithmetic), each numbered in the CN series and posted in the same
 * transaction that locks the invoice, so that concurrent credit notes of one invoice queue on its row
 * and together never credit more than its total.
 *
 * What a credit note does: the part of it up to what the invoice still owes (amountRemaining) reduces
 * what is due (amountCredited grows by it); the rest becomes the customer's credit (CustomerCreditBook,
 * source CREDIT_NOTE), which their later invoices use. An OPEN invoice that owes nothing after it is
 * PAID: nothing is left to pay, whether payments or credit notes settled it.
 *
 * Posting rule (one POSTED entry on the default chart in the invoice's currency): debit REFUNDS
 * (contra-revenue) the net; debit SALES_TAX_PAYABLE the tax of each rate, one line per rate; credit
 * ACCOUNTS_RECEIVABLE the part applied to the invoice; credit CUSTOMER_CREDIT the rest. Lines of zero
 * are left out.
 */
export class CreditNotesService {
  private readonly kind: DatabaseKind;
  private readonly customerCredit: CustomerCreditBook;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly ledger: LedgerService,
    private readonly invoices: InvoicesService,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
    /** Told of each committed change (credit note created, invoice paid by it), after the commit. */
    private readonly events: InvoiceEventPublisher = NO_INVOICE_EVENTS,
  ) {
    this.kind = databaseKindOfSource(dataSource);
    this.customerCredit = new CustomerCreditBook(this.kind);
  }

  /**
   * Creates a credit note (see the class comment). Refusals, each changing nothing: VALIDATION_FAILED
   * for bad input, a bad line position or quantity, or more than is left to credit (the invoice's total
   * less earlier credit notes); INVALID_STATE_TRANSITION for an invoice that is not OPEN or PAID, or one
   * credited in full already; NOT_FOUND for an invoice that is not the tenant's.
   */
  async createCreditNote(tenantId: string, input: CreateCreditNoteInput, idempotency?: IdempotencyHandle): Promise<CreditNoteResult> {
    const invoiceId = requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    const hasLines = input.lines !== null && input.lines !== undefined;
    const hasAmount = input.amount !== null && input.amount !== undefined;
    if (hasLines === hasAmount) throw CreditNoteErrors.linesOrAmount();
    const reason = optionalText(input.reason, 'reason', CREDIT_NOTE_REASON_MAX_LENGTH);
    const metadata = requireMetadata(input.metadata);
    // A finalised invoice's currency never changes; a draft's may, but a draft is refused below.
    const seen = await this.invoices.getInvoice(tenantId, invoiceId, 'invoiceId');
    if (seen.status !== InvoiceStatus.OPEN && seen.status !== InvoiceStatus.PAID) throw CreditNoteErrors.notCreditable(invoiceId, seen.status);
    const amountMinor = hasAmount ? parsePositiveAmount(input.amount as string, seen.currency, 'amount') : null;
    // The chart commits its own accounts, so it is created before the transaction.
    const chart = await this.ledger.defaultChartAccounts(tenantId, seen.currency);

    const outcome = await runInTransaction(this.dataSource, async (manager) => {
      const current = await this.invoices.lockInvoice(manager, tenantId, invoiceId);
      if (current.status !== InvoiceStatus.OPEN && current.status !== InvoiceStatus.PAID) throw CreditNoteErrors.notCreditable(invoiceId, current.status);
      const earlier = await this.notesOfInvoice(manager, tenantId, invoiceId);
      const leftMinor = current.totalMinor - earlier.reduce((sum, note) => sum + note.totalMinor, 0n);
      if (leftMinor <= 0n) throw CreditNoteErrors.nothingLeftToCredit(invoiceId);
      const uncredited = uncreditedByRate(current.taxByRate, earlier.map((note) => note.taxByRate));
      const amounts = await this.amountsOf(manager, current, input, amountMinor, earlier, uncredited, leftMinor);

      const now = this.clock.now();
      const creditNoteId = newId('creditNote');
      const appliedMinor = amounts.totalMinor < amountRemainingOf(current) ? amounts.totalMinor : amountRemainingOf(current);
      const toCustomerMinor = amounts.totalMinor - appliedMinor;
      const command = this.postingCommand(current, creditNoteId, amounts, appliedMinor, toCustomerMinor, chart, now);
      // Own rows first, then the ledger's accounts (the writer locks them), then the series' counter,
      // held only for the last statements.
      if (toCustomerMinor > 0n) {
        await this.customerCredit.change(manager, {
          tenantId,
          customerId: current.customerId,
          currency: current.currency,
          amountMinor: toCustomerMinor,
          source: CustomerCreditSource.CREDIT_NOTE,
          sourceId: creditNoteId,
          invoiceId,
          journalEntryId: command.entryId,
          at: now,
        });
      }
      const writes = await this.ledger.writeWithin(manager, [command]);
      const issued = await nextInvoiceNumber(manager, tenantId, CREDIT_NOTE_NUMBERING, now);
      const creditNote: CreditNoteRecord = {
        id: creditNoteId,
        tenantId,
        invoiceId,
        customerId: current.customerId,
        currency: current.currency,
        number: issued.number,
        seriesKey: issued.seriesKey,
        numberValue: issued.value,
        reason,
        lines: amounts.lines,
        subtotalMinor: amounts.subtotalMinor,
        taxTotalMinor: amounts.taxTotalMinor,
        totalMinor: amounts.totalMinor,
        taxByRate: amounts.taxByRate,
        appliedToInvoiceMinor: appliedMinor,
        creditedToCustomerMinor: toCustomerMinor,
        journalEntryId: command.entryId,
        metadata,
        createdAt: now,
      };
      await this.insertCreditNote(manager, creditNote);

      const credited = { ...current, amountCreditedMinor: current.amountCreditedMinor + appliedMinor };
      const paidNow = current.status === InvoiceStatus.OPEN && amountRemainingOf(credited) === 0n;
      const invoice: InvoiceRecord = {
        ...credited,
        status: paidNow ? InvoiceStatus.PAID : current.status,
        paidAt: paidNow ? now : current.paidAt,
        updatedAt: now,
        version: nextVersionOf(current),
      };
      await manager.query('UPDATE invoices SET amount_credited_minor = ?, status = ?, paid_at = ?, updated_at = ?, version = ? WHERE tenant_id = ? AND id = ?', [
        this.minor(invoice.amountCreditedMinor),
        invoice.status,
        invoice.paidAt === null ? null : toDbTimestamp(invoice.paidAt),
        toDbTimestamp(now),
        invoice.version,
        tenantId,
        invoiceId,
      ]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { creditNoteId, invoiceId } });
      const events: InvoiceEvent[] = [{ type: InvoiceEventType.CREDIT_NOTE_CREATED, invoice, occurredAt: now }];
      if (paidNow) events.push({ type: InvoiceEventType.PAID, invoice, occurredAt: now });
      await recordInvoiceEvents(this.events, manager, events);
      return { creditNote, invoice, entries: writes.map((write) => write.entry), events };
    });
    this.ledger.entriesCommitted(outcome.entries);
    this.events.invoiceEventsCommitted(outcome.events);
    return { creditNote: outcome.creditNote, invoice: outcome.invoice };
  }

  /** The note's amounts, checked against what is left of the invoice (see createCreditNote). */
  private async amountsOf(
    manager: EntityManager,
    invoice: InvoiceRecord,
    input: CreateCreditNoteInput,
    amountMinor: bigint | null,
    earlier: readonly CreditNoteRecord[],
    uncredited: readonly TaxRateTotal[],
    leftMinor: bigint,
  ): Promise<CreditAmounts> {
    if (amountMinor !== null) {
      if (amountMinor > leftMinor) throw CreditNoteErrors.aboveWhatIsLeft('amount', invoice.id, amountMinor, leftMinor, invoice.currency);
      return creditOfAmount(amountMinor, uncredited);
    }
    const invoiceLines = (await this.invoices.readLines(manager, [invoice.id], invoice.tenantId)).get(invoice.id) ?? [];
    const amounts = creditOfLines(invoice.currency, invoiceLines, creditedQuantities(earlier.map((note) => note.lines)), input.lines as CreditNoteLineRequest[]);
    for (const line of amounts.lines ?? []) assert(line.netMinor >= 0n && line.taxMinor >= 0n, `credited line ${line.position} is negative`);
    if (amounts.totalMinor === 0n) throw CreditNoteErrors.creditsNothing();
    if (amounts.totalMinor > leftMinor) throw CreditNoteErrors.aboveWhatIsLeft('lines', invoice.id, amounts.totalMinor, leftMinor, invoice.currency);
    // Only credit notes of an amount can have taken a rate's net or tax before its lines were credited.
    for (const group of amounts.taxByRate) {
      const left = uncredited.find((candidate) => candidate.rate === group.rate);
      if (!left || group.taxableMinor > left.taxableMinor || group.taxMinor > left.taxMinor) throw CreditNoteErrors.rateAboveWhatIsLeft(group.rate);
    }
    return amounts;
  }

  /** The credit note's journal entry (see the class comment). */
  private postingCommand(
    invoice: InvoiceRecord,
    creditNoteId: string,
    amounts: CreditAmounts,
    appliedMinor: bigint,
    toCustomerMinor: bigint,
    chart: ChartAccounts,
    now: Date,
  ): LedgerCommand & { type: 'create'; entryId: string } {
    const line = (role: ChartRole, direction: EntryDirection, amountMinor: bigint, field: string): LineDraft => ({
      accountId: chart[role],
      direction,
      amountMinor,
      currency: invoice.currency,
      field,
    });
    const lines = [
      line(ChartRole.REFUNDS, EntryDirection.DEBIT, amounts.subtotalMinor, 'net'),
      ...amounts.taxByRate.map((group) => line(ChartRole.SALES_TAX_PAYABLE, EntryDirection.DEBIT, group.taxMinor, `tax at ${group.rate}%`)),
      line(ChartRole.ACCOUNTS_RECEIVABLE, EntryDirection.CREDIT, appliedMinor, 'applied to the invoice'),
      line(ChartRole.CUSTOMER_CREDIT, EntryDirection.CREDIT, toCustomerMinor, 'credited to the customer'),
    ].filter((draft) => draft.amountMinor > 0n);
    return {
      type: 'create',
      entryId: newId('journalEntry'),
      tenantId: invoice.tenantId,
      status: JournalEntryStatus.POSTED,
      description: `Invoice ${invoice.id}: credit note ${creditNoteId}`,
      effectiveAt: now,
      externalRef: null,
      metadata: { invoiceId: invoice.id, creditNoteId },
      lines,
    };
  }

  private async insertCreditNote(manager: EntityManager, note: CreditNoteRecord): Promise<void> {
    await manager.query(
      `INSERT INTO credit_notes (id, tenant_id, invoice_id, customer_id, currency, number, series_key, number_value, reason, \`lines\`,
                                 subtotal_minor, tax_total_minor, total_minor, tax_by_rate, applied_to_invoice_minor, credited_to_customer_minor,
                                 journal_entry_id, metadata, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        note.id,
        note.tenantId,
        note.invoiceId,
        note.customerId,
        note.currency,
        note.number,
        note.seriesKey,
        note.numberValue,
        note.reason,
        note.lines === null ? null : linesJson(note.lines),
        this.minor(note.subtotalMinor),
        this.minor(note.taxTotalMinor),
        this.minor(note.totalMinor),
        taxByRateToJson(note.taxByRate),
        this.minor(note.appliedToInvoiceMinor),
        this.minor(note.creditedToCustomerMinor),
        note.journalEntryId,
        note.metadata === null ? null : JSON.stringify(note.metadata),
        toDbTimestamp(note.createdAt),
      ],
    );
  }

  /** Every credit note of an invoice, oldest first, read with the caller's manager (under its invoice lock). */
  private async notesOfInvoice(manager: EntityManager, tenantId: string, invoiceId: string): Promise<CreditNoteRecord[]> {
    const rows: Record<string, unknown>[] = await manager.query('SELECT * FROM credit_notes WHERE tenant_id = ? AND invoice_id = ? ORDER BY id', [tenantId, invoiceId]);
    return rows.map(creditNoteFromRow);
  }

  /** How many credit notes an invoice has, read with the caller's manager. */
  async countOfInvoiceWithin(manager: EntityManager, tenantId: string, invoiceId: string): Promise<number> {
    const rows: Record<string, unknown>[] = await manager.query('SELECT COUNT(*) AS total FROM credit_notes WHERE tenant_id = ? AND invoice_id = ?', [tenantId, invoiceId]);
    return Number(rows[0].total);
  }

  async creditNotesByIds(tenantId: string, ids: readonly string[]): Promise<CreditNoteRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM credit_notes WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map(creditNoteFromRow);
  }

  async getCreditNote(tenantId: string, id: string): Promise<CreditNoteRecord> {
    requireIdOfKind(id, 'creditNote', 'id');
    const [note] = await this.creditNotesByIds(tenantId, [id]);
    if (!note) throw CreditNoteErrors.creditNoteNotFound(id);
    return note;
  }

  /** The tenant's credit notes, oldest first; an invoice or customer of the filter that is not the tenant's is NOT_FOUND. */
  async listCreditNotes(tenantId: string, filter: CreditNoteFilter, request: PageRequest): Promise<Page<CreditNoteRecord>> {
    const where = await this.conditions(tenantId, filter);
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM credit_notes WHERE ${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...where.params, ...keyset.params],
        );
        return rows.map(creditNoteFromRow);
      },
      (note) => note.id,
      { isKey: (key) => idKindOf(key) === 'creditNote' },
    );
  }

  async countCreditNotes(tenantId: string, filter: CreditNoteFilter): Promise<number> {
    const where = await this.conditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM credit_notes WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  /**
   * The same page of each invoice's credit notes, oldest first: a UNION ALL of seeks on the
   * (tenant_id, invoice_id, id) index, so a page of invoices costs two statements at most.
   */
  creditNotePagesByInvoiceIds(tenantId: string, invoiceIds: readonly string[], window: PageWindow): Promise<Map<string, Page<CreditNoteRecord>>> {
    return readPages(
      invoiceIds,
      window,
      async (ids, slice) => {
        const result = new Map<string, CreditNoteRecord[]>(ids.map((id) => [id, []]));
        if (ids.length === 0) return result;
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const seeks = ids.map(
          (_, index) =>
            `SELECT * FROM (SELECT * FROM credit_notes WHERE ${['tenant_id = ?', 'invoice_id = ?', ...keyset.conditions].join(' AND ')}
                             ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}) seek${index}`,
        );
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          seeks.join(' UNION ALL '),
          ids.flatMap((id) => [tenantId, id, ...keyset.params]),
        );
        const notes = rows.map(creditNoteFromRow).sort((a, b) => (slice.fromEnd ? compareIds(b, a) : compareIds(a, b)));
        for (const note of notes) result.get(note.invoiceId)?.push(note);
        return result;
      },
      (note) => note.id,
    );
  }

  /** How many credit notes each invoice has: one grouped COUNT on the (tenant_id, invoice_id, id) index. */
  async countsByInvoiceIds(tenantId: string, invoiceIds: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>(invoiceIds.map((id) => [id, 0]));
    if (invoiceIds.length === 0) return counts;
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT invoice_id, COUNT(*) AS total FROM credit_notes WHERE tenant_id = ? AND invoice_id IN (${invoiceIds.map(() => '?').join(',')}) GROUP BY invoice_id`,
      [tenantId, ...invoiceIds],
    );
    for (const row of rows) counts.set(String(row.invoice_id), Number(row.total));
    return counts;
  }

  private async conditions(tenantId: string, filter: CreditNoteFilter): Promise<{ conditions: string[]; params: unknown[] }> {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.invoiceId !== null && filter.invoiceId !== undefined) {
      // Another tenant's invoice is NOT_FOUND, as every id argument is, rather than an empty page.
      await this.invoices.getInvoice(tenantId, filter.invoiceId, 'filter.invoiceId');
      conditions.push('invoice_id = ?');
      params.push(filter.invoiceId);
    }
    if (filter.customerId !== null && filter.customerId !== undefined) {
      requireIdOfKind(filter.customerId, 'customer', 'filter.customerId');
      await this.invoices.requireCustomer(this.dataSource.manager, tenantId, filter.customerId);
      conditions.push('customer_id = ?');
      params.push(filter.customerId);
    }
    return { conditions, params };
  }

  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }
}
