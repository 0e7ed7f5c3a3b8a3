import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Clock } from '../common/clock';
import type Redis from 'ioredis';
import type { FieldCipher } from '../common/encryption';
import type { Config } from '../config';
import { TokenService } from '../modules/auth/tokens';
import type { KeyMaterial } from './key-material';
import { createAuthLockout, createRequestRateLimiter, type RequestRateLimiter } from './limiters';
import { AuthService } from '../modules/auth/auth.service';
import { LedgerService } from '../modules/ledger/ledger.service';
import { LedgerWriter } from '../modules/ledger/ledger-writer';
import { TenancyService } from '../modules/tenancy/tenancy.service';

/** One instance of each module's service per process, shared by every request. */
export interface Services {
  dataSource: DataSource;
  clock: Clock;
  tenancy: TenancyService;
  auth: AuthService;
  ledger: LedgerService;
  cipher: FieldCipher;
  requestRateLimiter: RequestRateLimiter;
}

export interface ServiceOptions {
  config: Pick<Config, 'ledgerMaxBatchSize' | 'auth' | 'limits'>;
  keys: KeyMaterial;
  /** Shared rate-limit and lockout state; null keeps it in this process. */
  redis: Redis | null;
  log?: Logger;
}

export function createServices(dataSource: DataSource, clock: Clock, options: ServiceOptions): Services {
  const { config, keys, redis, log } = options;
  // Two batches in flight, not more: the API process is CPU-bound under load and each batch costs the
  // same handful of statements whatever its size, so fewer, larger batches serve more entries
  // (bench/ledger.bench.ts: 1 and 2 measure alike at 32 clients, 4 about 15% lower, 8 lower still); the
  // second one keeps a batch that waits on a lock from stalling every write of the process.
  const writer = new LedgerWriter(dataSource, clock, { maxBatchSize: config.ledgerMaxBatchSize, maxConcurrentBatches: 2, log });
  const tokens = new TokenService(keys.signingKeys, config.auth, clock);
  return {
    dataSource,
    clock,
    cipher: keys.cipher,
    requestRateLimiter: createRequestRateLimiter(config.limits, redis),
    tenancy: new TenancyService(dataSource, clock),
    auth: new AuthService(dataSource, clock, tokens, createAuthLockout(config.limits, redis)),
    ledger: new LedgerService(dataSource, writer, clock),
  };
}
