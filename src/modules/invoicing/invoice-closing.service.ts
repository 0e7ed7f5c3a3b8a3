import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { newId, requireIdOfKind } from '../../common/ids';
import { optionalText } from '../../common/input';
import { formatMinorAsDecimal } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource, type DatabaseKind } from '../../db/data-source';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { ChartRole } from '../ledger/default-chart';
import type { JournalEntryRecord, LedgerCommand } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import { EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';
import { CreditNoteErrors } from './credit-notes.errors';
import { CLOSING_REASON_MAX_LENGTH } from './credit-notes.types';
import { type InvoiceEventPublisher, InvoiceEventType, NO_INVOICE_EVENTS, recordInvoiceEvents } from './invoices.events';
import type { InvoicesService } from './invoices.service';
import { amountRemainingOf, type InvoiceRecord, InvoiceStatus, nextVersionOf } from './invoices.types';

export interface CloseInvoiceInput {
  invoiceId: string;
  /** Why; kept on the journal entry's metadata (at most 500 characters). */
  reason?: string | null;
}

/**
 * The two ends of an OPEN invoice other than being paid: void (it should never have been issued) and
 * write-off (it will not be paid). Each runs in one transaction that locks the invoice row first, like
 * every change of an invoice, so a payment or credit note arriving at the same time either happened
 * before (and the step is refused or writes off only what is left) or waits and then finds the
 * invoice closed.
 *
 * Posting rules:
 * - void: the finalisation's entry reversed through the ledger writer's `reverse` command (every
 *   posting mirrored, so receivable, revenue and tax payable are back where they were); nothing when
 *   the invoice totalled zero and posted nothing.
 * - write-off: debit BAD_DEBT, credit ACCOUNTS_RECEIVABLE, what is still to be paid (amountRemaining).
 */
export class InvoiceClosingService {
  private readonly kind: DatabaseKind;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly ledger: LedgerService,
    private readonly invoices: InvoicesService,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
    /** Told of each committed change (VOIDED, MARKED_UNCOLLECTIBLE), after the commit. */
    private readonly events: InvoiceEventPublisher = NO_INVOICE_EVENTS,
  ) {
    this.kind = databaseKindOfSource(dataSource);
  }

  /**
   * OPEN → VOID, for an invoice with nothing paid and no credit notes: its finalisation entry is
   * reversed and it keeps its number. Anything else is INVALID_STATE_TRANSITION with what to do instead.
   */
  async voidInvoice(tenantId: string, input: CloseInvoiceInput, idempotency?: IdempotencyHandle): Promise<InvoiceRecord> {
    const invoiceId = requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    const reason = optionalText(input.reason, 'reason', CLOSING_REASON_MAX_LENGTH);
    const outcome = await runInTransaction(this.dataSource, async (manager) => {
      const current = await this.invoices.lockInvoice(manager, tenantId, invoiceId);
      const refusal = await this.voidRefusal(manager, current);
      if (refusal) throw CreditNoteErrors.notVoidable(invoiceId, current.status, refusal);
      const now = this.clock.now();
      const command: LedgerCommand | null =
        current.journalEntryId === null
          ? null
          : {
              type: 'reverse',
              tenantId,
              entryId: current.journalEntryId,
              description: `Invoice ${invoiceId}: voided`,
              effectiveAt: now,
              externalRef: null,
              metadata: { invoiceId, reason },
            };
      const writes = command ? await this.ledger.writeWithin(manager, [command]) : [];
      const invoice: InvoiceRecord = {
        ...current,
        status: InvoiceStatus.VOID,
        voidedAt: now,
        voidEntryId: writes[0]?.entry.id ?? null,
        updatedAt: now,
        version: nextVersionOf(current),
      };
      await manager.query('UPDATE invoices SET status = ?, voided_at = ?, void_entry_id = ?, updated_at = ?, version = ? WHERE tenant_id = ? AND id = ?', [
        invoice.status,
        toDbTimestamp(now),
        invoice.voidEntryId,
        toDbTimestamp(now),
        invoice.version,
        tenantId,
        invoiceId,
      ]);
      await recordInvoiceEvents(this.events, manager, [{ type: InvoiceEventType.VOIDED, invoice, occurredAt: invoice.updatedAt }]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { invoiceId } });
      return { invoice, entries: writes.map((write) => write.entry) };
    });
    return this.committed(outcome, InvoiceEventType.VOIDED);
  }

  /**
   * OPEN → UNCOLLECTIBLE, for an invoice with something still to be paid: that remaining amount is
   * written off as bad debt. Anything else is INVALID_STATE_TRANSITION.
   */
  async markInvoiceUncollectible(tenantId: string, input: CloseInvoiceInput, idempotency?: IdempotencyHandle): Promise<InvoiceRecord> {
    const invoiceId = requireIdOfKind(input.invoiceId, 'invoice', 'invoiceId');
    const reason = optionalText(input.reason, 'reason', CLOSING_REASON_MAX_LENGTH);
    const seen = await this.invoices.getInvoice(tenantId, invoiceId, 'invoiceId');
    const early = this.writeOffRefusal(seen);
    if (early) throw CreditNoteErrors.notCollectible(invoiceId, seen.status, early);
    // The chart commits its own accounts, so it is created before the transaction; an OPEN invoice's currency is fixed.
    const chart = await this.ledger.defaultChartAccounts(tenantId, seen.currency);
    const outcome = await runInTransaction(this.dataSource, async (manager) => {
      const current = await this.invoices.lockInvoice(manager, tenantId, invoiceId);
      const refusal = this.writeOffRefusal(current) ?? (await this.cardPaymentUnderWay(manager, current));
      if (refusal) throw CreditNoteErrors.notCollectible(invoiceId, current.status, refusal);
      const remainingMinor = amountRemainingOf(current);
      const now = this.clock.now();
      const line = (role: ChartRole, direction: EntryDirection, field: string) => ({
        accountId: chart[role],
        direction,
        amountMinor: remainingMinor,
        currency: current.currency,
        field,
      });
      const command: LedgerCommand & { entryId: string } = {
        type: 'create',
        entryId: newId('journalEntry'),
        tenantId,
        status: JournalEntryStatus.POSTED,
        description: `Invoice ${invoiceId}: written off as uncollectible`,
        effectiveAt: now,
        externalRef: null,
        metadata: { invoiceId, reason },
        lines: [line(ChartRole.BAD_DEBT, EntryDirection.DEBIT, 'bad debt'), line(ChartRole.ACCOUNTS_RECEIVABLE, EntryDirection.CREDIT, 'receivable')],
      };
      const writes = await this.ledger.writeWithin(manager, [command]);
      const invoice: InvoiceRecord = {
        ...current,
        status: InvoiceStatus.UNCOLLECTIBLE,
        amountWrittenOffMinor: current.amountWrittenOffMinor + remainingMinor,
        uncollectibleAt: now,
        writeOffEntryId: command.entryId,
        updatedAt: now,
        version: nextVersionOf(current),
      };
      await manager.query(
        'UPDATE invoices SET status = ?, amount_written_off_minor = ?, uncollectible_at = ?, write_off_entry_id = ?, updated_at = ?, version = ? WHERE tenant_id = ? AND id = ?',
        [invoice.status, this.minor(invoice.amountWrittenOffMinor), toDbTimestamp(now), command.entryId, toDbTimestamp(now), invoice.version, tenantId, invoiceId],
      );
      await recordInvoiceEvents(this.events, manager, [{ type: InvoiceEventType.MARKED_UNCOLLECTIBLE, invoice, occurredAt: invoice.updatedAt }]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { invoiceId } });
      return { invoice, entries: writes.map((write) => write.entry) };
    });
    return this.committed(outcome, InvoiceEventType.MARKED_UNCOLLECTIBLE);
  }

  private committed(outcome: { invoice: InvoiceRecord; entries: JournalEntryRecord[] }, type: InvoiceEventType): InvoiceRecord {
    this.ledger.entriesCommitted(outcome.entries);
    this.events.invoiceEventsCommitted([{ type, invoice: outcome.invoice, occurredAt: outcome.invoice.updatedAt }]);
    return outcome.invoice;
  }

  /** Why the locked invoice cannot be voided, or null when it can. */
  private async voidRefusal(manager: EntityManager, invoice: InvoiceRecord): Promise<string | null> {
    const money = (minor: bigint) => `${formatMinorAsDecimal(minor, invoice.currency)} ${invoice.currency}`;
    switch (invoice.status) {
      case InvoiceStatus.DRAFT:
        return 'it is a DRAFT, which has no number and nothing in the ledger to undo; leave it unfinalised, or change it with updateInvoice';
      case InvoiceStatus.VOID:
        return 'it is VOID already';
      case InvoiceStatus.PAID:
        return 'it is PAID; refund its payments first (which reopens it), or issue a credit note';
      case InvoiceStatus.UNCOLLECTIBLE:
        return 'it is UNCOLLECTIBLE (written off); a written-off invoice stays as it is';
      case InvoiceStatus.OPEN:
        break;
    }
    if (invoice.amountPaidMinor > 0n) return `${money(invoice.amountPaidMinor)} of it is paid; refund the payments first, or issue a credit note instead`;
    const creditNotes: Record<string, unknown>[] = await manager.query('SELECT COUNT(*) AS total FROM credit_notes WHERE tenant_id = ? AND invoice_id = ?', [
      invoice.tenantId,
      invoice.id,
    ]);
    if (invoice.amountCreditedMinor > 0n || Number(creditNotes[0].total) > 0) {
      return 'it has credit notes, and voiding would undo its receivable a second time; issue a credit note for the rest instead';
    }
    return this.cardPaymentUnderWay(manager, invoice);
  }

  /** Why the invoice cannot be written off (its state alone), or null. */
  private writeOffRefusal(invoice: InvoiceRecord): string | null {
    if (invoice.status === InvoiceStatus.DRAFT) return 'it is a DRAFT, which nobody owes yet; finalise it first, or leave it unfinalised';
    if (invoice.status === InvoiceStatus.PAID) return 'it is PAID: nothing is left to collect';
    if (invoice.status !== InvoiceStatus.OPEN) return `it is ${invoice.status}; only an OPEN invoice with something left to pay can be written off`;
    if (amountRemainingOf(invoice) <= 0n) return 'nothing is left to pay on it';
    return null;
  }

  /**
   * A card payment of the invoice still at the gateway (invoice_payments PENDING) may yet be captured:
   * closing the invoice under it would leave money on a closed invoice. The step waits for its outcome.
   */
  private async cardPaymentUnderWay(manager: EntityManager, invoice: InvoiceRecord): Promise<string | null> {
    const rows: Record<string, unknown>[] = await manager.query(
      "SELECT COUNT(*) AS total FROM invoice_payments WHERE tenant_id = ? AND invoice_id = ? AND status = 'PENDING'",
      [invoice.tenantId, invoice.id],
    );
    return Number(rows[0].total) > 0 ? 'a card payment of it is under way at the gateway; wait for its outcome and try again' : null;
  }

  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }
}
