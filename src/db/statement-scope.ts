import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the database layer knows of the work a statement belongs to, carried with the work's async
 * context so that services need not pass it along. src/server opens one per GraphQL request; long jobs
 * (migrations, `keys reencrypt`, later exports and imports) open one asking for the long limit.
 */
export interface StatementScope {
  /** Aborted when the work's answer is no longer wanted: its client went away, or its deadline passed. */
  readonly signal?: AbortSignal;
  /**
   * Whether an abort cancels the statements of this work (a running one with KILL QUERY, later ones
   * before they are sent). Reads only: a write that a retry with its idempotency key settles anyway is
   * better finished than cut between its claim and its commit, and the ledger writer's group commits
   * carry other requests' entries. Set once the operation is known to be a query.
   */
  cancellable: boolean;
  /** Which time limit the statements run under: DATABASE_[LONG_]STATEMENT_TIMEOUT_MS, or none (migrations). */
  readonly limit: 'default' | 'long' | 'none';
}

const scopes = new AsyncLocalStorage<StatementScope>();

export function currentStatementScope(): StatementScope | undefined {
  return scopes.getStore();
}

/** Runs `work` (and every statement its async continuations issue) under `scope`. */
export function runInStatementScope<T>(scope: StatementScope, work: () => T): T {
  return scopes.run(scope, work);
}

/**
 * Runs a long job (an export, an import, a migration) under DATABASE_LONG_STATEMENT_TIMEOUT_MS
 * instead of the few seconds a request's statement gets. The connection is set to the long limit
 * before the job's first statement on it and back to the default before another user's.
 */
export function withLongStatements<T>(work: () => T): T {
  const outer = scopes.getStore();
  return scopes.run({ signal: outer?.signal, cancellable: outer?.cancellable ?? false, limit: 'long' }, work);
}

/**
 * Runs schema migrations with no statement time limit: an index built over a large table may take
 * longer than any limit that suits requests, and a migration cut off halfway would stop the start.
 */
export function withoutStatementLimit<T>(work: () => T): T {
  const outer = scopes.getStore();
  return scopes.run({ signal: outer?.signal, cancellable: outer?.cancellable ?? false, limit: 'none' }, work);
}

/** Why the work of a request was cancelled; its message is what the client is told. */
export class WorkCancelled extends Error {
  override name = 'WorkCancelled';
}
