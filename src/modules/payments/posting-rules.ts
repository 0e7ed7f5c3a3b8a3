import { type ChartAccounts, ChartRole } from '../ledger/default-chart';
import type { LedgerCommand } from '../ledger/ledger-writer';
import { EntryDirection, JournalEntryStatus } from '../ledger/ledger.types';

/**
 * Every payment event's postings, in one table, on the tenant's default chart of accounts
 * (ledger/default-chart.ts). Read a row as "debit <debit>, credit <credit>, for <amount>".
 *
 * An authorization is a PENDING entry: it moves pending balances only. The capture posts it (for the
 * captured amount; what is not captured is released), a void or an expiry releases all of it. Every
 * other event is a POSTED entry of its own. The gateway clearing account holds what the gateway owes
 * the business; payouts move it to the bank, which is what reconciliation matches against statements.
 */
export enum PostingEvent {
  AUTHORIZED = 'AUTHORIZED',
  CAPTURED = 'CAPTURED',
  VOIDED = 'VOIDED',
  EXPIRED = 'EXPIRED',
  CAPTURE_FEE = 'CAPTURE_FEE',
  REFUNDED = 'REFUNDED',
  DISPUTE_OPENED = 'DISPUTE_OPENED',
  DISPUTE_FEE = 'DISPUTE_FEE',
  DISPUTE_WON = 'DISPUTE_WON',
  DISPUTE_LOST = 'DISPUTE_LOST',
  PAYOUT = 'PAYOUT',
}

type EntryKind = 'PENDING' | 'POST_PENDING' | 'VOID_PENDING' | 'POSTED';

export interface PostingRule {
  entry: EntryKind;
  debit: ChartRole | null;
  credit: ChartRole | null;
  amount: string;
  /**
   * The accounts instead, for a payment that pays an invoice (payInvoice): the invoice's finalisation
   * booked the revenue and the receivable, so the payment settles the receivable.
   */
  ofInvoice?: { debit?: ChartRole; credit?: ChartRole };
}

export const POSTING_RULES: Readonly<Record<PostingEvent, PostingRule>> = {
  AUTHORIZED:     { entry: 'PENDING',      debit: ChartRole.GATEWAY_CLEARING,  credit: ChartRole.REVENUE,          amount: 'authorized amount',
                    ofInvoice: { credit: ChartRole.ACCOUNTS_RECEIVABLE } },
  CAPTURED:       { entry: 'POST_PENDING', debit: ChartRole.GATEWAY_CLEARING,  credit: ChartRole.REVENUE,          amount: 'captured amount; the rest of the hold is released',
                    ofInvoice: { credit: ChartRole.ACCOUNTS_RECEIVABLE } },
  VOIDED:         { entry: 'VOID_PENDING', debit: null,                        credit: null,                       amount: 'the whole hold is released' },
  EXPIRED:        { entry: 'VOID_PENDING', debit: null,                        credit: null,                       amount: 'the whole hold is released' },
  CAPTURE_FEE:    { entry: 'POSTED',       debit: ChartRole.PROCESSING_FEES,   credit: ChartRole.GATEWAY_CLEARING, amount: 'the gateway’s fee for the capture' },
  REFUNDED:       { entry: 'POSTED',       debit: ChartRole.REFUNDS,           credit: ChartRole.GATEWAY_CLEARING, amount: 'refunded amount',
                    ofInvoice: { debit: ChartRole.ACCOUNTS_RECEIVABLE } },
  DISPUTE_OPENED: { entry: 'POSTED',       debit: ChartRole.DISPUTED_FUNDS,    credit: ChartRole.GATEWAY_CLEARING, amount: 'disputed amount, withdrawn by the gateway' },
  DISPUTE_FEE:    { entry: 'POSTED',       debit: ChartRole.CHARGEBACK_FEES,   credit: ChartRole.GATEWAY_CLEARING, amount: 'the gateway’s dispute fee' },
  DISPUTE_WON:    { entry: 'POSTED',       debit: ChartRole.GATEWAY_CLEARING,  credit: ChartRole.DISPUTED_FUNDS,   amount: 'disputed amount, returned' },
  DISPUTE_LOST:   { entry: 'POSTED',       debit: ChartRole.CHARGEBACK_LOSSES, credit: ChartRole.DISPUTED_FUNDS,   amount: 'disputed amount, lost' },
  PAYOUT:         { entry: 'POSTED',       debit: ChartRole.CASH_AT_BANK,      credit: ChartRole.GATEWAY_CLEARING, amount: 'paid-out amount' },
};

export interface PostingContext {
  tenantId: string;
  currency: string;
  /** Null for rules that only resolve the pending entry (they post to no account of their own). */
  chart: ChartAccounts | null;
  description: string;
  effectiveAt: Date;
  metadata: Record<string, unknown> | null;
  /** The authorization's pending entry, for POST_PENDING and VOID_PENDING rules. */
  pendingEntryId?: string | null;
  /** The payment pays an invoice: rules with `ofInvoice` post to those accounts instead. */
  ofInvoice?: boolean;
}

function lines(rule: PostingRule, context: PostingContext, amountMinor: bigint) {
  const debit = (context.ofInvoice ? rule.ofInvoice?.debit : undefined) ?? rule.debit;
  const credit = (context.ofInvoice ? rule.ofInvoice?.credit : undefined) ?? rule.credit;
  if (!debit || !credit || !context.chart) throw new Error('posting rule without accounts or chart');
  return [
    { accountId: context.chart[debit], direction: EntryDirection.DEBIT, amountMinor, currency: context.currency, field: 'amount' },
    { accountId: context.chart[credit], direction: EntryDirection.CREDIT, amountMinor, currency: context.currency, field: 'amount' },
  ];
}

/** The ledger command for one event; an amount of zero (no fee, say) needs no entry and gives null. */
export function ledgerCommandFor(event: PostingEvent, context: PostingContext, amountMinor: bigint): LedgerCommand | null {
  const rule = POSTING_RULES[event];
  switch (rule.entry) {
    case 'PENDING':
    case 'POSTED':
      if (amountMinor <= 0n) return null;
      return {
        type: 'create',
        tenantId: context.tenantId,
        status: rule.entry === 'PENDING' ? JournalEntryStatus.PENDING : JournalEntryStatus.POSTED,
        description: context.description,
        effectiveAt: context.effectiveAt,
        externalRef: null,
        metadata: context.metadata,
        lines: lines(rule, context, amountMinor),
      };
    case 'POST_PENDING':
      if (!context.pendingEntryId) throw new Error(`${event} needs the authorization's pending entry`);
      return {
        type: 'post-pending',
        tenantId: context.tenantId,
        entryId: context.pendingEntryId,
        effectiveAt: context.effectiveAt,
        lines: lines(rule, context, amountMinor),
      };
    case 'VOID_PENDING':
      if (!context.pendingEntryId) throw new Error(`${event} needs the authorization's pending entry`);
      return { type: 'void-pending', tenantId: context.tenantId, entryId: context.pendingEntryId, effectiveAt: context.effectiveAt };
  }
}
