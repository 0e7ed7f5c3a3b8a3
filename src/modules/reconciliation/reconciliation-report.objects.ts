import { LocalDateResolver } from 'graphql-scalars';
import { Field, Float, InputType, Int, ObjectType } from 'type-graphql';
import { Money } from '../../graphql/common.objects';
import { BankAccount } from './reconciliation.objects';
import { ReconciliationFlagKind } from './reconciliation.types';

@InputType({ description: 'Calendar days, both included (UTC): statement lines by booking date, postings by effective date.' })
export class ReconciliationPeriodInput {
  @Field(() => LocalDateResolver, { description: 'The first day of the period.' })
  from!: string;

  @Field(() => LocalDateResolver, { description: 'The last day of the period (included).' })
  to!: string;
}

@ObjectType({ description: 'How many items, and their signed total (money in positive).' })
export class ReconciliationTally {
  @Field(() => Int)
  count!: number;

  @Field(() => Money)
  amount!: Money;
}

@ObjectType()
export class ReconciliationSideSummary {
  @Field(() => ReconciliationTally, { description: 'Currently claimed by a match (automatic or by hand).' })
  matched!: ReconciliationTally;

  @Field(() => ReconciliationTally)
  unmatched!: ReconciliationTally;
}

@ObjectType()
export class ReconciliationFlagCount {
  @Field(() => ReconciliationFlagKind)
  kind!: ReconciliationFlagKind;

  @Field(() => Int)
  count!: number;
}

@ObjectType({ description: 'The latest statement closing balance against the ledger balance at the end of its day.' })
export class ReconciliationBalanceComparison {
  @Field({ description: 'The statement whose closing balance is compared.' })
  statementId!: string;

  @Field(() => LocalDateResolver, { description: 'The closing balance’s date (else the statement’s last day).' })
  date!: string;

  @Field(() => Money)
  statementClosingBalance!: Money;

  @Field(() => Money, { description: 'Posted balance of the bank’s ledger account from postings effective up to the end of `date` (UTC).' })
  ledgerBalance!: Money;

  @Field(() => Money, { description: 'statementClosingBalance − ledgerBalance; 0 when they agree.' })
  difference!: Money;
}

@ObjectType({ description: 'How far a bank account is reconciled over a period.' })
export class ReconciliationReport {
  @Field(() => BankAccount)
  bankAccount!: BankAccount;

  @Field(() => LocalDateResolver)
  from!: string;

  @Field(() => LocalDateResolver)
  to!: string;

  @Field(() => ReconciliationSideSummary, { description: 'BOOKED statement lines with a booking date in the period.' })
  statementLines!: ReconciliationSideSummary;

  @Field(() => ReconciliationSideSummary, { description: 'POSTED postings on the bank’s ledger account effective in the period.' })
  ledgerPostings!: ReconciliationSideSummary;

  @Field(() => [ReconciliationFlagCount], { description: 'Flags of the bank account not yet resolved (OPEN or ACKNOWLEDGED), by kind, whatever their date; kinds with none are left out.' })
  openFlags!: ReconciliationFlagCount[];

  @Field(() => ReconciliationBalanceComparison, {
    nullable: true,
    description: 'Null when no statement of the account has a closing balance dated on or before the period’s end.',
  })
  balances!: ReconciliationBalanceComparison | null;
}

@ObjectType({ description: 'How often automatic matching is right, and how much of the statements it covers.' })
export class ReconciliationAccuracy {
  @Field(() => Int, { description: 'Automatic matches made on statement lines of the scope.' })
  automaticMatches!: number;

  @Field(() => Int, { description: 'Of those, the ones still standing: not unmatched by hand since.' })
  automaticMatchesConfirmed!: number;

  @Field(() => Float, { nullable: true, description: 'automaticMatchesConfirmed / automaticMatches; null without automatic matches.' })
  confirmedRate!: number | null;

  @Field(() => Int, { description: 'BOOKED statement lines of the scope.' })
  statementLines!: number;

  @Field(() => Int, { description: 'Of those, the ones currently matched automatically.' })
  statementLinesMatchedAutomatically!: number;

  @Field(() => Float, { nullable: true, description: 'statementLinesMatchedAutomatically / statementLines; null without lines.' })
  automaticLineRate!: number | null;
}
