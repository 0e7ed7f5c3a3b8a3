import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType } from 'type-graphql';
import { CurrencyScalar, DecimalScalar } from '../../graphql/scalars';
import { AccountType, EntryDirection, JournalEntryStatus } from './ledger.types';

@InputType()
export class CreateAccountInput {
  @Field({ description: 'Unique per tenant; printable ASCII, at most 64 characters.' })
  code!: string;

  @Field()
  name!: string;

  @Field(() => AccountType)
  type!: AccountType;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field(() => Boolean, { nullable: true, description: 'Refuse entries that would take the available balance below zero.' })
  noOverdraft?: boolean | null;

  @Field(() => DecimalScalar, {
    nullable: true,
    description: 'Allow the available balance down to minus this amount, in the account currency.',
  })
  creditLimit?: string | null;
}

@InputType()
export class AccountFilterInput {
  @Field(() => AccountType, { nullable: true, description: 'Accounts of this type.' })
  type?: AccountType | null;

  @Field(() => CurrencyScalar, { nullable: true, description: 'Accounts in this currency.' })
  currency?: string | null;

  @Field(() => String, { nullable: true, description: 'Accounts whose code starts with this, case and all.' })
  codePrefix?: string | null;
}

@InputType({ description: 'Which journal entries journalEntries lists; every field given must match.' })
export class JournalEntryFilterInput {
  @Field(() => ID, { nullable: true, description: 'Entries with a posting on this account (NOT_FOUND if it is not the tenant’s).' })
  accountId?: string | null;

  @Field(() => JournalEntryStatus, { nullable: true, description: 'Entries with this status.' })
  status?: JournalEntryStatus | null;
}

@InputType()
export class JournalLineInput {
  @Field(() => ID)
  accountId!: string;

  @Field(() => EntryDirection)
  direction!: EntryDirection;

  @Field(() => DecimalScalar, { description: 'Positive, with at most the currency’s decimals.' })
  amount!: string;

  @Field(() => CurrencyScalar, { description: 'Must be the account’s currency.' })
  currency!: string;
}

@InputType()
export class PostJournalEntryInput {
  @Field(() => [JournalLineInput], { description: 'Two or more lines; per currency, debits equal credits.' })
  lines!: JournalLineInput[];

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Date, { nullable: true, description: 'Defaults to now.' })
  effectiveAt?: Date | null;

  @Field(() => String, { nullable: true, description: 'Your reference, unique per tenant forever.' })
  externalRef?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'At most 4 KiB of JSON.' })
  metadata?: Record<string, unknown> | null;

  @Field(() => JournalEntryStatus, {
    nullable: true,
    description: 'PENDING holds the amounts (pending balances only) until postPendingJournalEntry or voidPendingJournalEntry; default POSTED.',
  })
  status?: JournalEntryStatus | null;
}

@InputType()
export class PostJournalEntriesInput {
  @Field(() => [PostJournalEntryInput], { description: 'Up to 1,000 entries, written all or nothing.' })
  entries!: PostJournalEntryInput[];
}

@InputType()
export class ReverseJournalEntryInput {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => Date, { nullable: true })
  effectiveAt?: Date | null;

  @Field(() => String, { nullable: true })
  externalRef?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata?: Record<string, unknown> | null;
}

@InputType()
export class PostPendingJournalEntryInput {
  @Field(() => ID)
  id!: string;

  @Field(() => [JournalLineInput], {
    nullable: true,
    description: 'Post in part: balanced lines, each at most what the entry holds on that account and side. Omit to post in full.',
  })
  lines?: JournalLineInput[] | null;

  @Field(() => Date, { nullable: true })
  effectiveAt?: Date | null;
}

@InputType()
export class VoidPendingJournalEntryInput {
  @Field(() => ID)
  id!: string;
}
