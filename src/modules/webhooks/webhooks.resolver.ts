import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, Field, ID, Info, InputType, Mutation, ObjectType, Query, Resolver, registerEnumType } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { oneTimeSecretNotReplayable } from '../idempotency/one-time-secret';
import { ConnectionType, Node, PageArgs, toConnection } from '../../graphql/common.objects';
import { ALL_WEBHOOK_EVENTS, WEBHOOK_EVENT_DESCRIPTIONS, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhook-rules';
import type { WebhookEndpoint as WebhookEndpointRecord } from './webhooks.service';

/**
 * The event types as a schema enum. GraphQL names cannot hold "." or "*", so each is named in upper
 * case with "_" (JOURNAL_ENTRY_POSTED) and ALL stands for "*"; the values are the wire strings that
 * deliveries carry in `type` and that the service stores.
 */
export const WebhookEvent: Readonly<Record<string, string>> = Object.fromEntries([
  ['ALL', ALL_WEBHOOK_EVENTS],
  ...WEBHOOK_EVENT_TYPES.map((type) => [type.toUpperCase().replace(/\./g, '_'), type]),
]);

registerEnumType(WebhookEvent, {
  name: 'WebhookEvent',
  description: 'An event type a webhook endpoint receives; each value’s description gives the `type` its deliveries carry.',
  valuesConfig: Object.fromEntries(
    Object.entries(WebhookEvent).map(([name, type]) => [
      name,
      {
        description:
          type === ALL_WEBHOOK_EVENTS ? `"${type}": every event type, including ones added later.` : `"${type}": ${WEBHOOK_EVENT_DESCRIPTIONS[type as WebhookEventType]}`,
      },
    ]),
  ),
});

@ObjectType({ implements: Node, description: 'A URL that receives the tenant’s events, signed with a secret shown once at creation.' })
export class WebhookEndpoint extends Node {
  @Field({ description: 'Normalised (lower-case scheme and host, no default port). Stored encrypted.' })
  url!: string;

  @Field(() => [WebhookEvent], { description: 'Event types, or [ALL].' })
  events!: string[];

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'Set when disabled: no more deliveries. Endpoints are never deleted.' })
  disabledAt!: Date | null;
}

const WebhookEndpointConnection = ConnectionType(WebhookEndpoint, 'WebhookEndpoint', { totalCount: 'the tenant’s endpoints, disabled ones included' });

@InputType()
class CreateWebhookEndpointInput {
  @Field({
    description:
      'https:// (http:// only to localhost or 127.0.0.1 outside production); at most 2048 characters; unique per tenant. Its host may not be, or resolve to, a loopback, private, link-local (cloud metadata), unique-local, multicast or unspecified address (checked again at every delivery) unless the server allows private networks (development).',
  })
  url!: string;

  @Field(() => [WebhookEvent], { description: 'One or more event types, or ALL for every type, including ones added later.' })
  events!: string[];
}

@InputType()
class DisableWebhookEndpointInput {
  @Field(() => ID)
  id!: string;
}

@ObjectType()
class CreateWebhookEndpointPayload {
  @Field(() => WebhookEndpoint)
  webhookEndpoint!: WebhookEndpoint;

  @Field({ description: 'The whsec_… secret that signs deliveries to this endpoint. Shown only now; stored encrypted.' })
  signingSecret!: string;
}

@ObjectType()
class WebhookEndpointPayload {
  @Field(() => WebhookEndpoint)
  webhookEndpoint!: WebhookEndpoint;
}

export function toWebhookEndpoint(endpoint: WebhookEndpointRecord): WebhookEndpoint {
  return { id: endpoint.id, url: endpoint.url, events: endpoint.events, createdAt: endpoint.createdAt, disabledAt: endpoint.disabledAt };
}

@Resolver()
export class WebhooksResolver {
  @Query(() => WebhookEndpointConnection, { nullable: true, description: 'The tenant’s webhook endpoints, disabled ones included.' })
  async webhookEndpoints(@Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.webhooks.listEndpoints(tenantId, page);
    return toConnection(result, (endpoint) => endpoint.id, toWebhookEndpoint, () => ctx.services.webhooks.countEndpoints(tenantId));
  }

  /*
   * A replay answers from the stored (encrypted) response, signing secret included. When no response
   * was stored (the process died between the commit and storing it), `rebuild` does not bring the
   * secret back: it is kept encrypted for signing deliveries and is never shown to a client twice. It
   * refuses with ALREADY_EXISTS naming the endpoint that was created: disable it and create another.
   */
  @Mutation(() => CreateWebhookEndpointPayload, { nullable: true })
  async createWebhookEndpoint(
    @Arg('input') input: CreateWebhookEndpointInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<CreateWebhookEndpointPayload> => {
        const { endpoint, signingSecret } = await ctx.services.webhooks.createEndpoint(ctx.principal.tenantId, input, handle ?? undefined);
        return { webhookEndpoint: toWebhookEndpoint(endpoint), signingSecret };
      },
      rebuild: (ref) => {
        throw oneTimeSecretNotReplayable(
          'webhook endpoint',
          (ref as { webhookEndpointId: string }).webhookEndpointId,
          'Disable it (disableWebhookEndpoint) and create another.',
        );
      },
    });
  }

  @Mutation(() => WebhookEndpointPayload, { nullable: true, description: 'Stops deliveries to the endpoint. Endpoints are disabled, never deleted.' })
  async disableWebhookEndpoint(
    @Arg('input') input: DisableWebhookEndpointInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<WebhookEndpointPayload> => ({
        webhookEndpoint: toWebhookEndpoint(await ctx.services.webhooks.disableEndpoint(ctx.principal.tenantId, input.id, handle ?? undefined)),
      }),
      rebuild: async (ref): Promise<WebhookEndpointPayload> => ({
        webhookEndpoint: toWebhookEndpoint(
          await ctx.services.webhooks.getEndpoint(ctx.principal.tenantId, (ref as { webhookEndpointId: string }).webhookEndpointId),
        ),
      }),
    });
  }
}
