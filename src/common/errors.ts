import { assertNever } from './assert';
import { echoOfInput } from './echo';

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
  /** A journal entry debits and credits the same account; `details` names the account and the two lines. */
  SAME_ACCOUNT = 'SAME_ACCOUNT',
  INVALID_STATE_TRANSITION = 'INVALID_STATE_TRANSITION',
  /** The object changed since the caller read it: its If-Match (or expectedVersion) names an older version. */
  PRECONDITION_FAILED = 'PRECONDITION_FAILED',
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
  /** A database statement ran past its time limit, or the request past its deadline, and was cancelled. */
  STATEMENT_TIMEOUT = 'STATEMENT_TIMEOUT',
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
    case ErrorCode.SAME_ACCOUNT:
      return { httpStatus: 422, retryable: false };
    case ErrorCode.INVALID_STATE_TRANSITION:
      return { httpStatus: 409, retryable: false };
    case ErrorCode.PRECONDITION_FAILED:
      return { httpStatus: 412, retryable: false };
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
    case ErrorCode.STATEMENT_TIMEOUT:
      return { httpStatus: 503, retryable: true };
    case ErrorCode.INTERNAL_SERVER_ERROR:
      return { httpStatus: 500, retryable: false };
    default:
      return assertNever(code, 'error code');
  }
}

/**
 * What each code means, for the schema's ErrorCode enum and the README's table (both generated from
 * here): a Record, so a new code does not compile without its meaning.
 */
const ERROR_CODE_MEANINGS: Record<ErrorCode, string> = {
  [ErrorCode.VALIDATION_FAILED]: 'An argument or variable was refused (a bad amount, an unknown currency, a malformed id); `details.field` names it. Nothing was changed.',
  [ErrorCode.NOT_FOUND]: 'No object with this id in the caller’s tenant (another tenant’s objects are reported the same way).',
  [ErrorCode.ALREADY_EXISTS]: 'Something unique is taken (an account code, an externalRef, a webhook URL); `details` names the existing object where it may be shown.',
  [ErrorCode.UNAUTHENTICATED]:
    'No credential, or an unknown, expired or revoked one; also an address locked out after repeated failures from it (with Retry-After: the same credential keeps working from other addresses).',
  [ErrorCode.FORBIDDEN]: 'The credential lacks the scope this field needs; `details.requiredScope` names it.',
  [ErrorCode.INSUFFICIENT_FUNDS]: 'The write would take an account past its limit (no overdraft, or its credit limit). Nothing was written.',
  [ErrorCode.SAME_ACCOUNT]: 'A journal entry debits and credits the same account; `details` names the account and the lines.',
  [ErrorCode.INVALID_STATE_TRANSITION]: 'The object is not in a state that allows this step (capturing a voided payment, posting a pending entry twice).',
  [ErrorCode.PRECONDITION_FAILED]:
    'The object changed since you read it: the version you gave (If-Match over REST, expectedVersion in GraphQL) is not its current one. Nothing was changed; read it again and redo your change on what you read.',
  [ErrorCode.IDEMPOTENCY_KEY_REUSED]: 'The idempotency key was used before with a different input, field or selection. Use a new key for a new operation.',
  [ErrorCode.IDEMPOTENCY_KEY_IN_USE]:
    'A request with this idempotency key is still running. Retry with the same key after a short wait; `details.retryAfterSeconds` is the longest wait (when its claim ends, should its holder have died).',
  [ErrorCode.RATE_LIMITED]: 'Too many requests for this credential or source; retry after the time the Retry-After header gives.',
  [ErrorCode.QUERY_REFUSED]: 'The document is over a query limit (depth, cost, aliases, directives, tokens) or was an HTTP batch; `details` says which.',
  [ErrorCode.QUERY_TOO_LARGE]: 'The document or the request body is over the size limit.',
  [ErrorCode.GATEWAY_DECLINED]: 'The payment gateway refused (a declined card, a refused refund); `details.declineCode` says why. Definitely not done.',
  [ErrorCode.GATEWAY_UNAVAILABLE]: 'The gateway did not answer in time or failed; the outcome is not known yet. Retry with the same idempotency key.',
  [ErrorCode.SERVICE_UNAVAILABLE]: 'The database could not be reached or the write kept losing races; nothing was written. Retry later.',
  [ErrorCode.STATEMENT_TIMEOUT]:
    'A database statement ran past its time limit (or the request past its deadline) and was cancelled; a write it was part of was rolled back. Retry later; for a read, ask for less (a smaller page, a narrower filter).',
  [ErrorCode.INTERNAL_SERVER_ERROR]: 'An unexpected failure, masked: no message, stack or SQL reaches the client; the request id finds it in the log.',
};

/**
 * Codes that graphql-js and Apollo Server give to a request that never reached a resolver (a
 * malformed body, a syntax error, a document the schema refuses, an operationName that names no
 * operation). Clients see them as they are, so they are part of the contract too.
 */
export const REQUEST_ERROR_CODES = {
  GRAPHQL_PARSE_FAILED: {
    httpStatus: 400,
    retryable: false,
    meaning: 'The document is not valid GraphQL syntax.',
  },
  GRAPHQL_VALIDATION_FAILED: {
    httpStatus: 400,
    retryable: false,
    meaning: 'The document does not fit the schema (an unknown field, a wrong argument type, an enum value that does not exist).',
  },
  BAD_REQUEST: {
    httpStatus: 400,
    retryable: false,
    meaning: 'The HTTP request is not a GraphQL request (no query, an unreadable body, a subscription over HTTP).',
  },
  OPERATION_RESOLUTION_FAILURE: {
    httpStatus: 400,
    retryable: false,
    meaning: 'operationName names no operation of the document, or the document has several operations and none was named.',
  },
} as const satisfies Record<string, ErrorCodeTraits & { meaning: string }>;

export interface ErrorCodeInfo extends ErrorCodeTraits {
  code: string;
  meaning: string;
}

/** Every code a client can see in `extensions.code`, ours first, then GraphQL's own. */
/** What a code means, as the README's error table says it. */
export function errorCodeMeaning(code: ErrorCode): string {
  return ERROR_CODE_MEANINGS[code];
}

export function errorCodeCatalog(): ErrorCodeInfo[] {
  return [
    ...Object.values(ErrorCode).map((code) => ({ code, ...errorCodeTraits(code), meaning: ERROR_CODE_MEANINGS[code] })),
    ...Object.entries(REQUEST_ERROR_CODES).map(([code, traits]) => ({ code, ...traits })),
  ];
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
  const echo = echoOfInput(id);
  return new AppError(ErrorCode.NOT_FOUND, `${what} ${echo} was not found`, { id: echo });
}
