import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { assert } from '../../common/assert';
import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, validationError } from '../../common/errors';
import { METADATA_MAX_BYTES, optionalText, requireMetadata, requireText } from '../../common/input';
import { idKindOf, newId, newUlid, requireIdOfKind } from '../../common/ids';
import { formatMinorAsDecimal, parsePositiveAmount, requireCurrency } from '../../common/money';
import { type KeysetSlice, type Page, type PageRequest, type PageWindow, readPage, readPages } from '../../common/pagination';
import { requireStorableDate, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource, type DatabaseKind } from '../../db/data-source';
import { keysetSql } from '../../db/keyset';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import { type EventOutbox, NO_EVENT_OUTBOX } from '../webhooks/event-outbox';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { JournalEntryRecord, LedgerCommand } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import { GatewayDiscrepancyKind, type GatewayDiscrepancySink, NO_GATEWAY_DISCREPANCIES } from './gateway-discrepancies';
import { type LinkedPaymentChange, NO_INVOICE_LINK, type PaymentInvoiceLink } from './payment-invoice-link';
import { callWithRetries } from './gateways/gateway-retries';
import { currentRequestId } from '../../common/log-context';
import {
  type Authorization,
  type Capture,
  type DeclineCode,
  DeclineCode as Declines,
  type GatewayEvent,
  type GatewayOperation,
  type GatewayOutcome,
  type OperationStatus,
} from './gateways/payment-gateway';
import {
  captureRefusal,
  closeDisputeRefusal,
  disputableMinorOf,
  DisputeStatus,
  evidenceRefusal,
  expiryRefusal,
  openDisputeRefusal,
  PaymentStatus,
  PendingOperation,
  refundableMinorOf,
  refundRefusal,
  RefundStatus,
  voidRefusal,
} from './payment-state';
import type { PaymentGatewaysService } from './payment-gateways.service';
import { NO_PAYMENT_EVENTS, type PaymentEventPublisher } from './payments.events';
import { PaymentErrors } from './payments.errors';
import {
  type DisputeRecord,
  disputeFromRow,
  PaymentEventSource,
  PaymentEventType,
  type PaymentEventRecord,
  paymentEventFromRow,
  paymentFromRow,
  type PaymentRecord,
  type PayoutRecord,
  payoutFromRow,
  type RefundRecord,
  refundFromRow,
} from './payments.types';
import { ledgerCommandFor, PostingEvent } from './posting-rules';

/** Bounds on what one request may ask (TigerBeetle style: everything has a limit). */
export const PAYMENT_LIMITS = {
  paymentTokenLength: 255,
  customerIdLength: 255,
  descriptionLength: 500,
  externalRefLength: 255,
  reasonLength: 500,
  evidenceLength: 20_000,
  metadataBytes: METADATA_MAX_BYTES,
} as const;

export interface AuthorizePaymentInput {
  amount: string;
  currency: string;
  paymentToken: string;
  gatewayId?: string | null;
  /** Capture the full amount as soon as it is authorized. */
  capture?: boolean | null;
  customerId?: string | null;
  description?: string | null;
  externalRef?: string | null;
  metadata?: Record<string, unknown> | null;
  /** The invoice this payment pays (payInvoice only; not a field of authorizePayment). */
  invoiceId?: string | null;
}

export interface RefundPaymentInput {
  /** Omitted: everything still refundable. */
  amount?: string | null;
  reason?: string | null;
}

export interface OpenDisputeInput {
  /** Omitted: everything still disputable. */
  amount?: string | null;
  reason: string;
  /** The gateway's dispute fee, if it charged one. */
  fee?: string | null;
}

export interface RecordPayoutInput {
  gatewayId: string;
  amount: string;
  currency: string;
  arrivedAt?: Date | null;
  externalRef?: string | null;
}

export interface PaymentFilter {
  status?: PaymentStatus | null;
  customerId?: string | null;
  gatewayId?: string | null;
  createdFrom?: Date | null;
  createdTo?: Date | null;
}

export interface PaymentsOptions {
  authorizationTtlMs: number;
  /** Unsettled gateway operations older than this are asked about (see PAYMENT_STATUS_CHECK_AFTER). */
  statusCheckAfterMs: number;
  gatewayRetry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
}

/** What the inbound event route answers: applied, already seen, or recorded and ignored (and why). */
export type GatewayEventResult = { status: 'applied'; paymentId: string } | { status: 'duplicate' } | { status: 'ignored'; reason: string };

export type RefundResult = { payment: PaymentRecord; refund: RefundRecord };
export type DisputeResult = { payment: PaymentRecord; dispute: DisputeRecord };

/**
 * True for anything that could be a card number (12 to 19 digits, spaces or dashes between them).
 * Reckon takes the gateway's token only: a card number is refused before it is stored or logged.
 */
function looksLikeCardNumber(value: string): boolean {
  const digits = value.replace(/[ -]/g, '');
  return /^\d{12,19}$/.test(digits);
}

/**
 * The key a gateway operation is sent with. With the client's idempotency key it is derived from the
 * key's scope, so every retry of the request (after a timeout, a crash, a lost lease) sends the same
 * key and the gateway does the operation once. Without one, each request is new.
 */
function gatewayKeyFor(handle: IdempotencyHandle | null | undefined, operation: GatewayOperation): string {
  if (!handle) return `rk_${newUlid().toLowerCase()}_${operation}`;
  const { tenantId, credentialId, operation: field, key } = handle.scope;
  const digest = crypto.createHash('sha256').update(JSON.stringify([tenantId, credentialId, field, key])).digest('hex').slice(0, 40);
  return `rk_${digest}_${operation}`;
}

interface Committed<T> {
  result: T;
  payments: PaymentRecord[];
  entries: JournalEntryRecord[];
  /** A refusal decided and recorded inside the transaction, thrown once it has committed. */
  refusal?: AppError;
  /** Run once the transaction has committed (what the invoice link asked for). */
  afterCommit?: (() => void)[];
}

/**
 * The payment lifecycle. Every step that calls a gateway runs in three parts: a short transaction
 * that checks the step against the locked payment and records it as under way (so a concurrent step
 * is refused, and a crash leaves a trace the status check settles), the gateway call outside any
 * transaction (with retries under the same gateway key), and a second transaction that records the
 * outcome, the journal entries and the idempotency completion together. Steps without a gateway call
 * (disputes, payouts, expiry) are one transaction.
 */
