import type { Response } from 'express';
import { AppError, ErrorCode, errorCodeTraits } from '../common/errors';
import { isConnectionError, isStatementTimeout, statementTimeoutError } from '../db/transaction';

/**
 * What a failure outside the resolvers (authentication, a REST route) is shown as: itself when
 * expected, a statement cut off by its time limit, a database outage; null for a bug, which the
 * caller logs in full and masks.
 */
export function expectedErrorOf(error: unknown): AppError | null {
  if (error instanceof AppError) return error;
  if (isStatementTimeout(error)) return statementTimeoutError(error);
  if (isConnectionError(error)) return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable. Retry later.');
  return null;
}

/**
 * The error answer of the REST routes beside GraphQL (statement upload, bank notifications, invoice
 * PDFs): `{ error: { code, message, retryable?, details?, requestId } }` with the code's HTTP status
 * (or the one given), never cached.
 */
export function sendRestError(res: Response, error: AppError, headers: Record<string, string> = {}, status?: number): void {
  const { httpStatus, retryable } = errorCodeTraits(error.code);
  // Counted under reckon_errors_total by the HTTP metrics middleware when the answer is sent.
  res.locals.errorCode = error.code;
  res
    .status(status ?? httpStatus)
    .set({ 'Cache-Control': 'no-store', ...headers })
    .json({
      error: {
        code: error.code,
        message: error.message,
        ...(retryable ? { retryable } : {}),
        ...(Object.keys(error.details).length ? { details: error.details } : {}),
        requestId: res.locals.requestId,
      },
    });
}

/**
 * A quoted-string for a WWW-Authenticate parameter. RFC 6750 §3 allows only printable ASCII without
 * `"` and `\` in error_description and scope; anything else (a typographic apostrophe in a message)
 * would make Node refuse the header and the request end in a 500.
 */
export function quoted(value: string): string {
  return `"${value.replace(/[\u2018\u2019]/g, "'").replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`;
}

/**
 * The headers a refusal of an API-key route carries, as /graphql sends them: RFC 6750's challenge on
 * 401 (bare without credentials, invalid_token otherwise) and 403 (insufficient_scope), Retry-After
 * on a rate limit.
 */
export function refusalHeadersOf(error: AppError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.code === ErrorCode.UNAUTHENTICATED) {
    headers['WWW-Authenticate'] =
      error.details.reason === 'missing' ? 'Bearer realm="reckon"' : `Bearer realm="reckon", error="invalid_token", error_description=${quoted(error.message)}`;
  }
  if (error.code === ErrorCode.FORBIDDEN) {
    const scope = typeof error.details.requiredScope === 'string' ? error.details.requiredScope : '';
    headers['WWW-Authenticate'] = `Bearer realm="reckon", error="insufficient_scope", error_description=${quoted(error.message)}, scope=${quoted(scope)}`;
  }
  if (typeof error.details.retryAfterSeconds === 'number') headers['Retry-After'] = String(error.details.retryAfterSeconds);
  return headers;
}
