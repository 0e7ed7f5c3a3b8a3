import { Field, InputType } from 'type-graphql';

@InputType({ description: 'Narrows auditEvents; the conditions given all apply.' })
export class AuditEventFilterInput {
  @Field(() => String, { nullable: true, description: 'Only calls made with this credential (key_…, cli_…, a token subject).' })
  actorCredentialId?: string | null;

  @Field(() => String, { nullable: true, description: 'Only calls of this root field or route, exactly (`createInvoice`).' })
  operationName?: string | null;

  @Field(() => String, { nullable: true, description: 'Only calls that named this id in their arguments or payload.' })
  resourceId?: string | null;

  @Field(() => Date, { nullable: true, description: 'Only calls at or after this time.' })
  from?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Only calls before this time.' })
  to?: Date | null;
}
