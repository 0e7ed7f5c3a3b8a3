import { ImportBankStatementDocument, ReconciliationFlagsDocument, type ReconciliationFlagKind, StatementLineMatchesDocument } from '../generated/graphql';
import type { GraphQLClient } from './graphql-client';
import { createAccount, postTransfer } from './ledger-fixtures';
import { createBankAccount } from './statement-fixtures';

/**
 * Books for matching tests: a bank account with its ledger account and a revenue account to post
 * against, postings dated by days from today, and statements imported from a minimal CSV.
 */

export const CSV_MAPPING = {
  dateColumn: 'Date',
  dateFormat: 'YYYY-MM-DD',
  amountColumn: 'Amount',
  referenceColumn: 'Reference',
  descriptionColumn: 'Text',
  decimalSeparator: '.',
  currency: 'USD',
};

export interface CsvLine {
  date: string;
  amount: string;
  reference?: string;
  text?: string;
}

export interface Books {
  bankAccountId: string;
  bankLedgerId: string;
  otherId: string;
}

/** The day `offset` calendar days from today (negative: in the past), as YYYY-MM-DD. */
export const daysFromToday = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

export async function books(client: GraphQLClient): Promise<Books> {
  const bank = await createBankAccount(client, { currency: 'USD' });
  const other = await createAccount(client, { type: 'REVENUE', currency: 'USD' });
  return { bankAccountId: bank.id, bankLedgerId: bank.ledgerAccount.id, otherId: other.id };
}

/** Money in (a DEBIT to the bank's ledger account) or out (amount starting with '-'), effective on that day; returns the bank-side posting id. */
export async function post(client: GraphQLClient, b: Pick<Books, 'bankLedgerId' | 'otherId'>, amount: string, day: string, externalRef?: string): Promise<string> {
  const out = amount.startsWith('-');
  const value = out ? amount.slice(1) : amount;
  const entry = await postTransfer(client, out ? b.otherId : b.bankLedgerId, out ? b.bankLedgerId : b.otherId, value, {
    effectiveAt: `${day}T12:00:00.000Z`,
    description: 'transfer',
    ...(externalRef ? { externalRef } : {}),
  });
  return entry.postings.find((p) => p.account.id === b.bankLedgerId)!.id;
}

export async function importCsv(client: GraphQLClient, bankAccountId: string, lines: CsvLine[]) {
  const content = ['Date,Amount,Reference,Text', ...lines.map((l) => `${l.date},${l.amount},${l.reference ?? ''},${l.text ?? ''}`)].join('\n') + '\n';
  const { importBankStatement } = await client.ok(ImportBankStatementDocument, { input: { bankAccountId, format: 'CSV', content, csvMapping: CSV_MAPPING } });
  return importBankStatement;
}

export async function linesOf(client: GraphQLClient, statementId: string) {
  const { bankStatement } = await client.ok(StatementLineMatchesDocument, { id: statementId, first: 100 });
  return bankStatement.lines.edges.map((e) => e.node);
}

/** The bank account's flags of a kind (every one when kind is absent), oldest first. */
export async function flagsOf(client: GraphQLClient, bankAccountId: string, kind?: ReconciliationFlagKind) {
  const { reconciliationFlags } = await client.ok(ReconciliationFlagsDocument, { first: 100, filter: { bankAccountId, ...(kind ? { kind } : {}) } });
  return reconciliationFlags.edges.map((e) => e.node);
}

/** Reads until `done` holds: for work that runs after a commit (matching a posting once it is written). */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
