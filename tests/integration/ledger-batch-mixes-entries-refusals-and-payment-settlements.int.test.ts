import { fingerprintOf } from '../../src/modules/idempotency/fingerprint';
import type { CommandRows, LedgerChange } from '../../src/modules/ledger/ledger-writer';
import { EntryDirection, JournalEntryStatus } from '../../src/modules/ledger/ledger.types';
import { PaymentStatus } from '../../src/modules/payments/payment-state';
import { PaymentEventSource } from '../../src/modules/payments/payments.types';
import type { PaymentRecord } from '../../src/modules/payments/payments.types';
import { AuthorizePaymentDocument, MeDocument, RefundPaymentDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, errorCodeOf, idempotencyRows } from '../helpers/idempotency-http';
import { createAccount } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';

/**
 * Payment settlements share the ledger writer's group commit with journal entries (CommandRows). One
 * batch here holds a keyed and an unkeyed postJournalEntry, an entry refused for overdraft and the
 * settlement of a payment's authorization: each commits its own outcome exactly once, the refusal
 * writes nothing, and the keyed entry's claim completes with it. That they shared one batch is read
 * from reckon_ledger_batch_size, not assumed.
 */

/** Observations and total size of group-commit batches so far (reckon_ledger_batch_size, mode=group). */
async function groupBatches(app: TestApp): Promise<{ count: number; sum: number }> {
  const { values } = await app.runtime.services.metrics.ledgerBatchSize.get();
  const of = (name: string) => values.find((value) => value.metricName === name && value.labels.mode === 'group')?.value ?? 0;
  return { count: of('reckon_ledger_batch_size_count'), sum: of('reckon_ledger_batch_size_sum') };
}

/** A payment whose authorization's outcome is unknown (the gateway "timed out"): PROCESSING, AUTHORIZE under way. */
async function paymentUnderWay(app: TestApp): Promise<PaymentRecord> {
  const result = await app.client.request(AuthorizePaymentDocument, { input: { amount: '25.00', currency: 'USD', paymentToken: 'tok_timeout_once' } });
  expect(errorCodeOf(result)).toBe('GATEWAY_UNAVAILABLE');
  const [row] = await app.runtime.dataSource.query(`SELECT id FROM payments WHERE tenant_id = ? ORDER BY id DESC`, [app.tenantId]);
  const payment = await app.runtime.services.payments.getPayment(app.tenantId, String(row.id));
  expect(payment).toMatchObject({ status: PaymentStatus.PROCESSING, pendingOperation: 'AUTHORIZE' });
  return payment;
}

