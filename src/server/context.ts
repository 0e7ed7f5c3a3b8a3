import type { Logger } from 'pino';
import type { Principal } from '../modules/auth/auth.service';
import { IdempotentRequest } from '../modules/idempotency/idempotent-request';
import { LedgerLoaders } from '../modules/ledger/ledger.loaders';
import { PaymentLoaders } from '../modules/payments/payments.loaders';
import type { Services } from './services';

/** What every resolver receives: who is calling, this request's loaders, and the services. */
export interface RequestContext {
  requestId: string;
  principal: Principal;
  services: Services;
  loaders: { ledger: LedgerLoaders; payments: PaymentLoaders };
  log: Logger;
  /** Idempotency keys of this request's mutations: claims, replays, and storing their responses. */
  idempotency: IdempotentRequest;
}

export function createRequestContext(
  requestId: string,
  principal: Principal,
  services: Services,
  log: Logger,
  /** The Idempotency-Key HTTP header, if sent. */
  idempotencyKeyHeader: string | null = null,
): RequestContext {
  return {
    requestId,
    principal,
    services,
    loaders: {
      ledger: new LedgerLoaders(services.ledger, principal.tenantId),
      payments: new PaymentLoaders(services.payments, services.payments.gateways, principal.tenantId),
    },
    log: log.child({ requestId, tenantId: principal.tenantId }),
    idempotency: new IdempotentRequest(services.idempotency, principal, idempotencyKeyHeader),
  };
}
