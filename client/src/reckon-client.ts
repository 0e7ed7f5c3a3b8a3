/**
 * A small client for the Reckon GraphQL API that retries safely.
 *
 * - One idempotency key per logical call: a mutation whose document declares `$idempotencyKey` gets a
 *   fresh key (or the one you pass) as that variable, and every attempt of the call sends the SAME key,
 *   so a retry after a lost response gets the first result replayed instead of a second write.
 * - Retries what may succeed when sent again: errors the server marks `retryable` (SERVICE_UNAVAILABLE,
 *   IDEMPOTENCY_KEY_IN_USE, GATEWAY_UNAVAILABLE, RATE_LIMITED), 429/502/503/504 answers, dropped
 *   connections, network errors and timed-out attempts; with exponential backoff and jitter, a bounded
 *   number of attempts, and the server's Retry-After hints.
 * - Never retries a mutation sent without a key: the server may have made the change before the
 *   connection dropped, and without a key a second attempt would make it twice.
 * - Everything else surfaces at once as a ReckonError with the server's code, details and request id.
 *
 * It needs only `fetch` (Node 18+, browsers, Deno, Bun). Documents are the typed strings generated into
 * ./generated.ts from examples/operations (or any GraphQL string).
 */

/** What codegen's TypedDocumentString (and DocumentTypeDecoration) look like to the type checker. */
export interface ReckonDocument<TData, TVariables> {
  __apiType?: (variables: TVariables) => TData;
  toString(): string;
}

export type AccessTokenProvider = () => string | Promise<string>;

export interface ReckonClientOptions {
  /** The GraphQL endpoint, e.g. https://reckon.example.com/graphql. */
  url: string;
  /** An API key (`rk_…`), sent as `Authorization: Bearer`. Give this or `accessToken`. */
  apiKey?: string;
  /** Returns a current OAuth access token; called before every attempt, so it may refresh one. */
  accessToken?: AccessTokenProvider;
  /** Attempts per call, the first included (default 6). */
  maxAttempts?: number;
  /** First backoff step (default 200 ms); each retry doubles it, with jitter, up to maxDelayMs. */
  baseDelayMs?: number;
  /** Longest backoff between two attempts (default 5000 ms). */
  maxDelayMs?: number;
  /** Longest wait a server's Retry-After hint may impose (default 60000 ms). */
  maxRetryAfterMs?: number;
  /** One attempt's time limit (default 30000 ms); an attempt past it counts as a dropped connection. */
  timeoutMs?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Called before each retry, e.g. to log it. */
  onRetry?: (retry: RetryInfo) => void;
  /** Makes the idempotency key of a call (default crypto.randomUUID()). */
  newIdempotencyKey?: () => string;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /**
   * The key for this call, when you have a natural one (an order number and its step) or are retrying
   * a call that failed earlier: pass the `idempotencyKey` of its ReckonError to finish it, never a new one.
   */
  idempotencyKey?: string;
  /** Cancels the call, waits between attempts included. */
  signal?: AbortSignal;
}

export interface ReckonResult<TData> {
  data: TData;
  /** The key every attempt of this call carried (mutations with an `$idempotencyKey` variable). */
  idempotencyKey?: string;
  /** True when the server answered from its idempotency record: an earlier attempt had done the work. */
  replayed: boolean;
  /** Requests sent for this call. */
  attempts: number;
}

export interface RetryInfo {
  /** The attempt that just failed (1 for the first). */
  attempt: number;
  delayMs: number;
  error: ReckonError;
  idempotencyKey?: string;
}

export interface GraphQLErrorBody {
  message: string;
  path?: (string | number)[];
  extensions?: {
    code?: string;
    retryable?: boolean;
    requestId?: string;
    details?: Record<string, unknown>;
    [key: string]: unknown;
  };
}

/** Codes of failures that happen before the server answers; they have no request id. */
export const NETWORK_ERROR = 'NETWORK_ERROR';
export const TIMEOUT = 'TIMEOUT';

