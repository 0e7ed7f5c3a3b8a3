import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, Info, Mutation, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { notFoundError, validationError } from '../../common/errors';
import { ROOT_PAGE_SIZES } from '../../common/pagination';
import { listPageSizes, PageArgs, toConnection } from '../../graphql/common.objects';
import type { RequestContext } from '../../graphql/context';
import { BigIntScalar } from '../../graphql/scalars';
import { allowsScope, insufficientScopeError, Scope } from '../auth/scopes';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { JournalEntry } from '../ledger/ledger.objects';
import type { JournalEntryRecord } from '../ledger/ledger-writer';
import { openFlagFeed } from './reconciliation-flag-feed';
import type { ReconciliationFlagEventRecord } from './reconciliation-flags.events';
import { AcknowledgeReconciliationFlagInput, ReconciliationFlagFeedFilterInput, ResolveReconciliationFlagInput } from './reconciliation-flags.inputs';
import { ReconciliationFlagEvent, ReconciliationFlagEventConnection, ReconciliationFlagPayload } from './reconciliation-flags.objects';
import { ReconciliationFlag } from './reconciliation.objects';
import type { ReconciliationFlagRecord } from './reconciliation.types';

const FLAG_HISTORY_PAGE_SIZES = listPageSizes('ReconciliationFlag.history', ROOT_PAGE_SIZES);

async function loadFlag(ctx: RequestContext, id: string): Promise<ReconciliationFlagRecord> {
  const [flag] = await ctx.services.reconciliation.flagsByIds(ctx.principal.tenantId, [id]);
  if (!flag) throw notFoundError('Reconciliation flag', id);
  return flag;
}

@Resolver(() => ReconciliationFlag)
export class ReconciliationFlagLifecycleResolver {
  @Mutation(() => ReconciliationFlagPayload, {
    nullable: true,
    description:
      'OPEN → ACKNOWLEDGED: someone is looking into the flag. Any other status is INVALID_STATE_TRANSITION and changes nothing. Recorded in the flag’s history with the credential and the note; subscribers of reconciliationFlagUpdated hear of it.',
  })
  acknowledgeReconciliationFlag(
    @Arg('input') input: AcknowledgeReconciliationFlagInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const { tenantId, credentialId } = ctx.principal;
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ flag: await ctx.services.reconciliationFlags.acknowledge(tenantId, credentialId, input, handle ?? undefined) }),
      rebuild: async (ref) => ({ flag: await loadFlag(ctx, (ref as { flagId: string }).flagId) }),
    });
  }

  @Mutation(() => ReconciliationFlagPayload, {
    nullable: true,
    description:
      'OPEN or ACKNOWLEDGED → RESOLVED: MATCHED_BY_HAND, ADJUSTMENT_POSTED (journalEntryId: a POSTED entry touching the bank account’s ledger account) or ACCEPTED (note required); MATCHED is the system’s (VALIDATION_FAILED here): a flag about a line or posting resolves by itself when the item is matched. A RESOLVED flag is INVALID_STATE_TRANSITION; nothing changes on any refusal. The flag reopens by itself if its cause returns.',
  })
  resolveReconciliationFlag(
    @Arg('input') input: ResolveReconciliationFlagInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const { tenantId, credentialId } = ctx.principal;
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ flag: await ctx.services.reconciliationFlags.resolve(tenantId, credentialId, input, handle ?? undefined) }),
      rebuild: async (ref) => ({ flag: await loadFlag(ctx, (ref as { flagId: string }).flagId) }),
    });
  }

  @FieldResolver(() => ReconciliationFlagEventConnection, { description: 'Every step of the flag, oldest first; append-only.' })
  async history(@Root() flag: ReconciliationFlagRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const { tenantId } = ctx.principal;
    const flags = ctx.services.reconciliationFlags;
    const result = await flags.listHistory(tenantId, flag.id, page, FLAG_HISTORY_PAGE_SIZES);
    return toConnection(result, (event) => String(event.sequence), (event) => event, () => flags.countHistory(tenantId, flag.id));
  }
}

@Resolver(() => ReconciliationFlagEvent)
export class ReconciliationFlagEventResolver {
  @FieldResolver(() => BigIntScalar)
  sequence(@Root() event: ReconciliationFlagEventRecord): bigint {
    return BigInt(event.sequence);
  }