const compareText = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class PaymentsService {
  private readonly kind: DatabaseKind;
  /**
   * Told of every change of a payment that pays an invoice, inside the transaction that records it.
   * Set once by services.ts (the invoicing module implements it and itself calls this service, so it
   * cannot be a constructor argument).
   */
  invoiceLink: PaymentInvoiceLink = NO_INVOICE_LINK;

  /** The webhook outbox: each settled payment step (payment.*) is stored in the transaction that records it. */
  outbox: EventOutbox = NO_EVENT_OUTBOX;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly ledger: LedgerService,
    readonly gateways: PaymentGatewaysService,
    private readonly options: PaymentsOptions,
    private readonly events: PaymentEventPublisher = NO_PAYMENT_EVENTS,
    private readonly idempotency?: IdempotencyService,
    private readonly log?: Logger,
    /** Where payouts and gateway events that disagree with the books are reported (reconciliation flags). */
    private readonly discrepancies: GatewayDiscrepancySink = NO_GATEWAY_DISCREPANCIES,
  ) {
    this.kind = databaseKindOfSource(dataSource);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  async authorize(tenantId: string, input: AuthorizePaymentInput, handle?: IdempotencyHandle): Promise<PaymentRecord> {
    const currency = requireCurrency(input.currency);
    const amountMinor = parsePositiveAmount(input.amount, currency);
    const paymentToken = requireText(input.paymentToken, 'paymentToken', PAYMENT_LIMITS.paymentTokenLength, { printable: true });
    if (looksLikeCardNumber(paymentToken)) {
      throw validationError('paymentToken looks like a card number; send the gateway’s token for the card, never the number', {
        field: 'paymentToken',
      });
    }
    const customerId = optionalText(input.customerId, 'customerId', PAYMENT_LIMITS.customerIdLength, { printable: true, identifier: true });
    const description = optionalText(input.description, 'description', PAYMENT_LIMITS.descriptionLength);
    const externalRef = optionalText(input.externalRef, 'externalRef', PAYMENT_LIMITS.externalRefLength, { printable: true, identifier: true });
    const metadata = requireMetadata(input.metadata);
    if (input.gatewayId) requireIdOfKind(input.gatewayId, 'paymentGateway', 'gatewayId');
    const gateway = await this.gateways.chooseGateway(tenantId, input.gatewayId, currency);
    const chart = await this.ledger.defaultChartAccounts(tenantId, currency);
    const key = gatewayKeyFor(handle, 'authorize');

    const invoiceId = input.invoiceId ?? null;
    const requestHash = requestHashOf([
      'authorize',
      amountMinor,
      currency,
      paymentToken,
      input.gatewayId ?? null,
      Boolean(input.capture),
      customerId,
      description,
      externalRef,
      metadata,
      // Only when given, so that the hash of every other authorization stays what it was.
      ...(invoiceId === null ? [] : [invoiceId]),
    ]);

    // Only a retry of a keyed request can find its payment; a request without a key is always new.
    // The claim of a request whose gateway call had an unknown outcome was released, and with it the
    // fingerprint check: the hash kept with the payment stands in for it.
    let payment = handle ? await this.findByAuthorizeKey(tenantId, key) : null;
    if (payment && payment.authorizeRequestHash !== requestHash) throw PaymentErrors.keyReused('authorization');
    if (!payment) {
      const now = this.clock.now();
      const draft: PaymentRecord = {
        id: newId('payment'),
        tenantId,
        gatewayId: gateway.id,
        status: PaymentStatus.PROCESSING,
        currency,
        authorizedMinor: amountMinor,
        capturedMinor: 0n,
        refundedMinor: 0n,
        refundPendingMinor: 0n,
        disputedMinor: 0n,
        disputeLostMinor: 0n,
        feeMinor: 0n,
        customerId,
        description,
        externalRef,
        metadata,
        gatewayPaymentId: null,
        cardBrand: null,
        cardLast4: null,
        authorizeKey: key,
        authorizeRequestHash: requestHash,
        authorizationEntryId: null,
        pendingOperation: PendingOperation.AUTHORIZE,
        pendingAmountMinor: amountMinor,
        pendingKey: key,
        pendingRequestHash: requestHash,
        pendingSince: now,
        failureCode: null,
        failureMessage: null,
        invoiceId,
        expiresAt: new Date(now.getTime() + this.options.authorizationTtlMs),
        createdAt: now,
        updatedAt: now,
      };
      try {
        await runInTransaction(this.dataSource, async (manager) => {
          await this.insertPayment(manager, draft);
          // The invoice may refuse (not OPEN, more than it still owes): then nothing is stored or charged.
          if (draft.invoiceId !== null) await this.invoiceLink.paymentCreating(manager, draft);
          await this.insertEvent(manager, draft, PaymentEventType.AUTHORIZATION_REQUESTED, { amountMinor, source: PaymentEventSource.API });
        });
      } catch (error) {
        if (isUniqueViolation(error) && externalRef) throw PaymentErrors.externalRefTaken(externalRef);
        throw error;
      }
      payment = draft;
    }

    if (payment.status === PaymentStatus.PROCESSING) {
      const adapter = await this.gateways.adapterFor(payment.gatewayId);
      const reference = payment.id;
      const outcome = await this.callGateway({ operation: 'authorize', paymentId: payment.id, gatewayId: payment.gatewayId }, () =>
        adapter.authorize({ idempotencyKey: key, amountMinor, currency, paymentToken, reference }),
      );
      payment = await this.settleAuthorization(tenantId, payment.id, key, outcome, input.capture ? undefined : handle, PaymentEventSource.API, chart);
    } else if (payment.status === PaymentStatus.FAILED) {
      // Settled as declined while the client was away (a status check): the same answer as at the time.
      const refusal = PaymentErrors.declined('authorization', (payment.failureCode ?? Declines.DO_NOT_HONOR) as DeclineCode, payment.failureMessage ?? '', {
        paymentId: payment.id,
      });
      await this.completeAlone(handle, { error: refusal });
      throw refusal;
    } else if (!input.capture) {
      await this.completeAlone(handle, { resultRef: { paymentId: payment.id } });
    }
    if (input.capture) return this.capture(tenantId, payment.id, null, handle, `${key}:capture`);
    return payment;
  }

  /**
   * Records the outcome of an authorization. Declines are recorded and then thrown; an unknown outcome
   * leaves the payment PROCESSING for a retry with the same key or the status check.
   */
  private settleAuthorization(
    tenantId: string,
    paymentId: string,
    key: string,
    outcome: GatewayOutcome<Authorization>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    chart: ChartAccounts,
  ): Promise<PaymentRecord> {
    return this.settleStep(tenantId, paymentId, PendingOperation.AUTHORIZE, key, outcome, handle, source, {
      name: 'authorization',
      failedEvent: PaymentEventType.AUTHORIZATION_FAILED,
      declined: (payment, declined) => {
        payment.status = PaymentStatus.FAILED;
        payment.failureCode = declined.declineCode;
        payment.failureMessage = declined.message.slice(0, 500);
      },
      succeeded: (payment, authorization, { now }) => {
        const commands = [this.command(PostingEvent.AUTHORIZED, payment, chart, payment.authorizedMinor) as LedgerCommand];
        payment.status = PaymentStatus.AUTHORIZED;
        payment.gatewayPaymentId = authorization.gatewayPaymentId;
        payment.cardBrand = authorization.card?.brand ?? null;
        payment.cardLast4 = authorization.card?.last4 ?? null;
        payment.authorizationEntryId = entryIdsOf(commands)[0];
        // The capture window starts when the gateway authorized, not when the request arrived.
        payment.expiresAt = new Date(now.getTime() + this.options.authorizationTtlMs);
        return { event: PaymentEventType.AUTHORIZED, amountMinor: payment.authorizedMinor, commands };
      },
    });
  }

  async capture(
    tenantId: string,
    paymentId: string,
    amount: string | null | undefined,
    handle?: IdempotencyHandle,
    keyOverride?: string,
  ): Promise<PaymentRecord> {
    requireIdOfKind(paymentId, 'payment', 'paymentId');
    const current = await this.getPayment(tenantId, paymentId);
    const amountMinor = amount === null || amount === undefined ? null : parsePositiveAmount(amount, current.currency);
    const chart = await this.ledger.defaultChartAccounts(tenantId, current.currency);
    const key = keyOverride ?? gatewayKeyFor(handle, 'capture');
    const requestHash = requestHashOf(['capture', amountMinor]);
    const begun = await this.begin(tenantId, paymentId, key, requestHash, handle, (payment, now) => {
      const captureMinor = amountMinor ?? payment.authorizedMinor;
      const refusal = captureRefusal(payment, captureMinor, now);
      if (refusal) return refusal;
      markPending(payment, PendingOperation.CAPTURE, captureMinor, key, requestHash, now);
      return { event: PaymentEventType.CAPTURE_REQUESTED, amountMinor: captureMinor };
    });
    if (begun.settled) return begun.payment;
    const payment = begun.payment;
    const adapter = await this.gateways.adapterFor(payment.gatewayId);
    const outcome = await this.callGateway({ operation: 'capture', paymentId, gatewayId: payment.gatewayId }, () =>
      adapter.capture({
        idempotencyKey: key,
        gatewayPaymentId: payment.gatewayPaymentId as string,
        amountMinor: payment.pendingAmountMinor as bigint,
        currency: payment.currency,
      }),
    );
    return this.settleCapture(tenantId, paymentId, key, outcome, handle, PaymentEventSource.API, chart);
  }

  private async settleCapture(
    tenantId: string,
    paymentId: string,
    key: string,
    outcome: GatewayOutcome<Capture>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    chart: ChartAccounts,
  ): Promise<PaymentRecord> {
    const payment = await this.settleStep(tenantId, paymentId, PendingOperation.CAPTURE, key, outcome, handle, source, {
      name: 'capture',
      failedEvent: PaymentEventType.CAPTURE_FAILED,
      succeeded: (locked, capture, { pendingAmountMinor }) => {
        const capturedMinor = pendingAmountMinor as bigint;
        const commands = [
          this.command(PostingEvent.CAPTURED, locked, chart, capturedMinor),
          this.command(PostingEvent.CAPTURE_FEE, locked, chart, capture.feeMinor),
        ].filter((command): command is LedgerCommand => command !== null);
        locked.status = PaymentStatus.CAPTURED;
        locked.capturedMinor = capturedMinor;
        locked.feeMinor += capture.feeMinor;
        const detail = capture.feeMinor > 0n ? `fee ${capture.feeMinor}` : null;
        return { event: PaymentEventType.CAPTURED, amountMinor: capturedMinor, commands, detail };
      },
    });
    if (outcome.kind === 'succeeded' && outcome.value.laterEvents?.length) this.applyLater(payment.gatewayId, tenantId, outcome.value.laterEvents);
    return payment;
  }

  async void(tenantId: string, paymentId: string, handle?: IdempotencyHandle): Promise<PaymentRecord> {
    requireIdOfKind(paymentId, 'payment', 'paymentId');
    const key = gatewayKeyFor(handle, 'void');
    const requestHash = requestHashOf(['void']);
    const begun = await this.begin(tenantId, paymentId, key, requestHash, handle, (payment, now) => {
      const refusal = voidRefusal(payment);
      if (refusal) return refusal;
      markPending(payment, PendingOperation.VOID, null, key, requestHash, now);
      return { event: PaymentEventType.VOID_REQUESTED, amountMinor: null };
    });
    if (begun.settled) return begun.payment;
    const payment = begun.payment;
    const adapter = await this.gateways.adapterFor(payment.gatewayId);
    const outcome = await this.callGateway({ operation: 'void', paymentId, gatewayId: payment.gatewayId }, () =>
      adapter.void({ idempotencyKey: key, gatewayPaymentId: payment.gatewayPaymentId as string }),
    );
    return this.settleVoid(tenantId, paymentId, key, outcome, handle, PaymentEventSource.API);
  }

  private settleVoid(
    tenantId: string,
    paymentId: string,
    key: string,
    outcome: GatewayOutcome<unknown>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
  ): Promise<PaymentRecord> {
    return this.settleStep(tenantId, paymentId, PendingOperation.VOID, key, outcome, handle, source, {
      name: 'void',
      failedEvent: PaymentEventType.VOID_FAILED,
      succeeded: (payment) => {
        const commands = [this.command(PostingEvent.VOIDED, payment, null, 0n) as LedgerCommand];
        payment.status = PaymentStatus.VOIDED;
        return { event: PaymentEventType.VOIDED, amountMinor: null, commands };
      },
    });
  }

  /**
   * The last part of an authorization, capture or void: records the gateway's outcome on the locked
   * payment, unless the step was settled meanwhile by someone else (a concurrent retry, the status
   * check). A decline is recorded, stored with the idempotency key and thrown after the commit; a
   * success writes the payment, its event and the idempotency completion first and the ledger entries
   * last (see entryIdsOf). An unknown outcome leaves the step under way for a retry or the status check.
   */
  private async settleStep<T>(
    tenantId: string,
    paymentId: string,
    operation: PendingOperation,
    key: string,
    outcome: GatewayOutcome<T>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    step: {
      name: string;
      failedEvent: PaymentEventType;
      /** Changes a decline makes beyond ending the step (an authorization fails the payment). */
      declined?: (payment: PaymentRecord, declined: { declineCode: DeclineCode; message: string }) => void;
      /** Applies the success to the payment and says what to record and post. */
      succeeded: (
        payment: PaymentRecord,
        value: T,
        context: { now: Date; pendingAmountMinor: bigint | null },
      ) => { event: PaymentEventType; amountMinor: bigint | null; commands: LedgerCommand[]; detail?: string | null };
    },
  ): Promise<PaymentRecord> {
    if (outcome.kind === 'unknown') throw PaymentErrors.outcomeUnknown(step.name, { paymentId });
    return this.commit(async (manager) => {
      const payment = await this.lockPayment(manager, tenantId, paymentId);
      if (payment.pendingOperation !== operation || payment.pendingKey !== key) {
        return this.alreadySettled(manager, payment, handle, outcome.kind);
      }
      const now = this.clock.now();
      const { pendingRequestHash: requestHash, pendingAmountMinor } = payment;
      clearPending(payment, now);
      if (outcome.kind === 'declined') {
        step.declined?.(payment, outcome);
        await this.updatePayment(manager, payment);
        await this.insertEvent(manager, payment, step.failedEvent, { source, detail: outcome.declineCode, operationKey: key, requestHash });
        // A declined void leaves the hold as it was; a declined authorization or capture paid nothing.
        const linked = operation === PendingOperation.VOID ? null : await this.tellInvoice(manager, payment, { kind: 'failed', code: outcome.declineCode });
        const refusal = PaymentErrors.declined(step.name, outcome.declineCode, outcome.message, { paymentId });
        if (handle) await this.idempotency?.complete(manager, handle, { error: refusal });
        const writes = linked?.commands.length ? await this.ledger.writeWithin(manager, linked.commands) : [];
        return { result: payment, payments: [payment], entries: writes.map((write) => write.entry), refusal, afterCommit: afterCommitOf(linked) };
      }
      const settled = step.succeeded(payment, outcome.value, { now, pendingAmountMinor });
      await this.updatePayment(manager, payment);
      await this.insertEvent(manager, payment, settled.event, {
        amountMinor: settled.amountMinor,
        source,
        entries: entryIdsOf(settled.commands),
        operationKey: key,
        requestHash,
        detail: settled.detail ?? null,
      });
      const linked =
        operation === PendingOperation.CAPTURE
          ? await this.tellInvoice(manager, payment, { kind: 'captured', amountMinor: pendingAmountMinor as bigint })
          : operation === PendingOperation.VOID
            ? await this.tellInvoice(manager, payment, { kind: 'failed', code: 'VOIDED' })
            : null;
      if (handle) await this.idempotency?.complete(manager, handle, { resultRef: { paymentId } });
      const writes = await this.ledger.writeWithin(manager, [...settled.commands, ...(linked?.commands ?? [])]);
      return { result: payment, payments: [payment], entries: writes.map((write) => write.entry), afterCommit: afterCommitOf(linked) };
    });
  }

  async refund(tenantId: string, paymentId: string, input: RefundPaymentInput, handle?: IdempotencyHandle): Promise<RefundResult> {
    requireIdOfKind(paymentId, 'payment', 'paymentId');
    const current = await this.getPayment(tenantId, paymentId);
    const amountMinor = input.amount === null || input.amount === undefined ? null : parsePositiveAmount(input.amount, current.currency);
    const reason = optionalText(input.reason, 'reason', PAYMENT_LIMITS.reasonLength);
    const chart = await this.ledger.defaultChartAccounts(tenantId, current.currency);
    const key = gatewayKeyFor(handle, 'refund');
    const requestHash = requestHashOf(['refund', amountMinor, reason]);

    const begun = await this.commit(async (manager) => {
      const payment = await this.lockPayment(manager, tenantId, paymentId);
      const existing = await this.refundByKey(manager, tenantId, key);
      if (existing && existing.requestHash !== requestHash) throw PaymentErrors.keyReused('refund');
      if (existing) return { result: { payment, refund: existing }, payments: [], entries: [] };
      const refundMinor = amountMinor ?? refundableMinorOf(payment);
      const refusal = refundRefusal(payment, refundMinor);
      if (refusal) throw refusal;
      const now = this.clock.now();
      const refund: RefundRecord = {
        id: newId('refund'),
        tenantId,
        paymentId,
        status: RefundStatus.PENDING,
        amountMinor: refundMinor,
        reason,
        gatewayKey: key,
        requestHash,
        gatewayRefundId: null,
        journalEntryId: null,
        failureCode: null,
        createdAt: now,
        updatedAt: now,
      };
      await manager.query(
        `INSERT INTO refunds (id, tenant_id, payment_id, status, amount_minor, reason, gateway_key, request_hash, gateway_refund_id,
                              journal_entry_id, failure_code, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?)`,
        [refund.id, tenantId, paymentId, refund.status, this.minor(refundMinor), reason, key, requestHash, toDbTimestamp(now), toDbTimestamp(now)],
      );
      payment.refundPendingMinor += refundMinor;
      payment.updatedAt = now;
      await this.updatePayment(manager, payment);
      await this.insertEvent(manager, payment, PaymentEventType.REFUND_REQUESTED, {
        amountMinor: refundMinor,
        source: PaymentEventSource.API,
        refundId: refund.id,
      });
      return { result: { payment, refund }, payments: [payment], entries: [] };
    });
    const { payment, refund } = begun;
    if (refund.status !== RefundStatus.PENDING) {
      const refusal = refund.status === RefundStatus.FAILED ? this.refundDeclined(refund) : undefined;
      await this.completeAlone(handle, refusal ? { error: refusal } : { resultRef: { paymentId, refundId: refund.id } });
      if (refusal) throw refusal;
      return { payment: await this.getPayment(tenantId, paymentId), refund };
    }
    const adapter = await this.gateways.adapterFor(payment.gatewayId);
    const outcome = await this.callGateway({ operation: 'refund', paymentId, refundId: refund.id, gatewayId: payment.gatewayId }, () =>
      adapter.refund({
        idempotencyKey: key,
        gatewayPaymentId: payment.gatewayPaymentId as string,
        amountMinor: refund.amountMinor,
        currency: payment.currency,
      }),
    );
    return this.settleRefund(tenantId, refund.id, outcome, handle, PaymentEventSource.API, chart);
  }

  /**
   * One gateway call with the retry policy, and its warnings: each attempt that left the outcome
   * unknown (a 5xx, a timeout, a dropped connection) before it is retried, and an outcome still unknown
   * after the last attempt. The reasons name the operation and the HTTP status or network error, never
   * the API secret or the payment token (http-gateway.ts); the request id ties them to the access line.
   */
  private async callGateway<T>(
    call: { operation: 'authorize' | 'capture' | 'void' | 'refund'; paymentId: string; refundId?: string; gatewayId: string },
    attempt: () => Promise<GatewayOutcome<T>>,
  ): Promise<GatewayOutcome<T>> {
    const outcome = await callWithRetries(attempt, this.options.gatewayRetry, {
      onRetry: (attemptNumber, reason, delayMs) =>
        this.log?.warn({ requestId: currentRequestId(), ...call, attempt: attemptNumber, reason, delayMs }, 'gateway call failed; retrying with the same idempotency key'),
    });
    if (outcome.kind === 'unknown') {
      this.log?.warn(
        { requestId: currentRequestId(), ...call, attempts: this.options.gatewayRetry.maxAttempts, reason: outcome.reason },
        'gateway outcome unknown; left for a retry with the same key or the status check',
      );
    }
    return outcome;
  }

  private refundDeclined(refund: RefundRecord): AppError {
    return PaymentErrors.declined('refund', (refund.failureCode ?? Declines.DO_NOT_HONOR) as DeclineCode, 'the refund was refused', {
      paymentId: refund.paymentId,
      refundId: refund.id,
    });
  }

  private async settleRefund(
    tenantId: string,
    refundId: string,
    outcome: GatewayOutcome<{ gatewayRefundId: string }>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    chart: ChartAccounts,
  ): Promise<RefundResult> {
    const [pending] = await this.refundsWhere('tenant_id = ? AND id = ?', [tenantId, refundId]);
    if (outcome.kind === 'unknown') throw PaymentErrors.outcomeUnknown('refund', { paymentId: pending.paymentId, refundId });
    return this.commit(async (manager) => {
      const payment = await this.lockPayment(manager, tenantId, pending.paymentId);
      const [refund] = (
        await manager.query(`SELECT * FROM refunds WHERE id = ?${this.forUpdate()}`, [refundId]) as Record<string, unknown>[]
      ).map(refundFromRow);
      if (refund.status !== RefundStatus.PENDING) {
        if (handle) {
          const refusal = refund.status === RefundStatus.FAILED ? this.refundDeclined(refund) : undefined;
          await this.idempotency?.complete(manager, handle, refusal ? { error: refusal } : { resultRef: { paymentId: payment.id, refundId } });
          return { result: { payment, refund }, payments: [], entries: [], refusal };
        }
        return { result: { payment, refund }, payments: [], entries: [] };
      }
      const now = this.clock.now();
      payment.refundPendingMinor -= refund.amountMinor;
      payment.updatedAt = now;
      refund.updatedAt = now;
      if (outcome.kind === 'declined') {
        refund.status = RefundStatus.FAILED;
        refund.failureCode = outcome.declineCode;
        await manager.query(`UPDATE refunds SET status = ?, failure_code = ?, updated_at = ? WHERE id = ?`, [
          refund.status,
          refund.failureCode,
          toDbTimestamp(now),
          refund.id,
        ]);
        await this.updatePayment(manager, payment);
        await this.insertEvent(manager, payment, PaymentEventType.REFUND_FAILED, {
          source,
          refundId,
          amountMinor: refund.amountMinor,
          detail: outcome.declineCode,
          operationKey: refund.gatewayKey,
        });
        const refusal = PaymentErrors.declined('refund', outcome.declineCode, outcome.message, { paymentId: payment.id, refundId });
        if (handle) await this.idempotency?.complete(manager, handle, { error: refusal });
        return { result: { payment, refund }, payments: [payment], entries: [], refusal };
      }
      const commands = [this.command(PostingEvent.REFUNDED, payment, chart, refund.amountMinor) as LedgerCommand];
      refund.status = RefundStatus.SUCCEEDED;
      refund.gatewayRefundId = outcome.value.gatewayRefundId;
      refund.journalEntryId = entryIdsOf(commands)[0];
      await manager.query(`UPDATE refunds SET status = ?, gateway_refund_id = ?, journal_entry_id = ?, updated_at = ? WHERE id = ?`, [
        refund.status,
        refund.gatewayRefundId,
        refund.journalEntryId,
        toDbTimestamp(now),
        refund.id,
      ]);
      payment.refundedMinor += refund.amountMinor;
      await this.updatePayment(manager, payment);
      await this.insertEvent(manager, payment, PaymentEventType.REFUNDED, {
        source,
        refundId,
        amountMinor: refund.amountMinor,
        entries: entryIdsOf(commands),
        operationKey: refund.gatewayKey,
      });
      const linked = await this.tellInvoice(manager, payment, { kind: 'refunded', amountMinor: refund.amountMinor, refundId });
      if (handle) await this.idempotency?.complete(manager, handle, { resultRef: { paymentId: payment.id, refundId } });
      const writes = await this.ledger.writeWithin(manager, [...commands, ...(linked?.commands ?? [])]);
      return { result: { payment, refund }, payments: [payment], entries: writes.map((write) => write.entry), afterCommit: afterCommitOf(linked) };
    });
  }

  async openDispute(tenantId: string, paymentId: string, input: OpenDisputeInput, handle?: IdempotencyHandle): Promise<DisputeResult> {
    requireIdOfKind(paymentId, 'payment', 'paymentId');
    const current = await this.getPayment(tenantId, paymentId);
    const amountMinor = input.amount === null || input.amount === undefined ? null : parsePositiveAmount(input.amount, current.currency);
    const feeMinor = input.fee === null || input.fee === undefined ? 0n : parsePositiveAmount(input.fee, current.currency, 'fee');
    const reason = requireText(input.reason, 'reason', PAYMENT_LIMITS.reasonLength);
    const chart = await this.ledger.defaultChartAccounts(tenantId, current.currency);
    return this.commit(async (manager) => {
      const payment = await this.lockPayment(manager, tenantId, paymentId);
      const opened = await this.openDisputeWithin(manager, payment, chart, { amountMinor, feeMinor, reason, gatewayDisputeId: null }, PaymentEventSource.API);
      if (opened instanceof AppError) throw opened;
      if (handle) await this.idempotency?.complete(manager, handle, { resultRef: { paymentId, disputeId: opened.dispute.id } });
      return { result: { payment, dispute: opened.dispute }, payments: [payment], entries: opened.entries };
    });
  }

  private async openDisputeWithin(
    manager: EntityManager,
    payment: PaymentRecord,
    chart: ChartAccounts,
    input: { amountMinor: bigint | null; feeMinor: bigint; reason: string; gatewayDisputeId: string | null },
    source: PaymentEventSource,
  ): Promise<{ dispute: DisputeRecord; entries: JournalEntryRecord[] } | AppError> {
    const [{ open }] = await manager.query(`SELECT COUNT(*) AS open FROM disputes WHERE payment_id = ? AND status IN (?, ?)`, [
      payment.id,
      DisputeStatus.OPEN,
      DisputeStatus.UNDER_REVIEW,
    ]);
    if (input.gatewayDisputeId) {
      // A gateway's dispute is opened once, even when it reports it again under a new event id.
      const known = await manager.query(`SELECT id FROM disputes WHERE payment_id = ? AND gateway_dispute_id = ?`, [payment.id, input.gatewayDisputeId]);
      if (known.length > 0) {
        return new AppError(ErrorCode.ALREADY_EXISTS, `Dispute ${echoOfInput(input.gatewayDisputeId)} of the gateway is already recorded`, {
          gatewayDisputeId: echoOfInput(input.gatewayDisputeId),
        });
      }
    }
    const amountMinor = input.amountMinor ?? refundableMinorOf(payment);
    const refusal = openDisputeRefusal(payment, amountMinor, Number(open) > 0);
    if (refusal) return refusal;
    const now = this.clock.now();
    const dispute: DisputeRecord = {
      id: newId('dispute'),
      tenantId: payment.tenantId,
      paymentId: payment.id,
      status: DisputeStatus.OPEN,
      amountMinor,
      feeMinor: input.feeMinor,
      reason: input.reason,
      evidence: null,
      gatewayDisputeId: input.gatewayDisputeId,
      evidenceSubmittedAt: null,
      createdAt: now,
      closedAt: null,
    };
    const writes = await this.ledger.writeWithin(
      manager,
      [this.command(PostingEvent.DISPUTE_OPENED, payment, chart, amountMinor), this.command(PostingEvent.DISPUTE_FEE, payment, chart, input.feeMinor)].filter(
        (command): command is LedgerCommand => command !== null,
      ),
    );
    await manager.query(
      `INSERT INTO disputes (id, tenant_id, payment_id, status, amount_minor, fee_minor, reason, evidence, gateway_dispute_id,
                             evidence_submitted_at, created_at, closed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, NULL)`,
      [dispute.id, dispute.tenantId, dispute.paymentId, dispute.status, this.minor(amountMinor), this.minor(input.feeMinor), dispute.reason, dispute.gatewayDisputeId, toDbTimestamp(now)],
    );
    payment.disputedMinor += amountMinor;
    payment.feeMinor += input.feeMinor;
    payment.updatedAt = now;
    await this.updatePayment(manager, payment);
    await this.insertEvent(manager, payment, PaymentEventType.DISPUTE_OPENED, {
      source,
      amountMinor,
      disputeId: dispute.id,
      entries: writes.map((write) => write.entry.id),
      detail: input.reason.slice(0, 500),
    });
    return { dispute, entries: writes.map((write) => write.entry) };
  }

  async submitDisputeEvidence(tenantId: string, disputeId: string, evidence: string, handle?: IdempotencyHandle): Promise<DisputeResult> {
    requireIdOfKind(disputeId, 'dispute', 'disputeId');
    const text = requireText(evidence, 'evidence', PAYMENT_LIMITS.evidenceLength);
    const found = await this.getDispute(tenantId, disputeId);
    return this.commit(async (manager) => {
      const payment = await this.lockPayment(manager, tenantId, found.paymentId);
      const dispute = await this.lockDispute(manager, disputeId);
      const refusal = evidenceRefusal(disputeId, dispute.status);
      if (refusal) throw refusal;
      const now = this.clock.now();
      dispute.status = DisputeStatus.UNDER_REVIEW;
      dispute.evidence = text;
      dispute.evidenceSubmittedAt = now;
      await manager.query(`UPDATE disputes SET status = ?, evidence = ?, evidence_submitted_at = ? WHERE id = ?`, [
        dispute.status,
        text,
        toDbTimestamp(now),
        disputeId,
      ]);
      payment.updatedAt = now;
      await this.updatePayment(manager, payment);
      await this.insertEvent(manager, payment, PaymentEventType.DISPUTE_EVIDENCE_SUBMITTED, { source: PaymentEventSource.API, disputeId });
      if (handle) await this.idempotency?.complete(manager, handle, { resultRef: { paymentId: payment.id, disputeId } });
      return { result: { payment, dispute }, payments: [payment], entries: [] };
    });
  }

  async closeDispute(tenantId: string, disputeId: string, outcome: DisputeStatus, handle?: IdempotencyHandle): Promise<DisputeResult> {
    requireIdOfKind(disputeId, 'dispute', 'disputeId');
    if (outcome !== DisputeStatus.WON && outcome !== DisputeStatus.LOST) throw validationError('outcome must be WON or LOST', { field: 'outcome' });
    const found = await this.getDispute(tenantId, disputeId);
    const payment = await this.getPayment(tenantId, found.paymentId);
    const chart = await this.ledger.defaultChartAccounts(tenantId, payment.currency);
    return this.commit(async (manager) => {
      const locked = await this.lockPayment(manager, tenantId, found.paymentId);
      const closed = await this.closeDisputeWithin(manager, locked, disputeId, outcome, chart, PaymentEventSource.API);
      if (closed instanceof AppError) throw closed;
      if (handle) await this.idempotency?.complete(manager, handle, { resultRef: { paymentId: locked.id, disputeId } });
      return { result: { payment: locked, dispute: closed.dispute }, payments: [locked], entries: closed.entries };
    });
  }

  private async closeDisputeWithin(
    manager: EntityManager,
    payment: PaymentRecord,
    disputeId: string,
    outcome: DisputeStatus.WON | DisputeStatus.LOST,
    chart: ChartAccounts,
    source: PaymentEventSource,
  ): Promise<{ dispute: DisputeRecord; entries: JournalEntryRecord[] } | AppError> {
    const dispute = await this.lockDispute(manager, disputeId);
    const refusal = closeDisputeRefusal(disputeId, dispute.status);
    if (refusal) return refusal;
    const won = outcome === DisputeStatus.WON;
    const [write] = await this.ledger.writeWithin(manager, [
      this.command(won ? PostingEvent.DISPUTE_WON : PostingEvent.DISPUTE_LOST, payment, chart, dispute.amountMinor) as LedgerCommand,
    ]);
    const now = this.clock.now();
    dispute.status = outcome;
    dispute.closedAt = now;
    await manager.query(`UPDATE disputes SET status = ?, closed_at = ? WHERE id = ?`, [outcome, toDbTimestamp(now), disputeId]);
    payment.disputedMinor -= dispute.amountMinor;
    if (!won) payment.disputeLostMinor += dispute.amountMinor;
    payment.updatedAt = now;
    await this.updatePayment(manager, payment);
    await this.insertEvent(manager, payment, won ? PaymentEventType.DISPUTE_WON : PaymentEventType.DISPUTE_LOST, {
      source,
      disputeId,
      amountMinor: dispute.amountMinor,
      entries: [write.entry.id],
    });
    return { dispute, entries: [write.entry] };
  }

  /** Gateway clearing → cash at bank: the bank postings reconciliation later matches against statements. */
  async recordPayout(tenantId: string, input: RecordPayoutInput, handle?: IdempotencyHandle): Promise<PayoutRecord> {
    const gateway = await this.gateways.getGateway(tenantId, input.gatewayId);
    const currency = requireCurrency(input.currency);
    if (!gateway.currencies.includes(currency)) throw PaymentErrors.gatewayCurrencyMismatch(gateway.id, currency);
    const amountMinor = parsePositiveAmount(input.amount, currency);
    const externalRef = optionalText(input.externalRef, 'externalRef', PAYMENT_LIMITS.externalRefLength, { printable: true, identifier: true });
    const now = this.clock.now();
    const arrivedAt = requireStorableDate(input.arrivedAt ?? now, 'arrivedAt');
    const chart = await this.ledger.defaultChartAccounts(tenantId, currency);
    try {
      return await this.commit(async (manager) => {
        const context = {
          tenantId,
          currency,
          chart,
          description: `Payout from ${gateway.name}`,
          effectiveAt: arrivedAt,
          metadata: externalRef ? { payoutRef: externalRef } : null,
        };
        const [write] = await this.ledger.writeWithin(manager, [ledgerCommandFor(PostingEvent.PAYOUT, context, amountMinor) as LedgerCommand]);
        const payout: PayoutRecord = {
          id: newId('payout'),
          tenantId,
          gatewayId: gateway.id,
          amountMinor,
          currency,
          externalRef,
          journalEntryId: write.entry.id,
          arrivedAt,
          createdAt: now,
        };
        await manager.query(
          `INSERT INTO payouts (id, tenant_id, gateway_id, amount_minor, currency, external_ref, journal_entry_id, arrived_at, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [payout.id, tenantId, gateway.id, this.minor(amountMinor), currency, externalRef, write.entry.id, toDbTimestamp(arrivedAt), toDbTimestamp(now)],
        );
        await this.checkPayout(manager, payout, gateway.name, chart);
        if (handle) await this.idempotency?.complete(manager, handle, { resultRef: { payoutId: payout.id } });
        return { result: payout, payments: [], entries: [write.entry] };
      });
    } catch (error) {
      if (isUniqueViolation(error) && externalRef) throw PaymentErrors.payoutRefTaken(externalRef);
      throw error;
    }
  }

  /**
   * What the gateway owed before a payout is the posted balance of the tenant's gateway clearing
   * account in the payout's currency just before it: every capture, less fees, refunds, disputes
   * (back in when won) and earlier payouts, whatever their dates. Read after the payout's own posting,
   * under the account lock the ledger writer holds to the commit, so payouts and captures committing
   * meanwhile are counted in order; the payout is then added back. A payout of any other amount
   * (partial, too much, or a second payout of the same money) is PAYOUT_MISMATCH, raised in the
   * payout's transaction; the payout stands, since the bank paid what it paid. The clearing account
   * is per currency, not per gateway: with two gateways in one currency, "owed" is what both owe.
   */
  private async checkPayout(manager: EntityManager, payout: PayoutRecord, gatewayName: string, chart: ChartAccounts): Promise<void> {
    const clearingAccountId = chart[ChartRole.GATEWAY_CLEARING];
    const rows: Record<string, unknown>[] = await manager.query('SELECT posted_debits_minor, posted_credits_minor FROM accounts WHERE id = ?', [clearingAccountId]);
    const after = BigInt(String(rows[0].posted_debits_minor)) - BigInt(String(rows[0].posted_credits_minor));
    const owedMinor = after + payout.amountMinor;
    if (owedMinor === payout.amountMinor) return;
    const money = (minor: bigint) => formatMinorAsDecimal(minor, payout.currency);
    await this.discrepancies.report(manager, {
      tenantId: payout.tenantId,
      kind: GatewayDiscrepancyKind.PAYOUT_MISMATCH,
      subject: `payout:${payout.id}`,
      details: {
        payoutId: payout.id,
        gatewayId: payout.gatewayId,
        gatewayName,
        currency: payout.currency,
        expectedAmount: money(owedMinor),
        paidAmount: money(payout.amountMinor),
        difference: money(payout.amountMinor - owedMinor),
        clearingAccountId,
        clearingBalanceAfter: money(after),
        payoutRef: payout.externalRef,
      },
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound gateway events, expiry and status checks

  /**
   * Applies one signed event from a gateway (the route has verified the signature), once: the event id
   * is recorded in the same transaction as its effect. An event the payment's state refuses (a dispute
   * on a voided payment) is recorded and ignored, so the gateway stops sending it.
   */
  async applyGatewayEvent(gatewayId: string, tenantId: string, event: GatewayEvent): Promise<GatewayEventResult> {
    const [found] = await this.paymentsWhere('tenant_id = ? AND gateway_id = ? AND gateway_payment_id = ?', [tenantId, gatewayId, event.gatewayPaymentId]);
    const chart = found ? await this.ledger.defaultChartAccounts(tenantId, found.currency) : null;
    try {
      return await this.commit<GatewayEventResult>(async (manager) => {
        const seen = await manager.query(`SELECT event_id FROM gateway_events WHERE gateway_id = ? AND event_id = ?`, [gatewayId, event.id]);
        if (seen.length > 0) return { result: { status: 'duplicate' as const }, payments: [], entries: [] };
        await manager.query(`INSERT INTO gateway_events (gateway_id, event_id, tenant_id, type, payment_id, received_at) VALUES (?, ?, ?, ?, ?, ?)`, [
          gatewayId,
          event.id,
          tenantId,
          event.type,
          found?.id ?? null,
          toDbTimestamp(this.clock.now()),
        ]);
        if (!found || !chart) {
          await this.reportUnknownPayment(manager, gatewayId, tenantId, event);
          return { result: { status: 'ignored' as const, reason: 'no payment with this gatewayPaymentId' }, payments: [], entries: [] };
        }
        const payment = await this.lockPayment(manager, tenantId, found.id);
        const disputableBefore = disputableMinorOf(payment);
        let applied: { entries: JournalEntryRecord[] } | AppError;
        if (event.type === 'dispute.opened') {
          applied = await this.openDisputeWithin(
            manager,
            payment,
            chart,
            { amountMinor: event.amountMinor ?? null, feeMinor: event.feeMinor ?? 0n, reason: event.reason ?? 'reported by the gateway', gatewayDisputeId: event.gatewayDisputeId ?? null },
            PaymentEventSource.GATEWAY,
          );
        } else {
          const [dispute] = (
            await manager.query(`SELECT id FROM disputes WHERE payment_id = ? AND gateway_dispute_id = ?`, [payment.id, event.gatewayDisputeId ?? ''])
          ) as { id: string }[];
          applied = dispute
            ? await this.closeDisputeWithin(
                manager,
                payment,
                dispute.id,
                event.type === 'dispute.won' ? DisputeStatus.WON : DisputeStatus.LOST,
                chart,
                PaymentEventSource.GATEWAY,
              )
            : new AppError(ErrorCode.NOT_FOUND, 'no dispute with this gatewayDisputeId');
        }
        if (applied instanceof AppError) {
          if (
            event.type === 'dispute.opened' &&
            applied.code !== ErrorCode.ALREADY_EXISTS &&
            event.amountMinor !== undefined &&
            event.amountMinor > (disputableBefore > 0n ? disputableBefore : 0n)
          ) {
            await this.reportOversizedDispute(manager, gatewayId, payment, event, disputableBefore > 0n ? disputableBefore : 0n, applied.message);
          }
          return { result: { status: 'ignored' as const, reason: applied.message }, payments: [], entries: [] };
        }
        return { result: { status: 'applied' as const, paymentId: payment.id }, payments: [payment], entries: applied.entries };
      });
    } catch (error) {
      // The same event delivered twice at once: the second insert of its id loses.
      if (isUniqueViolation(error)) return { status: 'duplicate' };
      throw error;
    }
  }

  /**
   * The gateway disputes more than the books hold for the payment (captured, less refunds and earlier
   * disputes; nothing when the books never captured it): the dispute is refused, the event recorded,
   * and GATEWAY_MISMATCH raised with both amounts. A gateway dispute reported again under a new event
   * id is the same cause (the subject names the gateway's dispute id).
   */
  private async reportOversizedDispute(
    manager: EntityManager,
    gatewayId: string,
    payment: PaymentRecord,
    event: GatewayEvent,
    disputableMinor: bigint,
    refusal: string,
  ): Promise<void> {
    const money = (minor: bigint) => formatMinorAsDecimal(minor, payment.currency);
    const disputedMinor = event.amountMinor ?? 0n;
    await this.discrepancies.report(manager, {
      tenantId: payment.tenantId,
      kind: GatewayDiscrepancyKind.GATEWAY_MISMATCH,
      subject: `dispute:${payment.id}:${shortDigest(event.gatewayDisputeId ?? `event:${event.id}`)}`,
      details: {
        reason: 'DISPUTE_EXCEEDS_DISPUTABLE',
        gatewayId,
        eventId: event.id,
        paymentId: payment.id,
        gatewayPaymentId: event.gatewayPaymentId,
        gatewayDisputeId: event.gatewayDisputeId ?? null,
        currency: payment.currency,
        disputedAmount: money(disputedMinor),
        disputableAmount: money(disputableMinor),
        difference: money(disputedMinor - disputableMinor),
        refusal,
      },
    });
  }

  /**
   * A signed event about a payment the books do not have: the gateway holds a charge Reckon never
   * recorded (events name no currency, so the amount is in minor units).
   */
  private async reportUnknownPayment(manager: EntityManager, gatewayId: string, tenantId: string, event: GatewayEvent): Promise<void> {
    await this.discrepancies.report(manager, {
      tenantId,
      kind: GatewayDiscrepancyKind.GATEWAY_MISMATCH,
      subject: `gatewayPayment:${gatewayId}:${shortDigest(event.gatewayPaymentId)}`,
      details: {
        reason: 'PAYMENT_UNKNOWN',
        gatewayId,
        eventId: event.id,
        eventType: event.type,
        gatewayPaymentId: event.gatewayPaymentId,
        gatewayDisputeId: event.gatewayDisputeId ?? null,
        amountMinor: event.amountMinor === undefined ? null : event.amountMinor.toString(),
      },
    });
  }

  /** Events a gateway reported with an answer (the simulator), applied after the answer has committed. */
  private applyLater(gatewayId: string, tenantId: string, events: GatewayEvent[]): void {
    setImmediate(() => {
      void (async () => {
        for (const event of events) await this.applyGatewayEvent(gatewayId, tenantId, event);
      })().catch((error: unknown) => this.log?.warn({ err: error, gatewayId }, 'could not apply a gateway event'));
    });
  }

  /** Releases the holds of authorizations past their capture window. Returns how many expired. */
  async expireAuthorizations(limit = 100): Promise<number> {
    const now = this.clock.now();
    const due = await this.paymentsWhere(`status = ? AND pending_operation IS NULL AND expires_at <= ? ORDER BY expires_at LIMIT ${limit}`, [
      PaymentStatus.AUTHORIZED,
      toDbTimestamp(now),
    ]);
    let expired = 0;
    for (const candidate of due) {
      const done = await this.commit(async (manager) => {
        const payment = await this.lockPayment(manager, candidate.tenantId, candidate.id);
        if (expiryRefusal(payment, this.clock.now())) return { result: false, payments: [], entries: [] };
        const [write] = await this.ledger.writeWithin(manager, [this.command(PostingEvent.EXPIRED, payment, null, 0n) as LedgerCommand]);
        payment.status = PaymentStatus.EXPIRED;
        payment.updatedAt = this.clock.now();
        await this.updatePayment(manager, payment);
        await this.insertEvent(manager, payment, PaymentEventType.EXPIRED, { source: PaymentEventSource.SYSTEM, entries: [write.entry.id] });
        const linked = await this.tellInvoice(manager, payment, { kind: 'failed', code: 'EXPIRED' });
        const more = linked?.commands.length ? await this.ledger.writeWithin(manager, linked.commands) : [];
        return { result: true, payments: [payment], entries: [write.entry, ...more.map((w) => w.entry)], afterCommit: afterCommitOf(linked) };
      });
      if (done) expired += 1;
    }
    return expired;
  }

  /**
   * Settles gateway operations left unsettled (a timeout that outlasted the retries, a crash between
   * the call and the record) by asking the gateway about their key. Only operations older than
   * PAYMENT_STATUS_CHECK_AFTER are asked about, so that one still in flight is not judged missing.
   * Returns how many were settled.
   */
  async settleUnknownOutcomes(limit = 100): Promise<number> {
    const before = toDbTimestamp(new Date(this.clock.now().getTime() - this.options.statusCheckAfterMs));
    const payments = await this.paymentsWhere(`pending_operation IS NOT NULL AND pending_since <= ? ORDER BY pending_since LIMIT ${limit}`, [before]);
    const refunds = await this.refundsWhere(`status = ? AND created_at <= ? ORDER BY created_at LIMIT ${limit}`, [RefundStatus.PENDING, before]);
    let settled = 0;
    const attempt = async (work: () => Promise<unknown>) => {
      try {
        await work();
        settled += 1;
      } catch (error) {
        if (error instanceof AppError && error.code === ErrorCode.GATEWAY_DECLINED) settled += 1;
        else if (!(error instanceof AppError && error.code === ErrorCode.GATEWAY_UNAVAILABLE)) {
          this.log?.warn({ err: error }, 'status check could not settle an operation');
        }
      }
    };
    for (const payment of payments) {
      const operation = payment.pendingOperation as PendingOperation;
      const key = payment.pendingKey as string;
      const adapter = await this.gateways.adapterFor(payment.gatewayId);
      const status = await adapter.fetchStatus({ idempotencyKey: key, operation: operation.toLowerCase() as GatewayOperation });
      const chart = await this.ledger.defaultChartAccounts(payment.tenantId, payment.currency);
      const source = PaymentEventSource.SYSTEM;
      if (status.kind === 'unknown') continue;
      switch (operation) {
        case PendingOperation.AUTHORIZE:
          await attempt(() =>
            this.settleAuthorization(payment.tenantId, payment.id, key, outcomeOf(status, status.kind === 'succeeded' ? status.authorization : undefined), undefined, source, chart),
          );
          break;
        case PendingOperation.CAPTURE:
          await attempt(() =>
            this.settleCapture(payment.tenantId, payment.id, key, outcomeOf(status, status.kind === 'succeeded' ? status.capture : undefined), undefined, source, chart),
          );
          break;
        case PendingOperation.VOID:
          await attempt(() => this.settleVoid(payment.tenantId, payment.id, key, outcomeOf(status, status.kind === 'succeeded' ? {} : undefined), undefined, source));
          break;
      }
    }
    for (const refund of refunds) {
      const [payment] = await this.paymentsWhere('id = ?', [refund.paymentId]);
      const adapter = await this.gateways.adapterFor(payment.gatewayId);
      const status = await adapter.fetchStatus({ idempotencyKey: refund.gatewayKey, operation: 'refund' });
      if (status.kind === 'unknown') continue;
      const chart = await this.ledger.defaultChartAccounts(payment.tenantId, payment.currency);
      await attempt(() =>
        this.settleRefund(refund.tenantId, refund.id, outcomeOf(status, status.kind === 'succeeded' ? status.refund : undefined), undefined, PaymentEventSource.SYSTEM, chart),
      );
    }
    return settled;
  }

  // ---------------------------------------------------------------------------------------------
  // Reads (every one scoped to the tenant)

  async paymentsByIds(tenantId: string, ids: readonly string[]): Promise<PaymentRecord[]> {
    if (ids.length === 0) return [];
    return this.paymentsWhere(`tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`, [tenantId, ...ids]);
  }

  async getPayment(tenantId: string, id: string): Promise<PaymentRecord> {
    requireIdOfKind(id, 'payment', 'id');
    const [payment] = await this.paymentsByIds(tenantId, [id]);
    if (!payment) throw PaymentErrors.paymentNotFound(id);
    return payment;
  }

  async listPayments(tenantId: string, filter: PaymentFilter, pageRequest: PageRequest): Promise<Page<PaymentRecord>> {
    const where = await this.paymentConditions(tenantId, filter);
    // Newest first; ids are time-ordered, so the id alone is the cursor.
    return readPage(
      pageRequest,
      (slice) => {
        const keyset = keysetSql(slice, ['id'], 'DESC');
        return this.paymentsWhere(`${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`, [
          ...where.params,
          ...keyset.params,
        ]);
      },
      (payment) => payment.id,
      { isKey: (key) => idKindOf(key) === 'payment' },
    );
  }

  /** Exactly how many payments the filter lists (indexed on tenant with status or creation time). */
  async countPayments(tenantId: string, filter: PaymentFilter): Promise<number> {
    const where = await this.paymentConditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM payments WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  private async paymentConditions(tenantId: string, filter: PaymentFilter): Promise<{ conditions: string[]; params: unknown[] }> {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.status) {
      if (!Object.values(PaymentStatus).includes(filter.status)) throw validationError('status is not a payment status', { field: 'status' });
      conditions.push('status = ?');
      params.push(filter.status);
    }
    if (filter.customerId) {
      conditions.push('customer_id = ?');
      params.push(filter.customerId);
    }
    if (filter.gatewayId) {
      // Another tenant's gateway is NOT_FOUND, as every id argument is, not an empty page.
      await this.gateways.getGateway(tenantId, filter.gatewayId);
      conditions.push('gateway_id = ?');
      params.push(filter.gatewayId);
    }
    if (filter.createdFrom) {
      conditions.push('created_at >= ?');
      params.push(toDbTimestamp(requireStorableDate(filter.createdFrom, 'createdFrom')));
    }
    if (filter.createdTo) {
      conditions.push('created_at < ?');
      params.push(toDbTimestamp(requireStorableDate(filter.createdTo, 'createdTo')));
    }
    return { conditions, params };
  }

  /** One page of each payment's refunds, oldest first: one statement for every payment of a request. */
  refundsPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<RefundRecord>>> {
    return readPages(paymentIds, window, (ids, slice) => this.childSlices('refunds', refundFromRow, tenantId, ids, slice), (refund) => refund.id);
  }

  disputesPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<DisputeRecord>>> {
    return readPages(paymentIds, window, (ids, slice) => this.childSlices('disputes', disputeFromRow, tenantId, ids, slice), (dispute) => dispute.id);
  }

  eventsPagesByPaymentIds(tenantId: string, paymentIds: readonly string[], window: PageWindow): Promise<Map<string, Page<PaymentEventRecord>>> {
    return readPages(paymentIds, window, (ids, slice) => this.childSlices('payment_events', paymentEventFromRow, tenantId, ids, slice), (event) => event.id);
  }

  /**
   * The same slice of each payment's rows of a child table, oldest first: a UNION ALL of seeks on the
   * table's (payment_id, id) index, each stopping after the slice's limit.
   */
  private async childSlices<T extends { id: string; paymentId: string }>(
    table: 'refunds' | 'disputes' | 'payment_events',
    fromRow: (row: Record<string, unknown>) => T,
    tenantId: string,
    paymentIds: readonly string[],
    slice: KeysetSlice,
  ): Promise<Map<string, T[]>> {
    const result = new Map<string, T[]>(paymentIds.map((id) => [id, []]));
    if (paymentIds.length === 0) return result;
    const keyset = keysetSql(slice, ['id'], 'ASC');
    const seeks = paymentIds.map(
      (_, index) =>
        `SELECT * FROM (SELECT * FROM ${table} WHERE ${['payment_id = ?', 'tenant_id = ?', ...keyset.conditions].join(' AND ')}
                         ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}) seek${index}`,
    );
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      seeks.join(' UNION ALL '),
      paymentIds.flatMap((id) => [id, tenantId, ...keyset.params]),
    );
    const records = rows.map(fromRow).sort((a, b) => (slice.fromEnd ? compareText(b, a) : compareText(a, b)));
    for (const record of records) result.get(record.paymentId)?.push(record);
    return result;
  }

  /** Exactly how many rows of a child table each payment has: one grouped COUNT on (payment_id, id). */
  async countChildrenByPaymentIds(table: 'refunds' | 'disputes' | 'payment_events', tenantId: string, paymentIds: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>(paymentIds.map((id) => [id, 0]));
    if (paymentIds.length === 0) return counts;
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT payment_id, COUNT(*) AS total FROM ${table} WHERE tenant_id = ? AND payment_id IN (${paymentIds.map(() => '?').join(',')}) GROUP BY payment_id`,
      [tenantId, ...paymentIds],
    );
    for (const row of rows) counts.set(String(row.payment_id), Number(row.total));
    return counts;
  }

  /** Every event of each payment, oldest first (the timeline a payment's journal entries come from). */
  async eventsByPaymentIds(tenantId: string, paymentIds: readonly string[]): Promise<PaymentEventRecord[]> {
    if (paymentIds.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM payment_events WHERE tenant_id = ? AND payment_id IN (${paymentIds.map(() => '?').join(',')}) ORDER BY id`,
      [tenantId, ...paymentIds],
    );
    return rows.map(paymentEventFromRow);
  }

  /** Rows of one table by id, for node(id:) and nodes(ids:) through the loaders. */
  private async rowsByIds(table: 'refunds' | 'disputes' | 'payouts' | 'payment_events', tenantId: string, ids: readonly string[]) {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT * FROM ${table} WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows;
  }

  async refundsByIds(tenantId: string, ids: readonly string[]): Promise<RefundRecord[]> {
    return (await this.rowsByIds('refunds', tenantId, ids)).map(refundFromRow);
  }

  async disputesByIds(tenantId: string, ids: readonly string[]): Promise<DisputeRecord[]> {
    return (await this.rowsByIds('disputes', tenantId, ids)).map(disputeFromRow);
  }

  async payoutsByIds(tenantId: string, ids: readonly string[]): Promise<PayoutRecord[]> {
    return (await this.rowsByIds('payouts', tenantId, ids)).map(payoutFromRow);
  }

  async eventsByIds(tenantId: string, ids: readonly string[]): Promise<PaymentEventRecord[]> {
    return (await this.rowsByIds('payment_events', tenantId, ids)).map(paymentEventFromRow);
  }

  async disputeById(tenantId: string, id: string): Promise<DisputeRecord | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT * FROM disputes WHERE tenant_id = ? AND id = ?`, [tenantId, id]);
    return rows.length ? disputeFromRow(rows[0]) : null;
  }

  async getDispute(tenantId: string, id: string): Promise<DisputeRecord> {
    const dispute = await this.disputeById(tenantId, id);
    if (!dispute) throw PaymentErrors.disputeNotFound(id);
    return dispute;
  }

  async refundById(tenantId: string, id: string): Promise<RefundRecord | null> {
    const [refund] = await this.refundsWhere('tenant_id = ? AND id = ?', [tenantId, id]);
    return refund ?? null;
  }

  async payoutById(tenantId: string, id: string): Promise<PayoutRecord | null> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT * FROM payouts WHERE tenant_id = ? AND id = ?`, [tenantId, id]);
    return rows.length ? payoutFromRow(rows[0]) : null;
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  /**
   * The first part of a gateway step: locks the payment, and either finds the step already settled
   * (a retry after success: its event carries the key), resumes one under way with the same key, is
   * refused, or records the step as under way.
   */
  private async begin(
    tenantId: string,
    paymentId: string,
    key: string,
    requestHash: string,
    handle: IdempotencyHandle | undefined,
    decide: (payment: PaymentRecord, now: Date) => AppError | { event: PaymentEventType; amountMinor: bigint | null },
  ): Promise<{ payment: PaymentRecord; settled: boolean }> {
    const begun = await this.commit(async (manager) => {
      const payment = await this.lockPayment(manager, tenantId, paymentId);
      const [settledBy] = (await manager.query(`SELECT type, request_hash FROM payment_events WHERE payment_id = ? AND operation_key = ?`, [
        paymentId,
        key,
      ])) as { type: string; request_hash: string | null }[];
      // A retry under the same key must ask for the same thing: its claim may have been released (an
      // unknown outcome), so the hash kept with the step stands in for the fingerprint check.
      if (settledBy && settledBy.request_hash !== null && settledBy.request_hash !== requestHash) throw PaymentErrors.keyReused(operationOf(key));
      if (!settledBy && payment.pendingKey === key) {
        if (payment.pendingRequestHash !== requestHash) throw PaymentErrors.keyReused(operationOf(key));
        return { result: { payment, settled: false }, payments: [], entries: [] };
      }
      if (settledBy) {
        const failed = settledBy.type.endsWith('_FAILED');
        const refusal = failed
          ? PaymentErrors.declined(settledBy.type.replace('_FAILED', '').toLowerCase(), Declines.GATEWAY_REJECTED, 'declined earlier', { paymentId })
          : undefined;
        if (handle) await this.idempotency?.complete(manager, handle, refusal ? { error: refusal } : { resultRef: { paymentId } });
        return { result: { payment, settled: true }, payments: [], entries: [], refusal };
      }
      const now = this.clock.now();
      const decision = decide(payment, now);
      if (decision instanceof AppError) throw decision;
      await this.updatePayment(manager, payment);
      await this.insertEvent(manager, payment, decision.event, { amountMinor: decision.amountMinor, source: PaymentEventSource.API });
      return { result: { payment, settled: false }, payments: [payment], entries: [] };
    });
    return begun;
  }

  /** A step settled meanwhile by someone else (a concurrent retry, the status check): its state stands. */
  private async alreadySettled(
    manager: EntityManager,
    payment: PaymentRecord,
    handle: IdempotencyHandle | undefined,
    outcomeKind: string,
  ): Promise<Committed<PaymentRecord>> {
    this.log?.info({ paymentId: payment.id, outcomeKind }, 'gateway outcome for an operation already settled');
    if (handle) await this.idempotency?.complete(manager, handle, { resultRef: { paymentId: payment.id } });
    return { result: payment, payments: [], entries: [] };
  }

  /** Runs a transaction, then (after it committed) publishes what changed and throws a recorded refusal. */
  private async commit<T>(work: (manager: EntityManager) => Promise<Committed<T>>): Promise<T> {
    const committed = await runInTransaction(this.dataSource, work);
    for (const payment of committed.payments) this.events.paymentUpdated(payment);
    this.ledger.entriesCommitted(committed.entries);
    for (const after of committed.afterCommit ?? []) after();
    if (committed.refusal) throw committed.refusal;
    return committed.result;
  }

  /** Tells the invoicing module of a change of a payment that pays an invoice (null for any other payment). */
  private async tellInvoice(manager: EntityManager, payment: PaymentRecord, change: LinkedPaymentChange) {
    return payment.invoiceId === null ? null : this.invoiceLink.paymentChanged(manager, payment, change);
  }

  /**
   * The payment an earlier request under this idempotency claim created with authorize (its gateway key
   * is derived from the claim's scope), or null: lets a caller that computes the amount (payInvoice's
   * "everything left to pay") ask a retry for exactly what the first attempt asked.
   */
  async paymentCreatedUnder(tenantId: string, handle: IdempotencyHandle): Promise<PaymentRecord | null> {
    return this.findByAuthorizeKey(tenantId, gatewayKeyFor(handle, 'authorize'));
  }

  /** Completes a claim whose request changed nothing itself (it found the work done). */
  private async completeAlone(handle: IdempotencyHandle | undefined, outcome: { resultRef?: unknown; error?: AppError }): Promise<void> {
    if (!handle || !this.idempotency) return;
    const idempotency = this.idempotency;
    await runInTransaction(this.dataSource, (manager) => idempotency.complete(manager, handle, outcome));
  }

  /** The ledger command for one event of a payment; releases of the hold need no chart (null). */
  private command(event: PostingEvent, payment: PaymentRecord, chart: ChartAccounts | null, amountMinor: bigint): LedgerCommand | null {
    const command = ledgerCommandFor(
      event,
      {
        tenantId: payment.tenantId,
        currency: payment.currency,
        chart,
        description: `Payment ${payment.id}: ${event.toLowerCase().replace(/_/g, ' ')}`,
        effectiveAt: this.clock.now(),
        metadata: { paymentId: payment.id },
        pendingEntryId: payment.authorizationEntryId,
        ofInvoice: payment.invoiceId !== null,
      },
      amountMinor,
    );
    return command?.type === 'create' ? { ...command, entryId: newId('journalEntry') } : command;
  }

  private minor(value: bigint): bigint | string {
    return this.kind === 'sqlite' ? value : value.toString();
  }

  private forUpdate(): string {
    return this.kind === 'mysql' ? ' FOR UPDATE' : '';
  }

  private async lockPayment(manager: EntityManager, tenantId: string, paymentId: string): Promise<PaymentRecord> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM payments WHERE tenant_id = ? AND id = ?${this.forUpdate()}`, [
      tenantId,
      paymentId,
    ]);
    if (rows.length === 0) throw PaymentErrors.paymentNotFound(paymentId);
    return paymentFromRow(rows[0]);
  }

  private async lockDispute(manager: EntityManager, disputeId: string): Promise<DisputeRecord> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM disputes WHERE id = ?${this.forUpdate()}`, [disputeId]);
    if (rows.length === 0) throw PaymentErrors.disputeNotFound(disputeId);
    return disputeFromRow(rows[0]);
  }

  private async findByAuthorizeKey(tenantId: string, key: string): Promise<PaymentRecord | null> {
    const [payment] = await this.paymentsWhere('tenant_id = ? AND authorize_key = ?', [tenantId, key]);
    return payment ?? null;
  }

  private async refundByKey(manager: EntityManager, tenantId: string, key: string): Promise<RefundRecord | null> {
    const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM refunds WHERE tenant_id = ? AND gateway_key = ?`, [tenantId, key]);
    return rows.length ? refundFromRow(rows[0]) : null;
  }

  private async paymentsWhere(where: string, params: unknown[]): Promise<PaymentRecord[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT * FROM payments WHERE ${where}`, params);
    return rows.map(paymentFromRow);
  }

  private async refundsWhere(where: string, params: unknown[]): Promise<RefundRecord[]> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT * FROM refunds WHERE ${where}`, params);
    return rows.map(refundFromRow);
  }

  private async insertPayment(manager: EntityManager, p: PaymentRecord): Promise<void> {
    await manager.query(
      `INSERT INTO payments (id, tenant_id, gateway_id, status, currency, authorized_minor, captured_minor, refunded_minor,
                             refund_pending_minor, disputed_minor, dispute_lost_minor, fee_minor, customer_id, description,
                             external_ref, metadata, gateway_payment_id, card_brand, card_last4, authorize_key, authorize_request_hash,
                             authorization_entry_id, pending_operation, pending_amount_minor, pending_key, pending_request_hash,
                             pending_since, failure_code, failure_message, expires_at, created_at, updated_at, invoice_id)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)`,
      [
        p.id,
        p.tenantId,
        p.gatewayId,
        p.status,
        p.currency,
        this.minor(p.authorizedMinor),
        p.customerId,
        p.description,
        p.externalRef,
        p.metadata === null ? null : JSON.stringify(p.metadata),
        p.authorizeKey,
        p.authorizeRequestHash,
        p.pendingOperation,
        p.pendingAmountMinor === null ? null : this.minor(p.pendingAmountMinor),
        p.pendingKey,
        p.pendingRequestHash,
        p.pendingSince ? toDbTimestamp(p.pendingSince) : null,
        toDbTimestamp(p.expiresAt),
        toDbTimestamp(p.createdAt),
        toDbTimestamp(p.updatedAt),
        p.invoiceId,
      ],
    );
  }

  /** Writes every column a step may change; the row is locked by the caller. */
  private async updatePayment(manager: EntityManager, p: PaymentRecord): Promise<void> {
    await manager.query(
      `UPDATE payments SET status = ?, captured_minor = ?, refunded_minor = ?, refund_pending_minor = ?, disputed_minor = ?,
              dispute_lost_minor = ?, fee_minor = ?, gateway_payment_id = ?, card_brand = ?, card_last4 = ?,
              authorization_entry_id = ?, pending_operation = ?, pending_amount_minor = ?, pending_key = ?, pending_request_hash = ?,
              pending_since = ?,
              failure_code = ?, failure_message = ?, expires_at = ?, updated_at = ?
        WHERE id = ?`,
      [
        p.status,
        this.minor(p.capturedMinor),
        this.minor(p.refundedMinor),
        this.minor(p.refundPendingMinor),
        this.minor(p.disputedMinor),
        this.minor(p.disputeLostMinor),
        this.minor(p.feeMinor),
        p.gatewayPaymentId,
        p.cardBrand,
        p.cardLast4,
        p.authorizationEntryId,
        p.pendingOperation,
        p.pendingAmountMinor === null ? null : this.minor(p.pendingAmountMinor),
        p.pendingKey,
        p.pendingRequestHash,
        p.pendingSince ? toDbTimestamp(p.pendingSince) : null,
        p.failureCode,
        p.failureMessage,
        toDbTimestamp(p.expiresAt),
        toDbTimestamp(p.updatedAt),
        p.id,
      ],
    );
  }

  private async insertEvent(
    manager: EntityManager,
    payment: PaymentRecord,
    type: PaymentEventType,
    options: {
      source: PaymentEventSource;
      amountMinor?: bigint | null;
      entries?: string[];
      refundId?: string;
      disputeId?: string;
      detail?: string | null;
      operationKey?: string;
      /** The hash of the request that started the step this event settles (see begin). */
      requestHash?: string | null;
    },
  ): Promise<void> {
    const id = newId('paymentEvent');
    const now = this.clock.now();
    await manager.query(
      `INSERT INTO payment_events (id, tenant_id, payment_id, type, amount_minor, journal_entry_ids, refund_id, dispute_id, source, detail,
                                   operation_key, request_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        id,
        payment.tenantId,
        payment.id,
        type,
        options.amountMinor === null || options.amountMinor === undefined ? null : this.minor(options.amountMinor),
        options.entries?.length ? options.entries.join(' ') : null,
        options.refundId ?? null,
        options.disputeId ?? null,
        options.source,
        options.detail ?? null,
        options.operationKey ?? null,
        options.requestHash ?? null,
        toDbTimestamp(now),
      ],
    );
    // A step under way (*_REQUESTED) is not announced: its outcome is, as another event.
    if (type.endsWith('_REQUESTED')) return;
    await this.outbox.record(manager, [
      {
        tenantId: payment.tenantId,
        type: `payment.${type.toLowerCase()}`,
        occurredAt: now,
        data: {
          payment: publicPayment(payment),
          paymentEvent: {
            id,
            type,
            amountMinor: options.amountMinor ?? null,
            journalEntryIds: options.entries ?? [],
            refundId: options.refundId ?? null,
            disputeId: options.disputeId ?? null,
            source: options.source,
          },
        },
      },
    ]);
  }
}

/** A payment as webhooks carry it: without the idempotency keys and request hashes that are Reckon's own bookkeeping. */
function publicPayment(payment: PaymentRecord): Omit<PaymentRecord, 'authorizeKey' | 'authorizeRequestHash' | 'pendingKey' | 'pendingRequestHash'> {
  const { authorizeKey: _authorizeKey, authorizeRequestHash: _authorizeHash, pendingKey: _pendingKey, pendingRequestHash: _pendingHash, ...rest } = payment;
  return rest;
}

/**
 * The ids of the entries these commands write or resolve, known before the write: settling steps
 * record them in the payment's rows first and take the ledger's account locks last, just before the
 * commit, because every payment of a currency locks the same gateway clearing account.
 */
/** A fixed-length stand-in for a gateway's identifier (up to 255 characters) in a flag subject (128 at most). */
function shortDigest(value: string): string {
  return crypto.createHash('sha256').update(value).digest('hex').slice(0, 32);
}

/** A hash of what a request asked for, kept with its gateway step (see begin). */
function requestHashOf(parts: unknown[]): string {
  const text = JSON.stringify(parts, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** The operation a gateway key was made for (its suffix), for messages. */
function operationOf(key: string): string {
  return key.slice(key.lastIndexOf('_') + 1).replace(':', ' and ');
}

function afterCommitOf(linked: { afterCommit?: () => void } | null): (() => void)[] {
  return linked?.afterCommit ? [linked.afterCommit] : [];
}

function entryIdsOf(commands: LedgerCommand[]): string[] {
  return commands.map((command) => {
    const id = command.type === 'create' ? command.entryId : command.entryId;
    assert(id, 'payment ledger commands carry their entry id');
    return id;
  });
}

function markPending(
  payment: PaymentRecord,
  operation: PendingOperation,
  amountMinor: bigint | null,
  key: string,
  requestHash: string,
  now: Date,
): void {
  payment.pendingOperation = operation;
  payment.pendingAmountMinor = amountMinor;
  payment.pendingKey = key;
  payment.pendingRequestHash = requestHash;
  payment.pendingSince = now;
  payment.updatedAt = now;
}

function clearPending(payment: PaymentRecord, now: Date): void {
  payment.pendingOperation = null;
  payment.pendingAmountMinor = null;
  payment.pendingKey = null;
  payment.pendingRequestHash = null;
  payment.pendingSince = null;
  payment.updatedAt = now;
}

/**
 * A status check's answer as a call outcome. `not_found` means the gateway never received the
 * operation: nothing happened, which settles it as declined.
 */
function outcomeOf<T>(status: OperationStatus, value: T | undefined): GatewayOutcome<T> {
  switch (status.kind) {
    case 'succeeded':
      return value === undefined ? { kind: 'unknown', reason: 'the status check did not say what was done' } : { kind: 'succeeded', value };
    case 'declined':
      return { kind: 'declined', declineCode: status.declineCode, message: status.message };
    case 'not_found':
      return { kind: 'declined', declineCode: Declines.GATEWAY_REJECTED, message: 'the gateway never received the operation' };
    case 'unknown':
      return { kind: 'unknown', reason: status.reason };
  }
}
