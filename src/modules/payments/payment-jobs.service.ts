import { AppError, ErrorCode } from '../../common/errors';
import { toDbTimestamp } from '../../common/timestamps';
import type { LedgerCommand } from '../ledger/ledger-writer';
import type { GatewayOperation } from './gateways/payment-gateway';
import { outcomeOf } from './payment-gateway-calls';
import type { PaymentLifecycleService } from './payment-lifecycle.service';
import type { PaymentRefundsService } from './payment-refunds.service';
import { afterCommitOf, type PaymentsContext } from './payment-settlement';
import { expiryRefusal, PaymentStatus, PendingOperation, RefundStatus } from './payment-state';
import { PaymentEventSource, PaymentEventType } from './payments.types';
import { PostingEvent } from './posting-rules';

/** The payments module's jobs: expiring authorizations past their capture window, and the status check. */
export class PaymentJobsService {
  constructor(
    private readonly ctx: PaymentsContext,
    private readonly lifecycle: PaymentLifecycleService,
    private readonly refunds: PaymentRefundsService,
  ) {}

  /** Releases the holds of authorizations past their capture window. Returns how many expired. */
  async expireAuthorizations(limit = 100): Promise<number> {
    const now = this.ctx.clock.now();
    const due = await this.ctx.rows.paymentsWhere(`status = ? AND pending_operation IS NULL AND expires_at <= ? ORDER BY expires_at LIMIT ${limit}`, [
      PaymentStatus.AUTHORIZED,
      toDbTimestamp(now),
    ]);
    let expired = 0;
    for (const candidate of due) {
      const done = await this.ctx.settlement.commit(async (manager) => {
        const payment = await this.ctx.rows.lockPayment(manager, candidate.tenantId, candidate.id);
        if (expiryRefusal(payment, this.ctx.clock.now())) return { result: false, payments: [], entries: [] };
        const [write] = await this.ctx.ledger.writeWithin(manager, [this.ctx.settlement.command(PostingEvent.EXPIRED, payment, null, 0n) as LedgerCommand]);
        payment.status = PaymentStatus.EXPIRED;
        payment.updatedAt = this.ctx.clock.now();
        await this.ctx.rows.updatePayment(manager, payment);
        await this.ctx.rows.insertEvent(manager, payment, PaymentEventType.EXPIRED, { source: PaymentEventSource.SYSTEM, entries: [write.entry.id] });
        const linked = await this.ctx.settlement.tellInvoice(manager, payment, { kind: 'failed', code: 'EXPIRED' });
        const more = linked?.commands.length ? await this.ctx.ledger.writeWithin(manager, linked.commands) : [];
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
    const before = toDbTimestamp(new Date(this.ctx.clock.now().getTime() - this.ctx.options.statusCheckAfterMs));
    const payments = await this.ctx.rows.paymentsWhere(`pending_operation IS NOT NULL AND pending_since <= ? ORDER BY pending_since LIMIT ${limit}`, [before]);
    const refunds = await this.ctx.rows.refundsWhere(`status = ? AND created_at <= ? ORDER BY created_at LIMIT ${limit}`, [RefundStatus.PENDING, before]);
    let settled = 0;
    const attempt = async (work: () => Promise<unknown>) => {
      try {
        await work();
        settled += 1;
      } catch (error) {
        if (error instanceof AppError && error.code === ErrorCode.GATEWAY_DECLINED) settled += 1;
        else if (!(error instanceof AppError && error.code === ErrorCode.GATEWAY_UNAVAILABLE)) {
          this.ctx.log?.warn({ err: error }, 'status check could not settle an operation');
        }
      }
    };
    for (const payment of payments) {
      const operation = payment.pendingOperation as PendingOperation;
      const key = payment.pendingKey as string;
      const adapter = await this.ctx.gateways.adapterFor(payment.gatewayId);
      const status = await adapter.fetchStatus({ idempotencyKey: key, operation: operation.toLowerCase() as GatewayOperation });
      const chart = await this.ctx.ledger.defaultChartAccounts(payment.tenantId, payment.currency);
      const source = PaymentEventSource.SYSTEM;
      if (status.kind === 'unknown') continue;
      switch (operation) {
        case PendingOperation.AUTHORIZE:
          await attempt(() =>
            this.lifecycle.settleAuthorization(payment.tenantId, payment.id, key, outcomeOf(status, status.kind === 'succeeded' ? status.authorization : undefined), undefined, source, chart),
          );
          break;
        case PendingOperation.CAPTURE:
          await attempt(() =>
            this.lifecycle.settleCapture(payment.tenantId, payment.id, key, outcomeOf(status, status.kind === 'succeeded' ? status.capture : undefined), undefined, source, chart),
          );
          break;
        case PendingOperation.VOID:
          await attempt(() => this.lifecycle.settleVoid(payment.tenantId, payment.id, key, outcomeOf(status, status.kind === 'succeeded' ? {} : undefined), undefined, source));
          break;
      }
    }
    for (const refund of refunds) {
      const [payment] = await this.ctx.rows.paymentsWhere('id = ?', [refund.paymentId]);
      const adapter = await this.ctx.gateways.adapterFor(payment.gatewayId);
      const status = await adapter.fetchStatus({ idempotencyKey: refund.gatewayKey, operation: 'refund' });
      if (status.kind === 'unknown') continue;
      const chart = await this.ctx.ledger.defaultChartAccounts(payment.tenantId, payment.currency);
      await attempt(() =>
        this.refunds.settleRefund(refund.tenantId, refund.id, outcomeOf(status, status.kind === 'succeeded' ? status.refund : undefined), undefined, PaymentEventSource.SYSTEM, chart),
      );
    }
    return settled;
  }
}
