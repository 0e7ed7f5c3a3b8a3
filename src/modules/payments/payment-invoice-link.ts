import type { EntityManager } from 'typeorm';
import type { LedgerCommand } from '../ledger/ledger-writer';
import type { PaymentRecord } from './payments.types';

/**
 * What happened to a payment that pays an invoice, told to the invoicing module inside the
 * transaction that records it, so that the invoice changes in the same commit as the payment:
 * - `failed`: the authorization or the capture was declined, or the hold was voided or expired
 *   (the payment paid nothing);
 * - `captured`: money was taken (through the API, a gateway event, or the status check);
 * - `refunded`: money was given back.
 */
export type LinkedPaymentChange =
  | { kind: 'failed'; code: string }
  | { kind: 'captured'; amountMinor: bigint }
  | { kind: 'refunded'; amountMinor: bigint; refundId: string };

export interface LinkedPaymentSettlement {
  /** Further ledger commands, written with the payment's own (after them, in the same transaction). */
  commands: LedgerCommand[];
  /** Run once the transaction has committed (publishing the invoice's events). */
  afterCommit?: () => void;
}

/**
 * The payments module's hook for payments linked to invoices. The payments module knows nothing of
 * invoices beyond the id: the invoicing module implements this, and services.ts wires it in.
 * Implementations lock what they change (the invoice, the customer's credit) after the payment row,
 * which the payments module has locked already.
 */
export interface PaymentInvoiceLink {
  /**
   * In the transaction that stores a new payment linked to an invoice, before the gateway is called:
   * a throw refuses the payment, and nothing is stored or charged.
   */
  paymentCreating(manager: EntityManager, payment: PaymentRecord): Promise<void>;
  /** In the transaction that records a change of a linked payment; a throw rolls it back. */
  paymentChanged(manager: EntityManager, payment: PaymentRecord, change: LinkedPaymentChange): Promise<LinkedPaymentSettlement>;
}

/** Without the invoicing module, no payment may be linked to an invoice. */
export const NO_INVOICE_LINK: PaymentInvoiceLink = {
  paymentCreating: () => Promise.reject(new Error('payments of invoices need the invoicing module wired in (services.ts)')),
  paymentChanged: () => Promise.resolve({ commands: [] }),
};
