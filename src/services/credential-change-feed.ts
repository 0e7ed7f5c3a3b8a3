import type Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../common/clock';
import type { Metrics } from '../common/metrics';
import type { AuthConfig } from '../config';
import { CredentialCache, type CredentialChangeFeed } from '../modules/auth/credential-cache';

/** The channel every API process hears credential changes on: the message is the credential's id. */
export const CREDENTIAL_CHANGES_CHANNEL = 'reckon:credential-changes';

/**
 * The credential change feed through Redis pub/sub. Its subscriber connection is its own, not the
 * subscriptions' (src/graphql/pubsub.ts), because the cache must know exactly when it hears every
 * message: it subscribes itself on each 'ready' (ioredis's automatic resubscription is off, so no
 * SUBSCRIBE races the connection's handshake, ioredis#2037) and is live only once the SUBSCRIBE is
 * acknowledged; it is not live from the moment the connection closes.
 */
class RedisCredentialChangeFeed implements CredentialChangeFeed {
  private subscriber: Redis | null = null;

  constructor(
    private readonly publisher: Redis,
    private readonly log: Logger | undefined,
  ) {}

  async publish(credentialId: string): Promise<void> {
    try {
      await this.publisher.publish(CREDENTIAL_CHANGES_CHANNEL, credentialId);
    } catch (error) {
      this.log?.error({ err: error, credentialId }, 'credential change not announced to the other API processes: their cached verdicts expire with AUTH_CACHE_REDIS_TTL_MS');
    }
  }

  start(listener: { changed(credentialId: string): void; live(isLive: boolean): void }): void {
    const subscriber = this.publisher.duplicate({ disableClientInfo: true, autoResubscribe: false });
    this.subscriber = subscriber;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === CREDENTIAL_CHANGES_CHANNEL) listener.changed(message);
    });
    subscriber.on('ready', () => {
      subscriber.subscribe(CREDENTIAL_CHANGES_CHANNEL).then(
        () => listener.live(true),
        (error: unknown) => this.log?.warn({ err: error }, 'credential change feed: SUBSCRIBE failed; retried on the next connection'),
      );
    });
    subscriber.on('close', () => listener.live(false));
    subscriber.on('error', (error: unknown) => this.log?.warn({ err: error }, 'Redis credential change feed connection error'));
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = null;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }
}

/** The authentication cache of this process: its change feed through Redis when REDIS_URL is set. */
export function createCredentialCache(config: AuthConfig['cache'], clock: Clock, redis: Redis | null, metrics: Metrics, log?: Logger): CredentialCache {
  const feed = redis ? new RedisCredentialChangeFeed(redis, log) : null;
  return new CredentialCache(config, clock, feed, (hit) => metrics.authCacheLookups.inc({ result: hit ? 'hit' : 'miss' }));
}
