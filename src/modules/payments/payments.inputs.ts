import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, Int } from 'type-graphql';
import { CurrencyScalar, DecimalScalar } from '../../graphql/scalars';
import { GatewayKind } from './gateways/payment-gateway';
import { DisputeOutcome, DisputeStatus, PaymentStatus } from './payment-state';

@InputType({ description: 'Connection settings of an HTTP gateway; stored encrypted, never shown again.' })
export class HttpGatewayInput {
  @Field({ description: 'https:// (http:// to localhost outside production).' })
  baseUrl!: string;

  @Field({ description: 'Sent to the gateway as a bearer token.' })
  apiSecret!: string;

  @Field(() => Int, { nullable: true, description: 'Per attempt, 100 to 60000 ms; default 10000.' })
  timeoutMs?: number | null;
}

@InputType()
export class CreateGatewayInput {
  @Field()
  name!: string;

  @Field(() => GatewayKind)
  kind!: GatewayKind;

  @Field(() => [CurrencyScalar], { description: 'Payments in these currencies that name no gateway are routed here.' })
  currencies!: string[];

  @Field(() => HttpGatewayInput, { nullable: true })
  http?: HttpGatewayInput | null;
}

@InputType()
export class AuthorizePaymentInput {
  @Field(() => DecimalScalar, { description: 'Positive, with at most the currency’s decimals.' })
  amount!: string;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field({ description: 'The gateway’s token for the card. A card number is refused.' })
  paymentToken!: string;

  @Field(() => ID, { nullable: true, description: 'Omitted: the tenant’s oldest gateway that takes the currency.' })
  gatewayId?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Capture the full amount as soon as it is authorized.' })
  capture?: boolean | null;

  @Field(() => String, { nullable: true })
  customerId?: string | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => String, { nullable: true, description: 'Your own reference, unique per tenant for good.' })
  externalRef?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata?: Record<string, unknown> | null;
}

@InputType()
export class CapturePaymentInput {
  @Field(() => ID)
  paymentId!: string;

  @Field(() => DecimalScalar, { nullable: true, description: 'Omitted: the authorized amount.' })
  amount?: string | null;
}

@InputType()
export class VoidPaymentInput {
  @Field(() => ID)
  paymentId!: string;
}

/** Nullable only while the deprecated paymentId argument exists: one of the two must name the payment. */
const PAYMENT_ID_OF_SHARED_INPUT = 'Required. (Nullable only while the deprecated paymentId argument of this mutation exists.)';

@InputType()
export class RefundPaymentInput {
  @Field(() => ID, { nullable: true, description: PAYMENT_ID_OF_SHARED_INPUT })
  paymentId?: string | null;

  @Field(() => DecimalScalar, { nullable: true, description: 'Omitted: everything still refundable.' })
  amount?: string | null;

  @Field(() => String, { nullable: true })
  reason?: string | null;
}

@InputType()
export class OpenDisputeInput {
  @Field(() => ID, { nullable: true, description: PAYMENT_ID_OF_SHARED_INPUT })
  paymentId?: string | null;

  @Field(() => DecimalScalar, { nullable: true, description: 'Omitted: everything still disputable.' })
  amount?: string | null;

  @Field()
  reason!: string;

  @Field(() => DecimalScalar, { nullable: true, description: 'The gateway’s dispute fee, if it charged one.' })
  fee?: string | null;
}

@InputType()
export class SubmitDisputeEvidenceInput {
  @Field(() => ID)
  disputeId!: string;

  @Field()
  evidence!: string;
}

@InputType()
export class CloseDisputeInput {
  @Field(() => ID)
  disputeId!: string;

  @Field(() => DisputeOutcome)
  outcome!: DisputeOutcome;
}

@InputType()
export class RecordPayoutInput {
  @Field(() => ID)
  gatewayId!: string;

  @Field(() => DecimalScalar)
  amount!: string;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field(() => Date, { nullable: true, description: 'When the money reached the bank; default now.' })
  arrivedAt?: Date | null;

  @Field(() => String, { nullable: true, description: 'The gateway’s payout id, unique per tenant.' })
  externalRef?: string | null;
}

@InputType()
export class PaymentFilterInput {
  @Field(() => PaymentStatus, { nullable: true, description: 'Payments with this status.' })
  status?: PaymentStatus | null;

  @Field(() => String, { nullable: true, description: 'Payments of this customer.' })
  customerId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Payments through this gateway.' })
  gatewayId?: string | null;

  @Field(() => Date, { nullable: true, description: 'Created at or after.' })
  createdFrom?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Created before.' })
  createdTo?: Date | null;
}

export { DisputeStatus };
