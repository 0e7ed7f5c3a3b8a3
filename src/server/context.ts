import type { Logger } from 'pino';
import { newUlid } from '../common/ids';
import { AuthLoaders } from '../modules/auth/auth.loaders';
import type { Principal } from '../modules/auth/auth.service';
import { IdempotentRequest } from '../modules/idempotency/idempotent-request';
import { InvoicingLoaders } from '../modules/invoicing/customers.loaders';
import { LedgerLoaders } from '../modules/ledger/ledger.loaders';
import { PaymentLoaders } from '../modules/payments/payments.loaders';
import { ReconciliationLoaders } from '../modules/reconciliation/reconciliation.loaders';
import { WebhookLoaders } from '../modules/webhooks/webhooks.loaders';
import type { RequestContext } from '../graphql/context';
import type { Services } from '../services/services';

export type { RequestContext };

/** A request id of our own, for a request (HTTP or one WebSocket operation) that brought none. */
export function newRequestId(): string {
  return `req_${newUlid()}`;
}

/**
 * Query-string parameters that would put a credential in URLs, logs and browser history: refused on
 * every HTTP route and on the WebSocket upgrade alike. Compared in lower case.
 */
export const CREDENTIAL_QUERY_PARAMETERS: ReadonlySet<string> = new Set([
  'access_token',
  'api_key',
  'apikey',
  'key',
  'token',
  'authorization',
  'client_secret',
]);

export function createRequestContext(
  requestId: string,
  principal: Principal,
  services: Services,
  log: Logger,
  /** The Idempotency-Key HTTP header, if sent. */
  idempotencyKeyHeader: string | null = null,
  /** The caller's address (sourceAddressOf), recorded in the audit trail. */
  sourceAddress: string | null = null,
): RequestContext {
  return {
    requestId,
    principal,
    services,
    loaders: {
      ledger: new LedgerLoaders(services.ledger, principal.tenantId),
      payments: new PaymentLoaders(services.payments, services.payments.gateways, principal.tenantId),
      auth: new AuthLoaders(services.auth, principal.tenantId),
      webhooks: new WebhookLoaders(services.webhooks, services.webhookDeliveries, principal.tenantId),
      reconciliation: new ReconciliationLoaders(services.reconciliation, principal.tenantId, services.matching),
      invoicing: new InvoicingLoaders(services.customers, services.invoices, principal.tenantId, services.creditNotes, services.invoicePayments),
    },
    log: log.child({ requestId, tenantId: principal.tenantId }),
    idempotency: new IdempotentRequest(services.idempotency, principal, idempotencyKeyHeader),
    sourceAddress,
  };
}
