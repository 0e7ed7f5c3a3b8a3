import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, Field, ID, Info, InputType, Mutation, ObjectType, Query, Resolver, registerEnumType } from 'type-graphql';
import type { RequestContext } from '../../graphql/context';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { oneTimeSecretNotReplayable } from '../idempotency/one-time-secret';
import { ConnectionType, Node, PageArgs, toConnection } from '../../graphql/common.objects';
import type { ApiKeyEntity } from './api-key.entity';
import { CredentialKind } from './auth.service';
import { ALL_SCOPES, Scope } from './scopes';
import type { OAuthClientEntity } from './oauth-client.entity';

registerEnumType(CredentialKind, { name: 'CredentialKind' });

const SCOPE_MEANINGS: Record<Scope, string> = {
  [Scope.LEDGER_READ]: 'Read accounts, journal entries, balances and reports.',
  [Scope.LEDGER_WRITE]: 'Create accounts and post, reverse, post or void journal entries; implies ledger:read.',
  [Scope.PAYMENTS_READ]: 'Read payments, gateways, refunds, disputes and payouts.',
  [Scope.PAYMENTS_WRITE]: 'Authorize, capture, void and refund payments, handle disputes, record payouts; implies payments:read.',
  [Scope.INVOICES_READ]: 'Read customers and invoices.',
  [Scope.INVOICES_WRITE]: 'Create and change customers and invoices; implies invoices:read.',
  [Scope.RECONCILIATION_READ]: 'Read bank accounts, statements and reconciliation flags.',
  [Scope.RECONCILIATION_WRITE]: 'Import statements, match lines, resolve flags; implies reconciliation:read.',
  [Scope.AUDIT_READ]: 'Read the audit trail and verify its chain.',
  [Scope.ADMIN]: 'Everything, including API keys, OAuth clients, gateways and webhook endpoints.',
};

/*
 * GraphQL enum names cannot hold ":", so the schema names each scope in upper case (LEDGER_READ) and
 * the enum maps it to the wire string ("ledger:read") that tokens, keys and POST /oauth/token use.
 */
registerEnumType(Scope, {
  name: 'Scope',
  description: 'What a credential may do. Each value’s wire form (OAuth `scope`, token claims) is given in its description.',
  valuesConfig: Object.fromEntries(
    (Object.keys(Scope) as (keyof typeof Scope)[]).map((name) => [name, { description: `"${Scope[name]}": ${SCOPE_MEANINGS[Scope[name]]}` }]),
  ),
});

@ObjectType({ implements: Node, description: 'The tenant a credential belongs to. node(id:) finds only the caller’s own.' })
export class Tenant extends Node {
  @Field()
  name!: string;
}

@ObjectType({ description: 'Who the caller is and what it may do.' })
export class Viewer {
  @Field(() => Tenant)
  tenant!: Tenant;

  @Field(() => ID, { description: 'The API key id, OAuth client id, or external token subject.' })
  credentialId!: string;

  @Field(() => CredentialKind)
  credentialKind!: CredentialKind;

  @Field(() => [Scope], { description: 'Granted scopes Reckon knows; an external token’s other scopes are left out.' })
  scopes!: Scope[];

  @Field(() => Date, { nullable: true, description: 'When this credential stops working, if ever.' })
  expiresAt!: Date | null;
}

@ObjectType({ implements: Node, description: 'An API key. Its secret is shown once, at creation or roll; only a hash is stored.' })
export class ApiKey extends Node {
  @Field()
  name!: string;

  @Field({ description: 'The visible start of the key, e.g. rk_AbC123xyZ789.' })
  prefix!: string;

  @Field(() => [Scope])
  scopes!: Scope[];

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  expiresAt!: Date | null;

  @Field(() => Date, { nullable: true })
  revokedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'To the minute.' })
  lastUsedAt!: Date | null;
}

@ObjectType({ implements: Node, description: 'A client for POST /oauth/token; its id is the client_id.' })
export class OAuthClient extends Node {
  @Field()
  name!: string;

