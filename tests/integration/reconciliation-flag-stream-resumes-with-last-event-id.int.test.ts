import { flagEventChannel } from '../../src/modules/reconciliation/reconciliation-flags.events';
import { ImportBankStatementDocument } from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { originOf } from '../helpers/rest-client';
import { streamDataValidator } from '../helpers/sse-schemas';
import { SseStream, SuiteStreams } from '../helpers/sse-stream';
import { createBankAccount } from '../helpers/statement-fixtures';

/**
 * GET /v1/reconciliation-flags/stream, the Server-Sent Events form of reconciliationFlagUpdated: an
 * auditor's stream receives its tenant's flag steps as statements raise them, never another
 * tenant's; a client that drops and reconnects with Last-Event-ID gets every step it missed, once,
 * then the live ones; refusals are problem+json; and a closed stream leaves nothing listening.
 */

/** An MT940 statement whose lines the books lack (each raises UNMATCHED_STATEMENT_LINE: their dates are long past). */
function statementOf(reference: string, iban: string, amounts: readonly string[]): string {
  const opening = 1000;
  const lines = amounts.flatMap((amount, index) => [`:61:2601${String(5 + index).padStart(2, '0')}0105C${amount.replace('.', ',')}NTRFNONREF//${reference}${index}`, `:86:Unknown sender ${index}`]);
  const closing = amounts.reduce((sum, amount) => sum + Number(amount), opening).toFixed(2).replace('.', ',');
  return [`:20:${reference}`, `:25:${iban}`, ':28C:1/1', ':60F:C260101EUR1000,00', ...lines, `:62F:C260131EUR${closing}`, ''].join('\n');
}

