import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; requestId?: string; details?: Record<string, unknown>; [key: string]: unknown };
}

export interface GraphQLResult<TData> {
  status: number;
  data?: TData | null;
  errors?: GraphQLErrorShape[];
  headers: Headers;
}

/**
 * Root fields are nullable (one failing field never nulls its siblings); a document answered without
 * errors has every root field set, which `ok` checks, so its callers see them as non-null.
 */
export type RootFieldsSet<TData> = { [K in keyof TData]: NonNullable<TData[K]> };

/** A real HTTP client for the API, typed by the documents codegen generates from tests/operations. */
export class GraphQLClient {
  private readonly printed = new WeakMap<object, string>();

  constructor(
    readonly url: string,
    private readonly apiKey: string | null,
  ) {}

  withKey(apiKey: string | null): GraphQLClient {
    return new GraphQLClient(this.url, apiKey);
  }

  async request<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
    headers: Record<string, string> = {},
  ): Promise<GraphQLResult<TData>> {
    let query = this.printed.get(document);
    if (!query) {
      query = print(document);
      this.printed.set(document, query);
    }
    return this.raw({ query, variables }, headers) as Promise<GraphQLResult<TData>>;
  }

  /** Sends any body, for tests that go around the typed documents on purpose. */
  async raw(body: unknown, headers: Record<string, string> = {}): Promise<GraphQLResult<unknown>> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as { data?: unknown; errors?: GraphQLErrorShape[] };
    return { status: response.status, data: json.data, errors: json.errors, headers: response.headers };
  }

  /** Like request, but fails the test with the server's errors when there are any. */
  async ok<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): Promise<RootFieldsSet<TData>> {
    const result = await this.request(document, variables);
    if (result.errors?.length || !result.data) {
      throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    }
    const unset = Object.entries(result.data).filter(([, value]) => value === null || value === undefined);
    if (unset.length) throw new Error(`Root fields answered null without an error: ${unset.map(([name]) => name).join(', ')}`);
    return result.data as RootFieldsSet<TData>;
  }

  /** Expects exactly one error and returns its code, failing the test if the request succeeded. */
  async errorCode<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): Promise<string> {
    const result = await this.request(document, variables);
    if (!result.errors?.length) throw new Error(`Expected an error, got ${JSON.stringify(result.data)}`);
    return String(result.errors[0].extensions?.code);
  }
}

/**
 * The root fields a response did set, or null when it set none. Root fields are nullable, so a refused
 * mutation answers `{ data: { capturePayment: null } }` (with its error) rather than `data: null`.
 */
export function setRootFieldsOf(data: unknown): Record<string, unknown> | null {
  if (data === null || data === undefined) return null;
  const set = Object.entries(data as Record<string, unknown>).filter(([, value]) => value !== null && value !== undefined);
  return set.length ? Object.fromEntries(set) : null;
}
