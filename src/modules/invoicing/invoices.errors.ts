import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';

/** The invoices' expected failures, each with its public code. */
export const InvoiceErrors = {
  invoiceNotFound: (id: string) => notFoundError('Invoice', id),
  notDraft: (id: string, status: string, step: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice ${id} is ${status}; only a DRAFT invoice can be ${step}`, { id, status }),
  versionChanged: (id: string, expectedVersion: number, currentVersion: number) =>
    new AppError(
      ErrorCode.PRECONDITION_FAILED,
      `Invoice ${id} has changed since version ${expectedVersion} was read: it is at version ${currentVersion}. Nothing was changed; read it again and redo the change on what you read.`,
      { id, expectedVersion, currentVersion },
    ),
  invalidDate: (field: string) => validationError(`${field} must be a calendar date written YYYY-MM-DD, such as "2026-12-31"`, { field }),
  dueAndTerms: () => validationError('Give either dueDate or paymentTermsDays, not both', { field: 'dueDate' }),
  invalidTerms: (max: number) => validationError(`paymentTermsDays must be a whole number from 0 to ${max}`, { field: 'paymentTermsDays', max }),
  dueBeforeIssue: (dueDate: string, issueDate: string) =>
    validationError(`dueDate ${dueDate} is before the issue date ${issueDate} (today, when the invoice is finalised)`, { field: 'dueDate', dueDate, issueDate }),
  emptyDateRange: (field: string, from: string, to: string) =>
    validationError(`${field} ${from} is after ${field.replace(/From$/, 'To')} ${to}; give a range whose start is not after its end`, { field, from, to }),
  noLines: () => validationError('An invoice has at least one line', { field: 'lines' }),
  nothingToChange: () => validationError('Give at least one field to change besides invoiceId', { field: 'input' }),
  currencyRequired: () => validationError('currency cannot be cleared: an invoice always has a currency', { field: 'currency' }),
  customerIdRequired: () => validationError('customerId cannot be cleared: an invoice always has a customer', { field: 'customerId' }),
};
