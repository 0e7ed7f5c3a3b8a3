/**
 * Payments benchmark: authorize + capture flows through GraphQL against the same writes done with raw
 * mysql2, in the same run, on the same fresh MySQL/MariaDB database, with the simulator gateway. A
 * benchmark, not a test: it prints a table and fails only when the setup breaks, a flow fails, or the
 * ledger invariants do not hold afterwards. The goal (issue): GraphQL flows/s >= 0.4x raw.
 *
 *   npm run bench:payments
 *   BENCH_SECONDS=30 BENCH_CLIENTS=4,16 BENCH_IDEMPOTENCY=1 npm run bench:payments
 *
 * A flow through GraphQL is two requests: authorizePayment (amount, USD, paymentToken tok_approve) then
 * capturePayment(input: { paymentId }), with the lean documents AuthorizePaymentLean and CapturePaymentLean
 * (tests/operations/payments.graphql: only { id status } read back). A flow counts when the capture
 * answered CAPTURED; its latency is the time of both requests.
 *
 * What is compared, and why it is fair: the raw side does exactly the writes the payments service does
 * for one flow (payment-lifecycle.service.ts authorize -> settleAuthorization, capture -> begin ->
 * settleCapture, and ledger-writer.ts BatchWriter.write for each ledger command), in 4 transactions, with the
 * same statements (the service's own SQL text for payments, payment_events, journal_entries, postings
 * and the writer's one-statement balance UPDATE), the same row locks in the same order, the same ids
 * (src/common/ids.ts newId; the journal entry ids generated before the write, as the service does) and
 * column values (with the request hashes: a sha256 of a small JSON array per request, as the service's
 * requestHashOf computes), on the same tables, against the same hot accounts of the tenant's default
 * chart (SYS-1100-USD gateway clearing, SYS-4000-USD revenue, SYS-6000-USD processing fees: every flow
 * of both sides locks them), and it calls an in-process SimulatorGateway as the server does. It uses a
 * mysql2 pool of the server's size (DATABASE_POOL_SIZE, a connection per transaction as TypeORM takes
 * one) and retries deadlocks like runInTransaction. In the settling transactions (tx2, tx4) the
 * payment's own rows are written first and the ledger's writes come last, so the hot accounts are
 * locked just before COMMIT, as the service's own settling transactions (writeWithin) do. The service
 * now settles tx2 and tx4 in the ledger writer's group commit instead (CommandRows: many flows' payment
 * rows, entries and balances in one transaction, the hot accounts locked once per batch); the raw side
 * stays the plain way a team would write it, one transaction per step, as before:
 *   tx1 INSERT payments (PROCESSING, with its request hash), INSERT payment_events
 *   tx2 SELECT payment FOR UPDATE, UPDATE payments (AUTHORIZED), INSERT payment_events (with the new
 *       entry's id and the request hash), SELECT 2 accounts FOR UPDATE, INSERT journal_entries
 *       (PENDING), INSERT 2 postings, UPDATE 2 balances
 *   tx3 SELECT payment FOR UPDATE, SELECT payment_events (type, request_hash) by operation key, UPDATE
 *       payments (pending capture, with its request hash), INSERT payment_events
 *   tx4 SELECT payment FOR UPDATE, UPDATE payments (CAPTURED), INSERT payment_events (with the pending
 *       entry's id, the new fee entry's and the request hash), SELECT the pending entry FOR UPDATE and
 *       its postings, SELECT 3 accounts FOR UPDATE, INSERT the fee entry, UPDATE the pending entry to
 *       POSTED, INSERT 6 postings (2 releases, 2 posted, 2 fee), UPDATE 3 balances
 * Without idempotency keys the service neither looks a payment up by its authorize key before tx1 nor
 * checks whether an entry was reversed (the writer asks that only for a reversal), so neither side
 * runs those statements.
 * What the raw side leaves out is what the API adds on top of the writes: HTTP, GraphQL parsing and
 * validation, authentication, the checks and reads the service makes outside these transactions
 * (gateway routing, the payment read before a capture...). That difference is what the ratio
 * measures. The statements each side sends per flow are counted from MariaDB's own counters
 * (Questions, Com_*) and printed; BENCH_SQL_TRACE=1 lists them for one flow.
 *
 * Where the server runs: by default in a child process (`node dist/src/main.js`, built first with
 * `tsc -p tsconfig.build.json` so it is the current source), as in bench/ledger.bench.ts: this machine
 * has 2 cores that the load generator, the API and MariaDB share, and a separate process keeps the load
 * generator's work off the server's event loop. BENCH_SERVER=inprocess starts it in this process.
 *
 * Idempotency (BENCH_IDEMPOTENCY=1): the GraphQL case runs again with a fresh idempotencyKey on both
 * requests of every flow (AuthorizePaymentLean/CapturePaymentLean take one), so each pays the claim,
 * the completion inside the business transaction and the stored response. The raw baseline stays the
 * plain one: keyed/raw shows the whole cost of keys, keyed/gql their cost over the unkeyed API.
 *
 * Settings (environment):
 *   BENCH_MYSQL_URL       server to use; a fresh database is created on it and dropped at the end
 *                         (default mysql://root@127.0.0.1:3306/test)
 *   BENCH_SECONDS         measured seconds per case (default 15)
 *   BENCH_WARMUP_SECONDS  unmeasured seconds before each case (default 3)
 *   BENCH_CLIENTS         concurrent clients (flows in flight), comma-separated (default 16)
 *   BENCH_AMOUNT          amount of each payment, USD (default 25.00)
 *   BENCH_SERVER          child | inprocess (default child)
 *   BENCH_SKIP_BUILD      1: use dist/ as it is (child server only)
 *   BENCH_CPU_PROF        a directory: the child server writes a V8 CPU profile there on exit
 *   BENCH_IDEMPOTENCY     1: also run the GraphQL case with idempotency keys (default 0)
 *   BENCH_SQL_TRACE       1: after the measurements, run one flow on a server started with
 *                         LOG_LEVEL=trace and list its statements next to the raw flow's (child only)
 *   DATABASE_POOL_SIZE    the server's pool and the raw baseline's (default 20)
 * Other variables (LEDGER_MAX_BATCH_SIZE, ...) pass through to the server.
 *
 * What this bench shares with bench/ledger.bench.ts (settings, database, server, load loop, probes,
 * tables, banner, invariants of the ledger) is in bench/bench-support.ts.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import os from 'node:os';
import { print } from 'graphql';
import mysql from 'mysql2/promise';
import { type Runtime } from '../src/bootstrap';
import { newId, newUlid } from '../src/common/ids';
import { parsePositiveAmount } from '../src/common/money';
import { toDbTimestamp } from '../src/common/timestamps';
import { loadConfig } from '../src/config';
import { createDataSource } from '../src/db/data-source';
import { EntryDirection, JournalEntryStatus, PostingPhase } from '../src/modules/ledger/ledger.types';
import { GatewayKind } from '../src/modules/payments/gateways/payment-gateway';
import { SimulatorGateway } from '../src/modules/payments/gateways/simulator-gateway';
import { PaymentStatus, PendingOperation } from '../src/modules/payments/payment-state';
import { PaymentEventSource, PaymentEventType } from '../src/modules/payments/payments.types';
import { AuthorizePaymentLeanDocument, CapturePaymentLeanDocument, CreateGatewayDocument } from '../tests/generated/graphql';
import {
  type BenchRow,
  type BenchServer,
  bootstrapRuntime,
  checkLedgerInvariants,
  cleanupOnExit,
  completedIn,
  type Column,
  CPU_NOTE,
  cpuColumns,
  createBenchDatabase,
  createBenchTenant,
  deadlocksColumn,
  describeServer,
  exitCode,
  generateServerKeys,
  GraphQLLoadClient,
  InvariantReport,
  loadAverage,
  machineColumns,
  perOperationColumn,
  postGraphQL,
  printBanner,
  printColumns,
  printFailures,
  printWhereTheTimeGoes,
  type RateUnit,
  readCommonSettings,
  readNumber,
  resultColumns,
  runCases,
  runMain,
  type ServerKeys,
  sideColumns,
  type SideLine,
  sleep,
  startBenchServer,
  startChildServer,
  type Variant,
} from './bench-support';

const CURRENCY = 'USD';
const PAYMENT_TOKEN = 'tok_approve';
/** Codes of the default chart accounts a flow touches (ledger/default-chart.ts). */
const CHART_CODES = { clearing: `SYS-1100-${CURRENCY}`, revenue: `SYS-4000-${CURRENCY}`, fees: `SYS-6000-${CURRENCY}` } as const;

