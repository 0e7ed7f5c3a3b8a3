import type { InvoiceNumberSettings, InvoiceNumberSettingsInput } from './invoice-numbers';

/**
 * A tenant's invoice settings: how its invoice numbers look, the payment terms a new draft gets, and
 * the seller details its invoice PDFs print. A tenant that never saved any has the defaults
 * (DEFAULT_INVOICE_NUMBERING, DEFAULT_PAYMENT_TERMS_DAYS, its own name as seller, nothing else).
 *
 * The seller details are stored in clear, unlike a customer's: they are the tenant's own published
 * business identity, printed on every invoice it sends to every customer (a tax id must be, by law, in
 * most countries), so encrypting them would protect nothing that is not already public.
 */
export interface InvoiceSettingsRecord {
  tenantId: string;
  numbering: InvoiceNumberSettings;
  /** The terms a draft gets when created with neither dueDate nor paymentTermsDays. */
  defaultPaymentTermsDays: number;
  /** The name invoices are issued under: as saved, or the tenant's name. */
  sellerName: string;
  /** The seller's address as printed, line by line (empty when none was given). */
  sellerAddress: string[];
  sellerTaxId: string | null;
  /** Printed at the end of every invoice: bank details, registration, a thank-you. */
  footer: string | null;
  /** Null while the tenant has never saved settings (these are the defaults). */
  updatedAt: Date | null;
}

export interface UpdateInvoiceSettingsInput {
  numbering: InvoiceNumberSettingsInput;
  defaultPaymentTermsDays?: number | null;
  sellerName: string;
  sellerAddress?: string[] | null;
  sellerTaxId?: string | null;
  footer?: string | null;
}

export const SELLER_NAME_MAX = 200;
export const SELLER_ADDRESS_MAX_LINES = 6;
export const SELLER_ADDRESS_LINE_MAX = 200;
export const SELLER_TAX_ID_MAX = 64;
export const FOOTER_MAX = 1000;
