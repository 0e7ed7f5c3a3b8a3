import type { EntityManager } from 'typeorm';

/**
 * Discrepancies between what a gateway says or does and what the books hold, found by the payments
 * module. They are stored as reconciliation flags, but the payments module knows only this interface:
 * services.ts wires it to the reconciliation flags, so payments never imports reconciliation.
 */
export enum GatewayDiscrepancyKind {
  /** A payout of another amount than the gateway clearing account held for its currency just before it. */
  PAYOUT_MISMATCH = 'PAYOUT_MISMATCH',
  /** A signed gateway event the books cannot follow (a dispute for more than is disputable, a payment the books lack). */
  GATEWAY_MISMATCH = 'GATEWAY_MISMATCH',
}

export interface GatewayDiscrepancy {
  tenantId: string;
  kind: GatewayDiscrepancyKind;
  /** What the discrepancy is about ("payout:pyo_…"): the same subject again is the same cause recurring. */
  subject: string;
  /** The values that differ, as decimal strings, and the ids to look at. */
  details: Record<string, unknown>;
}

export interface GatewayDiscrepancySink {
  /**
   * Records the discrepancy in the caller's transaction, so it commits or rolls back with its cause
   * (subscribers hear of it once that transaction has committed).
   */
  report(manager: EntityManager, discrepancy: GatewayDiscrepancy): Promise<void>;
}

export const NO_GATEWAY_DISCREPANCIES: GatewayDiscrepancySink = { report: () => Promise.resolve() };
