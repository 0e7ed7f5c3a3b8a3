import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType, Money, Node } from '../../graphql/common.objects';
import { CurrencyScalar } from '../../graphql/scalars';
import { DeclineCode, GatewayKind } from './gateways/payment-gateway';
import { DisputeOutcome, DisputeStatus, PaymentStatus, PendingOperation, RefundStatus } from './payment-state';
import { PaymentEventSource, PaymentEventType } from './payments.types';

registerEnumType(GatewayKind, {
  name: 'GatewayKind',
  description: 'SIMULATOR: built in, behaviour chosen by test tokens. HTTP: a JSON-over-HTTP gateway (see README).',
});
registerEnumType(PaymentStatus, {
  name: 'PaymentStatus',
  description:
    'PROCESSING: sent for authorization, outcome not known yet. AUTHORIZED: funds held. CAPTURED: charged (refunds and disputes keep this status; see the amounts). VOIDED, EXPIRED: hold released. FAILED: declined.',
});
registerEnumType(PendingOperation, { name: 'PendingGatewayOperation', description: 'A gateway call whose outcome is not recorded yet.' });
registerEnumType(RefundStatus, { name: 'RefundStatus' });
registerEnumType(DisputeStatus, { name: 'DisputeStatus' });
registerEnumType(DisputeOutcome, {
  name: 'DisputeOutcome',
  description: 'How closeDispute ends a dispute.',
  valuesConfig: {
    WON: { description: 'The disputed funds return to gateway clearing.' },
    LOST: { description: 'The funds are booked as a chargeback loss.' },
  },
});
registerEnumType(DeclineCode, {
  name: 'DeclineCode',
  description: 'Why a gateway refused a payment or refund; also `details.declineCode` of a GATEWAY_DECLINED error.',
  valuesConfig: {
    INSUFFICIENT_FUNDS: { description: 'The card has insufficient funds.' },
    EXPIRED_CARD: { description: 'The card has expired.' },
    FRAUD_SUSPECTED: { description: 'Declined as suspected fraud.' },
    DO_NOT_HONOR: { description: 'Declined by the issuer without a more specific reason (also any reason the gateway gave that Reckon does not know).' },
    GATEWAY_REJECTED: { description: 'The gateway refused the request itself (not the card); definitely not done.' },
  },
});
registerEnumType(PaymentEventType, { name: 'PaymentEventType' });
registerEnumType(PaymentEventSource, { name: 'PaymentEventSource', description: 'API call, signed gateway event, or Reckon itself (expiry, status checks).' });

@ObjectType({ implements: Node, description: 'A payment gateway of the tenant. Its credentials are never shown.' })
export class PaymentGateway extends Node {
  @Field()
  name!: string;

  @Field(() => GatewayKind)
  kind!: GatewayKind;

  @Field(() => [CurrencyScalar], { description: 'Payments in these currencies that name no gateway go through this one.' })
  currencies!: string[];

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  disabledAt!: Date | null;
}

@ObjectType({ description: 'What Reckon keeps of a card: the brand and the last four digits, never the number.' })
export class PaymentCard {
  @Field()
  brand!: string;

  @Field()
  last4!: string;
}

@ObjectType({ description: 'A gateway call whose outcome is not known yet; Reckon checks with the gateway and settles it.' })
export class PendingGatewayCall {
  @Field(() => PendingOperation)
  operation!: PendingOperation;

  @Field(() => Money, { nullable: true })
  amount!: Money | null;

  @Field()
  since!: Date;
}

@ObjectType({ implements: Node, description: 'A card payment: its state, its amounts, and what happened to it.' })
export class Payment extends Node {
  @Field(() => PaymentStatus)
  status!: PaymentStatus;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field(() => String, { nullable: true })
  customerId!: string | null;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => String, { nullable: true, description: 'The caller’s own reference, unique per tenant.' })
  externalRef!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata!: Record<string, unknown> | null;

  @Field(() => String, { nullable: true, description: 'The gateway’s id of the authorization.' })
  gatewayPaymentId!: string | null;

  @Field(() => DeclineCode, { nullable: true, description: 'Why the gateway declined, for FAILED payments.' })
  failureCode!: DeclineCode | null;

  @Field(() => String, { nullable: true })
  failureMessage!: string | null;

  @Field({ description: 'When an uncaptured authorization expires and its hold is released.' })
  expiresAt!: Date;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

@ObjectType({ implements: Node })
export class Refund extends Node {
  @Field(() => RefundStatus)
  status!: RefundStatus;

  @Field(() => String, { nullable: true })
  reason!: string | null;

  @Field(() => String, { nullable: true })
  gatewayRefundId!: string | null;

  @Field(() => DeclineCode, { nullable: true, description: 'Why the gateway refused, for FAILED refunds.' })
  failureCode!: DeclineCode | null;

  @Field()
  createdAt!: Date;
}

@ObjectType({ implements: Node })
export class Dispute extends Node {
  @Field(() => DisputeStatus)
  status!: DisputeStatus;

  @Field()
  reason!: string;

  @Field(() => String, { nullable: true })
  evidence!: string | null;

  @Field(() => String, { nullable: true })
  gatewayDisputeId!: string | null;

  @Field(() => Date, { nullable: true })
  evidenceSubmittedAt!: Date | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  closedAt!: Date | null;
}

@ObjectType({ implements: Node, description: 'One step of a payment’s timeline.' })
export class PaymentEvent extends Node {
  @Field(() => PaymentEventType)
  type!: PaymentEventType;

  @Field(() => PaymentEventSource)
  source!: PaymentEventSource;

  @Field(() => String, { nullable: true })
  detail!: string | null;

  @Field()
  createdAt!: Date;
}

@ObjectType({ implements: Node, description: 'Money the gateway paid out to the bank: gateway clearing → cash at bank.' })
export class Payout extends Node {
  @Field(() => Money)
  amount!: Money;

  @Field(() => String, { nullable: true })
  externalRef!: string | null;

  @Field()
  arrivedAt!: Date;

  @Field()
  createdAt!: Date;
}

export const PaymentConnection = ConnectionType(Payment, 'Payment', { totalCount: 'the payments the filter lists' });
export const PaymentGatewayConnection = ConnectionType(PaymentGateway, 'PaymentGateway', { totalCount: 'the tenant’s gateways, disabled ones included' });
export const RefundConnection = ConnectionType(Refund, 'Refund', { totalCount: 'the payment’s refunds' });
export const DisputeConnection = ConnectionType(Dispute, 'Dispute', { totalCount: 'the payment’s disputes' });
export const PaymentEventConnection = ConnectionType(PaymentEvent, 'PaymentEvent', { totalCount: 'the events of the payment’s timeline' });

@ObjectType()
export class PaymentPayload {
  @Field(() => Payment)
  payment!: unknown;
}

@ObjectType()
export class RefundPaymentPayload {
  @Field(() => Payment)
  payment!: unknown;

  @Field(() => Refund)
  refund!: unknown;
}

@ObjectType()
export class DisputePayload {
  @Field(() => Payment)
  payment!: unknown;

  @Field(() => Dispute)
  dispute!: unknown;
}

@ObjectType()
export class CreateGatewayPayload {
  @Field(() => PaymentGateway)
  gateway!: unknown;

  @Field({ description: 'Signs this gateway’s inbound events (POST /webhooks/gateways/:id). Shown once; store it now.' })
  webhookSecret!: string;
}

@ObjectType()
export class RecordPayoutPayload {
  @Field(() => Payout)
  payout!: unknown;
}
