import { createClient, type Client as SubscriptionClient } from 'graphql-ws';
import { ReckonClient, ReckonError } from '../../client/src/reckon-client';
import { ViewerDocument, type ViewerQuery } from './generated';

/**
 * A signed-in session: the credential, the GraphQL client that carries it (ReckonClient, with its
 * safe retries and idempotency keys) and the WebSocket client for subscriptions. The credential is
 * held in this object only, in memory: a reload or a closed tab signs out, and nothing of it is written
 * to localStorage, sessionStorage or a cookie where another script or the next user of the device
 * could read it.
 */
export type Credential =
  | { kind: 'apiKey'; apiKey: string }
  | { kind: 'oauthClient'; clientId: string; clientSecret: string };

export type Viewer = NonNullable<ViewerQuery['me']>;

export interface Session {
  readonly viewer: Viewer;
  readonly client: ReckonClient;
  readonly subscriptions: SubscriptionClient;
  /** Ends the session: closes the WebSocket and forgets the credential. */
  signOut(): void;
  /** Called once if the server ends the session: the credential was revoked or expired for good. */
  onRefused(listener: (reason: string) => void): void;
}

/** The page is served by the API itself, so /graphql and /oauth/token are on the same origin. */
const GRAPHQL_PATH = '/graphql';
const TOKEN_PATH = '/oauth/token';
/** Fetch a new OAuth token this long before the current one expires. */
const TOKEN_REFRESH_MARGIN_MS = 30_000;

/** Idempotency keys from getRandomValues: randomUUID exists only in secure contexts (https, localhost). */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dash-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** OAuth client credentials grant (RFC 6749 §4.4), with the token cached until shortly before expiry. */
interface TokenProvider {
  (): Promise<string>;
  /** Forgets the cached token: the next call asks the token endpoint. */
  invalidate(): void;
}

function oauthTokenProvider(clientId: string, clientSecret: string): TokenProvider {
  let current: { token: string; refreshAt: number } | null = null;
  let pending: Promise<string> | null = null;
  const fetchToken = async (): Promise<string> => {
    const response = await fetch(TOKEN_PATH, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    });
    const body = (await response.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
    if (!response.ok || !body.access_token) {
      throw new ReckonError({
        code: response.status === 401 || body.error === 'invalid_client' ? 'UNAUTHENTICATED' : `OAUTH_${(body.error ?? String(response.status)).toUpperCase()}`,
        message: body.error_description ?? `The token endpoint answered ${response.status}`,
        retryable: response.status >= 500,
        httpStatus: response.status,
      });
    }
    const lifetimeMs = (body.expires_in ?? 300) * 1000;
    current = { token: body.access_token, refreshAt: Date.now() + Math.max(lifetimeMs - TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 2) };
    return body.access_token;
  };
  const provider = () => {
    if (current && Date.now() < current.refreshAt) return Promise.resolve(current.token);
    pending ??= fetchToken().finally(() => {
      pending = null;
    });
    return pending;
  };
  return Object.assign(provider, {
    invalidate: () => {
      current = null;
    },
  });
}

/**
 * The server closes a WebSocket with 4403 and a reason starting with the error code when the
 * credential no longer holds (revoked, expired) and when a connection is refused (rate limit).
 */
const CREDENTIAL_REFUSED = /^(UNAUTHENTICATED|FORBIDDEN)\b/;

function websocketUrl(): string {
  const url = new URL(GRAPHQL_PATH, window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** Checks the credential (asks `me`) and opens the session; throws ReckonError when it is refused. */
export async function signIn(credential: Credential): Promise<Session> {
  const bearer: TokenProvider =
    credential.kind === 'apiKey' ? Object.assign(() => Promise.resolve(credential.apiKey), { invalidate: () => undefined }) : oauthTokenProvider(credential.clientId, credential.clientSecret);
  let refused: ((reason: string) => void) | null = null;
  let ended = false;
  const client = new ReckonClient({
    url: GRAPHQL_PATH,
    ...(credential.kind === 'apiKey' ? { apiKey: credential.apiKey } : { accessToken: bearer }),
    // A person is waiting: fewer, shorter retries than a back-office job would use.
    maxAttempts: 3,
    timeoutMs: 15_000,
    newIdempotencyKey,
    // Bound to window: a browser's fetch called as a method of another object throws "Illegal invocation".
    fetch: (input, init) => window.fetch(input, init),
  });
  const { data } = await client.request(ViewerDocument);
  if (!data.me) throw new ReckonError({ code: 'UNAUTHENTICATED', message: 'The server did not recognise this credential.', retryable: false });
  const subscriptions = createClient({
    url: websocketUrl(),
    // Asked at every (re)connection, so a refreshed OAuth token is the one sent.
    connectionParams: async () => ({ authorization: `Bearer ${await bearer()}` }),
    lazy: true,
    // Forever: a dashboard left open on a wall screen should come back after any outage. The feed
    // resumes from its last sequence number itself (see live-feed.ts), so nothing is lost meanwhile.
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: (event) => {
      const close = event as { code?: number; reason?: string } | null;
      if (close?.code !== 4403 || !CREDENTIAL_REFUSED.test(close.reason ?? '')) return true;
      // An OAuth token expires by design: fetch a new one and connect again. A token endpoint that
      // refuses the client fails connectionParams, which graphql-ws does not retry.
      if (credential.kind === 'oauthClient') {
        bearer.invalidate();
        return true;
      }
      // An API key that no longer holds will not hold on the next attempt either: end the session.
      if (!ended) {
        ended = true;
        refused?.(close.reason ?? 'UNAUTHENTICATED');
      }
      return false;
    },
    retryWait: async (retries) => {
      const delayMs = Math.min(500 * 2 ** retries, 5_000) * (0.5 + Math.random() / 2);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    },
  });
  return {
    viewer: data.me,
    client,
    subscriptions,
    signOut: () => {
      ended = true;
      void subscriptions.dispose();
    },
    onRefused: (listener) => {
      refused = listener;
    },
  };
}
