import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { type Client, createClient, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import type { GraphQLErrorShape } from './graphql-client';

/** How a socket ended: its WebSocket close code and reason. */
export interface SocketClosure {
  code: number;
  reason: string;
}

export type SocketResult<TData> = FormattedExecutionResult<TData> & { errors?: GraphQLErrorShape[] };

export function webSocketUrlOf(graphqlUrl: string): string {
  return graphqlUrl.replace(/^http/, 'ws');
}

/** Polls until the condition holds, failing with the description after the timeout. */
export async function waitUntil(condition: () => boolean, description: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting until ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, description: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${description}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One subscription's results as they arrive, and how it ended. */
export class SubscriptionProbe<TData> {
  readonly results: SocketResult<TData>[] = [];
  private consumed = 0;
  private ending: { error?: unknown; completed: boolean } | null = null;
  private readonly listeners = new Set<() => void>();
  unsubscribe: () => void = () => undefined;

  onResult(result: SocketResult<TData>): void {
    this.results.push(result);
    this.notify();
  }

  onEnd(ending: { error?: unknown; completed: boolean }): void {
    this.ending = ending;
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private waitFor<T>(ready: () => T | undefined, description: string, timeoutMs: number): Promise<T> {
    const now = ready();
    if (now !== undefined) return Promise.resolve(now);
    return withTimeout(
      new Promise<T>((resolve) => {
        const listener = () => {
          const value = ready();
          if (value === undefined) return;
          this.listeners.delete(listener);
          resolve(value);
        };
        this.listeners.add(listener);
      }),
      timeoutMs,
      description,
    );
  }

  /** The next result not read yet. */
  next(timeoutMs = 5000): Promise<SocketResult<TData>> {
    return this.waitFor(
      () => {
        if (this.consumed < this.results.length) return this.results[this.consumed++];
        if (this.ending) throw new Error(`The subscription ended (${JSON.stringify(this.ending)}) before another result`);
        return undefined;
      },
      'the next subscription result',
      timeoutMs,
    );
  }

  /** The next `count` results, in order. */
  async take(count: number, timeoutMs = 5000): Promise<SocketResult<TData>[]> {
    const taken: SocketResult<TData>[] = [];
    for (let i = 0; i < count; i += 1) taken.push(await this.next(timeoutMs));
    return taken;
  }

  /** Resolves when the subscription completes or fails. */
  ended(timeoutMs = 5000): Promise<{ error?: unknown; completed: boolean }> {
    return this.waitFor(() => this.ending ?? undefined, 'the subscription to end', timeoutMs);
  }

  get unread(): number {
    return this.results.length - this.consumed;
  }
}

export interface SocketClientOptions {
  /** Sent as `{ authorization }` in connection_init; null sends no payload at all. */
  authorization: string | null;
}

/**
 * A real graphql-ws client (protocol graphql-transport-ws, over the `ws` package) for the API's
 * WebSocket endpoint. It connects at once and never retries, so a refusal shows as its close code.
 */
export class SocketClient {
  readonly client: Client;
  readonly closed: Promise<SocketClosure>;
  readonly connected: Promise<void>;
  private readonly printed = new WeakMap<object, string>();

  constructor(graphqlUrl: string, options: SocketClientOptions) {
    let onClosed: (closure: SocketClosure) => void = () => undefined;
    let onConnected: () => void = () => undefined;
    this.closed = new Promise((resolve) => (onClosed = resolve));
    this.connected = new Promise((resolve) => (onConnected = resolve));
    this.client = createClient({
      url: webSocketUrlOf(graphqlUrl),
      webSocketImpl: WebSocket,
      connectionParams: options.authorization === null ? undefined : { authorization: options.authorization },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined,
      on: {
        connected: () => onConnected(),
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: unknown };
          onClosed({ code, reason: String(reason) });
        },
      },
    });
  }

  static withKey(graphqlUrl: string, credential: string): SocketClient {
    return new SocketClient(graphqlUrl, { authorization: `Bearer ${credential}` });
  }

  waitForClose(timeoutMs = 5000): Promise<SocketClosure> {
    return withTimeout(this.closed, timeoutMs, 'the socket to close');
  }

  private query(document: object): string {
    let query = this.printed.get(document);
    if (!query) {
      query = print(document as Parameters<typeof print>[0]);
      this.printed.set(document, query);
    }
    return query;
  }

  subscribe<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): SubscriptionProbe<TData> {
    const probe = new SubscriptionProbe<TData>();
    probe.unsubscribe = this.client.subscribe<TData>(
      { query: this.query(document), variables: variables as Record<string, unknown> | undefined },
      {
        next: (result) => probe.onResult(result as SocketResult<TData>),
        error: (error) => probe.onEnd({ error, completed: false }),
        complete: () => probe.onEnd({ completed: true }),
      },
    );
    return probe;
  }

  /** A query or mutation over the socket: its one result. */
  async execute<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): Promise<SocketResult<TData>> {
    return this.executeRaw<TData>(this.query(document), variables as Record<string, unknown> | undefined);
  }

  /** Any document text, for tests that go around the typed documents on purpose. */
  async executeRaw<TData = unknown>(query: string, variables?: Record<string, unknown>): Promise<SocketResult<TData>> {
    const probe = new SubscriptionProbe<TData>();
    probe.unsubscribe = this.client.subscribe<TData>(
      { query, variables },
      {
        next: (result) => probe.onResult(result as SocketResult<TData>),
        error: (error) => probe.onEnd({ error, completed: false }),
        complete: () => probe.onEnd({ completed: true }),
      },
    );
    const ending = await probe.ended();
    if (probe.results.length > 0) return probe.results[0];
    // graphql-ws sends refusals before execution as an `error` message: the errors themselves.
    if (Array.isArray(ending.error)) return { errors: ending.error as GraphQLErrorShape[] };
    throw new Error(`The operation ended without a result: ${JSON.stringify(ending)}`);
  }

  async dispose(): Promise<void> {
    await this.client.dispose();
  }
}
