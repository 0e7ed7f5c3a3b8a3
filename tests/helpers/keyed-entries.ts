import type { DataSource } from 'typeorm';
import { toBigInt } from '../../src/common/money';
import { AccountType } from '../../src/modules/ledger/ledger.types';
import type { Services } from '../../src/services/services';

/**
 * Keyed postJournalEntry requests for the fault-tolerance suites (crash, outage, shutdown): each
 * intended entry has its own idempotency key and a description naming it, so the suite can count
 * how many times it reached the database whatever the server answered.
 */

export const POST_KEYED_ENTRY = `mutation PostKeyedEntry($input: PostJournalEntryInput!, $key: String) {
  postJournalEntry(input: $input, idempotencyKey: $key) { journalEntry { id status } }
}`;

export interface Intent {
  index: number;
  key: string;
  description: string;
  debitAccountId: string;
  creditAccountId: string;
  /** Decimal, major units of USD. */
  amount: string;
  amountMinor: bigint;
}

/** `count` transfers between random pairs of `accountIds`, amounts 0.01 to 9.99, deterministic per index. */
export function makeIntents(prefix: string, count: number, accountIds: string[]): Intent[] {
  const intents: Intent[] = [];
  for (let index = 0; index < count; index += 1) {
    const debit = accountIds[index % accountIds.length];
    const credit = accountIds[(index * 7 + 3) % accountIds.length] === debit
      ? accountIds[(index + 1) % accountIds.length]
      : accountIds[(index * 7 + 3) % accountIds.length];
    const amountMinor = BigInt(1 + ((index * 37) % 999));
    intents.push({
      index,
      key: `${prefix}-key-${index}`,
      description: `${prefix}-intent-${index}`,
      debitAccountId: debit,
      creditAccountId: credit,
      amount: `${amountMinor / 100n}.${String(amountMinor % 100n).padStart(2, '0')}`,
      amountMinor,
    });
  }
  return intents;
}

export type Answer =
  | { kind: 'ok'; entryId: string; replayed: boolean }
  | { kind: 'error'; status: number; code: string; retryable: unknown; message: string }
  /** No HTTP answer at all: the connection failed or was cut. The outcome is unknown. */
  | { kind: 'no-answer'; error: string };

/** Sends one intent with its key; never throws. */
export async function postIntent(url: string, apiKey: string, intent: Intent, signal?: AbortSignal): Promise<Answer> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: JSON.stringify({
        query: POST_KEYED_ENTRY,
        variables: {
          key: intent.key,
          input: {
            description: intent.description,
            lines: [
              { accountId: intent.debitAccountId, direction: 'DEBIT', amount: intent.amount, currency: 'USD' },
              { accountId: intent.creditAccountId, direction: 'CREDIT', amount: intent.amount, currency: 'USD' },
            ],
          },
        },
      }),
      signal,
    });
    text = await response.text();
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { kind: 'no-answer', error: cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)) };
  }
  let json: {
    data?: { postJournalEntry?: { journalEntry?: { id: string; status: string } } } | null;
    errors?: { message: string; extensions?: { code?: string; retryable?: unknown } }[];
    extensions?: { idempotency?: { replayed?: boolean } };
  };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    return { kind: 'error', status: response.status, code: 'UNPARSEABLE', retryable: undefined, message: text.slice(0, 200) };
  }
  const entry = json.data?.postJournalEntry?.journalEntry;
  if (!json.errors?.length && entry) return { kind: 'ok', entryId: entry.id, replayed: json.extensions?.idempotency?.replayed === true };
  const error = json.errors?.[0];
  return {
    kind: 'error',
    status: response.status,
    code: String(error?.extensions?.code),
    retryable: error?.extensions?.retryable,
    message: String(error?.message),
  };
}

export interface LedgerFixture {
  tenantId: string;
  apiKey: string;
  accountIds: string[];
}

