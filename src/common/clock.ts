/**
 * The one source of "now". Tests replace it to move time (expiring authorizations, idempotency keys)
 * without sleeping.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
