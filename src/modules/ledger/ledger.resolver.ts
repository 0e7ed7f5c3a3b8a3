import {
  Arg,
  Args,
  Ctx,
  FieldResolver,
  Info,
  ID,
  Mutation,
  Query,
  Resolver,
  Root,
  type SubscribeResolverData,
  Subscription,
} from 'type-graphql';
import { validationError } from '../../common/errors';
import { readPageRequest } from '../../common/pagination';
import { allowsScope, insufficientScopeError, Scope } from '../auth/scopes';
import type { GraphQLResolveInfo } from 'graphql';
import type { RequestContext } from '../../graphql/context';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { listPageSizes, Money, PageArgs, toConnection, toMoney } from '../../graphql/common.objects';
import { DeprecatedArg } from '../../graphql/deprecated-arguments';
import { CurrencyScalar } from '../../graphql/scalars';
import type { AccountEntity } from './account.entity';
import {
  AccountFilterInput,
  CreateAccountInput,
  JournalEntryFilterInput,
  PostJournalEntriesInput,
  PostJournalEntryInput,
  PostPendingJournalEntryInput,
  ReverseJournalEntryInput,
  VoidPendingJournalEntryInput,
} from './ledger.inputs';
import {
  Account,
  AccountBalances,
  AccountConnection,
  AccountJournalEntryConnection,
  AccountStatement,
  Balance,
  CreateAccountPayload,
  JournalEntry,
  JournalEntryConnection,
  JournalEntryPayload,
  PostJournalEntriesPayload,
  Posting,
  TrialBalance,
  TrialBalanceLineConnection,
} from './ledger.objects';
import { LedgerErrors } from './ledger.errors';
import { AccountTotals, balancesOf, EntryDirection, JournalEntryStatus, netOf, normalBalanceOf } from './ledger.types';
import { ACCOUNT_ENTRIES_PAGE_SIZES, isPostingKey, statementLineKey, type TrialBalanceReport } from './ledger.service';
import { subscribeToJournalEntries } from './ledger.events';
import { LedgerLoaders } from './ledger.loaders';
import type { JournalEntryRecord, LedgerWrite, PostingRecord } from './ledger-writer';

/** Account.recentEntries pages 5 entries by default, at most 50: the query cost limit counts the same. */
const RECENT_ENTRIES_PAGE_SIZES = listPageSizes('Account.recentEntries', ACCOUNT_ENTRIES_PAGE_SIZES);

function toBalances(totals: AccountTotals, account: AccountEntity): AccountBalances {
  const normal = normalBalanceOf(account.type);
  const money = (minor: bigint) => toMoney(minor, account.currency);
  const balance = (amounts: { debitsMinor: bigint; creditsMinor: bigint }): Balance => ({
    debits: money(amounts.debitsMinor),
    credits: money(amounts.creditsMinor),
    net: money(netOf(amounts, normal)),
  });
  const { posted, pending, available } = balancesOf(totals, normal);
  return { posted: balance(posted), pending: balance(pending), available: balance(available) };
}

function primeAndReturn(ctx: RequestContext, write: LedgerWrite, postingsComplete: boolean): JournalEntryRecord {
  ctx.loaders.ledger.primeWrite(write.entry, postingsComplete ? write.postings : null);
  return write.entry;
}

/** Entries a completed idempotent write produced, for a replay whose response was not stored. */
async function rebuildEntries(ctx: RequestContext, ref: unknown): Promise<JournalEntryRecord[]> {
  const ids = (ref as { journalEntryIds: string[] }).journalEntryIds;
  const entries = await ctx.loaders.ledger.journalEntryById.loadMany(ids);
  return entries.map((entry, index) => {
    // A failed read (an outage) is not a missing entry: its own, retryable error is passed on.
    if (entry instanceof Error) throw entry;
    if (!entry) throw LedgerErrors.journalEntryNotFound(ids[index]);
    return entry;
  });
}

