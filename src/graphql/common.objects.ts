import { ArgsType, ClassType, Field, ID, Int, InterfaceType, ObjectType } from 'type-graphql';
import { idKindOf, type IdKind } from '../common/ids';
import { formatMinorAsDecimal } from '../common/money';
import { encodeCursor, type Page } from '../common/pagination';
import { BigIntScalar, CurrencyScalar, DecimalScalar } from './scalars';

/** GraphQL type of each kind of id that is a Node. */
const NODE_TYPE_NAMES: Partial<Record<IdKind, string>> = {
  account: 'Account',
  journalEntry: 'JournalEntry',
  payment: 'Payment',
  paymentGateway: 'PaymentGateway',
  refund: 'Refund',
  dispute: 'Dispute',
  payout: 'Payout',
};

@InterfaceType({
  description: 'An object with a globally unique, prefixed id, fetchable with node(id:).',
  resolveType: (value: { id: string }) => {
    const kind = idKindOf(value.id);
    return kind ? NODE_TYPE_NAMES[kind] : undefined;
  },
})
export abstract class Node {
  @Field(() => ID)
  id!: string;
}

@ObjectType({ description: 'An amount of money: exact minor units, the same value in major units, and its currency.' })
export class Money {
  @Field(() => DecimalScalar, { description: 'Major units as a decimal string, e.g. "12.34".' })
  amount!: string;

  @Field(() => BigIntScalar, { description: 'Minor units as an integer string, e.g. "1234".' })
  minorUnits!: bigint;

  @Field(() => CurrencyScalar)
  currency!: string;
}

export function toMoney(minorUnits: bigint, currency: string): Money {
  return { amount: formatMinorAsDecimal(minorUnits, currency), minorUnits, currency };
}

@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field({ description: 'Always false: lists page forward only.' })
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true })
  startCursor!: string | null;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface Connection<T> {
  edges: Edge<T>[];
  pageInfo: PageInfo;
}

/** Builds the Relay connection and edge types for one node type. */
export function ConnectionType<T extends object>(nodeType: ClassType<T>, name: string) {
  @ObjectType(`${name}Edge`)
  class EdgeClass {
    @Field()
    cursor!: string;

    @Field(() => nodeType)
    node!: T;
  }

  @ObjectType(`${name}Connection`)
  class ConnectionClass {
    @Field(() => [EdgeClass])
    edges!: EdgeClass[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return ConnectionClass;
}

/** `keyOf` must be the same key the page was built with, so edge cursors match pageInfo's. */
export function toConnection<T, N>(page: Page<T>, keyOf: (item: T) => string, toNode: (item: T) => N): Connection<N> {
  return {
    edges: page.items.map((item) => ({ cursor: encodeCursor(keyOf(item)), node: toNode(item) })),
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: false,
      startCursor: page.startCursor,
      endCursor: page.endCursor,
    },
  };
}

/** `first`/`after` of every Relay list; the service validates them (readPageRequest). */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: 'Page size: 1 to 500, default 100.' })
  first?: number | null;

  @Field(() => String, { nullable: true })
  after?: string | null;
}
