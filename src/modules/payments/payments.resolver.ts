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
import { readPageRequest } from '../../common/pagination';
import { idKindOf, type IdKind } from '../../common/ids';
import { listPageSizes, Money, PageArgs, toConnection, toMoney } from '../../graphql/common.objects';
import { DecimalScalar } from '../../graphql/scalars';
import { DeprecatedArg, inputOfEitherForm } from '../../graphql/deprecated-arguments';
import { allowsScope, insufficientScopeError, Scope } from '../auth/scopes';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { oneTimeSecretNotReplayable } from '../idempotency/one-time-secret';
import { journalEntryPageOf } from '../ledger/journal-entry-pages';
import { JournalEntry, JournalEntryConnection } from '../ledger/ledger.objects';
import type { JournalEntryRecord } from '../ledger/ledger-writer';
import { DisputeOutcome, refundableMinorOf } from './payment-state';
import { PaymentErrors } from './payments.errors';
import { subscribeToPayments } from './payments.events';
import {
  AuthorizePaymentInput,
  CapturePaymentInput,
  CloseDisputeInput,
  CreateGatewayInput,
  DisputeStatus,
  OpenDisputeInput,
  PaymentFilterInput,
  RecordPayoutInput,
  RefundPaymentInput,
  SubmitDisputeEvidenceInput,
  VoidPaymentInput,
} from './payments.inputs';
import { PaymentLoaders } from './payments.loaders';
import {
  CreateGatewayPayload,
  Dispute,
  DisputeConnection,
  DisputePayload,
  Payment,
  PaymentCard,
  PaymentConnection,
  PaymentEvent,
  PaymentEventConnection,
  PaymentGateway,
  PaymentGatewayConnection,
  PaymentPayload,
  Payout,
  PendingGatewayCall,
  RecordPayoutPayload,
  Refund,
  RefundConnection,
  RefundPaymentPayload,
} from './payments.objects';
import type { DisputeRecord, PaymentEventRecord, PaymentGatewayRecord, PaymentRecord, PayoutRecord, RefundRecord } from './payments.types';


/** A payment's lists are short: a small page by default, which the query cost limit counts the same. */
const PAYMENT_LIST_SIZES = { defaultSize: 20, maxSize: 100 };
const PAYMENT_LIST_PAGE_SIZES = {
  refunds: listPageSizes('Payment.refunds', PAYMENT_LIST_SIZES),
  disputes: listPageSizes('Payment.disputes', PAYMENT_LIST_SIZES),
  events: listPageSizes('Payment.events', PAYMENT_LIST_SIZES),
  journalEntries: listPageSizes('Payment.journalEntries', PAYMENT_LIST_SIZES),
};
const isKeyOf = (kind: IdKind) => (key: string) => idKindOf(key) === kind;

/**
 * The new form of each payments mutation that took loose arguments before: named in their
 * deprecations and in the refusal of a call that gives both forms or neither.
 */
const NEW_FORMS = {
  capturePayment: 'capturePayment(input: { paymentId, amount }, idempotencyKey)',
  voidPayment: 'voidPayment(input: { paymentId }, idempotencyKey)',
  refundPayment: 'refundPayment(input: { paymentId, amount, reason }, idempotencyKey)',
  openDispute: 'openDispute(input: { paymentId, amount, reason, fee }, idempotencyKey)',
  submitDisputeEvidence: 'submitDisputeEvidence(input: { disputeId, evidence }, idempotencyKey)',
  closeDispute: 'closeDispute(input: { disputeId, outcome }, idempotencyKey)',
} as const;

const NEEDED_WHILE_DEPRECATED = 'Required. (Nullable only while this mutation’s deprecated arguments exist.)';

/**
 * refundPayment and openDispute took `paymentId` beside an input that now carries it: the input is the
 * new form when it names the payment, and the old form's when the deprecated argument does.
 */
