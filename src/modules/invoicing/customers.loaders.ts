import DataLoader from 'dataloader';
import type { CustomersService } from './customers.service';
import type { CustomerRecord } from './customers.types';

/** The invoicing module's DataLoaders, one set per request and tenant. */
export class InvoicingLoaders {
  /** One statement for every customer id asked for in a tick; null for ids not found in the tenant. */
  readonly customerById: DataLoader<string, CustomerRecord | null>;

  constructor(customers: CustomersService, tenantId: string) {
    this.customerById = new DataLoader(async (ids) => {
      const found = new Map((await customers.customersByIds(tenantId, ids)).map((customer) => [customer.id, customer]));
      return ids.map((id) => found.get(id) ?? null);
    });
  }
}