const settings = {
  ...readCommonSettings({ seconds: 15, warmupSeconds: 3, clients: '16' }),
  amount: process.env.BENCH_AMOUNT || '25.00',
  idempotency: process.env.BENCH_IDEMPOTENCY === '1',
  sqlTrace: process.env.BENCH_SQL_TRACE === '1',
  poolSize: readNumber('DATABASE_POOL_SIZE', 20),
};
if (!['', '0', '1'].includes(process.env.BENCH_IDEMPOTENCY ?? '')) throw new Error('BENCH_IDEMPOTENCY must be 0 or 1');
if (!Number.isInteger(settings.poolSize) || settings.poolSize < 1) throw new Error('DATABASE_POOL_SIZE must be a positive integer');
const AMOUNT_MINOR = parsePositiveAmount(settings.amount, CURRENCY);
/** The GraphQL variants each case runs: without idempotency keys, and with a fresh key per request. */
const GRAPHQL_VARIANTS: readonly Variant[] = settings.idempotency ? ['unkeyed', 'keyed'] : ['unkeyed'];
/** How long an authorization may be captured: the server's default, PAYMENT_AUTHORIZATION_TTL. */
const AUTHORIZATION_TTL_MS = loadConfig(process.env).payments.authorizationTtlSeconds * 1000;
/** Flows: rates with one decimal. */
const UNIT: RateUnit = { short: 'flows/s', long: 'flows/s', digits: 1, width: 13, rawWidth: 11 };
/** The server's pool is the raw baseline's: both sides get as many connections. */
const SERVER_ENV = { DATABASE_POOL_SIZE: String(settings.poolSize) };

// ---------------------------------------------------------------------------------------------
// GraphQL client: authorize + capture per operation, on the shared keep-alive client

const AUTHORIZE_QUERY = print(AuthorizePaymentLeanDocument);
const CAPTURE_QUERY = print(CapturePaymentLeanDocument);

class PaymentsLoadClient extends GraphQLLoadClient {
  /** One mutation; resolves with `data[field].payment` when its status is the expected one. */
  private async mutate(query: string, variables: Record<string, unknown>, field: string, status: PaymentStatus): Promise<{ id: string; status: string }> {
    const { status: httpStatus, json, text } = await this.post(query, variables);
    if (json.errors?.length) throw new Error(`HTTP ${httpStatus} ${field} ${json.errors[0].extensions?.code}: ${json.errors[0].message}`);
    const payment = (json.data?.[field] as { payment?: { id: string; status: string } } | undefined)?.payment;
    if (payment?.status !== status) throw new Error(`HTTP ${httpStatus} ${field}: unexpected response ${text.slice(0, 200)}`);
    return payment;
  }

