import type { Logger } from 'pino';
import type { AuthLoaders } from '../modules/auth/auth.loaders';
import type { Principal } from '../modules/auth/auth.service';
import type { IdempotentRequest } from '../modules/idempotency/idempotent-request';
import type { InvoicingLoaders } from '../modules/invoicing/customers.loaders';
import type { LedgerLoaders } from '../modules/ledger/ledger.loaders';
import type { PaymentLoaders } from '../modules/payments/payments.loaders';
import type { ReconciliationLoaders } from '../modules/reconciliation/reconciliation.loaders';
import type { WebhookLoaders } from '../modules/webhooks/webhooks.loaders';
import type { Services } from '../services/services';

/**
 * What every resolver receives: who is calling, this request's loaders, and the services. Only the
 * shape lives here, below the modules; src/server builds one per HTTP request or WebSocket operation.
 */
export interface RequestContext {
  requestId: string;
  principal: Principal;
  services: Services;
  loaders: { ledger: LedgerLoaders; payments: PaymentLoaders; auth: AuthLoaders; webhooks: WebhookLoaders; reconciliation: ReconciliationLoaders; invoicing: InvoicingLoaders };
  log: Logger;
  /** Idempotency keys of this request's mutations: claims, replays, and storing their responses. */
  idempotency: IdempotentRequest;
  /** The caller's address as the server reads it (TRUST_PROXY), for the audit trail; null when unknown. */
  sourceAddress: string | null;
}
