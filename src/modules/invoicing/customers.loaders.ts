import DataLoader from 'dataloader';
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
  /** Invoice payments and customer balances. */
  readonly payments: InvoicePaymentLoaders;

  constructor(customers: CustomersService, invoices: InvoicesService, tenantId: string, invoicePayments: InvoicePaymentsService) {
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
  }
}
