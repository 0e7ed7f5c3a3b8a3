import type { DataSource } from 'typeorm';
import { toBigInt } from '../../src/common/money';
import { TrialBalanceDocument } from '../generated/graphql';
import type { GraphQLClient } from './graphql-client';

export interface InvariantReport {
  accounts: number;
  postings: number;
}

/**
 * The ledger's invariants, read straight from the tables (not through the code under test):
 * - per currency, posted debits equal posted credits, and so do all postings (pending included);
 * - every account's four stored totals equal the sums of its postings;
 * - every entry's postings balance per currency and phase.
 * Throws with the first difference found. Optionally also checks the trial balance through the API.
 */
export async function assertLedgerInvariants(dataSource: DataSource, client?: GraphQLClient): Promise<InvariantReport> {
  const perCurrency: Record<string, unknown>[] = await dataSource.query(
    `SELECT currency, phase, direction, SUM(amount_minor) AS total FROM postings GROUP BY currency, phase, direction`,
  );
  const sums = new Map<string, bigint>();
  for (const row of perCurrency) {
    const key = `${row.currency}|${row.phase}`;
    const sign = row.direction === 'DEBIT' ? 1n : -1n;
    sums.set(key, (sums.get(key) ?? 0n) + sign * toBigInt(row.total));
  }
  for (const [key, difference] of sums) {
    if (difference !== 0n) throw new Error(`Debits and credits differ by ${difference} minor units for ${key}`);
  }

  const unbalancedEntries: Record<string, unknown>[] = await dataSource.query(
    `SELECT journal_entry_id, currency, phase,
            SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE -amount_minor END) AS difference
       FROM postings GROUP BY journal_entry_id, currency, phase
     HAVING SUM(CASE WHEN direction = 'DEBIT' THEN amount_minor ELSE -amount_minor END) <> 0`,
  );
  if (unbalancedEntries.length) throw new Error(`Unbalanced entries: ${JSON.stringify(unbalancedEntries, replacer)}`);

  const accounts: Record<string, unknown>[] = await dataSource.query(
    `SELECT a.id, a.posted_debits_minor, a.posted_credits_minor, a.pending_debits_minor, a.pending_credits_minor,
            COALESCE(SUM(CASE WHEN p.phase = 'POSTED' AND p.direction = 'DEBIT' THEN p.amount_minor END), 0) AS posted_debits,
            COALESCE(SUM(CASE WHEN p.phase = 'POSTED' AND p.direction = 'CREDIT' THEN p.amount_minor END), 0) AS posted_credits,
            COALESCE(SUM(CASE WHEN p.direction = 'DEBIT' THEN p.amount_minor END), 0) AS pending_debits,
            COALESCE(SUM(CASE WHEN p.direction = 'CREDIT' THEN p.amount_minor END), 0) AS pending_credits
       FROM accounts a LEFT JOIN postings p ON p.account_id = a.id
      GROUP BY a.id, a.posted_debits_minor, a.posted_credits_minor, a.pending_debits_minor, a.pending_credits_minor`,
  );
  for (const row of accounts) {
    const pairs: [string, string][] = [
      ['posted_debits_minor', 'posted_debits'],
      ['posted_credits_minor', 'posted_credits'],
      ['pending_debits_minor', 'pending_debits'],
      ['pending_credits_minor', 'pending_credits'],
    ];
    for (const [stored, summed] of pairs) {
      if (toBigInt(row[stored]) !== toBigInt(row[summed])) {
        throw new Error(`Account ${row.id}: stored ${stored}=${row[stored]} but its postings sum to ${row[summed]}`);
      }
    }
  }

  if (client) {
    const { trialBalance } = await client.ok(TrialBalanceDocument, {});
    if (!trialBalance.balanced) throw new Error(`Trial balance does not balance: ${JSON.stringify(trialBalance.totals)}`);
  }
  const [{ count }] = await dataSource.query(`SELECT COUNT(*) AS count FROM postings`);
  return { accounts: accounts.length, postings: Number(count) };
}

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
