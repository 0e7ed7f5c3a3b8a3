import { ArgsType, ClassType, Field, ID, Int, InterfaceType, ObjectType } from 'type-graphql';
import { idKindOf, type IdKind } from '../common/ids';
import { formatMinorAsDecimal } from '../common/money';
import { encodeCursor, type Page, type PageSizes, ROOT_PAGE_SIZES } from '../common/pagination';
import { BigIntScalar, CurrencyScalar, DecimalScalar } from './scalars';

/**
 * Kinds of id whose objects are Nodes: every object with an id (idempotency records and customer
 * credit movements are not in the schema; a webhook event is only ever seen through its deliveries,
 * as `WebhookDelivery.eventId`, and attempts are listed by number on their delivery).
 */
export type NodeKind = Exclude<IdKind, 'idempotencyRecord' | 'customerCreditMovement' | 'auditEvent' | 'webhookEvent' | 'webhookDeliveryAttempt'>;

/** GraphQL type of each kind of id that is a Node. */
export const NODE_TYPE_NAMES: Record<NodeKind, string> = {
  tenant: 'Tenant',
  apiKey: 'ApiKey',
  oauthClient: 'OAuthClient',
  webhookEndpoint: 'WebhookEndpoint',
  webhookDelivery: 'WebhookDelivery',
  account: 'Account',
  journalEntry: 'JournalEntry',
  posting: 'Posting',
  payment: 'Payment',
  paymentGateway: 'PaymentGateway',
  refund: 'Refund',
  dispute: 'Dispute',
  paymentEvent: 'PaymentEvent',
  payout: 'Payout',
  bankAccount: 'BankAccount',
  bankStatement: 'BankStatement',
  bankStatementLine: 'BankStatementLine',
  reconciliationFlag: 'ReconciliationFlag',
  reconciliationMatch: 'ReconciliationMatch',
  customer: 'Customer',
  invoice: 'Invoice',
  creditNote: 'CreditNote',
  invoicePayment: 'InvoicePayment',
};

@InterfaceType({
  description: 'An object with a globally unique, prefixed id, fetchable with node(id:) and nodes(ids:).',
  resolveType: (value: { id: string }) => {
    const kind = idKindOf(value.id);
    return kind && kind in NODE_TYPE_NAMES ? NODE_TYPE_NAMES[kind as NodeKind] : undefined;
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

@ObjectType({ description: 'Where a page sits in its list (the Relay cursor connection spec).' })
export class PageInfo {
  @Field({
    description:
      'True when items follow this page: paging forward (first), when more remain within the range asked for; paging backward (last/before), when items lie at or after `before`.',
  })
  hasNextPage!: boolean;

  @Field({
    description:
      'True when items precede this page: paging backward (last), when more remain within the range asked for; paging forward (first/after), when items lie at or before `after`.',
  })
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Cursor of the first edge; null for an empty page.' })
  startCursor!: string | null;

  @Field(() => String, { nullable: true, description: 'Cursor of the last edge; null for an empty page.' })
  endCursor!: string | null;
}

export interface Edge<T> {
  cursor: string;
  node: T;
}

export interface Connection<T> {
  edges: Edge<T>[];
  pageInfo: PageInfo;
  /** A getter: the count runs only when a client asks for totalCount. */
  readonly totalCount?: Promise<number>;
}

export interface ConnectionOptions {
  /** What totalCount counts; omitted for lists that no single indexed COUNT gives exactly. */
  totalCount?: string;
  description?: string;
}

/** Builds the Relay connection and edge types for one node type. */
export function ConnectionType<T extends object>(nodeType: ClassType<T>, name: string, options: ConnectionOptions = {}) {
  @ObjectType(`${name}Edge`)
  class EdgeClass {
    @Field({ description: 'Give it as `after` (or `before`) to page on from this item.' })
    cursor!: string;

    @Field(() => nodeType)
    node!: T;
  }

  @ObjectType(`${name}Connection`, { description: options.description })
  class ConnectionClass {
    @Field(() => [EdgeClass])
    edges!: EdgeClass[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }

  if (options.totalCount !== undefined) {
    Field(() => Int, {
      description: `Exact: ${options.totalCount}, whatever the page (one indexed COUNT, run only when asked for).`,
    })(ConnectionClass.prototype, 'totalCount');
  }
  return ConnectionClass;
}

/** `keyOf` must be the same key the page was built with, so edge cursors match pageInfo's. */
export function toConnection<T, N>(
  page: Page<T>,
  keyOf: (item: T) => string,
  toNode: (item: T) => N,
  totalCount?: () => Promise<number>,
): Connection<N> {
  const connection: Connection<N> = {
    edges: page.items.map((item) => ({ cursor: encodeCursor(keyOf(item)), node: toNode(item) })),
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: page.startCursor,
      endCursor: page.endCursor,
    },
  };
  // type-graphql reads a field as a property: a getter keeps the COUNT from running unless selected.
  if (totalCount) Object.defineProperty(connection, 'totalCount', { get: totalCount, enumerable: true });
  return connection;
}

/**
 * Relay's paging arguments of every list; the service validates them (readPageRequest). `first` and
 * `last` together are VALIDATION_FAILED; `after` and `before` together page within the window
 * between them.
 */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: 'Page forward: at most this many items after `after` (1 to the list’s maximum, 500 unless said otherwise). Not with `last`.' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'Cursor: only items after this one.' })
  after?: string | null;

  @Field(() => Int, { nullable: true, description: 'Page backward: at most this many items before `before` (or the end of the list). Not with `first`.' })
  last?: number | null;

  @Field(() => String, { nullable: true, description: 'Cursor: only items before this one.' })
  before?: string | null;
}

/**
 * Page sizes of the lists whose default page is not DEFAULT_PAGE_SIZE, by "Type.field": the services
 * page with them and the query cost limit counts them when a request gives neither first nor last.
 */
const LIST_PAGE_SIZES = new Map<string, PageSizes>();

export function listPageSizes(typeAndField: string, sizes: PageSizes): PageSizes {
  LIST_PAGE_SIZES.set(typeAndField, sizes);
  return sizes;
}

export function pageSizesOf(typeName: string, fieldName: string): PageSizes {
  return LIST_PAGE_SIZES.get(`${typeName}.${fieldName}`) ?? ROOT_PAGE_SIZES;
}
