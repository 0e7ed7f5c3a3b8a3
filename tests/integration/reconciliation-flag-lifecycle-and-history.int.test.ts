import { runInTransaction } from '../../src/db/transaction';
import { ReconciliationFlagKind } from '../../src/modules/reconciliation/reconciliation.types';
import {
  AcknowledgeReconciliationFlagDocument,
  ReconciliationFlagWithHistoryDocument,
  type ReconciliationFlagWithHistoryFragment,
  ResolveReconciliationFlagDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { countRows, expectFresh, expectReplayOf, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { createBankAccount } from '../helpers/statement-fixtures';

describeEachDatabase('a reconciliation flag is acknowledged, resolved three ways, reopened when its cause returns, and keeps an append-only history', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });

  afterAll(async () => {
    await app?.close();
  });

  let subjects = 0;
  /** Raises (or re-raises) a flag as the matcher or an import does: through the flags service, in a transaction. */
  async function raise(tenant: TestTenant, bankAccountId: string, subject = `line:test-${(subjects += 1)}`, details: Record<string, unknown> = { amount: '10.00' }) {
    const flag = await runInTransaction(app.runtime.dataSource, (manager) =>
      app.runtime.services.reconciliationFlags.raise(manager, {
        tenantId: tenant.tenantId,
        bankAccountId,
        kind: ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE,
        subject,
        details,
      }),
    );
    return { ...flag, subject };
  }

  async function read(tenant: TestTenant, id: string): Promise<ReconciliationFlagWithHistoryFragment> {
    const { node } = await tenant.client.ok(ReconciliationFlagWithHistoryDocument, { id });
    return node as ReconciliationFlagWithHistoryFragment;
  }

  const steps = (flag: ReconciliationFlagWithHistoryFragment) => flag.history.edges.map((edge) => edge.node);

  async function setUp(name: string) {
    const tenant = await app.createTenant(name);
    const bank = await createBankAccount(tenant.client, { currency: 'USD' });
    return { tenant, bank };
  }

  it('acknowledges an OPEN flag with the credential and note in its history, and refuses to acknowledge it twice, changing nothing', async () => {
    const { tenant, bank } = await setUp('Acknowledge');
    const raised = await raise(tenant, bank.id);
    const { acknowledgeReconciliationFlag } = await tenant.client.ok(AcknowledgeReconciliationFlagDocument, {
      input: { flagId: raised.id, note: 'asking the bank' },
    });
    const flag = acknowledgeReconciliationFlag.flag;
    expect(flag).toMatchObject({ status: 'ACKNOWLEDGED', occurrenceCount: 1, sequence: String(raised.sequence + 1) });
    expect(steps(flag).map((s) => [s.action, s.statusFrom, s.statusTo, s.sequence])).toEqual([
      ['RAISED', null, 'OPEN', String(raised.sequence)],
      ['ACKNOWLEDGED', 'OPEN', 'ACKNOWLEDGED', String(raised.sequence + 1)],
    ]);
    expect(steps(flag)[0]).toMatchObject({ details: { amount: '10.00' }, actorCredentialId: null, note: null });
    expect(steps(flag)[1]).toMatchObject({ details: null, note: 'asking the bank', resolution: null });
    expect(steps(flag)[1].actorCredentialId).toMatch(/^key_/);

    const again = await tenant.client.request(AcknowledgeReconciliationFlagDocument, { input: { flagId: raised.id } });
    expect(again.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
    expect(again.data?.acknowledgeReconciliationFlag).toBeNull();
    expect(await read(tenant, raised.id)).toEqual(flag);

    // Another tenant's flag does not exist for this one.
    const other = await app.createTenant('Acknowledge other');
    const foreign = await other.client.request(AcknowledgeReconciliationFlagDocument, { input: { flagId: raised.id } });
    expect(foreign.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await read(tenant, raised.id)).toEqual(flag);
  });

  it('resolves matched by hand, accepted with a note, and by a posted adjustment on the bank’s ledger account, refusing each incomplete or illegal step', async () => {
    const { tenant, bank } = await setUp('Resolve');
    const byHand = await raise(tenant, bank.id);
    const matched = (await tenant.client.ok(ResolveReconciliationFlagDocument, { input: { flagId: byHand.id, resolution: 'MATCHED_BY_HAND' } }))
      .resolveReconciliationFlag.flag;
    expect(matched.status).toBe('RESOLVED');
    expect(steps(matched).at(-1)).toMatchObject({ action: 'RESOLVED', statusFrom: 'OPEN', statusTo: 'RESOLVED', resolution: 'MATCHED_BY_HAND' });
    for (const step of [
      () => tenant.client.request(ResolveReconciliationFlagDocument, { input: { flagId: byHand.id, resolution: 'ACCEPTED', note: 'again' } }),
      () => tenant.client.request(AcknowledgeReconciliationFlagDocument, { input: { flagId: byHand.id } }),
    ]) {
      const refused = await step();
      expect(refused.errors?.[0]?.extensions?.code).toBe('INVALID_STATE_TRANSITION');
    }
    expect(await read(tenant, byHand.id)).toEqual(matched);

    const accepted = await raise(tenant, bank.id);
    await tenant.client.ok(AcknowledgeReconciliationFlagDocument, { input: { flagId: accepted.id } });
    const before = await read(tenant, accepted.id);
    for (const note of [undefined, '   ']) {
      const refused = await tenant.client.request(ResolveReconciliationFlagDocument, { input: { flagId: accepted.id, resolution: 'ACCEPTED', note } });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'note' } });
    }
    expect(await read(tenant, accepted.id)).toEqual(before);
    const acceptedFlag = (
      await tenant.client.ok(ResolveReconciliationFlagDocument, { input: { flagId: accepted.id, resolution: 'ACCEPTED', note: 'bank fee, immaterial' } })
    ).resolveReconciliationFlag.flag;
    expect(steps(acceptedFlag).map((s) => s.action)).toEqual(['RAISED', 'ACKNOWLEDGED', 'RESOLVED']);
    expect(steps(acceptedFlag).at(-1)).toMatchObject({ statusFrom: 'ACKNOWLEDGED', resolution: 'ACCEPTED', note: 'bank fee, immaterial', journalEntry: null });

    const adjusted = await raise(tenant, bank.id);
    const income = await createAccount(tenant.client, { type: 'REVENUE', currency: 'USD' });
    const elsewhere = await createAccount(tenant.client, { type: 'ASSET', currency: 'USD' });
    const unrelated = await postTransfer(tenant.client, elsewhere.id, income.id, '1.50');
    const adjustment = await postTransfer(tenant.client, bank.ledgerAccount.id, income.id, '1.50');
    const otherTenant = await app.createTenant('Resolve other');
    const foreignAccounts = [await createAccount(otherTenant.client), await createAccount(otherTenant.client, { type: 'REVENUE' })];
    const foreignEntry = await postTransfer(otherTenant.client, foreignAccounts[0].id, foreignAccounts[1].id, '1.50');
    const refusals: [Record<string, unknown>, string][] = [
      [{ resolution: 'ADJUSTMENT_POSTED' }, 'VALIDATION_FAILED'],
      [{ resolution: 'ADJUSTMENT_POSTED', journalEntryId: unrelated.id }, 'VALIDATION_FAILED'],
      [{ resolution: 'ADJUSTMENT_POSTED', journalEntryId: foreignEntry.id }, 'NOT_FOUND'],
      [{ resolution: 'MATCHED_BY_HAND', journalEntryId: adjustment.id }, 'VALIDATION_FAILED'],
    ];
    const untouched = await read(tenant, adjusted.id);
    for (const [input, code] of refusals) {
      const refused = await tenant.client.request(ResolveReconciliationFlagDocument, { input: { flagId: adjusted.id, resolution: 'ADJUSTMENT_POSTED', ...input } });
      expect([JSON.stringify(input), refused.errors?.[0]?.extensions?.code]).toEqual([JSON.stringify(input), code]);
    }
    expect(await read(tenant, adjusted.id)).toEqual(untouched);
    const adjustedFlag = (
      await tenant.client.ok(ResolveReconciliationFlagDocument, { input: { flagId: adjusted.id, resolution: 'ADJUSTMENT_POSTED', journalEntryId: adjustment.id } })
    ).resolveReconciliationFlag.flag;
    expect(steps(adjustedFlag).at(-1)).toMatchObject({ action: 'RESOLVED', resolution: 'ADJUSTMENT_POSTED', journalEntry: { id: adjustment.id } });
  });

  it('counts each return of the cause, keeps an acknowledged flag acknowledged, reopens a resolved one with a new sequence, and never rewrites a step', async () => {
    const { tenant, bank } = await setUp('Recurrence');
    const subject = 'line:recurring';
    const first = await raise(tenant, bank.id, subject, { amount: '1.00' });
    const second = await raise(tenant, bank.id, subject, { amount: '2.00' });
    expect(second).toMatchObject({ id: first.id, status: 'OPEN', occurrenceCount: 2, sequence: first.sequence + 1, details: { amount: '2.00' } });
    await tenant.client.ok(AcknowledgeReconciliationFlagDocument, { input: { flagId: first.id } });
    const third = await raise(tenant, bank.id, subject, { amount: '3.00' });
    expect(third).toMatchObject({ id: first.id, status: 'ACKNOWLEDGED', occurrenceCount: 3 });
    await tenant.client.ok(ResolveReconciliationFlagDocument, { input: { flagId: first.id, resolution: 'MATCHED_BY_HAND' } });
    const beforeReopening = steps(await read(tenant, first.id));

    const reopened = await raise(tenant, bank.id, subject, { amount: '4.00' });
    expect(reopened).toMatchObject({ id: first.id, status: 'OPEN', occurrenceCount: 4, sequence: first.sequence + 5 });
    const flag = await read(tenant, first.id);
    expect(flag).toMatchObject({ status: 'OPEN', occurrenceCount: 4, sequence: String(first.sequence + 5), details: { amount: '4.00' } });
    expect(steps(flag).map((s) => [s.action, s.statusFrom, s.statusTo, s.occurrenceCount, s.details])).toEqual([
      ['RAISED', null, 'OPEN', 1, { amount: '1.00' }],
      ['RECURRED', 'OPEN', 'OPEN', 2, { amount: '2.00' }],
      ['ACKNOWLEDGED', 'OPEN', 'ACKNOWLEDGED', 2, null],
      ['RECURRED', 'ACKNOWLEDGED', 'ACKNOWLEDGED', 3, { amount: '3.00' }],
      ['RESOLVED', 'ACKNOWLEDGED', 'RESOLVED', 3, null],
      ['REOPENED', 'RESOLVED', 'OPEN', 4, { amount: '4.00' }],
    ]);
    expect(steps(flag).slice(0, beforeReopening.length)).toEqual(beforeReopening);
    expect(flag.history.totalCount).toBe(6);
    // The same subject on another bank account, or of another kind, is another flag.
    const elsewhere = await createBankAccount(tenant.client, { currency: 'USD' });
    expect((await raise(tenant, elsewhere.id, subject)).id).not.toBe(first.id);
  });

  it('lets one of many concurrent acknowledgements and resolutions through, the rest INVALID_STATE_TRANSITION, while the cause keeps recurring', async () => {
    const { tenant, bank } = await setUp('Concurrent');
    const subject = 'line:contended';
    const flag = await raise(tenant, bank.id, subject);
    const codes = (results: { errors?: { extensions?: Record<string, unknown> }[] }[]) => results.map((r) => (r.errors?.length ? String(r.errors[0].extensions?.code) : 'OK')).sort();
    const [acks] = await Promise.all([
      Promise.all(Array.from({ length: 6 }, () => tenant.client.request(AcknowledgeReconciliationFlagDocument, { input: { flagId: flag.id } }))),
      raise(tenant, bank.id, subject),
      raise(tenant, bank.id, subject),
    ]);
    expect(codes(acks)).toEqual(['INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'OK']);
    const resolutions = await Promise.all(
      Array.from({ length: 6 }, (_, i) => tenant.client.request(ResolveReconciliationFlagDocument, { input: { flagId: flag.id, resolution: 'ACCEPTED', note: `reason ${i}` } })),
    );
    expect(codes(resolutions)).toEqual(['INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'INVALID_STATE_TRANSITION', 'OK']);
    const final = await read(tenant, flag.id);
    expect(final).toMatchObject({ status: 'RESOLVED', occurrenceCount: 3 });
    const history = steps(final);
    expect(history.map((s) => s.action).sort()).toEqual(['ACKNOWLEDGED', 'RAISED', 'RECURRED', 'RECURRED', 'RESOLVED'].sort());
    expect(history.map((s) => Number(s.sequence))).toEqual([0, 1, 2, 3, 4].map((i) => flag.sequence + i));
    expect(history.at(-1)?.action).toBe('RESOLVED');
  });

  it('answers a replayed acknowledgement or resolution as the first time, taking one step', async () => {
    const { tenant, bank } = await setUp('Replays');
    const flag = await raise(tenant, bank.id);
    const ackKey = newIdempotencyKey('ack');
    const ackVariables = { input: { flagId: flag.id, note: 'looking' }, idempotencyKey: ackKey };
    const ack = await sendKeyed(app.url, tenant.apiKey, AcknowledgeReconciliationFlagDocument, ackVariables);
    expectFresh(ack);
    expectReplayOf(ack, await sendKeyed(app.url, tenant.apiKey, AcknowledgeReconciliationFlagDocument, ackVariables), ackKey);

    const resolveKey = newIdempotencyKey('resolve');
    const resolveVariables = { input: { flagId: flag.id, resolution: 'ACCEPTED' as const, note: 'rounding' }, idempotencyKey: resolveKey };
    const resolved = await sendKeyed(app.url, tenant.apiKey, ResolveReconciliationFlagDocument, resolveVariables);
    expectFresh(resolved);
    const replays = await Promise.all([1, 2, 3].map(() => sendKeyed(app.url, tenant.apiKey, ResolveReconciliationFlagDocument, resolveVariables)));
    for (const replay of replays) expectReplayOf(resolved, replay, resolveKey);
    expect(await countRows(app.runtime.dataSource, 'reconciliation_flag_events', 'flag_id = ?', [flag.id])).toBe(3);

    // The same key with another input is refused, and takes no step.
    const reused = await sendKeyed(app.url, tenant.apiKey, ResolveReconciliationFlagDocument, { ...resolveVariables, input: { ...resolveVariables.input, note: 'other' } });
    expect(reused.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await countRows(app.runtime.dataSource, 'reconciliation_flag_events', 'flag_id = ?', [flag.id])).toBe(3);
  });
});
