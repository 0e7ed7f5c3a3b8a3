import type { GatewayDiscrepancySink } from '../payments/gateway-discrepancies';
import type { ReconciliationFlagsService } from './reconciliation-flags.service';
import { ReconciliationFlagKind } from './reconciliation.types';

/**
 * The payments module's gateway discrepancies as reconciliation flags with no bank account, raised in
 * the payments transaction that found them (services.ts hands this to the payments service).
 */
export function gatewayDiscrepancyFlags(flags: Pick<ReconciliationFlagsService, 'raise'>): GatewayDiscrepancySink {
  return {
    async report(manager, discrepancy) {
      await flags.raise(manager, {
        tenantId: discrepancy.tenantId,
        bankAccountId: null,
        kind: ReconciliationFlagKind[discrepancy.kind],
        subject: discrepancy.subject,
        details: discrepancy.details,
      });
    },
  };
}