@Resolver(() => Account)
export class AccountResolver {
  @Query(() => Account, { nullable: true, description: 'One account of the caller’s tenant; NOT_FOUND otherwise.' })
  async account(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<AccountEntity> {
    const account = await ctx.loaders.ledger.accountById.load(id);
    if (!account) throw LedgerErrors.accountNotFound(id);
    return account;
  }

  @Query(() => AccountConnection, { nullable: true, description: 'Accounts in creation order.' })
  async accounts(
    @Args() page: PageArgs,
    @Arg('filter', () => AccountFilterInput, { nullable: true }) filter: AccountFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.ledger.listAccounts(tenantId, filter ?? {}, page);
    for (const account of result.items) ctx.loaders.ledger.accountById.prime(account.id, account);
    return toConnection(result, (a) => a.id, (a) => a, () => ctx.services.ledger.countAccounts(tenantId, filter ?? {}));
  }

  @Mutation(() => CreateAccountPayload, { nullable: true })
  async createAccount(
    @Arg('input') input: CreateAccountInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({ account: await ctx.services.ledger.createAccount(ctx.principal.tenantId, input, handle ?? undefined) }),
      rebuild: async (ref) => ({ account: await ctx.services.ledger.getAccount(ctx.principal.tenantId, (ref as { accountId: string }).accountId) }),
    });
  }

  @FieldResolver(() => EntryDirection)
  normalBalance(@Root() account: AccountEntity): EntryDirection {
    return normalBalanceOf(account.type);
  }

  @FieldResolver(() => Money, {
    nullable: true,
    description: 'Lowest net available balance entries may leave: "0" for no overdraft, minus the credit limit; null for no limit.',
  })
  availableBalanceFloor(@Root() account: AccountEntity): Money | null {
    return account.availableFloorMinor === null ? null : toMoney(account.availableFloorMinor, account.currency);
  }

  @FieldResolver(() => AccountBalances, { description: 'Current balances, kept on the account in step with its postings.' })
  async balances(@Root() account: AccountEntity, @Ctx() ctx: RequestContext): Promise<AccountBalances> {
    // Lists and writes may hand us a stale row; the loader reads balances once per request.
    const fresh = (await ctx.loaders.ledger.accountById.load(account.id)) ?? account;
    return toBalances(fresh, account);
  }

  @FieldResolver(() => AccountBalances, { description: 'Balances as of an instant, summed exactly from postings effective up to it.' })
  async balance(@Root() account: AccountEntity, @Arg('asOf', { description: 'The instant to read the balances at.' }) asOf: Date, @Ctx() ctx: RequestContext): Promise<AccountBalances> {
    return toBalances(await ctx.loaders.ledger.totalsAsOf(asOf).load(account.id), account);
  }

  @FieldResolver(() => AccountJournalEntryConnection, {
    description:
      'Entries with a posting on this account, newest first: by the effective time (then id) of each entry’s newest posting here, each entry once. 5 by default, at most 50 per page. An index seek: as fast for an account with millions of postings as for one with ten.',
  })
  async recentEntries(@Root() account: AccountEntity, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const window = readPageRequest(page, RECENT_ENTRIES_PAGE_SIZES, isPostingKey);
    const result = await ctx.loaders.ledger.entriesPageByAccountId(window).load(account.id);
    return toConnection(result, (row) => row.key, (row) => row.entry);
  }
}

@Resolver(() => JournalEntry)
export class JournalEntryResolver {
  @Query(() => JournalEntry, { nullable: true })
  async journalEntry(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord> {
    const entry = await ctx.loaders.ledger.journalEntryById.load(id);
    if (!entry) throw LedgerErrors.journalEntryNotFound(id);
    return entry;
  }

  @Query(() => JournalEntryConnection, { nullable: true, description: 'Entries newest first (by id: the order they were written).' })
  async journalEntries(
    @Args() page: PageArgs,
    @Arg('filter', () => JournalEntryFilterInput, { nullable: true }) filter: JournalEntryFilterInput | null,
    @DeprecatedArg('accountId', () => ID, 'journalEntries(filter: { accountId })') accountId: string | null,
    @DeprecatedArg('status', () => JournalEntryStatus, 'journalEntries(filter: { status })') status: JournalEntryStatus | null,
    @Ctx() ctx: RequestContext,
  ) {
    const loose = Object.entries({ accountId, status }).filter(([, value]) => value !== null && value !== undefined).map(([name]) => name);
    if (filter && loose.length > 0) {
      throw validationError(`journalEntries: give filter or the deprecated ${loose.join(' and ')}, not both. Use journalEntries(filter: { accountId, status }).`, {
        field: 'filter',
        deprecatedArguments: loose,
      });
    }
    const chosen = filter ?? { accountId, status };
    const { tenantId } = ctx.principal;
    const result = await ctx.services.ledger.listEntries(tenantId, chosen, page);
    return toConnection(result, (e) => e.id, (e) => e, () => ctx.services.ledger.countEntries(tenantId, chosen));
  }

  @FieldResolver(() => [Posting], {
    description: 'Every posting of the entry in write order, releases of a pending hold included (negative PENDING amounts).',
  })
  postings(@Root() entry: JournalEntryRecord, @Ctx() ctx: RequestContext): Promise<PostingRecord[]> {
    return ctx.loaders.ledger.postingsByJournalEntryId.load(entry.id);
  }

  @FieldResolver(() => JournalEntry, { nullable: true, description: 'The entry this one reverses.' })
  async reversalOf(@Root() entry: JournalEntryRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord | null> {
    return entry.reversalOfId ? ctx.loaders.ledger.journalEntryById.load(entry.reversalOfId) : null;
  }

  @Mutation(() => JournalEntryPayload, { nullable: true, description: 'Posts one balanced entry (or holds it, with status PENDING).' })
  async postJournalEntry(
    @Arg('input') input: PostJournalEntryInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => {
        const write = await ctx.services.ledger.postEntry(ctx.principal.tenantId, input, handle ?? undefined);
        return { journalEntry: primeAndReturn(ctx, write, true) };
      },
      rebuild: async (ref) => ({ journalEntry: (await rebuildEntries(ctx, ref))[0] }),
      // One ledger command is the whole mutation: its key is claimed in the command's batch.
      claimWithChange: true,
    });
  }

