import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import pino, { type Logger } from 'pino';
import { systemClock, type Clock } from './common/clock';
import type { Config } from './config';
import { createDataSource, type StatementCounter } from './db/data-source';
import { migrate } from './db/migrate';
import { createServices, type Services } from './server/services';

export interface Runtime {
  dataSource: DataSource;
  statements: StatementCounter;
  services: Services;
  log: Logger;
  /** Closes the database pool. */
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Opens the database, applies pending migrations and wires the services: what every entry point needs. */
export async function bootstrap(
  config: Pick<Config, 'databaseUrl' | 'databasePoolSize' | 'ledgerMaxBatchSize' | 'logLevel'>,
  options: { clock?: Clock; log?: Logger } = {},
): Promise<Runtime> {
  const log = options.log ?? createLogger(config.logLevel);
  const { dataSource, statements } = createDataSource({ url: config.databaseUrl, poolSize: config.databasePoolSize, logger: log });
  await dataSource.initialize();
  const applied = await migrate(dataSource);
  if (applied.length) log.info({ migrations: applied }, 'applied migrations');
  const services = createServices(dataSource, options.clock ?? systemClock, config, log);
  return { dataSource, statements, services, log, close: () => dataSource.destroy() };
}
