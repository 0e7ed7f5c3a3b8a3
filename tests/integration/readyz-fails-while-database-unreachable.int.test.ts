import crypto from 'node:crypto';
import { type ApiBehindProxy, startApiBehindProxy } from '../helpers/api-behind-proxy';
import { describeOnMysql } from '../helpers/harness';
import { parsePrometheusText, valueOf } from '../helpers/prometheus-text';
import { ReconciliationFlagKind } from '../../src/modules/reconciliation/reconciliation.types';

/**
 * What a load balancer and Prometheus see while the API cannot reach its database (a TCP proxy between
 * them refuses every connection): /readyz answers 503 so traffic goes elsewhere, /healthz stays 200 so
 * the process is not restarted for a fault that is not its own, /metrics still answers with the process
 * figures and says the database figures could not be read (absent, not stale); once the database is
 * back, /readyz is 200 again and the figures return, without a restart. SQLite is a file in the process:
 * it cannot become unreachable this way, so this runs on MariaDB only.
 */
const METRICS_TOKEN = crypto.randomBytes(32).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeOnMysql('/readyz while the database is unreachable', () => {
  let setup: ApiBehindProxy;

  beforeAll(async () => {
    setup = await startApiBehindProxy({ dataDirPrefix: 'reckon-readyz-', env: { METRICS_TOKEN, METRICS_DB_READ_INTERVAL_MS: '0' } });
  });
  afterAll(async () => {
    await setup?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(new URL(path, setup.server.url), { headers });
    return { status: response.status, text: await response.text() };
  };
  const scrape = async () => {
    const { status, text } = await get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(status).toBe(200);
    return parsePrometheusText(text);
  };

  /** Polls until the probe answers `want` (the pool notices a dead or revived server within a few tries). */
  async function eventually(path: string, want: number, withinMs = 15_000): Promise<{ status: number; text: string }> {
    const deadline = Date.now() + withinMs;
    let last = await get(path);
    while (last.status !== want && Date.now() < deadline) {
      await sleep(200);
      last = await get(path);
    }
    return last;
  }

  it('answers 503 on /readyz and keeps /healthz and /metrics up during the outage, then recovers by itself', async () => {
    expect(await get('/readyz')).toEqual({ status: 200, text: JSON.stringify({ status: 'ready' }) });
    const before = await scrape();
    expect(valueOf(before, 'reckon_scrape_database_up')).toBe(1);
    expect(before.get('reckon_reconciliation_open_flags')?.samples.length).toBe(Object.keys(ReconciliationFlagKind).length); // one series per kind, zeros included

    await setup.proxy.cut();
    try {
      expect(await eventually('/readyz', 503)).toEqual({ status: 503, text: JSON.stringify({ status: 'database unavailable' }) });
      expect(await get('/healthz')).toEqual({ status: 200, text: JSON.stringify({ status: 'ok' }) });
      const during = await scrape();
      expect(valueOf(during, 'reckon_scrape_database_up')).toBe(0);
      expect(valueOf(during, 'reckon_uptime_seconds')).toBeGreaterThan(0);
      for (const name of ['reckon_reconciliation_open_flags', 'reckon_payments_in_flight', 'reckon_reconciliation_statement_lines', 'reckon_reconciliation_accuracy_ratio']) {
        expect([name, during.get(name)?.samples.length ?? 0]).toEqual([name, 0]);
      }
      // Requests refused for the outage are counted under their code.
      const me = await fetch(setup.server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${setup.fixture.apiKey}` },
        body: JSON.stringify({ query: '{ me { tenant { id } } }' }),
      });
      expect(me.status).toBe(503);
      expect(valueOf(await scrape(), 'reckon_errors_total', { code: 'SERVICE_UNAVAILABLE' })).toBeGreaterThanOrEqual(1);
    } finally {
      await setup.proxy.restore();
    }

    expect(await eventually('/readyz', 200)).toEqual({ status: 200, text: JSON.stringify({ status: 'ready' }) });
    const after = await scrape();
    expect(valueOf(after, 'reckon_scrape_database_up')).toBe(1);
    expect(after.get('reckon_reconciliation_open_flags')?.samples.length).toBe(Object.keys(ReconciliationFlagKind).length);
  });
});
