import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '../common/errors';

/**
 * Publish/subscribe for live events (GraphQL subscriptions). Messages are strings, so that the
 * in-memory transport and Redis behave alike: whatever a subscriber receives went through the same
 * encoding whichever transport carried it.
 *
 * Delivery is at most once, as Redis pub/sub is: a subscriber that is not connected when an event is
 * published never sees it. Subscribers that must not miss anything catch up with a query after they
 * subscribe.
 */
export interface PubSub {
  /** Sends a message to every subscriber of the channel, in this process and (with Redis) in every other. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Opens a stream of the channel's messages. Resolves once the channel is live (with Redis: once the
   * SUBSCRIBE is acknowledged), so that every message published after that reaches the stream.
   */
  subscribe(channel: string, options?: { bufferLimit?: number }): Promise<MessageStream>;
  /** Streams of this process on the channel that are live; for tests and metrics. */
  listenerCount(channel: string): number;
  /** Ends every stream and closes the Redis subscriber connection, if any. */
  close(): Promise<void>;
}

/** How many undelivered messages one stream may hold before it is ended as too slow. */
export const DEFAULT_STREAM_BUFFER_LIMIT = 1000;

type Waiter = { resolve(result: IteratorResult<string>): void; reject(error: unknown): void };

/**
 * One subscriber's messages, in order, as an async iterator. A consumer that falls more than
 * `bufferLimit` messages behind has its stream ended with an error rather than growing the process's
 * memory without bound or dropping events silently.
 */
