import type { Logger } from 'pino';
import type { Principal } from '../modules/auth/auth.service';
import { LedgerLoaders } from '../modules/ledger/ledger.loaders';
import type { Services } from './services';

/** What every resolver receives: who is calling, this request's loaders, and the services. */
export interface RequestContext {
  requestId: string;
  principal: Principal;
  services: Services;
  loaders: { ledger: LedgerLoaders };
  log: Logger;
}

export function createRequestContext(requestId: string, principal: Principal, services: Services, log: Logger): RequestContext {
  return {
    requestId,
    principal,
    services,
    loaders: { ledger: new LedgerLoaders(services.ledger, principal.tenantId) },
    log: log.child({ requestId, tenantId: principal.tenantId }),
  };
}
