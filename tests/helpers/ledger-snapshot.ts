import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { DataSource } from 'typeorm';
import { toBigInt } from '../../src/common/money';
import type { GraphQLClient, GraphQLErrorShape } from './graphql-client';
import type { TestApp } from './harness';
import { assertLedgerInvariants } from './ledger-invariants';

/**
 * What a refused request must leave untouched, read straight from the tables: how many entries,
 * postings and accounts exist, each entry's status, and every account's four stored totals.
 */
export interface LedgerSnapshot {
  journalEntries: number;
  postings: number;
  accounts: number;
  entryStatuses: Record<string, string>;
  accountTotals: Record<string, string>;
}

async function countOf(dataSource: DataSource, table: string): Promise<number> {
  const [row] = await dataSource.query(`SELECT COUNT(*) AS count FROM ${table}`);
  return Number(row.count);
}

export async function takeLedgerSnapshot(dataSource: DataSource): Promise<LedgerSnapshot> {
  const entryRows: Record<string, unknown>[] = await dataSource.query(`SELECT id, status FROM journal_entries ORDER BY id`);
  const accountRows: Record<string, unknown>[] = await dataSource.query(
    `SELECT id, posted_debits_minor, posted_credits_minor, pending_debits_minor, pending_credits_minor FROM accounts ORDER BY id`,
  );
  const accountTotals: Record<string, string> = {};
  for (const row of accountRows) {
    accountTotals[String(row.id)] = [
      row.posted_debits_minor,
      row.posted_credits_minor,
      row.pending_debits_minor,
      row.pending_credits_minor,
    ]
      .map((value) => toBigInt(value).toString())
      .join('/');
  }
  return {
    journalEntries: await countOf(dataSource, 'journal_entries'),
    postings: await countOf(dataSource, 'postings'),
    accounts: await countOf(dataSource, 'accounts'),
    entryStatuses: Object.fromEntries(entryRows.map((row) => [String(row.id), String(row.status)])),
    accountTotals,
  };
}

/**
 * Sends a request that must be refused with exactly one error carrying `code` and the request id, and
 * checks that the ledger's tables are exactly as before and its invariants hold. Returns the error.
 */
export async function expectRefusedUnchanged<TData, TVariables>(
  app: TestApp,
  client: GraphQLClient,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  code: string,
): Promise<GraphQLErrorShape> {
  const before = await takeLedgerSnapshot(app.runtime.dataSource);
  const result = await client.request(document, variables);
  if (!result.errors?.length) throw new Error(`Expected ${code}, got ${JSON.stringify(result.data)}`);
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors;
  expect(error.extensions?.code).toBe(code);
  expect(error.extensions?.requestId).toBe(result.headers.get('x-request-id'));
  expect(error.extensions?.requestId).toMatch(/^req_[0-9A-HJKMNP-TV-Z]{26}$/);
  expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);
  await assertLedgerInvariants(app.runtime.dataSource, app.client);
  return error;
}

/** A USD amount as the API returns it: `usd('-30.00')` is { amount: '-30.00', minorUnits: '-3000', currency: 'USD' }. */
export function usd(amount: string): { amount: string; minorUnits: string; currency: string } {
  if (!/^-?\d+\.\d{2}$/.test(amount)) throw new Error(`usd() takes amounts with two decimals, got ${amount}`);
  return { amount, minorUnits: BigInt(amount.replace('.', '')).toString(), currency: 'USD' };
}

/** Expected balances of a USD account: each triple is [debits, credits, net]. */
export function usdBalances(posted: [string, string, string], pending: [string, string, string], available: [string, string, string]) {
  const balance = ([debits, credits, net]: [string, string, string]) => ({ debits: usd(debits), credits: usd(credits), net: usd(net) });
  return { posted: balance(posted), pending: balance(pending), available: balance(available) };
}
