import { csvRecord, spreadsheetSafe } from '../../common/csv';
import { formatMinorAsDecimal } from '../../common/money';
import type { AccountEntity } from './account.entity';
import type { ExportEntry, ExportPosting } from './ledger-export.service';
import type { TrialBalanceLine } from './ledger.service';
import { AccountType, EntryDirection } from './ledger.types';

/**
 * The layouts of the ledger's exports. The README's Exports section documents the same columns, in
 * the same order: keep them in step.
 */

/** journal-entries.csv: one record per posted posting. */
export const JOURNAL_ENTRIES_CSV_COLUMNS = [
  'date',
  'effective_at',
  'entry_id',
  'description',
  'external_ref',
  'reversal_of',
  'metadata',
  'posting_id',
  'account_id',
  'account_code',
  'account_name',
  'account_type',
  'currency',
  'debit',
  'credit',
  'debit_minor',
  'credit_minor',
] as const;

/** trial-balance.csv: one record per account, with its net posted balance in its debit or credit column. */
export const TRIAL_BALANCE_CSV_COLUMNS = [
  'account_id',
  'account_code',
  'account_name',
  'account_type',
  'currency',
  'debit',
  'credit',
  'debit_minor',
  'credit_minor',
] as const;

export function csvHeader(columns: readonly string[]): string {
  return csvRecord(columns);
}

/** The UTC calendar date of an instant, YYYY-MM-DD. */
function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function journalEntriesCsvRecord({ posting, entry, account }: ExportPosting): string {
  const amount = formatMinorAsDecimal(posting.amountMinor, posting.currency);
  const debit = posting.direction === EntryDirection.DEBIT;
  return csvRecord([
    isoDate(posting.effectiveAt),
    posting.effectiveAt.toISOString(),
    entry.id,
    spreadsheetSafe(entry.description),
    entry.externalRef === null ? '' : spreadsheetSafe(entry.externalRef),
    entry.reversalOfId ?? '',
    entry.metadata === null ? '' : JSON.stringify(entry.metadata),
    posting.id,
    account.id,
    spreadsheetSafe(account.code),
    spreadsheetSafe(account.name),
    account.type,
    posting.currency,
    debit ? amount : '',
    debit ? '' : amount,
    debit ? posting.amountMinor.toString() : '',
    debit ? '' : posting.amountMinor.toString(),
  ]);
}

export function trialBalanceCsvRecord({ account, debitsMinor, creditsMinor }: TrialBalanceLine): string {
  return csvRecord([
    account.id,
    spreadsheetSafe(account.code),
    spreadsheetSafe(account.name),
    account.type,
    account.currency,
    formatMinorAsDecimal(debitsMinor, account.currency),
    formatMinorAsDecimal(creditsMinor, account.currency),
    debitsMinor.toString(),
    creditsMinor.toString(),
  ]);
}

/** The top-level account of each type: the names hledger recognises as account types by themselves. */
const JOURNAL_TOP_LEVEL: Record<AccountType, string> = {
  [AccountType.ASSET]: 'assets',
  [AccountType.LIABILITY]: 'liabilities',
  [AccountType.EQUITY]: 'equity',
  [AccountType.REVENUE]: 'revenues',
  [AccountType.EXPENSE]: 'expenses',
};

/** `%XX` for each UTF-8 byte of the characters `pattern` matches: reversible, and plain ASCII stays readable. */
function percentEncode(text: string, pattern: RegExp): string {
  return text.replace(pattern, (char) =>
    [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

const CONTROL = /\p{Cc}/gu;

/**
 * An account's journal name: `<type>:<code> <name>`, e.g. `assets:SYS-1000-USD Cash at bank (USD)`.
 * The journal format ends an account name at two spaces or a tab, takes `:` as the hierarchy
 * separator and `;` as a comment: in the code, `%`, `:`, `;`, spaces and control characters are
 * percent-encoded, so each code gives one name and two codes never meet in one; in the name, `%`, `:`
 * and `;` are percent-encoded and runs of blanks and control characters become one space.
 */
export function journalAccountName(account: Pick<AccountEntity, 'type' | 'code' | 'name'>): string {
  const code = percentEncode(account.code, /[%:;\s\p{Cc}]/gu);
  const name = percentEncode(account.name.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim(), /[%:;]/g);
  return `${JOURNAL_TOP_LEVEL[account.type]}:${code}${name ? ` ${name}` : ''}`;
}

/**
 * A description on a transaction's first line: one line, with no `;` (which would begin a comment
 * there: written as `,`).
 */
function journalDescription(text: string): string {
  return text.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim().replace(/;/g, ',');
}

/** A tag's value ends at a comma or the end of the line: `%`, `,` and control characters are percent-encoded. */
function tagValue(text: string): string {
  return percentEncode(text, /[%,\p{Cc}]/gu);
}

/** A tag's name is one word before a colon: `%`, `,`, `:` and blanks are percent-encoded. */
function tagName(text: string): string {
  return percentEncode(text, /[%,:\s\p{Cc}]/gu);
}

/** The comment lines at the top of journal.ledger. */
export function journalPreamble(lines: readonly string[]): string {
  return `${lines.map((line) => `; ${line.replace(CONTROL, ' ')}`).join('\n')}\n\n`;
}

/**
 * One posted entry as a journal transaction that hledger and ledger read:
 *
 *     2026-12-07 * (je_…) Payment pay_… captured  ; entry:je_…
 *         ; ref:order-1001
 *         ; reverses:je_…
 *         ; meta.orderId:A-17
 *         assets:SYS-1100-USD Gateway clearing (USD)  12.34 USD
 *         revenues:SYS-4000-USD Revenue (USD)  -12.34 USD
 *
 * The date is the UTC day its postings were booked; the entry id is both the transaction's code and
 * its `entry` tag; debits are positive, credits negative, with exactly the currency's decimals.
 */
export function journalTransaction({ entry, bookedAt, postings }: ExportEntry): string {
  const description = journalDescription(entry.description);
  const lines = [`${isoDate(bookedAt)} * (${entry.id})${description ? ` ${description}` : ''}  ; entry:${entry.id}`];
  if (entry.externalRef !== null) lines.push(`    ; ref:${tagValue(entry.externalRef)}`);
  if (entry.reversalOfId !== null) lines.push(`    ; reverses:${entry.reversalOfId}`);
  for (const [key, value] of Object.entries(entry.metadata ?? {})) {
    lines.push(`    ; meta.${tagName(key)}:${tagValue(typeof value === 'string' ? value : JSON.stringify(value))}`);
  }
  for (const { posting, account } of postings) {
    const signed = posting.direction === EntryDirection.DEBIT ? posting.amountMinor : -posting.amountMinor;
    lines.push(`    ${journalAccountName(account)}  ${formatMinorAsDecimal(signed, posting.currency)} ${posting.currency}`);
  }
  return `${lines.join('\n')}\n\n`;
}
