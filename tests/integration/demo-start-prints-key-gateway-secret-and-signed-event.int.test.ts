import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildServer, type ChildServer, generateServerKeys, type ServerBuild, startChildServer } from '../helpers/child-server';
import { buildDashboard } from '../helpers/dashboard-build';
import { createTestDatabase, type TestDatabase } from '../helpers/harness';

const run = promisify(execFile);

/**
 * The first start with SEED_DEMO_TENANT prints what a new user needs, once: the API key, the demo
 * gateway's id and webhook secret, where the dashboard is, and commands to try them. The commands are
 * run here exactly as printed (a test card charged with curl, then a dispute event signed by the
 * printed node command) and the printed dashboard address is opened, so the printed text cannot drift
 * from what the server serves and accepts. A second start prints no secret.
 */
describe('the demo start [sqlite]', () => {
  let build: ServerBuild;
  let database: TestDatabase;
  let keys: Record<string, string>;
  let dashboardDirectory: string;
  const servers: ChildServer[] = [];

  const start = async () => {
    const server = await startChildServer({ build, databaseUrl: database.url, keys, env: { SEED_DEMO_TENANT: 'true', LOG_LEVEL: 'info', DASHBOARD_DIR: dashboardDirectory } });
    servers.push(server);
    return server;
  };

  /** The printed text, once the server has written all of it (it prints after it listens). */
  async function printedText(server: ChildServer, lastLine: RegExp): Promise<string> {
    const deadline = Date.now() + 30_000;
    while (!server.lines.some((line) => lastLine.test(line)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    return server.lines.join('\n');
  }

  function exported(text: string, name: string): string {
    const match = new RegExp(`^  export ${name}=(\\S+)$`, 'm').exec(text);
    if (!match) throw new Error(`no "export ${name}=" in:\n${text}`);
    return match[1];
  }

  /** The indented command that ends with the line matching `last` and starts at the line before it starting with `first`, unindented. */
  function command(text: string, first: string, last: RegExp): string {
    const lines = text.split('\n');
    const to = lines.findIndex((line) => last.test(line));
    let from = to;
    while (from >= 0 && !lines[from].startsWith(`  ${first}`)) from -= 1;
    if (from < 0 || to < 0) throw new Error(`no command starting "${first}" in:\n${text}`);
    return lines
      .slice(from, to + 1)
      .map((line) => line.slice(2))
      .join('\n');
  }

  beforeAll(async () => {
    build = buildServer();
    dashboardDirectory = buildDashboard().directory;
    database = await createTestDatabase('sqlite');
    keys = await generateServerKeys();
  });
  afterAll(async () => {
    for (const server of servers) await server.kill();
    await database?.drop();
  });

  it('prints the key and the gateway secret once, with commands that charge a card and send a signed event', async () => {
    const server = await start();
    const text = await printedText(server, /^ {2}' sim_pay_…$/);
    const env = {
      PATH: process.env.PATH,
      RECKON_KEY: exported(text, 'RECKON_KEY'),
      RECKON_GATEWAY: exported(text, 'RECKON_GATEWAY'),
      RECKON_GATEWAY_SECRET: exported(text, 'RECKON_GATEWAY_SECRET'),
    };
    expect(env.RECKON_KEY).toMatch(/^rk_/);
    expect(env.RECKON_GATEWAY).toMatch(/^gw_/);
    expect(env.RECKON_GATEWAY_SECRET).toMatch(/^gwsec_/);

    // The dashboard's address, on this server, answers with the page the key signs in on.
    const dashboardUrl = /^Dashboard: (\S+) \(sign in with the key above\)$/m.exec(text)?.[1];
    expect(dashboardUrl).toBe(`${server.baseUrl}/dashboard`);
    const page = await fetch(dashboardUrl as string);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^text\/html/)]);
    expect(await page.text()).toContain('<div id="app">');

    const charge = await run('sh', ['-c', command(text, 'curl -s', /authorizePayment/)], { env });
    const payment = (JSON.parse(charge.stdout) as { data: { authorizePayment: { payment: { id: string; status: string; gatewayPaymentId: string } } } }).data
      .authorizePayment.payment;
    expect(payment).toMatchObject({ status: 'CAPTURED', gatewayPaymentId: expect.stringMatching(/^sim_pay_/) });

    const sendEvent = command(text, "node -e '", /^ {2}' sim_pay_…$/).replace(/sim_pay_…$/, payment.gatewayPaymentId);
    const sent = await run('sh', ['-c', sendEvent], { env });
    expect(sent.stdout.trim()).toBe(`200 {"status":"applied","paymentId":"${payment.id}"}`);

    // The secrets are shown once: the next start on the same database prints neither.
    await server.kill();
    const again = await start();
    const secondText = await printedText(again, /Reckon is listening/);
    expect(secondText).toContain('Reckon is listening');
    expect(secondText).not.toContain(env.RECKON_KEY);
    expect(secondText).not.toContain(env.RECKON_GATEWAY_SECRET);
  });
});