  @Field(() => [Scope], { description: 'What its tokens may do; a token request may ask for fewer (space-separated wire strings in `scope`).' })
  scopes!: Scope[];

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  revokedAt!: Date | null;
}

const ApiKeyConnection = ConnectionType(ApiKey, 'ApiKey', { totalCount: 'the tenant’s API keys, revoked and expired ones included' });

@InputType()
class CreateApiKeyInput {
  @Field()
  name!: string;

  @Field(() => [Scope], { nullable: true, description: 'Default [ADMIN]. A restricted key lists fewer.' })
  scopes?: Scope[] | null;

  @Field(() => Date, { nullable: true })
  expiresAt?: Date | null;
}

@InputType()
class RevokeApiKeyInput {
  @Field(() => ID)
  id!: string;
}

@InputType()
class RollApiKeyInput {
  @Field(() => ID)
  id!: string;

  @Field(() => Date, { nullable: true, description: 'Until when the old key keeps working: default 24 hours, at most 30 days.' })
  oldKeyExpiresAt?: Date | null;
}

@InputType()
class CreateOAuthClientInput {
  @Field()
  name!: string;

  @Field(() => [Scope])
  scopes!: Scope[];
}

@InputType()
class RevokeOAuthClientInput {
  @Field(() => ID)
  id!: string;
}

@ObjectType()
class CreateApiKeyPayload {
  @Field(() => ApiKey)
  apiKey!: ApiKey;

  @Field({ description: 'The whole key. Shown only now.' })
  secret!: string;
}

@ObjectType()
class ApiKeyPayload {
  @Field(() => ApiKey)
  apiKey!: ApiKey;
}

@ObjectType()
class RollApiKeyPayload {
  @Field(() => ApiKey, { description: 'The new key.' })
  apiKey!: ApiKey;

  @Field({ description: 'The new key in full. Shown only now.' })
  secret!: string;

  @Field(() => ApiKey, { description: 'The old key, now expiring at oldKeyExpiresAt.' })
  previous!: ApiKey;
}

@ObjectType()
class CreateOAuthClientPayload {
  @Field(() => OAuthClient)
  client!: OAuthClient;

  @Field({ description: 'The client secret. Shown only now.' })
  clientSecret!: string;
}

@ObjectType()
class OAuthClientPayload {
  @Field(() => OAuthClient)
  client!: OAuthClient;
}

/** Stored scopes are the space-separated wire strings, which are the Scope enum's values. */
export function toApiKey(key: ApiKeyEntity): ApiKey {
  return { ...key, scopes: key.scopes.split(' ').filter(Boolean) as Scope[] };
}

export function toOAuthClient(client: OAuthClientEntity): OAuthClient {
  return { ...client, scopes: client.scopes.split(' ').filter(Boolean) as Scope[] };
}

@Resolver()
export class AuthResolver {
  @Query(() => Viewer, { nullable: true })
  async me(@Ctx() ctx: RequestContext): Promise<Viewer> {
    const tenant = await ctx.services.tenancy.getTenant(ctx.principal.tenantId);
    if (!tenant) throw new Error('Authenticated tenant has no row');
    return {
      tenant: { id: tenant.id, name: tenant.name },
      credentialId: ctx.principal.credentialId,
      credentialKind: ctx.principal.credentialKind,
      // An external issuer's token may carry scopes of other systems (openid, …): they grant nothing here.
      scopes: ALL_SCOPES.filter((scope) => ctx.principal.scopes.has(scope)).sort(),
      expiresAt: ctx.principal.expiresAt,
    };
  }

  @Query(() => ApiKeyConnection, { nullable: true, description: 'The tenant’s API keys, revoked and expired ones included.' })
  async apiKeys(@Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.auth.listApiKeys(tenantId, page);
    return toConnection(result, (key) => key.id, toApiKey, () => ctx.services.auth.countApiKeys(tenantId));
  }

