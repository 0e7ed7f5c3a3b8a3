import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Clock } from '../common/clock';
import type { Config } from '../config';
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
}

export function createServices(
  dataSource: DataSource,
  clock: Clock,
  config: Pick<Config, 'ledgerMaxBatchSize'>,
  log?: Logger,
): Services {
  // Two batches in flight, not more: the API process is CPU-bound under load and each batch costs the
  // same handful of statements whatever its size, so fewer, larger batches serve more entries
  // (bench/ledger.bench.ts: 1 and 2 measure alike at 32 clients, 4 about 15% lower, 8 lower still); the
  // second one keeps a batch that waits on a lock from stalling every write of the process.
  const writer = new LedgerWriter(dataSource, clock, { maxBatchSize: config.ledgerMaxBatchSize, maxConcurrentBatches: 2, log });
  return {
    dataSource,
    clock,
    tenancy: new TenancyService(dataSource, clock),
    auth: new AuthService(dataSource, clock),
    ledger: new LedgerService(dataSource, writer, clock),
  };
}
