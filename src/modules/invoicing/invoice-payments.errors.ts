import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';
import { formatMinorAsDecimal } from '../../common/money';

/** The expected failures of paying invoices and refunding their payments, each with its public code. */
export const InvoicePaymentErrors = {
  invoicePaymentNotFound: (id: string) => notFoundError('Invoice payment', id),
  bankAccountNotFound: (id: string) => notFoundError('Bank account', id),
  notOpen: (id: string, status: string, step: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice ${id} is ${status}; only an OPEN invoice can be ${step}`, { id, status }),
  referenceRequired: () => validationError('reference is required for a bank transfer: give the reference the bank shows for it', { field: 'reference' }),
  bankAccountCurrency: (bankAccountId: string, accountCurrency: string, invoiceCurrency: string) =>
    validationError(`Bank account ${bankAccountId} holds ${accountCurrency}; the invoice is in ${invoiceCurrency}: give a bank account in ${invoiceCurrency}, or none`, {
      field: 'bankAccountId',
      bankAccountId,
      accountCurrency,
      invoiceCurrency,
    }),
  moreThanRemaining: (invoiceId: string, askedMinor: bigint, payableMinor: bigint, currency: string) =>
    validationError(
      `A card payment of ${formatMinorAsDecimal(askedMinor, currency)} ${currency} is more than the ${formatMinorAsDecimal(payableMinor, currency)} ${currency} invoice ${invoiceId} still has to be paid (less card payments in progress); charge at most that`,
      { field: 'amount', invoiceId, amount: formatMinorAsDecimal(askedMinor, currency), payable: formatMinorAsDecimal(payableMinor, currency) },
    ),
  nothingToPay: (invoiceId: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice ${invoiceId} has nothing left to pay by card (card payments in progress may cover it); wait for them to settle`, {
      id: invoiceId,
    }),
  statementLineTaken: (statementLineId: string) =>
    new AppError(ErrorCode.ALREADY_EXISTS, `Statement line ${statementLineId} already paid an invoice; a line pays once`, { statementLineId }),
  refundMethod: (id: string, method: string) =>
    new AppError(
      ErrorCode.INVALID_STATE_TRANSITION,
      `Invoice payment ${id} was paid by ${method}; refund a card payment with refundPayment on its payment, and only BANK_TRANSFER or CASH payments here`,
      { id, method },
    ),
  refundNotSucceeded: (id: string, status: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice payment ${id} is ${status}; only a SUCCEEDED payment can be refunded`, { id, status }),
  refundTooLarge: (id: string, askedMinor: bigint, refundableMinor: bigint, currency: string) =>
    validationError(
      `A refund of ${formatMinorAsDecimal(askedMinor, currency)} ${currency} is more than the ${formatMinorAsDecimal(refundableMinor, currency)} ${currency} invoice payment ${id} can still give back (what it paid and its unused credit, less refunds)`,
      { field: 'amount', id, amount: formatMinorAsDecimal(askedMinor, currency), refundable: formatMinorAsDecimal(refundableMinor, currency) },
    ),
  nothingToRefund: (id: string) =>
    new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Invoice payment ${id} has nothing left to refund (refunded already, or its credit was used by other invoices)`, { id }),
};
