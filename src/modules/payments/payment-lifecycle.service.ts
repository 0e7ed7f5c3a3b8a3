import type { EntityManager } from 'typeorm';
import { AppError, validationError } from '../../common/errors';
import { optionalText, requireMetadata, requireText } from '../../common/input';
import { newId, requireIdOfKind } from '../../common/ids';
import { parsePositiveAmount, requireCurrency } from '../../common/money';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle } from '../idempotency/idempotency.service';
import type { ChartAccounts } from '../ledger/default-chart';
import type { LedgerCommand } from '../ledger/ledger-writer';
import { type Authorization, type Capture, type DeclineCode, DeclineCode as Declines, type GatewayOutcome } from './gateways/payment-gateway';
import { callGateway, clearPending, gatewayKeyFor, markPending, operationOf, requestHashOf } from './payment-gateway-calls';
import type { PaymentGatewayEventsService } from './payment-gateway-events.service';
import type { PaymentReadsService } from './payment-reads.service';
import { type AuthorizePaymentInput, PAYMENT_LIMITS } from './payment-requests';
import { afterCommitOf, type Committed, entryIdsOf, type PaymentsContext } from './payment-settlement';
import { captureRefusal, PaymentStatus, PendingOperation, voidRefusal } from './payment-state';
import { PaymentErrors } from './payments.errors';
import { PaymentEventSource, PaymentEventType, type PaymentRecord } from './payments.types';
import { PostingEvent } from './posting-rules';

/**
 * True for anything that could be a card number (12 to 19 digits, spaces or dashes between them).
 * Reckon takes the gateway's token only: a card number is refused before it is stored or logged.
 */
function looksLikeCardNumber(value: string): boolean {
  const digits = value.replace(/[ -]/g, '');
  return /^\d{12,19}$/.test(digits);
}

/**
 * The payment lifecycle: authorize, capture, void. Every step that calls a gateway runs in three
 * parts: a short transaction that checks the step against the locked payment and records it as under
 * way (so a concurrent step is refused, and a crash leaves a trace the status check settles), the
 * gateway call outside any transaction (with retries under the same gateway key), and the settlement,
 * which records the outcome, the journal entries and the idempotency completion together (settleStep).
 */
