import { AuthorizePaymentDocument, type AuthorizePaymentInput, CreateGatewayDocument, type PaymentPartsFragment } from '../generated/graphql';
import type { GraphQLClient } from './graphql-client';

/** A simulator gateway for USD (and EUR, JPY), the default route for those currencies. */
export async function createSimulatorGateway(client: GraphQLClient, currencies = ['USD', 'EUR', 'JPY']): Promise<{ id: string; webhookSecret: string }> {
  const { createGateway } = await client.ok(CreateGatewayDocument, { input: { name: 'Simulator', kind: 'SIMULATOR', currencies } });
  return { id: createGateway.gateway.id, webhookSecret: createGateway.webhookSecret };
}

/** Authorizes (and with capture: true, captures) a payment through the tenant's default gateway. */
export async function authorize(
  client: GraphQLClient,
  input: Partial<AuthorizePaymentInput> & { amount: string },
  idempotencyKey?: string,
): Promise<PaymentPartsFragment> {
  const { authorizePayment } = await client.ok(AuthorizePaymentDocument, {
    input: { currency: 'USD', paymentToken: 'tok_approve', ...input },
    idempotencyKey: idempotencyKey ?? null,
  });
  return authorizePayment.payment;
}
