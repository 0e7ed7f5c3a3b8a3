import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, Int } from 'type-graphql';
import { CurrencyScalar, DecimalScalar } from '../../graphql/scalars';
import { InvoiceStatus, InvoiceTaxBehaviour } from './invoices.types';

@InputType({ description: 'A discount on one line: exactly one of percent and amount.' })
export class InvoiceLineDiscountInput {
  @Field(() => DecimalScalar, { nullable: true, description: 'Percent of the line’s gross amount, 0 to 100, up to 4 decimals.' })
  percent?: string | null;

  @Field(() => DecimalScalar, { nullable: true, description: 'An amount in the invoice’s currency, at most the line’s gross amount.' })
  amount?: string | null;
}

@InputType({ description: 'One invoice line.' })
export class InvoiceLineInput {
  @Field({ description: '1 to 500 characters.' })
  description!: string;

  @Field(() => DecimalScalar, { description: 'Greater than zero, up to 6 decimals ("1.5").' })
  quantity!: string;

  @Field(() => DecimalScalar, { description: 'Zero or more, with at most the currency’s decimals ("12.34" USD, "1200" JPY).' })
  unitPrice!: string;

  @Field(() => DecimalScalar, { description: 'Percent, 0 to 100, up to 4 decimals ("19", "7.7").' })
  taxRate!: string;

  @Field(() => InvoiceTaxBehaviour, { description: 'Whether unitPrice includes the tax.' })
  taxBehaviour!: InvoiceTaxBehaviour;

  @Field(() => InvoiceLineDiscountInput, { nullable: true, description: 'An optional discount.' })
  discount?: InvoiceLineDiscountInput | null;
}

@InputType({ description: 'A new DRAFT invoice.' })
export class CreateInvoiceInput {
  @Field(() => ID, { description: 'The customer invoiced (cus_…).' })
  customerId!: string;

  @Field(() => CurrencyScalar, { description: 'The currency of every amount (ISO 4217).' })
  currency!: string;

  @Field(() => [InvoiceLineInput], { description: '1 to 1,000 lines.' })
  lines!: InvoiceLineInput[];

  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD; not before the issue date. Give this or paymentTermsDays.' })
  dueDate?: string | null;

  @Field(() => Int, { nullable: true, description: 'Due this many days (0 to 3650) after the issue date; 30 when neither this nor dueDate is given.' })
  paymentTermsDays?: number | null;

  @Field(() => String, { nullable: true, description: 'A note printed on the invoice, at most 2,000 characters.' })
  memo?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'At most 4 KiB of JSON.' })
  metadata?: Record<string, unknown> | null;
}

@InputType({ description: 'The fields of a DRAFT to change: a field left out keeps its value.' })
export class UpdateInvoiceInput {
  @Field(() => ID, { description: 'The invoice to change (inv_…); it must be a DRAFT.' })
  invoiceId!: string;

  @Field(() => ID, { nullable: true, description: 'Another customer of the tenant.' })
  customerId?: string | null;

  @Field(() => CurrencyScalar, { nullable: true, description: 'Another currency; the lines are checked and recomputed in it.' })
  currency?: string | null;

  @Field(() => [InvoiceLineInput], { nullable: true, description: 'Replaces every line (1 to 1,000).' })
  lines?: InvoiceLineInput[] | null;

  @Field(() => String, { nullable: true, description: 'YYYY-MM-DD; replaces the payment terms. null returns to the default terms.' })
  dueDate?: string | null;

  @Field(() => Int, { nullable: true, description: 'Replaces the due date with terms of this many days after issue.' })
  paymentTermsDays?: number | null;

  @Field(() => String, { nullable: true, description: 'A new memo; null clears it.' })
  memo?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Replaces the whole metadata object; null clears it.' })
  metadata?: Record<string, unknown> | null;

  @Field(() => Int, {
    nullable: true,
    description:
      'The Invoice.version you read: the change is made only if the invoice still has it, PRECONDITION_FAILED (naming the current version) otherwise, and nothing changes. Left out, the change applies to whatever is stored (the last write wins).',
  })
  expectedVersion?: number | null;
}

@InputType({ description: 'The DRAFT to finalise.' })
export class FinalizeInvoiceInput {
  @Field(() => ID, { description: 'The invoice (inv_…).' })
  invoiceId!: string;

  @Field(() => Int, {
    nullable: true,
    description: 'The Invoice.version you reviewed: the draft is finalised only if it still has it, PRECONDITION_FAILED otherwise, and nothing changes.',
  })
  expectedVersion?: number | null;
}

@InputType({ description: 'Which invoices to list: an invoice must match every criterion given.' })
export class InvoiceFilterInput {
  @Field(() => InvoiceStatus, { nullable: true, description: 'Invoices in this status.' })
  status?: InvoiceStatus | null;

  @Field(() => ID, { nullable: true, description: 'Invoices of this customer (cus_…).' })
  customerId?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'true: OPEN invoices past their due date (UTC days, by the server’s clock); false: every other invoice.' })
  overdue?: boolean | null;

  @Field(() => String, { nullable: true, description: 'Issued on or after this day, YYYY-MM-DD (drafts have no issue date and are left out).' })
  issueDateFrom?: string | null;

  @Field(() => String, { nullable: true, description: 'Issued on or before this day, YYYY-MM-DD (drafts are left out).' })
  issueDateTo?: string | null;

  @Field(() => String, { nullable: true, description: 'Due on or after this day, YYYY-MM-DD (drafts with payment terms have no due date yet and are left out).' })
  dueDateFrom?: string | null;

  @Field(() => String, { nullable: true, description: 'Due on or before this day, YYYY-MM-DD (drafts with payment terms are left out).' })
  dueDateTo?: string | null;
}
