import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';

/** The server's origin (scheme, host and port) from its GraphQL URL. */
export function originOf(graphqlUrl: string): string {
  return new URL(graphqlUrl).origin;
}

export interface TokenResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export interface TokenRequest {
  /** Form fields, sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>;
  /** Client id and secret sent with HTTP Basic (RFC 6749 §2.3.1: each form-urlencoded first). */
  basic?: { clientId: string; clientSecret: string };
  headers?: Record<string, string>;
  /** Appended to /oauth/token as it is, e.g. "?client_secret=…". */
  query?: string;
}

export function basicAuthorization(clientId: string, clientSecret: string): string {
  const encoded = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
  return `Basic ${Buffer.from(encoded, 'utf8').toString('base64')}`;
}

/** POST /oauth/token over real HTTP. */
export async function requestToken(graphqlUrl: string, request: TokenRequest): Promise<TokenResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...request.headers };
  if (request.basic) headers.authorization = basicAuthorization(request.basic.clientId, request.basic.clientSecret);
  const response = await fetch(`${originOf(graphqlUrl)}/oauth/token${request.query ?? ''}`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(request.form ?? {}).toString(),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Gets a token for a client with HTTP Basic, failing the test when the server refuses. */
export async function clientCredentialsToken(
  graphqlUrl: string,
  clientId: string,
  clientSecret: string,
  scope?: string,
): Promise<{ accessToken: string; scope: string; expiresIn: number }> {
  const response = await requestToken(graphqlUrl, {
    basic: { clientId, clientSecret },
    form: { grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) },
  });
  if (response.status !== 200) throw new Error(`Token request refused: ${response.status} ${JSON.stringify(response.body)}`);
  return { accessToken: String(response.body.access_token), scope: String(response.body.scope), expiresIn: Number(response.body.expires_in) };
}

/** A JWT's header and claims, read without verifying anything (for assertions only). */
export function readJwt(token: string): { header: ProtectedHeaderParameters; claims: JWTPayload } {
  return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
}

export async function fetchJwks(graphqlUrl: string): Promise<{ status: number; headers: Headers; body: { keys: Record<string, unknown>[] } }> {
  const response = await fetch(`${originOf(graphqlUrl)}/.well-known/jwks.json`);
  return { status: response.status, headers: response.headers, body: (await response.json()) as { keys: Record<string, unknown>[] } };
}
