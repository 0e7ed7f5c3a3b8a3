import type { EntityManager } from 'typeorm';
import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, validationError } from '../../common/errors';
import { requireText } from '../../common/input';
import { newId, requireIdOfKind } from '../../common/ids';
import { parsePositiveAmount } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import type { IdempotencyHandle } from '../idempotency/idempotency.service';
import type { ChartAccounts } from '../ledger/default-chart';
import type { JournalEntryRecord, LedgerCommand } from '../ledger/ledger-writer';
import type { PaymentReadsService } from './payment-reads.service';
import { type DisputeResult, type OpenDisputeInput, PAYMENT_LIMITS } from './payment-requests';
import type { PaymentsContext } from './payment-settlement';
import { closeDisputeRefusal, DisputeStatus, evidenceRefusal, openDisputeRefusal, refundableMinorOf } from './payment-state';
import { type DisputeRecord, PaymentEventSource, PaymentEventType, type PaymentRecord } from './payments.types';
import { PostingEvent } from './posting-rules';

/**
 * Disputes (chargebacks): opened, given evidence and closed through the API or by the gateway's
 * events (PaymentGatewayEventsService), each in one transaction with the payment locked first.
 */
export class PaymentDisputesService {
  constructor(
    private readonly ctx: PaymentsContext,
    private readonly reads: PaymentReadsService,
  ) {}

  async openDispute(tenantId: string, paymentId: string, input: OpenDisputeInput, handle?: IdempotencyHandle): Promise<DisputeResult> {
    requireIdOfKind(paymentId, 'payment', 'paymentId');
    const current = await this.reads.getPayment(tenantId, paymentId);
    const amountMinor = input.amount === null || input.amount === undefined ? null : parsePositiveAmount(input.amount, current.currency);
    const feeMinor = input.fee === null || input.fee === undefined ? 0n : parsePositiveAmount(input.fee, current.currency, 'fee');
    const reason = requireText(input.reason, 'reason', PAYMENT_LIMITS.reasonLength);
    const chart = await this.ctx.ledger.defaultChartAccounts(tenantId, current.currency);
    return this.ctx.settlement.commit(async (manager) => {
      const payment = await this.ctx.rows.lockPayment(manager, tenantId, paymentId);
      const opened = await this.openDisputeWithin(manager, payment, chart, { amountMinor, feeMinor, reason, gatewayDisputeId: null }, PaymentEventSource.API);
      if (opened instanceof AppError) throw opened;
      if (handle) await this.ctx.idempotency?.complete(manager, handle, { resultRef: { paymentId, disputeId: opened.dispute.id } });
      return { result: { payment, dispute: opened.dispute }, payments: [payment], entries: opened.entries };
    });
  }