  /** Authorizes and captures one payment; with `keyed`, each request under a fresh idempotency key (never a replay). */
  async flow(keyed: boolean): Promise<void> {
    const key = () => (keyed ? { idempotencyKey: `bench-${crypto.randomUUID()}` } : {});
    const authorized = await this.mutate(
      AUTHORIZE_QUERY,
      { input: { amount: settings.amount, currency: CURRENCY, paymentToken: PAYMENT_TOKEN }, ...key() },
      'authorizePayment',
      PaymentStatus.AUTHORIZED,
    );
    await this.mutate(CAPTURE_QUERY, { input: { paymentId: authorized.id }, ...key() }, 'capturePayment', PaymentStatus.CAPTURED);
  }
}

// ---------------------------------------------------------------------------------------------
// Raw baseline: the service's writes for one flow, in its 4 transactions, with plain mysql2

// The payments service's own statements (payment-rows.ts insertPayment, updatePayment, insertEvent, lockPayment; payment-lifecycle.service.ts begin).
const INSERT_PAYMENT = `INSERT INTO payments (id, tenant_id, gateway_id, status, currency, authorized_minor, captured_minor, refunded_minor,
                             refund_pending_minor, disputed_minor, dispute_lost_minor, fee_minor, customer_id, description,
                             external_ref, metadata, gateway_payment_id, card_brand, card_last4, authorize_key, authorize_request_hash,
                             authorization_entry_id, pending_operation, pending_amount_minor, pending_key, pending_request_hash,
                             pending_since, failure_code, failure_message, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)`;
const UPDATE_PAYMENT = `UPDATE payments SET status = ?, captured_minor = ?, refunded_minor = ?, refund_pending_minor = ?, disputed_minor = ?,
              dispute_lost_minor = ?, fee_minor = ?, gateway_payment_id = ?, card_brand = ?, card_last4 = ?,
              authorization_entry_id = ?, pending_operation = ?, pending_amount_minor = ?, pending_key = ?, pending_request_hash = ?,
              pending_since = ?,
              failure_code = ?, failure_message = ?, expires_at = ?, updated_at = ?
        WHERE id = ?`;
