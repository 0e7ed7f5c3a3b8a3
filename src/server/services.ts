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

export function createServices(dataSource: DataSource, clock: Clock, config: Pick<Config, 'ledgerMaxBatchSize'>): Services {
  const writer = new LedgerWriter(dataSource, clock, { maxBatchSize: config.ledgerMaxBatchSize, maxConcurrentBatches: 4 });
  return {
    dataSource,
    clock,
    tenancy: new TenancyService(dataSource, clock),
    auth: new AuthService(dataSource, clock),
    ledger: new LedgerService(dataSource, writer, clock),
  };
}
