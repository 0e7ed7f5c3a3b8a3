import type { EntityManager } from 'typeorm';

/**
 * The INVOICE_NUMBER rule's view of invoicing. Reconciliation does not import the invoicing module:
 * it asks this port (an adapter wired in src/services/services.ts implements it) for the tenant's
 * invoices by number and to record a bank transfer that pays one, inside the matching transaction.
 */

/** What the rule needs to know of an invoice a statement line names. */
export interface RemittanceInvoice {
  id: string;
  number: string;
  /** DRAFT, OPEN, PAID, VOID, UNCOLLECTIBLE: only an OPEN invoice is paid. */
  status: string;
  currency: string;
  /** What the invoice still owes (its one amountRemaining rule), in minor units. */
  amountRemainingMinor: bigint;
}

export interface RemittanceTransfer {
  invoiceId: string;
  /** The statement line's amount: money in, greater than zero. */
  amountMinor: bigint;
  /** The line's (and its bank account's) currency: an invoice in another is not paid. */
  currency: string;
  /** What the bank shows for it: the payment's reference. */
  reference: string;
  /** The line's booking date, YYYY-MM-DD. */
  receivedOn: string;
  /** The line's bank account: the cash posting goes to its ledger account. */
  bankAccountId: string;
  /** One invoice payment per statement line, at most (a unique index holds it). */
  statementLineId: string;
}

export type RemittanceRecordResult =
  | {
      recorded: true;
      /** The invoice as it was when locked, before the payment. */
      before: RemittanceInvoice;
      after: RemittanceInvoice;
      invoicePaymentId: string;
      journalEntryId: string;
      /** Of the amount: what paid the invoice, and what became the customer's credit. */
      appliedMinor: bigint;
      creditedMinor: bigint;
      /** Publishes the entry and the invoice events; call only after the transaction committed. */
      committed: () => void;
    }
  | {
      recorded: false;
      /** The invoice as found under its lock (it changed since it was read: paid, voided…). */
      invoice: RemittanceInvoice;
    };

export interface InvoiceRemittancePort<Context = unknown> {
  /** Reads what recording needs outside the transaction (the chart of accounts in the currency). */
  prepare(tenantId: string, currency: string): Promise<Context>;
  /** The tenant's finalised invoices whose number is one of these (exact, upper case): one statement. */
  findInvoicesByNumbers(manager: EntityManager, tenantId: string, numbers: readonly string[]): Promise<RemittanceInvoice[]>;
  /**
   * Locks the invoice and, when it is OPEN in the transfer's currency, records the transfer as its
   * payment inside the caller's transaction (excess beyond what it owes becomes customer credit);
   * otherwise changes nothing and says what the invoice is now.
   */
  recordBankTransfer(manager: EntityManager, tenantId: string, transfer: RemittanceTransfer, context: Context): Promise<RemittanceRecordResult>;
}

// ---------------------------------------------------------------------------------------------
// Reading invoice numbers out of remittance text

/**
 * An invoice number as issued: a prefix of A–Z, 0–9 and "-" (INV, INV-2026, ACME-EU) joined by "-"
 * to its digits. The prefix is the tenant's own, so any such token is a candidate; the look-up among
 * the tenant's invoices decides.
 */
const NUMBER_LIKE = /^[A-Z0-9]+(?:-[A-Z0-9]+)*-[0-9]+$/;
const HAS_LETTER = /[A-Z]/;
const PLAIN_WORD = /^[A-Z0-9]+$/;
const DIGITS = /^[0-9]+$/;
const MAX_NUMBER_LENGTH = 64;
/** Candidates per text: remittance text is at most a few hundred characters; a text of garbage costs no more. */
export const MAX_CANDIDATES_PER_LINE = 32;

/**
 * The tokens of a statement line's texts that could be invoice numbers (a prefix with a letter in it,
 * "-", digits), upper case: the words as written first, then their tails, then words joined, so that
 * the bound on candidates never drops a number written as issued. Tolerates what customers and banks
 * do to a number: any case ("inv-2026-000042"), punctuation around it ("Nr.:INV-2026-000042,",
 * "EREF+INV-2026-000042", "(INV-2026-000042)"), spaces or a line break around its dashes
 * ("INV-2026- 000042": SEPA remittance wraps at 35 characters) or instead of them ("INV 2026 000042"),
 * and words glued before it with a dash ("PO-77-INV-2026-000042" also yields "INV-2026-000042"). A
 * number whose digits a line break splits, or written without its dashes, is not recognised.
 */
export function invoiceNumberCandidates(...texts: (string | null | undefined)[]): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const add = (token: string) => {
    if (found.length >= MAX_CANDIDATES_PER_LINE || token.length > MAX_NUMBER_LENGTH || seen.has(token) || !NUMBER_LIKE.test(token) || !HAS_LETTER.test(token)) return;
    seen.add(token);
    found.push(token);
  };
  const wordsOf = (text: string) =>
    text
      .toUpperCase()
      // Spaces and line breaks next to a dash are the bank's wrapping, not the customer's separator.
      .replace(/\s*-\s*/g, '-')
      .split(/[^A-Z0-9-]+/)
      .map((word) => word.replace(/^-+|-+$/g, ''))
      .filter((word) => word.length > 0);
  const all = texts.filter((text): text is string => typeof text === 'string' && text.length > 0).map(wordsOf);
  for (const words of all) for (const word of words) add(word);
  // Every dash-separated tail with a letter in it: "PO-77-INV-2026-000042" → "INV-2026-000042".
  for (const words of all) for (const word of words) for (let at = word.indexOf('-'); at >= 0; at = word.indexOf('-', at + 1)) add(word.slice(at + 1));
  // Plain words separated by spaces instead of dashes, ending in digits: "INV 2026 000042".
  for (const words of all) {
    for (let i = 0; i < words.length; i++) {
      for (let span = 2; span <= 3 && i + span <= words.length; span++) {
        const parts = words.slice(i, i + span);
        if (parts.every((part) => PLAIN_WORD.test(part)) && DIGITS.test(parts[span - 1])) add(parts.join('-'));
      }
    }
  }
  return found;
}
