import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, Info, Mutation, Resolver, Root } from 'type-graphql';
import { notFoundError } from '../../common/errors';
import type { RequestContext } from '../../graphql/context';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { Posting } from '../ledger/ledger.objects';
import type { PostingRecord } from '../ledger/ledger-writer';
import { MatchStatementLineInput, UnmatchStatementLineInput } from './matching.inputs';
import { MatchStatementLinePayload, ReconciliationMatch, StatementLineMatchStatus, UnmatchStatementLinePayload } from './matching.objects';
import type { ReconciliationMatchRecord } from './matching.service';
import { BankStatementLine } from './reconciliation.objects';
import type { StatementLineRecord } from './reconciliation.types';

async function loadLine(ctx: RequestContext, id: string): Promise<StatementLineRecord> {
  const line = await ctx.loaders.reconciliation.bankStatementLineById.load(id);
  if (!line) throw notFoundError('Statement line', id);
  return line;
}

async function loadMatch(ctx: RequestContext, id: string): Promise<ReconciliationMatchRecord> {
  const match = await ctx.loaders.reconciliation.reconciliationMatchById.load(id);
  if (!match) throw notFoundError('Reconciliation match', id);
  return match;
}

@Resolver(() => ReconciliationMatch)
export class ReconciliationMatchResolver {
  @Mutation(() => MatchStatementLinePayload, {
    nullable: true,
    description:
      'Matches a statement line to postings by hand. The postings must be POSTED on the bank account’s ledger account, neither side matched already (INVALID_STATE_TRANSITION), and add up to the line (VALIDATION_FAILED naming both sums). Recorded with the caller’s credential.',
  })
  matchStatementLine(
    @Arg('input') input: MatchStatementLineInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const { tenantId, credentialId } = ctx.principal;
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => {
        const match = await ctx.services.matching.matchByHand(tenantId, credentialId, input, handle ?? undefined);
        return { match, statementLine: await loadLine(ctx, input.statementLineId) };
      },
      rebuild: async (ref) => ({ match: await loadMatch(ctx, (ref as { matchId: string }).matchId), statementLine: await loadLine(ctx, input.statementLineId) }),
    });
  }

  @Mutation(() => UnmatchStatementLinePayload, {
    nullable: true,
    description:
      'Undoes a statement line’s current match. Nothing is deleted: the match stays, with unmatchedAt and the note, and the line and its postings become unmatched. Automatic matching leaves them alone from then on; match them again by hand.',
  })
  unmatchStatementLine(
    @Arg('input') input: UnmatchStatementLineInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const { tenantId, credentialId } = ctx.principal;
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => {
        const unmatchedMatch = await ctx.services.matching.unmatchByHand(tenantId, credentialId, input, handle ?? undefined);
        return { unmatchedMatch, statementLine: await loadLine(ctx, input.statementLineId) };
      },
      rebuild: async (ref) => ({
        unmatchedMatch: await loadMatch(ctx, (ref as { matchId: string }).matchId),
        statementLine: await loadLine(ctx, input.statementLineId),
      }),
    });
  }

  @FieldResolver(() => [Posting], { description: 'The postings matched (for a match undone: the ones it held).' })
  async postings(@Root() match: ReconciliationMatchRecord, @Ctx() ctx: RequestContext): Promise<PostingRecord[]> {
    const postings = await ctx.loaders.ledger.postingById.loadMany(match.postingIds);
    return postings.filter((p): p is PostingRecord => p !== null && !(p instanceof Error));
  }

  @FieldResolver(() => [BankStatementLine], { description: 'The statement lines matched (for a match undone: the ones it held).' })
  async statementLines(@Root() match: ReconciliationMatchRecord, @Ctx() ctx: RequestContext): Promise<StatementLineRecord[]> {
    const lines = await ctx.loaders.reconciliation.bankStatementLineById.loadMany(match.statementLineIds);
    return lines.filter((l): l is StatementLineRecord => l !== null && !(l instanceof Error));
  }
}

@Resolver(() => BankStatementLine)
export class StatementLineMatchResolver {
  @FieldResolver(() => ReconciliationMatch, { nullable: true, description: 'The line’s current match; null while it is unmatched.' })
  match(@Root() line: StatementLineRecord, @Ctx() ctx: RequestContext): Promise<ReconciliationMatchRecord | null> {
    return ctx.loaders.reconciliation.currentMatchByStatementLineId.load(line.id);
  }

  @FieldResolver(() => StatementLineMatchStatus)
  async matchStatus(@Root() line: StatementLineRecord, @Ctx() ctx: RequestContext): Promise<StatementLineMatchStatus> {
    return (await ctx.loaders.reconciliation.currentMatchByStatementLineId.load(line.id)) ? StatementLineMatchStatus.MATCHED : StatementLineMatchStatus.UNMATCHED;
  }
}

export const MATCHING_RESOLVERS = [ReconciliationMatchResolver, StatementLineMatchResolver] as const;
