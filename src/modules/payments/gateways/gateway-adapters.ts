import type { DataSource } from 'typeorm';
import { assertNever } from '../../../common/assert';
import type { Clock } from '../../../common/clock';
import { HttpGateway } from './http-gateway';
import { type GatewayCredentials, GatewayKind, type PaymentGateway } from './payment-gateway';
import { SimulatorGateway } from './simulator-gateway';

export interface GatewayAdapterOptions {
  /** Where the simulator keeps its books. */
  dataSource: DataSource;
  /** Stamps the simulator's rows. */
  clock?: Clock;
  /** How long the simulator's `tok_slow` takes; its default otherwise. */
  simulatorSlowMs?: number;
}

/**
 * The adapter for one gateway row, from its decrypted credentials. Neither kind holds state in the
 * process: the simulator keeps its books in the database, an HTTP gateway keeps its own.
 */
export function createGatewayAdapter(gatewayId: string, credentials: GatewayCredentials, options: GatewayAdapterOptions): PaymentGateway {
  switch (credentials.kind) {
    case GatewayKind.SIMULATOR:
      return new SimulatorGateway(options.dataSource, gatewayId, { slowMs: options.simulatorSlowMs, clock: options.clock });
    case GatewayKind.HTTP:
      return new HttpGateway(credentials);
    default:
      return assertNever(credentials, 'gateway credentials kind');
  }
}
