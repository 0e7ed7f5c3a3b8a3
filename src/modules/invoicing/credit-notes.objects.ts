import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Int, ObjectType } from 'type-graphql';
import { ConnectionType, Money, Node } from '../../graphql/common.objects';
import { CurrencyScalar, DecimalScalar } from '../../graphql/scalars';
import { Invoice } from './invoices.objects';
import { InvoiceTaxBehaviour } from './invoices.types';

@ObjectType({ description: 'One invoice line credited by a credit note, in part or in full.' })
export class CreditNoteLine {
  @Field(() => Int, { description: 'The invoice line’s position (0-based, in the order of Invoice.lines).' })
  position!: number;

  @Field({ description: 'The invoice line’s description.' })
  description!: string;

  @Field(() => DecimalScalar, { description: 'The quantity this note credits.' })
  quantity!: string;

  @Field(() => DecimalScalar, { description: 'The line’s tax rate in percent.' })
  taxRate!: string;

  @Field(() => InvoiceTaxBehaviour, { description: 'Whether the line’s unit price includes its tax.' })
  taxBehaviour!: InvoiceTaxBehaviour;

  @Field(() => Money, { description: 'Credited, excluding tax.' })
  net!: Money;

  @Field(() => Money, { description: 'Tax credited.' })
  tax!: Money;

  @Field(() => Money, { description: 'Credited, including tax: net + tax.' })
  total!: Money;
}

@ObjectType({
  implements: Node,
  description:
    'A credit note against an OPEN or PAID invoice, for some of its lines or for an amount: numbered in the CN series, posted to the ledger; what it takes off what the invoice still owes reduces amountDue, the rest becomes customer credit.',
})
export class CreditNote extends Node {
  @Field({ description: 'CN-2026-000001: unique per tenant, gap-free in its yearly series.' })
  number!: string;

  @Field(() => CurrencyScalar, { description: 'The invoice’s currency.' })
  currency!: string;

  @Field(() => String, { nullable: true, description: 'Why the credit was given, as entered.' })
  reason!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'The caller’s own JSON, as given (at most 4 KiB).' })
  metadata!: Record<string, unknown> | null;

  @Field({ description: 'When the credit note was created (and posted).' })
  createdAt!: Date;
}

export const CreditNoteConnection = ConnectionType(CreditNote, 'CreditNote', { totalCount: 'the credit notes the filter (or the invoice) selects' });

@ObjectType({ description: 'What createCreditNote answers.' })
export class CreateCreditNotePayload {
  @Field(() => CreditNote, { description: 'The credit note created.' })
  creditNote!: CreditNote;

  @Field(() => Invoice, { description: 'The invoice as stored after it (amountCredited, amountRemaining, and PAID when nothing is left to pay).' })
  invoice!: Invoice;
}
