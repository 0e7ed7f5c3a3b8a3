import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock';
import { type Metrics, WebhookDeliveryOutcome } from '../../common/metrics';
import { checkedLookup, type DestinationPolicy, RefusedDestinationError, resolveDestination } from './webhook-destinations';
import type { AttemptResult, LeasedDelivery, WebhookDeliveriesService } from './webhook-deliveries.service';

/** What the worker needs of an endpoint at delivery time (read fresh: it may have been disabled). */
export interface DeliveryTarget {
  url: string;
  signingSecret: string;
  disabled: boolean;
}

export interface WebhookWorkerOptions extends DestinationPolicy {
  pollIntervalMs: number;
  concurrency: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxDelayMs: number;
}

/** The most of a receiver's answer that is read (and then discarded): the status is what counts. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const USER_AGENT = 'Reckon-Webhooks/1';

/**
 * The Standard Webhooks signature (https://www.standardwebhooks.com): HMAC-SHA256, keyed with the
 * secret's bytes (the base64 after `whsec_`), over `id.timestamp.body`, sent as `v1,<base64>`.
 * Secrets made before they were standard base64 were base64url; Node decodes both to the same bytes.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  return `v1,${crypto.createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/**
 * The wait before attempt n+1 after n failed attempts: exponential (base·2^(n−1), capped) with full
 * jitter (uniformly anywhere from 0 to that), so that receivers coming back from an outage are not
 * hit by every sender's retries at the same instants.
 */
export function retryDelayMs(failedAttempts: number, baseMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseMs * 2 ** Math.min(Math.max(failedAttempts - 1, 0), 40));
  return Math.floor(random() * ceiling);
}

/**
 * Sends leased deliveries. Every API process runs one; rows are leased (see
 * WebhookDeliveriesService.lease), so a delivery is sent by one process at a time, and a process that
 * dies mid-attempt leaves its rows to another once their lease expires (the receiver may then see the
 * same webhook-id twice: at-least-once, as every webhook scheme is; receivers deduplicate on it).
 */
