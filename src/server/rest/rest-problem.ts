import type { Request, Response } from 'express';
import { AppError, ErrorCode, errorCodeTraits } from '../../common/errors';
import { refusalHeadersOf } from '../rest-errors';

const PUBLIC_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * The HTTP status of an error over REST: the code's own (errors.ts), except IDEMPOTENCY_KEY_REUSED,
 * which is 422 as the IETF Idempotency-Key draft has it (GraphQL over HTTP answers 200 or 409).
 */
export function restStatusOf(code: string): number {
  if (code === ErrorCode.IDEMPOTENCY_KEY_REUSED) return 422;
  return PUBLIC_CODES.has(code) ? errorCodeTraits(code as ErrorCode).httpStatus : 400;
}

/** A problem's title: its code in words ("Not found"). */
export function titleOf(code: string): string {
  const words = code.toLowerCase().replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export interface Problem {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  retryable?: boolean;
}

export function problemOfError(error: AppError): Problem {
  return { code: error.code, message: error.message, details: error.details, retryable: errorCodeTraits(error.code).retryable };
}

/**
 * Answers an RFC 9457 problem (application/problem+json) carrying what GraphQL's extensions carry:
 * the stable `code`, `retryable`, `details` and the request id, with the refusal headers /graphql
 * sends (WWW-Authenticate on 401 and 403, Retry-After on a rate limit). `counted`: the error was
 * already counted and noted by the GraphQL plugins; otherwise the HTTP middleware counts it.
 */
export function sendProblem(req: Request, res: Response, problem: Problem, options: { status?: number; headers?: Record<string, string>; counted?: boolean } = {}): void {
  const status = options.status ?? restStatusOf(problem.code);
  if (!options.counted) res.locals.errorCode = problem.code;
  const details = problem.details && Object.keys(problem.details).length ? problem.details : undefined;
  const refusal = PUBLIC_CODES.has(problem.code) ? refusalHeadersOf(new AppError(problem.code as ErrorCode, problem.message, details ?? {})) : {};
  res
    .status(status)
    .set({ 'Cache-Control': 'no-store', ...refusal, ...options.headers })
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: `urn:reckon:error:${problem.code}`,
        title: titleOf(problem.code),
        status,
        detail: problem.message,
        instance: req.originalUrl.split('?')[0],
        code: problem.code,
        retryable: problem.retryable ?? (PUBLIC_CODES.has(problem.code) ? errorCodeTraits(problem.code as ErrorCode).retryable : false),
        ...(details ? { details } : {}),
        requestId: String(res.locals.requestId),
      }),
    );
}
