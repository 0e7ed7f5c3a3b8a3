import { ApolloServerErrorCode, unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { AssertionError } from '../common/assert';
import { withShortEchoes } from '../common/echo';
import { AppError, ErrorCode, errorCodeTraits } from '../common/errors';
import { isConnectionError, isStatementTimeout, statementTimeoutError } from '../db/transaction';

/** Codes Apollo and graphql-js give to malformed requests; shown to clients as they are. */
const REQUEST_ERROR_CODES = new Set<string>([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
]);

const PUBLIC_CODES = new Set<string>(Object.values(ErrorCode));

/** True when the error is not one we expected: a bug or an outage to log in full. */
export function isInternalError(error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof AppError) return false;
  if (original instanceof AssertionError) return true;
  const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
  if (typeof code === 'string' && (REQUEST_ERROR_CODES.has(code) || PUBLIC_CODES.has(code) || code === ApolloServerErrorCode.BAD_USER_INPUT)) {
    return code === ErrorCode.INTERNAL_SERVER_ERROR;
  }
  return true;
}

/**
 * The one place errors become what clients see. Expected errors keep their message, code and
 * details; variables that fail to coerce become VALIDATION_FAILED; everything else is masked to
 * INTERNAL_SERVER_ERROR with no message, stack or SQL. The request id is added by the request plugin.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const unwrapped = unwrapResolverError(error);
  // A statement stopped by its time limit, or cancelled with its request, outside runInTransaction.
  const original = !(unwrapped instanceof AppError) && isStatementTimeout(unwrapped) ? statementTimeoutError(unwrapped) : unwrapped;
  if (original instanceof AppError) {
    return {
      message: original.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: {
        code: original.code,
        retryable: errorCodeTraits(original.code).retryable,
        ...(Object.keys(original.details).length ? { details: original.details } : {}),
      },
    };
  }
  if (isConnectionError(original)) {
    return {
      message: 'The database is unavailable. Retry later.',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryable: true },
    };
  }
  const code = formatted.extensions?.code;
  // A request id set where the error was raised (authentication, before any context) is kept, masked
  // errors included: it is what ties the client's report to the full error in the log.
  const requestId = formatted.extensions?.requestId;
  if (!isInternalError(error) && typeof code === 'string') {
    const publicCode = code === ApolloServerErrorCode.BAD_USER_INPUT ? ErrorCode.VALIDATION_FAILED : code;
    // Set where the error was raised (a refusal before any resolver, app.ts): kept, so that a client
    // can tell a retryable refusal (SERVICE_UNAVAILABLE, RATE_LIMITED) from a final one.
    const retryable = formatted.extensions?.retryable;
    return {
      // graphql-js quotes the client's whole value in its coercion and parse messages.
      message: withShortEchoes(formatted.message),
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: publicCode, ...(typeof retryable === 'boolean' ? { retryable } : {}), ...(requestId ? { requestId } : {}) },
    };
  }
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, retryable: false, ...(requestId ? { requestId } : {}) },
  };
}
