import type { GraphQLResolveInfo } from 'graphql';
import {
  Arg,
  Args,
  Ctx,
  FieldResolver,
  ID,
  Info,
  Mutation,
  Query,
  Resolver,
  Root,
  type SubscribeResolverData,
  Subscription,
} from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { Money, PageArgs, toConnection, toMoney } from '../../graphql/common.objects';
import { DecimalScalar } from '../../graphql/scalars';
import { allowsScope, insufficientScopeError, Scope } from '../auth/scopes';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { oneTimeSecretNotReplayable } from '../idempotency/one-time-secret';
import { JournalEntry } from '../ledger/ledger.objects';
import type { JournalEntryRecord } from '../ledger/ledger-writer';
import { refundableMinorOf } from './payment-state';
import { PaymentErrors } from './payments.errors';
import { subscribeToPayments } from './payments.events';
import {
  AuthorizePaymentInput,
  CreateGatewayInput,
  DisputeStatus,
  OpenDisputeInput,
  PaymentFilterInput,
  RecordPayoutInput,
  RefundPaymentInput,
} from './payments.inputs';
import { PaymentLoaders } from './payments.loaders';
import {
  CreateGatewayPayload,
  Dispute,
  DisputePayload,
  Payment,
  PaymentCard,
  PaymentConnection,
  PaymentEvent,
  PaymentGateway,
  PaymentGatewayConnection,
  PaymentPayload,
  Payout,
  PendingGatewayCall,
  RecordPayoutPayload,
  Refund,
  RefundPaymentPayload,
} from './payments.objects';
import type { DisputeRecord, PaymentEventRecord, PaymentGatewayRecord, PaymentRecord, PayoutRecord, RefundRecord } from './payments.types';


/** What a payments mutation recorded with its idempotency claim: enough to rebuild its payload. */
interface PaymentResultRef {
  paymentId?: string;
  refundId?: string;
  disputeId?: string;
  gatewayId?: string;
  payoutId?: string;
}

function prime(ctx: RequestContext, payment: PaymentRecord): PaymentRecord {
  ctx.loaders.payments.primePayment(payment);
  return payment;
}

async function loadPayment(ctx: RequestContext, id: string): Promise<PaymentRecord> {
  const payment = await ctx.loaders.payments.paymentById.load(id);
  if (!payment) throw PaymentErrors.paymentNotFound(id);
  return payment;
}

