/**
 * A JSON body as the tests read it: its shape is the OpenAPI document's, which the contract test
 * checks every response against, so the tests read fields without declaring each type again.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type Json = any;

/** What a REST call answered: the status, the headers and the body (parsed when it is JSON). */
export interface RestResponse<T = Json> {
  status: number;
  headers: Headers;
  body: T;
  contentType: string;
}

export interface RestCallOptions {
  body?: unknown;
  /** A raw body, sent as it is (with its own Content-Type header, if any). */
  rawBody?: string;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  idempotencyKey?: string;
}

/** The origin (scheme, host and port) of a server whose GraphQL URL is given. */
export function originOf(graphqlUrl: string): string {
  return new URL(graphqlUrl).origin;
}

/** A client of the REST interface under /v1, with an API key; over real HTTP (fetch). */
export class RestClient {
  constructor(
    readonly origin: string,
    readonly apiKey: string | null,
  ) {}

  withKey(apiKey: string | null): RestClient {
    return new RestClient(this.origin, apiKey);
  }

  async call<T = Json>(method: string, path: string, options: RestCallOptions = {}): Promise<RestResponse<T>> {
    const url = new URL(path.startsWith('/v1') ? path : `/v1${path}`, this.origin);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const headers: Record<string, string> = { ...(this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {}) };
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['Content-Type'] = 'application/json';
    }
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    Object.assign(headers, options.headers);
    const response = await fetch(url, { method, headers, body });
    const contentType = response.headers.get('content-type') ?? '';
    const text = await response.text();
    const parsed = /json/.test(contentType) && text ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, body: parsed as T, contentType };
  }

  get<T = Json>(path: string, options: RestCallOptions = {}): Promise<RestResponse<T>> {
    return this.call<T>('GET', path, options);
  }

  post<T = Json>(path: string, body?: unknown, options: RestCallOptions = {}): Promise<RestResponse<T>> {
    return this.call<T>('POST', path, { ...options, body });
  }

  patch<T = Json>(path: string, body?: unknown, options: RestCallOptions = {}): Promise<RestResponse<T>> {
    return this.call<T>('PATCH', path, { ...options, body });
  }

  /** A call that must succeed (2xx): its body, or a thrown error with the problem it answered. */
  async ok<T = Json>(method: string, path: string, options: RestCallOptions = {}): Promise<T> {
    const response = await this.call<T>(method, path, options);
    if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body;
  }
}
