import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, Int } from 'type-graphql';
import { DecimalScalar } from '../../graphql/scalars';

@InputType({ description: 'One invoice line to credit.' })
export class CreditNoteLineInput {
  @Field(() => Int, { description: 'The invoice line’s position (0-based, in the order of Invoice.lines); each at most once per credit note.' })
  position!: number;

  @Field(() => DecimalScalar, {
    nullable: true,
    description: 'How much of the line’s quantity to credit, greater than zero, up to 6 decimals; omitted: all of it not credited yet.',
  })
  quantity?: string | null;
}

@InputType({ description: 'A credit note against an OPEN or PAID invoice: give lines or amount.' })
export class CreateCreditNoteInput {
  @Field(() => ID, { description: 'The invoice (inv_…).' })
  invoiceId!: string;

  @Field(() => [CreditNoteLineInput], { nullable: true, description: 'Invoice lines to credit, each recomputed by the invoice’s own rounding rule. Not with amount.' })
  lines?: CreditNoteLineInput[] | null;

  @Field(() => DecimalScalar, {
    nullable: true,
    description: 'A tax-inclusive amount in the invoice’s currency, split over its tax rates in proportion to what of each is still uncredited. Not with lines.',
  })
  amount?: string | null;

  @Field(() => String, { nullable: true, description: 'Why the credit is given, at most 500 characters.' })
  reason?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'At most 4 KiB of JSON.' })
  metadata?: Record<string, unknown> | null;
}

@InputType({ description: 'Which credit notes to list; both given, a credit note must match both.' })
export class CreditNoteFilterInput {
  @Field(() => ID, { nullable: true, description: 'Credit notes of this invoice (inv_…).' })
  invoiceId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Credit notes of this customer’s invoices (cus_…).' })
  customerId?: string | null;
}

@InputType({ description: 'The OPEN invoice to void: nothing paid and no credit notes.' })
export class VoidInvoiceInput {
  @Field(() => ID, { description: 'The invoice (inv_…).' })
  invoiceId!: string;

  @Field(() => String, { nullable: true, description: 'Why, at most 500 characters; kept on the reversing journal entry’s metadata.' })
  reason?: string | null;
}

@InputType({ description: 'The OPEN invoice to write off.' })
export class MarkInvoiceUncollectibleInput {
  @Field(() => ID, { description: 'The invoice (inv_…).' })
  invoiceId!: string;

  @Field(() => String, { nullable: true, description: 'Why, at most 500 characters; kept on the bad-debt journal entry’s metadata.' })
  reason?: string | null;
}
