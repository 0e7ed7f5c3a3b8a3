import {
  type AccountType,
  CreateAccountDocument,
  type CreateAccountInput,
  type JournalLineInput,
  PostJournalEntryDocument,
  type PostJournalEntryInput,
} from '../generated/graphql';
import type { GraphQLClient } from './graphql-client';

let sequence = 0;

/** Creates an account through the API with a unique code unless one is given. */
export async function createAccount(
  client: GraphQLClient,
  overrides: Partial<CreateAccountInput> & { type?: AccountType } = {},
) {
  sequence += 1;
  const input: CreateAccountInput = {
    code: `acct-${process.pid}-${sequence}`,
    name: `Account ${sequence}`,
    type: 'ASSET',
    currency: 'USD',
    ...overrides,
  };
  const { createAccount: payload } = await client.ok(CreateAccountDocument, { input });
  return payload.account;
}

/** A two-line entry: `amount` from `creditId` to `debitId`. */
export function transfer(debitId: string, creditId: string, amount: string, currency = 'USD'): JournalLineInput[] {
  return [
    { accountId: debitId, direction: 'DEBIT', amount, currency },
    { accountId: creditId, direction: 'CREDIT', amount, currency },
  ];
}

export async function postTransfer(
  client: GraphQLClient,
  debitId: string,
  creditId: string,
  amount: string,
  extra: Partial<PostJournalEntryInput> = {},
) {
  const { postJournalEntry } = await client.ok(PostJournalEntryDocument, {
    input: { lines: transfer(debitId, creditId, amount), description: 'transfer', ...extra },
  });
  return postJournalEntry.journalEntry;
}
