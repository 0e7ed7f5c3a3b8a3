import { Field, ID, InputType } from 'type-graphql';
import { ReconciliationFlagResolution } from './reconciliation-flags.events';
import { ReconciliationFlagKind } from './reconciliation.types';

@InputType()
export class AcknowledgeReconciliationFlagInput {
  @Field(() => ID)
  flagId!: string;

  @Field(() => String, { nullable: true, description: 'Up to 2000 characters, kept in the flag’s history.' })
  note?: string | null;
}

@InputType()
export class ResolveReconciliationFlagInput {
  @Field(() => ID)
  flagId!: string;

  @Field(() => ReconciliationFlagResolution)
  resolution!: ReconciliationFlagResolution;

  @Field(() => String, { nullable: true, description: 'Required for ACCEPTED (why the difference is accepted); up to 2000 characters.' })
  note?: string | null;

  @Field(() => ID, {
    nullable: true,
    description: 'Required for ADJUSTMENT_POSTED, refused otherwise: a POSTED journal entry of the tenant with a posting on the bank account’s ledger account.',
  })
  journalEntryId?: string | null;
}

@InputType({ description: 'Which flags a live feed delivers; every field narrows it.' })
export class ReconciliationFlagFeedFilterInput {
  @Field(() => ID, { nullable: true })
  bankAccountId?: string | null;

  @Field(() => ReconciliationFlagKind, { nullable: true })
  kind?: ReconciliationFlagKind | null;
}
