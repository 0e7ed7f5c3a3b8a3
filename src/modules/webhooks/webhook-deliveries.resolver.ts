import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, Field, FieldResolver, ID, Info, InputType, Int, Mutation, ObjectType, Query, Resolver, Root, registerEnumType } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { ConnectionType, Node, PageArgs, toConnection } from '../../graphql/common.objects';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { WebhookDeliveryOutcome } from '../../common/metrics';
import { type WebhookDeliveryRecord, WebhookDeliveryStatus } from './webhook-deliveries.service';
import { WebhookEndpoint, WebhookEvent, toWebhookEndpoint } from './webhooks.resolver';

registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description: 'Where a delivery of one event to one endpoint stands.',
  valuesConfig: {
    PENDING: { description: 'Waiting for its first attempt or its next retry (nextAttemptAt).' },
    DELIVERED: { description: 'The endpoint answered 2xx.' },
    DEAD_LETTERED: { description: 'Failed past the retry budget (WEBHOOK_RETRY_BUDGET, 3 days by default), or its endpoint was disabled: redeliverWebhookEvent sends it again.' },
  },
});

registerEnumType(WebhookDeliveryOutcome, {
  name: 'WebhookDeliveryAttemptOutcome',
  description: 'What one attempt led to (the outcomes of reckon_webhook_deliveries_total).',
  valuesConfig: {
    DELIVERED: { description: 'The endpoint answered 2xx: the delivery is DELIVERED.' },
    RETRY_SCHEDULED: { description: 'It failed (non-2xx, timeout, connection error, refused address); another attempt is scheduled.' },
    DEAD_LETTERED: { description: 'It failed past the retry budget (or the endpoint was disabled): the delivery is DEAD_LETTERED.' },
  },
});

@ObjectType({ description: 'One POST of a delivery to its endpoint.' })
class WebhookDeliveryAttempt {
  @Field(() => Int, { description: '1 for the first attempt; redeliveries continue the count.' })
  attemptNumber!: number;

  @Field()
  startedAt!: Date;

  @Field(() => Int, { description: 'Milliseconds from the start of the attempt (DNS lookup included) to the end of the answer or the failure.' })
  latencyMs!: number;

  @Field(() => Int, { nullable: true, description: 'The HTTP status the endpoint answered; null when no answer came (timeout, connection refused, address refused).' })
  statusCode!: number | null;

  @Field(() => String, { nullable: true, description: 'Why the attempt failed; null when it succeeded.' })
  error!: string | null;

  @Field(() => WebhookDeliveryOutcome)
  outcome!: WebhookDeliveryOutcome;
}

@ObjectType({ implements: Node, description: 'One event sent (or to be sent) to one endpoint, with every attempt.' })
class WebhookDelivery extends Node {
  @Field(() => ID, { description: 'The event’s id: the `webhook-id` header and the payload’s `id`, the same for every endpoint and every attempt.' })
  eventId!: string;

  @Field(() => WebhookEvent, { description: 'The event’s type (the payload’s `type`).' })
  eventType!: string;

  @Field(() => WebhookDeliveryStatus)
  status!: WebhookDeliveryStatus;

  @Field(() => Int, { description: 'Attempts made so far, redeliveries included.' })
  attemptCount!: number;

  @Field(() => Date, { nullable: true, description: 'When the next attempt is due; null unless PENDING.' })
  nextAttemptAt!: Date | null;

  @Field({ description: 'Past this, a failed attempt dead-letters the delivery instead of scheduling another.' })
  retryUntil!: Date;

  @Field(() => Date, { nullable: true })
  deliveredAt!: Date | null;

  @Field(() => Date, { nullable: true })
  deadLetteredAt!: Date | null;

  @Field({ description: 'When the event was stored: its cause’s commit.' })
  createdAt!: Date;

  endpointId!: string;
}

const WebhookDeliveryConnection = ConnectionType(WebhookDelivery, 'WebhookDelivery');

@InputType({ description: 'Narrows webhookDeliveries; every field given must match.' })
class WebhookDeliveryFilter {
  @Field(() => ID, { nullable: true, description: 'Deliveries to this endpoint.' })
  endpointId?: string | null;

  @Field(() => WebhookDeliveryStatus, { nullable: true, description: 'Deliveries with this status.' })
  status?: WebhookDeliveryStatus | null;