@Resolver(() => Payment)
export class PaymentResolver {
  @Query(() => Payment, { nullable: true, description: 'One payment of the caller’s tenant; NOT_FOUND otherwise.' })
  payment(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<PaymentRecord> {
    return loadPayment(ctx, id);
  }

  @Query(() => PaymentConnection, { nullable: true, description: 'Payments, newest first.' })
  async payments(
    @Args() page: PageArgs,
    @Arg('filter', () => PaymentFilterInput, { nullable: true }) filter: PaymentFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    const result = await ctx.services.payments.listPayments(ctx.principal.tenantId, filter ?? {}, page);
    for (const payment of result.items) ctx.loaders.payments.paymentById.prime(payment.id, payment);
    return toConnection(result, (p) => p.id, (p) => p);
  }

  @Mutation(() => PaymentPayload, { nullable: true,
    description:
      'Authorizes a card payment through a gateway (a hold: a PENDING journal entry), and captures it at once with capture: true. A decline is GATEWAY_DECLINED (the FAILED payment is kept); an unknown outcome is GATEWAY_UNAVAILABLE: retry with the same idempotency key.',
  })
  authorizePayment(
    @Arg('input') input: AuthorizePaymentInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ payment: prime(ctx, await ctx.services.payments.authorize(ctx.principal.tenantId, input, handle ?? undefined)) }),
      rebuild: async (ref) => ({ payment: await loadPayment(ctx, (ref as PaymentResultRef).paymentId as string) }),
    });
  }

  @Mutation(() => PaymentPayload, { nullable: true, description: 'Captures an AUTHORIZED payment, in full or for less (the rest of the hold is released). Once.' })
  capturePayment(
    @Arg('paymentId', () => ID) paymentId: string,
    @Arg('amount', () => DecimalScalar, { nullable: true, description: 'Omitted: the authorized amount.' }) amount: string | null,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { paymentId, amount, idempotencyKey }, {
      execute: async (handle) => ({
        payment: prime(ctx, await ctx.services.payments.capture(ctx.principal.tenantId, paymentId, amount, handle ?? undefined)),
      }),
      rebuild: async (ref) => ({ payment: await loadPayment(ctx, (ref as PaymentResultRef).paymentId as string) }),
    });
  }

  @Mutation(() => PaymentPayload, { nullable: true, description: 'Releases an AUTHORIZED payment’s hold without charging.' })
  voidPayment(
    @Arg('paymentId', () => ID) paymentId: string,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { paymentId, idempotencyKey }, {
      execute: async (handle) => ({ payment: prime(ctx, await ctx.services.payments.void(ctx.principal.tenantId, paymentId, handle ?? undefined)) }),
      rebuild: async (ref) => ({ payment: await loadPayment(ctx, (ref as PaymentResultRef).paymentId as string) }),
    });
  }

  @Mutation(() => RefundPaymentPayload, { nullable: true,
    description: 'Refunds a CAPTURED payment in full or in part; repeatable up to what is still refundable (captured, less refunds and disputes).',
  })
  refundPayment(
    @Arg('paymentId', () => ID) paymentId: string,
    @Arg('input', () => RefundPaymentInput, { nullable: true }) input: RefundPaymentInput | null,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { paymentId, input, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.refund(ctx.principal.tenantId, paymentId, input ?? {}, handle ?? undefined);
        return { payment: prime(ctx, result.payment), refund: result.refund };
      },
      rebuild: async (ref) => {
        const { paymentId: id, refundId } = ref as PaymentResultRef;
        return { payment: await loadPayment(ctx, id as string), refund: await ctx.services.payments.refundById(ctx.principal.tenantId, refundId as string) };
      },
    });
  }

  @Mutation(() => DisputePayload, { nullable: true, description: 'Records a dispute (chargeback) on a CAPTURED payment: the disputed funds and any fee leave gateway clearing.' })
  openDispute(
    @Arg('paymentId', () => ID) paymentId: string,
    @Arg('input') input: OpenDisputeInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { paymentId, input, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.openDispute(ctx.principal.tenantId, paymentId, input, handle ?? undefined);
        return { payment: prime(ctx, result.payment), dispute: result.dispute };
      },
      rebuild: (ref) => this.rebuildDispute(ctx, ref as PaymentResultRef),
    });
  }

  @Mutation(() => DisputePayload, { nullable: true, description: 'Attaches evidence to an open dispute; it is then UNDER_REVIEW.' })
  submitDisputeEvidence(
    @Arg('disputeId', () => ID) disputeId: string,
    @Arg('evidence') evidence: string,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { disputeId, evidence, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.submitDisputeEvidence(ctx.principal.tenantId, disputeId, evidence, handle ?? undefined);
        return { payment: prime(ctx, result.payment), dispute: result.dispute };
      },
      rebuild: (ref) => this.rebuildDispute(ctx, ref as PaymentResultRef),
    });
  }

  @Mutation(() => DisputePayload, { nullable: true, description: 'Closes a dispute: WON returns the funds to gateway clearing, LOST books them as a chargeback loss.' })
  closeDispute(
    @Arg('disputeId', () => ID) disputeId: string,
    @Arg('outcome', () => DisputeStatus, { description: 'WON or LOST.' }) outcome: DisputeStatus,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { disputeId, outcome, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.closeDispute(ctx.principal.tenantId, disputeId, outcome, handle ?? undefined);
        return { payment: prime(ctx, result.payment), dispute: result.dispute };
      },
      rebuild: (ref) => this.rebuildDispute(ctx, ref as PaymentResultRef),
    });
  }

  private async rebuildDispute(ctx: RequestContext, ref: PaymentResultRef) {
    return {
      payment: await loadPayment(ctx, ref.paymentId as string),
      dispute: await ctx.services.payments.getDispute(ctx.principal.tenantId, ref.disputeId as string),
    };
  }

  @FieldResolver(() => PaymentGateway)
  async gateway(@Root() payment: PaymentRecord, @Ctx() ctx: RequestContext): Promise<PaymentGatewayRecord> {
    const gateway = await ctx.loaders.payments.gatewayById.load(payment.gatewayId);
    if (!gateway) throw PaymentErrors.gatewayNotFound(payment.gatewayId);
    return gateway;
  }

  @FieldResolver(() => PaymentCard, { nullable: true })
  card(@Root() payment: PaymentRecord): PaymentCard | null {
    return payment.cardBrand && payment.cardLast4 ? { brand: payment.cardBrand, last4: payment.cardLast4 } : null;
  }

  @FieldResolver(() => Money, { description: 'The amount authorized (held).' })
  amount(@Root() payment: PaymentRecord): Money {
    return toMoney(payment.authorizedMinor, payment.currency);
  }

  @FieldResolver(() => Money)
  capturedAmount(@Root() payment: PaymentRecord): Money {
    return toMoney(payment.capturedMinor, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'Refunds that succeeded.' })
  refundedAmount(@Root() payment: PaymentRecord): Money {
    return toMoney(payment.refundedMinor, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'Held by open disputes.' })
  disputedAmount(@Root() payment: PaymentRecord): Money {
    return toMoney(payment.disputedMinor, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'Lost to disputes closed as LOST.' })
  disputeLostAmount(@Root() payment: PaymentRecord): Money {
    return toMoney(payment.disputeLostMinor, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'Captured, less refunds done or under way, less what disputes hold or took.' })
  refundableAmount(@Root() payment: PaymentRecord): Money {
    return toMoney(payment.status === 'CAPTURED' ? refundableMinorOf(payment) : 0n, payment.currency);
  }

  @FieldResolver(() => Money, { description: 'Gateway processing and dispute fees booked for this payment.' })
  feeAmount(@Root() payment: PaymentRecord): Money {
    return toMoney(payment.feeMinor, payment.currency);
  }

  @FieldResolver(() => PendingGatewayCall, { nullable: true, description: 'A gateway call whose outcome is not known yet.' })
  pendingGatewayCall(@Root() payment: PaymentRecord) {
    if (!payment.pendingOperation || !payment.pendingSince) return null;
    return {
      operation: payment.pendingOperation,
      amount: payment.pendingAmountMinor === null ? null : toMoney(payment.pendingAmountMinor, payment.currency),
      since: payment.pendingSince,
    };
  }

  @FieldResolver(() => [Refund])
  refunds(@Root() payment: PaymentRecord, @Ctx() ctx: RequestContext): Promise<RefundRecord[]> {
    return ctx.loaders.payments.refundsByPaymentId.load(payment.id);
  }

  @FieldResolver(() => [Dispute])
  disputes(@Root() payment: PaymentRecord, @Ctx() ctx: RequestContext): Promise<DisputeRecord[]> {
    return ctx.loaders.payments.disputesByPaymentId.load(payment.id);
  }

  @FieldResolver(() => [PaymentEvent], { description: 'The timeline, oldest first.' })
  events(@Root() payment: PaymentRecord, @Ctx() ctx: RequestContext): Promise<PaymentEventRecord[]> {
    return ctx.loaders.payments.eventsByPaymentId.load(payment.id);
  }

  @FieldResolver(() => [JournalEntry], { description: 'The journal entries the payment’s events posted, in order.' })
  async journalEntries(@Root() payment: PaymentRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord[]> {
    const events = await ctx.loaders.payments.eventsByPaymentId.load(payment.id);
    const ids = [...new Set(events.flatMap((event) => event.journalEntryIds))];
    const entries = await ctx.loaders.ledger.journalEntryById.loadMany(ids);
    return entries.filter((entry): entry is JournalEntryRecord => entry !== null && !(entry instanceof Error));
  }
}

