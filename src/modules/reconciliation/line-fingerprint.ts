import crypto from 'node:crypto';
import type { ParsedLine, ParsedStatement } from './importers/statement-types';

function sha256(parts: unknown[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts), 'utf8').digest('hex');
}

/**
 * What makes a line the same line in another file. The bank's own identifiers (bank reference or
 * end-to-end id), with the amount and booking date, when it gives them: they survive a re-export
 * whose texts differ. Otherwise the line's whole content.
 */
function basisOf(line: ParsedLine): unknown[] {
  const amount = line.amountMinor.toString();
  if (line.bankReference || line.endToEndId) return ['ref', line.bankReference, line.endToEndId, amount, line.currency, line.bookingDate];
  return [
    'content',
    line.bookingDate,
    line.valueDate,
    amount,
    line.currency,
    line.counterpartyName,
    line.counterpartyAccount,
    line.remittanceInformation,
    line.description,
  ];
}

/**
 * The fingerprint of each line of a statement, unique per bank account in the database. Two lines of
 * one statement with the same basis (two identical coffees on one day, the transactions of a batch
 * entry that share its reference and amount) are told apart by their ordinal among such lines, so
 * both import; the same statement imported again, or an overlapping one that holds that day whole,
 * gives the same ordinals and so the same fingerprints, and nothing is imported twice.
 */
export function lineFingerprints(statement: ParsedStatement): string[] {
  const seen = new Map<string, number>();
  return statement.lines.map((line) => {
    const basis = JSON.stringify(basisOf(line));
    const ordinal = seen.get(basis) ?? 0;
    seen.set(basis, ordinal + 1);
    return sha256([basis, ordinal]);
  });
}

/** What the statement as a whole says: the same statement imported again finds its row by it. */
export function statementFingerprint(statement: ParsedStatement, fingerprints: readonly string[]): string {
  const balance = (b: ParsedStatement['openingBalance']) => (b ? [b.code, b.amountMinor.toString(), b.currency, b.date] : null);
  return sha256([
    statement.format,
    statement.statementId,
    statement.accountIban,
    statement.accountNumber,
    statement.currency,
    statement.fromDate,
    statement.toDate,
    balance(statement.openingBalance),
    balance(statement.closingBalance),
    fingerprints,
  ]);
}