export class WebhookDeliveryWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly leaseMs: number;

  constructor(
    private readonly deliveries: WebhookDeliveriesService,
    private readonly targetOf: (tenantId: string, endpointId: string) => Promise<DeliveryTarget | null>,
    private readonly clock: Clock,
    private readonly options: WebhookWorkerOptions,
    private readonly metrics?: Pick<Metrics, 'webhookDeliveries'>,
    private readonly log?: Logger,
  ) {
    // Longer than any attempt can take (lookup, connect and answer are all inside the timeout), with
    // room for recording it: a lease never expires under a worker still sending.
    this.leaseMs = options.timeoutMs * 2 + 30_000;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.tick(), this.options.pollIntervalMs);
    this.timer.unref();
  }

  /** Stops polling and waits (until `deadline`, ms since the epoch) for the attempts in flight to be recorded. */
  async stop(deadline = Date.now() + 10_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.running) return;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((resolve) => (timeout = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    if (timeout) clearTimeout(timeout);
  }

  /** One round: lease due deliveries and send them, again while full batches keep coming. */
  tick(): Promise<void> {
    if (this.running || this.stopped) return this.running ?? Promise.resolve();
    this.running = (async () => {
      try {
        for (;;) {
          const batch = await this.deliveries.lease(this.options.concurrency, this.leaseMs);
          await Promise.all(batch.map((delivery) => this.deliver(delivery)));
          if (batch.length < this.options.concurrency || this.stopped) break;
        }
      } catch (error) {
        this.log?.warn({ err: error }, 'webhook delivery round failed; the next one retries');
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async deliver(delivery: LeasedDelivery): Promise<void> {
    const startedAt = this.clock.now();
    const started = performance.now();
    let result: AttemptResult;
    const target = await this.targetOf(delivery.tenantId, delivery.endpointId);
    if (!target || target.disabled) {
      result = { startedAt, latencyMs: 0, statusCode: null, error: 'The endpoint was disabled; nothing was sent' };
      await this.finish(delivery, result, WebhookDeliveryOutcome.DEAD_LETTERED, null);
      return;
    }
    try {
      const statusCode = await this.post(target, delivery);
      result = { startedAt, latencyMs: performance.now() - started, statusCode, error: statusCode >= 200 && statusCode < 300 ? null : `HTTP ${statusCode}` };
    } catch (error) {
      result = { startedAt, latencyMs: performance.now() - started, statusCode: null, error: describeFailure(error) };
    }
    if (result.error === null) {
      await this.finish(delivery, result, WebhookDeliveryOutcome.DELIVERED, null);
      return;
    }
    const now = this.clock.now();
    const failed = delivery.attemptCount + 1;
    if (now.getTime() >= delivery.retryUntil.getTime()) {
      await this.finish(delivery, result, WebhookDeliveryOutcome.DEAD_LETTERED, null);
      return;
    }
    // The last retry falls on the budget's end at the latest; failing then dead-letters.
    const next = Math.min(now.getTime() + retryDelayMs(failed, this.options.retryBaseMs, this.options.retryMaxDelayMs), delivery.retryUntil.getTime());
    await this.finish(delivery, result, WebhookDeliveryOutcome.RETRY_SCHEDULED, new Date(next));
  }

  private async finish(delivery: LeasedDelivery, result: AttemptResult, outcome: WebhookDeliveryOutcome, nextAttemptAt: Date | null): Promise<void> {
    const recorded = await this.deliveries.finishAttempt(delivery, result, { outcome, nextAttemptAt });
    if (!recorded) {
      this.log?.warn({ deliveryId: delivery.id }, 'webhook delivery lease expired before its attempt was recorded');
      return;
    }
    this.metrics?.webhookDeliveries.inc({ outcome });
    const fields = { deliveryId: delivery.id, eventId: delivery.eventId, endpointId: delivery.endpointId, attempt: delivery.attemptCount + 1, statusCode: result.statusCode };
    if (outcome === WebhookDeliveryOutcome.DEAD_LETTERED) this.log?.warn({ ...fields, error: result.error }, 'webhook delivery dead-lettered');
    else if (outcome === WebhookDeliveryOutcome.RETRY_SCHEDULED) this.log?.warn({ ...fields, error: result.error, nextAttemptAt: nextAttemptAt?.toISOString() }, 'webhook delivery failed; retry scheduled');
  }

  /**
   * One POST: the URL's host resolved and every address checked (literal addresses included), the
   * socket connected to the checked address (checkedLookup), no redirect followed (a 3xx is a
   * failure: following it would reach an address nobody checked), the whole exchange bounded.
   */
  private async post(target: DeliveryTarget, delivery: LeasedDelivery): Promise<number> {
    const url = new URL(target.url);
    const policy: DestinationPolicy = { allowPrivateNetworks: this.options.allowPrivateNetworks };
    // Literal addresses never reach `lookup`; names are checked there, on the connection's own resolution.
    await resolveDestination(url.hostname, policy, this.options.timeoutMs);
    const timestamp = Math.floor(this.clock.now().getTime() / 1000);
    const body = delivery.payload;
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<number>((resolve, reject) => {
      const request = client.request(
        url,
        {
          method: 'POST',
          agent: false,
          lookup: checkedLookup(policy),
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': USER_AGENT,
            'webhook-id': delivery.eventId,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signWebhook(target.signingSecret, delivery.eventId, timestamp, body),
          },
          signal: AbortSignal.timeout(this.options.timeoutMs),
        },
        (response) => {
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_RESPONSE_BYTES) response.destroy();
          });
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('close', () => resolve(response.statusCode ?? 0));
          response.on('error', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
}

/** An attempt's error as recorded and shown: what went wrong, without the library's stack. */
function describeFailure(error: unknown): string {
  if (error instanceof RefusedDestinationError) return `Refused: ${error.message}`;
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'Timed out';
    const code = (error as NodeJS.ErrnoException).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
