import { performance } from 'node:perf_hooks';
import type { Clock } from '../../common/clock';

/**
 * Tells every API process that a credential changed (an API key revoked or rolled, an OAuth client
 * revoked), so that each forgets what it cached about it. With Redis it is a pub/sub channel; without
 * Redis there is none, and the cache's short TTL bounds how stale another process may be.
 */
export interface CredentialChangeFeed {
  /** Announces the change to every process, this one included. Never rejects: a failure is logged. */
  publish(credentialId: string): Promise<void>;
  /** Starts hearing changes. `live(false)` while messages may be missed (not yet subscribed, connection lost). */
  start(listener: { changed(credentialId: string): void; live(isLive: boolean): void }): void;
  close(): Promise<void>;
}

export interface CredentialCacheOptions {
  /** Most entries held (AUTH_CACHE_MAX_ENTRIES); the least recently used goes first. 0 turns caching off. */
  maxEntries: number;
  /** How long an entry is trusted while no change feed is live (AUTH_CACHE_TTL_MS): without Redis, always. */
  ttlMs: number;
  /** How long an entry is trusted while the change feed is live (AUTH_CACHE_REDIS_TTL_MS): a backstop for a lost message. */
  liveFeedTtlMs: number;
}

/** What was read from the database about one credential, while it held. */
export interface CachedVerdict<T> {
  /** The API key, OAuth client or tenant whose change makes this entry wrong. */
  credentialId: string;
  /** The instant the credential stops working, if any: the entry is never used at or after it. */
  expiresAt: Date | null;
  value: T;
}

interface Entry {
  verdict: CachedVerdict<unknown>;
  /** performance.now() when the database read this verdict comes from started. */
  readAt: number;
}

/** Taken before the database read whose verdict is to be cached: see CredentialCache.store. */
export interface ReadTicket {
  readonly generation: number;
  readonly startedAt: number;
}

/**
 * A bounded in-process cache of positive authentication verdicts, so that a request authenticated with
 * a known credential runs no database statement. Keys are derived from the credential, never the
 * secret itself (an API key's SHA-256, as stored in the database; an OAuth client's id).
 *
 * Only verdicts that let a caller in are cached: refusals always go to the database and count toward
 * the lockout, and random keys can never fill the cache or push good entries out.
 *
 * An entry is dropped
 * - at once in this process when the credential changes here (AuthService calls `forget` after commit),
 * - when the change feed announces a change from any process (Redis: milliseconds),
 * - at the credential's own expiry, by the service's clock,
 * - after `liveFeedTtlMs` while the feed is live, or `ttlMs` while it is not (no Redis, or Redis lost),
 * - and all at once when the feed becomes live again, since messages sent meanwhile were missed.
 *
 * A verdict read while a change was announced is not stored (the generation moved on): the read may
 * have seen the row before the change committed.
 */
export class CredentialCache {
  private readonly entries = new Map<string, Entry>();
  private readonly keysByCredential = new Map<string, Set<string>>();
  private generation = 0;
  private feedLive = false;

  constructor(
    private readonly options: CredentialCacheOptions,
    private readonly clock: Clock,
    private readonly feed: CredentialChangeFeed | null,
    private readonly onLookup?: (hit: boolean) => void,
    /** Monotonic milliseconds for the TTLs (the service clock may be a test's, moved by hand, for expiries). */
    private readonly monotonicMs: () => number = () => performance.now(),
  ) {
    feed?.start({
      changed: (credentialId) => this.forgetHere(credentialId),
      live: (isLive) => {
        // Messages published while the feed was down never arrive: nothing cached before can be trusted.
        if (isLive) this.clear();
        this.feedLive = isLive;
      },
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Call before reading the database for a verdict to store. */
  beginRead(): ReadTicket {
    return { generation: this.generation, startedAt: this.monotonicMs() };
  }

  get<T>(key: string): CachedVerdict<T> | undefined {
    const entry = this.entries.get(key);
    if (entry && this.holds(entry)) {
      // Most recently used last: Map keeps insertion order, so the first key is the one to evict.
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.onLookup?.(true);
      return entry.verdict as CachedVerdict<T>;
    }
    if (entry) this.remove(key, entry);
    this.onLookup?.(false);
    return undefined;
  }

  store<T>(key: string, verdict: CachedVerdict<T>, ticket: ReadTicket): void {
    if (this.options.maxEntries === 0 || ticket.generation !== this.generation) return;
    const entry: Entry = { verdict, readAt: ticket.startedAt };
    if (!this.holds(entry)) return;
    const previous = this.entries.get(key);
    if (previous) this.remove(key, previous);
    this.entries.set(key, entry);
    let keys = this.keysByCredential.get(verdict.credentialId);
    if (!keys) this.keysByCredential.set(verdict.credentialId, (keys = new Set()));
    keys.add(key);
    while (this.entries.size > this.options.maxEntries) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.remove(oldestKey, oldest);
    }
  }

  /**
   * Drops everything cached about the credential in this process and announces the change to the
   * others. Called after the change committed; resolves once announced (a failure to announce is
   * logged by the feed: `liveFeedTtlMs` then bounds the other processes' staleness).
   */
  async forget(credentialId: string): Promise<void> {
    this.forgetHere(credentialId);
    await this.feed?.publish(credentialId);
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
    this.keysByCredential.clear();
  }

  async close(): Promise<void> {
    this.clear();
    await this.feed?.close();
  }

  private forgetHere(credentialId: string): void {
    this.generation += 1;
    const keys = this.keysByCredential.get(credentialId);
    if (!keys) return;
    this.keysByCredential.delete(credentialId);
    for (const key of keys) this.entries.delete(key);
  }

  private holds(entry: Entry): boolean {
    const ttlMs = this.feedLive ? this.options.liveFeedTtlMs : this.options.ttlMs;
    if (this.monotonicMs() - entry.readAt >= ttlMs) return false;
    const expiresAt = entry.verdict.expiresAt;
    return !expiresAt || expiresAt.getTime() > this.clock.now().getTime();
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    const keys = this.keysByCredential.get(entry.verdict.credentialId);
    keys?.delete(key);
    if (keys?.size === 0) this.keysByCredential.delete(entry.verdict.credentialId);
  }
}
