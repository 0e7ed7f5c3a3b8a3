import type { Request, Response } from 'express';
import type { GraphQLFormattedError } from 'graphql';

/**
 * GraphQL over HTTP (https://graphql.github.io/graphql-over-http/) answers in one of two media types,
 * chosen by the request's Accept header, and the HTTP status of a refused request depends on it:
 *
 * - `application/graphql-response+json`: a request error (the document does not parse or validate,
 *   the operation cannot be chosen, the variables do not coerce, a query limit refuses it) is 400 and
 *   has no `data` entry.
 * - `application/json` (also for no Accept header, or `*\/*`): the spec's legacy rule, a well-formed
 *   request is answered 200 whatever its GraphQL errors, because a 4xx could come from any proxy in
 *   between and the client could not trust its body.
 *
 * In both, a request that is not well-formed GraphQL over HTTP (a body that is not JSON or not an
 * object, a missing query) is 400; an error during execution (data present) is 200; and the refusals
 * that concern the request rather than the document keep their own status: 401 (no or bad
 * credential), 403 (no scope for anything asked), 413 (too large), 429 (rate limited), 503.
 */
export const APPLICATION_JSON = 'application/json';
export const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json';
export type GraphQLMediaType = typeof APPLICATION_JSON | typeof GRAPHQL_RESPONSE_JSON;

/** Codes of request errors: refusals of a well-formed request before any resolver ran. */
const REQUEST_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  // Variables that do not coerce (Apollo's BAD_USER_INPUT, shown as VALIDATION_FAILED by formatError).
  'VALIDATION_FAILED',
  'QUERY_REFUSED',
]);

/** How much the Accept header wants `mediaType`: the q of the most specific range that matches it. */
function qualityOf(accept: string, mediaType: string): number {
  const [type] = mediaType.split('/');
  let best = { specificity: -1, q: 0 };
  for (const range of accept.split(',')) {
    const [name = '', ...parameters] = range.trim().toLowerCase().split(';');
    const specificity = name === mediaType ? 2 : name === `${type}/*` ? 1 : name === '*/*' ? 0 : -1;
    if (specificity < best.specificity) continue;
    const qParameter = parameters.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParameter ? Number(qParameter.slice(2)) : 1;
    if (specificity > best.specificity) best = { specificity, q: Number.isFinite(q) ? q : 0 };
  }
  return best.q;
}

/**
 * The media type a response is in, as Apollo Server chooses it: application/graphql-response+json
 * only when the client prefers it; application/json without an Accept header, on a tie, or when the
 * client accepts neither (Apollo then answers 406 itself; our own refusals still answer in JSON).
 */
export function responseMediaTypeOf(accept: string | null | undefined): GraphQLMediaType {
  if (!accept) return APPLICATION_JSON;
  return qualityOf(accept, GRAPHQL_RESPONSE_JSON) > qualityOf(accept, APPLICATION_JSON) ? GRAPHQL_RESPONSE_JSON : APPLICATION_JSON;
}

/** True when every error refuses the request before execution (see REQUEST_ERROR_CODES). */
export function areRequestErrors(errors: readonly GraphQLFormattedError[] | undefined): boolean {
  return (
    Boolean(errors?.length) &&
    (errors ?? []).every(
      (error) =>
        REQUEST_ERROR_CODES.has(String(error.extensions?.code)) &&
        // A JSON array body (an HTTP batch) is not a well-formed request at all.
        (error.extensions?.details as { limit?: unknown } | undefined)?.limit !== 'batch',
    )
  );
}

/**
 * The status for a response without data: a request error is 200 under application/json and keeps its
 * 4xx under application/graphql-response+json; anything else keeps its status.
 */
export function statusOfRefusal(mediaType: GraphQLMediaType, status: number, errors: readonly GraphQLFormattedError[]): number {
  return mediaType === APPLICATION_JSON && status === 400 && areRequestErrors(errors) ? 200 : status;
}

/** Sends a GraphQL response with errors only (no data entry), in the media type and status the rule above gives. */
export function sendGraphQLErrors(req: Request, res: Response, status: number, errors: GraphQLFormattedError[]): void {
  const mediaType = responseMediaTypeOf(req.header('accept'));
  // Counted under reckon_errors_total by the HTTP metrics middleware (a refusal before Apollo).
  res.locals.errorCode = errors[0]?.extensions?.code;
  res
    .status(statusOfRefusal(mediaType, status, errors))
    .type(`${mediaType}; charset=utf-8`)
    .send(JSON.stringify({ errors }));
}