const RETRYABLE_CODES = new Set(['SERVICE_UNAVAILABLE', 'IDEMPOTENCY_KEY_IN_USE', 'GATEWAY_UNAVAILABLE', 'RATE_LIMITED', NETWORK_ERROR, TIMEOUT]);
const RETRYABLE_HTTP_STATUSES = new Set([429, 502, 503, 504]);

/** A failed call: the server's error (code, details, request id), or a network failure. */
export class ReckonError extends Error {
  override name = 'ReckonError';
  /** `extensions.code` (VALIDATION_FAILED, NOT_FOUND, …), NETWORK_ERROR, TIMEOUT, or HTTP_<status>. */
  readonly code: string;
  readonly details: Record<string, unknown>;
  /** The server's request id: quote it when asking about a failure (it is in the server's log). */
  readonly requestId?: string;
  /** Whether the same call may succeed when sent again later (with the same idempotency key). */
  readonly retryable: boolean;
  readonly httpStatus?: number;
  /** Every GraphQL error of the last answer. */
  readonly errors: GraphQLErrorBody[];
  /** The last answer's data, when some root fields succeeded beside the error. */
  readonly data?: unknown;
  /** The key of the call: retry later with this key to finish it without a second write. */
  idempotencyKey?: string;
  /** Requests sent for the call. */
  attempts = 1;
  /** When the server asked to wait before the next attempt, in milliseconds from its answer. */
  readonly retryAfterMs?: number;

  constructor(init: {
    code: string;
    message: string;
    details?: Record<string, unknown>;
    requestId?: string;
    retryable: boolean;
    httpStatus?: number;
    errors?: GraphQLErrorBody[];
    data?: unknown;
    retryAfterMs?: number;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.details = init.details ?? {};
    this.requestId = init.requestId;
    this.retryable = init.retryable;
    this.httpStatus = init.httpStatus;
    this.errors = init.errors ?? [];
    this.data = init.data;
    this.retryAfterMs = init.retryAfterMs;
  }
}

type OperationKind = 'query' | 'mutation' | 'subscription';

interface DocumentFacts {
  kind: OperationKind;
  declaresIdempotencyKey: boolean;
}

export class ReckonClient {
  private readonly options: Required<Pick<ReckonClientOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'maxRetryAfterMs' | 'timeoutMs'>> &
    ReckonClientOptions;
  private readonly facts = new Map<string, DocumentFacts>();

  constructor(options: ReckonClientOptions) {
    if (!options.apiKey === !options.accessToken) throw new Error('ReckonClient needs exactly one of apiKey and accessToken');
    this.options = { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 5000, maxRetryAfterMs: 60_000, timeoutMs: 30_000, ...options };
    if (!Number.isInteger(this.options.maxAttempts) || this.options.maxAttempts < 1) throw new Error('maxAttempts must be a positive integer');
  }

  /**
   * Sends one operation and returns its data, retrying what is safe to retry. Throws ReckonError.
   * For a mutation that declares `$idempotencyKey`, the key is made here (or taken from `options`)
   * unless `variables.idempotencyKey` is already set, and is the same on every attempt.
   */
  async request<TData, TVariables>(
    document: ReckonDocument<TData, TVariables>,
    ...[variables, options]: Record<string, never> extends TVariables ? [TVariables?, RequestOptions?] : [TVariables, RequestOptions?]
  ): Promise<ReckonResult<TData>> {
    const query = document.toString();
    const facts = this.factsOf(query);
    const given = (variables ?? {}) as Record<string, unknown>;
    let idempotencyKey: string | undefined;
    let sent: Record<string, unknown> = given;
    if (facts.kind === 'mutation' && facts.declaresIdempotencyKey) {
      idempotencyKey = typeof given.idempotencyKey === 'string' ? given.idempotencyKey : (options?.idempotencyKey ?? this.newKey());
      sent = { ...given, idempotencyKey };
    }
    // A mutation without a key may have been applied by an attempt whose answer was lost: never resend it.
    const mayRetry = facts.kind !== 'mutation' || idempotencyKey !== undefined;
    const body = JSON.stringify({ query, variables: sent });
    const signal = options?.signal;

    for (let attempt = 1; ; attempt += 1) {
      signal?.throwIfAborted();
      const outcome = await this.attempt(body, signal);
      if (outcome.ok) {
        return { data: outcome.data as TData, idempotencyKey, replayed: outcome.replayed, attempts: attempt };
      }
      const error = outcome.error;
      error.idempotencyKey = idempotencyKey;
      error.attempts = attempt;
      if (!error.retryable || !mayRetry || attempt >= this.options.maxAttempts) throw error;
      const delayMs = this.delayBefore(attempt + 1, error);
      this.options.onRetry?.({ attempt, delayMs, error, idempotencyKey });
      await sleep(delayMs, signal);
    }
  }

