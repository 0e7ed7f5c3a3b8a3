/** Plain domain types of the ledger, shared by the service, the writer and the GraphQL layer. */

export enum AccountType {
  ASSET = 'ASSET',
  LIABILITY = 'LIABILITY',
  EQUITY = 'EQUITY',
  REVENUE = 'REVENUE',
  EXPENSE = 'EXPENSE',
}

export enum EntryDirection {
  DEBIT = 'DEBIT',
  CREDIT = 'CREDIT',
}

export enum JournalEntryStatus {
  /** An authorization: moves pending balances only. */
  PENDING = 'PENDING',
  POSTED = 'POSTED',
  /** A pending entry released without posting. Posted entries are reversed, never voided. */
  VOIDED = 'VOIDED',
}

/**
 * Which balances a posting moves. POSTED postings move posted and pending balances; PENDING postings
 * move pending balances only. A PENDING posting with a negative amount releases (part of) an earlier
 * hold when its entry is posted or voided, so postings stay append-only.
 */
export enum PostingPhase {
  PENDING = 'PENDING',
  POSTED = 'POSTED',
}

export function normalBalanceOf(type: AccountType): EntryDirection {
  return type === AccountType.ASSET || type === AccountType.EXPENSE ? EntryDirection.DEBIT : EntryDirection.CREDIT;
}

/** Debit and credit totals of one account in minor units. */
export interface DebitsCredits {
  debitsMinor: bigint;
  creditsMinor: bigint;
}

/** The four running totals stored on every account row; pending totals include posted ones. */
export interface AccountTotals {
  postedDebitsMinor: bigint;
  postedCreditsMinor: bigint;
  pendingDebitsMinor: bigint;
  pendingCreditsMinor: bigint;
}

/**
 * The three balances in Modern Treasury's meanings: posted (posted entries), pending (posted and
 * pending entries) and available (posted, less pending outflows: pending debits for a credit-normal
 * account, pending credits for a debit-normal one).
 */
export function balancesOf(totals: AccountTotals, normal: EntryDirection): {
  posted: DebitsCredits;
  pending: DebitsCredits;
  available: DebitsCredits;
} {
  const posted = { debitsMinor: totals.postedDebitsMinor, creditsMinor: totals.postedCreditsMinor };
  const pending = { debitsMinor: totals.pendingDebitsMinor, creditsMinor: totals.pendingCreditsMinor };
  const available =
    normal === EntryDirection.DEBIT
      ? { debitsMinor: totals.postedDebitsMinor, creditsMinor: totals.pendingCreditsMinor }
      : { debitsMinor: totals.pendingDebitsMinor, creditsMinor: totals.postedCreditsMinor };
  return { posted, pending, available };
}

export function netOf(amounts: DebitsCredits, normal: EntryDirection): bigint {
  return normal === EntryDirection.DEBIT ? amounts.debitsMinor - amounts.creditsMinor : amounts.creditsMinor - amounts.debitsMinor;
}
