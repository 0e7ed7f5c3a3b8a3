import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Clock } from '../common/clock';
import type Redis from 'ioredis';
import type { FieldCipher } from '../common/encryption';
import { Metrics } from '../common/metrics';
import type { Config } from '../config';
import { TokenService } from '../modules/auth/tokens';
import type { KeyMaterial } from './key-material';
import { createAuthLockout, createRequestRateLimiter, type RequestRateLimiter } from './limiters';
import { createCredentialCache } from './credential-change-feed';
import { createPubSub, type PubSub } from '../graphql/pubsub';
import { AuditRetention } from '../modules/audit/audit-retention';
import { AuditService } from '../modules/audit/audit.service';
import { AuthService } from '../modules/auth/auth.service';
import { IdempotencyService } from '../modules/idempotency/idempotency.service';
import { type LedgerEventPublisher, pubSubLedgerEvents } from '../modules/ledger/ledger.events';
import { LedgerService } from '../modules/ledger/ledger.service';
import { LedgerExportService } from '../modules/ledger/ledger-export.service';
import { LedgerWriter } from '../modules/ledger/ledger-writer';
import { PaymentGatewaysService } from '../modules/payments/payment-gateways.service';
import { pubSubPaymentEvents } from '../modules/payments/payments.events';
import { paymentChangeCounter, paymentsScrapeReader } from '../modules/payments/payments-metrics';
import { PaymentsService } from '../modules/payments/payments.service';
import { gatewayDiscrepancyFlags } from '../modules/reconciliation/gateway-discrepancy-flags';
import { readStatementEvents } from '../modules/reconciliation/importers';
import { pubSubFlagEvents } from '../modules/reconciliation/reconciliation-flags.events';
import { ReconciliationFlagsService } from '../modules/reconciliation/reconciliation-flags.service';
import { ReconciliationReportService } from '../modules/reconciliation/reconciliation-report.service';
import { reconciliationScrapeReader } from '../modules/reconciliation/reconciliation-metrics';
import { MatchingService } from '../modules/reconciliation/matching.service';
import { ReconciliationService } from '../modules/reconciliation/reconciliation.service';
import { CustomersService } from '../modules/invoicing/customers.service';
import { InvoiceOverdueService } from '../modules/invoicing/invoice-overdue.service';
import { type InvoiceEventPublisher, invoiceEventsToOutbox, pubSubInvoiceEvents } from '../modules/invoicing/invoices.events';
import { InvoicesService } from '../modules/invoicing/invoices.service';
import { InvoicePdfService } from '../modules/invoicing/invoice-pdf.service';
import { InvoiceSettingsService } from '../modules/invoicing/invoice-settings.service';
import { CreditNotesService } from '../modules/invoicing/credit-notes.service';
import { InvoiceClosingService } from '../modules/invoicing/invoice-closing.service';
import { InvoicePaymentsService } from '../modules/invoicing/invoice-payments.service';
import { InvoiceCardPaymentsService } from '../modules/invoicing/invoice-card-payments.service';
import { invoiceRemittance } from './invoice-remittance';
import { ServiceHealthService } from '../modules/service-health/service-health.service';
import { TenancyService } from '../modules/tenancy/tenancy.service';
import { WebhooksService } from '../modules/webhooks/webhooks.service';
import { WebhookDeliveriesService } from '../modules/webhooks/webhook-deliveries.service';
import { WebhookDeliveryWorker } from '../modules/webhooks/webhook-delivery.worker';
import { EventStreamService } from '../modules/webhooks/event-stream.service';

