import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType, Money, Node } from '../../graphql/common.objects';
import { CurrencyScalar } from '../../graphql/scalars';
import { AccountType, EntryDirection, JournalEntryStatus, PostingPhase } from './ledger.types';

registerEnumType(AccountType, { name: 'AccountType', description: 'ASSET and EXPENSE are debit-normal; the rest credit-normal.' });
registerEnumType(EntryDirection, { name: 'EntryDirection' });
registerEnumType(JournalEntryStatus, {
  name: 'JournalEntryStatus',
  description: 'PENDING entries hold funds (pending balances only); POSTED entries book them; VOIDED pending entries released them.',
});
registerEnumType(PostingPhase, {
  name: 'PostingPhase',
  description: 'POSTED postings move posted and pending balances; PENDING postings move pending balances only.',
});

@ObjectType({ description: 'Debit and credit totals of an account and their net in its normal direction.' })
export class Balance {
  @Field(() => Money)
  debits!: Money;

  @Field(() => Money)
  credits!: Money;

  @Field(() => Money, { description: 'Debits minus credits for a debit-normal account, credits minus debits otherwise.' })
  net!: Money;
}

@ObjectType({ description: "An account's balances, with Modern Treasury's meanings." })
export class AccountBalances {
  @Field(() => Balance, { description: 'Posted entries only.' })
  posted!: Balance;

  @Field(() => Balance, { description: 'Posted and pending entries.' })
  pending!: Balance;

  @Field(() => Balance, { description: 'Posted entries, less pending outflows: what may still be spent.' })
  available!: Balance;
}

@ObjectType({ implements: Node, description: 'A ledger account in one currency.' })
export class Account extends Node {
  @Field({ description: 'Unique per tenant, e.g. "1000-cash".' })
  code!: string;

  @Field()
  name!: string;

  @Field(() => AccountType)
  type!: AccountType;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field()
  createdAt!: Date;
}

@ObjectType({ implements: Node, description: 'A balanced set of postings: per currency, debits equal credits.' })
export class JournalEntry extends Node {
  @Field(() => JournalEntryStatus)
  status!: JournalEntryStatus;

  @Field()
  description!: string;

  @Field({ description: 'When the entry counts for balances and reports (as-of queries use it).' })
  effectiveAt!: Date;

  @Field(() => String, { nullable: true, description: 'The caller’s own reference, unique per tenant.' })
  externalRef!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata!: Record<string, unknown> | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'When a pending entry was posted or voided.' })
  resolvedAt!: Date | null;
}

@ObjectType({ implements: Node, description: 'One side of a journal entry on one account. Never changed once written.' })
export class Posting extends Node {
  @Field(() => EntryDirection)
  direction!: EntryDirection;

  @Field(() => PostingPhase)
  phase!: PostingPhase;

  @Field()
  effectiveAt!: Date;
}

@ObjectType()
export class TrialBalanceLine {
  @Field(() => Account)
  account!: Account;

  @Field(() => Money, { description: 'The net posted balance when it is a debit, else zero.' })
  debit!: Money;

  @Field(() => Money, { description: 'The net posted balance when it is a credit, else zero.' })
  credit!: Money;
}

@ObjectType({ description: 'Column totals of one currency. In a sound ledger they are always equal.' })
export class TrialBalanceTotal {
  @Field(() => CurrencyScalar)
  currency!: string;

  @Field(() => Money)
  debits!: Money;

  @Field(() => Money)
  credits!: Money;

  @Field()
  balanced!: boolean;
}

export const TrialBalanceLineConnection = ConnectionType(TrialBalanceLine, 'TrialBalanceLine', {
  totalCount: 'the accounts the trial balance covers',
});

@ObjectType({ description: 'Every account’s net posted balance in a debit or credit column (lines, paged by account code), with totals per currency over all of them.' })
export class TrialBalance {
  @Field()
  asOf!: Date;

  @Field(() => [TrialBalanceTotal], { description: 'Over every account, not only the lines of one page.' })
  totals!: TrialBalanceTotal[];

  @Field({ description: 'True when every currency balances.' })
  balanced!: boolean;
}

@ObjectType()
export class StatementLine {
  @Field(() => Posting)
  posting!: Posting;

  @Field({ description: 'The journal entry’s description.' })
  description!: string;

  @Field(() => Money, { description: 'Net posted balance of the account after this posting.' })
  runningBalance!: Money;
}

export const AccountConnection = ConnectionType(Account, 'Account', { totalCount: 'the accounts the filter lists' });
export const JournalEntryConnection = ConnectionType(JournalEntry, 'JournalEntry', { totalCount: 'the entries the filter lists' });
export const StatementLineConnection = ConnectionType(StatementLine, 'StatementLine', { totalCount: 'the posted postings in [from, to)' });
/** Cursors are places in the account's postings, not entry ids: no totalCount, which would read them all. */
export const AccountJournalEntryConnection = ConnectionType(JournalEntry, 'AccountJournalEntry', {
  description:
    'An account’s journal entries, newest first: by the effective time (then id) of each entry’s newest posting on the account, each entry once. No totalCount: counting would read every posting of the account.',
});

@ObjectType({ description: 'Posted postings of an account between two instants, with running balances.' })
export class AccountStatement {
  @Field(() => Account)
  account!: Account;

  @Field()
  from!: Date;

  @Field()
  to!: Date;

  @Field(() => Money)
  openingBalance!: Money;

  @Field(() => Money)
  closingBalance!: Money;

  @Field(() => StatementLineConnection)
  lines!: InstanceType<typeof StatementLineConnection>;
}

@ObjectType()
export class CreateAccountPayload {
  @Field(() => Account)
  account!: Account;
}

@ObjectType()
export class JournalEntryPayload {
  @Field(() => JournalEntry)
  journalEntry!: JournalEntry;
}

@ObjectType()
export class PostJournalEntriesPayload {
  @Field(() => [JournalEntry])
  journalEntries!: JournalEntry[];
}