describeEachDatabase('The reconciliation flag stream over SSE', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let bankAccountId: string;
  let iban: string;
  const streams = new SuiteStreams(() => `${origin}/v1/reconciliation-flags/stream`);
  const open = streams.open.bind(streams);
  const openOk = streams.openOk.bind(streams);
  let origin: string;

  beforeAll(async () => {
    // Streams re-check their credential as often as WebSockets do: quickly here, so a revocation shows fast.
    app = await startTestApp(kind, { env: { WS_CREDENTIAL_CHECK_INTERVAL_MS: '200' } });
    origin = originOf(app.url);
    other = await app.createTenant('Other');
    iban = 'DE14740618130000033626';
    bankAccountId = (await createBankAccount(app.client, { iban, currency: 'EUR' })).id;
  }, 60_000);

  afterAll(async () => {
    await streams.closeAll();
    await app?.close();
  });

  async function importStatement(client: GraphQLClient, reference: string, amounts: readonly string[]) {
    const { importBankStatement } = await client.ok(ImportBankStatementDocument, {
      input: { bankAccountId, format: 'MT940', content: statementOf(reference, iban, amounts) },
    });
    expect(importBankStatement.importedLineCount).toBe(amounts.length);
  }

  /** The tenant's flag steps after a position, from the flags' history: what the stream must deliver. */
  function stepsAfter(tenantId: string, after: number) {
    return app.runtime.services.reconciliationFlags.eventsAfter(tenantId, after, 1000);
  }

  it('refuses without credentials (401), without reconciliation:read (403), and unknown parameters or a bad Last-Event-ID (400), as problem+json', async () => {
    const anonymous = await open(null);
    expect(anonymous.stream).toBeNull();
    if (anonymous.stream) return;
    expect([anonymous.status, anonymous.headers.get('content-type'), anonymous.problem.code]).toEqual([401, 'application/problem+json; charset=utf-8', 'UNAUTHENTICATED']);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="reckon"');

    const { secret: ledgerOnly } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'ledger reader', scopes: ['ledger:read'] });
    const forbidden = await open(ledgerOnly);
    if (forbidden.stream) throw new Error('a key without reconciliation:read opened the stream');
    expect([forbidden.status, forbidden.problem.code, forbidden.problem.details]).toEqual([403, 'FORBIDDEN', { requiredScope: 'reconciliation:read' }]);
    expect(forbidden.headers.get('www-authenticate')).toContain('insufficient_scope');

    const unknown = await open(app.apiKey, '?since=3');
    if (unknown.stream) throw new Error('an unknown parameter was accepted');
    expect([unknown.status, unknown.problem.code, (unknown.problem.details as { field: string }).field]).toEqual([400, 'VALIDATION_FAILED', 'since']);
    const badId = await open(app.apiKey, '', { 'Last-Event-ID': 'abc' });
    if (badId.stream) throw new Error('a bad Last-Event-ID was accepted');
    expect([badId.status, (badId.problem.details as { field: string }).field]).toEqual([400, 'Last-Event-ID']);
    const pastTheEnd = await open(app.apiKey, '', { 'Last-Event-ID': '999999' });
    expect(pastTheEnd.stream ? 200 : pastTheEnd.status).toBe(400);
    const url = `${origin}/v1/reconciliation-flags/stream`;
    const head = await fetch(url, { method: 'HEAD', headers: { Authorization: `Bearer ${app.apiKey}` } });
    expect([head.status, head.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);
    const post = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${app.apiKey}` } });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    const otherTenantsAccount = await open(other.apiKey, `?bankAccountId=${bankAccountId}`);
    expect(otherTenantsAccount.stream ? 200 : [otherTenantsAccount.status, otherTenantsAccount.problem.code]).toEqual([404, 'NOT_FOUND']);
  });

  it('delivers the tenant’s flag steps live, never another tenant’s, and resumes after a drop with Last-Event-ID with nothing lost or repeated', async () => {
    const services = app.runtime.services;
    const auditor = await openOk(app.apiKey);
    expect(auditor.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(auditor.headers.get('cache-control')).toBe('no-store');
    expect(auditor.headers.get('x-accel-buffering')).toBe('no');
    expect(auditor.retryMs).toBe(3000);
    const [ready] = auditor.events;
    const start = Number(ready.id);
    expect([ready.event, JSON.parse(ready.data)]).toEqual(['ready', { lastEventId: ready.id }]);
    const otherAuditor = await openOk(other.apiKey);

    await importStatement(app.client, 'SSE1', ['11.00', '12.00']);
    const first = await stepsAfter(app.tenantId, start);
    expect(first.length).toBeGreaterThanOrEqual(2);
    const live = (await auditor.take(1 + first.length)).slice(1);
    expect(live.map((event) => [event.event, event.id])).toEqual(first.map((step) => [`reconciliation_flag.${step.action.toLowerCase()}`, String(step.sequence)]));
    expect(JSON.parse(live[0].data)).toMatchObject({ sequence: String(first[0].sequence), flagId: first[0].flagId, kind: first[0].kind, statusTo: 'OPEN', bankAccountId });

    // The client drops; more flags are raised (and one acknowledged) while it is away; it comes back with the last id it saw.
    const lastSeen = auditor.lastEventId;
    await auditor.close();
    await importStatement(app.client, 'SSE2', ['13.00']);
    await services.reconciliationFlags.acknowledge(app.tenantId, null, { flagId: first[0].flagId, note: 'looking' });
    const missed = await stepsAfter(app.tenantId, Number(lastSeen));
    expect(missed.map((step) => step.action)).toEqual(expect.arrayContaining(['RAISED', 'ACKNOWLEDGED']));

    const resumed = await openOk(app.apiKey, '', { 'Last-Event-ID': lastSeen });
    expect(resumed.events[0]).toMatchObject({ event: 'ready', id: lastSeen });
    const caughtUp = (await resumed.take(1 + missed.length)).slice(1);
    expect(caughtUp.map((event) => event.id)).toEqual(missed.map((step) => String(step.sequence)));
    // Then live again, after the replay, with no gap at the switch-over.
    await importStatement(app.client, 'SSE3', ['14.00']);
    const after = await stepsAfter(app.tenantId, Number(missed.at(-1)!.sequence));
    const liveAgain = (await resumed.take(1 + missed.length + after.length)).slice(1 + missed.length);
    expect(liveAgain.map((event) => event.id)).toEqual(after.map((step) => String(step.sequence)));
    const ids = resumed.feedEvents.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    // What the stream sends is what /v1/openapi.json describes.
    const invalid = await streamDataValidator(origin);
    expect(resumed.events.map((event) => invalid(event.event === 'ready' ? 'StreamReady' : 'ReconciliationFlagStreamEvent', event.data))).toEqual(resumed.events.map(() => null));

    // The lastEventId query parameter resumes as the header does, and the filters mirror the subscription's.
    const raisedOnly = await openOk(app.apiKey, `?lastEventId=${start}&raisedOnly=true&kind=UNMATCHED_STATEMENT_LINE&bankAccountId=${bankAccountId}`);
    const raised = (await stepsAfter(app.tenantId, start)).filter((step) => step.action === 'RAISED' && step.kind === 'UNMATCHED_STATEMENT_LINE');
    const filtered = (await raisedOnly.take(1 + raised.length)).slice(1);
    expect(filtered.map((event) => event.id)).toEqual(raised.map((step) => String(step.sequence)));

    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(otherAuditor.feedEvents).toEqual([]);
    expect(resumed.feedEvents).toHaveLength(missed.length + after.length);

    // Closing the streams leaves nothing listening on the tenant's channel.
    await Promise.all([resumed.close(), raisedOnly.close(), otherAuditor.close()]);
    const deadline = Date.now() + 5000;
    while (services.pubSub.listenerCount(flagEventChannel(app.tenantId)) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(services.pubSub.listenerCount(flagEventChannel(app.tenantId))).toBe(0);
    expect(services.pubSub.listenerCount(flagEventChannel(other.tenantId))).toBe(0);
  });

  it('ends a stream whose key is revoked, and refuses the key when it reconnects', async () => {
    const { apiKey, secret } = await app.runtime.services.auth.createApiKey(app.tenantId, { name: 'revoked while streaming', scopes: ['reconciliation:read'] });
    const stream = await openOk(secret);
    await app.runtime.services.auth.revokeApiKey(app.tenantId, apiKey.id);
    await stream.untilEnded(10_000);
    const again = await open(secret);
    expect({ status: again.stream ? 200 : again.status, code: again.problem?.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('is ended by the server’s shutdown rather than holding it open', async () => {
    // A stream that held the shutdown would hold it for the whole SHUTDOWN_TIMEOUT_MS (10 minutes), past this test's time limit.
    const shortLived = await startTestApp(kind, { env: { SHUTDOWN_TIMEOUT_MS: '600000' } });
    try {
      const opened = await SseStream.open(`${originOf(shortLived.url)}/v1/reconciliation-flags/stream`, { Authorization: `Bearer ${shortLived.apiKey}` });
      if (!opened.stream) throw new Error(JSON.stringify(opened.problem));
      streams.add(opened.stream);
      await opened.stream.take(1);
      await shortLived.server.close();
      await opened.stream.untilEnded();
    } finally {
      await shortLived.runtime.close();
    }
  }, 60_000);
});
