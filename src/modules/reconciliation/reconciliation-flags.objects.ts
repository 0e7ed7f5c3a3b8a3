import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType } from '../../graphql/common.objects';
import { BigIntScalar } from '../../graphql/scalars';
import { ReconciliationFlagAction, ReconciliationFlagResolution } from './reconciliation-flags.events';
import { ReconciliationFlag } from './reconciliation.objects';
import { ReconciliationFlagStatus } from './reconciliation.types';

registerEnumType(ReconciliationFlagAction, {
  name: 'ReconciliationFlagAction',
  description: 'One step of a flag’s history.',
  valuesConfig: {
    RAISED: { description: 'First raised.' },
    RECURRED: { description: 'Its cause occurred again while it was OPEN or ACKNOWLEDGED: one more occurrence, status kept.' },
    REOPENED: { description: 'Its cause occurred again after it was RESOLVED: OPEN again, one more occurrence.' },
    ACKNOWLEDGED: { description: 'Someone is looking into it.' },
    RESOLVED: { description: 'Dealt with; `resolution` says how.' },
  },
});
registerEnumType(ReconciliationFlagResolution, {
  name: 'ReconciliationFlagResolution',
  description: 'How a flag was resolved.',
  valuesConfig: {
    MATCHED_BY_HAND: { description: 'The line and the posting were matched by hand (a person says so when resolving).' },
    MATCHED: {
      description:
        'Recorded by the system, never accepted by resolveReconciliationFlag: the flag’s line or posting was matched, by the engine or by matchStatementLine. The step’s details name the match (matchId, rule, origin); actorCredentialId is whoever matched by hand.',
    },
    ADJUSTMENT_POSTED: { description: 'A journal entry corrected the books (journalEntryId names it).' },
    ACCEPTED: { description: 'The difference is accepted as it is; the note says why.' },
  },
});

@ObjectType({
  description:
    'One step of a reconciliation flag’s history (append-only: never changed once written), and what the live feed delivers. Its sequence number is the tenant’s: give the last one received as `since:` to resume a subscription.',
})
export class ReconciliationFlagEvent {
  @Field(() => BigIntScalar, { description: 'The tenant’s flag sequence number this step took; every step of every flag of the tenant takes the next one.' })
  sequence!: bigint;

  @Field(() => ReconciliationFlagAction)
  action!: ReconciliationFlagAction;

  @Field(() => ReconciliationFlagStatus, { nullable: true, description: 'The status before the step; null when the flag was first raised.' })
  statusFrom!: ReconciliationFlagStatus | null;

  @Field(() => ReconciliationFlagStatus, { description: 'The status after the step.' })
  statusTo!: ReconciliationFlagStatus;

  @Field(() => Int, { description: 'The flag’s occurrence count after the step.' })
  occurrenceCount!: number;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description:
      'The cause’s values at this occurrence (RAISED, RECURRED, REOPENED); for a step RESOLVED with resolution MATCHED, the match that resolved it (matchId, rule, origin, statementLineIds, postingIds); null for other steps.',
  })
  details!: Record<string, unknown> | null;

  @Field(() => ID, { nullable: true, description: 'The credential (API key or OAuth client) that acknowledged or resolved; null for steps the system took.' })
  actorCredentialId!: string | null;

  @Field(() => String, { nullable: true })
  note!: string | null;

  @Field(() => ReconciliationFlagResolution, { nullable: true, description: 'For RESOLVED: how.' })
  resolution!: ReconciliationFlagResolution | null;

  @Field()
  createdAt!: Date;

  // flag and journalEntry are field resolvers (reconciliation-flags.resolver.ts).
}

export const ReconciliationFlagEventConnection = ConnectionType(ReconciliationFlagEvent, 'ReconciliationFlagEvent', { totalCount: 'the flag’s steps' });

@ObjectType()
export class ReconciliationFlagPayload {
  @Field(() => ReconciliationFlag)
  flag!: ReconciliationFlag;
}
