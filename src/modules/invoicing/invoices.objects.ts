import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType, Money, Node } from '../../graphql/common.objects';
import { CurrencyScalar, DecimalScalar } from '../../graphql/scalars';
import { InvoiceStatus, InvoiceTaxBehaviour } from './invoices.types';

registerEnumType(InvoiceStatus, {
  name: 'InvoiceStatus',
  description: 'Where an invoice is in its life.',
  valuesConfig: {
    DRAFT: { description: 'Being prepared: editable, no number, nothing in the ledger.' },
    OPEN: { description: 'Finalised: numbered, booked as a receivable, awaiting payment.' },
    PAID: { description: 'Paid in full.' },
    VOID: { description: 'Cancelled after finalisation; keeps its number.' },
    UNCOLLECTIBLE: { description: 'Written off as bad debt.' },
  },
});
registerEnumType(InvoiceTaxBehaviour, {
  name: 'TaxBehaviour',
  description: 'Whether a line’s unit price includes its tax.',
  valuesConfig: {
    EXCLUSIVE: { description: 'The price excludes tax; tax is added on top.' },
    INCLUSIVE: { description: 'The price includes tax; tax is taken out of it, and the line totals exactly what was entered.' },
  },
});

@ObjectType({ description: 'One line of an invoice: what was entered, and the amounts computed from it (each rounded once, half up).' })
export class InvoiceLine {
  @Field({ description: 'What is sold.' })
  description!: string;

  @Field(() => DecimalScalar, { description: 'How many, up to 6 decimals.' })
  quantity!: string;

  @Field(() => Money, { description: 'The price of one, including tax when INCLUSIVE.' })
  unitPrice!: Money;

  @Field(() => DecimalScalar, { description: 'Tax rate in percent, e.g. "19" or "7.7".' })
  taxRate!: string;

  @Field(() => InvoiceTaxBehaviour, { description: 'Whether unitPrice includes the tax.' })
  taxBehaviour!: InvoiceTaxBehaviour;

  @Field(() => DecimalScalar, { nullable: true, description: 'The discount as a percent of the gross amount, when given that way.' })
  discountPercent!: string | null;

  @Field(() => Money, { description: 'quantity × unitPrice, rounded.' })
  gross!: Money;

  @Field(() => Money, { description: 'The discount taken off gross (zero without one).' })
  discount!: Money;

  @Field(() => Money, { description: 'Excluding tax, after the discount.' })
  net!: Money;

  @Field(() => Money, { description: 'The tax of the line.' })
  tax!: Money;

  @Field(() => Money, { description: 'Including tax, after the discount: net + tax.' })
  total!: Money;
}

@ObjectType({ description: 'The tax of all lines taxed at one rate.' })
export class InvoiceTaxRateTotal {
  @Field(() => DecimalScalar, { description: 'Rate in percent.' })
  rate!: string;

  @Field(() => Money, { description: 'Σ net of the lines at this rate.' })
  taxable!: Money;

  @Field(() => Money, { description: 'Σ tax of the lines at this rate.' })
  tax!: Money;
}

@ObjectType({ implements: Node, description: 'An invoice to a customer: a DRAFT until finalised, then numbered and booked in the ledger.' })
export class Invoice extends Node {
  @Field(() => InvoiceStatus, { description: 'DRAFT, OPEN, PAID, VOID or UNCOLLECTIBLE.' })
  status!: InvoiceStatus;

  @Field(() => CurrencyScalar, { description: 'The currency of every amount of the invoice.' })
  currency!: string;

  @Field(() => String, { nullable: true, description: 'INV-2026-000042: unique per tenant, gap-free in its series; null while DRAFT.' })
  number!: string | null;

  @Field(() => String, { nullable: true, description: 'The UTC day the invoice was finalised, YYYY-MM-DD; null while DRAFT.' })
  issueDate!: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'YYYY-MM-DD: as given, or the issue date plus paymentTermsDays once finalised (null on a draft with terms).',
  })
  dueDate!: string | null;

  @Field(() => Int, { nullable: true, description: 'Days from issue to due date, when the due date follows from terms; null when a due date was given.' })
  paymentTermsDays!: number | null;

  @Field(() => String, { nullable: true, description: 'A note printed on the invoice.' })
  memo!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'The caller’s own JSON, as given (at most 4 KiB).' })
  metadata!: Record<string, unknown> | null;

  @Field({ description: 'When the invoice was created.' })
  createdAt!: Date;

  @Field({ description: 'When the invoice was last changed.' })
  updatedAt!: Date;

  @Field(() => Date, { nullable: true, description: 'When the invoice was finalised; null while DRAFT.' })
  finalizedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the invoice last became PAID (by payments or credit notes); null unless it is PAID.' })
  paidAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the invoice was voided; null unless it is VOID.' })
  voidedAt!: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the invoice was written off; null unless it is UNCOLLECTIBLE.' })
  uncollectibleAt!: Date | null;

  @Field(() => Int, {
    description:
      '1 when created, one more with every change of what the invoice shows (its fields, lines and payments). Give it back as expectedVersion (If-Match over REST, where it is the ETag) to change the invoice only if nobody has since. Compare it for equality only.',
  })
  version!: number;
}

export const InvoiceConnection = ConnectionType(Invoice, 'Invoice', { totalCount: 'the invoices the filter selects' });

@ObjectType({ description: 'What createInvoice, updateInvoice and finalizeInvoice answer.' })
export class InvoicePayload {
  @Field(() => Invoice, { description: 'The invoice as stored after the change.' })
  invoice!: Invoice;
}
