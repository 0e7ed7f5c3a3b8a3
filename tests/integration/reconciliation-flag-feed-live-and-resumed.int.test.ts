import { runInTransaction } from '../../src/db/transaction';
import { flagEventChannel } from '../../src/modules/reconciliation/reconciliation-flags.events';
import { ReconciliationFlagsService } from '../../src/modules/reconciliation/reconciliation-flags.service';
import { ReconciliationFlagKind } from '../../src/modules/reconciliation/reconciliation.types';
import {
  AcknowledgeReconciliationFlagDocument,
  ReconciliationFlagRaisedDocument,
  ReconciliationFlagUpdatedDocument,
  ResolveReconciliationFlagDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createBankAccount } from '../helpers/statement-fixtures';
import { SocketClient, waitUntil } from '../helpers/ws-client';

describeEachDatabase('the reconciliation flag feed delivers each step once, in sequence order, live and resumed with since', (kind) => {
  let app: TestApp;
  const sockets: SocketClient[] = [];

  beforeAll(async () => {
    app = await startTestApp(kind);
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.dispose()));
  });

  afterAll(async () => {
    await app?.close();
  });

  function connect(apiKey: string): SocketClient {
    const socket = SocketClient.withKey(app.url, apiKey);
    sockets.push(socket);
    return socket;
  }

  function live(tenantId: string, count: number): Promise<void> {
    return waitUntil(() => app.runtime.services.pubSub.listenerCount(flagEventChannel(tenantId)) >= count, `${count} flag subscribers of ${tenantId} are live`, 10_000);
  }

  let subjects = 0;
  function raise(
    tenant: TestTenant,
    bankAccountId: string,
    kindOf = ReconciliationFlagKind.UNMATCHED_STATEMENT_LINE,
    subject = `line:feed-${(subjects += 1)}`,
    flags: ReconciliationFlagsService = app.runtime.services.reconciliationFlags,
  ) {
    return runInTransaction(app.runtime.dataSource, (manager) => flags.raise(manager, { tenantId: tenant.tenantId, bankAccountId, kind: kindOf, subject, details: { subject } }));
  }

  it('delivers raises to reconciliationFlagRaised and every step to reconciliationFlagUpdated, filtered, tenant by tenant, never a rolled-back one', async () => {
    const tenant = await app.createTenant('Feed');
    const bank = await createBankAccount(tenant.client, { currency: 'EUR' });
    const otherBank = await createBankAccount(tenant.client, { currency: 'EUR' });
    const other = await app.createTenant('Feed other');
    const otherTenantsBank = await createBankAccount(other.client, { currency: 'EUR' });

    const raised = connect(tenant.apiKey).subscribe(ReconciliationFlagRaisedDocument, {});
    const updated = connect(tenant.apiKey).subscribe(ReconciliationFlagUpdatedDocument, {});
    const onlyBank = connect(tenant.apiKey).subscribe(ReconciliationFlagUpdatedDocument, { filter: { bankAccountId: bank.id, kind: 'AMOUNT_MISMATCH' } });
    const otherTenant = connect(other.apiKey).subscribe(ReconciliationFlagUpdatedDocument, {});
    await live(tenant.tenantId, 3);
    await live(other.tenantId, 1);

    const a = await raise(tenant, bank.id, ReconciliationFlagKind.AMOUNT_MISMATCH, 'line:a');
    const b = await raise(tenant, otherBank.id, ReconciliationFlagKind.AMOUNT_MISMATCH);
    await expect(
      runInTransaction(app.runtime.dataSource, async (manager) => {
        await app.runtime.services.reconciliationFlags.raise(manager, {
          tenantId: tenant.tenantId,
          bankAccountId: bank.id,
          kind: ReconciliationFlagKind.AMOUNT_MISMATCH,
          subject: 'line:rolled-back',
          details: {},
        });
        throw new Error('the caller fails after raising');
      }),
    ).rejects.toThrow('the caller fails after raising');
    await tenant.client.ok(AcknowledgeReconciliationFlagDocument, { input: { flagId: a.id, note: 'on it' } });
    await raise(tenant, bank.id, ReconciliationFlagKind.AMOUNT_MISMATCH, 'line:a');
    await tenant.client.ok(ResolveReconciliationFlagDocument, { input: { flagId: a.id, resolution: 'MATCHED_BY_HAND' } });
    await raise(tenant, bank.id, ReconciliationFlagKind.AMOUNT_MISMATCH, 'line:a');

    const all = (await updated.take(6, 10_000)).map((result) => result.data!.reconciliationFlagUpdated);
    expect(all.map((e) => [e.sequence, e.action, e.flag.id])).toEqual([
      [String(a.sequence), 'RAISED', a.id],
      [String(b.sequence), 'RAISED', b.id],
      [String(a.sequence + 2), 'ACKNOWLEDGED', a.id],
      [String(a.sequence + 3), 'RECURRED', a.id],
      [String(a.sequence + 4), 'RESOLVED', a.id],
      [String(a.sequence + 5), 'REOPENED', a.id],
    ]);
    expect(all[2]).toMatchObject({ statusFrom: 'OPEN', statusTo: 'ACKNOWLEDGED', note: 'on it' });
    const raises = (await raised.take(3, 10_000)).map((result) => result.data!.reconciliationFlagRaised);
    expect(raises.map((e) => [e.action, e.flag.id, e.flag.bankAccount?.id])).toEqual([
      ['RAISED', a.id, bank.id],
      ['RAISED', b.id, otherBank.id],
      ['REOPENED', a.id, bank.id],
    ]);
    const filtered = (await onlyBank.take(5, 10_000)).map((result) => result.data!.reconciliationFlagUpdated);
    expect(filtered.every((e) => e.flag.id === a.id)).toBe(true);

    // The other tenant's steps reach the other tenant only.
    const foreign = await raise(other, otherTenantsBank.id);
    expect((await otherTenant.next(10_000)).data?.reconciliationFlagUpdated).toMatchObject({ sequence: String(foreign.sequence), flag: { id: foreign.id } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([raised.unread, updated.unread, onlyBank.unread, otherTenant.unread]).toEqual([0, 0, 0, 0]);
  });

  it('resumes with since: every step after it from the database, then live ones, none twice', async () => {
    const tenant = await app.createTenant('Resume');
    const bank = await createBankAccount(tenant.client, { currency: 'EUR' });
    const first = await raise(tenant, bank.id);
    const second = await raise(tenant, bank.id);
    await tenant.client.ok(AcknowledgeReconciliationFlagDocument, { input: { flagId: first.id } });

    const resumed = connect(tenant.apiKey).subscribe(ReconciliationFlagUpdatedDocument, { since: String(first.sequence) });
    const raisedSince = connect(tenant.apiKey).subscribe(ReconciliationFlagRaisedDocument, { since: '0' });
    const backlog = (await resumed.take(2, 10_000)).map((result) => result.data!.reconciliationFlagUpdated);
    expect(backlog.map((e) => [e.sequence, e.action, e.flag.id])).toEqual([
      [String(second.sequence), 'RAISED', second.id],
      [String(second.sequence + 1), 'ACKNOWLEDGED', first.id],
    ]);
    await live(tenant.tenantId, 2);
    const third = await raise(tenant, bank.id);
    expect((await resumed.next(10_000)).data?.reconciliationFlagUpdated).toMatchObject({ sequence: String(third.sequence), action: 'RAISED' });
    const raises = (await raisedSince.take(3, 10_000)).map((result) => result.data!.reconciliationFlagRaised.flag.id);
    expect(raises).toEqual([first.id, second.id, third.id]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([resumed.unread, raisedSince.unread]).toEqual([0, 0]);
  });

  it('reads a step whose live message never came from the database, before the next one, in order', async () => {
    const tenant = await app.createTenant('Lost message');
    const bank = await createBankAccount(tenant.client, { currency: 'EUR' });
    const feed = connect(tenant.apiKey).subscribe(ReconciliationFlagUpdatedDocument, {});
    await live(tenant.tenantId, 1);
    // A process whose publication is lost (pub/sub is at most once): its step is only in the database.
    const silent = new ReconciliationFlagsService(app.runtime.dataSource, app.runtime.services.clock);
    const unheard = await raise(tenant, bank.id, ReconciliationFlagKind.AMOUNT_MISMATCH, 'line:unheard', silent);
    const heard = await raise(tenant, bank.id);
    const events = (await feed.take(2, 10_000)).map((result) => result.data!.reconciliationFlagUpdated);
    expect(events.map((e) => [e.sequence, e.flag.id])).toEqual([
      [String(unheard.sequence), unheard.id],
      [String(heard.sequence), heard.id],
    ]);
  });

  it('refuses a feed without reconciliation:read, on another tenant’s bank account, or from a sequence not reached', async () => {
    const tenant = await app.createTenant('Refusals');
    const bank = await createBankAccount(tenant.client, { currency: 'EUR' });
    await raise(tenant, bank.id);
    const other = await app.createTenant('Refusals other');
    const { secret: ledgerOnly } = await app.runtime.services.auth.createApiKey(tenant.tenantId, { name: 'ledger only', scopes: ['ledger:read'] });
    const query = 'subscription ($filter: ReconciliationFlagFeedFilterInput, $since: BigInt) { reconciliationFlagUpdated(filter: $filter, since: $since) { sequence } }';
    const cases: [string, Record<string, unknown>, string][] = [
      [ledgerOnly, {}, 'FORBIDDEN'],
      [other.apiKey, { filter: { bankAccountId: bank.id } }, 'NOT_FOUND'],
      [tenant.apiKey, { since: '2' }, 'VALIDATION_FAILED'],
      [tenant.apiKey, { since: '-1' }, 'VALIDATION_FAILED'],
    ];
    for (const [key, variables, code] of cases) {
      const result = await connect(key).executeRaw(query, variables);
      expect([JSON.stringify(variables), result.errors?.[0]?.extensions?.code]).toEqual([JSON.stringify(variables), code]);
    }
  });
});
