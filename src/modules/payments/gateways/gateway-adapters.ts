import { assertNever } from '../../../common/assert';
import { HttpGateway } from './http-gateway';
import { type GatewayCredentials, GatewayKind, type PaymentGateway } from './payment-gateway';
import { simulatorFor } from './simulator-gateway';

export interface GatewayAdapterOptions {
  /** How long the simulator's `tok_slow` takes; its default otherwise. */
  simulatorSlowMs?: number;
}

/**
 * The adapter for one gateway row, from its decrypted credentials. Simulators are shared per gateway id
 * (their books live in the process), HTTP adapters hold no state and are cheap to create per call.
 */
export function createGatewayAdapter(gatewayId: string, credentials: GatewayCredentials, options: GatewayAdapterOptions = {}): PaymentGateway {
  switch (credentials.kind) {
    case GatewayKind.SIMULATOR:
      return simulatorFor(gatewayId, options.simulatorSlowMs === undefined ? {} : { slowMs: options.simulatorSlowMs });
    case GatewayKind.HTTP:
      return new HttpGateway(credentials);
    default:
      return assertNever(credentials, 'gateway credentials kind');
  }
}