const INSERT_EVENT = `INSERT INTO payment_events (id, tenant_id, payment_id, type, amount_minor, journal_entry_ids, refund_id, dispute_id, source, detail,
                                   operation_key, request_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
const LOCK_PAYMENT = `SELECT * FROM payments WHERE tenant_id = ? AND id = ? FOR UPDATE`;
const SETTLED_BY = `SELECT type, request_hash FROM payment_events WHERE payment_id = ? AND operation_key = ?`;
// The ledger writer's (ledger-writer.ts lockReferencedEntries, lockAccounts, insertEntries, markResolved, insertPostings, updateBalances);
// lockReferencedEntries asks which entries were reversed only for a reversal command, which a flow has none of.
const LOCK_ENTRY = `SELECT id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at
         FROM journal_entries WHERE id IN (?) ORDER BY id FOR UPDATE`;
const ENTRY_POSTINGS = `SELECT id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at
         FROM postings WHERE journal_entry_id IN (?) ORDER BY id`;
const lockAccountsSql = (count: number) => `SELECT id, tenant_id, type, currency, available_floor_minor,
                posted_debits_minor, posted_credits_minor, pending_debits_minor, pending_credits_minor
           FROM accounts WHERE id IN (${new Array(count).fill('?').join(',')}) ORDER BY id FOR UPDATE`;
const INSERT_ENTRY = `INSERT INTO journal_entries
           (id, tenant_id, status, description, effective_at, external_ref, metadata, reversal_of_id, created_at, resolved_at)
         VALUES (?,?,?,?,?,?,?,?,?,?)`;
const RESOLVE_ENTRY = `UPDATE journal_entries SET status = ?, resolved_at = ? WHERE id = ? AND status = ?`;
const insertPostingsSql = (count: number) => `INSERT INTO postings
           (id, tenant_id, journal_entry_id, account_id, direction, amount_minor, currency, phase, effective_at, created_at)
         VALUES ${new Array(count).fill('(?,?,?,?,?,?,?,?,?,?)').join(',')}`;
const BALANCE_COLUMNS = ['posted_debits_minor', 'posted_credits_minor', 'pending_debits_minor', 'pending_credits_minor'] as const;
const updateBalancesSql = (count: number) => {
  const whens = new Array(count).fill('WHEN ? THEN CAST(? AS SIGNED)').join(' ');
  return `UPDATE accounts SET ${BALANCE_COLUMNS.map((column) => `${column} = ${column} + CASE id ${whens} ELSE 0 END`).join(', ')}
         WHERE id IN (${new Array(count).fill('?').join(',')})`;
};

/** A hash of what a request asked for, as payment-gateway-calls.ts requestHashOf computes it (a sha256 of a small JSON array). */
function requestHashOf(parts: unknown[]): string {
  const text = JSON.stringify(parts, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  return crypto.createHash('sha256').update(text).digest('hex');
}

interface RawPosting {
  journalEntryId: string;
  accountId: string;
  direction: EntryDirection;
  amountMinor: bigint;
  phase: PostingPhase;
}

interface Chart {
  clearing: string;
  revenue: string;
  fees: string;
}

type Query = <T = mysql.RowDataPacket[]>(sql: string, params: unknown[]) => Promise<T>;

/** What the payment row holds after each step, for UPDATE payments (every column a step may change, as the service writes). */
interface RawPayment {
  id: string;
  status: PaymentStatus;
  capturedMinor: bigint;
  feeMinor: bigint;
  gatewayPaymentId: string | null;
  cardBrand: string | null;
  cardLast4: string | null;
  authorizationEntryId: string | null;
  pendingOperation: PendingOperation | null;
  pendingAmountMinor: bigint | null;
  pendingKey: string | null;
  pendingRequestHash: string | null;
  pendingSince: Date | null;
  expiresAt: Date;
  updatedAt: Date;
}

class RawFlows {
  constructor(
    private readonly pool: mysql.Pool,
    private readonly tenantId: string,
    private readonly gatewayId: string,
    private readonly chart: Chart,
    /** The same simulator the server runs in process: its (small) cost is on both sides. */
    private readonly gateway: SimulatorGateway,
  ) {}

  /** One transaction on a pooled connection, retried on deadlocks and lock-wait timeouts like runInTransaction. */
  private async transaction<T>(work: (query: Query) => Promise<T>, trace?: string[]): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const connection = await this.pool.getConnection();
      const query: Query = async <R>(sql: string, params: unknown[]) => {
        trace?.push(sql);
        const [rows] = await connection.query(sql, params);
        return rows as R;
      };
      try {
        await query('START TRANSACTION', []);
        const result = await work(query);
        await query('COMMIT', []);
        return result;
      } catch (error) {
        await connection.query('ROLLBACK').catch(() => undefined);
        const errno = (error as { errno?: number }).errno;
        if ((errno === 1213 || errno === 1205) && attempt < 8) {
          await sleep(Math.random() * Math.min(200, 5 * 2 ** (attempt - 1)));
          continue;
        }
        throw error;
      } finally {
        connection.release();
      }
    }
  }

  private async insertEvent(
    query: Query,
    paymentId: string,
    type: PaymentEventType,
    amountMinor: bigint | null,
    entries: string[],
    detail: string | null,
    operationKey: string | null,
    requestHash: string | null,
  ): Promise<void> {
    await query(INSERT_EVENT, [
      newId('paymentEvent'),
      this.tenantId,
      paymentId,
      type,
      amountMinor === null ? null : amountMinor.toString(),
      entries.length ? entries.join(' ') : null,
      null,
      null,
      PaymentEventSource.API,
      detail,
      operationKey,
      requestHash,
      toDbTimestamp(new Date()),
    ]);
  }

  private async updatePayment(query: Query, p: RawPayment): Promise<void> {
    await query(UPDATE_PAYMENT, [
      p.status,
      p.capturedMinor.toString(),
      '0',
      '0',
      '0',
      '0',
      p.feeMinor.toString(),
      p.gatewayPaymentId,
      p.cardBrand,
      p.cardLast4,
      p.authorizationEntryId,
      p.pendingOperation,
      p.pendingAmountMinor === null ? null : p.pendingAmountMinor.toString(),
      p.pendingKey,
      p.pendingRequestHash,
      p.pendingSince ? toDbTimestamp(p.pendingSince) : null,
      null,
      null,
      toDbTimestamp(p.expiresAt),
      toDbTimestamp(p.updatedAt),
      p.id,
    ]);
  }

  private async lockPayment(query: Query, paymentId: string): Promise<mysql.RowDataPacket> {
    const [row] = await query(LOCK_PAYMENT, [this.tenantId, paymentId]);
    if (!row) throw new Error(`payment ${paymentId} not found`);
    return row;
  }

  /** Locks accounts in id order and adds each one's change as an increment, in one UPDATE, as the writer does. */
  private async lockAccounts(query: Query, accountIds: string[]): Promise<void> {
    const ids = [...accountIds].sort();
    const locked = await query(lockAccountsSql(ids.length), ids);
    if (locked.length !== ids.length) throw new Error(`expected ${ids.length} locked accounts, got ${locked.length}`);
  }

  private async insertPostings(query: Query, postings: RawPosting[], now: string): Promise<void> {
    await query(
      insertPostingsSql(postings.length),
      postings.flatMap((p) => [
        newId('posting'),
        this.tenantId,
        p.journalEntryId,
        p.accountId,
        p.direction,
        p.amountMinor.toString(),
        CURRENCY,
        p.phase,
        now,
        now,
      ]),
    );
  }

  private async updateBalances(query: Query, postings: RawPosting[]): Promise<void> {
    const deltas = new Map<string, [bigint, bigint, bigint, bigint]>();
    for (const p of postings) {
      const delta = deltas.get(p.accountId) ?? [0n, 0n, 0n, 0n];
      const debit = p.direction === EntryDirection.DEBIT;
      if (p.phase === PostingPhase.POSTED) delta[debit ? 0 : 1] += p.amountMinor;
      delta[debit ? 2 : 3] += p.amountMinor;
      deltas.set(p.accountId, delta);
    }
    const ids = [...deltas.keys()].sort();
    const params: string[] = [];
    for (let column = 0; column < BALANCE_COLUMNS.length; column += 1) {
      for (const id of ids) params.push(id, (deltas.get(id) as bigint[])[column].toString());
    }
    await query(updateBalancesSql(ids.length), [...params, ...ids]);
  }

  private async insertEntry(query: Query, id: string, status: JournalEntryStatus, description: string, paymentId: string, now: string): Promise<void> {
    await query(INSERT_ENTRY, [id, this.tenantId, status, description, now, null, JSON.stringify({ paymentId }), null, now, null]);
  }

  /** One authorize + capture; `trace` collects the statements sent. */
  async flow(trace?: string[]): Promise<void> {
    const { clearing, revenue, fees } = this.chart;
    const amountMinor = AMOUNT_MINOR;
    const authorizeKey = `rk_${newUlid().toLowerCase()}_authorize`;
    // What the service hashes for the bench's authorizePayment input: amount, currency and token; no
    // gateway, no capture, no customer, description, external reference or metadata.
    const authorizeHash = requestHashOf(['authorize', amountMinor, CURRENCY, PAYMENT_TOKEN, null, false, null, null, null, null]);
    const started = new Date();
    const payment: RawPayment = {
      id: newId('payment'),
      status: PaymentStatus.PROCESSING,
      capturedMinor: 0n,
      feeMinor: 0n,
      gatewayPaymentId: null,
      cardBrand: null,
      cardLast4: null,
      authorizationEntryId: null,
      pendingOperation: PendingOperation.AUTHORIZE,
      pendingAmountMinor: amountMinor,
      pendingKey: authorizeKey,
      pendingRequestHash: authorizeHash,
      pendingSince: started,
      expiresAt: new Date(started.getTime() + AUTHORIZATION_TTL_MS),
      updatedAt: started,
    };

    // tx1: the payment, PROCESSING, and its first event.
    await this.transaction(async (query) => {
      await query(INSERT_PAYMENT, [
        payment.id,
        this.tenantId,
        this.gatewayId,
        payment.status,
        CURRENCY,
        amountMinor.toString(),
        null,
        null,
        null,
        null,
        authorizeKey,
        authorizeHash,
        payment.pendingOperation,
        amountMinor.toString(),
        authorizeKey,
        authorizeHash,
        toDbTimestamp(started),
        toDbTimestamp(payment.expiresAt),
        toDbTimestamp(started),
        toDbTimestamp(started),
      ]);
      await this.insertEvent(query, payment.id, PaymentEventType.AUTHORIZATION_REQUESTED, amountMinor, [], null, null, null);
    }, trace);

    const authorization = await this.gateway.authorize({
      idempotencyKey: authorizeKey,
      amountMinor,
      currency: CURRENCY,
      paymentToken: PAYMENT_TOKEN,
      reference: payment.id,
    });
    if (authorization.kind !== 'succeeded') throw new Error(`simulator authorize: ${authorization.kind}`);

    // tx2: settle the authorization: the payment and its event first (with the entry id made up front),
    // then the ledger's writes: the PENDING entry (a hold), its 2 postings and balances, accounts locked last.
    await this.transaction(async (query) => {
      const locked = await this.lockPayment(query, payment.id);
      if (locked.pending_operation !== PendingOperation.AUTHORIZE || locked.pending_key !== authorizeKey) throw new Error('authorization settled elsewhere');
      const requestHash = locked.pending_request_hash as string | null;
      const nowDate = new Date();
      const entryId = newId('journalEntry');
      Object.assign(payment, {
        status: PaymentStatus.AUTHORIZED,
        gatewayPaymentId: authorization.value.gatewayPaymentId,
        cardBrand: authorization.value.card?.brand ?? null,
        cardLast4: authorization.value.card?.last4 ?? null,
        authorizationEntryId: entryId,
        pendingOperation: null,
        pendingAmountMinor: null,
        pendingKey: null,
        pendingRequestHash: null,
        pendingSince: null,
        expiresAt: new Date(nowDate.getTime() + AUTHORIZATION_TTL_MS),
        updatedAt: nowDate,
      } satisfies Partial<RawPayment>);
      await this.updatePayment(query, payment);
      await this.insertEvent(query, payment.id, PaymentEventType.AUTHORIZED, amountMinor, [entryId], null, authorizeKey, requestHash);
      // The ledger writer (writeWithin), last.
      await this.lockAccounts(query, [clearing, revenue]);
      const now = toDbTimestamp(new Date());
      await this.insertEntry(query, entryId, JournalEntryStatus.PENDING, `Payment ${payment.id}: authorized`, payment.id, now);
      const postings: RawPosting[] = [
        { journalEntryId: entryId, accountId: clearing, direction: EntryDirection.DEBIT, amountMinor, phase: PostingPhase.PENDING },
        { journalEntryId: entryId, accountId: revenue, direction: EntryDirection.CREDIT, amountMinor, phase: PostingPhase.PENDING },
      ];
      await this.insertPostings(query, postings, now);
      await this.updateBalances(query, postings);
    }, trace);

    // tx3: begin the capture: not settled under this key yet, so mark it pending.
    const captureKey = `rk_${newUlid().toLowerCase()}_capture`;
    // capturePayment without an amount: the service hashes ['capture', null].
    const captureHash = requestHashOf(['capture', null]);
    await this.transaction(async (query) => {
      const locked = await this.lockPayment(query, payment.id);
      const [settledBy] = await query(SETTLED_BY, [payment.id, captureKey]);
      if (settledBy) throw new Error('capture settled already');
      if (locked.pending_key === captureKey) throw new Error('capture under way already');
      if (locked.status !== PaymentStatus.AUTHORIZED) throw new Error(`payment is ${String(locked.status)}, not AUTHORIZED`);
      const now = new Date();
      Object.assign(payment, {
        pendingOperation: PendingOperation.CAPTURE,
        pendingAmountMinor: amountMinor,
        pendingKey: captureKey,
        pendingRequestHash: captureHash,
        pendingSince: now,
        updatedAt: now,
      } satisfies Partial<RawPayment>);
      await this.updatePayment(query, payment);
      await this.insertEvent(query, payment.id, PaymentEventType.CAPTURE_REQUESTED, amountMinor, [], null, null, null);
    }, trace);

    const capture = await this.gateway.capture({
      idempotencyKey: captureKey,
      gatewayPaymentId: payment.gatewayPaymentId as string,
      amountMinor,
      currency: CURRENCY,
    });
    if (capture.kind !== 'succeeded') throw new Error(`simulator capture: ${capture.kind}`);
    const feeMinor = capture.value.feeMinor;

    // tx4: settle the capture: the payment and its event first (the pending entry's id and the fee
    // entry's, made up front), then the ledger's writes: post the pending entry (release the holds,
    // post the amount), the fee entry, balances, accounts locked last.
    await this.transaction(async (query) => {
      const locked = await this.lockPayment(query, payment.id);
      if (locked.pending_operation !== PendingOperation.CAPTURE || locked.pending_key !== captureKey) throw new Error('capture settled elsewhere');
      const capturedMinor = BigInt(locked.pending_amount_minor as string);
      const requestHash = locked.pending_request_hash as string | null;
      const authEntryId = String(locked.authorization_entry_id);
      const feeEntryId = newId('journalEntry');
      Object.assign(payment, {
        status: PaymentStatus.CAPTURED,
        capturedMinor,
        feeMinor: payment.feeMinor + feeMinor,
        pendingOperation: null,
        pendingAmountMinor: null,
        pendingKey: null,
        pendingRequestHash: null,
        pendingSince: null,
        updatedAt: new Date(),
      } satisfies Partial<RawPayment>);
      await this.updatePayment(query, payment);
      await this.insertEvent(
        query,
        payment.id,
        PaymentEventType.CAPTURED,
        capturedMinor,
        [authEntryId, feeEntryId],
        feeMinor > 0n ? `fee ${feeMinor}` : null,
        captureKey,
        requestHash,
      );
      // The ledger writer (writeWithin), last: the referenced entry, then the accounts, then the writes.
      const [entry] = await query(LOCK_ENTRY, [authEntryId]);
      const holds = (await query(ENTRY_POSTINGS, [authEntryId])).filter(
        (row) => row.phase === PostingPhase.PENDING && BigInt(row.amount_minor as string) > 0n,
      );
      await this.lockAccounts(query, [...new Set([...holds.map((row) => String(row.account_id)), clearing, revenue, fees])]);
      if (entry?.status !== JournalEntryStatus.PENDING) throw new Error(`authorization entry is ${String(entry?.status)}`);
      const now = toDbTimestamp(new Date());
      await this.insertEntry(query, feeEntryId, JournalEntryStatus.POSTED, `Payment ${payment.id}: capture fee`, payment.id, now);
      await query(RESOLVE_ENTRY, [JournalEntryStatus.POSTED, now, authEntryId, JournalEntryStatus.PENDING]);
      const postings: RawPosting[] = [
        ...holds.map((row) => ({
          journalEntryId: authEntryId,
          accountId: String(row.account_id),
          direction: row.direction as EntryDirection,
          amountMinor: -BigInt(row.amount_minor as string),
          phase: PostingPhase.PENDING,
        })),
        { journalEntryId: authEntryId, accountId: clearing, direction: EntryDirection.DEBIT, amountMinor: capturedMinor, phase: PostingPhase.POSTED },
        { journalEntryId: authEntryId, accountId: revenue, direction: EntryDirection.CREDIT, amountMinor: capturedMinor, phase: PostingPhase.POSTED },
        { journalEntryId: feeEntryId, accountId: fees, direction: EntryDirection.DEBIT, amountMinor: feeMinor, phase: PostingPhase.POSTED },
        { journalEntryId: feeEntryId, accountId: clearing, direction: EntryDirection.CREDIT, amountMinor: feeMinor, phase: PostingPhase.POSTED },
      ];
      await this.insertPostings(query, postings, now);
      await this.updateBalances(query, postings);
    }, trace);
  }
}

// ---------------------------------------------------------------------------------------------
// The SQL trace (BENCH_SQL_TRACE)

/**
 * A second server for BENCH_SQL_TRACE, at LOG_LEVEL=trace: it collects the "sql" lines and drops the
 * rest, which would flood the output; no CPU profile, since it serves no load.
 */
async function startTraceServer(databaseUrl: string, keys: ServerKeys): Promise<BenchServer & { takeStatements(): string[] }> {
  let statements: string[] = [];
  const server = await startChildServer(settings, {
    databaseUrl,
    keys,
    logLevel: 'trace',
    env: SERVER_ENV,
    profile: false,
    onLine: (line) => {
      if (line.includes('"msg":"sql"')) {
        try {
          statements.push(String((JSON.parse(line) as { query: string }).query));
        } catch {
          statements.push(line);
        }
      }
      return true;
    },
  });
  return {
    ...server,
    takeStatements: () => {
      const taken = statements;
      statements = [];
      return taken;
    },
  };
}

/** BENCH_SQL_TRACE: one flow on a server logging its statements, next to the raw flow's. */
async function traceOneFlow(databaseUrl: string, keys: ServerKeys, fixture: Fixture, raw: RawFlows): Promise<void> {
  const server = await startTraceServer(databaseUrl, keys);
  try {
    const client = new PaymentsLoadClient(server.url, fixture.apiKey, 1);
    // The first flow of a fresh process reads what it caches (gateway adapter, chart, API key...): not shown.
    await client.flow(false);
    await sleep(300);
    server.takeStatements();
    for (const variant of GRAPHQL_VARIANTS) {
      await client.flow(variant === 'keyed');
      await sleep(300);
      const statements = server.takeStatements();
      console.log('');
      console.log(`Statements of one ${variant === 'keyed' ? 'keyed ' : ''}GraphQL flow (server at LOG_LEVEL=trace, after one unlisted flow): ${statements.length}`);
      statements.forEach((sql, i) => console.log(`  ${String(i + 1).padStart(3)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}`));
    }
    client.close();
  } finally {
    await server.stop();
  }
  const statements: string[] = [];
  await raw.flow(statements);
  console.log('');
  console.log(`Statements of one raw flow: ${statements.length}`);
  statements.forEach((sql, i) => console.log(`  ${String(i + 1).padStart(3)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}`));
}

// ---------------------------------------------------------------------------------------------
// Setup, invariants, report

interface Fixture {
  tenantId: string;
  apiKey: string;
  gatewayId: string;
  chart: Chart;
}

/** A GraphQL request outside the load (setup, warm-up, trace): no agent, errors thrown. */
async function graphql(url: string, apiKey: string, query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { status, json } = await postGraphQL(new URL(url), undefined, apiKey, JSON.stringify({ query, variables }));
  if (json.errors?.length || !json.data) throw new Error(`HTTP ${status}: ${json.errors?.[0]?.message ?? 'no data'}`);
  return json.data;
}

/** The simulator gateway, through the createGateway mutation; then one flow, which creates the tenant's default USD chart. */
async function createGatewayAndChart(url: string, tenantId: string, apiKey: string, connection: mysql.Connection): Promise<{ gatewayId: string; chart: Chart }> {
  const created = await graphql(url, apiKey, print(CreateGatewayDocument), {
    input: { name: 'Bench simulator', kind: GatewayKind.SIMULATOR, currencies: [CURRENCY] },
  });
  const gatewayId = (created.createGateway as { gateway: { id: string } }).gateway.id;
  const client = new PaymentsLoadClient(url, apiKey, 1);
  await client.flow(false);
  client.close();
  const [rows] = await connection.query<mysql.RowDataPacket[]>(`SELECT id, code FROM accounts WHERE tenant_id = ? AND code IN (?, ?, ?)`, [
    tenantId,
    CHART_CODES.clearing,
    CHART_CODES.revenue,
    CHART_CODES.fees,
  ]);
  const byCode = new Map(rows.map((row) => [String(row.code), String(row.id)]));
  const chart = { clearing: byCode.get(CHART_CODES.clearing), revenue: byCode.get(CHART_CODES.revenue), fees: byCode.get(CHART_CODES.fees) };
  if (!chart.clearing || !chart.revenue || !chart.fees) throw new Error(`default chart accounts not found after the warm-up flow: ${JSON.stringify(chart)}`);
  return { gatewayId, chart: chart as Chart };
}

async function checkInvariants(connection: mysql.Connection, acknowledged: number, acknowledgedKeyed: number): Promise<InvariantReport> {
  const report = new InvariantReport();
  await checkLedgerInvariants(connection, report);

  // Every flow that completed left a CAPTURED payment with its 2 entries (the hold, now POSTED, and the
  // fee), 6 + 2 postings and 4 events; flows cut off at the end of a window may have left fewer.
  const [[payments]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COALESCE(SUM(status = 'CAPTURED'), 0) AS captured, COUNT(*) AS total,
            COALESCE(SUM(status = 'CAPTURED' AND captured_minor = authorized_minor AND fee_minor > 0 AND pending_operation IS NULL), 0) AS consistent
       FROM payments`,
  );
  const [[stillPending]] = await connection.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS count FROM journal_entries WHERE status = 'PENDING'`);
  const [[events]] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT COUNT(*) AS count FROM payment_events e JOIN payments p ON p.id = e.payment_id WHERE p.status = 'CAPTURED'`,
  );
  const capturedOk =
    Number(payments.captured) >= acknowledged &&
    Number(payments.consistent) === Number(payments.captured) &&
    Number(events.count) === 4 * Number(payments.captured) &&
    Number(stillPending.count) === Number(payments.total) - Number(payments.captured);
  report.check(
    capturedOk,
    `acknowledged flows left a CAPTURED payment with 4 events and a posted hold: ${capturedOk ? 'OK' : 'FAIL'} ` +
      `(${payments.captured} captured of ${payments.total} payments, ${events.count} events, ${stillPending.count} entries still PENDING, ` +
      `${acknowledged} flows acknowledged in measured windows)`,
  );
  if (GRAPHQL_VARIANTS.includes('keyed')) {
    const [[records]] = await connection.query<mysql.RowDataPacket[]>(
      `SELECT COALESCE(SUM(status = 'COMPLETED'), 0) AS completed, COALESCE(SUM(status = 'IN_PROGRESS'), 0) AS inProgress FROM idempotency_records`,
    );
    const keyedOk = Number(records.completed) >= 2 * acknowledgedKeyed && Number(records.inProgress) === 0;
    report.check(
      keyedOk,
      `acknowledged keyed requests have a COMPLETED idempotency record: ${keyedOk ? 'OK' : 'FAIL'} ` +
        `(${records.completed} completed, ${records.inProgress} in progress, ${2 * acknowledgedKeyed} requests acknowledged in measured windows)`,
    );
  }
  return report;
}

