import { toBigInt } from '../../common/money';
import { fromDbTimestamp } from '../../common/timestamps';

/** How an invoice was paid. */
export enum InvoicePaymentMethod {
  /** A card payment through a gateway (a payment of the payments module, linked to the invoice). */
  CARD = 'CARD',
  BANK_TRANSFER = 'BANK_TRANSFER',
  CASH = 'CASH',
  /** The customer's unapplied credit, applied when the invoice was finalised. */
  CUSTOMER_CREDIT = 'CUSTOMER_CREDIT',
}

/** The methods recordInvoicePayment takes: money that arrived outside the gateways. */
export enum RecordedPaymentMethod {
  BANK_TRANSFER = 'BANK_TRANSFER',
  CASH = 'CASH',
}

export enum InvoicePaymentStatus {
  /** A card payment still at the gateway: its amount is held against the invoice until it settles. */
  PENDING = 'PENDING',
  SUCCEEDED = 'SUCCEEDED',
  /** Declined, failed or released: it paid nothing. */
  FAILED = 'FAILED',
}

export interface InvoicePaymentRecord {
  id: string;
  tenantId: string;
  invoiceId: string;
  customerId: string;
  currency: string;
  method: InvoicePaymentMethod;
  status: InvoicePaymentStatus;
  /** What the customer paid (for a PENDING card payment: what is being charged). */
  amountMinor: bigint;
  /** The part that paid the invoice. */
  appliedMinor: bigint;
  /** The part beyond what the invoice still owed, which became customer credit. */
  creditedMinor: bigint;
  /** Paid back to the customer, out of applied and credited together. */
  refundedMinor: bigint;
  reference: string | null;
  /** The card payment (pay_…), for CARD. */
  paymentId: string | null;
  /** The bank statement line that carried it, when reconciliation recorded it. */
  statementLineId: string | null;
  /** The entry that booked it (for CARD, the capture's entry is the payments module's). */
  journalEntryId: string | null;
  /** YYYY-MM-DD. */
  receivedOn: string;
  failureCode: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export function invoicePaymentFromRow(row: Record<string, unknown>): InvoicePaymentRecord {
  const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
  return {
    id: String(row.id),
    tenantId: String(row.tenant_id),
    invoiceId: String(row.invoice_id),
    customerId: String(row.customer_id),
    currency: String(row.currency),
    method: String(row.method) as InvoicePaymentMethod,
    status: String(row.status) as InvoicePaymentStatus,
    amountMinor: toBigInt(row.amount_minor),
    appliedMinor: toBigInt(row.applied_minor),
    creditedMinor: toBigInt(row.credited_minor),
    refundedMinor: toBigInt(row.refunded_minor),
    reference: text(row.reference),
    paymentId: text(row.payment_id),
    statementLineId: text(row.statement_line_id),
    journalEntryId: text(row.journal_entry_id),
    receivedOn: String(row.received_on),
    failureCode: text(row.failure_code),
    createdAt: fromDbTimestamp(row.created_at),
    updatedAt: fromDbTimestamp(row.updated_at),
  };
}
