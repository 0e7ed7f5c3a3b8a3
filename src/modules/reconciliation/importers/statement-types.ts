/**
 * Shared shapes of issue 10's statement importers (the agreed contract of notes/rec-types.md, with the
 * additions below). Parsing is pure: no database, no GraphQL.
 *
 * Additions to rec-types.md:
 * - ParsedStatement.balanceCheck: opening + sum(lines) against the stated closing balance, reported
 *   and never thrown (the service raises STATEMENT_BALANCE_MISMATCH from it). null when the statement
 *   has no opening or no closing balance, or they are not in the statement's currency.
 *   `excludedLineCount` counts lines left out of the sum because their currency is not the
 *   statement's (a camt entry booked in EUR on a CHF statement): the check cannot convert them.
 * - ParsedStatement.entryCount: the bank's own entries. A camt batch entry with several TxDtls is one
 *   entry but several lines (one per transaction, each with its own amount), so `lines.length` counts
 *   transactions and `entryCount` counts entries; for OFX, MT940 and CSV they are equal.
 * - CsvMapping.remittanceColumns (several columns joined with a space, e.g. GLS's VWZ1..VWZ14) and
 *   CsvMapping.counterpartyAccountColumn.
 *
 * ```ts
 * interface BalanceCheck { expectedClosingMinor: bigint; statedClosingMinor: bigint; differenceMinor: bigint; excludedLineCount: number }
 * interface ParsedStatement { …rec-types.md…; entryCount: number; balanceCheck: BalanceCheck | null }
 * ```
 */

export enum StatementFormat {
  CAMT053 = 'CAMT053',
  CAMT052 = 'CAMT052',
  CAMT054 = 'CAMT054',
  OFX = 'OFX',
  MT940 = 'MT940',
  CSV = 'CSV',
  /** A single-transaction JSON push to POST /bank-accounts/:id/notifications (see transaction-push.ts); not a file format. */
  PUSH = 'PUSH',
}

export interface ParsedBalance {
  /** The bank's own code: OPBD, PRCD, CLBD, CLAV, ITBD… (camt), 60F/60M/62F/62M/64 (MT940), LEDGERBAL/AVAILBAL (OFX). */
  code: string;
  kind: 'OPENING' | 'CLOSING' | 'OTHER';
  /** Signed, from the account holder's view: a credit balance is positive. */
  amountMinor: bigint;
  currency: string;
  date: string | null; // YYYY-MM-DD
}

export interface ParsedLine {
  /** Signed, from the account holder's view: money in (credit) positive, money out (debit) negative. */
  amountMinor: bigint;
  currency: string;
  bookingDate: string | null; // YYYY-MM-DD
  valueDate: string | null; // YYYY-MM-DD
  bankReference: string | null; // camt AcctSvcrRef, OFX FITID, MT940 bank reference (after //)
  endToEndId: string | null; // camt Refs/EndToEndId (not "NOTPROVIDED"), MT940 :86: EREF+
  counterpartyName: string | null;
  counterpartyAccount: string | null; // IBAN or other account id
  remittanceInformation: string | null; // camt Ustrd joined / Strd CdtrRefInf Ref, MT940 :86:, OFX MEMO
  description: string | null; // camt AddtlNtryInf / AddtlTxInf, OFX NAME, CSV description
  status: 'BOOKED' | 'PENDING' | 'INFO';
  /** Where the line came from, for error messages and the fingerprint: "Stmt[0]/Ntry[2]/TxDtls[1]", "line 14". */
  sourceLocation: string;
}

export interface BalanceCheck {
  /** Opening balance plus every line in the statement's currency. */
  expectedClosingMinor: bigint;
  statedClosingMinor: bigint;
  /** stated − expected: zero when the statement reconciles. */
  differenceMinor: bigint;
  /** Lines in another currency than the statement's, left out of the sum. */
  excludedLineCount: number;
}

export interface ParsedStatement {
  format: StatementFormat;
  statementId: string | null; // camt Stmt/Id, MT940 :20:/:28C:, OFX none
  accountIban: string | null;
  accountNumber: string | null; // non-IBAN account id
  currency: string;
  fromDate: string | null;
  toDate: string | null;
  openingBalance: ParsedBalance | null;
  closingBalance: ParsedBalance | null;
  balances: ParsedBalance[];
  lines: ParsedLine[];
  /** The bank's entries: a camt batch entry is one entry and several lines. */
  entryCount: number;
  balanceCheck: BalanceCheck | null;
}

export interface ParsedFile {
  format: StatementFormat;
  statements: ParsedStatement[];
}

/** CSV needs a mapping; the other formats describe themselves. Columns are header texts or 0-based indexes. */
export interface CsvMapping {
  delimiter?: string; // default: detected among , ; \t
  hasHeader?: boolean; // default true; columns may then be named by header text or 0-based index
  skipRows?: number;
  encoding?: 'utf-8' | 'latin1'; // default utf-8 (GLS fixture is Latin-1)
  dateColumn: string | number;
  dateFormat: string; // e.g. 'DD/MM/YYYY', 'YYYY-MM-DD', 'MM/DD/YYYY', 'DD.MM.YYYY', 'M/D/YY'
  valueDateColumn?: string | number;
  amountColumn?: string | number; // signed amount, or
  debitColumn?: string | number; // debit/credit columns (positive numbers)
  creditColumn?: string | number;
  descriptionColumn?: string | number;
  referenceColumn?: string | number;
  counterpartyColumn?: string | number;
  counterpartyAccountColumn?: string | number;
  /** Joined with a space into remittanceInformation (empty cells skipped). */
  remittanceColumns?: Array<string | number>;
  decimalSeparator: '.' | ',';
  thousandsSeparator?: string; // e.g. ',', '.', "'", ' '
  currency: string;
}

export interface ParseOptions {
  csv?: CsvMapping;
}
