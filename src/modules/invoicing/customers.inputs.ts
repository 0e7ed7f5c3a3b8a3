import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType } from 'type-graphql';
import { CurrencyScalar } from '../../graphql/scalars';

@InputType({ description: 'A postal address; stored encrypted.' })
export class CustomerAddressInput {
  @Field({ description: 'Street and number, 1 to 200 characters.' })
  line1!: string;

  @Field(() => String, { nullable: true, description: 'At most 200 characters.' })
  line2?: string | null;

  @Field({ description: '1 to 100 characters.' })
  city!: string;

  @Field(() => String, { nullable: true, description: 'At most 20 characters.' })
  postalCode?: string | null;

  @Field(() => String, { nullable: true, description: 'State, province or county; at most 100 characters.' })
  region?: string | null;

  @Field({ description: 'ISO 3166-1 alpha-2 country code, e.g. "DE" (any case).' })
  country!: string;
}

@InputType({ description: 'A new customer: only the name is required.' })
export class CreateCustomerInput {
  @Field({ description: '1 to 200 characters; spaces around it are trimmed. Stored in clear (it is searchable by substring).' })
  name!: string;

  @Field(() => String, { nullable: true, description: 'Stored trimmed and lower-cased, encrypted, with a blind index for customers(filter: {email}). Not unique.' })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'VAT number or other tax id, 1 to 64 characters; stored encrypted.' })
  taxId?: string | null;

  @Field(() => CustomerAddressInput, { nullable: true, description: 'Stored encrypted.' })
  address?: CustomerAddressInput | null;

  @Field(() => CurrencyScalar, { nullable: true, description: 'The currency the customer is invoiced in by default (ISO 4217).' })
  currency?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'At most 4 KiB of JSON.' })
  metadata?: Record<string, unknown> | null;
}

@InputType({ description: 'The fields to change: a field left out keeps its value; null clears an optional one (name cannot be cleared).' })
export class UpdateCustomerInput {
  @Field(() => ID, { description: 'The customer to change (cus_…).' })
  customerId!: string;

  @Field(() => String, { nullable: true, description: '1 to 200 characters; null is refused.' })
  name?: string | null;

  @Field(() => String, { nullable: true, description: 'A new email (normalised and re-indexed); null clears it.' })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'A new tax id, 1 to 64 characters; null clears it.' })
  taxId?: string | null;

  @Field(() => CustomerAddressInput, { nullable: true, description: 'Replaces the whole address.' })
  address?: CustomerAddressInput | null;

  @Field(() => CurrencyScalar, { nullable: true, description: 'A new default invoicing currency; null clears it.' })
  currency?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Replaces the whole metadata object; at most 4 KiB of JSON.' })
  metadata?: Record<string, unknown> | null;
}

@InputType({ description: 'Which customers to list; both given, a customer must match both.' })
export class CustomerFilterInput {
  @Field(() => String, { nullable: true, description: 'Customers whose name contains this text, whatever the case.' })
  name?: string | null;

  @Field(() => String, { nullable: true, description: 'Customers with exactly this email (compared trimmed and lower-cased, through the blind index).' })
  email?: string | null;
}