  private async attempt(body: string, signal: AbortSignal | undefined): Promise<{ ok: true; data: unknown; replayed: boolean } | { ok: false; error: ReckonError }> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const attemptSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await (this.options.fetch ?? fetch)(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          ...this.options.headers,
          authorization: `Bearer ${await this.credential()}`,
        },
        body,
        signal: attemptSignal,
      });
      // The body is read under the same signal: a connection dropped mid-answer is a network failure too.
      text = await response.text();
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      return { ok: false, error: networkError(cause, timeout.aborted) };
    }

    const retryAfterMs = parseRetryAfterHeader(response.headers.get('retry-after'));
    let parsed: { data?: unknown; errors?: GraphQLErrorBody[]; extensions?: { idempotency?: { replayed?: boolean } } };
    try {
      parsed = JSON.parse(text);
    } catch {
      return {
        ok: false,
        error: new ReckonError({
          code: `HTTP_${response.status}`,
          message: `The server answered HTTP ${response.status} without a GraphQL response`,
          retryable: RETRYABLE_HTTP_STATUSES.has(response.status),
          httpStatus: response.status,
          retryAfterMs,
        }),
      };
    }
    const errors = Array.isArray(parsed.errors) ? parsed.errors : [];
    if (errors.length === 0 && response.ok && parsed.data !== undefined && parsed.data !== null) {
      return { ok: true, data: parsed.data, replayed: parsed.extensions?.idempotency?.replayed === true };
    }
    if (errors.length === 0) {
      return {
        ok: false,
        error: new ReckonError({
          code: `HTTP_${response.status}`,
          message: `The server answered HTTP ${response.status} without data or errors`,
          retryable: RETRYABLE_HTTP_STATUSES.has(response.status),
          httpStatus: response.status,
          retryAfterMs,
        }),
      };
    }
    // Sending again helps only when every error says so; one final error makes the answer final.
    const final = errors.find((error) => !isRetryable(error));
    const reported = final ?? errors[0];
    const extensions = reported.extensions ?? {};
    return {
      ok: false,
      error: new ReckonError({
        code: extensions.code ?? `HTTP_${response.status}`,
        message: reported.message,
        details: extensions.details ?? {},
        requestId: extensions.requestId,
        retryable: final === undefined,
        httpStatus: response.status,
        errors,
        data: parsed.data ?? undefined,
        retryAfterMs: retryAfterMs ?? retryAfterFromDetails(extensions.details),
      }),
    };
  }

  /**
   * Exponential backoff with jitter (half fixed, half random, so concurrent clients spread out).
   * A Retry-After hint is a floor (RATE_LIMITED, 503), except for IDEMPOTENCY_KEY_IN_USE, whose hint
   * says when the claim ends at the latest (should its holder have died): there it is a ceiling, and
   * the last retry waits for it, since by then the key can surely be taken over.
   */
  private delayBefore(nextAttempt: number, error: ReckonError): number {
    const step = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (nextAttempt - 2));
    const backoff = step / 2 + Math.random() * (step / 2);
    const hint = error.retryAfterMs === undefined ? undefined : Math.min(error.retryAfterMs, this.options.maxRetryAfterMs);
    if (hint === undefined) return Math.round(backoff);
    if (error.code === 'IDEMPOTENCY_KEY_IN_USE') {
      return Math.round(nextAttempt === this.options.maxAttempts ? hint : Math.min(backoff, hint));
    }
    return Math.round(Math.max(backoff, hint));
  }

  private async credential(): Promise<string> {
    if (this.options.apiKey) return this.options.apiKey;
    return (this.options.accessToken as AccessTokenProvider)();
  }

  private newKey(): string {
    return this.options.newIdempotencyKey ? this.options.newIdempotencyKey() : globalThis.crypto.randomUUID();
  }

  private factsOf(query: string): DocumentFacts {
    let facts = this.facts.get(query);
    if (!facts) {
      facts = { kind: operationKind(query), declaresIdempotencyKey: /\$idempotencyKey\s*:/.test(withoutCommentsAndStrings(query)) };
      this.facts.set(query, facts);
    }
    return facts;
  }
}

