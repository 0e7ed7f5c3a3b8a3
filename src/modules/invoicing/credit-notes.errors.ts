import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';
import { formatMinorAsDecimal } from '../../common/money';

/** Expected failures of credit notes, void and write-off, each with its public code. */
export const CreditNoteErrors = {
  creditNoteNotFound: (id: string) => notFoundError('Credit note', id),
  linesOrAmount: () => validationError('Give either lines (invoice lines to credit) or amount (a tax-inclusive amount to credit), not both and not neither', { field: 'lines' }),
  notCreditable: (invoiceId: string, status: string) =>
    new AppError(
      ErrorCode.INVALID_STATE_TRANSITION,
      status === 'DRAFT'
        ? `Invoice ${invoiceId} is a DRAFT; a draft owes nothing and is simply changed with updateInvoice. Credit notes are for OPEN or PAID invoices`
        : `Invoice ${invoiceId} is ${status}; credit notes are only for OPEN or PAID invoices`,
      { id: invoiceId, status },
    ),
  nothingLeftToCredit: (invoiceId: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice ${invoiceId} has been credited in full already; nothing is left to credit`, { id: invoiceId }),
  aboveWhatIsLeft: (field: string, invoiceId: string, askedMinor: bigint, leftMinor: bigint, currency: string) =>
    validationError(
      `The credit note (${formatMinorAsDecimal(askedMinor, currency)} ${currency}) is more than is left to credit of invoice ${invoiceId}: ` +
        `${formatMinorAsDecimal(leftMinor, currency)} ${currency} (its total less earlier credit notes)`,
      { field, invoiceId, left: formatMinorAsDecimal(leftMinor, currency), currency },
    ),
  rateAboveWhatIsLeft: (rate: string) =>
    validationError(
      `These lines credit more at the ${rate}% tax rate than earlier credit notes of an amount left of it; credit an amount instead`,
      { field: 'lines', rate },
    ),
  creditsNothing: () => validationError('The credit note comes to zero (the lines named are worth nothing); name lines with an amount', { field: 'lines' }),
  notVoidable: (invoiceId: string, status: string, why: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice ${invoiceId} cannot be voided: ${why}`, { id: invoiceId, status }),
  notCollectible: (invoiceId: string, status: string, why: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice ${invoiceId} cannot be marked uncollectible: ${why}`, { id: invoiceId, status }),
};
