import type { TaxBehaviour, TaxRateTotal } from './invoice-amounts';
import { type InvoiceNumberSettings, requireInvoiceNumberSettings } from './invoice-numbers';

/**
 * Credit notes are numbered in their own series, apart from the invoices: CN-2026-000001, starting
 * again at 1 each UTC year, gap-free like the invoices' (the same counter table and rule, keyed by the
 * printed text "CN-2026", so the two series never share a counter).
 */
export const CREDIT_NOTE_NUMBERING: InvoiceNumberSettings = requireInvoiceNumberSettings({ prefix: 'CN', yearlyReset: true });

export const CREDIT_NOTE_REASON_MAX_LENGTH = 500;
/** Void and write-off reasons, kept on their journal entry's metadata. */
export const CLOSING_REASON_MAX_LENGTH = 500;

/** One invoice line credited, in part or in full. */
export interface CreditNoteLineRecord {
  /** The invoice line's position (0-based). */
  position: number;
  description: string;
  /** The quantity credited by this note, a normalised decimal string ("1.5"). */
  quantity: string;
  taxRate: string;
  taxBehaviour: TaxBehaviour;
  netMinor: bigint;
  taxMinor: bigint;
  totalMinor: bigint;
}

export interface CreditNoteRecord {
  id: string;
  tenantId: string;
  invoiceId: string;
  customerId: string;
  currency: string;
  /** CN-2026-000001: unique per tenant, gap-free in its series. */
  number: string;
  seriesKey: string;
  numberValue: number;
  reason: string | null;
  /** The lines credited; null for a credit note of an amount. */
  lines: CreditNoteLineRecord[] | null;
  /** Excluding tax. */
  subtotalMinor: bigint;
  taxTotalMinor: bigint;
  /** Including tax: subtotalMinor + taxTotalMinor. */
  totalMinor: bigint;
  /** Net and tax per rate; they add up to the subtotal, the tax total and the total exactly. */
  taxByRate: TaxRateTotal[];
  /** The part that reduced what the invoice still owed (at most its amountRemaining at the time). */
  appliedToInvoiceMinor: bigint;
  /** The rest, given to the customer as credit for later invoices. */
  creditedToCustomerMinor: bigint;
  journalEntryId: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
}
