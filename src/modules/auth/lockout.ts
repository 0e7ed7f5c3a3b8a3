/**
 * Counts failed authentications and locks out where they come from, never the credential itself: a
 * key's prefix and an OAuth client's id are not secret (they show in logs and dashboards), so a lock
 * on them alone would let anyone who saw one cut off its real owner.
 *
 * Two counts, each locking for the full lockout period from the failure that reaches it:
 * - one credential (key prefix or client id) from one source address: AUTH_LOCKOUT_ATTEMPTS failures
 *   lock that pair only; the same credential from any other address goes on working;
 * - one source address, whatever it tries: AUTH_LOCKOUT_SOURCE_ATTEMPTS failures lock that address
 *   for every credential (guessing across many prefixes).
 */
export interface AuthLockout {
  /** Seconds until this credential may be tried again from this source address, or 0 when it may. */
  lockedForSeconds(credential: string, source: string): Promise<number>;
  recordFailure(credential: string, source: string): Promise<void>;
}