  @Field(() => WebhookEvent, { nullable: true, description: 'One event type (not ALL).' })
  eventType?: string | null;
}

@InputType({ description: 'A delivery by its id, or an event and an endpoint (which gets a delivery of its own if it never had one).' })
class RedeliverWebhookEventInput {
  @Field(() => ID, { nullable: true, description: 'A DELIVERED or DEAD_LETTERED delivery. Not with eventId and endpointId.' })
  deliveryId?: string | null;

  @Field(() => ID, { nullable: true, description: 'With endpointId: the event to send to that endpoint.' })
  eventId?: string | null;

  @Field(() => ID, { nullable: true, description: 'With eventId: an enabled endpoint of the tenant.' })
  endpointId?: string | null;
}

@ObjectType()
class RedeliverWebhookEventPayload {
  @Field(() => WebhookDelivery, { description: 'The delivery, PENDING again with a fresh retry budget.' })
  webhookDelivery!: WebhookDelivery;
}

export function toWebhookDelivery(record: WebhookDeliveryRecord): WebhookDelivery {
  return {
    id: record.id,
    eventId: record.eventId,
    eventType: record.eventType,
    status: record.status,
    attemptCount: record.attemptCount,
    nextAttemptAt: record.nextAttemptAt,
    retryUntil: record.retryUntil,
    deliveredAt: record.deliveredAt,
    deadLetteredAt: record.deadLetteredAt,
    createdAt: record.createdAt,
    endpointId: record.endpointId,
  };
}

@Resolver(() => WebhookDelivery)
export class WebhookDeliveriesResolver {
  @Query(() => WebhookDeliveryConnection, { nullable: true, description: 'The tenant’s webhook deliveries, newest first, with their attempts.' })
  async webhookDeliveries(
    @Args() page: PageArgs,
    @Arg('filter', () => WebhookDeliveryFilter, { nullable: true }) filter: WebhookDeliveryFilter | null,
    @Ctx() ctx: RequestContext,
  ) {
    const result = await ctx.services.webhookDeliveries.listDeliveries(ctx.principal.tenantId, filter ?? {}, page);
    return toConnection(result, (delivery) => delivery.id, toWebhookDelivery);
  }

  @Mutation(() => RedeliverWebhookEventPayload, {
    nullable: true,
    description: 'Sends an event to an endpoint again, with a fresh retry budget: after a dead letter, or for a receiver that lost it. A PENDING delivery is refused (INVALID_STATE_TRANSITION): it is being retried.',
  })
  async redeliverWebhookEvent(
    @Arg('input') input: RedeliverWebhookEventInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<RedeliverWebhookEventPayload> => ({
        webhookDelivery: toWebhookDelivery(await ctx.services.webhookDeliveries.redeliver(ctx.principal.tenantId, input, handle ?? undefined)),
      }),
      rebuild: async (ref): Promise<RedeliverWebhookEventPayload> => ({
        webhookDelivery: toWebhookDelivery(
          await ctx.services.webhookDeliveries.getDelivery(ctx.principal.tenantId, (ref as { webhookDeliveryId: string }).webhookDeliveryId),
        ),
      }),
    });
  }

  @FieldResolver(() => WebhookEndpoint, { description: 'The endpoint it goes to (disabled ones included).' })
  async endpoint(@Root() delivery: WebhookDelivery, @Ctx() ctx: RequestContext) {
    const endpoint = await ctx.loaders.webhooks.webhookEndpointById.load(delivery.endpointId);
    if (!endpoint) throw new Error(`Webhook endpoint ${delivery.endpointId} of delivery ${delivery.id} is missing`);
    return toWebhookEndpoint(endpoint);
  }

  @FieldResolver(() => [WebhookDeliveryAttempt], { description: 'Every attempt, oldest first (the retry budget bounds them).' })
  attempts(@Root() delivery: WebhookDelivery, @Ctx() ctx: RequestContext) {
    return ctx.loaders.webhooks.attemptsByDeliveryId.load(delivery.id);
  }

  @FieldResolver(() => String, { description: 'The exact JSON body POSTed (the bytes the signature covers).' })
  async payload(@Root() delivery: WebhookDelivery, @Ctx() ctx: RequestContext) {
    const payload = await ctx.loaders.webhooks.payloadByEventId.load(delivery.eventId);
    if (payload === null) throw new Error(`Webhook event ${delivery.eventId} of delivery ${delivery.id} is missing`);
    return payload;
  }
}