@Resolver(() => Refund)
export class RefundResolver {
  @FieldResolver(() => Money)
  async amount(@Root() refund: RefundRecord, @Ctx() ctx: RequestContext): Promise<Money> {
    const payment = await loadPayment(ctx, refund.paymentId);
    return toMoney(refund.amountMinor, payment.currency);
  }

  @FieldResolver(() => Payment)
  payment(@Root() refund: RefundRecord, @Ctx() ctx: RequestContext): Promise<PaymentRecord> {
    return loadPayment(ctx, refund.paymentId);
  }

  @FieldResolver(() => JournalEntry, { nullable: true })
  journalEntry(@Root() refund: RefundRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> | null {
    return refund.journalEntryId ? ctx.loaders.ledger.journalEntryById.load(refund.journalEntryId) : null;
  }
}

@Resolver(() => Dispute)
export class DisputeResolver {
  @FieldResolver(() => Money)
  async amount(@Root() dispute: DisputeRecord, @Ctx() ctx: RequestContext): Promise<Money> {
    const payment = await loadPayment(ctx, dispute.paymentId);
    return toMoney(dispute.amountMinor, payment.currency);
  }

  @FieldResolver(() => Money)
  async fee(@Root() dispute: DisputeRecord, @Ctx() ctx: RequestContext): Promise<Money> {
    const payment = await loadPayment(ctx, dispute.paymentId);
    return toMoney(dispute.feeMinor, payment.currency);
  }

  @FieldResolver(() => Payment)
  payment(@Root() dispute: DisputeRecord, @Ctx() ctx: RequestContext): Promise<PaymentRecord> {
    return loadPayment(ctx, dispute.paymentId);
  }
}

@Resolver(() => PaymentEvent)
export class PaymentEventResolver {
  @FieldResolver(() => Money, { nullable: true })
  async amount(@Root() event: PaymentEventRecord, @Ctx() ctx: RequestContext): Promise<Money | null> {
    if (event.amountMinor === null) return null;
    const payment = await loadPayment(ctx, event.paymentId);
    return toMoney(event.amountMinor, payment.currency);
  }

