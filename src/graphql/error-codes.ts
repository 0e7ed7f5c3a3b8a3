import { GraphQLEnumType } from 'graphql';
import { errorCodeCatalog, type ErrorCodeInfo } from '../common/errors';

/** One line for a code: what it means, its HTTP status, whether the same request may succeed later. */
export function describeErrorCode(info: ErrorCodeInfo): string {
  return `${info.meaning} HTTP ${info.httpStatus} when it ends the whole request. ${info.retryable ? 'Retryable' : 'Not retryable'}.`;
}

/**
 * Every value a client can find in an error's `extensions.code`, generated from src/common/errors.ts.
 * No field returns it (errors live outside `data`); the schema carries it so that typed clients get
 * the closed set, with each code's meaning, HTTP status and retryability in its description.
 */
export const ErrorCodeEnum = new GraphQLEnumType({
  name: 'ErrorCode',
  description:
    'The codes of `errors[].extensions.code`. `extensions.retryable` repeats whether sending the same request again (with the same idempotency key) may succeed.',
  values: Object.fromEntries(errorCodeCatalog().map((info) => [info.code, { value: info.code, description: describeErrorCode(info) }])),
});
