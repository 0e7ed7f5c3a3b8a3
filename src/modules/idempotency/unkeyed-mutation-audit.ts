import { AsyncLocalStorage } from 'node:async_hooks';
import type { MutationAudit } from '../audit/audit.types';

/** The audit event of the mutation running now without an idempotency key. */
const unkeyedAudits = new AsyncLocalStorage<MutationAudit>();

/** Runs an unkeyed mutation's work with its audit event in reach of unkeyedMutationAudit (IdempotentRequest.run). */
export function runUnkeyedMutation<T>(audit: MutationAudit, work: () => T): T {
  return unkeyedAudits.run(audit, work);
}

/**
 * The audit event of the unkeyed mutation running now, for a service whose one transaction decides
 * the whole mutation (a single ledger command): it writes the event in that transaction, as a key's
 * completion writes a keyed mutation's, rather than the audit middleware writing it in a transaction
 * of its own afterwards. Undefined outside a mutation, in a keyed one (its claim carries the event),
 * and when the call is not audited.
 */
export function unkeyedMutationAudit(): MutationAudit | undefined {
  return unkeyedAudits.getStore();
}
