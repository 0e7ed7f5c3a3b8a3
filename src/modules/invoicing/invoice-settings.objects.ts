import { Field, InputType, Int, ObjectType } from 'type-graphql';

@ObjectType({ description: 'How invoice numbers look: PREFIX-000042, or PREFIX-2026-000042 with a yearly reset.' })
export class InvoiceNumbering {
  @Field({ description: 'The text before the number: 1 to 12 characters of A–Z, 0–9 and "-", not ending with "-".' })
  prefix!: string;

  @Field({ description: 'Whether the UTC year of finalisation follows the prefix and numbering starts again at 1 each year.' })
  yearlyReset!: boolean;

  @Field(() => Int, { description: 'Minimum digits of the number, zero-padded (1 to 12); larger numbers just grow.' })
  padding!: number;
}

@ObjectType({ description: 'A tenant’s invoice settings: numbering, default payment terms, and the seller details printed on its invoices (stored in clear: they are printed on every invoice).' })
export class InvoiceSettings {
  @Field(() => InvoiceNumbering, { description: 'The numbering the next finalisation uses. Numbers already issued keep their text.' })
  numbering!: InvoiceNumbering;

  @Field(() => Int, { description: 'Days to the due date a new draft gets when given neither dueDate nor paymentTermsDays.' })
  defaultPaymentTermsDays!: number;

  @Field({ description: 'The name invoices are issued under (the tenant’s name until settings are saved).' })
  sellerName!: string;

  @Field(() => [String], { description: 'The seller’s address as printed, line by line; empty when none was given.' })
  sellerAddress!: string[];

  @Field(() => String, { nullable: true, description: 'The seller’s VAT number or other tax id, printed on every invoice.' })
  sellerTaxId!: string | null;

  @Field(() => String, { nullable: true, description: 'Printed at the end of every invoice (bank details, registration).' })
  footer!: string | null;

  @Field(() => Date, { nullable: true, description: 'When the settings were last saved; null while they are the defaults.' })
  updatedAt!: Date | null;
}

@ObjectType({ description: 'What updateInvoiceSettings answers.' })
export class InvoiceSettingsPayload {
  @Field(() => InvoiceSettings, { description: 'The settings as stored after the change.' })
  invoiceSettings!: InvoiceSettings;
}

@InputType({ description: 'How invoice numbers look.' })
export class InvoiceNumberingInput {
  @Field({ description: '1 to 12 characters of A–Z, 0–9 and "-", not ending with "-", such as "INV".' })
  prefix!: string;

  @Field(() => Boolean, { nullable: true, description: 'Put the UTC year after the prefix and start again at 1 each year; false when left out.' })
  yearlyReset?: boolean | null;

  @Field(() => Int, { nullable: true, description: 'Minimum digits, 1 to 12; 6 when left out.' })
  padding?: number | null;
}

@InputType({ description: 'The tenant’s invoice settings, replaced whole: an optional field left out returns to its default.' })
export class UpdateInvoiceSettingsInput {
  @Field(() => InvoiceNumberingInput, {
    description: 'The numbering of the next finalisations. A new prefix starts its own series; going back to an earlier one continues that series.',
  })
  numbering!: InvoiceNumberingInput;

  @Field(() => Int, { nullable: true, description: 'Terms of new drafts given neither dueDate nor paymentTermsDays, 0 to 3650 days; 30 when left out.' })
  defaultPaymentTermsDays?: number | null;

  @Field({ description: 'The name invoices are issued under, 1 to 200 characters.' })
  sellerName!: string;

  @Field(() => [String], { nullable: true, description: 'The address as it should be printed: at most 6 lines of 1 to 200 characters.' })
  sellerAddress?: string[] | null;

  @Field(() => String, { nullable: true, description: 'VAT number or other tax id, at most 64 characters.' })
  sellerTaxId?: string | null;

  @Field(() => String, { nullable: true, description: 'Printed at the end of every invoice, at most 1,000 characters.' })
  footer?: string | null;
}
