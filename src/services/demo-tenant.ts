import type { TenantEntity } from '../modules/tenancy/tenant.entity';
import { GATEWAY_SIGNATURE_HEADER } from '../modules/payments/gateway-event-signature';
import { GatewayKind } from '../modules/payments/gateways/payment-gateway';
import type { PaymentGatewayRecord } from '../modules/payments/payments.types';
import type { Services } from './services';

export const DEMO_GATEWAY_CURRENCIES = ['USD', 'EUR'];

export interface DemoTenant {
  tenant: TenantEntity;
  /** The first API key's secret: shown once, only its hash is stored. */
  apiKey: string;
  gateway: PaymentGatewayRecord;
  /** The gateway's webhook secret, which signs its inbound events: shown once, stored encrypted. */
  webhookSecret: string;
}

/**
 * A tenant ready for a first payment: an admin API key, a simulator gateway (USD, EUR) and the
 * default USD chart of accounts. What the demo start seeds and `reckon tenant create --with-demo-gateway` makes.
 */
export async function createDemoTenant(services: Services, name: string): Promise<DemoTenant> {
  const tenant = await services.tenancy.createTenant(name);
  const { secret: apiKey } = await services.auth.createApiKey(tenant.id, { name: 'first key' });
  const { gateway, webhookSecret } = await services.payments.gateways.createGateway(tenant.id, {
    name: 'Simulator',
    kind: GatewayKind.SIMULATOR,
    currencies: DEMO_GATEWAY_CURRENCIES,
  });
  await services.ledger.defaultChartAccounts(tenant.id, 'USD');
  return { tenant, apiKey, gateway, webhookSecret };
}

/**
 * A shell command that sends one signed `dispute.opened` event for a payment to the gateway's inbound
 * route, computing the signature as a gateway does (see gateway-event-signature.ts). It reads the
 * gateway id and secret from RECKON_GATEWAY and RECKON_GATEWAY_SECRET, and takes the payment's
 * gatewayPaymentId as its one argument (`sim_pay_…` stands for it). Node only: no openssl or curl needed.
 */
export function signedEventExample(baseUrl: string): string[] {
  return [
    `node -e '`,
    `  const body = JSON.stringify({ id: "evt_" + Date.now(), type: "dispute.opened", data: { gatewayPaymentId: process.argv[1] } });`,
    `  const t = Math.floor(Date.now() / 1000);`,
    `  const v1 = require("node:crypto").createHmac("sha256", process.env.RECKON_GATEWAY_SECRET).update(t + "." + body).digest("hex");`,
    `  fetch("${baseUrl}/webhooks/gateways/" + process.env.RECKON_GATEWAY, { method: "POST", body,`,
    `    headers: { "Content-Type": "application/json", "${GATEWAY_SIGNATURE_HEADER}": "t=" + t + ",v1=" + v1 } })`,
    `    .then(async (response) => console.log(response.status, await response.text()));`,
    `' sim_pay_…`,
  ];
}