export class PaymentLifecycleService {
  constructor(
    private readonly ctx: PaymentsContext,
    private readonly reads: PaymentReadsService,
    private readonly gatewayEvents: PaymentGatewayEventsService,
  ) {}

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
    const gateway = await this.ctx.gateways.chooseGateway(tenantId, input.gatewayId, currency);
    const chart = await this.ctx.ledger.defaultChartAccounts(tenantId, currency);
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
    let payment = handle ? await this.ctx.rows.findByAuthorizeKey(tenantId, key) : null;
    if (payment && payment.authorizeRequestHash !== requestHash) throw PaymentErrors.keyReused('authorization');
    if (!payment) {
      const now = this.ctx.clock.now();
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
        expiresAt: new Date(now.getTime() + this.ctx.options.authorizationTtlMs),
        createdAt: now,
        updatedAt: now,
      };
      try {
        await runInTransaction(this.ctx.dataSource, async (manager) => {
          await this.ctx.rows.insertPayment(manager, draft);
          // The invoice may refuse (not OPEN, more than it still owes): then nothing is stored or charged.
          if (draft.invoiceId !== null) await this.ctx.settlement.invoiceLink.paymentCreating(manager, draft);
          await this.ctx.rows.insertEvent(manager, draft, PaymentEventType.AUTHORIZATION_REQUESTED, { amountMinor, source: PaymentEventSource.API });
        });
      } catch (error) {
        if (isUniqueViolation(error) && externalRef) throw PaymentErrors.externalRefTaken(externalRef);
        throw error;
      }
      payment = draft;
    }

    if (payment.status === PaymentStatus.PROCESSING) {
      const adapter = await this.ctx.gateways.adapterFor(payment.gatewayId);
      const reference = payment.id;
      const outcome = await callGateway(this.ctx, { operation: 'authorize', paymentId: payment.id, gatewayId: payment.gatewayId }, () =>
        adapter.authorize({ idempotencyKey: key, amountMinor, currency, paymentToken, reference }),
      );
      payment = await this.settleAuthorization(tenantId, payment.id, key, outcome, input.capture ? undefined : handle, PaymentEventSource.API, chart, payment);
    } else if (payment.status === PaymentStatus.FAILED) {
      // Settled as declined while the client was away (a status check): the same answer as at the time.
      const refusal = PaymentErrors.declined('authorization', (payment.failureCode ?? Declines.DO_NOT_HONOR) as DeclineCode, payment.failureMessage ?? '', {
        paymentId: payment.id,
      });
      await this.ctx.settlement.completeAlone(handle, { error: refusal });
      throw refusal;
    } else if (!input.capture) {
      await this.ctx.settlement.completeAlone(handle, { resultRef: { paymentId: payment.id } });
    }
    if (input.capture) return this.capture(tenantId, payment.id, null, handle, `${key}:capture`);
    return payment;
  }

  /**
   * Records the outcome of an authorization. Declines are recorded and then thrown; an unknown outcome
   * leaves the payment PROCESSING for a retry with the same key or the status check.
   */
  settleAuthorization(
    tenantId: string,
    paymentId: string,
    key: string,
    outcome: GatewayOutcome<Authorization>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    chart: ChartAccounts,
    expected?: PaymentRecord,
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
        const commands = [this.ctx.settlement.command(PostingEvent.AUTHORIZED, payment, chart, payment.authorizedMinor) as LedgerCommand];
        payment.status = PaymentStatus.AUTHORIZED;
        payment.gatewayPaymentId = authorization.gatewayPaymentId;
        payment.cardBrand = authorization.card?.brand ?? null;
        payment.cardLast4 = authorization.card?.last4 ?? null;
        payment.authorizationEntryId = entryIdsOf(commands)[0];
        // The capture window starts when the gateway authorized, not when the request arrived.
        payment.expiresAt = new Date(now.getTime() + this.ctx.options.authorizationTtlMs);
        return { event: PaymentEventType.AUTHORIZED, amountMinor: payment.authorizedMinor, commands };
      },
    }, expected);
  }

  async capture(
    tenantId: string,
    paymentId: string,
    amount: string | null | undefined,
    handle?: IdempotencyHandle,
    keyOverride?: string,
  ): Promise<PaymentRecord> {
    requireIdOfKind(paymentId, 'payment', 'paymentId');
    const current = await this.reads.getPayment(tenantId, paymentId);
    const amountMinor = amount === null || amount === undefined ? null : parsePositiveAmount(amount, current.currency);
    const chart = await this.ctx.ledger.defaultChartAccounts(tenantId, current.currency);
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
    const adapter = await this.ctx.gateways.adapterFor(payment.gatewayId);
    const outcome = await callGateway(this.ctx, { operation: 'capture', paymentId, gatewayId: payment.gatewayId }, () =>
      adapter.capture({
        idempotencyKey: key,
        gatewayPaymentId: payment.gatewayPaymentId as string,
        amountMinor: payment.pendingAmountMinor as bigint,
        currency: payment.currency,
      }),
    );
    return this.settleCapture(tenantId, paymentId, key, outcome, handle, PaymentEventSource.API, chart, payment);
  }

  async settleCapture(
    tenantId: string,
    paymentId: string,
    key: string,
    outcome: GatewayOutcome<Capture>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    chart: ChartAccounts,
    expected?: PaymentRecord,
  ): Promise<PaymentRecord> {
    const payment = await this.settleStep(tenantId, paymentId, PendingOperation.CAPTURE, key, outcome, handle, source, {
      name: 'capture',
      failedEvent: PaymentEventType.CAPTURE_FAILED,
      succeeded: (locked, capture, { pendingAmountMinor }) => {
        const capturedMinor = pendingAmountMinor as bigint;
        const commands = [
          this.ctx.settlement.command(PostingEvent.CAPTURED, locked, chart, capturedMinor),
          this.ctx.settlement.command(PostingEvent.CAPTURE_FEE, locked, chart, capture.feeMinor),
        ].filter((command): command is LedgerCommand => command !== null);
        locked.status = PaymentStatus.CAPTURED;
        locked.capturedMinor = capturedMinor;
        locked.feeMinor += capture.feeMinor;
        const detail = capture.feeMinor > 0n ? `fee ${capture.feeMinor}` : null;
        return { event: PaymentEventType.CAPTURED, amountMinor: capturedMinor, commands, detail };
      },
    }, expected);
    if (outcome.kind === 'succeeded' && outcome.value.laterEvents?.length) this.gatewayEvents.applyLater(payment.gatewayId, tenantId, outcome.value.laterEvents);
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
    const adapter = await this.ctx.gateways.adapterFor(payment.gatewayId);
    const outcome = await callGateway(this.ctx, { operation: 'void', paymentId, gatewayId: payment.gatewayId }, () =>
      adapter.void({ idempotencyKey: key, gatewayPaymentId: payment.gatewayPaymentId as string }),
    );
    return this.settleVoid(tenantId, paymentId, key, outcome, handle, PaymentEventSource.API, payment);
  }

  settleVoid(
    tenantId: string,
    paymentId: string,
    key: string,
    outcome: GatewayOutcome<unknown>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    expected?: PaymentRecord,
  ): Promise<PaymentRecord> {
    return this.settleStep(tenantId, paymentId, PendingOperation.VOID, key, outcome, handle, source, {
      name: 'void',
      failedEvent: PaymentEventType.VOID_FAILED,
      succeeded: (payment) => {
        const commands = [this.ctx.settlement.command(PostingEvent.VOIDED, payment, null, 0n) as LedgerCommand];
        payment.status = PaymentStatus.VOIDED;
        return { event: PaymentEventType.VOIDED, amountMinor: null, commands };
      },
    }, expected);
  }

  /**
   * The last part of an authorization, capture or void: records the gateway's outcome on the locked
   * payment, unless the step was settled meanwhile by someone else (a concurrent retry, the status
   * check). A decline is recorded, stored with the idempotency key and thrown after the commit; a
   * success writes the payment, its event, the idempotency completion and the ledger entries together:
   * in the ledger writer's group commit when the caller has the payment as the step's first part left
   * it and it pays no invoice (PaymentSettlement.settleInBatch), else in a transaction of its own that
   * writes the payment's rows first and the ledger entries last (see entryIdsOf). An unknown outcome
   * leaves the step under way for a retry or the status check.
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
    /** The payment as the step's first part left it, when the caller has it: lets a success settle in the ledger's group commit. */
    expected?: PaymentRecord,
  ): Promise<PaymentRecord> {
    if (outcome.kind === 'unknown') throw PaymentErrors.outcomeUnknown(step.name, { paymentId });
    if (outcome.kind === 'succeeded' && expected?.invoiceId === null && expected.pendingOperation === operation && expected.pendingKey === key) {
      const payment = { ...expected };
      const now = this.ctx.clock.now();
      const { pendingRequestHash: requestHash, pendingAmountMinor } = payment;
      clearPending(payment, now);
      const settled = step.succeeded(payment, outcome.value, { now, pendingAmountMinor });
      const entries = await this.ctx.settlement.settleInBatch({
        expected,
        settled: payment,
        commands: settled.commands,
        handle,
        resultRef: { paymentId },
        write: async (manager) => {
          await this.ctx.rows.updatePayment(manager, payment);
          await this.ctx.rows.insertEvent(manager, payment, settled.event, {
            amountMinor: settled.amountMinor,
            source,
            entries: entryIdsOf(settled.commands),
            operationKey: key,
            requestHash,
            detail: settled.detail ?? null,
          });
        },
      });
      if (entries) return payment;
      // The payment changed meanwhile (a concurrent retry or the status check settled the step): the
      // transaction below sees how.
    }
    return this.ctx.settlement.commit(async (manager) => {
      const payment = await this.ctx.rows.lockPayment(manager, tenantId, paymentId);
      if (payment.pendingOperation !== operation || payment.pendingKey !== key) {
        return this.alreadySettled(manager, payment, handle, outcome.kind);
      }
      const now = this.ctx.clock.now();
      const { pendingRequestHash: requestHash, pendingAmountMinor } = payment;
      clearPending(payment, now);
      if (outcome.kind === 'declined') {
        step.declined?.(payment, outcome);
        await this.ctx.rows.updatePayment(manager, payment);
        await this.ctx.rows.insertEvent(manager, payment, step.failedEvent, { source, detail: outcome.declineCode, operationKey: key, requestHash });
        // A declined void leaves the hold as it was; a declined authorization or capture paid nothing.
        const linked = operation === PendingOperation.VOID ? null : await this.ctx.settlement.tellInvoice(manager, payment, { kind: 'failed', code: outcome.declineCode });
        const refusal = PaymentErrors.declined(step.name, outcome.declineCode, outcome.message, { paymentId });
        if (handle) await this.ctx.idempotency?.complete(manager, handle, { error: refusal });
        const writes = linked?.commands.length ? await this.ctx.ledger.writeWithin(manager, linked.commands) : [];
        return { result: payment, payments: [payment], entries: writes.map((write) => write.entry), refusal, afterCommit: afterCommitOf(linked) };
      }
      const settled = step.succeeded(payment, outcome.value, { now, pendingAmountMinor });
      await this.ctx.rows.updatePayment(manager, payment);
      await this.ctx.rows.insertEvent(manager, payment, settled.event, {
        amountMinor: settled.amountMinor,
        source,
        entries: entryIdsOf(settled.commands),
        operationKey: key,
        requestHash,
        detail: settled.detail ?? null,
      });
      const linked =
        operation === PendingOperation.CAPTURE
          ? await this.ctx.settlement.tellInvoice(manager, payment, { kind: 'captured', amountMinor: pendingAmountMinor as bigint })
          : operation === PendingOperation.VOID
            ? await this.ctx.settlement.tellInvoice(manager, payment, { kind: 'failed', code: 'VOIDED' })
            : null;
      if (handle) await this.ctx.idempotency?.complete(manager, handle, { resultRef: { paymentId } });
      const writes = await this.ctx.ledger.writeWithin(manager, [...settled.commands, ...(linked?.commands ?? [])]);
      return { result: payment, payments: [payment], entries: writes.map((write) => write.entry), afterCommit: afterCommitOf(linked) };
    });
  }

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
    const begun = await this.ctx.settlement.commit(async (manager) => {
      const payment = await this.ctx.rows.lockPayment(manager, tenantId, paymentId);
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
        if (handle) await this.ctx.idempotency?.complete(manager, handle, refusal ? { error: refusal } : { resultRef: { paymentId } });
        return { result: { payment, settled: true }, payments: [], entries: [], refusal };
      }
      const now = this.ctx.clock.now();
      const decision = decide(payment, now);
      if (decision instanceof AppError) throw decision;
      await this.ctx.rows.updatePayment(manager, payment);
      await this.ctx.rows.insertEvent(manager, payment, decision.event, { amountMinor: decision.amountMinor, source: PaymentEventSource.API });
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
    this.ctx.log?.info({ paymentId: payment.id, outcomeKind }, 'gateway outcome for an operation already settled');
    if (handle) await this.ctx.idempotency?.complete(manager, handle, { resultRef: { paymentId: payment.id } });
    return { result: payment, payments: [], entries: [] };
  }

  /**
   * The payment an earlier request under this idempotency claim created with authorize (its gateway key
   * is derived from the claim's scope), or null: lets a caller that computes the amount (payInvoice's
   * "everything left to pay") ask a retry for exactly what the first attempt asked.
   */
  async paymentCreatedUnder(tenantId: string, handle: IdempotencyHandle): Promise<PaymentRecord | null> {
    return this.ctx.rows.findByAuthorizeKey(tenantId, gatewayKeyFor(handle, 'authorize'));
  }
}
