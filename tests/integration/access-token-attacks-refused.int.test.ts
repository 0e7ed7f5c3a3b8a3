import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import { bootstrap, createLogger } from '../../src/bootstrap';
import { newId } from '../../src/common/ids';
import { startServer } from '../../src/server/app';
import { generateSigningKey } from '../../src/services/key-material';
import { AccountsDocument, CreateAccountDocument, CreateOAuthClientDocument, WhoAmIDocument } from '../generated/graphql';
import { expectInsufficientScope, expectInvalidToken } from '../helpers/auth-expectations';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, startTestApp, testRuntimeConfig, type TestApp } from '../helpers/harness';
import { clientCredentialsToken, fetchJwks, readJwt } from '../helpers/oauth-http';
import { TestClock } from '../helpers/test-clock';

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

function publicJwkOf(key: JWK): JWK {
  const { d: _d, ...rest } = key;
  return rest;
}

/** Signs any header and claims with a private JWK, as an attacker holding that key (or we) would. */
async function sign(key: JWK, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const alg = String(header.alg ?? key.alg);
  // A header value given as undefined removes that member (no typ, no kid).
  const members = Object.entries({ alg, ...(key.kid ? { kid: key.kid } : {}), typ: 'at+jwt', ...header }).filter(([, value]) => value !== undefined);
  const protectedHeader = Object.fromEntries(members) as { alg: string };
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(await importJWK(key, alg));
}