interface Row extends BenchRow {
  clients: number;
}

const caseLabel = (row: Row) => `${row.clients} clients`;

function printTable(rows: Row[]): void {
  printColumns([{ title: 'clients', width: 7, cell: (row: Row) => String(row.clients) }, ...resultColumns<Row>(GRAPHQL_VARIANTS, UNIT)], rows);
  console.log(
    'flows/s over the measured window (a flow = authorizePayment + capturePayment, or the raw side’s 4 transactions); p50/p99 of\n' +
      'a whole flow in ms; gql = GraphQL without idempotency keys' +
      (GRAPHQL_VARIANTS.length === 2 ? ', keyed = with a fresh idempotencyKey on each request' : '') +
      '; x/raw = flows/s over raw flows/s (goal: gql/raw >= 0.40)',
  );
  printFailures(rows, caseLabel);
}

function printDiagnostics(rows: Row[]): void {
  const columns: Column<SideLine<Row>>[] = [
    { title: 'clients', width: 7, cell: (line) => String(line.row.clients) },
    ...sideColumns<Row>(UNIT, 7),
    ...cpuColumns<Row>(),
    ...machineColumns<Row>(),
    perOperationColumn<Row>('stmts/flow', 'Questions', 1),
    perOperationColumn<Row>('select', 'Com_select', 1),
    perOperationColumn<Row>('insert', 'Com_insert', 1),
    perOperationColumn<Row>('update', 'Com_update', 1),
    perOperationColumn<Row>('begin', 'Com_begin', 1),
    perOperationColumn<Row>('commit', 'Com_commit', 1),
    perOperationColumn<Row>('fsyncs/flow', 'Innodb_data_fsyncs', 2),
    perOperationColumn<Row>('lock waits/flow', 'Innodb_row_lock_waits', 2),
    perOperationColumn<Row>('lock ms/flow', 'Innodb_row_lock_time', 2),
    deadlocksColumn<Row>(),
  ];
  printWhereTheTimeGoes(
    columns,
    rows,
    `${CPU_NOTE}; machine = share of all ` +
      `${os.cpus().length} cores busy,\n` +
      'anyone’s; others cpu = the rest of the busy time, in cores (other processes: the noise of a shared machine); statement, commit, fsync and lock counters are server-wide MariaDB status deltas over the window per completed flow\n' +
      '(stmts = Questions, begin/commit included), so other users of the database server show up in them',
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  await printBanner('Reckon payments benchmark: authorize + capture flows, GraphQL vs raw SQL', settings.mysqlUrl);
  console.log(
    `  cases:     ${settings.clients.join(', ')} clients, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured per side, ` +
      `${settings.amount} ${CURRENCY} per payment, pool of ${settings.poolSize} connections on both sides, ` +
      describeServer(settings) +
      (settings.idempotency ? ', GraphQL also with idempotency keys' : ''),
  );

  const database = await createBenchDatabase(settings.mysqlUrl, 'reckon_bench_payments');
  const keys = await generateServerKeys();
  let runtime: Runtime | undefined;
  let server: BenchServer | undefined;
  let connection: mysql.Connection | undefined;
  const exit = cleanupOnExit(database, () => ({ server, runtime, connection }));

  try {
    console.log(`  database for this run: ${database.name} (dropped at the end)`);
    // Migrations, the tenant and its API key in this process, as bench/ledger.bench.ts does; the
    // gateway through the API.
    runtime = await bootstrapRuntime(database.url, keys, { databasePoolSize: settings.poolSize });
    const { tenantId, apiKey } = await createBenchTenant(runtime);

    ({ server, runtime } = await startBenchServer(settings, runtime, { databaseUrl: database.url, keys, logLevel: 'warn', env: SERVER_ENV }));
    connection = await mysql.createConnection({ uri: database.url, supportBigNumbers: true, bigNumberStrings: true });
    const { gatewayId, chart } = await createGatewayAndChart(server.url, tenantId, apiKey, connection);
    const fixture: Fixture = { tenantId, apiKey, gatewayId, chart };
    console.log(`  setup:     1 tenant, 1 API key, simulator gateway ${gatewayId}; chart accounts ${Object.values(CHART_CODES).join(', ')} created by a first flow`);
    console.log('');

    const rawPool = mysql.createPool({
      uri: database.url,
      connectionLimit: settings.poolSize,
      charset: 'utf8mb4_bin',
      timezone: 'Z',
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    // The simulator keeps its books in the database, as the server's does: its pool is apart from the raw side's.
    const { dataSource: simulatorBooks } = createDataSource({ url: database.url, poolSize: settings.poolSize });
    await simulatorBooks.initialize();
    const raw = new RawFlows(rawPool, fixture.tenantId, fixture.gatewayId, fixture.chart, new SimulatorGateway(simulatorBooks, fixture.gatewayId));
    // The server stays up through every case; the load clients need its address inside the callback.
    const url = server.url;
    const rows = await runCases(
      settings,
      () => server?.pid,
      settings.clients,
      async (probe, clients): Promise<Row> => {
        const row: Row = { clients, results: {} };
        for (const variant of GRAPHQL_VARIANTS) {
          const client = new PaymentsLoadClient(url, fixture.apiKey, clients);
          row.results[variant] = await probe.measure(settings, clients, () => client.flow(variant === 'keyed'));
          client.close();
        }

        // Open the raw pool's connections before its window, as the server's pool is open by now.
        const opened = await Promise.all(Array.from({ length: Math.min(clients, settings.poolSize) }, () => rawPool.getConnection()));
        opened.forEach((c) => c.release());
        row.results.raw = await probe.measure(settings, clients, () => raw.flow());
        return row;
      },
      { label: caseLabel, unit: UNIT },
    );

    console.log('');
    printTable(rows);
    printDiagnostics(rows);
    console.log(`  load average at the end: ${loadAverage()}`);

    // Stop the server first: everything it acknowledged is committed, nothing is in flight.
    await server.stop();
    server = undefined;
    if (settings.sqlTrace) {
      if (settings.server === 'child') await traceOneFlow(database.url, keys, fixture, raw);
      else console.log('\nBENCH_SQL_TRACE needs the child server (BENCH_SERVER=child): skipped');
    }
    await rawPool.end();
    await simulatorBooks.destroy();
    const invariants = await checkInvariants(connection, completedIn(rows), completedIn(rows, 'keyed'));
    invariants.print('Ledger and payment invariants');
    return exitCode(invariants, rows);
  } finally {
    await exit.cleanup();
    exit.dispose();
  }
}

runMain(main);