describeEachDatabase('one ledger batch mixing entries, a refusal and a payment settlement', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    // One attempt per gateway call, so tok_timeout_once leaves the authorization's outcome unknown.
    app = await startTestApp(kind, { env: { GATEWAY_MAX_ATTEMPTS: '1' } });
    await createSimulatorGateway(app.client);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('commits each command’s own outcome exactly once', async () => {
    const { ledger, payments, idempotency } = app.runtime.services;
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const guarded = await createAccount(app.client, { type: 'ASSET', noOverdraft: true });
    const lines = (debit: string, credit: string, amount: string) => [
      { accountId: debit, direction: EntryDirection.DEBIT, amount, currency: 'USD' },
      { accountId: credit, direction: EntryDirection.CREDIT, amount, currency: 'USD' },
    ];
    const expected = await paymentUnderWay(app);
    const chart = await ledger.defaultChartAccounts(app.tenantId, 'USD');
    const { me } = await app.client.ok(MeDocument, {});
    const key = `mixed-batch-${kind}`;
    const claim = await idempotency.claim(
      { tenantId: app.tenantId, credentialId: me.credentialId, operation: 'postJournalEntry', key },
      fingerprintOf('postJournalEntry', { key }, ''),
    );
    if (claim.kind !== 'new') throw new Error('expected a fresh claim');

    const before = await groupBatches(app);
    // Fillers take every batch slot the writer has (SQLite 1, MySQL 2); everything submitted after them
    // in this same tick waits in the queue and is written together as the next batch.
    const slots = kind === 'mysql' ? 2 : 1;
    const fillers = Array.from({ length: slots }, (_, i) => ledger.postEntry(app.tenantId, { lines: lines(cash.id, revenue.id, '1.00'), description: `filler ${i}` }));
    const submitted = await Promise.allSettled([
      ledger.postEntry(app.tenantId, { lines: lines(cash.id, revenue.id, '10.00'), description: 'keyed' }, claim.handle),
      ledger.postEntry(app.tenantId, { lines: lines(cash.id, revenue.id, '20.00'), description: 'unkeyed' }),
      ledger.postEntry(app.tenantId, { lines: lines(cash.id, guarded.id, '5.00'), description: 'overdraft' }),
      payments.lifecycle.settleAuthorization(
        app.tenantId,
        expected.id,
        expected.pendingKey as string,
        { kind: 'succeeded', value: { gatewayPaymentId: `sim_mixed_${kind}`, card: null } },
        undefined,
        PaymentEventSource.SYSTEM,
        chart,
        expected,
      ),
      ...fillers,
    ]);
    const after = await groupBatches(app);
    // slots batches of one filler each, then one batch of the four.
    expect(after.count - before.count).toBe(slots + 1);
    expect(after.sum - before.sum).toBe(slots + 4);

    const [keyed, unkeyed, overdraft, settled] = submitted;
    expect(keyed.status).toBe('fulfilled');
    expect(unkeyed.status).toBe('fulfilled');
    expect(overdraft).toMatchObject({ status: 'rejected', reason: { code: 'INSUFFICIENT_FUNDS' } });
    expect(settled.status).toBe('fulfilled');
    for (const filler of submitted.slice(4)) expect(filler.status).toBe('fulfilled');

    const entries = async (description: string) => countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND description = ?', [app.tenantId, description]);
    expect(await entries('keyed')).toBe(1);
    expect(await entries('unkeyed')).toBe(1);
    expect(await entries('overdraft')).toBe(0);

    // The keyed entry's claim completed in the batch, naming its entry.
    const keyedEntryId = keyed.status === 'fulfilled' ? keyed.value.entry.id : '';
    const [record] = await idempotencyRows(app.runtime.dataSource, key);
    expect(record.status).toBe('COMPLETED');
    expect(JSON.parse(String(record.result_ref))).toEqual({ journalEntryIds: [keyedEntryId] });

    // The payment's own rows were written once, with its pending entry.
    const payment = await payments.getPayment(app.tenantId, expected.id);
    expect(payment).toMatchObject({ status: PaymentStatus.AUTHORIZED, pendingOperation: null, gatewayPaymentId: `sim_mixed_${kind}` });
    expect(settled.status === 'fulfilled' && settled.value).toMatchObject({ id: expected.id, status: PaymentStatus.AUTHORIZED, authorizationEntryId: payment.authorizationEntryId });
    const [authorization] = await ledger.entriesByIds(app.tenantId, [payment.authorizationEntryId as string]);
    expect(authorization.status).toBe(JournalEntryStatus.PENDING);
    expect(await countRows(app.runtime.dataSource, 'payment_events', 'payment_id = ? AND type = ?', [expected.id, 'AUTHORIZED'])).toBe(1);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND metadata LIKE ?', [app.tenantId, `%${expected.id}%`])).toBe(1);

    await assertLedgerInvariants(app.runtime.dataSource);
  });

  it('refuses a command and the changes it carries all or none, writing none of its rows, and its neighbour sees none of it', async () => {
    const { ledger } = app.runtime.services;
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const guarded = await createAccount(app.client, { type: 'ASSET', noOverdraft: true });
    await ledger.postEntry(app.tenantId, {
      lines: [
        { accountId: guarded.id, direction: EntryDirection.DEBIT, amount: '3.00', currency: 'USD' },
        { accountId: revenue.id, direction: EntryDirection.CREDIT, amount: '3.00', currency: 'USD' },
      ],
    });
    // Each moves `minor` out of the guarded account (3.00 available) into cash.
    const change = (description: string, minor: bigint): LedgerChange => ({
      type: 'create',
      tenantId: app.tenantId,
      status: JournalEntryStatus.POSTED,
      description,
      effectiveAt: new Date(),
      externalRef: null,
      metadata: null,
      lines: [
        { accountId: cash.id, direction: EntryDirection.DEBIT, amountMinor: minor, currency: 'USD', field: 'lines[0]' },
        { accountId: guarded.id, direction: EntryDirection.CREDIT, amountMinor: minor, currency: 'USD', field: 'lines[1]' },
      ],
    });
    const written: string[] = [];
    const rows = (lockKey: string, more: LedgerChange[] = []): CommandRows => ({
      lockKey,
      with: more,
      write: async (_manager, writes) => {
        written.push(`${lockKey}:${writes.length}`);
      },
    });
    const before = await groupBatches(app);
    const slots = kind === 'mysql' ? 2 : 1;
    const fillers = Array.from({ length: slots }, () => ledger.postEntry(app.tenantId, { lines: [
      { accountId: cash.id, direction: EntryDirection.DEBIT, amount: '1.00', currency: 'USD' },
      { accountId: revenue.id, direction: EntryDirection.CREDIT, amount: '1.00', currency: 'USD' },
    ] }));
    // 2.00 then 2.00 more: the second overdraws, so neither is written. The neighbour's 3.00 then fits,
    // which it would not if the first 2.00 had stayed in the batch's running balances.
    const [unit, neighbour] = await Promise.all([
      ledger.submitWithRows({ ...change('unit lead', 200n), rows: rows('a-unit', [change('unit follower', 200n)]) }),
      ledger.submitWithRows({ ...change('neighbour', 300n), rows: rows('b-neighbour') }),
      ...fillers,
    ]);
    const after = await groupBatches(app);
    expect(after.count - before.count).toBe(slots + 1);
    expect(unit).toMatchObject({ ok: false, error: { code: 'INSUFFICIENT_FUNDS' } });
    expect(neighbour).toMatchObject({ ok: true, write: { entry: { description: 'neighbour' } } });
    expect(written).toEqual(['b-neighbour:1']);
    for (const description of ['unit lead', 'unit follower']) {
      expect(await countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND description = ?', [app.tenantId, description])).toBe(0);
    }
    const [account] = await ledger.accountsByIds(app.tenantId, [guarded.id]);
    expect(account.postedDebitsMinor - account.postedCreditsMinor).toBe(0n);
    await assertLedgerInvariants(app.runtime.dataSource);
  });

  it('settles the authorization, capture and refund of a payment through the API in the group commit', async () => {
    await app.runtime.services.ledger.defaultChartAccounts(app.tenantId, 'USD');
    const before = await groupBatches(app);
    const captured = await authorize(app.client, { amount: '30.00', capture: true });
    const refunded = await app.client.ok(RefundPaymentDocument, { input: { paymentId: captured.id, amount: '5.00' } });
    const after = await groupBatches(app);
    expect(captured.status).toBe('CAPTURED');
    expect(refunded.refundPayment?.refund.status).toBe('SUCCEEDED');
    // One batch each, written by the ledger writer: a step settled in a transaction of its own is not counted.
    expect(after.count - before.count).toBe(3);
    expect(after.sum - before.sum).toBe(3);
    await assertLedgerInvariants(app.runtime.dataSource);
  });

  it('settles a step whose payment changed since it was read in a transaction of its own, once', async () => {
    const { ledger, payments } = app.runtime.services;
    const expected = await paymentUnderWay(app);
    const chart = await ledger.defaultChartAccounts(app.tenantId, 'USD');
    const settle = (gatewayPaymentId: string) =>
      payments.lifecycle.settleAuthorization(
        app.tenantId,
        expected.id,
        expected.pendingKey as string,
        { kind: 'succeeded', value: { gatewayPaymentId, card: null } },
        undefined,
        PaymentEventSource.SYSTEM,
        chart,
        expected,
      );
    // Both read the payment under way and, behind fillers that take every batch slot, go to the writer
    // in one batch: two commands locking one payment's rows make the writer write them one by one, and
    // the second finds the step settled.
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const before = await groupBatches(app);
    const slots = kind === 'mysql' ? 2 : 1;
    const fillers = Array.from({ length: slots }, () =>
      ledger.postEntry(app.tenantId, {
        lines: [
          { accountId: cash.id, direction: EntryDirection.DEBIT, amount: '1.00', currency: 'USD' },
          { accountId: revenue.id, direction: EntryDirection.CREDIT, amount: '1.00', currency: 'USD' },
        ],
      }),
    );
    const [first, second] = await Promise.all([settle('sim_first'), settle('sim_second'), ...fillers]);
    const after = await groupBatches(app);
    // The fillers' batches, the shared batch (rolled back), then each of its two commands alone.
    expect(after.count - before.count).toBe(slots + 3);
    // Written alone they race (on MySQL at once): either may win, and the other answers with the winner's record.
    const winner = (await payments.getPayment(app.tenantId, expected.id)).gatewayPaymentId;
    expect(['sim_first', 'sim_second']).toContain(winner);
    expect(first).toMatchObject({ status: PaymentStatus.AUTHORIZED, gatewayPaymentId: winner });
    expect(second).toMatchObject({ status: PaymentStatus.AUTHORIZED, gatewayPaymentId: winner });
    expect(await countRows(app.runtime.dataSource, 'payment_events', 'payment_id = ? AND type = ?', [expected.id, 'AUTHORIZED'])).toBe(1);
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND metadata LIKE ?', [app.tenantId, `%${expected.id}%`])).toBe(1);
    // Settled afterwards, from a stale read: the payment's row is checked under lock and nothing is written twice.
    await expect(settle('sim_third')).resolves.toMatchObject({ gatewayPaymentId: winner });
    expect(await countRows(app.runtime.dataSource, 'journal_entries', 'tenant_id = ? AND metadata LIKE ?', [app.tenantId, `%${expected.id}%`])).toBe(1);
    await assertLedgerInvariants(app.runtime.dataSource);
  });
});