export class MessageStream implements AsyncIterableIterator<string> {
  private readonly buffer: string[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: Error | null = null;
  private finished = false;
  private detached = false;

  constructor(
    private readonly bufferLimit: number,
    private readonly detach: () => void,
  ) {}

  /** Called by the transport for each message of the channel. */
  push(message: string): void {
    if (this.finished || this.failure) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ value: message, done: false });
      return;
    }
    if (this.buffer.length >= this.bufferLimit) {
      this.fail(
        new AppError(
          ErrorCode.SERVICE_UNAVAILABLE,
          `This subscriber fell more than ${this.bufferLimit} events behind and its stream was ended; subscribe again and catch up with a query`,
          { bufferLimit: this.bufferLimit },
        ),
      );
      return;
    }
    this.buffer.push(message);
  }

  /** Ends the stream with an error, after the messages already buffered. */
  fail(error: Error): void {
    if (this.finished || this.failure) return;
    this.failure = error;
    this.detachOnce();
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  next(): Promise<IteratorResult<string>> {
    const value = this.buffer.shift();
    if (value !== undefined) return Promise.resolve({ value, done: false });
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    if (this.failure) {
      // Reported once; the stream is over after that.
      const failure = this.failure;
      this.finish();
      return Promise.reject(failure);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<string>> {
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<string>> {
    this.finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<string> {
    return this;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.buffer.length = 0;
    this.detachOnce();
    for (const waiter of this.waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
  }

  private detachOnce(): void {
    if (this.detached) return;
    this.detached = true;
    this.detach();
  }
}

interface ChannelState {
  streams: Set<MessageStream>;
  /** Settles when the transport delivers the channel's messages (at once in memory). */
  ready: Promise<void>;
  live: boolean;
}

/**
 * The local fan-out both transports share: channel → streams of this process. The transports differ
 * in how a channel starts and stops receiving and in where a published message goes first.
 */
abstract class FanOutPubSub implements PubSub {
  protected readonly channels = new Map<string, ChannelState>();
  private closed = false;

  abstract publish(channel: string, message: string): Promise<void>;
  protected abstract startChannel(channel: string): Promise<void>;
  protected abstract stopChannel(channel: string): void;

  async subscribe(channel: string, options: { bufferLimit?: number } = {}): Promise<MessageStream> {
    if (this.closed) throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The server is shutting down; subscribe again on another one');
    let state = this.channels.get(channel);
    if (!state) {
      const created: ChannelState = { streams: new Set(), ready: Promise.resolve(), live: false };
      created.ready = this.startChannel(channel).then(() => {
        created.live = true;
      });
      state = created;
      this.channels.set(channel, state);
    }
    const joined = state;
    const stream = new MessageStream(options.bufferLimit ?? DEFAULT_STREAM_BUFFER_LIMIT, () => this.leave(channel, joined, stream));
    joined.streams.add(stream);
    try {
      await joined.ready;
    } catch {
      await stream.return();
      throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'Live events are unavailable right now; subscribe again later');
    }
    return stream;
  }

  listenerCount(channel: string): number {
    const state = this.channels.get(channel);
    return state?.live ? state.streams.size : 0;
  }

  /** Hands a message that arrived on a channel to each of its streams. */
  protected deliver(channel: string, message: string): void {
    const state = this.channels.get(channel);
    if (!state) return;
    for (const stream of [...state.streams]) stream.push(message);
  }

  private leave(channel: string, state: ChannelState, stream: MessageStream): void {
    state.streams.delete(stream);
    // A channel that a later subscriber started again has a new state: leave that one alone.
    if (state.streams.size > 0 || this.channels.get(channel) !== state) return;
    this.channels.delete(channel);
    this.stopChannel(channel);
  }

  async close(): Promise<void> {
    this.closed = true;
    const streams = [...this.channels.values()].flatMap((state) => [...state.streams]);
    await Promise.all(streams.map((stream) => stream.return()));
  }
}

/** How long a first subscription waits for the Redis subscriber connection before answering SERVICE_UNAVAILABLE. */
const SUBSCRIBER_READY_TIMEOUT_MS = 5000;

/** One process: messages go straight from publisher to subscribers. */
class MemoryPubSub extends FanOutPubSub {
  async publish(channel: string, message: string): Promise<void> {
    this.deliver(channel, message);
  }

  protected async startChannel(): Promise<void> {}

  protected stopChannel(): void {}
}

/**
 * Many processes: every message goes through Redis, even to this process's own subscribers, so that
 * all subscribers of a channel see its messages in the same order. Subscribing needs a connection of
 * its own (a Redis connection in subscriber mode can do nothing else); it is opened with the first
 * subscription, and ioredis subscribes again to every channel after a reconnect.
 */
class RedisPubSub extends FanOutPubSub {
  private subscriber: Redis | null = null;
  private subscriberReady: Promise<void> | null = null;

  constructor(
    private readonly publisher: Redis,
    private readonly log: Logger | undefined,
  ) {
    super();
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.publisher.publish(channel, message);
  }

  /**
   * The subscriber connection, once it is ready. A SUBSCRIBE sent while ioredis is still shaking
   * hands (CLIENT SETINFO, then the INFO ready check) can put the connection in subscriber mode first,
   * and the handshake's own commands then fail ("Connection in subscriber mode, only subscriber
   * commands may be used", ioredis#2037): the first subscription of a process failed now and then.
   * So the connection skips CLIENT SETINFO and the first SUBSCRIBE waits for 'ready'.
   */
  private async subscriberConnection(): Promise<Redis> {
    if (!this.subscriber || !this.subscriberReady) {
      const subscriber = this.publisher.duplicate({ disableClientInfo: true });
      subscriber.on('message', (channel: string, message: string) => this.deliver(channel, message));
      subscriber.on('error', (error: unknown) => this.log?.warn({ err: error }, 'Redis subscriber connection error'));
      this.subscriber = subscriber;
      this.subscriberReady = new Promise<void>((resolve, reject) => {
        if (subscriber.status === 'ready') {
          resolve();
          return;
        }
        const timer = setTimeout(() => {
          cleanUp();
          reject(new Error(`The Redis subscriber connection was not ready within ${SUBSCRIBER_READY_TIMEOUT_MS} ms`));
        }, SUBSCRIBER_READY_TIMEOUT_MS);
        const ready = () => {
          cleanUp();
          resolve();
        };
        const cleanUp = () => {
          clearTimeout(timer);
          subscriber.off('ready', ready);
        };
        subscriber.on('ready', ready);
      });
      // A connection that never became ready is dropped: the next subscription tries a fresh one.
      this.subscriberReady.catch(() => {
        if (this.subscriber === subscriber) {
          this.subscriber = null;
          this.subscriberReady = null;
          subscriber.disconnect();
        }
      });
    }
    const subscriber = this.subscriber;
    await this.subscriberReady;
    return subscriber;
  }

  protected async startChannel(channel: string): Promise<void> {
    await (await this.subscriberConnection()).subscribe(channel);
  }

  protected stopChannel(channel: string): void {
    // Commands on one connection run in order, so a SUBSCRIBE sent after this UNSUBSCRIBE wins.
    this.subscriber?.unsubscribe(channel).catch((error: unknown) => this.log?.warn({ err: error, channel }, 'Redis UNSUBSCRIBE failed'));
  }

  override async close(): Promise<void> {
    await super.close();
    const subscriber = this.subscriber;
    this.subscriber = null;
    this.subscriberReady = null;
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
  }
}

/** In memory without Redis (one process); through Redis, with a subscriber connection of its own, with it. */
export function createPubSub(redis: Redis | null, log?: Logger): PubSub {
  return redis ? new RedisPubSub(redis, log) : new MemoryPubSub();
}

/**
 * A channel's messages decoded, keeping only those `accept` takes (each module checks the tenant again,
 * so that a mistake in channel naming could not leak another tenant's object). Hand-written rather
 * than an async generator: a generator waiting for the next message would hold back return() until
 * that message came, leaving a closed subscription attached to the channel.
 */
export async function subscribeDecoded<T>(
  pubSub: PubSub,
  channel: string,
  decode: (message: string) => T,
  accept: (value: T) => boolean,
): Promise<AsyncIterableIterator<T>> {
  const stream = await pubSub.subscribe(channel);
  const values: AsyncIterableIterator<T> = {
    async next() {
      for (;;) {
        const result = await stream.next();
        if (result.done) return { value: undefined, done: true };
        const value = decode(result.value);
        if (accept(value)) return { value, done: false };
      }
    },
    async return() {
      await stream.return();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await stream.return();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return values;
    },
  };
  return values;
}
