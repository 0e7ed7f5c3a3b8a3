import { CredentialCache, type CredentialChangeFeed } from '../../src/modules/auth/credential-cache';
import { TestClock } from '../helpers/test-clock';

/**
 * The authentication cache's rules, with its clocks moved by hand: the service clock (credential
 * expiry) and the monotonic one (TTLs). The change feed here is an in-memory stand-in that the test
 * drives; the Redis one is exercised across real processes in the integration suites.
 */
class HandDrivenFeed implements CredentialChangeFeed {
  published: string[] = [];
  private listener: { changed(credentialId: string): void; live(isLive: boolean): void } | null = null;

  async publish(credentialId: string): Promise<void> {
    this.published.push(credentialId);
  }

  start(listener: { changed(credentialId: string): void; live(isLive: boolean): void }): void {
    this.listener = listener;
  }

  async close(): Promise<void> {}

  announce(credentialId: string): void {
    this.listener?.changed(credentialId);
  }

  setLive(isLive: boolean): void {
    this.listener?.live(isLive);
  }
}

function setUp(options: { maxEntries?: number; ttlMs?: number; liveFeedTtlMs?: number; feed?: HandDrivenFeed } = {}) {
  const clock = new TestClock();
  let monotonic = 1_000;
  const lookups = { hit: 0, miss: 0 };
  const cache = new CredentialCache(
    { maxEntries: options.maxEntries ?? 100, ttlMs: options.ttlMs ?? 1000, liveFeedTtlMs: options.liveFeedTtlMs ?? 60_000 },
    clock,
    options.feed ?? null,
    (hit) => (hit ? (lookups.hit += 1) : (lookups.miss += 1)),
    () => monotonic,
  );
  const put = (key: string, credentialId = key, expiresAt: Date | null = null) => cache.store(key, { credentialId, expiresAt, value: key }, cache.beginRead());
  return {
    clock,
    cache,
    lookups,
    put,
    advanceMonotonic: (ms: number) => (monotonic += ms),
    has: (key: string) => cache.get<string>(key)?.value === key,
  };
}

describe('CredentialCache', () => {
  it('holds at most maxEntries verdicts and evicts the least recently used', () => {
    const { cache, put, has } = setUp({ maxEntries: 3 });
    put('a');
    put('b');
    put('c');
    expect(has('a')).toBe(true); // a is now the most recently used: b is the oldest
    put('d');
    expect(cache.size).toBe(3);
    expect([has('a'), has('b'), has('c'), has('d')]).toEqual([true, false, true, true]);
  });

  it('caches nothing with maxEntries 0', () => {
    const { cache, put, has } = setUp({ maxEntries: 0 });
    put('a');
    expect(has('a')).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('never serves a verdict at or after the credential’s expiry, by the service clock', () => {
    const { clock, put, has } = setUp({ ttlMs: 3_600_000 });
    const expiresAt = new Date(clock.now().getTime() + 10 * 60_000);
    put('expiring', 'key_1', expiresAt);
    clock.advance(10 * 60_000 - 1);
    expect(has('expiring')).toBe(true);
    clock.advance(1);
    expect(has('expiring')).toBe(false);
    // Already expired when read: not stored at all.
    put('expired', 'key_2', new Date(clock.now().getTime() - 1));
    expect(has('expired')).toBe(false);
  });

  it('without a change feed trusts a verdict for ttlMs from the start of the read it came from', () => {
    const { cache, advanceMonotonic, has } = setUp({ ttlMs: 1000 });
    const ticket = cache.beginRead();
    advanceMonotonic(400); // the database read took 400 ms
    cache.store('slow', { credentialId: 'key_1', expiresAt: null, value: 'slow' }, ticket);
    advanceMonotonic(599);
    expect(has('slow')).toBe(true);
    advanceMonotonic(1);
    expect(has('slow')).toBe(false);
  });

  it('forgets every verdict of a credential at once and announces it', async () => {
    const feed = new HandDrivenFeed();
    const { cache, put, has } = setUp({ feed });
    put('by-hash', 'key_1');
    put('by-id', 'key_1');
    put('other', 'key_2');
    await cache.forget('key_1');
    expect([has('by-hash'), has('by-id'), has('other')]).toEqual([false, false, true]);
    expect(feed.published).toEqual(['key_1']);
  });

  it('drops what another process announced', () => {
    const feed = new HandDrivenFeed();
    const { put, has } = setUp({ feed });
    feed.setLive(true);
    put('a', 'key_1');
    put('b', 'key_2');
    feed.announce('key_1');
    expect([has('a'), has('b')]).toEqual([false, true]);
  });

  it('does not store a verdict whose read overlapped an announced change: the read may predate the commit', () => {
    const feed = new HandDrivenFeed();
    const { cache, has } = setUp({ feed });
    const ticket = cache.beginRead();
    feed.announce('key_1');
    cache.store('raced', { credentialId: 'key_1', expiresAt: null, value: 'raced' }, ticket);
    expect(has('raced')).toBe(false);
    // A read that starts after the change is stored as usual.
    cache.store('later', { credentialId: 'key_1', expiresAt: null, value: 'later' }, cache.beginRead());
    expect(has('later')).toBe(true);
  });

  it('trusts verdicts for liveFeedTtlMs while the feed is live, ttlMs while it is down, and clears when it comes back', () => {
    const feed = new HandDrivenFeed();
    const { put, has, advanceMonotonic } = setUp({ feed, ttlMs: 1000, liveFeedTtlMs: 60_000 });
    feed.setLive(true);
    put('a');
    advanceMonotonic(30_000);
    expect(has('a')).toBe(true);
    advanceMonotonic(30_000);
    expect(has('a')).toBe(false);

    put('b');
    advanceMonotonic(5_000);
    feed.setLive(false); // messages may be lost from now on: only the short TTL holds
    expect(has('b')).toBe(false);
    put('c');
    advanceMonotonic(999);
    expect(has('c')).toBe(true);
    feed.setLive(true); // what was announced meanwhile never arrived: nothing from before is kept
    expect(has('c')).toBe(false);
  });

  it('counts hits and misses', () => {
    const { put, has, lookups } = setUp();
    put('a');
    has('a');
    has('a');
    has('b');
    expect(lookups).toEqual({ hit: 2, miss: 1 });
  });
});