  /*
   * Keyed creations of credentials. A replay answers from the stored (encrypted) response, secret
   * included. When no response was stored (the process died between the commit and storing it),
   * `rebuild` cannot bring the secret back, since only its hash exists, so it refuses with
   * ALREADY_EXISTS naming the credential that was created: the caller revokes it and creates another.
   */
  @Mutation(() => CreateApiKeyPayload, { nullable: true })
  async createApiKey(
    @Arg('input') input: CreateApiKeyInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<CreateApiKeyPayload> => {
        const { apiKey, secret } = await ctx.services.auth.createApiKey(ctx.principal.tenantId, input, handle ?? undefined);
        return { apiKey: toApiKey(apiKey), secret };
      },
      rebuild: (ref) => {
        throw oneTimeSecretNotReplayable('API key', (ref as { apiKeyId: string }).apiKeyId, 'Revoke it (revokeApiKey) and create another.');
      },
    });
  }

  @Mutation(() => ApiKeyPayload, { nullable: true, description: 'The key stops working at once. Keys are revoked, never deleted.' })
  async revokeApiKey(
    @Arg('input') input: RevokeApiKeyInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<ApiKeyPayload> => ({
        apiKey: toApiKey(await ctx.services.auth.revokeApiKey(ctx.principal.tenantId, input.id, handle ?? undefined)),
      }),
      rebuild: async (ref): Promise<ApiKeyPayload> => ({
        apiKey: toApiKey(await ctx.services.auth.apiKeyById(ctx.principal.tenantId, (ref as { apiKeyId: string }).apiKeyId)),
      }),
    });
  }

  @Mutation(() => RollApiKeyPayload, { nullable: true, description: 'A new key with the same name and scopes; the old one works until oldKeyExpiresAt.' })
  async rollApiKey(
    @Arg('input') input: RollApiKeyInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<RollApiKeyPayload> => {
        const rolled = await ctx.services.auth.rollApiKey(ctx.principal.tenantId, input.id, input.oldKeyExpiresAt, handle ?? undefined);
        return { apiKey: toApiKey(rolled.apiKey), secret: rolled.secret, previous: toApiKey(rolled.previous) };
      },
      rebuild: (ref) => {
        const { apiKeyId, previousId } = ref as { apiKeyId: string; previousId: string };
        throw oneTimeSecretNotReplayable('API key', apiKeyId, `Revoke it (revokeApiKey), then roll ${previousId} again while it still works, or create another key.`);
      },
    });
  }

  @Mutation(() => CreateOAuthClientPayload, { nullable: true, description: 'A client for POST /oauth/token (client credentials grant).' })
  async createOAuthClient(
    @Arg('input') input: CreateOAuthClientInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<CreateOAuthClientPayload> => {
        const { client, secret } = await ctx.services.auth.createOAuthClient(ctx.principal.tenantId, input.name, input.scopes, handle ?? undefined);
        return { client: toOAuthClient(client), clientSecret: secret };
      },
      rebuild: (ref) => {
        throw oneTimeSecretNotReplayable(
          'OAuth client',
          (ref as { oauthClientId: string }).oauthClientId,
          'Revoke it (revokeOAuthClient) and create another.',
        );
      },
    });
  }

  @Mutation(() => OAuthClientPayload, { nullable: true, description: 'The client can get no new tokens, and its tokens stop working at once.' })
  async revokeOAuthClient(
    @Arg('input') input: RevokeOAuthClientInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle): Promise<OAuthClientPayload> => ({
        client: toOAuthClient(await ctx.services.auth.revokeOAuthClient(ctx.principal.tenantId, input.id, handle ?? undefined)),
      }),
      rebuild: async (ref): Promise<OAuthClientPayload> => ({
        client: toOAuthClient(await ctx.services.auth.oauthClientById(ctx.principal.tenantId, (ref as { oauthClientId: string }).oauthClientId)),
      }),
    });
  }
}