/** One instance of each module's service per process, shared by every request. */
export interface Services {
  dataSource: DataSource;
  clock: Clock;
  tenancy: TenancyService;
  auth: AuthService;
  ledger: LedgerService;
  /** The ledger's CSV and journal exports (GET /exports/…), read in keyset pages of EXPORT_PAGE_ROWS. */
  ledgerExports: LedgerExportService;
  /** The ledger's one writer, shared by every request; shutdown drains its queue. */
  ledgerWriter: LedgerWriter;
  webhooks: WebhooksService;
  /** The webhook outbox (events stored in their cause's transaction), its deliveries and attempts. */
  webhookDeliveries: WebhookDeliveriesService;
  /** The tenants' event streams (GET /v1/events/stream): outbox events numbered in commit order once committed. */
  eventStream: EventStreamService;
  /** Sends due deliveries; the server starts it and stops it on shutdown. */
  webhookWorker: WebhookDeliveryWorker;
  /** Payments and, as `payments.gateways`, the tenant's gateways. */
  payments: PaymentsService;
  /** Bank accounts, statement imports and reconciliation flags. */
  reconciliation: ReconciliationService;
  /** The one way reconciliation flags are raised and changed; publishes each step once committed. */
  reconciliationFlags: ReconciliationFlagsService;
  /** Matches statement lines to postings: after imports, after bank postings, in the periodic sweep, and by hand. */
  matching: MatchingService;
  /** The reconciliation report and accuracy rate, read from the committed tables. */
  reconciliationReport: ReconciliationReportService;
  /** Customers of the invoicing module (email, tax id and address encrypted). */
  customers: CustomersService;
  /** Invoices: drafts, and their finalisation (number and journal entry in one transaction). */
  invoices: InvoicesService;
  /** The periodic sweep that marks OPEN invoices past their due date and emits invoice.overdue once each. */
  invoiceOverdue: InvoiceOverdueService;
  /** A tenant's invoice numbering, default terms and seller details (in clear: printed on every invoice). */
  invoiceSettings: InvoiceSettingsService;
  /** Invoice PDFs (GET /invoices/:id/pdf): the stored invoice, its customer and the seller settings, rendered. */
  invoicePdfs: InvoicePdfService;
  /** Credit notes against OPEN or PAID invoices (numbered CN-…, posted, applied or given as customer credit). */
  creditNotes: CreditNotesService;
  /** Void and write-off of OPEN invoices. */
  invoiceClosing: InvoiceClosingService;
  /** Payments of invoices (bank transfer, cash; refunds; reads) and customer balances; publishes the invoice events of paying. */
  invoicePayments: InvoicePaymentsService;
  /** Card payments of invoices (payInvoice), linked to the payments module. */
  invoiceCardPayments: InvoiceCardPaymentsService;
  idempotency: IdempotencyService;
  cipher: FieldCipher;
  requestRateLimiter: RequestRateLimiter;
  /** Live events for subscriptions: in memory, or through Redis so that every API process sees them. */
  pubSub: PubSub;
  /** This process's Prometheus metrics (GET /metrics); modules count into it. */
  metrics: Metrics;
  /** This process's uptime and latency percentiles (serviceHealth), read from metrics. */
  serviceHealth: ServiceHealthService;
  /** The audit trail: every API call on a hash chain per tenant (README, Audit). */
  audit: AuditService;
  /** Archives audit events past AUDIT_RETENTION_DAYS to signed files, then prunes them. */
  auditRetention: AuditRetention;
}

export interface ServiceOptions {
  config: Pick<Config, 'ledgerMaxBatchSize' | 'auth' | 'limits' | 'nodeEnv' | 'idempotency' | 'payments' | 'metrics' | 'exports' | 'audit' | 'webhooks'>;
  keys: KeyMaterial;
  /** Shared rate-limit, lockout and pub/sub state; null keeps it in this process. */
  redis: Redis | null;
  log?: Logger;
}

