import DataLoader from 'dataloader';
import type { Page, PageWindow } from '../../common/pagination';
import type { CreditNotesService } from './credit-notes.service';
import type { CreditNoteRecord } from './credit-notes.types';
import type { CustomersService } from './customers.service';
import { InvoicePaymentLoaders } from './invoice-payments.loaders';
import type { InvoicePaymentsService } from './invoice-payments.service';
import type { CustomerRecord } from './customers.types';
import type { InvoicesService } from './invoices.service';
import type { InvoiceLineRecord, InvoiceRecord } from './invoices.types';

/** The invoicing module's DataLoaders, one set per request and tenant. */
export class InvoicingLoaders {
  /** One statement for every customer id asked for in a tick; null for ids not found in the tenant. */
  readonly customerById: DataLoader<string, CustomerRecord | null>;
  /** One statement for every invoice id asked for in a tick; null for ids not found in the tenant. */
  readonly invoiceById: DataLoader<string, InvoiceRecord | null>;
  /** The lines of a page of invoices in one statement. */
  readonly linesByInvoiceId: DataLoader<string, InvoiceLineRecord[]>;
  readonly creditNoteById: DataLoader<string, CreditNoteRecord | null>;
  /** How many credit notes each invoice of a page has, in one grouped COUNT. */
  readonly creditNoteCountByInvoiceId: DataLoader<string, number>;
  /** Pages of invoices' credit notes, one loader per distinct page request in the request. */
  private readonly creditNotePages = new Map<string, DataLoader<string, Page<CreditNoteRecord>>>();

  /**
   * The journal entries an invoice's payments and credit notes posted, for every invoice of a tick in
   * one statement (its own entries, finalisation, void and write-off, are on the invoice row).
   */
  readonly settlementEntryIdsByInvoiceId: DataLoader<string, string[]>;

  /** Invoice payments and customer balances. */
  readonly payments: InvoicePaymentLoaders;

  constructor(
    private readonly customers: CustomersService,
    private readonly invoices: InvoicesService,
    private readonly tenantId: string,
    private readonly creditNotes: CreditNotesService,
    private readonly invoicePayments: InvoicePaymentsService,
  ) {
    this.payments = new InvoicePaymentLoaders(invoicePayments, tenantId);
    this.customerById = new DataLoader(async (ids) => {
      const found = new Map((await customers.customersByIds(tenantId, ids)).map((customer) => [customer.id, customer]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.invoiceById = new DataLoader(async (ids) => {
      const found = new Map((await invoices.invoicesByIds(tenantId, ids)).map((invoice) => [invoice.id, invoice]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.linesByInvoiceId = new DataLoader(async (ids) => {
      const found = await invoices.linesByInvoiceIds(tenantId, ids);
      return ids.map((id) => found.get(id) ?? []);
    });
    this.settlementEntryIdsByInvoiceId = new DataLoader(async (ids) => {
      const found = await invoices.settlementEntryIdsByInvoiceIds(tenantId, ids);
      return ids.map((id) => found.get(id) ?? []);
    });
    this.creditNoteById = new DataLoader(async (ids) => {
      const found = new Map((await creditNotes.creditNotesByIds(tenantId, ids)).map((note) => [note.id, note]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.creditNoteCountByInvoiceId = new DataLoader(async (ids) => {
      const counts = await creditNotes.countsByInvoiceIds(tenantId, ids);
      return ids.map((id) => counts.get(id) ?? 0);
    });
  }

  /** An empty set for the same tenant: a subscription reads each event's nested fields afresh. */
  renewed(): InvoicingLoaders {
    return new InvoicingLoaders(this.customers, this.invoices, this.tenantId, this.creditNotes, this.invoicePayments);
  }

  /** The same page of the credit notes of every invoice asked for in a tick: two statements at most. */
  creditNotesPageByInvoiceId(window: PageWindow): DataLoader<string, Page<CreditNoteRecord>> {
    const key = JSON.stringify(window);
    let loader = this.creditNotePages.get(key);
    if (!loader) {
      loader = new DataLoader(async (ids) => {
        const pages = await this.creditNotes.creditNotePagesByInvoiceIds(this.tenantId, ids, window);
        return ids.map((id) => pages.get(id) as Page<CreditNoteRecord>);
      });
      this.creditNotePages.set(key, loader);
    }
    return loader;
  }
}
