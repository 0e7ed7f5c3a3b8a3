import type { EntityManager } from 'typeorm';
import { type AppError } from '../../common/errors';
import { optionalText } from '../../common/input';
import { newId, requireIdOfKind } from '../../common/ids';
import { parsePositiveAmount } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import type { IdempotencyHandle } from '../idempotency/idempotency.service';
import type { ChartAccounts } from '../ledger/default-chart';
import type { LedgerCommand } from '../ledger/ledger-writer';
import { type DeclineCode, DeclineCode as Declines, type GatewayOutcome } from './gateways/payment-gateway';
import { callGateway, gatewayKeyFor, requestHashOf } from './payment-gateway-calls';
import type { PaymentReadsService } from './payment-reads.service';
import { PAYMENT_LIMITS, type RefundPaymentInput, type RefundResult } from './payment-requests';
import { afterCommitOf, entryIdsOf, type PaymentsContext } from './payment-settlement';
import { refundableMinorOf, refundRefusal, RefundStatus } from './payment-state';
import { PaymentErrors } from './payments.errors';
import { PaymentEventSource, PaymentEventType, type PaymentRecord, type RefundRecord, refundFromRow } from './payments.types';
import { PostingEvent } from './posting-rules';

/**
 * Refunds: a transaction that checks the refund against the locked payment and records it PENDING
 * (holding its amount, so concurrent refunds never give back more than was captured), the gateway
 * call, then the settlement of its outcome.
 */
export class PaymentRefundsService {
  constructor(
    private readonly ctx: PaymentsContext,
    private readonly reads: PaymentReadsService,
  ) {}

