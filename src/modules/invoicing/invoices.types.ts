import type { TaxBehaviour, TaxRateTotal } from './invoice-amounts';
import { type InvoiceNumberSettings, requireInvoiceNumberSettings } from './invoice-numbers';

/** Plain records of the invoicing module's invoices, as the service reads and returns them. */

export enum InvoiceStatus {
  DRAFT = 'DRAFT',
  OPEN = 'OPEN',
  PAID = 'PAID',
  VOID = 'VOID',
  UNCOLLECTIBLE = 'UNCOLLECTIBLE',
}

export enum InvoiceTaxBehaviour {
  EXCLUSIVE = 'EXCLUSIVE',
  INCLUSIVE = 'INCLUSIVE',
}

/**
 * The numbering every tenant's invoices get until per-tenant numbering settings exist:
 * INV-2026-000042, starting again at 1 each UTC year. A constant, not stored: when settings arrive,
 * a tenant that keeps these gets the same series (series are keyed by the printed text), so numbers
 * already issued continue without a gap or a repeat.
 */
export const DEFAULT_INVOICE_NUMBERING: InvoiceNumberSettings = requireInvoiceNumberSettings({ prefix: 'INV', yearlyReset: true });

/** Payment terms when neither dueDate nor paymentTermsDays is given: due 30 days after the issue date. */
export const DEFAULT_PAYMENT_TERMS_DAYS = 30;
export const MAX_PAYMENT_TERMS_DAYS = 3650;
export const MEMO_MAX_LENGTH = 2000;

export interface InvoiceLineRecord {
  position: number;
  description: string;
  /** Normalised decimal strings, as computeInvoiceAmounts returns them. */
  quantity: string;
  unitPriceMinor: bigint;
  taxRate: string;
  taxBehaviour: TaxBehaviour;
  /** The discount as entered: a percent, an amount, or neither. */
  discountPercent: string | null;
  discountAmountInputMinor: bigint | null;
  grossMinor: bigint;
  discountMinor: bigint;
  netMinor: bigint;
  taxMinor: bigint;
  totalMinor: bigint;
}

export interface InvoiceRecord {
  id: string;
  tenantId: string;
  customerId: string;
  currency: string;
  status: InvoiceStatus;
  /** Null while DRAFT. */
  number: string | null;
  seriesKey: string | null;
  numberValue: number | null;
  /** YYYY-MM-DD; the issue date is the (UTC) day of finalisation, null while DRAFT. */
  issueDate: string | null;
  /** YYYY-MM-DD: given, or set at finalisation from the payment terms. */
  dueDate: string | null;
  /** Set when the due date follows from the terms (null when a due date was given). */
  paymentTermsDays: number | null;
  memo: string | null;
  metadata: Record<string, unknown> | null;
  subtotalMinor: bigint;
  discountTotalMinor: bigint;
  taxTotalMinor: bigint;
  totalMinor: bigint;
  /** Payments applied to the invoice (card, bank transfer, cash, customer credit), less refunds of them. */
  amountPaidMinor: bigint;
  /** Taken off by credit notes (only the part that reduced what was due; the rest became customer credit). */
  amountCreditedMinor: bigint;
  /** Written off as bad debt when marked UNCOLLECTIBLE. */
  amountWrittenOffMinor: bigint;
  taxByRate: TaxRateTotal[];
  /** The finalisation's entry. */
  journalEntryId: string | null;
  /** The entry that reversed the finalisation's, when voided. */
  voidEntryId: string | null;
  /** The bad-debt entry, when marked UNCOLLECTIBLE. */
  writeOffEntryId: string | null;
  finalizedAt: Date | null;
  /** When the invoice last became PAID (null when it is not PAID). */
  paidAt: Date | null;
  voidedAt: Date | null;
  uncollectibleAt: Date | null;
  /** When the invoice.overdue event was emitted for it, once. */
  overdueNotifiedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /**
   * 1 when created, one more with every change of what the invoice shows: its own fields, its lines
   * and its payments (Invoice.version; the ETag over REST). Every writer holds the invoice's lock
   * (InvoicesService.lockInvoice) and stores `nextVersionOf` the record it locked.
   */
  version: number;
}

/** The version a change of this (locked) invoice stores: the next one. */
export function nextVersionOf(invoice: Pick<InvoiceRecord, 'version'>): number {
  return invoice.version + 1;
}

/** What the customer owes after credit notes: the total less what credit notes took off it. */
export function amountDueOf(invoice: Pick<InvoiceRecord, 'totalMinor' | 'amountCreditedMinor'>): bigint {
  return invoice.totalMinor - invoice.amountCreditedMinor;
}

/** What a void invoice would still have owed when it was voided: total − credited − paid − written off. */
export function amountOutstandingOf(invoice: Pick<InvoiceRecord, 'totalMinor' | 'amountCreditedMinor' | 'amountPaidMinor' | 'amountWrittenOffMinor'>): bigint {
  const outstanding = amountDueOf(invoice) - invoice.amountPaidMinor - invoice.amountWrittenOffMinor;
  return outstanding > 0n ? outstanding : 0n;
}

/**
 * What is still to be paid: amountDue − amountPaid − amountWrittenOff, never below zero; nothing on
 * a VOID invoice (voiding cancels the claim, its entry reversed).
 */
export function amountRemainingOf(
  invoice: Pick<InvoiceRecord, 'status' | 'totalMinor' | 'amountCreditedMinor' | 'amountPaidMinor' | 'amountWrittenOffMinor'>,
): bigint {
  return invoice.status === InvoiceStatus.VOID ? 0n : amountOutstandingOf(invoice);
}
