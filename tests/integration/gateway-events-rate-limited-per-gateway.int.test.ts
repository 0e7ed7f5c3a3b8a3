import { signGatewayEvent } from '../../src/modules/payments/gateway-event-signature';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createSimulatorGateway } from '../helpers/payment-fixtures';

/**
 * The inbound gateway route has no credential, so RATE_LIMIT_PER_SECOND applies per gateway id: a
 * burst for one gateway is answered 429 with Retry-After past the limit (before any lookup), and
 * another gateway is not held back by it.
 */
describeEachDatabase('gateway events: limited per gateway', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    // Ten at once against three a second: even a burst that straddles two seconds has four refused.
    app = await startTestApp(kind, { env: { RATE_LIMIT_PER_SECOND: '3' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  async function send(gateway: { id: string; webhookSecret: string }, eventId: string): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
    const body = JSON.stringify({ id: eventId, type: 'dispute.opened', data: { gatewayPaymentId: 'sim_pay_unknown' } });
    const signature = signGatewayEvent(gateway.webhookSecret, body, Math.floor(Date.now() / 1000));
    const response = await fetch(new URL(`/webhooks/gateways/${gateway.id}`, app.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'reckon-signature': signature },
      body,
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
  }

  it('answers 429 with Retry-After past the limit, for that gateway only', async () => {
    const first = await createSimulatorGateway(app.client);
    const second = await createSimulatorGateway(app.client);
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => send(first, `evt_burst_${kind}_${i}`)));
    const limited = burst.filter((answer) => answer.status === 429);
    const accepted = burst.filter((answer) => answer.status === 200);
    expect(limited.length + accepted.length).toBe(10);
    expect(limited.length).toBeGreaterThan(0);
    for (const answer of limited) {
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
      expect(answer.body).toMatchObject({ error: { code: 'RATE_LIMITED', retryable: true } });
    }
    // Refused events were not recorded: their ids stay free for the gateway's retry.
    const [{ count }] = await app.runtime.dataSource.query(`SELECT COUNT(*) AS count FROM gateway_events WHERE gateway_id = ?`, [first.id]);
    expect(Number(count)).toBe(accepted.length);
    expect((await send(second, `evt_other_${kind}`)).status).toBe(200);
  });
});
