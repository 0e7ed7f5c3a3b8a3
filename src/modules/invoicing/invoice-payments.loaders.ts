import DataLoader from 'dataloader';
import type { InvoicePaymentsService } from './invoice-payments.service';
import type { CustomerBalanceRecord } from './invoice-payments.service';
import type { InvoicePaymentRecord } from './invoice-payments.types';

/** Loaders of invoice payments and customer balances, one set per request and tenant. */
export class InvoicePaymentLoaders {
  /** One statement for every invoice payment id asked for in a tick; null for ids not found in the tenant. */
  readonly invoicePaymentById: DataLoader<string, InvoicePaymentRecord | null>;
  /** Every payment of a page of invoices in one statement. */
  readonly paymentsByInvoiceId: DataLoader<string, InvoicePaymentRecord[]>;
  /** Open receivables and unapplied credit per currency of a page of customers, in two statements. */
  readonly balancesByCustomerId: DataLoader<string, CustomerBalanceRecord[]>;

  constructor(service: InvoicePaymentsService, tenantId: string) {
    this.invoicePaymentById = new DataLoader(async (ids) => {
      const found = new Map((await service.invoicePaymentsByIds(tenantId, ids)).map((payment) => [payment.id, payment]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.paymentsByInvoiceId = new DataLoader(async (ids) => {
      const found = await service.paymentsByInvoiceIds(tenantId, ids);
      return ids.map((id) => found.get(id) ?? []);
    });
    this.balancesByCustomerId = new DataLoader(async (ids) => {
      const found = await service.balancesByCustomerIds(tenantId, ids);
      return ids.map((id) => found.get(id) ?? []);
    });
  }
}
