import { Arg, Ctx, ID, Query, Resolver } from 'type-graphql';
import { toMoney } from '../../graphql/common.objects';
import type { RequestContext } from '../../graphql/context';
import { ReconciliationAccuracy, ReconciliationPeriodInput, ReconciliationReport, type ReconciliationSideSummary } from './reconciliation-report.objects';
import type { SideSummary } from './reconciliation-report.service';

function sideOf(side: SideSummary, currency: string): ReconciliationSideSummary {
  return {
    matched: { count: side.matched.count, amount: toMoney(side.matched.amountMinor, currency) },
    unmatched: { count: side.unmatched.count, amount: toMoney(side.unmatched.amountMinor, currency) },
  };
}

const rate = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole);

@Resolver()
export class ReconciliationReportResolver {
  @Query(() => ReconciliationReport, {
    nullable: true,
    description:
      'A bank account’s reconciliation over a period: statement lines and ledger postings matched and unmatched, open flags by kind, and the latest statement closing balance against the ledger balance that day. NOT_FOUND for another tenant’s account.',
  })
  async reconciliationReport(
    @Arg('bankAccountId', () => ID) bankAccountId: string,
    @Arg('period', () => ReconciliationPeriodInput) period: ReconciliationPeriodInput,
    @Ctx() ctx: RequestContext,
  ): Promise<ReconciliationReport> {
    const report = await ctx.services.reconciliationReport.report(ctx.principal.tenantId, bankAccountId, { from: period.from, to: period.to });
    const { currency } = report.bankAccount;
    const balances = report.balances;
    return {
      bankAccount: report.bankAccount as unknown as ReconciliationReport['bankAccount'],
      from: report.period.from,
      to: report.period.to,
      statementLines: sideOf(report.statementLines, currency),
      ledgerPostings: sideOf(report.ledgerPostings, currency),
      openFlags: report.openFlags,
      balances: balances && {
        statementId: balances.statementId,
        date: balances.date,
        statementClosingBalance: toMoney(balances.statementClosingBalanceMinor, currency),
        ledgerBalance: toMoney(balances.ledgerBalanceMinor, currency),
        difference: toMoney(balances.differenceMinor, currency),
      },
    };
  }

  @Query(() => ReconciliationAccuracy, {
    nullable: true,
    description:
      'The reconciliation accuracy rate: automatic matches still standing / all automatic matches, and statement lines matched automatically / all lines. One bank account or all of the tenant’s; one period (by booking date of the lines) or all time.',
  })
  async reconciliationAccuracy(
    @Arg('bankAccountId', () => ID, { nullable: true }) bankAccountId: string | null,
    @Arg('period', () => ReconciliationPeriodInput, { nullable: true }) period: ReconciliationPeriodInput | null,
    @Ctx() ctx: RequestContext,
  ): Promise<ReconciliationAccuracy> {
    const accuracy = await ctx.services.reconciliationReport.accuracy(ctx.principal.tenantId, bankAccountId ?? null, period ? { from: period.from, to: period.to } : null);
    return {
      ...accuracy,
      confirmedRate: rate(accuracy.automaticMatchesConfirmed, accuracy.automaticMatches),
      automaticLineRate: rate(accuracy.statementLinesMatchedAutomatically, accuracy.statementLines),
    };
  }
}
