import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors as joseErrors,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { Clock } from '../../common/clock';
import type { AuthConfig } from '../../config';

/** A verified access token's meaning. */
export interface VerifiedToken {
  tenantId: string;
  subject: string;
  scopes: string[];
  expiresAt: Date;
  issuer: 'reckon' | 'external';
}

export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

/** The algorithms our own signing keys may use; tokens signed otherwise are refused. */
export const SIGNING_ALGORITHMS: readonly string[] = ['ES256', 'EdDSA'];

/**
 * Issues and verifies access tokens (RFC 9068 JWT profile): signed with the newest signing key, `typ:
 * at+jwt`, issuer, audience, subject (the OAuth client), tenant, scope and a short expiry. Verification
 * accepts only our asymmetric algorithms and every key in the ring, so a rotated key's tokens keep
 * working until they expire. Optionally a second, external issuer's tokens are accepted.
 */
export class TokenService {
  private readonly ourKeys: JWTVerifyGetKey;
  private readonly externalKeys: JWTVerifyGetKey | null;

  constructor(
    private readonly signingKeys: JWK[],
    private readonly config: AuthConfig,
    private readonly clock: Clock,
  ) {
    this.ourKeys = createLocalJWKSet({ keys: signingKeys.map(publicPartOf) });
    this.externalKeys = config.external ? createRemoteJWKSet(new URL(config.external.jwksUrl), { timeoutDuration: 5000 }) : null;
  }

  /** The public JSON Web Key Set served at /.well-known/jwks.json. */
  get jwks(): { keys: JWK[] } {
    return { keys: this.signingKeys.map(publicPartOf) };
  }

  get ttlSeconds(): number {
    return this.config.accessTokenTtlSeconds;
  }

  async issue(tenantId: string, clientId: string, scopes: string[]): Promise<string> {
    const key = this.signingKeys[0];
    const nowSeconds = Math.floor(this.clock.now().getTime() / 1000);
    return new SignJWT({ tenant_id: tenantId, scope: scopes.join(' '), client_id: clientId })
      .setProtectedHeader({ alg: String(key.alg), kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.config.jwtIssuer)
      .setAudience(this.config.jwtAudience)
      .setSubject(clientId)
      .setIssuedAt(nowSeconds)
      .setNotBefore(nowSeconds)
      .setExpirationTime(nowSeconds + this.config.accessTokenTtlSeconds)
      .setJti(crypto.randomUUID())
      .sign(await importJWK(key, String(key.alg)));
  }

  async verify(token: string): Promise<VerifiedToken> {
    const currentDate = this.clock.now();
    const external = this.config.external;
    // The token's own (unverified) `iss` picks whose rules apply; either path then verifies everything,
    // the issuer included. Trying our keys first and falling back only on some errors refused every
    // external token signed with an algorithm we do not use (RS256) or carrying no kid.
    if (this.externalKeys && external && external.issuer !== this.config.jwtIssuer && unverifiedIssuerOf(token) === external.issuer) {
      try {
        const { payload } = await jwtVerify(token, this.externalKeys, {
          algorithms: external.algorithms,
          issuer: external.issuer,
          audience: external.audience,
          currentDate,
          requiredClaims: ['exp', 'sub', external.tenantClaim],
        });
        return this.toVerified(payload, external.tenantClaim, external.scopeClaim, 'external');
      } catch (error) {
        throw asInvalid(error);
      }
    }
    try {
      const { payload } = await jwtVerify(token, this.ourKeys, {
        algorithms: [...SIGNING_ALGORITHMS],
        issuer: this.config.jwtIssuer,
        audience: this.config.jwtAudience,
        typ: 'at+jwt',
        currentDate,
        requiredClaims: ['exp', 'sub', 'tenant_id'],
      });
      return this.toVerified(payload, 'tenant_id', 'scope', 'reckon');
    } catch (error) {
      throw asInvalid(error);
    }
  }

  private toVerified(payload: JWTPayload, tenantClaim: string, scopeClaim: string, issuer: VerifiedToken['issuer']): VerifiedToken {
    const tenantId = payload[tenantClaim];
    const scope = payload[scopeClaim];
    if (typeof tenantId !== 'string' || !payload.sub || typeof payload.exp !== 'number') {
      throw new InvalidTokenError('The token lacks its tenant, subject or expiry');
    }
    const scopes = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : Array.isArray(scope) ? scope.map(String) : [];
    return { tenantId, subject: payload.sub, scopes, expiresAt: new Date(payload.exp * 1000), issuer };
  }
}

function publicPartOf(key: JWK): JWK {
  const { d: _private, ...rest } = key;
  return { ...rest, use: 'sig' };
}

/** The `iss` claim as the token states it, before any check: only to choose how to verify it. */
function unverifiedIssuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

/** jose's failures in plain words: its codes (ERR_JWS_INVALID…) mean nothing to an API user. */
function asInvalid(error: unknown): InvalidTokenError {
  if (error instanceof joseErrors.JWTExpired) return new InvalidTokenError('The access token has expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new InvalidTokenError('The access token is not accepted here: its issuer, audience, type or validity period does not match');
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new InvalidTokenError('The access token’s signature does not verify');
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new InvalidTokenError('The access token is signed with an algorithm this server does not accept');
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new InvalidTokenError('The access token is signed with a key this server does not know');
  }
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) {
    return new InvalidTokenError('The token issuer’s public keys could not be read; retry later');
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JOSENotSupported) {
    return new InvalidTokenError('The access token is malformed: send an API key or a token from POST /oauth/token');
  }
  return new InvalidTokenError('The access token is invalid');
}