export function createServices(dataSource: DataSource, clock: Clock, options: ServiceOptions): Services {
  const { config, keys, redis, log } = options;
  const metrics = new Metrics({ databaseReadIntervalMs: config.metrics.databaseReadIntervalMs });
  const idempotency = new IdempotencyService(dataSource, clock, keys.cipher, {
    ttlMs: config.idempotency.ttlSeconds * 1000,
    leaseMs: config.idempotency.leaseSeconds * 1000,
    metrics,
  });
  const audit = new AuditService(dataSource, clock, { flushIntervalMs: config.audit.flushIntervalMs, log });
  // Every mutation completes its idempotency claim in its change's transaction: its audit event goes there too.
  idempotency.auditSink = audit;
  const auditRetention = new AuditRetention(audit, clock, {
    retentionDays: config.audit.retentionDays,
    archiveDir: config.audit.archiveDir,
    signingKey: keys.signingKeys[0],
    log,
  });
  // Two batches in flight, not more: the API process is CPU-bound under load and each batch costs the
  // same handful of statements whatever its size, so fewer, larger batches serve more entries
  // (bench/ledger.bench.ts: 1 and 2 measure alike at 32 clients, 4 about 15% lower, 8 lower still); the
  // second one keeps a batch that waits on a lock from stalling every write of the process.
  // The webhook outbox: every module that causes events stores them through it in its own transaction.
  const webhookDeliveries = new WebhookDeliveriesService(dataSource, clock, { retryBudgetMs: config.webhooks.retryBudgetMs }, idempotency);
  const writer = new LedgerWriter(dataSource, clock, {
    maxBatchSize: config.ledgerMaxBatchSize,
    maxConcurrentBatches: 2,
    log,
    idempotency,
    metrics,
    outbox: webhookDeliveries,
  });
  const tokens = new TokenService(keys.signingKeys, config.auth, clock);
  const pubSub = createPubSub(redis, log);
  const eventStream = new EventStreamService(dataSource, clock, pubSub, {}, log);
  webhookDeliveries.streams = eventStream;
  // Late-bound: reconciliation matching, created below, also hears of committed entries.
  const ledgerEventHooks: LedgerEventPublisher[] = [pubSubLedgerEvents(pubSub, log)];
  const ledgerEvents: LedgerEventPublisher = {
    entriesCommitted: (entries) => {
      for (const hook of ledgerEventHooks) hook.entriesCommitted(entries);
    },
  };
  const ledger = new LedgerService(dataSource, writer, clock, ledgerEvents, idempotency);
  const allowLoopbackHttp = config.nodeEnv !== 'production';
  const reconciliationFlags = new ReconciliationFlagsService(dataSource, clock, pubSubFlagEvents(pubSub, log), idempotency);
  reconciliationFlags.webhookOutbox = webhookDeliveries;
  const gateways = new PaymentGatewaysService(
    dataSource,
    clock,
    keys.cipher,
    { allowLoopbackHttp, simulatorSlowMs: config.payments.simulatorSlowMs },
    idempotency,
  );
  const payments = new PaymentsService(
    dataSource,
    clock,
    ledger,
    gateways,
    {
      authorizationTtlMs: config.payments.authorizationTtlSeconds * 1000,
      statusCheckAfterMs: config.payments.statusCheckAfterSeconds * 1000,
      gatewayRetry: { maxAttempts: config.payments.gatewayMaxAttempts, baseDelayMs: 100, maxDelayMs: 2000 },
    },
    paymentChangeCounter(metrics, pubSubPaymentEvents(pubSub, log)),
    idempotency,
    log,
    // Payouts and gateway events that disagree with the books become reconciliation flags.
    gatewayDiscrepancyFlags(reconciliationFlags),
  );
  payments.outbox = webhookDeliveries;
  const reconciliation = new ReconciliationService(dataSource, clock, keys.cipher, ledger, readStatementEvents, reconciliationFlags, idempotency);
  const matching = new MatchingService(dataSource, clock, reconciliationFlags, (tenantId, ids) => reconciliation.bankAccountsByIds(tenantId, ids), idempotency, log);
  ledgerEventHooks.push(matching.ledgerEvents());
  // Invoice events go to the webhook outbox in their change's transaction, and to subscribers after it.
  const invoiceEvents: InvoiceEventPublisher = { ...pubSubInvoiceEvents(pubSub, log), invoiceEventsWithin: invoiceEventsToOutbox(webhookDeliveries) };
  const invoices = new InvoicesService(dataSource, clock, ledger, invoiceEvents, idempotency);
  // The import has committed and answers whatever happens here: lines left unmatched are retried by the sweep.
  reconciliation.afterImport = async (account, result) => {
    try {
      // A statement imported before (every line known) was matched then, and is retried by the sweep.
      await matching.matchImportedStatements(account, result.storedStatementIds);
    } catch (error) {
      log?.warn({ err: error, bankAccountId: account.id }, 'matching imported lines failed; the sweep retries');
    }
  };
  const invoicePayments = new InvoicePaymentsService(
    dataSource,
    clock,
    ledger,
    invoices,
    async (tenantId, bankAccountId) => {
      const [account] = await reconciliation.bankAccountsByIds(tenantId, [bankAccountId]);
      return account ? { ledgerAccountId: account.ledgerAccountId, currency: account.currency } : null;
    },
    invoiceEvents,
    idempotency,
  );
  const invoiceCardPayments = new InvoiceCardPaymentsService(dataSource, clock, ledger, invoices, payments, invoicePayments, invoicePayments.settlement);
  // Card payments of invoices (payInvoice) change the invoice in the transaction that records them.
  payments.invoiceLink = invoiceCardPayments;
  // The INVOICE_NUMBER rule: statement lines that name an OPEN invoice are recorded as its payment.
  matching.invoiceRemittance = invoiceRemittance(ledger, invoices, invoicePayments);
  metrics.addScrapeReader(paymentsScrapeReader(dataSource, metrics));
  metrics.addScrapeReader(reconciliationScrapeReader(dataSource, clock, metrics));
  const webhooks = new WebhooksService(dataSource, clock, keys.cipher, { allowLoopbackHttp, allowPrivateNetworks: config.webhooks.allowPrivateNetworks }, idempotency);
  // The PDF service reads through the invoice, customer and settings services assembled here.
  const assembled: Omit<Services, 'invoicePdfs'> = {
    dataSource,
    clock,
    cipher: keys.cipher,
    requestRateLimiter: createRequestRateLimiter(config.limits, redis),
    metrics,
    serviceHealth: new ServiceHealthService(metrics),
    audit,
    auditRetention,
    tenancy: new TenancyService(dataSource, clock),
    auth: new AuthService(
      dataSource,
      clock,
      tokens,
      createAuthLockout(config.limits, redis),
      idempotency,
      createCredentialCache(config.auth.cache, clock, redis, metrics, log),
    ),
    pubSub,
    idempotency,
    ledgerWriter: writer,
    ledger,
    ledgerExports: new LedgerExportService(dataSource, ledger, { pageRows: config.exports.pageRows }),
    payments,
    reconciliation,
    matching,
    reconciliationFlags,
    reconciliationReport: new ReconciliationReportService(dataSource, reconciliation, ledger),
    customers: new CustomersService(dataSource, clock, keys.cipher, idempotency),
    invoices,
    invoiceOverdue: new InvoiceOverdueService(dataSource, clock, invoices, invoiceEvents),
    invoiceSettings: new InvoiceSettingsService(dataSource, clock, idempotency),
    creditNotes: new CreditNotesService(dataSource, clock, ledger, invoices, idempotency, invoiceEvents),
    invoiceClosing: new InvoiceClosingService(dataSource, clock, ledger, invoices, idempotency, invoiceEvents),
    invoicePayments,
    invoiceCardPayments,
    webhooks,
    webhookDeliveries,
    eventStream,
    webhookWorker: new WebhookDeliveryWorker(
      webhookDeliveries,
      (tenantId, endpointId) => webhooks.deliveryTargetOf(tenantId, endpointId),
      clock,
      config.webhooks,
      metrics,
      log,
    ),
  };
  return { ...assembled, invoicePdfs: new InvoicePdfService(assembled.invoices, assembled.customers, assembled.invoiceSettings, clock) };
}
