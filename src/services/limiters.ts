import type Redis from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError, ErrorCode } from '../common/errors';
import type { LimitsConfig } from '../config';
import type { AuthLockout } from '../modules/auth/lockout';

export interface RequestRateLimiter {
  /** Seconds to wait before retrying, or 0 when the request may go ahead. */
  consume(credential: string): Promise<number>;
}

/**
 * Spends one request of the credential's allowance, or refuses with RATE_LIMITED: the same refusal for
 * an HTTP request and for each operation on a WebSocket.
 */
export async function consumeRequestAllowance(limiter: RequestRateLimiter, credential: string): Promise<void> {
  const retryAfterSeconds = await limiter.consume(credential);
  if (retryAfterSeconds > 0) {
    throw new AppError(ErrorCode.RATE_LIMITED, `Too many requests for this credential; retry after ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    });
  }
}

function limiter(redis: Redis | null, options: { keyPrefix: string; points: number; duration: number; blockDuration?: number }): RateLimiterAbstract {
  return redis ? new RateLimiterRedis({ storeClient: redis, ...options }) : new RateLimiterMemory(options);
}

/**
 * Failures counted under `key`: the one that reaches `attempts` blocks the key for the full `seconds`
 * (counted failures expire with the window opened by the first of them, which may be nearly over by
 * the last).
 */
function failureCounter(redis: Redis | null, keyPrefix: string, attempts: number, seconds: number) {
  const failures = limiter(redis, { keyPrefix, points: attempts, duration: seconds });
  return {
    async lockedForSeconds(key: string): Promise<number> {
      const state = await failures.get(key);
      if (!state || state.consumedPoints < attempts) return 0;
      return Math.max(1, Math.ceil(state.msBeforeNext / 1000));
    },
    async recordFailure(key: string): Promise<void> {
      let consumedPoints: number;
      try {
        consumedPoints = (await failures.consume(key)).consumedPoints;
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        consumedPoints = error.consumedPoints;
      }
      if (consumedPoints >= attempts) await failures.block(key, seconds);
    },
  };
}

/** Failed-authentication counts, shared through Redis when REDIS_URL is set so every process sees them. */
export function createAuthLockout(limits: LimitsConfig, redis: Redis | null): AuthLockout {
  const perCredentialAndSource = failureCounter(redis, 'reckon:auth-failures:credential-source', limits.lockoutAttempts, limits.lockoutSeconds);
  const perSource = failureCounter(redis, 'reckon:auth-failures:source', limits.lockoutSourceAttempts, limits.lockoutSeconds);
  const pair = (credential: string, source: string) => `${credential}@${source}`;
  return {
    async lockedForSeconds(credential, source) {
      const [pairLock, sourceLock] = await Promise.all([perCredentialAndSource.lockedForSeconds(pair(credential, source)), perSource.lockedForSeconds(source)]);
      return Math.max(pairLock, sourceLock);
    },
    async recordFailure(credential, source) {
      await Promise.all([perCredentialAndSource.recordFailure(pair(credential, source)), perSource.recordFailure(source)]);
    },
  };
}

export function createRequestRateLimiter(limits: LimitsConfig, redis: Redis | null): RequestRateLimiter {
  if (limits.requestsPerSecond === 0) return { consume: async () => 0 };
  const requests = limiter(redis, { keyPrefix: 'reckon:requests', points: limits.requestsPerSecond, duration: 1 });
  return {
    async consume(credential) {
      try {
        await requests.consume(credential);
        return 0;
      } catch (error) {
        if (error instanceof RateLimiterRes) return Math.max(1, Math.ceil(error.msBeforeNext / 1000));
        throw error;
      }
    },
  };
}