/** A token whose signature is an HMAC keyed with `secret`: what a verifier that trusts `alg` would accept. */
function signHs256(secret: string, header: Record<string, unknown>, claims: JWTPayload): string {
  const input = `${base64url(JSON.stringify({ alg: 'HS256', ...header }))}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function unsigned(header: Record<string, unknown>, claims: JWTPayload, signature = ''): string {
  return `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}.${signature}`;
}

function nowSeconds(clock: TestClock): number {
  return Math.floor(clock.now().getTime() / 1000);
}

describeEachDatabase('forged, mis-addressed and stale access tokens are refused', (kind) => {
  describe('tokens of our own issuer', () => {
    let app: TestApp;
    let signingKey: JWK;
    let otherKey: JWK;
    let clientId: string;
    let clientSecret: string;
    let otherTenantId: string;
    const clock = new TestClock();

    beforeAll(async () => {
      signingKey = await generateSigningKey();
      otherKey = await generateSigningKey();
      app = await startTestApp(kind, { clock, env: { JWT_SIGNING_KEYS: JSON.stringify([signingKey]) } });
      const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'target', scopes: ['LEDGER_READ'] } });
      clientId = createOAuthClient.client.id;
      clientSecret = createOAuthClient.clientSecret;
      otherTenantId = (await app.createTenant('Other')).tenantId;
    });
    afterAll(async () => {
      await app?.close();
    });

    /** The claims a genuine token of the client carries now; each attack changes one thing. */
    function genuineClaims(overrides: JWTPayload = {}): JWTPayload {
      const now = nowSeconds(clock);
      return {
        iss: 'reckon',
        aud: 'reckon-api',
        sub: clientId,
        client_id: clientId,
        tenant_id: app.tenantId,
        scope: 'ledger:read',
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: crypto.randomUUID(),
        ...overrides,
      };
    }

    function withoutClaim(name: string): JWTPayload {
      const claims = genuineClaims();
      delete claims[name];
      return claims;
    }

    const call = (token: string) => app.client.withKey(token).request(WhoAmIDocument);

    it('accepts a token made with our key and genuine claims (the baseline every attack departs from)', async () => {
      const { me } = await app.client.withKey(await sign(signingKey, genuineClaims())).ok(WhoAmIDocument);
      expect(me).toMatchObject({ credentialId: clientId, credentialKind: 'OAUTH_TOKEN', scopes: ['LEDGER_READ'] });
      const issued = await clientCredentialsToken(app.url, clientId, clientSecret);
      expect(readJwt(issued.accessToken).header.kid).toBe(signingKey.kid);
    });

    const attacks: [string, () => Promise<string>][] = [
      ['alg=none with no signature', async () => unsigned({ alg: 'none', typ: 'at+jwt', kid: signingKey.kid }, genuineClaims())],
      ['alg=none without typ or kid', async () => unsigned({ alg: 'none' }, genuineClaims())],
      ['alg=NONE with a genuine signature', async () => {
        const genuine = await sign(signingKey, genuineClaims());
        return unsigned({ alg: 'NONE', typ: 'at+jwt', kid: signingKey.kid }, genuineClaims(), genuine.split('.')[2]);
      }],
      ['HS256 keyed with our public key as PEM', async () => {
        const pem = await exportSPKI((await importJWK(publicJwkOf(signingKey), 'ES256')) as crypto.KeyObject);
        return signHs256(pem, { typ: 'at+jwt', kid: signingKey.kid }, genuineClaims());
      }],
      ['HS256 keyed with our public JWK as JSON', async () =>
        signHs256(JSON.stringify(publicJwkOf(signingKey)), { typ: 'at+jwt', kid: signingKey.kid }, genuineClaims())],
      ['HS256 keyed with the served JWKS document', async () => {
        const jwks = await fetchJwks(app.url);
        return signHs256(JSON.stringify(jwks.body), { typ: 'at+jwt', kid: signingKey.kid }, genuineClaims());
      }],
      ['a wrong audience', async () => sign(signingKey, genuineClaims({ aud: 'some-other-api' }))],
      ['an audience list without ours', async () => sign(signingKey, genuineClaims({ aud: ['billing', 'crm'] }))],
      ['no audience', async () => sign(signingKey, withoutClaim('aud'))],
      ['a wrong issuer', async () => sign(signingKey, genuineClaims({ iss: 'https://evil.example' }))],
      ['no issuer', async () => sign(signingKey, withoutClaim('iss'))],
      ['an expiry one second ago', async () => {
        const now = nowSeconds(clock);
        return sign(signingKey, genuineClaims({ iat: now - 901, nbf: now - 901, exp: now - 1 }));
      }],
      ['no expiry', async () => sign(signingKey, withoutClaim('exp'))],
      ['nbf one minute ahead', async () => sign(signingKey, genuineClaims({ nbf: nowSeconds(clock) + 60 }))],
      ['no typ header', async () => sign(signingKey, genuineClaims(), { typ: undefined })],
      ['typ JWT instead of at+jwt', async () => sign(signingKey, genuineClaims(), { typ: 'JWT' })],
      ['another key with an unknown kid', async () => sign(otherKey, genuineClaims())],
      ['another key claiming our kid', async () => sign({ ...otherKey, kid: signingKey.kid }, genuineClaims())],
      ['another key with no kid', async () => sign({ ...otherKey, kid: undefined }, genuineClaims())],
      ['an EdDSA key claiming our kid', async () => {
        const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
        return sign({ ...(await exportJWK(privateKey)), alg: 'EdDSA', kid: signingKey.kid }, genuineClaims());
      }],
      ['a tenant that does not exist', async () => sign(signingKey, genuineClaims({ tenant_id: newId('tenant') }))],
      ['another existing tenant than the client’s', async () => sign(signingKey, genuineClaims({ tenant_id: otherTenantId }))],
      ['no tenant claim', async () => sign(signingKey, withoutClaim('tenant_id'))],
      ['a client that does not exist', async () => {
        const ghost = newId('oauthClient');
        return sign(signingKey, genuineClaims({ sub: ghost, client_id: ghost }));
      }],
      ['no subject', async () => sign(signingKey, withoutClaim('sub'))],
      ['a genuine token with its scope raised to admin', async () => {
        const { accessToken } = await clientCredentialsToken(app.url, clientId, clientSecret);
        const [header, payload, signature] = accessToken.split('.');
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JWTPayload;
        return `${header}.${base64url(JSON.stringify({ ...claims, scope: 'admin' }))}.${signature}`;
      }],
      ['a genuine token with its signature cut off', async () => {
        const { accessToken } = await clientCredentialsToken(app.url, clientId, clientSecret);
        return accessToken.split('.').slice(0, 2).join('.') + '.';
      }],
      ['three dots of garbage', async () => 'eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.AAAA'],
    ];

    it.each(attacks)('refuses a token with %s: 401 invalid_token, UNAUTHENTICATED', async (_label, makeToken) => {
      const token = await makeToken();
      expectInvalidToken(await call(token));
      // The same refusal on a mutation: nothing runs.
      const before = await app.runtime.dataSource.query('SELECT COUNT(*) AS count FROM accounts');
      expectInvalidToken(
        await app.client.withKey(token).request(CreateAccountDocument, {
          input: { code: `forged-${crypto.randomUUID()}`, name: 'Forged', type: 'ASSET', currency: 'USD' },
        }),
      );
      expect(await app.runtime.dataSource.query('SELECT COUNT(*) AS count FROM accounts')).toEqual(before);
    });

    it('refuses an issued token once the clock passes its expiry, and before its nbf', async () => {
      const { accessToken } = await clientCredentialsToken(app.url, clientId, clientSecret);
      clock.advanceSeconds(-5);
      expectInvalidToken(await call(accessToken));
      clock.advanceSeconds(5 + 899);
      await app.client.withKey(accessToken).ok(WhoAmIDocument);
      clock.advanceSeconds(1);
      expectInvalidToken(await call(accessToken));
    });

    it('answers a request without credentials with a bare Bearer challenge', async () => {
      const result = await app.client.withKey(null).request(WhoAmIDocument);
      expect({ status: result.status, code: result.errors?.[0]?.extensions?.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
      expect(result.headers.get('www-authenticate')).toBe('Bearer realm="reckon"');
    });

    it('refuses other schemes and malformed Bearer values as invalid_token', async () => {
      const { accessToken } = await clientCredentialsToken(app.url, clientId, clientSecret);
      for (const authorization of [`Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, `Bearer ${accessToken} extra`, 'Bearer', `Token ${accessToken}`]) {
        expectInvalidToken(await app.client.withKey(null).request(WhoAmIDocument, {}, { authorization }));
      }
    });
  });

  describe('signing key rotation', () => {
    it('keeps the previous key’s tokens valid until they expire, signs new ones with the new key and publishes both public keys', async () => {
      const clock = new TestClock();
      const database = await createTestDatabase(kind);
      const keyA = await generateSigningKey();
      const keyB = await generateSigningKey();
      const log = createLogger('silent');

      /** A server process on the shared database: a deployment restarted with new configuration. */
      const startOn = async (keys: JWK[]) => {
        const config = testRuntimeConfig(database.url, { env: { JWT_SIGNING_KEYS: JSON.stringify(keys) } });
        const runtime = await bootstrap(config, { clock, log });
        const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
        return {
          runtime,
          url: server.url,
          close: async () => {
            await server.close();
            await runtime.close();
          },
        };
      };
      const whoAmI = (url: string, token: string) => new GraphQLClient(url, token).request(WhoAmIDocument);

      try {
        const first = await startOn([keyA]);
        const tenant = await first.runtime.services.tenancy.createTenant('Rotating');
        const { client, secret } = await first.runtime.services.auth.createOAuthClient(tenant.id, 'rotating client', ['ledger:read']);
        const tokenA = (await clientCredentialsToken(first.url, client.id, secret)).accessToken;
        expect(readJwt(tokenA).header.kid).toBe(keyA.kid);
        expect((await fetchJwks(first.url)).body.keys.map((key) => key.kid)).toEqual([keyA.kid]);
        await first.close();

        clock.advanceSeconds(600);
        const second = await startOn([keyB, keyA]);
        try {
          const oldTokenUse = await whoAmI(second.url, tokenA);
          expect(oldTokenUse.status).toBe(200);
          expect(oldTokenUse.data).toMatchObject({ me: { credentialId: client.id, tenant: { id: tenant.id } } });

          const tokenB = (await clientCredentialsToken(second.url, client.id, secret)).accessToken;
          expect(readJwt(tokenB).header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: keyB.kid });
          expect((await whoAmI(second.url, tokenB)).status).toBe(200);

          const jwks = await fetchJwks(second.url);
          expect(jwks.status).toBe(200);
          expect(jwks.headers.get('content-type')).toMatch(/^application\/json/);
          expect(jwks.body.keys.map((key) => key.kid)).toEqual([keyB.kid, keyA.kid]);
          for (const key of jwks.body.keys) {
            expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
            for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']) expect(key).not.toHaveProperty(privateMember);
          }
          expect(JSON.stringify(jwks.body)).not.toContain(String(keyA.d));
          expect(JSON.stringify(jwks.body)).not.toContain(String(keyB.d));
          // What a resource server holding only the published keys can verify: both generations.
          const published = createLocalJWKSet(jwks.body as unknown as { keys: JWK[] });
          for (const token of [tokenA, tokenB]) {
            await expect(jwtVerify(token, published, { issuer: 'reckon', audience: 'reckon-api', currentDate: clock.now() })).resolves.toBeDefined();
          }

          // The old token lasts exactly as long as it was issued for, not a second more.
          clock.advanceSeconds(299);
          expect((await whoAmI(second.url, tokenA)).status).toBe(200);
          clock.advanceSeconds(1);
          expectInvalidToken(await whoAmI(second.url, tokenA));
          expect((await whoAmI(second.url, tokenB)).status).toBe(200);
        } finally {
          await second.close();
        }

        // Once key A is retired from the ring, even a fresh token signed with it is refused.
        const third = await startOn([keyB]);
        try {
          const now = nowSeconds(clock);
          const freshA = await sign(keyA, {
            iss: 'reckon', aud: 'reckon-api', sub: client.id, client_id: client.id, tenant_id: tenant.id,
            scope: 'ledger:read', iat: now, nbf: now, exp: now + 900,
          });
          expectInvalidToken(await whoAmI(third.url, freshA));
          expect((await fetchJwks(third.url)).body.keys.map((key) => key.kid)).toEqual([keyB.kid]);
        } finally {
          await third.close();
        }
      } finally {
        await database.drop();
      }
    });
  });

  describe('tokens of a configured external issuer', () => {
    const ISSUER = 'https://idp.example.test/';
    const AUDIENCE = 'reckon-external';
    const clock = new TestClock();
    let app: TestApp;
    let jwksServer: http.Server;
    let rsaKey: JWK;
    let ecKey: JWK;
    let strangerKey: JWK;
    let ourKey: JWK;

    async function newKey(alg: 'RS256' | 'ES256', kid: string): Promise<JWK> {
      const { privateKey } = await generateKeyPair(alg, { extractable: true });
      return { ...(await exportJWK(privateKey)), alg, kid };
    }

    beforeAll(async () => {
      rsaKey = await newKey('RS256', 'idp-rsa-1');
      ecKey = await newKey('ES256', 'idp-ec-1');
      strangerKey = await newKey('RS256', 'idp-rsa-1');
      ourKey = await generateSigningKey();
      const document = JSON.stringify({ keys: [rsaKey, ecKey].map((key) => ({ ...publicJwkOf(key), use: 'sig' })) });
      jwksServer = http.createServer((req, res) => {
        if (req.url === '/.well-known/jwks.json') res.writeHead(200, { 'content-type': 'application/json' }).end(document);
        else res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
      const { port } = jwksServer.address() as AddressInfo;
      app = await startTestApp(kind, {
        clock,
        env: {
          JWT_SIGNING_KEYS: JSON.stringify([ourKey]),
          EXTERNAL_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
          EXTERNAL_JWT_ISSUER: ISSUER,
          EXTERNAL_JWT_AUDIENCE: AUDIENCE,
        },
      });
    });
    afterAll(async () => {
      await app?.close();
      await new Promise((resolve) => jwksServer?.close(resolve));
    });

    function externalClaims(overrides: JWTPayload = {}): JWTPayload {
      const now = nowSeconds(clock);
      return { iss: ISSUER, aud: AUDIENCE, sub: 'user-42', tenant_id: app.tenantId, scope: 'ledger:read', iat: now, exp: now + 300, ...overrides };
    }

    it.each([
      ['RS256', () => rsaKey],
      ['ES256', () => ecKey],
    ])('accepts an %s token of the issuer with its tenant claim and scopes', async (_alg, key) => {
      const token = await sign(key(), externalClaims(), { typ: 'JWT' });
      const client = app.client.withKey(token);
      const { me } = await client.ok(WhoAmIDocument);
      expect(me).toEqual({
        credentialId: 'user-42',
        credentialKind: 'EXTERNAL_TOKEN',
        scopes: ['LEDGER_READ'],
        expiresAt: new Date(Number(externalClaims().exp) * 1000).toISOString(),
        tenant: { id: app.tenantId, name: 'Acme' },
      });
      await client.ok(AccountsDocument, { first: 1 });
      expectInsufficientScope(
        await client.request(CreateAccountDocument, { input: { code: `ext-${crypto.randomUUID()}`, name: 'x', type: 'ASSET', currency: 'USD' } }),
        'ledger:write',
      );
    });

    it('reads scopes given as a list and accepts a token without typ', async () => {
      const token = await sign(rsaKey, externalClaims({ scope: ['ledger:read', 'ledger:write'] }), { typ: undefined });
      const { me } = await app.client.withKey(token).ok(WhoAmIDocument);
      expect(me.scopes).toEqual(['LEDGER_READ', 'LEDGER_WRITE']);
    });

    it('shows only the scopes Reckon knows of a token that also carries another system’s', async () => {
      const token = await sign(rsaKey, externalClaims({ scope: 'openid ledger:read profile' }));
      const { me } = await app.client.withKey(token).ok(WhoAmIDocument);
      expect(me.scopes).toEqual(['LEDGER_READ']);
    });

    it('accepts a token without kid, picking the issuer’s key by its algorithm', async () => {
      const token = await sign({ ...ecKey, kid: undefined }, externalClaims({ sub: 'no-kid' }));
      expect(readJwt(token).header.kid).toBeUndefined();
      const { me } = await app.client.withKey(token).ok(WhoAmIDocument);
      expect(me.credentialId).toBe('no-kid');
    });

    it('still accepts our own tokens', async () => {
      const { createOAuthClient } = await app.client.ok(CreateOAuthClientDocument, { input: { name: 'ours', scopes: ['LEDGER_READ'] } });
      const { accessToken } = await clientCredentialsToken(app.url, createOAuthClient.client.id, createOAuthClient.clientSecret);
      const { me } = await app.client.withKey(accessToken).ok(WhoAmIDocument);
      expect(me.credentialKind).toBe('OAUTH_TOKEN');
    });

    const refused: [string, () => Promise<string>][] = [
      ['a wrong audience', async () => sign(rsaKey, externalClaims({ aud: 'reckon-api' }))],
      ['a wrong issuer', async () => sign(rsaKey, externalClaims({ iss: 'https://idp.example.test/other' }))],
      ['an unknown tenant', async () => sign(rsaKey, externalClaims({ tenant_id: newId('tenant') }))],
      ['no tenant claim', async () => sign(rsaKey, externalClaims({ tenant_id: undefined }))],
      ['an expiry in the past', async () => sign(rsaKey, externalClaims({ iat: nowSeconds(clock) - 600, exp: nowSeconds(clock) - 1 }))],
      ['nbf in the future', async () => sign(rsaKey, externalClaims({ nbf: nowSeconds(clock) + 60 }))],
      ['no expiry', async () => sign(rsaKey, externalClaims({ exp: undefined }))],
      ['a key the issuer does not publish, under a published kid', async () => sign(strangerKey, externalClaims())],
      ['alg=none', async () => unsigned({ alg: 'none', kid: rsaKey.kid }, externalClaims())],
      ['HS256 keyed with the issuer’s public RSA key', async () => {
        const pem = await exportSPKI((await importJWK(publicJwkOf(rsaKey), 'RS256')) as crypto.KeyObject);
        return signHs256(pem, { kid: rsaKey.kid, typ: 'JWT' }, externalClaims());
      }],
      ['the issuer’s key minting a token in our name', async () =>
        sign(rsaKey, { ...externalClaims(), iss: 'reckon', aud: 'reckon-api', client_id: 'cli_01ARZ3NDEKTSV4RRFFQ69G5FAV' }, { typ: 'at+jwt' })],
      ['our key minting a token in the issuer’s name', async () => sign(ourKey, externalClaims())],
    ];

    it.each(refused)('refuses an external token with %s', async (_label, makeToken) => {
      expectInvalidToken(await app.client.withKey(await makeToken()).request(WhoAmIDocument));
    });
  });
});
