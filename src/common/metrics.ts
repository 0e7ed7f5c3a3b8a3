import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every Prometheus metric of one API process, in one registry of its own (not prom-client's global
 * one: tests run several servers in one process, and each must count only its own traffic). It sits in
 * common/ so that modules can count what they do without importing server/; createServices makes one
 * and hands it to the services that count, the server reads it for GET /metrics.
 *
 * Labels are bounded sets only: HTTP routes are the app's route patterns, GraphQL operations are named
 * by their root field (the schema bounds it; a client's own operation name does not), error codes by
 * ErrorCode, statuses and kinds by their enums. No tenant id is ever a label: tenants grow without
 * bound and each would multiply every series; per-tenant figures are in the GraphQL reports instead.
 */

/** Latencies of requests, operations and commits: 5 ms to 10 s, dense around the 250 ms objective. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2.5, 5, 10];
/** Ledger group-commit batch sizes, up to LEDGER_MAX_BATCH_SIZE's ceiling. */
const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

/** What a webhook delivery attempt can end as: the delivery worker counts each attempt under one. */
export enum WebhookDeliveryOutcome {
  /** The endpoint answered 2xx. */
  DELIVERED = 'delivered',
  /** Failed (non-2xx, timeout, refused address); another attempt is scheduled. */
  RETRY_SCHEDULED = 'retry_scheduled',
  /** Failed past the retry budget: the event waits for redeliverWebhookEvent. */
  DEAD_LETTERED = 'dead_lettered',
}

/** The GraphQL operation label of documents whose root field cannot be told (unparsed, several fields). */
export const UNKNOWN_OPERATION = '(unknown)';
export const SEVERAL_OPERATIONS = '(several)';

/** Reads figures at scrape time (from the database); throws when it cannot. */
export type ScrapeReader = () => Promise<void>;

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'reckon_http_request_duration_seconds',
    help: 'HTTP requests by route pattern, method and status code, from the first byte read to the last byte written.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly graphqlOperationDuration = new Histogram({
    name: 'reckon_graphql_operation_duration_seconds',
    help: 'GraphQL operations over HTTP and WebSocket by root field (operation) and type (query, mutation), from parsing to the response; subscriptions are not timed.',
    labelNames: ['operation', 'type', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'reckon_errors_total',
    help: 'Errors answered to clients, by extensions.code (GraphQL errors, refusals before any resolver, and REST errors).',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly paymentChanges = new Counter({
    name: 'reckon_payment_changes_total',
    help: 'Payment changes committed by this process, by the status the change left the payment in (a new authorization counts under AUTHORIZED or FAILED, a capture or refund under CAPTURED).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly paymentsInFlight = new Gauge({
    name: 'reckon_payments_in_flight',
    help: 'Payments not yet settled (PROCESSING, AUTHORIZED), all tenants, read from the database at scrape; the same in every process.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly idempotentReplays = new Counter({
    name: 'reckon_idempotent_replays_total',
    help: 'Requests answered from a stored idempotency record instead of running again, by mutation field.',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly authCacheLookups = new Counter({
    name: 'reckon_auth_cache_lookups_total',
    help: 'Credential verdicts looked up in this process\'s authentication cache: hit (no database statement) or miss (read from the database).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly ledgerBatchSize = new Histogram({
    name: 'reckon_ledger_batch_size',
    help: 'Journal entry commands per ledger writer transaction: group-commit batches (mode=group) and all-or-nothing lists (mode=all_or_nothing).',
    labelNames: ['mode'] as const,
    buckets: BATCH_SIZE_BUCKETS,
    registers: [this.registry],
  });

  readonly ledgerPendingCommands = new Gauge({
    name: 'reckon_ledger_writer_pending_commands',
    help: 'Commands this process\'s ledger writer has accepted and not yet answered: queued for the next group-commit batch or in one being written.',
    registers: [this.registry],
  });

  readonly ledgerCommitDuration = new Histogram({
    name: 'reckon_ledger_commit_duration_seconds',
    help: 'Time of one ledger writer transaction, locks, writes and commit included, by mode and outcome (committed, failed).',
    labelNames: ['mode', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly openReconciliationFlags = new Gauge({
    name: 'reckon_reconciliation_open_flags',
    help: 'Reconciliation flags not yet resolved (OPEN or ACKNOWLEDGED), all tenants, by kind; read from the database at scrape.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly reconciliationStatementLines = new Gauge({
    name: 'reckon_reconciliation_statement_lines',
    help: 'BOOKED statement lines booked in the window (30d), all tenants, by whether a match claims them now (matched=true|false); read at scrape.',
    labelNames: ['window', 'matched'] as const,
    registers: [this.registry],
  });

  readonly reconciliationAccuracy = new Gauge({
    name: 'reckon_reconciliation_accuracy_ratio',
    help: 'Reconciliation accuracy: matched / all BOOKED statement lines booked in the window (30d), all tenants; absent when there is no line or the database did not answer.',
    labelNames: ['window'] as const,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'reckon_webhook_deliveries_total',
    help: 'Outbound webhook delivery attempts by outcome (delivered, retry_scheduled, dead_lettered).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly scrapeDatabaseUp = new Gauge({
    name: 'reckon_scrape_database_up',
    help: '1 when this scrape read its database figures (payments in flight, open flags, reconciliation), 0 when the database did not answer (those figures are then absent).',
    registers: [this.registry],
  });

  /** When this registry, and so the API process serving with it, started (wall clock). */
  readonly startedAt = new Date();
  /** The same instant on the monotonic clock, which uptime is measured by (the wall clock may be stepped). */
  private readonly startedAtMonotonic = process.hrtime.bigint();
  private readonly readers: ScrapeReader[] = [];
  private lastRead = 0;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly options: {
      /** Database figures are read at most this often, whatever the scrape rate; 0 reads at every scrape. */
      databaseReadIntervalMs: number;
    } = { databaseReadIntervalMs: 15_000 },
  ) {
    collectDefaultMetrics({ register: this.registry });
    const uptimeSeconds = () => this.uptimeSeconds();
    new Gauge({
      name: 'reckon_uptime_seconds',
      help: 'Seconds since this API process started serving.',
      registers: [this.registry],
      collect() {
        this.set(uptimeSeconds());
      },
    });
    // Zero from the start, so that rate() and absence alerts see every outcome before the first event.
    for (const outcome of Object.values(WebhookDeliveryOutcome)) this.webhookDeliveries.inc({ outcome }, 0);
  }

  /** Seconds since this process started serving (reckon_uptime_seconds). */
  uptimeSeconds(): number {
    return Number(process.hrtime.bigint() - this.startedAtMonotonic) / 1e9;
  }

  /** Adds figures read from the database at scrape (at most every databaseReadIntervalMs). */
  addScrapeReader(reader: ScrapeReader): void {
    this.readers.push(reader);
  }

  /** The exposition text (Prometheus text format 0.0.4) after refreshing the database figures. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    await this.refreshDatabaseFigures();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * One read at a time, however many scrapes arrive; a failed read leaves the database figures absent
   * rather than stale (a stale gauge would hide an outage) and says so in reckon_scrape_database_up.
   */
  private refreshDatabaseFigures(): Promise<void> {
    if (this.reading) return this.reading;
    if (this.lastRead !== 0 && Date.now() - this.lastRead < this.options.databaseReadIntervalMs) return Promise.resolve();
    this.reading = (async () => {
      try {
        for (const reader of this.readers) await reader();
        this.scrapeDatabaseUp.set(1);
        this.lastRead = Date.now();
      } catch {
        this.paymentsInFlight.reset();
        this.openReconciliationFlags.reset();
        this.reconciliationStatementLines.reset();
        this.reconciliationAccuracy.reset();
        this.scrapeDatabaseUp.set(0);
        this.lastRead = 0;
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }
}