  @FieldResolver(() => ReconciliationFlag, { description: 'The flag as it is now (the step says what it was then).' })
  async flag(@Root() event: ReconciliationFlagEventRecord, @Ctx() ctx: RequestContext): Promise<ReconciliationFlagRecord> {
    const flag = await ctx.loaders.reconciliation.reconciliationFlagById.load(event.flagId);
    if (!flag) throw notFoundError('Reconciliation flag', event.flagId);
    return flag;
  }

  @FieldResolver(() => JournalEntry, { nullable: true, description: 'For ADJUSTMENT_POSTED: the entry that corrected the books.' })
  async journalEntry(@Root() event: ReconciliationFlagEventRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return event.journalEntryId ? ctx.loaders.ledger.journalEntryById.load(event.journalEntryId) : null;
  }
}

interface FeedArgs {
  filter?: ReconciliationFlagFeedFilterInput | null;
  since?: bigint | null;
}

/**
 * Shield guards each event's resolve but not the subscribe step, so the subscribe function checks the
 * scope itself. The feed is the caller's own tenant's; a bank account of another tenant is NOT_FOUND.
 */
function flagFeedOf(raisingOnly: boolean) {
  return async ({ context, args }: SubscribeResolverData<unknown, FeedArgs, RequestContext>) => {
    if (!allowsScope(context.principal.scopes, Scope.RECONCILIATION_READ)) throw insufficientScopeError(Scope.RECONCILIATION_READ);
    const { tenantId } = context.principal;
    const filter = args.filter ?? {};
    if (filter.bankAccountId) await context.services.reconciliation.getBankAccount(tenantId, filter.bankAccountId, 'filter.bankAccountId');
    const since = args.since ?? null;
    if (since !== null && since > BigInt(Number.MAX_SAFE_INTEGER)) throw validationError('since is past any sequence number', { field: 'since' });
    return openFlagFeed(context.services.pubSub, context.services.reconciliationFlags, tenantId, {
      since: since === null ? null : Number(since),
      filter: { bankAccountId: filter.bankAccountId ?? null, kind: filter.kind ?? null, raisingOnly },
    });
  };
}

const SINCE_DESCRIPTION =
  'Resume: first every step after this sequence number (the last one this subscriber received), from the database, then live ones; nothing is missed or repeated. Without it: from now on.';

@Resolver()
export class ReconciliationFlagSubscriptionResolver {
  @Subscription(() => ReconciliationFlagEvent, {
    description:
      'Flags of the caller’s tenant as they are raised (RAISED) or reopened (REOPENED), once committed, in sequence order, across server processes. Needs reconciliation:read.',
    subscribe: flagFeedOf(true),
  })
  reconciliationFlagRaised(
    @Root() event: ReconciliationFlagEventRecord,
    @Arg('filter', () => ReconciliationFlagFeedFilterInput, { nullable: true }) _filter: ReconciliationFlagFeedFilterInput | null,
    @Arg('since', () => BigIntScalar, { nullable: true, description: SINCE_DESCRIPTION }) _since: bigint | null,
    @Ctx() ctx: RequestContext,
  ): ReconciliationFlagEventRecord {
    // One context serves every event of the subscription: read each event's flag as it is now.
    ctx.loaders.reconciliation.reconciliationFlagById.clear(event.flagId);
    return event;
  }

  @Subscription(() => ReconciliationFlagEvent, {
    description:
      'Every step of the caller’s tenant’s flags once committed — raised, recurred, reopened, acknowledged, resolved — in sequence order, across server processes. Needs reconciliation:read.',
    subscribe: flagFeedOf(false),
  })
  reconciliationFlagUpdated(
    @Root() event: ReconciliationFlagEventRecord,
    @Arg('filter', () => ReconciliationFlagFeedFilterInput, { nullable: true }) _filter: ReconciliationFlagFeedFilterInput | null,
    @Arg('since', () => BigIntScalar, { nullable: true, description: SINCE_DESCRIPTION }) _since: bigint | null,
    @Ctx() ctx: RequestContext,
  ): ReconciliationFlagEventRecord {
    ctx.loaders.reconciliation.reconciliationFlagById.clear(event.flagId);
    return event;
  }
}

export const RECONCILIATION_FLAG_RESOLVERS = [ReconciliationFlagLifecycleResolver, ReconciliationFlagEventResolver, ReconciliationFlagSubscriptionResolver] as const;
