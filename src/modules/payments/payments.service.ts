import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../common/clock';
import type { Page, PageRequest, PageWindow } from '../../common/pagination';
import type { EventOutbox } from '../webhooks/event-outbox';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import type { LedgerService } from '../ledger/ledger.service';
import { type GatewayDiscrepancySink, NO_GATEWAY_DISCREPANCIES } from './gateway-discrepancies';
import type { GatewayEvent } from './gateways/payment-gateway';
import { PaymentDisputesService } from './payment-disputes.service';
import { PaymentGatewayEventsService } from './payment-gateway-events.service';
import type { PaymentGatewaysService } from './payment-gateways.service';
import type { PaymentInvoiceLink } from './payment-invoice-link';
import { PaymentJobsService } from './payment-jobs.service';
import { PaymentLifecycleService } from './payment-lifecycle.service';
import { PaymentPayoutsService } from './payment-payouts.service';
import { PaymentReadsService } from './payment-reads.service';
import { PaymentRefundsService } from './payment-refunds.service';
import type {
  AuthorizePaymentInput,
  DisputeResult,
  GatewayEventResult,
  OpenDisputeInput,
  PaymentFilter,
  PaymentsOptions,
  RecordPayoutInput,
  RefundPaymentInput,
  RefundResult,
} from './payment-requests';
import { PaymentRows } from './payment-rows';
import { type PaymentsContext, PaymentSettlement } from './payment-settlement';
import type { DisputeStatus } from './payment-state';
import { NO_PAYMENT_EVENTS, type PaymentEventPublisher } from './payments.events';
import type { DisputeRecord, PaymentEventRecord, PaymentRecord, PayoutRecord, RefundRecord } from './payments.types';

export type * from './payment-requests';
export { PAYMENT_LIMITS } from './payment-requests';

/**
 * The payments module's front door: one service per use case behind it, sharing the settlement step
 * (payment-settlement.ts) and the payment's rows (payment-rows.ts):
 * - PaymentLifecycleService: authorize, capture, void;
 * - PaymentRefundsService, PaymentDisputesService, PaymentPayoutsService;
 * - PaymentGatewayEventsService: the gateways' signed events;
 * - PaymentJobsService: expiry and the status check;
 * - PaymentReadsService.
 */
export class PaymentsService {
  readonly lifecycle: PaymentLifecycleService;
  readonly refunds: PaymentRefundsService;
  readonly disputes: PaymentDisputesService;
  readonly payouts: PaymentPayoutsService;
  readonly gatewayEvents: PaymentGatewayEventsService;
  readonly jobs: PaymentJobsService;
  readonly reads: PaymentReadsService;
  private readonly context: PaymentsContext;

  constructor(
    dataSource: DataSource,
    clock: Clock,
    ledger: LedgerService,
    readonly gateways: PaymentGatewaysService,
    options: PaymentsOptions,
    events: PaymentEventPublisher = NO_PAYMENT_EVENTS,
    idempotency?: IdempotencyService,
    log?: Logger,
    /** Where payouts and gateway events that disagree with the books are reported (reconciliation flags). */
    discrepancies: GatewayDiscrepancySink = NO_GATEWAY_DISCREPANCIES,
  ) {
    const rows = new PaymentRows(dataSource, clock);
    const settlement = new PaymentSettlement(dataSource, clock, ledger, events, rows, idempotency);
    this.context = { dataSource, clock, ledger, gateways, options, events, idempotency, log, discrepancies, rows, settlement };
    this.reads = new PaymentReadsService(this.context);
    this.disputes = new PaymentDisputesService(this.context, this.reads);
    this.gatewayEvents = new PaymentGatewayEventsService(this.context, this.disputes);
    this.lifecycle = new PaymentLifecycleService(this.context, this.reads, this.gatewayEvents);
    this.refunds = new PaymentRefundsService(this.context, this.reads);
    this.payouts = new PaymentPayoutsService(this.context);
    this.jobs = new PaymentJobsService(this.context, this.lifecycle, this.refunds);
  }

  /**
   * Told of every change of a payment that pays an invoice, inside the transaction that records it.
   * Set once by services.ts (the invoicing module implements it and itself calls this service).
   */
  get invoiceLink(): PaymentInvoiceLink {
    return this.context.settlement.invoiceLink;
  }

  set invoiceLink(link: PaymentInvoiceLink) {
    this.context.settlement.invoiceLink = link;
  }

  /** The webhook outbox: each settled payment step (payment.*) is stored in the transaction that records it. */
  get outbox(): EventOutbox {
    return this.context.rows.outbox;
  }

  set outbox(outbox: EventOutbox) {
    this.context.rows.outbox = outbox;
  }

  authorize(tenantId: string, input: AuthorizePaymentInput, handle?: IdempotencyHandle): Promise<PaymentRecord> {
    return this.lifecycle.authorize(tenantId, input, handle);
  }

  capture(tenantId: string, paymentId: string, amount: string | null | undefined, handle?: IdempotencyHandle): Promise<PaymentRecord> {
    return this.lifecycle.capture(tenantId, paymentId, amount, handle);
  }