/** A tenant, its API key and `accounts` USD asset accounts with no limits, made through the services. */
export async function createLedgerFixture(services: Services, accounts = 8): Promise<LedgerFixture> {
  const tenant = await services.tenancy.createTenant('Fault tolerance');
  const { secret } = await services.auth.createApiKey(tenant.id, { name: 'fault-tolerance' });
  const accountIds: string[] = [];
  for (let i = 0; i < accounts; i += 1) {
    const account = await services.ledger.createAccount(tenant.id, { code: `ft-${i}`, name: `Account ${i}`, type: AccountType.ASSET, currency: 'USD' });
    accountIds.push(account.id);
  }
  return { tenantId: tenant.id, apiKey: secret, accountIds };
}

export interface StoredEntry {
  id: string;
  description: string;
  postings: { accountId: string; direction: string; amountMinor: bigint; currency: string; phase: string }[];
}

/** Every journal entry whose description starts with `prefix`, with its postings, read from the tables. */
export async function storedEntries(dataSource: DataSource, prefix: string): Promise<StoredEntry[]> {
  const rows: Record<string, unknown>[] = await dataSource.query(
    `SELECT e.id, e.description, p.account_id, p.direction, p.amount_minor, p.currency, p.phase
       FROM journal_entries e LEFT JOIN postings p ON p.journal_entry_id = e.id
      WHERE e.description LIKE ? ORDER BY e.id, p.id`,
    [`${prefix}-%`],
  );
  const entries = new Map<string, StoredEntry>();
  for (const row of rows) {
    const id = String(row.id);
    let entry = entries.get(id);
    if (!entry) {
      entry = { id, description: String(row.description), postings: [] };
      entries.set(id, entry);
    }
    if (row.account_id !== null) {
      entry.postings.push({
        accountId: String(row.account_id),
        direction: String(row.direction),
        amountMinor: toBigInt(row.amount_minor),
        currency: String(row.currency),
        phase: String(row.phase),
      });
    }
  }
  return [...entries.values()];
}

/**
 * Fails unless each stored entry is one of `intents`, whole (its two postings, as intended), and
 * unless exactly the intents in `expected` are stored, each exactly once. Returns the stored entry id
 * of each intent.
 */
export function expectEachIntentOnceAndWhole(stored: StoredEntry[], intents: Intent[], expected: Set<number>): Map<number, string> {
  const byDescription = new Map(intents.map((intent) => [intent.description, intent]));
  const idByIntent = new Map<number, string>();
  const problems: string[] = [];
  for (const entry of stored) {
    const intent = byDescription.get(entry.description);
    if (!intent) {
      problems.push(`entry ${entry.id} (${entry.description}) matches no intent`);
      continue;
    }
    if (idByIntent.has(intent.index)) problems.push(`intent ${intent.index} is stored twice: ${idByIntent.get(intent.index)} and ${entry.id}`);
    idByIntent.set(intent.index, entry.id);
    const debit = entry.postings.find((p) => p.direction === 'DEBIT');
    const credit = entry.postings.find((p) => p.direction === 'CREDIT');
    const whole =
      entry.postings.length === 2 &&
      debit?.accountId === intent.debitAccountId &&
      credit?.accountId === intent.creditAccountId &&
      debit.amountMinor === intent.amountMinor &&
      credit.amountMinor === intent.amountMinor &&
      entry.postings.every((p) => p.phase === 'POSTED' && p.currency === 'USD');
    if (!whole) problems.push(`entry ${entry.id} of intent ${intent.index} is not whole: ${entry.postings.length} postings`);
  }
  for (const index of expected) if (!idByIntent.has(index)) problems.push(`intent ${index} is missing`);
  for (const index of idByIntent.keys()) if (!expected.has(index)) problems.push(`intent ${index} is stored but was never sent`);
  if (problems.length) throw new Error(`${problems.length} problems:\n${problems.slice(0, 20).join('\n')}`);
  return idByIntent;
}
