import type { MatcherPosting, MatcherStatementLine, MatchResult } from '../../src/modules/reconciliation/matcher';

/** A statement line in EUR booked and valued on `date`, without references unless given. */
export function line(id: string, amountMinor: bigint, date: string, extra: Partial<MatcherStatementLine> = {}): MatcherStatementLine {
  return {
    id,
    amountMinor,
    currency: 'EUR',
    bookingDate: date,
    valueDate: date,
    bankReference: null,
    endToEndId: null,
    remittanceInformation: null,
    counterpartyName: null,
    ...extra,
  };
}

/** A posting in EUR effective on `date`, without references unless given. */
export function posting(id: string, amountMinor: bigint, date: string, extra: Partial<MatcherPosting> = {}): MatcherPosting {
  return {
    id,
    journalEntryId: `je_${id}`,
    amountMinor,
    currency: 'EUR',
    effectiveDate: date,
    externalRef: null,
    description: null,
    relatedIds: [],
    ...extra,
  };
}

/** The matches as "rule lineIds=postingIds" strings, and the problems as "kind lineIds=postingIds": easy to compare in a table. */
export function summary(result: MatchResult): { matches: string[]; problems: string[] } {
  return {
    matches: result.matches.map((m) => `${m.rule} ${m.lineIds.join('+')}=${m.postingIds.join('+')}`),
    problems: result.problems.map((p) => `${p.kind} ${p.lineIds.join('+')}=${p.postingIds.join('+')}`),
  };
}

/** Stable JSON for deep comparison of results holding bigints. */
export function canonical(result: MatchResult): string {
  return JSON.stringify(result, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value));
}
