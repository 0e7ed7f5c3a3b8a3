import type { EntityManager } from 'typeorm';
import { optionalText } from '../../common/input';
import { newId } from '../../common/ids';
import { formatMinorAsDecimal, parsePositiveAmount, requireCurrency } from '../../common/money';
import { requireStorableDate, toDbTimestamp } from '../../common/timestamps';
import { isUniqueViolation } from '../../db/transaction';
import type { IdempotencyHandle } from '../idempotency/idempotency.service';
import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { LedgerCommand } from '../ledger/ledger-writer';
import { GatewayDiscrepancyKind } from './gateway-discrepancies';
import { PAYMENT_LIMITS, type RecordPayoutInput } from './payment-requests';
import type { PaymentsContext } from './payment-settlement';
import { PaymentErrors } from './payments.errors';
import type { PayoutRecord } from './payments.types';
import { ledgerCommandFor, PostingEvent } from './posting-rules';

/** Payouts: the gateway paying out what it holds to the tenant's bank, checked against what it owed. */
export class PaymentPayoutsService {
  constructor(private readonly ctx: PaymentsContext) {}

  /** Gateway clearing → cash at bank: the bank postings reconciliation later matches against statements. */
  async recordPayout(tenantId: string, input: RecordPayoutInput, handle?: IdempotencyHandle): Promise<PayoutRecord> {
    const gateway = await this.ctx.gateways.getGateway(tenantId, input.gatewayId);
    const currency = requireCurrency(input.currency);
    if (!gateway.currencies.includes(currency)) throw PaymentErrors.gatewayCurrencyMismatch(gateway.id, currency);
    const amountMinor = parsePositiveAmount(input.amount, currency);
    const externalRef = optionalText(input.externalRef, 'externalRef', PAYMENT_LIMITS.externalRefLength, { printable: true, identifier: true });
    const now = this.ctx.clock.now();
    const arrivedAt = requireStorableDate(input.arrivedAt ?? now, 'arrivedAt');
    const chart = await this.ctx.ledger.defaultChartAccounts(tenantId, currency);
    try {
      return await this.ctx.settlement.commit(async (manager) => {
        const context = {
          tenantId,
          currency,
          chart,
          description: `Payout from ${gateway.name}`,
          effectiveAt: arrivedAt,
          metadata: externalRef ? { payoutRef: externalRef } : null,
        };
        const [write] = await this.ctx.ledger.writeWithin(manager, [ledgerCommandFor(PostingEvent.PAYOUT, context, amountMinor) as LedgerCommand]);
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
          [payout.id, tenantId, gateway.id, this.ctx.rows.minor(amountMinor), currency, externalRef, write.entry.id, toDbTimestamp(arrivedAt), toDbTimestamp(now)],
        );
        await this.checkPayout(manager, payout, gateway.name, chart);
        if (handle) await this.ctx.idempotency?.complete(manager, handle, { resultRef: { payoutId: payout.id } });
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
    await this.ctx.discrepancies.report(manager, {
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
}