  async openDisputeWithin(
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
    const now = this.ctx.clock.now();
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
    const writes = await this.ctx.ledger.writeWithin(
      manager,
      [this.ctx.settlement.command(PostingEvent.DISPUTE_OPENED, payment, chart, amountMinor), this.ctx.settlement.command(PostingEvent.DISPUTE_FEE, payment, chart, input.feeMinor)].filter(
        (command): command is LedgerCommand => command !== null,
      ),
    );
    await manager.query(
      `INSERT INTO disputes (id, tenant_id, payment_id, status, amount_minor, fee_minor, reason, evidence, gateway_dispute_id,
                             evidence_submitted_at, created_at, closed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, NULL)`,
      [dispute.id, dispute.tenantId, dispute.paymentId, dispute.status, this.ctx.rows.minor(amountMinor), this.ctx.rows.minor(input.feeMinor), dispute.reason, dispute.gatewayDisputeId, toDbTimestamp(now)],
    );
    payment.disputedMinor += amountMinor;
    payment.feeMinor += input.feeMinor;
    payment.updatedAt = now;
    await this.ctx.rows.updatePayment(manager, payment);
    await this.ctx.rows.insertEvent(manager, payment, PaymentEventType.DISPUTE_OPENED, {
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
    const found = await this.reads.getDispute(tenantId, disputeId);
    return this.ctx.settlement.commit(async (manager) => {
      const payment = await this.ctx.rows.lockPayment(manager, tenantId, found.paymentId);
      const dispute = await this.ctx.rows.lockDispute(manager, disputeId);
      const refusal = evidenceRefusal(disputeId, dispute.status);
      if (refusal) throw refusal;
      const now = this.ctx.clock.now();
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
      await this.ctx.rows.updatePayment(manager, payment);
      await this.ctx.rows.insertEvent(manager, payment, PaymentEventType.DISPUTE_EVIDENCE_SUBMITTED, { source: PaymentEventSource.API, disputeId });
      if (handle) await this.ctx.idempotency?.complete(manager, handle, { resultRef: { paymentId: payment.id, disputeId } });
      return { result: { payment, dispute }, payments: [payment], entries: [] };
    });
  }

  async closeDispute(tenantId: string, disputeId: string, outcome: DisputeStatus, handle?: IdempotencyHandle): Promise<DisputeResult> {
    requireIdOfKind(disputeId, 'dispute', 'disputeId');
    if (outcome !== DisputeStatus.WON && outcome !== DisputeStatus.LOST) throw validationError('outcome must be WON or LOST', { field: 'outcome' });
    const found = await this.reads.getDispute(tenantId, disputeId);
    const payment = await this.reads.getPayment(tenantId, found.paymentId);
    const chart = await this.ctx.ledger.defaultChartAccounts(tenantId, payment.currency);
    return this.ctx.settlement.commit(async (manager) => {
      const locked = await this.ctx.rows.lockPayment(manager, tenantId, found.paymentId);
      const closed = await this.closeDisputeWithin(manager, locked, disputeId, outcome, chart, PaymentEventSource.API);
      if (closed instanceof AppError) throw closed;
      if (handle) await this.ctx.idempotency?.complete(manager, handle, { resultRef: { paymentId: locked.id, disputeId } });
      return { result: { payment: locked, dispute: closed.dispute }, payments: [locked], entries: closed.entries };
    });
  }

  async closeDisputeWithin(
    manager: EntityManager,
    payment: PaymentRecord,
    disputeId: string,
    outcome: DisputeStatus.WON | DisputeStatus.LOST,
    chart: ChartAccounts,
    source: PaymentEventSource,
  ): Promise<{ dispute: DisputeRecord; entries: JournalEntryRecord[] } | AppError> {
    const dispute = await this.ctx.rows.lockDispute(manager, disputeId);
    const refusal = closeDisputeRefusal(disputeId, dispute.status);
    if (refusal) return refusal;
    const won = outcome === DisputeStatus.WON;
    const [write] = await this.ctx.ledger.writeWithin(manager, [
      this.ctx.settlement.command(won ? PostingEvent.DISPUTE_WON : PostingEvent.DISPUTE_LOST, payment, chart, dispute.amountMinor) as LedgerCommand,
    ]);
    const now = this.ctx.clock.now();
    dispute.status = outcome;
    dispute.closedAt = now;
    await manager.query(`UPDATE disputes SET status = ?, closed_at = ? WHERE id = ?`, [outcome, toDbTimestamp(now), disputeId]);
    payment.disputedMinor -= dispute.amountMinor;
    if (!won) payment.disputeLostMinor += dispute.amountMinor;
    payment.updatedAt = now;
    await this.ctx.rows.updatePayment(manager, payment);
    await this.ctx.rows.insertEvent(manager, payment, won ? PaymentEventType.DISPUTE_WON : PaymentEventType.DISPUTE_LOST, {
      source,
      disputeId,
      amountMinor: dispute.amountMinor,
      entries: [write.entry.id],
    });
    return { dispute, entries: [write.entry] };
  }
}
