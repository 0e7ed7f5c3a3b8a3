import DataLoader from 'dataloader';
import type { MatchingService, ReconciliationMatchRecord } from './matching.service';
import type { ReconciliationService } from './reconciliation.service';
import type { BankAccountRecord, BankStatementRecord, ReconciliationFlagRecord, StatementLineRecord } from './reconciliation.types';

/** A by-id loader: one statement for every id asked for in a tick, null for ids not found. */
function byIdLoader<T extends { id: string }>(fetch: (ids: readonly string[]) => Promise<T[]>): DataLoader<string, T | null> {
  return new DataLoader(async (ids) => {
    const found = new Map((await fetch(ids)).map((item) => [item.id, item]));
    return ids.map((id) => found.get(id) ?? null);
  });
}

/** The reconciliation module's DataLoaders, one set per request and tenant. */
export class ReconciliationLoaders {
  readonly bankAccountById: DataLoader<string, BankAccountRecord | null>;
  readonly bankStatementById: DataLoader<string, BankStatementRecord | null>;
  readonly bankStatementLineById: DataLoader<string, StatementLineRecord | null>;
  readonly reconciliationFlagById: DataLoader<string, ReconciliationFlagRecord | null>;
  readonly reconciliationMatchById: DataLoader<string, ReconciliationMatchRecord | null>;
  /** A line's current match, null while it is unmatched. */
  readonly currentMatchByStatementLineId: DataLoader<string, ReconciliationMatchRecord | null>;

  constructor(reconciliation: ReconciliationService, tenantId: string, matching: MatchingService) {
    this.bankAccountById = byIdLoader((ids) => reconciliation.bankAccountsByIds(tenantId, ids));
    this.bankStatementById = byIdLoader((ids) => reconciliation.statementsByIds(tenantId, ids));
    this.bankStatementLineById = byIdLoader((ids) => reconciliation.linesByIds(tenantId, ids));
    this.reconciliationFlagById = byIdLoader((ids) => reconciliation.flagsByIds(tenantId, ids));
    this.reconciliationMatchById = byIdLoader((ids) => matching.matchesByIds(tenantId, ids));
    this.currentMatchByStatementLineId = new DataLoader((lineIds) => matching.currentMatchesOfLines(tenantId, lineIds));
  }
}
