import type { ErrorCode } from '../../common/errors';

/**
 * One operation of the REST interface under /v1: an HTTP method and path over one root field of the
 * GraphQL schema. The handler runs that field through the same server, schema, permissions and
 * idempotency as /graphql does (rest.routes.ts), so REST holds no rule of its own: the table below
 * says only how HTTP's pieces (path, query string, body, headers) become the field's arguments and
 * how its answer becomes the response.
 */
export interface RestOperation {
  /** Unique; the OpenAPI operationId and the generated client's name for it. */
  operationId: string;
  method: 'get' | 'post' | 'patch';
  /** The path under /v1, in OpenAPI's form: `/payments/{paymentId}/capture`. */
  path: string;
  /** The GraphQL root field (a Query field for GET, a Mutation field otherwise). */
  field: string;
  /** The OpenAPI tag: the resource the operation belongs to. */
  tag: string;
  summary: string;
  /**
   * Where each path parameter goes: an argument of the field (`id`) or a field of its `input`
   * (`input.paymentId`). Every parameter of `path` is named here.
   */
  params?: Record<string, string>;
  /**
   * Arguments of the field read from the query string: an input object's fields become a query
   * parameter each (`filter` gives `status`, `customerId`, …); a scalar argument keeps its name.
   */
  query?: string[];
  /**
   * A field of the root field's value that is the response instead (`refunds` of a payment,
   * `balances` of an account); path and query parameters may be its arguments.
   */
  through?: string;
  /**
   * For `node`: the type the id must be of. Another kind's id is NOT_FOUND, as another tenant's is.
   */
  as?: string;
  /** The field of a mutation's payload that is the response (`payment`); omitted: the whole payload. */
  returns?: string;
  /**
   * A paged list: the path from the response value to its connection, `[]` when the value is the
   * connection (a list operation). The page comes from `limit`, `starting_after` and `ending_before`.
   */
  paged?: string[];
  /** 201 Created with a Location header: the created object's path under /v1, from the response. */
  created?: (response: Record<string, unknown>) => string;
  /** Codes this operation may answer beyond those every operation may (rest-openapi.ts). */
  errors?: ErrorCode[];
  /** A valid request body, shown in the document and sent by the contract test. */
  example?: Record<string, unknown>;
  /**
   * Optimistic concurrency: the response field that is the object's version, sent as its ETag (`"3"`),
   * which a GET's If-None-Match is compared with (304 when it matches). On a write whose input has
   * `expectedVersion`, If-Match is passed on as it (the service answers 412 when it is stale) and the
   * body does not take it; a write without one refuses If-Match rather than ignore it.
   */
  version?: string;
  /** Said in the document beside the summary. */
  description?: string;
}

/** The id of a created object in a response, for its Location. */
export function idOf(response: Record<string, unknown>): string {
  return encodeURIComponent(String(response.id));
}
