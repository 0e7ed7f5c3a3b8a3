import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Float, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../../graphql/common.objects';
import { MatchOrigin } from './matching.service';
import { BankStatementLine } from './reconciliation.objects';

export enum StatementLineMatchStatus {
  UNMATCHED = 'UNMATCHED',
  MATCHED = 'MATCHED',
}

/** The rules of the engine (matcher-rules.ts MatchRule) and MANUAL for a match made by hand. */
export enum ReconciliationMatchRule {
  REFERENCE = 'REFERENCE',
  AMOUNT_DATE = 'AMOUNT_DATE',
  MANY_TO_ONE = 'MANY_TO_ONE',
  ONE_TO_MANY = 'ONE_TO_MANY',
  INVOICE_NUMBER = 'INVOICE_NUMBER',
  MANUAL = 'MANUAL',
}

registerEnumType(StatementLineMatchStatus, { name: 'StatementLineMatchStatus', description: 'Whether a statement line is currently matched to postings.' });
registerEnumType(MatchOrigin, { name: 'ReconciliationMatchOrigin', description: 'AUTOMATIC: by the matching engine. MANUAL: by a person (matchStatementLine).' });
registerEnumType(ReconciliationMatchRule, {
  name: 'ReconciliationMatchRule',
  description: 'The rule that made a match.',
  valuesConfig: {
    REFERENCE: { description: 'A reference on the line (end-to-end id, remittance, bank reference) equals or is the truncated start of the posting’s, with equal amounts.' },
    AMOUNT_DATE: { description: 'Equal amount, dates within the bank account’s window, and exactly one candidate on each side.' },
    MANY_TO_ONE: { description: 'One line equals the sum of several postings (a gateway payout).' },
    ONE_TO_MANY: { description: 'One posting equals the sum of several lines.' },
    INVOICE_NUMBER: { description: 'The line named an OPEN invoice by its number: it was recorded as the invoice’s payment, and matched to the posting that wrote.' },
    MANUAL: { description: 'Matched by hand.' },
  },
});

@ObjectType({ implements: Node, description: 'Statement lines matched to postings on the bank account’s ledger account, with the rule and the values it compared.' })
export class ReconciliationMatch extends Node {
  @Field(() => ReconciliationMatchRule)
  rule!: ReconciliationMatchRule;

  @Field(() => Float, { description: 'How strong the rule’s evidence was, 0 to 1 (the rule decides; the score is for display).' })
  score!: number;

  @Field(() => GraphQLJSONObject, { description: 'The values the rule compared: amounts (minor units), currencies, the reference found, date distance in business days, the group.' })
  compared!: Record<string, unknown>;

  @Field(() => MatchOrigin)
  origin!: MatchOrigin;

  @Field(() => String, { nullable: true, description: 'The credential (API key or OAuth client id) that matched by hand; null for AUTOMATIC.' })
  createdBy!: string | null;

  @Field(() => String, { nullable: true, description: 'The credential that undid it.' })
  unmatchedBy!: string | null;

  @Field(() => String, { nullable: true, description: 'The note given when matching by hand.' })
  note!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'When it was undone by hand (unmatchStatementLine); null while it stands.' })
  unmatchedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'The note given when it was undone.' })
  unmatchNote!: string | null;
}

@ObjectType()
export class MatchStatementLinePayload {
  @Field(() => BankStatementLine)
  statementLine!: BankStatementLine;

  @Field(() => ReconciliationMatch)
  match!: ReconciliationMatch;
}

@ObjectType()
export class UnmatchStatementLinePayload {
  @Field(() => BankStatementLine)
  statementLine!: BankStatementLine;

  @Field(() => ReconciliationMatch, { description: 'The match undone, now with unmatchedAt set; kept for the record.' })
  unmatchedMatch!: ReconciliationMatch;
}
