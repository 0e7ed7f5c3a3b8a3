import { AuthorizePaymentDocument, type AuthorizePaymentInput, CreateGatewayDocument, PaymentDocument, type PaymentPartsFragment, type PaymentQuery } from '../generated/graphql';
import { nodesOf } from './connections';
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

type PaymentResult = NonNullable<PaymentQuery['payment']>;
type NodesOf<C> = C extends { edges: { node: infer N }[] } ? N[] : never;
type ListFields = 'refunds' | 'disputes' | 'events' | 'journalEntries';

/** A payment as the Payment document reads it, with its lists (first pages of 100) as plain arrays. */
export type PaymentView = Omit<PaymentResult, ListFields> & { [K in ListFields]: NodesOf<PaymentResult[K]> };

export function paymentViewOf(payment: PaymentResult): PaymentView {
  return {
    ...payment,
    refunds: nodesOf(payment.refunds),
    disputes: nodesOf(payment.disputes),
    events: nodesOf(payment.events),
    journalEntries: nodesOf(payment.journalEntries),
  };
}

export async function readPayment(client: GraphQLClient, id: string): Promise<PaymentView> {
  return paymentViewOf((await client.ok(PaymentDocument, { id })).payment);
}
