import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';
import { ConnectionType, Node } from '../../graphql/common.objects';
import { CurrencyScalar } from '../../graphql/scalars';

@ObjectType({ description: 'A postal address (stored encrypted).' })
export class CustomerAddress {
  @Field()
  line1!: string;

  @Field(() => String, { nullable: true })
  line2!: string | null;

  @Field()
  city!: string;

  @Field(() => String, { nullable: true })
  postalCode!: string | null;

  @Field(() => String, { nullable: true })
  region!: string | null;

  @Field({ description: 'ISO 3166-1 alpha-2 country code.' })
  country!: string;
}

@ObjectType({ implements: Node, description: 'Someone the tenant invoices. Email, tax id and address are stored encrypted.' })
export class Customer extends Node {
  @Field()
  name!: string;

  @Field(() => String, { nullable: true, description: 'Trimmed and lower-cased.' })
  email!: string | null;

  @Field(() => String, { nullable: true })
  taxId!: string | null;

  @Field(() => CustomerAddress, { nullable: true })
  address!: CustomerAddress | null;

  @Field(() => CurrencyScalar, { nullable: true, description: 'The currency the customer is invoiced in by default.' })
  currency!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata!: Record<string, unknown> | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

export const CustomerConnection = ConnectionType(Customer, 'Customer', { totalCount: 'the customers the filter selects' });

@ObjectType()
export class CustomerPayload {
  @Field(() => Customer)
  customer!: Customer;
}
