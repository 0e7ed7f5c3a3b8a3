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

/** Failed-authentication counts, shared through Redis when REDIS_URL is set so every process sees them. */
export function createAuthLockout(limits: LimitsConfig, redis: Redis | null): AuthLockout {
  const failures = limiter(redis, {
    keyPrefix: 'reckon:auth-failures',
    points: limits.lockoutAttempts,
    duration: limits.lockoutSeconds,
  });
  return {
    async lockedForSeconds(credential) {
      const state = await failures.get(credential);
      if (!state || state.consumedPoints < limits.lockoutAttempts) return 0;
      return Math.max(1, Math.ceil(state.msBeforeNext / 1000));
    },
    async recordFailure(credential) {
      let consumedPoints: number;
      try {
        consumedPoints = (await failures.consume(credential)).consumedPoints;
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        consumedPoints = error.consumedPoints;
      }
      // The failure that locks starts the full lock period: counted failures expire with the window
      // opened by the first of them, which may be nearly over by the tenth.
      if (consumedPoints >= limits.lockoutAttempts) await failures.block(credential, limits.lockoutSeconds);
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