  @Mutation(() => PostJournalEntriesPayload, { nullable: true, description: 'Posts up to 1,000 entries in one transaction, all or nothing.' })
  async postJournalEntries(
    @Arg('input') input: PostJournalEntriesInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => {
        const writes = await ctx.services.ledger.postEntries(ctx.principal.tenantId, input.entries, handle ?? undefined);
        return { journalEntries: writes.map((write) => primeAndReturn(ctx, write, true)) };
      },
      rebuild: async (ref) => ({ journalEntries: await rebuildEntries(ctx, ref) }),
    });
  }

  @Mutation(() => JournalEntryPayload, { nullable: true, description: 'Books the exact opposite of a POSTED entry, linked to it. Once per entry.' })
  async reverseJournalEntry(
    @Arg('input') input: ReverseJournalEntryInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => {
        const write = await ctx.services.ledger.reverseEntry(ctx.principal.tenantId, input.id, input, handle ?? undefined);
        return { journalEntry: primeAndReturn(ctx, write, true) };
      },
      rebuild: async (ref) => ({ journalEntry: (await rebuildEntries(ctx, ref))[0] }),
      // One ledger command is the whole mutation: its key is claimed in the command's batch.
      claimWithChange: true,
    });
  }

  @Mutation(() => JournalEntryPayload, { nullable: true, description: 'Posts a PENDING entry in full or in part; what is not posted is released.' })
  async postPendingJournalEntry(
    @Arg('input') input: PostPendingJournalEntryInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => {
        const write = await ctx.services.ledger.postPendingEntry(
          ctx.principal.tenantId,
          input.id,
          input.lines,
          input.effectiveAt,
          handle ?? undefined,
        );
        return { journalEntry: primeAndReturn(ctx, write, false) };
      },
      rebuild: async (ref) => ({ journalEntry: (await rebuildEntries(ctx, ref))[0] }),
      // One ledger command is the whole mutation: its key is claimed in the command's batch.
      claimWithChange: true,
    });
  }

  @Mutation(() => JournalEntryPayload, { nullable: true, description: 'Releases a PENDING entry without posting it.' })
  async voidPendingJournalEntry(
    @Arg('input') input: VoidPendingJournalEntryInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => {
        const write = await ctx.services.ledger.voidPendingEntry(ctx.principal.tenantId, input.id, handle ?? undefined);
        return { journalEntry: primeAndReturn(ctx, write, false) };
      },
      rebuild: async (ref) => ({ journalEntry: (await rebuildEntries(ctx, ref))[0] }),
      // One ledger command is the whole mutation: its key is claimed in the command's batch.
      claimWithChange: true,
    });
  }
}

@Resolver(() => Posting)
export class PostingResolver {
  @FieldResolver(() => Money, { description: 'Positive, except a release of a pending hold.' })
  amount(@Root() posting: PostingRecord): Money {
    return toMoney(posting.amountMinor, posting.currency);
  }

  @FieldResolver(() => Account)
  async account(@Root() posting: PostingRecord, @Ctx() ctx: RequestContext): Promise<AccountEntity> {
    const account = await ctx.loaders.ledger.accountById.load(posting.accountId);
    if (!account) throw LedgerErrors.accountNotFound(posting.accountId);
    return account;
  }

  @FieldResolver(() => JournalEntry)
  async journalEntry(@Root() posting: PostingRecord, @Ctx() ctx: RequestContext): Promise<JournalEntryRecord> {
    const entry = await ctx.loaders.ledger.journalEntryById.load(posting.journalEntryId);
    if (!entry) throw LedgerErrors.journalEntryNotFound(posting.journalEntryId);
    return entry;
  }
}

