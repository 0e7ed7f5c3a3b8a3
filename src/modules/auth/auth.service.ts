import crypto from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { applyKeyset } from '../../db/keyset';
import { fromDbTimestamp, requireStorableDate, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { apiKeyPrefixOf, API_KEY_PATTERN, generateApiKey, hashSecret, randomBase62 } from './api-key-format';
import { ApiKeyEntity } from './api-key.entity';
import type { CredentialCache } from './credential-cache';
import type { AuthLockout } from './lockout';
import { OAuthClientEntity } from './oauth-client.entity';
import { parseScopes, Scope } from './scopes';
import { InvalidTokenError, type TokenService } from './tokens';

export enum CredentialKind {
  API_KEY = 'API_KEY',
  /** An access token we issued to an OAuth client. */
  OAUTH_TOKEN = 'OAUTH_TOKEN',
  /** An access token from the configured external issuer. */
  EXTERNAL_TOKEN = 'EXTERNAL_TOKEN',
}

/** Who is calling: resolved from the credential on every request and every WebSocket connection. */
export interface Principal {
  tenantId: string;
  /** The API key id, the OAuth client id, or the external token's subject. */
  credentialId: string;
  credentialKind: CredentialKind;
  scopes: ReadonlySet<string>;
  /** When the credential stops working, if it has an end: token expiry or key expiry. */
  expiresAt: Date | null;
}

/** A cached API key verdict: who the key is, and its last use as this process last wrote or read it. */
interface ApiKeyVerdict {
  principal: Principal;
  lastUsedAt: Date | null;
}

/** Why authentication failed, for RFC 6750's WWW-Authenticate challenge. */
export type AuthenticationFailure = 'missing' | 'invalid_token' | 'locked';

export function authenticationError(failure: AuthenticationFailure, message: string, retryAfterSeconds?: number): AppError {
  return new AppError(ErrorCode.UNAUTHENTICATED, message, {
    reason: failure,
    ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
  });
}

/** What POST /oauth/token answers (RFC 6749 §5.1 and §5.2). */
export type TokenGrantResult =
  | { ok: true; accessToken: string; expiresIn: number; scope: string; tenantId: string; clientId: string }
  | { ok: false; error: 'invalid_client' | 'invalid_grant' | 'invalid_scope' | 'invalid_request'; description: string; retryAfterSeconds?: number };

export interface CreateApiKeyInput {
  name: string;
  scopes?: string[] | null;
  expiresAt?: Date | null;
}

const LAST_USED_RESOLUTION_MS = 60_000;
/** How far ahead a rolled key's old secret may be kept working. */
const MAX_ROLL_OVERLAP_MS = 30 * 24 * 3600 * 1000;
const CLIENT_SECRET_PATTERN = /^rcs_[0-9A-Za-z]{48}$/;

function sameHash(expectedHex: string | undefined, actualHex: string): boolean {
  const expected = Buffer.from(expectedHex ?? hashSecret('no such credential'), 'hex');
  return crypto.timingSafeEqual(expected, Buffer.from(actualHex, 'hex')) && expectedHex !== undefined;
}

function requireName(name: string): string {
  if (name.trim().length === 0 || name.length > 200) throw validationError('name has 1 to 200 characters', { field: 'name' });
  return name;
}

/**
 * Credentials: API keys (scoped, expiring, revocable, rollable), OAuth clients and their access
 * tokens, and the authentication of every request. Nothing here is ever deleted: keys and clients are
 * revoked.
 */
export class AuthService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly tokens: TokenService,
    private readonly lockout: AuthLockout,
    /** Completes idempotency claims of keyed creations inside their own transaction. */
    private readonly idempotency?: IdempotencyService,
    /** Verdicts of credentials that let callers in, so that their next requests read no database row. */
    private readonly cache?: CredentialCache,
  ) {}

  /** Closes the cache's change feed (its Redis connection). */
  async close(): Promise<void> {
    await this.cache?.close();
  }

  get jwks() {
    return this.tokens.jwks;
  }

  /** Creates a key and returns it in full: this is the only time the secret exists outside a hash. */
  async createApiKey(
    tenantId: string,
    input: CreateApiKeyInput,
    idempotency?: IdempotencyHandle,
  ): Promise<{ apiKey: ApiKeyEntity; secret: string }> {
    const scopes = input.scopes ? parseScopes(input.scopes) : [Scope.ADMIN];
    if (scopes.length === 0) throw validationError('scopes: a key needs at least one scope', { field: 'scopes' });
    if (input.expiresAt) {
      requireStorableDate(input.expiresAt, 'expiresAt');
      if (input.expiresAt.getTime() <= this.clock.now().getTime()) throw validationError('expiresAt must be in the future', { field: 'expiresAt' });
    }
    const generated = generateApiKey();
    const apiKey: ApiKeyEntity = {
      id: newId('apiKey'),
      tenantId,
      name: requireName(input.name),
      prefix: generated.prefix,
      secretHash: generated.secretHash,
      scopes: scopes.join(' '),
      createdAt: this.clock.now(),
      expiresAt: input.expiresAt ?? null,
      revokedAt: null,
      lastUsedAt: null,
    };
    await runInTransaction(this.dataSource, async (manager) => {
      await manager.insert(ApiKeyEntity, apiKey);
      await this.completeIdempotency(manager, idempotency, { apiKeyId: apiKey.id });
    });
    return { apiKey, secret: generated.secret };
  }

  async apiKeysByIds(tenantId: string, ids: readonly string[]): Promise<ApiKeyEntity[]> {
    if (ids.length === 0) return [];
    return this.dataSource
      .getRepository(ApiKeyEntity)
      .createQueryBuilder('k')
      .where('k.tenant_id = :tenantId AND k.id IN (:...ids)', { tenantId, ids: [...ids] })
      .getMany();
  }

  async oauthClientsByIds(tenantId: string, ids: readonly string[]): Promise<OAuthClientEntity[]> {
    if (ids.length === 0) return [];
    return this.dataSource
      .getRepository(OAuthClientEntity)
      .createQueryBuilder('c')
      .where('c.tenant_id = :tenantId AND c.id IN (:...ids)', { tenantId, ids: [...ids] })
      .getMany();
  }

  async listApiKeys(tenantId: string, request: PageRequest): Promise<Page<ApiKeyEntity>> {
    return readPage(request, (slice) => applyKeyset(this.tenantApiKeys(tenantId), slice, 'k.id', 'ASC').getMany(), (k) => k.id, {
      isKey: (key) => idKindOf(key) === 'apiKey',
    });
  }

  /** Exactly how many API keys the tenant has, revoked ones included. */
  countApiKeys(tenantId: string): Promise<number> {
    return this.tenantApiKeys(tenantId).getCount();
  }

  private tenantApiKeys(tenantId: string) {
    return this.dataSource.getRepository(ApiKeyEntity).createQueryBuilder('k').where('k.tenant_id = :tenantId', { tenantId });
  }

  private async lockApiKey(tenantId: string, id: string, manager = this.dataSource.manager, lock = true): Promise<ApiKeyEntity> {
    requireIdOfKind(id, 'apiKey', 'id');
    const query = manager.getRepository(ApiKeyEntity).createQueryBuilder('k').where('k.tenant_id = :tenantId AND k.id = :id', { tenantId, id });
    // SQLite transactions are serial already and have no row locks.
    if (lock && databaseKindOfSource(this.dataSource) === 'mysql') query.setLock('pessimistic_write');
    const key = await query.getOne();
    if (!key) throw notFoundError('API key', id);
    return key;
  }

  /** One key of the tenant as it is now (what a keyed revoke or roll replays when its response was not stored). */
  async apiKeyById(tenantId: string, id: string): Promise<ApiKeyEntity> {
    return this.lockApiKey(tenantId, id, this.dataSource.manager, false);
  }

  async revokeApiKey(tenantId: string, id: string, idempotency?: IdempotencyHandle): Promise<ApiKeyEntity> {
    const revoked = await runInTransaction(this.dataSource, async (manager) => {
      const key = await this.lockApiKey(tenantId, id, manager);
      if (key.revokedAt) throw new AppError(ErrorCode.INVALID_STATE_TRANSITION, `API key ${id} is already revoked`, { id });
      key.revokedAt = this.clock.now();
      await manager.update(ApiKeyEntity, { id: key.id }, { revokedAt: key.revokedAt });
      await this.completeIdempotency(manager, idempotency, { apiKeyId: key.id });
      return key;
    });
    // After the commit: a request that read the row before it must not cache what it read after this.
    await this.cache?.forget(revoked.id);
    return revoked;
  }

  /**
   * Rolls a key: a new key with the same name and scopes, while the old one keeps working until
   * `oldKeyExpiresAt` (default: 24 hours from now; at most 30 days), so deployments can switch over.
   */
  async rollApiKey(
    tenantId: string,
    id: string,
    oldKeyExpiresAt: Date | null | undefined,
    idempotency?: IdempotencyHandle,
  ): Promise<{ apiKey: ApiKeyEntity; secret: string; previous: ApiKeyEntity }> {
    const now = this.clock.now();
    const until = oldKeyExpiresAt ?? new Date(now.getTime() + 24 * 3600 * 1000);
    requireStorableDate(until, 'oldKeyExpiresAt');
    if (until.getTime() < now.getTime() || until.getTime() > now.getTime() + MAX_ROLL_OVERLAP_MS) {
      throw validationError('oldKeyExpiresAt must be between now and 30 days from now', { field: 'oldKeyExpiresAt' });
    }
    const rolled = await runInTransaction(this.dataSource, async (manager) => {
      const previous = await this.lockApiKey(tenantId, id, manager);
      if (previous.revokedAt || (previous.expiresAt && previous.expiresAt.getTime() <= now.getTime())) {
        throw new AppError(ErrorCode.INVALID_STATE_TRANSITION, `API key ${id} is revoked or expired and cannot be rolled`, { id });
      }
      const generated = generateApiKey();
      const apiKey: ApiKeyEntity = {
        ...previous,
        id: newId('apiKey'),
        prefix: generated.prefix,
        secretHash: generated.secretHash,
        createdAt: now,
        expiresAt: null,
        lastUsedAt: null,
      };
      await manager.insert(ApiKeyEntity, apiKey);
      if (!previous.expiresAt || previous.expiresAt.getTime() > until.getTime()) {
        previous.expiresAt = until;
        await manager.update(ApiKeyEntity, { id: previous.id }, { expiresAt: until });
      }
      await this.completeIdempotency(manager, idempotency, { apiKeyId: apiKey.id, previousId: previous.id });
      return { apiKey, secret: generated.secret, previous };
    });
    // The old key's verdicts carry its former expiry.
    await this.cache?.forget(rolled.previous.id);
    return rolled;
  }

  async createOAuthClient(
    tenantId: string,
    name: string,
    scopes: string[],
    idempotency?: IdempotencyHandle,
  ): Promise<{ client: OAuthClientEntity; secret: string }> {
    const parsed = parseScopes(scopes);
    if (parsed.length === 0) throw validationError('scopes: a client needs at least one scope', { field: 'scopes' });
    const secret = `rcs_${randomBase62(48)}`;
    const client: OAuthClientEntity = {
      id: newId('oauthClient'),
      tenantId,
      name: requireName(name),
      secretHash: hashSecret(secret),
      scopes: parsed.join(' '),
      createdAt: this.clock.now(),
      revokedAt: null,
    };
    await runInTransaction(this.dataSource, async (manager) => {
      await manager.insert(OAuthClientEntity, client);
      await this.completeIdempotency(manager, idempotency, { oauthClientId: client.id });
    });
    return { client, secret };
  }

  /** Records a keyed creation as done, in the transaction that creates the credential. */
  private async completeIdempotency(manager: EntityManager, handle: IdempotencyHandle | undefined, resultRef: Record<string, string>): Promise<void> {
    if (handle && this.idempotency) await this.idempotency.complete(manager, handle, { resultRef });
  }

  /** One OAuth client of the tenant as it is now (what a keyed revoke replays when its response was not stored). */
  async oauthClientById(tenantId: string, id: string): Promise<OAuthClientEntity> {
    requireIdOfKind(id, 'oauthClient', 'id');
    const client = await this.dataSource.getRepository(OAuthClientEntity).findOneBy({ tenantId, id });
    if (!client) throw notFoundError('OAuth client', id);
    return client;
  }

  async revokeOAuthClient(tenantId: string, id: string, idempotency?: IdempotencyHandle): Promise<OAuthClientEntity> {
    requireIdOfKind(id, 'oauthClient', 'id');
    const revoked = await runInTransaction(this.dataSource, async (manager) => {
      const client = await manager.getRepository(OAuthClientEntity).findOneBy({ tenantId, id });
      if (!client) throw notFoundError('OAuth client', id);
      if (client.revokedAt) throw new AppError(ErrorCode.INVALID_STATE_TRANSITION, `OAuth client ${id} is already revoked`, { id });
      client.revokedAt = this.clock.now();
      await manager.update(OAuthClientEntity, { id }, { revokedAt: client.revokedAt });
      await this.completeIdempotency(manager, idempotency, { oauthClientId: client.id });
      return client;
    });
    await this.cache?.forget(revoked.id);
    return revoked;
  }

  /**
   * The client credentials grant (RFC 6749 §4.4): checks the client and the requested scope, issues a
   * token. `source` is the caller's address: failures lock the client id from that address only.
   */
  async grantClientCredentials(clientId: string, clientSecret: string, requestedScope: string | undefined, source: string): Promise<TokenGrantResult> {
    const invalidClient = { ok: false as const, error: 'invalid_client' as const, description: 'Client authentication failed' };
    if (!/^cli_[0-9A-HJKMNP-TV-Z]{26}$/.test(clientId)) {
      // Still counted against the address, so that guessing ids costs the guesser its own lock.
      await this.lockout.recordFailure('cli_malformed', source);
      return invalidClient;
    }
    const lockedFor = await this.lockout.lockedForSeconds(clientId, source);
    if (lockedFor > 0) {
      return { ...invalidClient, description: `Too many failed attempts from this address: it is locked for ${lockedFor} s`, retryAfterSeconds: lockedFor };
    }
    const client = await this.dataSource.getRepository(OAuthClientEntity).findOneBy({ id: clientId });
    const secretOk = CLIENT_SECRET_PATTERN.test(clientSecret) && sameHash(client?.secretHash, hashSecret(clientSecret));
    if (!client || !secretOk || client.revokedAt) {
      await this.lockout.recordFailure(clientId, source);
      return invalidClient;
    }
    const allowed = client.scopes.split(' ').filter(Boolean);
    let scopes = allowed;
    if (requestedScope !== undefined) {
      const requested = requestedScope.split(' ').filter(Boolean);
      const unknown = requested.filter((scope) => !allowed.includes(scope));
      if (requested.length === 0 || unknown.length) {
        return { ok: false, error: 'invalid_scope', description: `Scope not granted to this client: ${unknown.slice(0, 5).map(echoOfInput).join(' ') || '(empty)'}` };
      }
      scopes = [...new Set(requested)].sort();
    }
    const accessToken = await this.tokens.issue(client.tenantId, client.id, scopes);
    return { ok: true, accessToken, expiresIn: this.tokens.ttlSeconds, scope: scopes.join(' '), tenantId: client.tenantId, clientId: client.id };
  }

  /**
   * Resolves an `Authorization` header value to a principal, or refuses with UNAUTHENTICATED. `source`
   * is the caller's address: failed API keys are counted and locked per address (see AuthLockout).
   */
  async authenticate(authorization: string | undefined, source: string): Promise<Principal> {
    if (!authorization) throw authenticationError('missing', 'Missing credentials: send "Authorization: Bearer <API key or access token>"');
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (!match) throw authenticationError('invalid_token', 'Invalid credentials: use the Bearer scheme');
    const credential = match[1];
    if (API_KEY_PATTERN.test(credential)) return this.authenticateApiKey(credential, source);
    if (credential.split('.').length === 3) return this.authenticateToken(credential);
    throw authenticationError('invalid_token', 'Invalid credentials');
  }

  private async authenticateApiKey(secret: string, source: string): Promise<Principal> {
    // A key whose checksum fails is still counted against its prefix's lockout, then refused.
    const checkedPrefix = apiKeyPrefixOf(secret);
    const prefix = checkedPrefix ?? (API_KEY_PATTERN.exec(secret) as RegExpExecArray)[1];
    const lockedFor = await this.lockout.lockedForSeconds(prefix, source);
    if (lockedFor > 0) throw authenticationError('locked', `Too many failed attempts from this address: it is locked for ${lockedFor} s`, lockedFor);
    const secretHash = hashSecret(secret);
    // The key's stored hash names its cached verdict: equal hashes are the same key the database let in.
    const cacheKey = `apiKey:${secretHash}`;
    const cached = checkedPrefix !== undefined ? this.cache?.get<ApiKeyVerdict>(cacheKey) : undefined;
    if (cached) {
      await this.recordUse(cached.value, this.clock.now());
      return cached.value.principal;
    }
    const ticket = this.cache?.beginRead();
    // One plain statement, not the query builder, whose cost showed in profiles.
    const [row]: { id: string; tenant_id: string; secret_hash: string; revoked_at: unknown; expires_at: unknown; scopes: string; last_used_at: unknown }[] =
      await this.dataSource.query('SELECT id, tenant_id, secret_hash, revoked_at, expires_at, scopes, last_used_at FROM api_keys WHERE prefix = ?', [
        prefix,
      ]);
    const now = this.clock.now();
    const expiresAt = row?.expires_at ? fromDbTimestamp(row.expires_at) : null;
    const valid =
      checkedPrefix !== undefined &&
      sameHash(row?.secret_hash, secretHash) &&
      (row.revoked_at === null || row.revoked_at === undefined) &&
      (!expiresAt || expiresAt.getTime() > now.getTime());
    if (!valid) {
      // Refusals are never cached: each one reads the row and counts toward the lockout.
      await this.lockout.recordFailure(prefix, source);
      throw authenticationError('invalid_token', 'Invalid credentials');
    }
    const verdict: ApiKeyVerdict = {
      principal: {
        tenantId: String(row.tenant_id),
        credentialId: String(row.id),
        credentialKind: CredentialKind.API_KEY,
        scopes: new Set(String(row.scopes).split(' ').filter(Boolean)),
        expiresAt,
      },
      lastUsedAt: row.last_used_at ? fromDbTimestamp(row.last_used_at) : null,
    };
    await this.recordUse(verdict, now);
    if (ticket) this.cache?.store(cacheKey, { credentialId: verdict.principal.credentialId, expiresAt, value: verdict }, ticket);
    return verdict.principal;
  }

  /** Records the key's use, at most once a minute (per process), so that using a key does not cost a write per request. */
  private async recordUse(verdict: ApiKeyVerdict, now: Date): Promise<void> {
    const lastUsed = verdict.lastUsedAt;
    if (lastUsed && now.getTime() - lastUsed.getTime() <= LAST_USED_RESOLUTION_MS) return;
    // Before the write: concurrent requests with the same cached verdict do not write it again.
    verdict.lastUsedAt = now;
    await this.dataSource.query('UPDATE api_keys SET last_used_at = ? WHERE id = ?', [toDbTimestamp(now), verdict.principal.credentialId]);
  }

  private async authenticateToken(token: string): Promise<Principal> {
    let verified;
    try {
      verified = await this.tokens.verify(token);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw authenticationError('invalid_token', error.message);
      throw error;
    }
    if (verified.issuer === 'reckon') {
      const clientTenantId = await this.tenantOfLiveOAuthClient(verified.subject);
      if (clientTenantId !== verified.tenantId) throw authenticationError('invalid_token', 'The access token’s client is revoked');
    } else if (!(await this.tenantExists(verified.tenantId))) {
      throw authenticationError('invalid_token', 'The access token names no known tenant');
    }
    return {
      tenantId: verified.tenantId,
      credentialId: verified.subject,
      credentialKind: verified.issuer === 'reckon' ? CredentialKind.OAUTH_TOKEN : CredentialKind.EXTERNAL_TOKEN,
      scopes: new Set(verified.scopes),
      expiresAt: verified.expiresAt,
    };
  }

  /** The tenant of the OAuth client, or null when it does not exist or is revoked. */
  private async tenantOfLiveOAuthClient(clientId: string): Promise<string | null> {
    const cacheKey = `oauthClient:${clientId}`;
    const cached = this.cache?.get<string>(cacheKey);
    if (cached) return cached.value;
    const ticket = this.cache?.beginRead();
    const [client]: { revoked_at: unknown; tenant_id: string }[] = await this.dataSource.query('SELECT revoked_at, tenant_id FROM oauth_clients WHERE id = ?', [
      clientId,
    ]);
    if (!client || (client.revoked_at !== null && client.revoked_at !== undefined)) return null;
    const tenantId = String(client.tenant_id);
    if (ticket) this.cache?.store(cacheKey, { credentialId: clientId, expiresAt: null, value: tenantId }, ticket);
    return tenantId;
  }

  /** Whether the tenant an external token names exists (tenants are never deleted, so a yes is cached). */
  private async tenantExists(tenantId: string): Promise<boolean> {
    const cacheKey = `tenant:${tenantId}`;
    if (this.cache?.get<true>(cacheKey)) return true;
    const ticket = this.cache?.beginRead();
    const [tenant] = await this.dataSource.query('SELECT id FROM tenants WHERE id = ?', [tenantId]);
    if (!tenant) return false;
    if (ticket) this.cache?.store(cacheKey, { credentialId: tenantId, expiresAt: null, value: true }, ticket);
    return true;
  }

  /**
   * Whether a principal still holds: for long-lived WebSocket streams, which must end when the
   * credential expires or is revoked.
   */
  async isStillValid(principal: Principal): Promise<boolean> {
    if (principal.expiresAt && principal.expiresAt.getTime() <= this.clock.now().getTime()) return false;
    if (principal.credentialKind === CredentialKind.API_KEY) return this.apiKeyHolds(principal.credentialId);
    if (principal.credentialKind === CredentialKind.OAUTH_TOKEN) return (await this.tenantOfLiveOAuthClient(principal.credentialId)) !== null;
    return true;
  }

  /** Whether the API key is neither revoked nor expired (its expiry may have been brought forward by a roll). */
  private async apiKeyHolds(id: string): Promise<boolean> {
    const cacheKey = `apiKeyId:${id}`;
    if (this.cache?.get<true>(cacheKey)) return true;
    const ticket = this.cache?.beginRead();
    const [row] = await this.dataSource.query('SELECT revoked_at, expires_at FROM api_keys WHERE id = ?', [id]);
    if (!row || (row.revoked_at !== null && row.revoked_at !== undefined)) return false;
    const expiresAt = row.expires_at ? fromDbTimestamp(row.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= this.clock.now().getTime()) return false;
    if (ticket) this.cache?.store(cacheKey, { credentialId: id, expiresAt, value: true }, ticket);
    return true;
  }
}
