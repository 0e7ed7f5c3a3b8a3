import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type { DataSource } from 'typeorm';
import type { GraphQLErrorShape } from './graphql-client';

/** The `extensions.idempotency` a replayed response carries. */
export interface IdempotencyExtension {
  key?: string;
  replayed: boolean;
  fields?: { field: string; key: string }[];
}

/** One HTTP answer with what GraphQLClient leaves out: the response extensions and the data as sent. */
export interface KeyedResult<TData> {
  status: number;
  data?: TData | null;
  errors?: GraphQLErrorShape[];
  extensions?: { idempotency?: IdempotencyExtension; [key: string]: unknown };
  /** `data` serialised again in the order the server sent it: equal strings mean byte-identical data. */
  dataText: string;
}

const printed = new WeakMap<object, string>();

/**
 * Sends a typed document over real HTTP with a given credential and extra headers (Idempotency-Key),
 * and keeps the response's extensions, which the idempotency tests read.
 */
export async function sendKeyed<TData, TVariables>(
  url: string,
  apiKey: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  headers: Record<string, string> = {},
): Promise<KeyedResult<TData>> {
  let query = printed.get(document);
  if (!query) {
    query = print(document);
    printed.set(document, query);
  }
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const json = (await response.json()) as Omit<KeyedResult<TData>, 'status' | 'dataText'>;
  return { status: response.status, ...json, dataText: JSON.stringify(json.data ?? null) };
}

/** The code of the one error a result carries, or undefined when it has none. */
export function errorCodeOf(result: { errors?: GraphQLErrorShape[] }): string | undefined {
  return result.errors?.length ? String(result.errors[0].extensions?.code) : undefined;
}

/** A first execution: data, no error, and no idempotency extension. */
export function expectFresh(result: KeyedResult<unknown>): void {
  expect(result.errors).toBeUndefined();
  expect(result.extensions?.idempotency).toBeUndefined();
  expect(result.data).toBeTruthy();
}

/** A replay of `first`: the same data, byte for byte, marked `{ key, replayed: true }`. */
export function expectReplayOf(first: KeyedResult<unknown>, replay: KeyedResult<unknown>, key: string): void {
  expect(replay.errors).toBeUndefined();
  expect(replay.extensions?.idempotency).toEqual({ key, replayed: true });
  expect(replay.dataText).toBe(first.dataText);
}

/** The error as a client sees it, without what changes per request (the request id). */
export function errorWithoutRequestId(error: GraphQLErrorShape): GraphQLErrorShape {
  const { requestId: _requestId, ...extensions } = error.extensions ?? {};
  return { ...error, extensions };
}

/** Rows of idempotency_records, read straight from the table. */
export async function idempotencyRows(dataSource: DataSource, key?: string): Promise<Record<string, unknown>[]> {
  return key === undefined
    ? dataSource.query(`SELECT * FROM idempotency_records ORDER BY created_at, id`)
    : dataSource.query(`SELECT * FROM idempotency_records WHERE idempotency_key = ? ORDER BY created_at, id`, [key]);
}

export async function countRows(dataSource: DataSource, table: string, where = '1 = 1', params: unknown[] = []): Promise<number> {
  const [row] = await dataSource.query(`SELECT COUNT(*) AS count FROM ${table} WHERE ${where}`, params);
  return Number(row.count);
}

let keySequence = 0;

/** A fresh, valid idempotency key, unique within the run. */
export function newIdempotencyKey(label = 'key'): string {
  keySequence += 1;
  return `${label}-${process.pid}-${Date.now().toString(36)}-${keySequence}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
