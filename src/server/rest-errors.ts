import type { Response } from 'express';
import { type AppError, errorCodeTraits } from '../common/errors';

/**
 * The error answer of the REST routes beside GraphQL (statement upload, bank notifications, invoice
 * PDFs): `{ error: { code, message, retryable?, details?, requestId } }` with the code's HTTP status
 * (or the one given), never cached.
 */
export function sendRestError(res: Response, error: AppError, headers: Record<string, string> = {}, status?: number): void {
  const { httpStatus, retryable } = errorCodeTraits(error.code);
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
