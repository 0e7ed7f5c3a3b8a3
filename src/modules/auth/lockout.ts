/**
 * Counts failed authentications per client id or key prefix and locks one out after too many:
 * the configured number of failures within the lockout window lock it for the full lockout period,
 * counted from the failure that locks it.
 */
export interface AuthLockout {
  /** Seconds until the credential is unlocked, or 0 when it may try. */
  lockedForSeconds(credential: string): Promise<number>;
  recordFailure(credential: string): Promise<void>;
}