  async refund(tenantId: string, paymentId: string, input: RefundPaymentInput, handle?: IdempotencyHandle): Promise<RefundResult> {
    requireIdOfKind(paymentId, 'payment', 'paymentId');
    const current = await this.reads.getPayment(tenantId, paymentId);
    const amountMinor = input.amount === null || input.amount === undefined ? null : parsePositiveAmount(input.amount, current.currency);
    const reason = optionalText(input.reason, 'reason', PAYMENT_LIMITS.reasonLength);
    const chart = await this.ctx.ledger.defaultChartAccounts(tenantId, current.currency);
    const key = gatewayKeyFor(handle, 'refund');
    const requestHash = requestHashOf(['refund', amountMinor, reason]);

    const begun = await this.ctx.settlement.commit(async (manager) => {
      const payment = await this.ctx.rows.lockPayment(manager, tenantId, paymentId);
      const existing = await this.ctx.rows.refundByKey(manager, tenantId, key);
      if (existing && existing.requestHash !== requestHash) throw PaymentErrors.keyReused('refund');
      if (existing) return { result: { payment, refund: existing }, payments: [], entries: [] };
      const refundMinor = amountMinor ?? refundableMinorOf(payment);
      const refusal = refundRefusal(payment, refundMinor);
      if (refusal) throw refusal;
      const now = this.ctx.clock.now();
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
        [refund.id, tenantId, paymentId, refund.status, this.ctx.rows.minor(refundMinor), reason, key, requestHash, toDbTimestamp(now), toDbTimestamp(now)],
      );
      payment.refundPendingMinor += refundMinor;
      payment.updatedAt = now;
      await this.ctx.rows.updatePayment(manager, payment);
      await this.ctx.rows.insertEvent(manager, payment, PaymentEventType.REFUND_REQUESTED, {
        amountMinor: refundMinor,
        source: PaymentEventSource.API,
        refundId: refund.id,
      });
      return { result: { payment, refund }, payments: [payment], entries: [] };
    });
    const { payment, refund } = begun;
    if (refund.status !== RefundStatus.PENDING) {
      const refusal = refund.status === RefundStatus.FAILED ? this.refundDeclined(refund) : undefined;
      await this.ctx.settlement.completeAlone(handle, refusal ? { error: refusal } : { resultRef: { paymentId, refundId: refund.id } });
      if (refusal) throw refusal;
      return { payment: await this.reads.getPayment(tenantId, paymentId), refund };
    }
    const adapter = await this.ctx.gateways.adapterFor(payment.gatewayId);
    const outcome = await callGateway(this.ctx, { operation: 'refund', paymentId, refundId: refund.id, gatewayId: payment.gatewayId }, () =>
      adapter.refund({
        idempotencyKey: key,
        gatewayPaymentId: payment.gatewayPaymentId as string,
        amountMinor: refund.amountMinor,
        currency: payment.currency,
      }),
    );
    return this.settleRefund(tenantId, refund.id, outcome, handle, PaymentEventSource.API, chart, begun);
  }

  private refundDeclined(refund: RefundRecord): AppError {
    return PaymentErrors.declined('refund', (refund.failureCode ?? Declines.DO_NOT_HONOR) as DeclineCode, 'the refund was refused', {
      paymentId: refund.paymentId,
      refundId: refund.id,
    });
  }

  async settleRefund(
    tenantId: string,
    refundId: string,
    outcome: GatewayOutcome<{ gatewayRefundId: string }>,
    handle: IdempotencyHandle | undefined,
    source: PaymentEventSource,
    chart: ChartAccounts,
    /** The payment and the refund as the refund's first part left them: lets a success settle in the ledger's group commit. */
    expected?: RefundResult,
  ): Promise<RefundResult> {
    const [pending] = await this.ctx.rows.refundsWhere('tenant_id = ? AND id = ?', [tenantId, refundId]);
    if (outcome.kind === 'unknown') throw PaymentErrors.outcomeUnknown('refund', { paymentId: pending.paymentId, refundId });
    if (outcome.kind === 'succeeded' && expected?.payment.invoiceId === null && expected.refund.status === RefundStatus.PENDING) {
      const payment = { ...expected.payment };
      const refund = { ...expected.refund };
      const now = this.ctx.clock.now();
      payment.refundPendingMinor -= refund.amountMinor;
      payment.updatedAt = now;
      refund.updatedAt = now;
      const settled = this.succeeded(payment, refund, outcome.value.gatewayRefundId, chart, source);
      const entries = await this.ctx.settlement.settleInBatch({
        expected: expected.payment,
        settled: payment,
        commands: settled.commands,
        // The refund row is locked after its payment's, as every refund transaction does, and must still be pending.
        lockMore: async (manager) => {
          const rows: Record<string, unknown>[] = await manager.query(`SELECT status FROM refunds WHERE id = ?${this.ctx.rows.forUpdate()}`, [refundId]);
          return rows[0]?.status === RefundStatus.PENDING;
        },
        write: settled.write,
        handle,
        resultRef: { paymentId: payment.id, refundId },
      });
      if (entries) return { payment, refund };
      // Settled meanwhile (a concurrent retry or the status check): the transaction below sees how.
    }
    return this.ctx.settlement.commit(async (manager) => {
      const payment = await this.ctx.rows.lockPayment(manager, tenantId, pending.paymentId);
      const [refund] = (
        await manager.query(`SELECT * FROM refunds WHERE id = ?${this.ctx.rows.forUpdate()}`, [refundId]) as Record<string, unknown>[]
      ).map(refundFromRow);
      if (refund.status !== RefundStatus.PENDING) {
        if (handle) {
          const refusal = refund.status === RefundStatus.FAILED ? this.refundDeclined(refund) : undefined;
          await this.ctx.idempotency?.complete(manager, handle, refusal ? { error: refusal } : { resultRef: { paymentId: payment.id, refundId } });
          return { result: { payment, refund }, payments: [], entries: [], refusal };
        }
        return { result: { payment, refund }, payments: [], entries: [] };
      }
      const now = this.ctx.clock.now();
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
        await this.ctx.rows.updatePayment(manager, payment);
        await this.ctx.rows.insertEvent(manager, payment, PaymentEventType.REFUND_FAILED, {
          source,
          refundId,
          amountMinor: refund.amountMinor,
          detail: outcome.declineCode,
          operationKey: refund.gatewayKey,
        });
        const refusal = PaymentErrors.declined('refund', outcome.declineCode, outcome.message, { paymentId: payment.id, refundId });
        if (handle) await this.ctx.idempotency?.complete(manager, handle, { error: refusal });
        return { result: { payment, refund }, payments: [payment], entries: [], refusal };
      }
      const settled = this.succeeded(payment, refund, outcome.value.gatewayRefundId, chart, source);
      await settled.write(manager);
      const { commands } = settled;
      const linked = await this.ctx.settlement.tellInvoice(manager, payment, { kind: 'refunded', amountMinor: refund.amountMinor, refundId });
      if (handle) await this.ctx.idempotency?.complete(manager, handle, { resultRef: { paymentId: payment.id, refundId } });
      const writes = await this.ctx.ledger.writeWithin(manager, [...commands, ...(linked?.commands ?? [])]);
      return { result: { payment, refund }, payments: [payment], entries: writes.map((write) => write.entry), afterCommit: afterCommitOf(linked) };
    });
  }

  /** A refund the gateway made: applied to the copies given, with its ledger command and the writes of its rows. */
  private succeeded(payment: PaymentRecord, refund: RefundRecord, gatewayRefundId: string, chart: ChartAccounts, source: PaymentEventSource) {
    const commands = [this.ctx.settlement.command(PostingEvent.REFUNDED, payment, chart, refund.amountMinor) as LedgerCommand];
    refund.status = RefundStatus.SUCCEEDED;
    refund.gatewayRefundId = gatewayRefundId;
    refund.journalEntryId = entryIdsOf(commands)[0];
    payment.refundedMinor += refund.amountMinor;
    const write = async (manager: EntityManager) => {
      await manager.query(`UPDATE refunds SET status = ?, gateway_refund_id = ?, journal_entry_id = ?, updated_at = ? WHERE id = ?`, [
        refund.status,
        refund.gatewayRefundId,
        refund.journalEntryId,
        toDbTimestamp(refund.updatedAt),
        refund.id,
      ]);
      await this.ctx.rows.updatePayment(manager, payment);
      await this.ctx.rows.insertEvent(manager, payment, PaymentEventType.REFUNDED, {
        source,
        refundId: refund.id,
        amountMinor: refund.amountMinor,
        entries: entryIdsOf(commands),
        operationKey: refund.gatewayKey,
      });
    };
    return { commands, write };
  }
}