  @FieldResolver(() => [JournalEntry])
  async journalEntries(@Root() event: PaymentEventRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord[]> {
    const entries = await ctx.loaders.ledger.journalEntryById.loadMany(event.journalEntryIds);
    return entries.filter((entry): entry is JournalEntryRecord => entry !== null && !(entry instanceof Error));
  }

  @FieldResolver(() => ID, { nullable: true })
  refundId(@Root() event: PaymentEventRecord): string | null {
    return event.refundId;
  }

  @FieldResolver(() => ID, { nullable: true })
  disputeId(@Root() event: PaymentEventRecord): string | null {
    return event.disputeId;
  }
}

@Resolver(() => PaymentGateway)
export class PaymentGatewayResolver {
  @Query(() => PaymentGatewayConnection, { nullable: true, description: 'The tenant’s payment gateways in creation order.' })
  async paymentGateways(@Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const result = await ctx.services.payments.gateways.listGateways(ctx.principal.tenantId, page);
    return toConnection(result, (g) => g.id, (g) => g);
  }

  @Mutation(() => CreateGatewayPayload, { nullable: true, description: 'Adds a payment gateway; its credentials are stored encrypted and never shown again. Needs admin.' })
  createGateway(
    @Arg('input') input: CreateGatewayInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: (handle) => ctx.services.payments.gateways.createGateway(ctx.principal.tenantId, input, handle ?? undefined),
      // The webhook secret is shown once: a replay gives it back only from the stored (encrypted) response.
      rebuild: (ref) => {
        throw oneTimeSecretNotReplayable('payment gateway', (ref as PaymentResultRef).gatewayId as string, 'Create another gateway and use that one.');
      },
    });
  }

  @Mutation(() => RecordPayoutPayload, { nullable: true, description: 'Records money the gateway paid out to the bank: gateway clearing → cash at bank.' })
  recordPayout(
    @Arg('input') input: RecordPayoutInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ payout: await ctx.services.payments.recordPayout(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: async (ref) => ({ payout: await ctx.services.payments.payoutById(ctx.principal.tenantId, (ref as PaymentResultRef).payoutId as string) }),
    });
  }
}

@Resolver(() => Payout)
export class PayoutResolver {
  @FieldResolver(() => Money)
  amount(@Root() payout: PayoutRecord): Money {
    return toMoney(payout.amountMinor, payout.currency);
  }

  @FieldResolver(() => JournalEntry)
  async journalEntry(@Root() payout: PayoutRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return ctx.loaders.ledger.journalEntryById.load(payout.journalEntryId);
  }
}

/**
 * Shield guards each event's resolve but not the subscribe step, so the subscribe function checks the
 * scope itself. The stream is the caller's own tenant's; a paymentId of another tenant simply never
 * matches.
 */
async function subscribeToOwnPayments({ context, args }: SubscribeResolverData<unknown, { paymentId?: string | null }, RequestContext>) {
  if (!allowsScope(context.principal.scopes, Scope.PAYMENTS_READ)) throw insufficientScopeError(Scope.PAYMENTS_READ);
  return subscribeToPayments(context.services.pubSub, context.principal.tenantId, args.paymentId ?? null);
}

@Resolver()
export class PaymentSubscriptionResolver {
  @Subscription(() => Payment, {
    description:
      'Each change of a payment of the caller’s tenant once it has committed (authorized, captured, refunded, disputed, expired…), optionally of one payment. Needs payments:read.',
    subscribe: subscribeToOwnPayments,
  })
  paymentUpdated(
    @Root() payment: PaymentRecord,
    @Arg('paymentId', () => ID, { nullable: true }) _paymentId: string | null,
    @Ctx() ctx: RequestContext,
  ): PaymentRecord {
    // One context serves every event of the subscription: fresh loaders read each event's nested
    // fields as they are now.
    ctx.loaders.payments = new PaymentLoaders(ctx.services.payments, ctx.services.payments.gateways, ctx.principal.tenantId);
    ctx.loaders.payments.paymentById.prime(payment.id, payment);
    return payment;
  }
}

export const PAYMENT_RESOLVERS = [
  PaymentResolver,
  RefundResolver,
  DisputeResolver,
  PaymentEventResolver,
  PaymentGatewayResolver,
  PayoutResolver,
  PaymentSubscriptionResolver,
] as const;