function isRetryable(error: GraphQLErrorBody): boolean {
  const extensions = error.extensions ?? {};
  if (typeof extensions.retryable === 'boolean') return extensions.retryable;
  return extensions.code !== undefined && RETRYABLE_CODES.has(extensions.code);
}

function networkError(cause: unknown, timedOut: boolean): ReckonError {
  const reason = describeCause(cause);
  return new ReckonError({
    code: timedOut ? TIMEOUT : NETWORK_ERROR,
    message: timedOut ? 'No answer within the attempt time limit' : `The request failed before an answer arrived: ${reason}`,
    details: { reason },
    retryable: true,
    cause,
  });
}

function describeCause(cause: unknown): string {
  const parts: string[] = [];
  for (let current = cause, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth += 1) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    parts.push([typeof code === 'string' ? code : '', typeof message === 'string' ? message : ''].filter(Boolean).join(' '));
  }
  return parts.filter(Boolean).join(': ') || String(cause);
}

/** Retry-After is delta-seconds or an HTTP date. */
function parseRetryAfterHeader(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** `details.retryAfterSeconds` (a number), or `details.retryAfter` (seconds, or an ISO instant). */
function retryAfterFromDetails(details: Record<string, unknown> | undefined): number | undefined {
  if (!details) return undefined;
  const seconds = details.retryAfterSeconds;
  if (typeof seconds === 'number' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const after = details.retryAfter;
  if (typeof after === 'number' && Number.isFinite(after)) return Math.max(0, after * 1000);
  if (typeof after === 'string') {
    if (/^\d+(\.\d+)?$/.test(after)) return Number(after) * 1000;
    const at = Date.parse(after);
    if (!Number.isNaN(at)) return Math.max(0, at - Date.now());
  }
  return undefined;
}

function withoutCommentsAndStrings(query: string): string {
  return query.replace(/"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n\r]*/g, '""');
}

/** The kind of the document's first operation (fragments may come before it). */
function operationKind(query: string): OperationKind {
  const text = withoutCommentsAndStrings(query);
  let at = 0;
  for (;;) {
    const match = /[{]|[A-Za-z_][A-Za-z0-9_]*/g;
    match.lastIndex = at;
    const found = match.exec(text);
    if (!found) throw new Error('The document has no operation');
    const token = found[0];
    if (token === '{') return 'query'; // A selection set at the top: the query shorthand.
    if (token === 'query' || token === 'mutation' || token === 'subscription') return token;
    if (token !== 'fragment') throw new Error(`The document starts with "${token}", not an operation`);
    at = endOfSelectionSet(text, found.index + token.length);
  }
}

/** Where the first selection set at or after `from` ends (past its closing brace). */
function endOfSelectionSet(text: string, from: number): number {
  const open = text.indexOf('{', from);
  if (open < 0) return text.length;
  let depth = 0;
  for (let i = open; i < text.length; i += 1) {
    if (text[i] === '{') depth += 1;
    else if (text[i] === '}' && (depth -= 1) === 0) return i + 1;
  }
  return text.length;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
