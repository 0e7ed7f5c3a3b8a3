import crypto from 'node:crypto';
import { newId } from '../../src/common/ids';
import { DatabaseUnavailableError } from '../../src/db/transaction';
import { signGatewayEvent } from '../../src/modules/payments/gateway-event-signature';
import { CapturePaymentDocument, TrialBalanceDocument, type TrialBalanceQuery, VoidPaymentDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { type LedgerSnapshot, takeLedgerSnapshot } from '../helpers/ledger-snapshot';
import { authorize, createSimulatorGateway, type PaymentView, readPayment } from '../helpers/payment-fixtures';
import { TestClock } from '../helpers/test-clock';

/**
 * POST /webhooks/gateways/:gatewayId over real HTTP: a gateway's signed dispute events open and close
 * disputes with their journal entries; each event id is applied once however often and however
 * concurrently it arrives; and every request that cannot prove it comes from the gateway (bad, missing
 * or stale signature, another gateway's secret, an unknown or disabled gateway) gets the same 401 and
 * changes nothing.
 */

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

interface EventData {
  gatewayPaymentId: string;
  gatewayDisputeId?: string;
  amountMinor?: string | number;
  feeMinor?: string | number;
  reason?: string;
}

/** Everything an event could change, read through the API and straight from the tables. */
interface Observed {
  payment: PaymentView;
  trialBalance: NonNullable<TrialBalanceQuery['trialBalance']>;
  ledger: LedgerSnapshot;
  gatewayEvents: number;
  disputes: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

describeEachDatabase('gateway events: signed, and applied once', (kind) => {
  const clock = new TestClock();
  let app: TestApp;
  let gateway: { id: string; webhookSecret: string };
  let eventSequence = 0;

  beforeAll(async () => {
    app = await startTestApp(kind, { clock });
    gateway = await createSimulatorGateway(app.client);
  });
  afterAll(async () => {
    await app?.close();
  });

  const nowSeconds = () => Math.floor(clock.now().getTime() / SECOND);
  const nextEventId = () => `evt_${kind}_${++eventSequence}`;
  const bodyOf = (id: string, type: string, data: EventData | Record<string, unknown>) => JSON.stringify({ id, type, data });

  async function post(gatewayId: string, body: string, headers: Record<string, string>): Promise<Answer> {
    const response = await fetch(new URL(`/webhooks/gateways/${encodeURIComponent(gatewayId)}`, app.url), { method: 'POST', headers, body });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, headers: response.headers };
  }

  /** Sends a body signed with `secret` at `timestampSeconds` (now by default). */
  function sendSigned(gatewayId: string, secret: string, body: string, timestampSeconds = nowSeconds()): Promise<Answer> {
    return post(gatewayId, body, { 'content-type': 'application/json', 'reckon-signature': signGatewayEvent(secret, body, timestampSeconds) });
  }

  function sendEvent(id: string, type: string, data: EventData): Promise<Answer> {
    return sendSigned(gateway.id, gateway.webhookSecret, bodyOf(id, type, data));
  }

  async function capturedPayment(amount: string): Promise<PaymentView> {
    const authorized = await authorize(app.client, { amount });
    await app.client.ok(CapturePaymentDocument, { input: { paymentId: authorized.id } });
    return (await readPayment(app.client, authorized.id));
  }

  async function observe(paymentId: string): Promise<Observed> {
    const [{ count: gatewayEvents }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS count FROM gateway_events`);
    const [{ count: disputes }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS count FROM disputes`);
    return {
      payment: (await readPayment(app.client, paymentId)),
      trialBalance: (await app.client.ok(TrialBalanceDocument, {})).trialBalance,
      ledger: await takeLedgerSnapshot(app.runtime.dataSource),
      gatewayEvents: Number(gatewayEvents),
      disputes: Number(disputes),
    };
  }

  /** The trial balance's asOf is the moment of the query; everything else must be the same. */
  function expectUnchanged(before: Observed, after: Observed): void {
    const withoutAsOf = (observed: Observed) => ({ ...observed, trialBalance: { ...observed.trialBalance, asOf: null } });
    expect(withoutAsOf(after)).toEqual(withoutAsOf(before));
  }

  function expectInvalidSignature(answer: Answer): void {
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'invalid signature', requestId: expect.any(String) } });
    expect(answer.headers.get('www-authenticate')).toBe('Reckon-Signature realm="reckon"');
  }

  it('opens a dispute from a signed dispute.opened, then closes it from dispute.won', async () => {
    const payment = await capturedPayment('100.00');
    const entriesBefore = payment.journalEntries.length;
    const opened = await sendEvent(nextEventId(), 'dispute.opened', {
      gatewayPaymentId: payment.gatewayPaymentId as string,
      gatewayDisputeId: 'gdp_won',
      amountMinor: '4000',
      feeMinor: 1500,
      reason: 'fraudulent',
    });
    expect(opened.status).toBe(200);
    expect(opened.body).toEqual({ status: 'applied', paymentId: payment.id });
    expect(opened.headers.get('cache-control')).toBe('no-store');

    const afterOpen = (await readPayment(app.client, payment.id));
    expect(afterOpen.disputedAmount.amount).toBe('40.00');
    expect(afterOpen.disputes).toEqual([
      expect.objectContaining({ status: 'OPEN', gatewayDisputeId: 'gdp_won', amount: expect.objectContaining({ amount: '40.00' }), fee: expect.objectContaining({ amount: '15.00' }) }),
    ]);
    const openedEvent = afterOpen.events[afterOpen.events.length - 1];
    expect(openedEvent).toMatchObject({ type: 'DISPUTE_OPENED', source: 'GATEWAY', detail: 'fraudulent', amount: { amount: '40.00' } });
    // The disputed amount and the dispute fee, each its own entry, both named by the event.
    expect(afterOpen.journalEntries).toHaveLength(entriesBefore + 2);
    expect(openedEvent.journalEntries).toHaveLength(2);
    expect(afterOpen.journalEntries.slice(entriesBefore).every((entry) => entry.status === 'POSTED')).toBe(true);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);

    const won = await sendEvent(nextEventId(), 'dispute.won', { gatewayPaymentId: payment.gatewayPaymentId as string, gatewayDisputeId: 'gdp_won' });
    expect(won.status).toBe(200);
    expect(won.body).toEqual({ status: 'applied', paymentId: payment.id });
    const afterWon = (await readPayment(app.client, payment.id));
    expect(afterWon.disputedAmount.amount).toBe('0.00');
    expect(afterWon.disputeLostAmount.amount).toBe('0.00');
    expect(afterWon.disputes.map((dispute) => dispute.status)).toEqual(['WON']);
    expect(afterWon.events[afterWon.events.length - 1]).toMatchObject({ type: 'DISPUTE_WON', source: 'GATEWAY' });
    expect(afterWon.journalEntries.length).toBeGreaterThan(afterOpen.journalEntries.length);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('answers an event id seen before with duplicate and changes nothing, whatever the body says now', async () => {
    const payment = await capturedPayment('50.00');
    const id = nextEventId();
    const data = { gatewayPaymentId: payment.gatewayPaymentId as string, gatewayDisputeId: 'gdp_dup', amountMinor: 2000, reason: 'duplicate' };
    expect((await sendEvent(id, 'dispute.opened', data)).body).toEqual({ status: 'applied', paymentId: payment.id });
    const before = await observe(payment.id);

    // A gateway's retry: a new timestamp and signature, the same event.
    clock.advance(30 * SECOND);
    const again = await sendEvent(id, 'dispute.opened', data);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'duplicate' });
    // The id is what makes an event the same one: another body under it is not applied either.
    const other = await sendEvent(id, 'dispute.lost', { gatewayPaymentId: payment.gatewayPaymentId as string, gatewayDisputeId: 'gdp_dup' });
    expect(other.body).toEqual({ status: 'duplicate' });

    expectUnchanged(before, await observe(payment.id));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('applies an event sent ten times at once exactly once', async () => {
    const payment = await capturedPayment('70.00');
    const body = bodyOf(nextEventId(), 'dispute.opened', { gatewayPaymentId: payment.gatewayPaymentId as string, gatewayDisputeId: 'gdp_race', feeMinor: '1500' });
    const before = await observe(payment.id);
    const answers = await Promise.all(Array.from({ length: 10 }, () => sendSigned(gateway.id, gateway.webhookSecret, body)));

    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    const statuses = answers.map((answer) => answer.body.status);
    expect(statuses.filter((status) => status === 'applied')).toHaveLength(1);
    expect(statuses.filter((status) => status === 'duplicate')).toHaveLength(9);

    const after = await observe(payment.id);
    expect(after.payment.disputes).toHaveLength(1);
    // No amount given: the whole captured amount is disputed.
    expect(after.payment.disputedAmount.amount).toBe('70.00');
    expect(after.payment.events.filter((event) => event.type === 'DISPUTE_OPENED')).toHaveLength(1);
    expect(after.ledger.journalEntries).toBe(before.ledger.journalEntries + 2);
    expect(after.gatewayEvents).toBe(before.gatewayEvents + 1);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses every request it cannot authenticate with the same 401, and changes nothing', async () => {
    const payment = await capturedPayment('30.00');
    const otherGateway = await createSimulatorGateway(app.client, ['GBP']);
    const otherTenant = await app.createTenant('Other');
    const otherTenantGateway = await createSimulatorGateway(otherTenant.client);
    const disabledGateway = await createSimulatorGateway(app.client, ['CHF']);
    await app.runtime.dataSource.query(`UPDATE payment_gateways SET disabled_at = created_at WHERE id = ?`, [disabledGateway.id]);

    const body = bodyOf(nextEventId(), 'dispute.opened', { gatewayPaymentId: payment.gatewayPaymentId as string, gatewayDisputeId: 'gdp_forged' });
    const json = { 'content-type': 'application/json' };
    const signedAt = (t: number) => ({ ...json, 'reckon-signature': signGatewayEvent(gateway.webhookSecret, body, t) });
    const before = await observe(payment.id);

    const attempts: [string, () => Promise<Answer>][] = [
      ['a made-up signature', () => post(gateway.id, body, { ...json, 'reckon-signature': `t=${nowSeconds()},v1=${crypto.randomBytes(32).toString('hex')}` })],
      ["another gateway's secret", () => sendSigned(gateway.id, otherGateway.webhookSecret, body)],
      ["another tenant's gateway secret", () => sendSigned(gateway.id, otherTenantGateway.webhookSecret, body)],
      ['a tampered body', () => post(gateway.id, body.replace('gdp_forged', 'gdp_forgex'), signedAt(nowSeconds()))],
      ['an amount added to the body', () => post(gateway.id, body.replace('"data":{', '"data":{"amountMinor":"1",'), signedAt(nowSeconds()))],
      ['no signature header', () => post(gateway.id, body, json)],
      ['an empty signature header', () => post(gateway.id, body, { ...json, 'reckon-signature': '' })],
      ['a malformed signature header', () => post(gateway.id, body, { ...json, 'reckon-signature': 'sha256=abc' })],
      ['a timestamp 10 minutes old', () => post(gateway.id, body, signedAt(nowSeconds() - 600))],
      ['a timestamp 10 minutes in the future', () => post(gateway.id, body, signedAt(nowSeconds() + 600))],
      ['an unknown gateway id', () => sendSigned(newId('paymentGateway'), gateway.webhookSecret, body)],
      ['a malformed gateway id', () => sendSigned('gw_123', gateway.webhookSecret, body)],
      ['an id of another kind', () => sendSigned(payment.id, gateway.webhookSecret, body)],
      ['a disabled gateway, signed with its own secret', () => sendSigned(disabledGateway.id, disabledGateway.webhookSecret, body)],
    ];
    for (const [name, attempt] of attempts) {
      const answer = await attempt();
      try {
        expectInvalidSignature(answer);
      } catch (error) {
        throw new Error(`${name}: ${(error as Error).message}`);
      }
    }

    // Signed in time by the gateway's clock, but held back (or replayed) until our clock is past the tolerance.
    const heldBack = signedAt(nowSeconds());
    clock.advance(5 * MINUTE + 2 * SECOND);
    expectInvalidSignature(await post(gateway.id, body, heldBack));

    expectUnchanged(before, await observe(payment.id));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('answers a malformed body with a valid signature with 400, and does not spend its event id', async () => {
    const payment = await capturedPayment('20.00');
    const id = nextEventId();
    const before = await observe(payment.id);
    const bodies = [
      '{"id":',
      '[]',
      bodyOf(id, 'charge.refunded', { gatewayPaymentId: payment.gatewayPaymentId as string }),
      bodyOf(id, 'dispute.opened', { gatewayPaymentId: payment.gatewayPaymentId as string, amountMinor: '12.50' }),
      bodyOf(id, 'dispute.opened', { gatewayPaymentId: payment.gatewayPaymentId as string, amount_minor: '1250' }),
      bodyOf(id, 'dispute.won', { gatewayPaymentId: payment.gatewayPaymentId as string }),
      '',
    ];
    for (const body of bodies) {
      const answer = await sendSigned(gateway.id, gateway.webhookSecret, body);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ error: { code: 'VALIDATION_FAILED', message: expect.any(String), requestId: expect.any(String) } });
    }
    expectUnchanged(before, await observe(payment.id));

    const fixed = await sendEvent(id, 'dispute.opened', { gatewayPaymentId: payment.gatewayPaymentId as string, amountMinor: '1250' });
    expect(fixed.body).toEqual({ status: 'applied', paymentId: payment.id });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('answers 415 to a body that is not JSON and 413 to one over 64 kB, before looking at the signature', async () => {
    const body = bodyOf(nextEventId(), 'dispute.opened', { gatewayPaymentId: 'gp_none' });
    const signature = signGatewayEvent(gateway.webhookSecret, body, nowSeconds());
    const asText = await post(gateway.id, body, { 'content-type': 'text/plain', 'reckon-signature': signature });
    expect(asText.status).toBe(415);
    expect(asText.body).toEqual({ error: { code: 'VALIDATION_FAILED', message: 'Content-Type must be application/json', requestId: expect.any(String) } });
    const asForm = await post(gateway.id, 'id=evt', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(asForm.status).toBe(415);

    const large = bodyOf(nextEventId(), 'dispute.opened', { gatewayPaymentId: 'gp_none', reason: 'r'.repeat(70 * 1024) });
    const tooLarge = await sendSigned(gateway.id, gateway.webhookSecret, large);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toEqual({ error: { code: 'QUERY_TOO_LARGE', message: expect.any(String), requestId: expect.any(String) } });

    // A charset parameter is still JSON.
    const withCharset = await post(gateway.id, body, { 'content-type': 'application/json; charset=utf-8', 'reckon-signature': signature });
    expect(withCharset.body).toEqual({ status: 'ignored', reason: expect.any(String) });
  });

  it('records and ignores an event about a payment it does not know', async () => {
    const id = nextEventId();
    const answer = await sendEvent(id, 'dispute.opened', { gatewayPaymentId: 'gp_never_seen', gatewayDisputeId: 'gdp_x' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ignored', reason: expect.any(String) });
    expect(await sendEvent(id, 'dispute.opened', { gatewayPaymentId: 'gp_never_seen', gatewayDisputeId: 'gdp_x' })).toMatchObject({
      status: 200,
      body: { status: 'duplicate' },
    });
  });

  it("ignores an event sent through another tenant's gateway naming this tenant's payment", async () => {
    const payment = await capturedPayment('25.00');
    const otherTenant = await app.createTenant('Intruder');
    const otherGateway = await createSimulatorGateway(otherTenant.client);
    const before = await observe(payment.id);
    const answer = await sendSigned(
      otherGateway.id,
      otherGateway.webhookSecret,
      bodyOf(nextEventId(), 'dispute.opened', { gatewayPaymentId: payment.gatewayPaymentId as string, gatewayDisputeId: 'gdp_cross' }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ignored', reason: expect.any(String) });
    const after = await observe(payment.id);
    expect(after.gatewayEvents).toBe(before.gatewayEvents + 1);
    expectUnchanged(before, { ...after, gatewayEvents: before.gatewayEvents });
  });

  it('ignores a dispute.opened on a voided payment and opens no dispute', async () => {
    const authorized = await authorize(app.client, { amount: '15.00' });
    await app.client.ok(VoidPaymentDocument, { input: { paymentId: authorized.id } });
    const before = await observe(authorized.id);
    expect(before.payment.status).toBe('VOIDED');

    const answer = await sendEvent(nextEventId(), 'dispute.opened', { gatewayPaymentId: authorized.gatewayPaymentId as string, gatewayDisputeId: 'gdp_void' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'ignored', reason: expect.stringContaining('VOIDED') });

    const after = await observe(authorized.id);
    expect(after.payment.disputes).toEqual([]);
    expect(after.gatewayEvents).toBe(before.gatewayEvents + 1);
    expectUnchanged(before, { ...after, gatewayEvents: before.gatewayEvents });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('answers 503 (retryable) while the database is unavailable, and applies the event when it is sent again', async () => {
    const payment = await capturedPayment('10.00');
    const id = nextEventId();
    const data = { gatewayPaymentId: payment.gatewayPaymentId as string, gatewayDisputeId: 'gdp_outage' };
    const services = app.runtime.services;
    const lost = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });

    const secretLookup = jest.spyOn(services.payments.gateways, 'webhookSecretOf').mockRejectedValueOnce(lost);
    const apply = jest.spyOn(services.payments, 'applyGatewayEvent').mockRejectedValueOnce(new DatabaseUnavailableError());
    try {
      for (const expectedCall of [secretLookup, apply]) {
        const answer = await sendEvent(id, 'dispute.opened', data);
        expect(expectedCall).toHaveBeenCalled();
        expect(answer.status).toBe(503);
        expect(answer.body).toEqual({
          error: { code: 'SERVICE_UNAVAILABLE', message: expect.any(String), retryable: true, requestId: expect.any(String) },
        });
        expect(JSON.stringify(answer.body)).not.toMatch(/ECONNREFUSED|3306|at .*\.ts/);
      }

      // Anything unexpected is masked: no message, no stack.
      apply.mockRejectedValueOnce(new Error('SELECT webhook_secret_ciphertext FROM payment_gateways exploded'));
      const broken = await sendEvent(id, 'dispute.opened', data);
      expect(broken.status).toBe(500);
      expect(broken.body).toEqual({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error', requestId: expect.any(String) } });
    } finally {
      secretLookup.mockRestore();
      apply.mockRestore();
    }

    expect((await sendEvent(id, 'dispute.opened', data)).body).toEqual({ status: 'applied', paymentId: payment.id });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
