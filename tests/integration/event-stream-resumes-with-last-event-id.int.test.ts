import { runInTransaction } from '../../src/db/transaction';
import { eventStreamChannel } from '../../src/modules/webhooks/event-stream.service';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';
import { originOf, RestClient } from '../helpers/rest-client';
import { streamDataValidator } from '../helpers/sse-schemas';
import { SuiteStreams } from '../helpers/sse-stream';

/**
 * GET /v1/events/stream: the tenant's domain events (the ones webhooks deliver) over Server-Sent
 * Events. A journal entry posted over REST arrives as `journal_entry.posted` with the webhook's
 * body; a client that drops and reconnects with Last-Event-ID gets every event it missed, once,
 * then live ones; another tenant's events never appear; each area's events need its read scope.
 */
describeEachDatabase('The event stream over SSE', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let rest: RestClient;
  let origin: string;
  let cash: string;
  let revenue: string;
  const streams = new SuiteStreams(() => `${origin}/v1/events/stream`);
  const open = streams.open.bind(streams);
  const openOk = streams.openOk.bind(streams);

  beforeAll(async () => {
    app = await startTestApp(kind);
    origin = originOf(app.url);
    rest = new RestClient(origin, app.apiKey);
    other = await app.createTenant('Other');
    cash = (await createAccount(app.client, { type: 'ASSET', currency: 'USD' })).id;
    revenue = (await createAccount(app.client, { type: 'REVENUE', currency: 'USD' })).id;
  }, 60_000);

  afterAll(async () => {
    await streams.closeAll();
    await app?.close();
  });

  async function postEntry(amount: string): Promise<string> {
    const entry = await rest.ok('POST', '/journal-entries', {
      body: {
        description: `Sale ${amount}`,
        lines: [
          { accountId: cash, direction: 'DEBIT', amount, currency: 'USD' },
          { accountId: revenue, direction: 'CREDIT', amount, currency: 'USD' },
        ],
      },
    });
    return String(entry.id);
  }

  it('refuses without credentials (401), a credential that reads no event area or asks for a type it cannot read (403), and unknown types or parameters (400)', async () => {
    const anonymous = await open(null);
    expect(anonymous.stream ? 200 : [anonymous.status, anonymous.problem.code]).toEqual([401, 'UNAUTHENTICATED']);

    const { secret: auditOnly } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'auditor', scopes: ['audit:read'] });
    const none = await open(auditOnly);
    if (none.stream) throw new Error('a key reading no event area opened the stream');
    expect([none.status, none.headers.get('content-type'), none.problem.code]).toEqual([403, 'application/problem+json; charset=utf-8', 'FORBIDDEN']);
    expect(none.headers.get('www-authenticate')).toContain('insufficient_scope');

    const { secret: paymentsOnly } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'payments', scopes: ['payments:read'] });
    const ledgerTypes = await open(paymentsOnly, '?types=payment.captured,journal_entry.posted');
    if (ledgerTypes.stream) throw new Error('a payments key opened a stream of journal entries');
    expect([ledgerTypes.status, ledgerTypes.problem.details]).toEqual([403, { requiredScope: 'ledger:read' }]);

    const unknownType = await open(app.apiKey, '?types=journal_entry.deleted');
    expect(unknownType.stream ? 200 : [unknownType.status, unknownType.problem.code]).toEqual([400, 'VALIDATION_FAILED']);
    const unknownParameter = await open(app.apiKey, '?after=1');
    expect(unknownParameter.stream ? 200 : [unknownParameter.status, (unknownParameter.problem.details as { field: string }).field]).toEqual([400, 'after']);
    const pastTheEnd = await open(app.apiKey, '', { 'Last-Event-ID': '999999' });
    expect(pastTheEnd.stream ? 200 : [pastTheEnd.status, (pastTheEnd.problem.details as { field: string }).field]).toEqual([400, 'Last-Event-ID']);
  });

  it('delivers a journal entry posted over REST, only to its tenant and to credentials that read its area, and resumes after a drop with Last-Event-ID with nothing lost or repeated', async () => {
    const services = app.runtime.services;
    const client = await openOk(app.apiKey);
    expect(client.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect([client.headers.get('cache-control'), client.headers.get('x-accel-buffering'), client.retryMs]).toEqual(['no-store', 'no', 3000]);
    const otherClient = await openOk(other.apiKey);
    const { secret: paymentsOnly } = await services.auth.createApiKey(app.tenantId, { name: 'payments', scopes: ['payments:read'] });
    const paymentsClient = await openOk(paymentsOnly);

    const first = await postEntry('10.00');
    const [, posted] = await client.take(2);
    expect([posted.event, Number(posted.id)]).toEqual(['journal_entry.posted', Number(client.events[0].id) + 1]);
    const body = JSON.parse(posted.data);
    expect(body).toMatchObject({ type: 'journal_entry.posted', tenantId: app.tenantId, data: { journalEntry: { id: first } } });
    expect(body.id).toMatch(/^evt_/);

    // The client drops; two entries are posted while it is away; it comes back with the last id it saw.
    const lastSeen = client.lastEventId;
    await client.close();
    const missed = [await postEntry('11.00'), await postEntry('12.00')];
    const resumed = await openOk(app.apiKey, '', { 'Last-Event-ID': lastSeen });
    expect(resumed.events[0]).toMatchObject({ event: 'ready', id: lastSeen });
    const caughtUp = (await resumed.take(3)).slice(1);
    expect(caughtUp.map((event) => JSON.parse(event.data).data.journalEntry.id)).toEqual(missed);
    // Then live again, with no gap or repeat at the switch-over.
    const later = await postEntry('13.00');
    const [live] = (await resumed.take(4)).slice(3);
    expect(JSON.parse(live.data).data.journalEntry.id).toBe(later);
    const ids = resumed.feedEvents.map((event) => Number(event.id));
    expect(ids).toEqual([Number(lastSeen) + 1, Number(lastSeen) + 2, Number(lastSeen) + 3]);
    // What the stream sends is what /v1/openapi.json describes.
    const invalid = await streamDataValidator(origin);
    expect(resumed.events.map((event) => invalid(event.event === 'ready' ? 'StreamReady' : 'DomainStreamEvent', event.data))).toEqual(resumed.events.map(() => null));

    // The lastEventId parameter resumes as the header does, filtered by type.
    const byQuery = await openOk(app.apiKey, `?lastEventId=${lastSeen}&types=journal_entry.posted`);
    expect((await byQuery.take(4)).slice(1).map((event) => JSON.parse(event.data).data.journalEntry.id)).toEqual([...missed, later]);

    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(resumed.feedEvents).toHaveLength(3);
    expect(otherClient.feedEvents).toEqual([]);
    // A payments:read key sees no journal entries.
    expect(paymentsClient.feedEvents).toEqual([]);

    // Closing the streams leaves nothing listening.
    await Promise.all([resumed.close(), byQuery.close(), otherClient.close(), paymentsClient.close()]);
    const deadline = Date.now() + 5000;
    while (services.pubSub.listenerCount(eventStreamChannel(app.tenantId)) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(services.pubSub.listenerCount(eventStreamChannel(app.tenantId))).toBe(0);
  });

  // SQLite runs one transaction at a time, so no event can commit out of id order there: a MySQL case only.
  if (kind === 'mysql') it('gives an event that commits after a later one a later position, so that resuming after the later one still delivers it', async () => {
    const services = app.runtime.services;
    const stream = await openOk(app.apiKey, '?types=journal_entry.posted');
    // A transaction that stores its event first (the earlier id) and commits last, as a ledger batch waiting on a lock does.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let stored!: () => void;
    const storedFirst = new Promise<void>((resolve) => (stored = resolve));
    const late = runInTransaction(services.dataSource, async (manager) => {
      await services.webhookDeliveries.record(manager, [{ tenantId: app.tenantId, type: 'journal_entry.posted', occurredAt: new Date(), data: { journalEntry: { id: 'je_committed_late' } } }]);
      stored();
      await held;
    });
    await storedFirst;
    const early = await postEntry('20.00');
    const [, earlyEvent] = await stream.take(2);
    expect(JSON.parse(earlyEvent.data).data.journalEntry.id).toBe(early);
    release();
    await late;
    const [, , lateEvent] = await stream.take(3);
    const lateBody = JSON.parse(lateEvent.data);
    expect(lateBody.data.journalEntry.id).toBe('je_committed_late');
    // Its id is the earlier one, its position the later one.
    expect(lateBody.id < JSON.parse(earlyEvent.data).id).toBe(true);
    expect(Number(lateEvent.id)).toBeGreaterThan(Number(earlyEvent.id));

    // A client that had seen the early event and resumes after it gets the late one.
    const resumed = await openOk(app.apiKey, '?types=journal_entry.posted', { 'Last-Event-ID': earlyEvent.id });
    const [, replayed] = await resumed.take(2);
    expect([replayed.id, JSON.parse(replayed.data).data.journalEntry.id]).toEqual([lateEvent.id, 'je_committed_late']);
    await Promise.all([stream.close(), resumed.close()]);
  });
});