  void(tenantId: string, paymentId: string, handle?: IdempotencyHandle): Promise<PaymentRecord> {
    return this.lifecycle.void(tenantId, paymentId, handle);
  }

  /** The payment an earlier request under this idempotency claim created with authorize, or null (see PaymentLifecycleService). */
  paymentCreatedUnder(tenantId: string, handle: IdempotencyHandle): Promise<PaymentRecord | null> {
    return this.lifecycle.paymentCreatedUnder(tenantId, handle);
  }

  refund(tenantId: string, paymentId: string, input: RefundPaymentInput, handle?: IdempotencyHandle): Promise<RefundResult> {
    return this.refunds.refund(tenantId, paymentId, input, handle);
  }

  openDispute(tenantId: string, paymentId: string, input: OpenDisputeInput, handle?: IdempotencyHandle): Promise<DisputeResult> {
    return this.disputes.openDispute(tenantId, paymentId, input, handle);
  }

  submitDisputeEvidence(tenantId: string, disputeId: string, evidence: string, handle?: IdempotencyHandle): Promise<DisputeResult> {
    return this.disputes.submitDisputeEvidence(tenantId, disputeId, evidence, handle);
  }

  closeDispute(tenantId: string, disputeId: string, outcome: DisputeStatus, handle?: IdempotencyHandle): Promise<DisputeResult> {
    return this.disputes.closeDispute(tenantId, disputeId, outcome, handle);
  }

  recordPayout(tenantId: string, input: RecordPayoutInput, handle?: IdempotencyHandle): Promise<PayoutRecord> {
    return this.payouts.recordPayout(tenantId, input, handle);
  }

  applyGatewayEvent(gatewayId: string, tenantId: string, event: GatewayEvent): Promise<GatewayEventResult> {
    return this.gatewayEvents.applyGatewayEvent(gatewayId, tenantId, event);
  }

  expireAuthorizations(limit?: number): Promise<number> {
    return this.jobs.expireAuthorizations(limit);
  }

  settleUnknownOutcomes(limit?: number): Promise<number> {
    return this.jobs.settleUnknownOutcomes(limit);
  }

  // Reads (every one scoped to the tenant)

  paymentsByIds(tenantId: string, ids: readonly string[]): Promise<PaymentRecord[]> {
    return this.reads.paymentsByIds(tenantId, ids);
  }

  getPayment(tenantId: string, id: string): Promise<PaymentRecord> {
    return this.reads.getPayment(tenantId, id);
  }

  listPayments(tenantId: string, filter: PaymentFilter, pageRequest: PageRequest): Promise<Page<PaymentRecord>> {
    return this.reads.listPayments(tenantId, filter, pageRequest);
  }

  countPayments(tenantId: string, filter: PaymentFilter): Promise<number> {
    return this.reads.countPayments(tenantId, filter);
  }

  refundsPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<RefundRecord>>> {
    return this.reads.refundsPagesByPaymentIds(tenantId, paymentIds, window);
  }

  disputesPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<DisputeRecord>>> {
    return this.reads.disputesPagesByPaymentIds(tenantId, paymentIds, window);
  }

  eventsPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<PaymentEventRecord>>> {
    return this.reads.eventsPagesByPaymentIds(tenantId, paymentIds, window);
  }

  countChildrenByPaymentIds(table: 'refunds' | 'disputes' | 'payment_events', tenantId: string, paymentIds: readonly string[]): Promise<Map<string, number>> {
    return this.reads.countChildrenByPaymentIds(table, tenantId, paymentIds);
  }

  eventsByPaymentIds(tenantId: string, paymentIds: readonly string[]): Promise<PaymentEventRecord[]> {
    return this.reads.eventsByPaymentIds(tenantId, paymentIds);
  }

  refundsByIds(tenantId: string, ids: readonly string[]): Promise<RefundRecord[]> {
    return this.reads.refundsByIds(tenantId, ids);
  }

  disputesByIds(tenantId: string, ids: readonly string[]): Promise<DisputeRecord[]> {
    return this.reads.disputesByIds(tenantId, ids);
  }

  payoutsByIds(tenantId: string, ids: readonly string[]): Promise<PayoutRecord[]> {
    return this.reads.payoutsByIds(tenantId, ids);
  }

  eventsByIds(tenantId: string, ids: readonly string[]): Promise<PaymentEventRecord[]> {
    return this.reads.eventsByIds(tenantId, ids);
  }

  disputeById(tenantId: string, id: string): Promise<DisputeRecord | null> {
    return this.reads.disputeById(tenantId, id);
  }

  getDispute(tenantId: string, id: string): Promise<DisputeRecord> {
    return this.reads.getDispute(tenantId, id);
  }

  refundById(tenantId: string, id: string): Promise<RefundRecord | null> {
    return this.reads.refundById(tenantId, id);
  }

  payoutById(tenantId: string, id: string): Promise<PayoutRecord | null> {
    return this.reads.payoutById(tenantId, id);
  }
}
