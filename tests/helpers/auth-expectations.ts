import { setRootFieldsOf } from './graphql-client';
import type { GraphQLResult } from './graphql-client';

/**
 * RFC 6750 §3.1: a bad, expired or revoked credential is a 401 whose challenge says
 * `error="invalid_token"`, and the GraphQL error says UNAUTHENTICATED; nothing ran, so there is no data.
 */
export function expectInvalidToken(result: GraphQLResult<unknown>): void {
  expect({ status: result.status, code: result.errors?.[0]?.extensions?.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  expect(result.errors).toHaveLength(1);
  expect(setRootFieldsOf(result.data)).toBeNull();
  expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="reckon", error="invalid_token"(, error_description="[^"]*")?$/);
  expect(result.errors?.[0]?.extensions?.requestId).toBe(result.headers.get('x-request-id'));
}

/**
 * RFC 6750 §3.1: a credential without the scope a field needs is a 403 whose challenge says
 * `error="insufficient_scope"` and names the scope; the GraphQL error says FORBIDDEN and names it too.
 */
export function expectInsufficientScope(result: GraphQLResult<unknown>, scope: string): void {
  expect({ status: result.status, code: result.errors?.[0]?.extensions?.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors ?? [];
  expect(error.message).toContain(`"${scope}"`);
  expect(error.extensions?.details).toEqual({ requiredScope: scope });
  const challenge = result.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(/^Bearer realm="reckon", error="insufficient_scope"/);
  expect(challenge).toContain(`scope="${scope}"`);
}
