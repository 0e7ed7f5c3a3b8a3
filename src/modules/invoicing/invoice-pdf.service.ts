import type { Clock } from '../../common/clock';
import type { CustomersService } from './customers.service';
import type { CustomerAddress, CustomerRecord } from './customers.types';
import { type InvoicePdfView, renderInvoicePdf } from './invoice-pdf';
import type { InvoiceSettingsService } from './invoice-settings.service';
import type { InvoiceSettingsRecord } from './invoice-settings.types';
import { type InvoicesService, utcDateOf } from './invoices.service';
import { amountOutstandingOf, amountRemainingOf, DEFAULT_PAYMENT_TERMS_DAYS, type InvoiceLineRecord, type InvoiceRecord, InvoiceStatus } from './invoices.types';

/** Printed under a draft: its number and dates are previews until it is finalised. */
export const DRAFT_NOTE = 'DRAFT - not a valid invoice. The number, issue date and due date are assigned when it is finalised.';

const DAY_MS = 24 * 60 * 60 * 1000;
const countryNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });

/** A stored address as printed: street lines, "postal code city", region, and the country's English name. */
export function addressLinesOf(address: CustomerAddress | null): string[] {
  if (!address) return [];
  return [
    address.line1,
    address.line2,
    [address.postalCode, address.city].filter(Boolean).join(' '),
    address.region,
    countryNames.of(address.country) ?? address.country,
  ].filter((line): line is string => typeof line === 'string' && line !== '');
}

export interface InvoicePdfSource {
  invoice: InvoiceRecord;
  lines: readonly InvoiceLineRecord[];
  customer: CustomerRecord;
  settings: InvoiceSettingsRecord;
  /** The moment of rendering: a draft's dates are previewed from it. */
  now: Date;
}

/**
 * What the PDF prints, from the stored invoice as it is: every figure is the stored one (never summed
 * here), and what is left to pay is amountRemainingOf, the one rule. A DRAFT has no number; its issue
 * date is today and its due date the one it would get if finalised today, with DRAFT_NOTE saying so.
 * A VOID invoice owes nothing: what was due when it was voided is printed as voided.
 */
export function invoicePdfViewOf({ invoice, lines, customer, settings, now }: InvoicePdfSource): InvoicePdfView {
  const draft = invoice.status === InvoiceStatus.DRAFT;
  const today = utcDateOf(now);
  const issueDate = invoice.issueDate ?? today;
  const dueDate =
    invoice.dueDate ?? utcDateOf(new Date(Date.parse(`${issueDate}T00:00:00Z`) + (invoice.paymentTermsDays ?? DEFAULT_PAYMENT_TERMS_DAYS) * DAY_MS));
  const remaining = amountRemainingOf(invoice);
  const voided = invoice.status === InvoiceStatus.VOID;
  return {
    seller: { name: settings.sellerName, addressLines: settings.sellerAddress, taxId: settings.sellerTaxId },
    customer: { name: customer.name, addressLines: addressLinesOf(customer.address), taxId: customer.taxId, email: customer.email },
    number: draft ? null : invoice.number,
    status: invoice.status,
    issueDate,
    dueDate,
    currency: invoice.currency,
    lines: lines.map((line) => ({
      description: line.description,
      quantity: line.quantity,
      unitPrice: line.unitPriceMinor,
      discount: line.discountMinor,
      taxRate: line.taxRate,
      taxInclusive: line.taxBehaviour === 'INCLUSIVE',
      net: line.netMinor,
      tax: line.taxMinor,
      total: line.totalMinor,
    })),
    subtotal: invoice.subtotalMinor,
    discounts: invoice.discountTotalMinor,
    taxes: invoice.taxByRate.map((group) => ({ rate: group.rate, taxable: group.taxableMinor, tax: group.taxMinor })),
    total: invoice.totalMinor,
    amountCredited: invoice.amountCreditedMinor,
    amountPaid: invoice.amountPaidMinor,
    amountWrittenOff: invoice.amountWrittenOffMinor,
    amountVoided: voided ? amountOutstandingOf(invoice) : 0n,
    amountDue: remaining,
    memo: invoice.memo,
    footer: [draft ? DRAFT_NOTE : null, settings.footer].filter(Boolean).join('\n\n') || null,
  };
}

export interface RenderedInvoicePdf {
  invoice: InvoiceRecord;
  /** A file name for Content-Disposition: the invoice number, or draft-<id> before it has one. */
  filename: string;
  pdf: Buffer;
}

/**
 * The invoice PDF of GET /invoices/:id/pdf: the invoice, its lines and customer (decrypted by the
 * customers service) and the tenant's seller settings, rendered by renderInvoicePdf. Tenant-scoped
 * through each service: another tenant's invoice is NOT_FOUND like a missing one.
 */
export class InvoicePdfService {
  constructor(
    private readonly invoices: InvoicesService,
    private readonly customers: CustomersService,
    private readonly settings: InvoiceSettingsService,
    private readonly clock: Clock,
  ) {}

  async renderInvoice(tenantId: string, invoiceId: string): Promise<RenderedInvoicePdf> {
    const invoice = await this.invoices.getInvoice(tenantId, invoiceId);
    const [lines, customer, settings] = await Promise.all([
      this.invoices.linesByInvoiceIds(tenantId, [invoice.id]).then((byId) => byId.get(invoice.id) ?? []),
      this.customers.getCustomer(tenantId, invoice.customerId, 'customerId'),
      this.settings.getSettings(tenantId),
    ]);
    const pdf = await renderInvoicePdf(invoicePdfViewOf({ invoice, lines, customer, settings, now: this.clock.now() }));
    return { invoice, filename: `${invoice.status === InvoiceStatus.DRAFT || !invoice.number ? `draft-${invoice.id}` : invoice.number}.pdf`, pdf };
  }
}
