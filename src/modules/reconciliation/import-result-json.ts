import { formatMinorAsDecimal } from '../../common/money';
import type { ImportResult } from './reconciliation.service';

function money(minor: bigint | null, currency: string) {
  return minor === null ? null : { amount: formatMinorAsDecimal(minor, currency), minorUnits: minor.toString(), currency };
}

/**
 * An import's result as the REST upload answers it: the fields of importBankStatement's payload, in
 * the same JSON forms (Money objects, BigInt as strings, DateTime as ISO strings).
 */
export function importResultJson(result: ImportResult): Record<string, unknown> {
  return {
    statements: result.statements.map((s) => ({
      id: s.id,
      format: s.format,
      statementReference: s.statementRef,
      fromDate: s.fromDate,
      toDate: s.toDate,
      currency: s.currency,
      openingBalance: money(s.openingBalanceMinor, s.currency),
      closingBalance: money(s.closingBalanceMinor, s.currency),
      lineCount: s.lineCount,
      importedLineCount: s.importedLineCount,
      duplicateLineCount: s.duplicateLineCount,
      confirmedLineCount: s.confirmedLineCount,
      source: s.source,
      importedAt: s.importedAt.toISOString(),
      bankAccount: { id: s.bankAccountId },
    })),
    importedLineCount: result.importedLineCount,
    duplicateLineCount: result.duplicateLineCount,
    confirmedLineCount: result.confirmedLineCount,
    otherAccountStatementCount: result.otherAccountStatementCount,
    flags: result.flags.map((f) => ({
      id: f.id,
      kind: f.kind,
      status: f.status,
      sequence: String(f.sequence),
      details: f.details,
      occurrenceCount: f.occurrenceCount,
      createdAt: f.createdAt.toISOString(),
      updatedAt: f.updatedAt.toISOString(),
      bankAccount: { id: f.bankAccountId },
    })),
  };
}
