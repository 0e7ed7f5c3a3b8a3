import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, notFoundError } from '../../common/errors';
import type { DeclineCode } from './gateways/payment-gateway';

/** The payments module's expected failures, each with its public code. */
export const PaymentErrors = {
  paymentNotFound: (id: string) => notFoundError('Payment', id),
  gatewayNotFound: (id: string) => notFoundError('Payment gateway', id),
  disputeNotFound: (id: string) => notFoundError('Dispute', id),
  noGatewayForCurrency: (currency: string) =>
    new AppError(ErrorCode.VALIDATION_FAILED, `No payment gateway of this tenant takes ${currency}; create one, or name one with gatewayId`, {
      field: 'gatewayId',
      currency,
    }),
  gatewayCurrencyMismatch: (gatewayId: string, currency: string) =>
    new AppError(ErrorCode.VALIDATION_FAILED, `Payment gateway ${gatewayId} does not take ${currency}`, { field: 'currency', gatewayId, currency }),
  externalRefTaken: (externalRef: string) =>
    new AppError(ErrorCode.ALREADY_EXISTS, `A payment with externalRef "${echoOfInput(externalRef)}" already exists`, {
      field: 'externalRef',
      externalRef: echoOfInput(externalRef),
    }),
  payoutRefTaken: (externalRef: string) =>
    new AppError(ErrorCode.ALREADY_EXISTS, `A payout with externalRef "${echoOfInput(externalRef)}" already exists`, {
      field: 'externalRef',
      externalRef: echoOfInput(externalRef),
    }),
  declined: (operation: string, declineCode: DeclineCode, message: string, ids: Record<string, string>) =>
    new AppError(ErrorCode.GATEWAY_DECLINED, `The gateway declined the ${operation}: ${message}`, { declineCode, ...ids }),
  outcomeUnknown: (operation: string, ids: Record<string, string>) =>
    new AppError(
      ErrorCode.GATEWAY_UNAVAILABLE,
      `The gateway did not confirm the ${operation} in time; its outcome is not known yet. Retry with the same idempotency key, ` +
        'or read the payment: Reckon checks with the gateway and settles it. It will never be done twice.',
      { operation, ...ids },
    ),
  keyReused: (operation: string) =>
    new AppError(
      ErrorCode.IDEMPOTENCY_KEY_REUSED,
      `This idempotency key was used for a ${operation} with other arguments, whose gateway call is under way or done; nothing was changed`,
      { operation },
    ),
};
