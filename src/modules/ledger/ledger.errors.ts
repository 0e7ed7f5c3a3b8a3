import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';

/** The ledger's expected failures, each with its public code. */
export const LedgerErrors = {
  accountNotFound: (id: string) => notFoundError('Account', id),
  journalEntryNotFound: (id: string) => notFoundError('Journal entry', id),
  accountCodeTaken: (code: string) =>
    new AppError(ErrorCode.ALREADY_EXISTS, `An account with code "${code}" already exists`, { field: 'code', code }),
  externalRefTaken: (externalRef: string) =>
    new AppError(ErrorCode.ALREADY_EXISTS, `A journal entry with externalRef "${echoOfInput(externalRef)}" already exists`, {
      field: 'externalRef',
      externalRef: echoOfInput(externalRef),
    }),
  currencyMismatch: (accountId: string, accountCurrency: string, lineCurrency: string, field: string) =>
    validationError(`${field}: account ${accountId} is in ${accountCurrency}, the line is in ${lineCurrency}`, {
      field,
      accountId,
      accountCurrency,
      lineCurrency,
    }),
  insufficientFunds: (accountId: string, availableMinor: bigint, floorMinor: bigint, currency: string) =>
    new AppError(
      ErrorCode.INSUFFICIENT_FUNDS,
      `Account ${accountId} would go below its limit: the entry needs more than its available balance`,
      { accountId, availableMinorUnits: availableMinor.toString(), floorMinorUnits: floorMinor.toString(), currency },
    ),
  /** `lines` are indexes in the entry's lines; `index` is the entry's place in a postJournalEntries batch, as for the writer's refusals. */
  sameAccount: (field: string, accountId: string, debitLine: number, creditLine: number, entryIndex?: number) =>
    new AppError(
      ErrorCode.SAME_ACCOUNT,
      `${field}: lines ${debitLine} and ${creditLine} debit and credit the same account ${accountId}; ` +
        'an entry moves value between different accounts, so net the two lines or use another account',
      { field, accountId, lines: [debitLine, creditLine], ...(entryIndex === undefined ? {} : { index: entryIndex }) },
    ),
  balanceOverflow: (accountId: string) =>
    validationError(`The entry would take a balance of account ${accountId} past the 64-bit range`, { accountId }),
  notPending: (id: string, status: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Journal entry ${id} is ${status}; only a PENDING entry can be posted or voided`, {
      id,
      status,
    }),
  notReversible: (id: string, status: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Journal entry ${id} is ${status}; only a POSTED entry can be reversed (void a pending one)`, {
      id,
      status,
    }),
  alreadyReversed: (id: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Journal entry ${id} has already been reversed`, { id }),
  postExceedsHold: (id: string, field: string) =>
    validationError(`${field}: a pending entry can be posted for at most the amounts it holds, on the same accounts and sides`, {
      id,
      field,
    }),
};