function inputNamingPayment<TInput extends { paymentId?: string | null }>(
  field: 'refundPayment' | 'openDispute',
  input: TInput | null,
  paymentId: string | null,
): TInput & { paymentId: string } {
  return inputOfEitherForm<TInput & { paymentId: string }>({
    field,
    newForm: NEW_FORMS[field],
    input: input?.paymentId === null || input?.paymentId === undefined ? null : (input as TInput & { paymentId: string }),
    deprecated: { paymentId },
    required: ['paymentId'],
    fromDeprecated: () => ({ ...(input ?? ({} as TInput)), paymentId: paymentId as string }),
  });
}

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
    const { tenantId } = ctx.principal;
    const result = await ctx.services.payments.listPayments(tenantId, filter ?? {}, page);
    for (const payment of result.items) ctx.loaders.payments.paymentById.prime(payment.id, payment);
    return toConnection(result, (p) => p.id, (p) => p, () => ctx.services.payments.countPayments(tenantId, filter ?? {}));
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
    @Arg('input', () => CapturePaymentInput, { nullable: true, description: NEEDED_WHILE_DEPRECATED }) input: CapturePaymentInput | null,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @DeprecatedArg('paymentId', () => ID, NEW_FORMS.capturePayment) paymentId: string | null,
    @DeprecatedArg('amount', () => DecimalScalar, NEW_FORMS.capturePayment) amount: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const request = inputOfEitherForm<CapturePaymentInput>({
      field: 'capturePayment',
      newForm: NEW_FORMS.capturePayment,
      input,
      deprecated: { paymentId, amount },
      required: ['paymentId'],
      fromDeprecated: () => ({ paymentId: paymentId as string, amount }),
    });
    return ctx.idempotency.run(info, { input: request, idempotencyKey }, {
      execute: async (handle) => ({
        payment: prime(ctx, await ctx.services.payments.capture(ctx.principal.tenantId, request.paymentId, request.amount ?? null, handle ?? undefined)),
      }),
      rebuild: async (ref) => ({ payment: await loadPayment(ctx, (ref as PaymentResultRef).paymentId as string) }),
    });
  }

  @Mutation(() => PaymentPayload, { nullable: true, description: 'Releases an AUTHORIZED payment’s hold without charging.' })
  voidPayment(
    @Arg('input', () => VoidPaymentInput, { nullable: true, description: NEEDED_WHILE_DEPRECATED }) input: VoidPaymentInput | null,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @DeprecatedArg('paymentId', () => ID, NEW_FORMS.voidPayment) paymentId: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const request = inputOfEitherForm<VoidPaymentInput>({
      field: 'voidPayment',
      newForm: NEW_FORMS.voidPayment,
      input,
      deprecated: { paymentId },
      required: ['paymentId'],
      fromDeprecated: () => ({ paymentId: paymentId as string }),
    });
    return ctx.idempotency.run(info, { input: request, idempotencyKey }, {
      execute: async (handle) => ({ payment: prime(ctx, await ctx.services.payments.void(ctx.principal.tenantId, request.paymentId, handle ?? undefined)) }),
      rebuild: async (ref) => ({ payment: await loadPayment(ctx, (ref as PaymentResultRef).paymentId as string) }),
    });
  }

  @Mutation(() => RefundPaymentPayload, { nullable: true,
    description: 'Refunds a CAPTURED payment in full or in part; repeatable up to what is still refundable (captured, less refunds and disputes).',
  })
  refundPayment(
    @Arg('input', () => RefundPaymentInput, { nullable: true, description: NEEDED_WHILE_DEPRECATED }) input: RefundPaymentInput | null,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @DeprecatedArg('paymentId', () => ID, NEW_FORMS.refundPayment) paymentId: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const request = inputNamingPayment('refundPayment', input, paymentId);
    return ctx.idempotency.run(info, { input: request, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.refund(ctx.principal.tenantId, request.paymentId, request, handle ?? undefined);
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
    @Arg('input') input: OpenDisputeInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @DeprecatedArg('paymentId', () => ID, NEW_FORMS.openDispute) paymentId: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const request = inputNamingPayment('openDispute', input, paymentId);
    return ctx.idempotency.run(info, { input: request, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.openDispute(ctx.principal.tenantId, request.paymentId, request, handle ?? undefined);
        return { payment: prime(ctx, result.payment), dispute: result.dispute };
      },
      rebuild: (ref) => this.rebuildDispute(ctx, ref as PaymentResultRef),
    });
  }

  @Mutation(() => DisputePayload, { nullable: true, description: 'Attaches evidence to an open dispute; it is then UNDER_REVIEW.' })
  submitDisputeEvidence(
    @Arg('input', () => SubmitDisputeEvidenceInput, { nullable: true, description: NEEDED_WHILE_DEPRECATED }) input: SubmitDisputeEvidenceInput | null,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @DeprecatedArg('disputeId', () => ID, NEW_FORMS.submitDisputeEvidence) disputeId: string | null,
    @DeprecatedArg('evidence', () => String, NEW_FORMS.submitDisputeEvidence) evidence: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const request = inputOfEitherForm<SubmitDisputeEvidenceInput>({
      field: 'submitDisputeEvidence',
      newForm: NEW_FORMS.submitDisputeEvidence,
      input,
      deprecated: { disputeId, evidence },
      required: ['disputeId', 'evidence'],
      fromDeprecated: () => ({ disputeId: disputeId as string, evidence: evidence as string }),
    });
    return ctx.idempotency.run(info, { input: request, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.submitDisputeEvidence(ctx.principal.tenantId, request.disputeId, request.evidence, handle ?? undefined);
        return { payment: prime(ctx, result.payment), dispute: result.dispute };
      },
      rebuild: (ref) => this.rebuildDispute(ctx, ref as PaymentResultRef),
    });
  }

  @Mutation(() => DisputePayload, { nullable: true, description: 'Closes a dispute: WON returns the funds to gateway clearing, LOST books them as a chargeback loss.' })
  closeDispute(
    @Arg('input', () => CloseDisputeInput, { nullable: true, description: NEEDED_WHILE_DEPRECATED }) input: CloseDisputeInput | null,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @DeprecatedArg('disputeId', () => ID, NEW_FORMS.closeDispute) disputeId: string | null,
    @DeprecatedArg('outcome', () => DisputeOutcome, NEW_FORMS.closeDispute) outcome: DisputeOutcome | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const request = inputOfEitherForm<CloseDisputeInput>({
      field: 'closeDispute',
      newForm: NEW_FORMS.closeDispute,
      input,
      deprecated: { disputeId, outcome },
      required: ['disputeId', 'outcome'],
      fromDeprecated: () => ({ disputeId: disputeId as string, outcome: outcome as DisputeOutcome }),
    });
    return ctx.idempotency.run(info, { input: request, idempotencyKey }, {
      execute: async (handle) => {
        const result = await ctx.services.payments.closeDispute(ctx.principal.tenantId, request.disputeId, DisputeStatus[request.outcome], handle ?? undefined);
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

  @FieldResolver(() => RefundConnection, { description: 'Oldest first; 20 per page by default, at most 100.' })
  async refunds(@Root() payment: PaymentRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const window = readPageRequest(page, PAYMENT_LIST_PAGE_SIZES.refunds, isKeyOf('refund'));
    const result = await ctx.loaders.payments.refundsPageByPaymentId(window).load(payment.id);
    return toConnection(result, (r) => r.id, (r) => r, () => ctx.loaders.payments.countByPaymentId('refunds').load(payment.id));
  }

  @FieldResolver(() => DisputeConnection, { description: 'Oldest first; 20 per page by default, at most 100.' })
  async disputes(@Root() payment: PaymentRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const window = readPageRequest(page, PAYMENT_LIST_PAGE_SIZES.disputes, isKeyOf('dispute'));
    const result = await ctx.loaders.payments.disputesPageByPaymentId(window).load(payment.id);
    return toConnection(result, (d) => d.id, (d) => d, () => ctx.loaders.payments.countByPaymentId('disputes').load(payment.id));
  }

  @FieldResolver(() => PaymentEventConnection, { description: 'The timeline, oldest first; 20 per page by default, at most 100.' })
  async events(@Root() payment: PaymentRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const window = readPageRequest(page, PAYMENT_LIST_PAGE_SIZES.events, isKeyOf('paymentEvent'));
    const result = await ctx.loaders.payments.eventsPageByPaymentId(window).load(payment.id);
    return toConnection(result, (e) => e.id, (e) => e, () => ctx.loaders.payments.countByPaymentId('payment_events').load(payment.id));
  }

  @FieldResolver(() => JournalEntryConnection, {
    description: 'The journal entries the payment’s events posted, oldest first; 20 per page by default, at most 100.',
  })
  async journalEntries(@Root() payment: PaymentRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const window = readPageRequest(page, PAYMENT_LIST_PAGE_SIZES.journalEntries, isKeyOf('journalEntry'));
    // A payment's entries are named by its events, which the whole timeline holds (a handful per payment).
    const events = await ctx.loaders.payments.eventsByPaymentId.load(payment.id);
    return journalEntryPageOf(ctx.loaders.ledger.journalEntryById, events.flatMap((event) => event.journalEntryIds), window);
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
    const { tenantId } = ctx.principal;
    const result = await ctx.services.payments.gateways.listGateways(tenantId, page);
    return toConnection(result, (g) => g.id, (g) => g, () => ctx.services.payments.gateways.countGateways(tenantId));
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
