import crypto from 'node:crypto';
import type { ParsedBalance, ParsedLine, ParsedStatement } from './importers/statement-types';
import type { StatementHeader, StatementTrailer } from './importers/statement-events';

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
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
 * The fingerprints of one statement's lines, unique per bank account in the database, given one line
 * at a time in file order. Two lines of one statement with the same basis (two identical coffees on
 * one day, the transactions of a batch entry that share its reference and amount) are told apart by
 * their ordinal among such lines, so both import; the same statement imported again, or an
 * overlapping one that holds that day whole, gives the same ordinals and so the same fingerprints,
 * and nothing is imported twice.
 *
 * It remembers a 16-character prefix of each basis's first fingerprint (not the basis), so a
 * statement of a million lines costs tens of megabytes here, not the lines themselves. Two bases that
 * share a prefix only shift each other's ordinals; fingerprints stay distinct since they hash the basis.
 * It also digests the fingerprints in order, which statementFingerprint uses.
 */
export class LineFingerprinter {
  private readonly seen = new Map<string, number>();
  private readonly digest = crypto.createHash('sha256');

  next(line: ParsedLine): string {
    const basis = JSON.stringify(basisOf(line));
    const first = sha256(JSON.stringify([basis, 0]));
    const key = first.slice(0, 16);
    const ordinal = this.seen.get(key) ?? 0;
    this.seen.set(key, ordinal + 1);
    const fingerprint = ordinal === 0 ? first : sha256(JSON.stringify([basis, ordinal]));
    this.digest.update(fingerprint);
    return fingerprint;
  }

  /** The digest of every fingerprint given, in order; call once, after the last line. */
  linesDigest(): string {
    return this.digest.digest('hex');
  }
}

/** The fingerprint of each line of a whole statement (see LineFingerprinter). */
export function lineFingerprints(statement: ParsedStatement): string[] {
  const fingerprinter = new LineFingerprinter();
  return statement.lines.map((line) => fingerprinter.next(line));
}

/** What the statement as a whole says: the same statement imported again finds its row by it. */
export function statementFingerprint(header: StatementHeader, trailer: StatementTrailer, linesDigest: string): string {
  const balance = (b: ParsedBalance | null) => (b ? [b.code, b.amountMinor.toString(), b.currency, b.date] : null);
  return sha256(
    JSON.stringify([
      header.format,
      header.statementId,
      header.accountIban,
      header.accountNumber,
      header.currency,
      trailer.fromDate,
      trailer.toDate,
      balance(trailer.openingBalance),
      balance(trailer.closingBalance),
      linesDigest,
    ]),
  );
}
