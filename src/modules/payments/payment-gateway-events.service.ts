import crypto from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AppError, ErrorCode } from '../../common/errors';
import { formatMinorAsDecimal } from '../../common/money';
import { toDbTimestamp } from '../../common/timestamps';
import { isUniqueViolation } from '../../db/transaction';
import type { JournalEntryRecord } from '../ledger/ledger-writer';
import { GatewayDiscrepancyKind } from './gateway-discrepancies';
import type { GatewayEvent } from './gateways/payment-gateway';
import type { PaymentDisputesService } from './payment-disputes.service';
import type { GatewayEventResult } from './payment-requests';
import type { PaymentsContext } from './payment-settlement';
import { disputableMinorOf, DisputeStatus } from './payment-state';
import { PaymentEventSource, type PaymentRecord } from './payments.types';

/** Signed events a gateway sends (disputes opened, won, lost), each applied once. */
export class PaymentGatewayEventsService {
  constructor(
    private readonly ctx: PaymentsContext,
    private readonly disputes: PaymentDisputesService,
  ) {}

  /**
   * Applies one signed event from a gateway (the route has verified the signature), once: the event id
   * is recorded in the same transaction as its effect. An event the payment's state refuses (a dispute
   * on a voided payment) is recorded and ignored, so the gateway stops sending it.
   */
  async applyGatewayEvent(gatewayId: string, tenantId: string, event: GatewayEvent): Promise<GatewayEventResult> {
    const [found] = await this.ctx.rows.paymentsWhere('tenant_id = ? AND gateway_id = ? AND gateway_payment_id = ?', [tenantId, gatewayId, event.gatewayPaymentId]);
    const chart = found ? await this.ctx.ledger.defaultChartAccounts(tenantId, found.currency) : null;
    try {
      return await this.ctx.settlement.commit<GatewayEventResult>(async (manager) => {
        const seen = await manager.query(`SELECT event_id FROM gateway_events WHERE gateway_id = ? AND event_id = ?`, [gatewayId, event.id]);
        if (seen.length > 0) return { result: { status: 'duplicate' as const }, payments: [], entries: [] };
        await manager.query(`INSERT INTO gateway_events (gateway_id, event_id, tenant_id, type, payment_id, received_at) VALUES (?, ?, ?, ?, ?, ?)`, [
          gatewayId,
          event.id,
          tenantId,
          event.type,
          found?.id ?? null,
          toDbTimestamp(this.ctx.clock.now()),
        ]);
        if (!found || !chart) {
          await this.reportUnknownPayment(manager, gatewayId, tenantId, event);
          return { result: { status: 'ignored' as const, reason: 'no payment with this gatewayPaymentId' }, payments: [], entries: [] };
        }
        const payment = await this.ctx.rows.lockPayment(manager, tenantId, found.id);
        const disputableBefore = disputableMinorOf(payment);
        let applied: { entries: JournalEntryRecord[] } | AppError;
        if (event.type === 'dispute.opened') {
          applied = await this.disputes.openDisputeWithin(
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
            ? await this.disputes.closeDisputeWithin(
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
    await this.ctx.discrepancies.report(manager, {
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
    await this.ctx.discrepancies.report(manager, {
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
  applyLater(gatewayId: string, tenantId: string, events: GatewayEvent[]): void {
    setImmediate(() => {
      void (async () => {
        for (const event of events) await this.applyGatewayEvent(gatewayId, tenantId, event);
      })().catch((error: unknown) => this.ctx.log?.warn({ err: error, gatewayId }, 'could not apply a gateway event'));
    });
  }
}

/** A fixed-length stand-in for a gateway's identifier (up to 255 characters) in a flag subject (128 at most). */
function shortDigest(value: string): string {
  return crypto.createHash('sha256').update(value).digest('hex').slice(0, 32);
}
