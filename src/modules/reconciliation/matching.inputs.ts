import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class MatchStatementLineInput {
  @Field(() => ID)
  statementLineId!: string;

  @Field(() => [ID], { description: 'Postings on the bank account’s ledger account, not matched yet, adding up to the line’s amount.' })
  postingIds!: string[];

  @Field(() => String, { nullable: true, description: 'Why, for the record (at most 500 characters).' })
  note?: string | null;
}

@InputType()
export class UnmatchStatementLineInput {
  @Field(() => ID)
  statementLineId!: string;

  @Field(() => String, { nullable: true, description: 'Why, for the record (at most 500 characters).' })
  note?: string | null;
}
