import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';
import { ConnectionType, Node } from '../../graphql/common.objects';
import { CurrencyScalar } from '../../graphql/scalars';

@ObjectType({ description: 'A postal address (stored encrypted).' })
export class CustomerAddress {
  @Field({ description: 'Street and number.' })
  line1!: string;

  @Field(() => String, { nullable: true, description: 'Building, floor, c/o; null when not given.' })
  line2!: string | null;

  @Field({ description: 'City or town.' })
  city!: string;

  @Field(() => String, { nullable: true, description: 'Postal code; null when not given.' })
  postalCode!: string | null;

  @Field(() => String, { nullable: true, description: 'State, province or county; null when not given.' })
  region!: string | null;

  @Field({ description: 'ISO 3166-1 alpha-2 country code.' })
  country!: string;
}

@ObjectType({ implements: Node, description: 'Someone the tenant invoices. Email, tax id and address are stored encrypted.' })
export class Customer extends Node {
  @Field({ description: 'The name invoices are addressed to (stored in clear: customers(filter: {name}) searches it).' })
  name!: string;

  @Field(() => String, { nullable: true, description: 'Trimmed and lower-cased; stored encrypted, found through a blind index. Not unique.' })
  email!: string | null;

  @Field(() => String, { nullable: true, description: 'VAT number or other tax id; stored encrypted.' })
  taxId!: string | null;

  @Field(() => CustomerAddress, { nullable: true, description: 'Postal address; stored encrypted.' })
  address!: CustomerAddress | null;

  @Field(() => CurrencyScalar, { nullable: true, description: 'The currency the customer is invoiced in by default.' })
  currency!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'The caller’s own JSON, as given (at most 4 KiB).' })
  metadata!: Record<string, unknown> | null;

  @Field({ description: 'When the customer was created.' })
  createdAt!: Date;

  @Field({ description: 'When the customer was last changed (its creation time until then).' })
  updatedAt!: Date;
}

export const CustomerConnection = ConnectionType(Customer, 'Customer', { totalCount: 'the customers the filter selects' });

@ObjectType({ description: 'What createCustomer and updateCustomer answer.' })
export class CustomerPayload {
  @Field(() => Customer, { description: 'The customer as stored after the change.' })
  customer!: Customer;
}