@Resolver()
export class LedgerReportResolver {
  @Query(() => TrialBalance, { nullable: true, description: 'Every account’s net posted balance in a debit or credit column, with totals per currency.' })
  async trialBalance(
    @Arg('asOf', () => Date, { nullable: true, description: 'The instant to report at; now when left out.' }) asOf: Date | null,
    @Arg('currency', () => CurrencyScalar, { nullable: true, description: 'Only accounts in this currency.' }) currency: string | null,
    @Ctx() ctx: RequestContext,
  ): Promise<TrialBalanceReport & Omit<TrialBalance, 'asOf'>> {
    const report = await ctx.services.ledger.trialBalance(ctx.principal.tenantId, { asOf, currency });
    const totals = report.totals.map((t) => ({
      currency: t.currency,
      debits: toMoney(t.debitsMinor, t.currency),
      credits: toMoney(t.creditsMinor, t.currency),
      balanced: t.debitsMinor === t.creditsMinor,
    }));
    return { ...report, totals, balanced: totals.every((t) => t.balanced) } as TrialBalanceReport & Omit<TrialBalance, 'asOf'>;
  }

  @Query(() => AccountStatement, { nullable: true, description: 'Posted postings of an account with effective dates in [from, to), with running balances.' })
  async accountStatement(
    @Arg('accountId', () => ID) accountId: string,
    @Arg('from', { description: 'Postings effective at or after this instant.' }) from: Date,
    @Arg('to', { description: 'Postings effective before this instant.' }) to: Date,
    @Args() page: PageArgs,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const statement = await ctx.services.ledger.accountStatement(tenantId, accountId, from, to, page);
    const currency = statement.account.currency;
    return {
      account: statement.account,
      from: statement.from,
      to: statement.to,
      openingBalance: toMoney(statement.openingBalanceMinor, currency),
      closingBalance: toMoney(statement.closingBalanceMinor, currency),
      lines: toConnection(
        statement.page,
        statementLineKey,
        (line) => ({ posting: line.posting, description: line.description, runningBalance: toMoney(line.runningBalanceMinor, currency) }),
        () => ctx.services.ledger.countStatementLines(tenantId, accountId, from, to),
      ),
    };
  }
}

/**
 * Shield guards each event's resolve but not the subscribe step, so the subscribe function checks the
 * scope itself, with the refusal a shield rule would give. The stream is the caller's own tenant's:
 * no argument can point it at another.
 */
async function subscribeToOwnJournalEntries({ context }: SubscribeResolverData<unknown, unknown, RequestContext>) {
  if (!allowsScope(context.principal.scopes, Scope.LEDGER_READ)) throw insufficientScopeError(Scope.LEDGER_READ);
  return subscribeToJournalEntries(context.services.pubSub, context.principal.tenantId);
}

@Resolver()
export class LedgerSubscriptionResolver {
  @Subscription(() => JournalEntry, {
    description:
      'Each journal entry of the caller’s tenant once its write has committed: new POSTED and PENDING entries, pending entries posted or voided, reversing entries. Needs ledger:read. Events published while a client is not subscribed are not replayed.',
    subscribe: subscribeToOwnJournalEntries,
  })
  journalEntryPosted(@Root() entry: JournalEntryRecord, @Ctx() ctx: RequestContext): JournalEntryRecord {
    // Every event of a subscription runs with the subscription's one context. Fresh loaders make each
    // event read the entry's postings and accounts as they are now, not as an earlier event cached them.
    ctx.loaders.ledger = new LedgerLoaders(ctx.services.ledger, ctx.principal.tenantId);
    ctx.loaders.ledger.journalEntryById.prime(entry.id, entry);
    return entry;
  }
}

@Resolver(() => TrialBalance)
export class TrialBalanceResolver {
  @FieldResolver(() => TrialBalanceLineConnection, { description: 'One line per account, in account code order.' })
  async lines(@Root() report: TrialBalanceReport, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.ledger.trialBalanceLines(tenantId, report, page);
    return toConnection(
      result,
      (line) => line.account.code,
      (line) => ({
        account: line.account,
        debit: toMoney(line.debitsMinor, line.account.currency),
        credit: toMoney(line.creditsMinor, line.account.currency),
      }),
      () => ctx.services.ledger.countTrialBalanceLines(tenantId, report),
    );
  }
}

export const LEDGER_RESOLVERS = [
  AccountResolver,
  JournalEntryResolver,
  PostingResolver,
  LedgerReportResolver,
  TrialBalanceResolver,
  LedgerSubscriptionResolver,
] as const;
