import type { DataSource } from 'typeorm';
import { TrialBalanceDocument } from '../generated/graphql';
import { readBalances } from './concurrency';
import type { GraphQLClient } from './graphql-client';
import { type PaymentView, readPayment } from './payment-fixtures';

/** The tables a payment step may write: what a refused step must leave exactly as it was. */
export const PAYMENT_TABLES = ['payments', 'payment_events', 'refunds', 'disputes', 'payouts', 'journal_entries', 'postings', 'accounts'] as const;

function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}

/** Every row of the payment and ledger tables, as plain values, in id order. */
export async function paymentTableRows(dataSource: DataSource): Promise<Record<string, Record<string, unknown>[]>> {
  const snapshot: Record<string, Record<string, unknown>[]> = {};
  for (const table of PAYMENT_TABLES) {
    const rows: Record<string, unknown>[] = await dataSource.query(`SELECT * FROM ${table} ORDER BY id`);
    snapshot[table] = rows.map((row) => Object.fromEntries(Object.entries(row).map(([column, value]) => [column, plain(value)])));
  }
  return snapshot;
}

export interface PaymentWorldSnapshot {
  payment: PaymentView | null;
  trialBalance: unknown;
  balances: unknown;
  rows: Record<string, Record<string, unknown>[]>;
}

/**
 * One payment as the API shows it (with its refunds, disputes, timeline and entries), the tenant's trial
 * balance and account balances, and every row of the payment and ledger tables.
 */
export async function snapshotPaymentWorld(dataSource: DataSource, client: GraphQLClient, paymentId: string | null): Promise<PaymentWorldSnapshot> {
  const { trialBalance } = await client.ok(TrialBalanceDocument, {});
  // asOf is "now" when not given: not part of what a step could change.
  const { asOf: _asOf, ...balanceOnly } = trialBalance;
  return {
    payment: paymentId ? (await readPayment(client, paymentId)) : null,
    trialBalance: balanceOnly,
    balances: Object.fromEntries(await readBalances(client)),
    rows: await paymentTableRows(dataSource),
  };
}

/** Names of every table of the database. */
export async function tableNames(dataSource: DataSource): Promise<string[]> {
  const mysql = dataSource.options.type === 'mysql';
  const tables: { name: string }[] = mysql
    ? await dataSource.query('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name')
    : await dataSource.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  return tables.map((table) => table.name);
}

/**
 * Where a text occurs in the database: every column of every row of the given tables (all tables by
 * default), read as text. Returns "table.column" for each hit.
 */
export async function databaseOccurrencesOf(dataSource: DataSource, needles: string[], tables?: string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const table of tables ?? (await tableNames(dataSource))) {
    const rows: Record<string, unknown>[] = await dataSource.query(`SELECT * FROM ${table}`);
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (value === null || value === undefined) continue;
        const text = Buffer.isBuffer(value) ? value.toString('latin1') : typeof value === 'object' ? JSON.stringify(value) : String(value);
        if (needles.some((needle) => text.includes(needle))) hits.push(`${table}.${column}`);
      }
    }
  }
  return hits;
}
