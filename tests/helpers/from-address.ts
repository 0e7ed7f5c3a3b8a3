import http from 'node:http';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { GraphQLErrorShape, GraphQLResult } from './graphql-client';
import { basicAuthorization, originOf, type TokenResponse } from './oauth-http';
import { webSocketUrlOf } from './ws-client';

/**
 * Requests sent from a chosen loopback source address (127.0.0.2, 127.0.0.3…: all of 127.0.0.0/8 is
 * the loopback interface on Linux), so that one test can play several clients on different machines.
 * fetch cannot choose its source address; node:http can.
 */

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

function send(url: string, localAddress: string, method: string, headers: Record<string, string>, body: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, localAddress, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        resolve({ status: response.statusCode ?? 0, headers: responseHeaders, text: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** A GraphQL request over HTTP from `localAddress`, with `credential` as the Bearer token. */
export async function requestFrom<TData, TVariables>(
  graphqlUrl: string,
  localAddress: string,
  credential: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables?: TVariables,
  headers: Record<string, string> = {},
): Promise<GraphQLResult<TData>> {
  const response = await send(
    graphqlUrl,
    localAddress,
    'POST',
    { 'content-type': 'application/json', authorization: `Bearer ${credential}`, ...headers },
    JSON.stringify({ query: print(document), variables }),
  );
  const json = JSON.parse(response.text) as { data?: TData | null; errors?: GraphQLErrorShape[] };
  return { status: response.status, data: json.data, errors: json.errors, headers: response.headers };
}

/** POST /oauth/token with HTTP Basic client authentication, from `localAddress`. */
export async function tokenFrom(graphqlUrl: string, localAddress: string, clientId: string, clientSecret: string): Promise<TokenResponse> {
  const response = await send(
    `${originOf(graphqlUrl)}/oauth/token`,
    localAddress,
    'POST',
    { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(clientId, clientSecret) },
    'grant_type=client_credentials',
  );
  return { status: response.status, headers: response.headers, body: JSON.parse(response.text) as Record<string, unknown> };
}

/** How a WebSocket connection attempt from `localAddress` ended: acknowledged, or closed with a code. */
export async function connectFrom(graphqlUrl: string, localAddress: string, credential: string): Promise<{ connected: boolean; code?: number; reason?: string }> {
  let client: Client | undefined;
  try {
    return await new Promise((resolve) => {
      client = createClient({
        url: webSocketUrlOf(graphqlUrl),
        webSocketImpl: class extends WebSocket {
          constructor(address: string, protocols?: string | string[]) {
            super(address, protocols, { localAddress });
          }
        },
        connectionParams: { authorization: `Bearer ${credential}` },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: () => undefined,
        on: {
          connected: () => resolve({ connected: true }),
          closed: (event) => {
            const { code, reason } = event as { code: number; reason: unknown };
            resolve({ connected: false, code, reason: String(reason) });
          },
        },
      });
    });
  } finally {
    await client?.dispose();
  }
}
