import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { assert } from '../../common/assert';
import type { Clock } from '../../common/clock';
import { AppError, ErrorCode } from '../../common/errors';
import { newId } from '../../common/ids';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import type { ChartAccounts } from '../ledger/default-chart';
import type { JournalEntryRecord, LedgerCommand } from '../ledger/ledger-writer';
import type { LedgerService } from '../ledger/ledger.service';
import type { GatewayDiscrepancySink } from './gateway-discrepancies';
import { type LinkedPaymentChange, NO_INVOICE_LINK, type PaymentInvoiceLink } from './payment-invoice-link';
import type { PaymentGatewaysService } from './payment-gateways.service';
import type { PaymentsOptions } from './payment-requests';
import { type PaymentRows, unchangedSince } from './payment-rows';
import type { PaymentEventPublisher } from './payments.events';
import type { PaymentRecord } from './payments.types';
import { ledgerCommandFor, type PostingEvent } from './posting-rules';

/** What every use case of the payments module works with. */
export interface PaymentsContext {
  dataSource: DataSource;
  clock: Clock;
  ledger: LedgerService;
  gateways: PaymentGatewaysService;
  options: PaymentsOptions;
  events: PaymentEventPublisher;
  idempotency?: IdempotencyService;
  log?: Logger;
  /** Where payouts and gateway events that disagree with the books are reported (reconciliation flags). */
  discrepancies: GatewayDiscrepancySink;
  rows: PaymentRows;
  settlement: PaymentSettlement;
}

export interface Committed<T> {
  result: T;
  payments: PaymentRecord[];
  entries: JournalEntryRecord[];
  /** A refusal decided and recorded inside the transaction, thrown once it has committed. */
  refusal?: AppError;
  /** Run once the transaction has committed (what the invoice link asked for). */
  afterCommit?: (() => void)[];
}

/** A step of a payment settled through the ledger writer's group commit (PaymentSettlement.settleInBatch). */
export interface BatchSettlement {
  /** The payment as the step's decision read it, under lock, in an earlier transaction. */
  expected: PaymentRecord;
  /** The payment once settled: written by `write`, published after the commit. */
  settled: PaymentRecord;
  /** The step's ledger commands, in order: written all or none. */
  commands: LedgerCommand[];
  /** Locks the step's other rows, after the payment's (a refund), and says whether they are still as read. */
  lockMore?: (manager: EntityManager) => Promise<boolean>;
  /** Writes the step's rows in the batch's transaction, once the ledger has accepted its commands. */
  write: (manager: EntityManager) => Promise<void>;
  handle?: IdempotencyHandle;
  /** What the idempotency claim records as the step's result. */
  resultRef: unknown;
}

/**
 * The settlement step every use case shares: turning a step into ledger commands, and writing them with
 * the payment's own rows, either in a transaction of the step's own (commit, with writeWithin) or in
 * the ledger writer's group commit (settleInBatch).
 */
export class PaymentSettlement {
  /**
   * Told of every change of a payment that pays an invoice, inside the transaction that records it.
   * Set once by services.ts (the invoicing module implements it and itself calls this module, so it
   * cannot be a constructor argument).
   */
  invoiceLink: PaymentInvoiceLink = NO_INVOICE_LINK;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly ledger: LedgerService,
    private readonly events: PaymentEventPublisher,
    private readonly rows: PaymentRows,
    private readonly idempotency?: IdempotencyService,
  ) {}

  /**
   * Settles a step in the ledger writer's group commit, so the accounts every payment of a currency
   * touches (gateway clearing, revenue) are locked once per batch rather than once per payment. Inside
   * the batch's transaction the payment row is locked before any ledger lock (CommandRows) and must
   * still be as `expected`; the rows are written only if the ledger accepts the commands, and the
   * idempotency claim completes with them. Only a payment that pays no invoice settles so: the
   * invoice's rows are locked after the payment's by other transactions, and a batch holding one
   * invoice while it waits for the next payment's row could close a cycle with them.
   * Returns the entries written, or null when the payment (or `lockMore`'s rows) changed since it was
   * read: the caller then settles the step in a transaction of its own, which sees what changed. A
   * refusal by the ledger is thrown, with the claim completed by it.
   */
  async settleInBatch(step: BatchSettlement): Promise<JournalEntryRecord[] | null> {
    const { expected } = step;
    assert(expected.invoiceId === null, 'payments of invoices settle in transactions of their own');
    const [first, ...rest] = step.commands;
    const changed = new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Payment ${expected.id} changed since its step was decided`);
    const outcome = await this.ledger.submitWithRows({
      ...first,
      idempotency: step.handle,
      rows: {
        lockKey: expected.id,
        with: rest,
        lock: async (manager) => {
          const locked = await this.rows.lockPayment(manager, expected.tenantId, expected.id);
          if (!unchangedSince(locked, expected)) return changed;
          return !step.lockMore || (await step.lockMore(manager)) ? undefined : changed;
        },
        write: step.write,
        resultRef: step.resultRef,
      },
    });
    if (!outcome.ok) {
      if (outcome.error === changed) return null;
      throw outcome.error;
    }
    const entries = [outcome.write, ...(outcome.also ?? [])].map((write) => write.entry);
    this.events.paymentUpdated(step.settled);
    this.ledger.entriesCommitted(entries);
    return entries;
  }

  /** Runs a transaction, then (after it committed) publishes what changed and throws a recorded refusal. */
  async commit<T>(work: (manager: EntityManager) => Promise<Committed<T>>): Promise<T> {
    const committed = await runInTransaction(this.dataSource, work);
    for (const payment of committed.payments) this.events.paymentUpdated(payment);
    this.ledger.entriesCommitted(committed.entries);
    for (const after of committed.afterCommit ?? []) after();
    if (committed.refusal) throw committed.refusal;
    return committed.result;
  }

  /** Tells the invoicing module of a change of a payment that pays an invoice (null for any other payment). */
  async tellInvoice(manager: EntityManager, payment: PaymentRecord, change: LinkedPaymentChange) {
    return payment.invoiceId === null ? null : this.invoiceLink.paymentChanged(manager, payment, change);
  }

  /** Completes a claim whose request changed nothing itself (it found the work done). */
  async completeAlone(handle: IdempotencyHandle | undefined, outcome: { resultRef?: unknown; error?: AppError }): Promise<void> {
    if (!handle || !this.idempotency) return;
    const idempotency = this.idempotency;
    await runInTransaction(this.dataSource, (manager) => idempotency.complete(manager, handle, outcome));
  }

  /** The ledger command for one event of a payment; releases of the hold need no chart (null). */
  command(event: PostingEvent, payment: PaymentRecord, chart: ChartAccounts | null, amountMinor: bigint): LedgerCommand | null {
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
}

export function afterCommitOf(linked: { afterCommit?: () => void } | null): (() => void)[] {
  return linked?.afterCommit ? [linked.afterCommit] : [];
}

/**
 * The ids of the entries these commands write or resolve, known before the write: settling steps
 * record them in the payment's rows, which are written before the ledger's account locks are taken
 * (in a transaction of the step's own) or in the same batch (settleInBatch).
 */
export function entryIdsOf(commands: LedgerCommand[]): string[] {
  return commands.map((command) => {
    const id = command.type === 'create' ? command.entryId : command.entryId;
    assert(id, 'payment ledger commands carry their entry id');
    return id;
  });
}
