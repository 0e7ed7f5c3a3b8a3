import { assertNever } from './assert';

/**
 * Every expected failure a client can see carries one of these codes in `extensions.code`.
 * The set is part of the public API: codes are added, never renamed.
 */
export enum ErrorCode {
  VALIDATION_FAILED = 'VALIDATION_FAILED',
  NOT_FOUND = 'NOT_FOUND',
  ALREADY_EXISTS = 'ALREADY_EXISTS',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  INSUFFICIENT_FUNDS = 'INSUFFICIENT_FUNDS',
  INVALID_STATE_TRANSITION = 'INVALID_STATE_TRANSITION',
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  IDEMPOTENCY_KEY_IN_USE = 'IDEMPOTENCY_KEY_IN_USE',
  RATE_LIMITED = 'RATE_LIMITED',
  /** A GraphQL document over one of the query limits (depth, cost, aliases, directives, tokens) or an HTTP batch. */
  QUERY_REFUSED = 'QUERY_REFUSED',
  /** A GraphQL document or request body over the size limit (HTTP 413). */
  QUERY_TOO_LARGE = 'QUERY_TOO_LARGE',
  /** The payment gateway refused the operation (a declined card, a refused refund); `details.declineCode` says why. */
  GATEWAY_DECLINED = 'GATEWAY_DECLINED',
  /** The gateway could not be reached or did not answer in time; the operation's outcome is not known yet. */
  GATEWAY_UNAVAILABLE = 'GATEWAY_UNAVAILABLE',
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

export interface ErrorCodeTraits {
  /** HTTP status used when the error ends the whole request (authentication, for example). */
  httpStatus: number;
  /** Whether the same request may succeed when simply sent again later. */
  retryable: boolean;
}

export function errorCodeTraits(code: ErrorCode): ErrorCodeTraits {
  switch (code) {
    case ErrorCode.VALIDATION_FAILED:
      return { httpStatus: 400, retryable: false };
    case ErrorCode.NOT_FOUND:
      return { httpStatus: 404, retryable: false };
    case ErrorCode.ALREADY_EXISTS:
      return { httpStatus: 409, retryable: false };
    case ErrorCode.UNAUTHENTICATED:
      return { httpStatus: 401, retryable: false };
    case ErrorCode.FORBIDDEN:
      return { httpStatus: 403, retryable: false };
    case ErrorCode.INSUFFICIENT_FUNDS:
      return { httpStatus: 422, retryable: false };
    case ErrorCode.INVALID_STATE_TRANSITION:
      return { httpStatus: 409, retryable: false };
    case ErrorCode.IDEMPOTENCY_KEY_REUSED:
      return { httpStatus: 409, retryable: false };
    case ErrorCode.IDEMPOTENCY_KEY_IN_USE:
      return { httpStatus: 409, retryable: true };
    case ErrorCode.RATE_LIMITED:
      return { httpStatus: 429, retryable: true };
    case ErrorCode.QUERY_REFUSED:
      return { httpStatus: 400, retryable: false };
    case ErrorCode.QUERY_TOO_LARGE:
      return { httpStatus: 413, retryable: false };
    case ErrorCode.GATEWAY_DECLINED:
      return { httpStatus: 402, retryable: false };
    case ErrorCode.GATEWAY_UNAVAILABLE:
      return { httpStatus: 503, retryable: true };
    case ErrorCode.SERVICE_UNAVAILABLE:
      return { httpStatus: 503, retryable: true };
    case ErrorCode.INTERNAL_SERVER_ERROR:
      return { httpStatus: 500, retryable: false };
    default:
      return assertNever(code, 'error code');
  }
}

/**
 * An expected failure: a refused input or a business rule. Its message is written for the API user
 * and is shown verbatim; `details` carries machine-readable context (the offending field, limits).
 */
export class AppError extends Error {
  override name = 'AppError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function validationError(message: string, details: Record<string, unknown> = {}): AppError {
  return new AppError(ErrorCode.VALIDATION_FAILED, message, details);
}

export function notFoundError(what: string, id: string): AppError {
  return new AppError(ErrorCode.NOT_FOUND, `${what} ${id} was not found`, { id });
}
