import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';

/** The reconciliation module's expected failures, each with its public code. */
export const ReconciliationErrors = {
  bankAccountNotFound: (id: string) => notFoundError('Bank account', id),
  statementNotFound: (id: string) => notFoundError('Bank statement', id),
  ledgerAccountNotFound: (id: string) => notFoundError('Ledger account', id),
  // The IBAN itself is not echoed: it is stored only encrypted, and errors reach logs.
  invalidIban: (reasons: string[]) =>
    validationError(`iban is not a valid IBAN (${reasons.join(', ')}); check it against the bank's documents`, {
      field: 'iban',
      reasons,
    }),
  accountNumberRequired: () =>
    validationError('Give the bank account’s iban, or its accountNumber when it has no IBAN; not both, not neither', { field: 'iban' }),
  invalidAccountNumber: () =>
    validationError('accountNumber must hold 4 to 34 letters or digits (other characters are ignored)', { field: 'accountNumber' }),
  numberTaken: (existingId: string | undefined) =>
    new AppError(ErrorCode.ALREADY_EXISTS, 'This tenant already has a bank account with this account number in this currency', {
      field: 'iban',
      ...(existingId ? { id: existingId } : {}),
    }),
  ledgerAccountNotAsset: (id: string, type: string) =>
    validationError(`ledgerAccountId ${id} is a ${type} account; a bank account mirrors an ASSET account (cash at bank)`, {
      field: 'ledgerAccountId',
      type,
    }),
  ledgerAccountCurrency: (id: string, ledgerCurrency: string, currency: string) =>
    validationError(`ledgerAccountId ${id} is in ${ledgerCurrency}, the bank account in ${currency}; give an ASSET account in ${currency}`, {
      field: 'ledgerAccountId',
      ledgerCurrency,
      currency,
    }),
  invalidName: () => validationError('name must be 1 to 200 characters', { field: 'name' }),
  invalidMatchWindow: (max: number) => validationError(`matchWindowBusinessDays must be between 0 and ${max}`, { field: 'matchWindowBusinessDays', max }),
  matchWindowGivenTwice: () =>
    validationError('matchWindowBusinessDays and matching.windowBusinessDays differ; give the window once, in matching.windowBusinessDays', {
      field: 'matching.windowBusinessDays',
    }),
  noMatchingSettingGiven: () =>
    validationError('Give at least one of rules, windowBusinessDays, maxGroupSize and maxGroupCandidates', { field: 'input' }),
  csvMappingRequired: () => validationError('A CSV file needs csvMapping: which columns hold the date, the amount and the rest', { field: 'csvMapping' }),
  csvMappingNotApplicable: (format: string) => validationError(`csvMapping applies to CSV files only, not ${format}; leave it out`, { field: 'csvMapping' }),
  invalidCsvColumn: (field: string) =>
    validationError(`csvMapping.${field} must name a header or give a 0-based column index`, { field: `csvMapping.${field}` }),
  invalidBase64: () => validationError('content is not base64 (encoding BASE64 was given)', { field: 'content' }),
  emptyFile: () => validationError('The file is empty', { field: 'content' }),
  noStatement: (format: string) => validationError(`The ${format} file holds no statement`, { field: 'content' }),
  /** The file names another account or currency: it was meant for another bank account. */
  otherAccount: (bankAccountId: string, found: { account?: string | null; currency?: string | null }, expected: { last4: string; currency: string }) =>
    validationError(
      `The file is for ${describeAccount(found)}, not bank account ${bankAccountId} (…${expected.last4}, ${expected.currency}); import it into its own bank account`,
      { field: 'content', bankAccountId, ...(found.account ? { statementAccountLast4: found.account.slice(-4) } : {}), ...(found.currency ? { statementCurrency: found.currency } : {}) },
    ),
};

function describeAccount(found: { account?: string | null; currency?: string | null }): string {
  const parts = [found.account ? `account …${found.account.slice(-4)}` : null, found.currency ? `currency ${found.currency}` : null].filter(Boolean);
  return parts.length ? parts.join(', ') : 'another account';
}
