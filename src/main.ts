import cluster from 'node:cluster';
import { bootstrap, createLogger } from './bootstrap';
import { exitOnceLogsAreWritten, isShutdownRequest, listeningMessage, runClusterPrimary, shutdownCompleteMessage } from './cluster';
import { type Config, loadConfig } from './config';
import { startServer } from './server/app';
import { createDemoTenant, DEMO_GATEWAY_CURRENCIES, type DemoTenant, signedEventExample } from './services/demo-tenant';

async function main(): Promise<void> {
  const config = loadConfig();
  // WEB_CONCURRENCY=1 (the default): this process serves, as it always has. More: this process is the
  // cluster's primary (src/cluster.ts) and each worker it forks runs this file again, as a worker.
  if (config.webConcurrency > 1 && cluster.isPrimary) {
    await runClusterPrimary(config, (url, demo) => printDemoStart(url, shownDatabase(config), demo));
    return;
  }
  await serve(config);
}

/** The API server in this process, until SIGTERM or SIGINT (or, in a cluster worker, the primary's request). */
async function serve(config: Config): Promise<void> {
  const worker = cluster.isWorker ? cluster.worker : undefined;
  // A worker's lines carry its pid and number, so that the workers sharing a port can be told apart.
  const log = worker ? createLogger(config.logLevel).child({ pid: process.pid, worker: worker.id }) : createLogger(config.logLevel);
  // The primary asks for the shutdown by message (a signal of its own would read as the second one when
  // the terminal's Ctrl-C reaches the whole process group). Listened for from the start: a request
  // that comes while the server is starting is kept for later. (A primary that dies takes its workers
  // with it: node:cluster ends a worker at once when its channel to the primary closes.)
  let requestedEarly = false;
  let onShutdownRequest = () => {
    requestedEarly = true;
  };
  if (worker) {
    process.on('message', (message: unknown) => {
      if (isShutdownRequest(message)) onShutdownRequest();
    });
  }

  const runtime = await bootstrap(config, { log });
  const { services } = runtime;

  // A gateway and the chart of accounts from the start, so that a first payment works at once. In a
  // cluster the primary did this once before forking.
  const demo = !worker && config.seedDemoTenant && (await services.tenancy.countTenants()) === 0 ? await createDemoTenant(services, 'Demo') : undefined;

  const server = await startServer({ services, log, config }, config.port, config.host);
  const database = shownDatabase(config);
  log.info({ url: server.url, database }, 'Reckon is listening');
  if (worker) process.send?.(listeningMessage(server.url));
  if (demo) printDemoStart(server.url, database, demo);

  // Graceful shutdown: SHUTDOWN_TIMEOUT_MS bounds all of it; a second signal or the timeout exits at once.
  let shuttingDown = false;
  const shutdown = async (trigger: { signal: NodeJS.Signals } | { requestedBy: 'primary' }) => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    log.info({ ...trigger, timeoutMs: config.shutdownTimeoutMs }, 'shutdown: started');
    const forced = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown: timed out; exiting with work still in flight');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    try {
      await server.close({ deadline });
      await runtime.close({ deadline });
      clearTimeout(forced);
      // Work cut off at the deadline (a request, a queued ledger command) makes it a failed shutdown.
      const inTime = Date.now() <= deadline;
      log.info({ inTime }, 'shutdown: complete');
      if (worker) process.send?.(shutdownCompleteMessage(inTime));
      exitOnceLogsAreWritten(inTime ? 0 : 1);
    } catch (error) {
      log.error({ err: error }, 'shutdown: failed');
      exitOnceLogsAreWritten(1);
    }
  };
  // Signals are counted apart from the primary's request: Ctrl-C (or systemd's stop) signals the whole
  // process group, so a worker gets the signal and the primary's request for the one shutdown, in
  // either order; only a second signal ends it at once.
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'shutdown: second signal; exiting now');
      process.exit(1);
    }
    signalled = true;
    if (shuttingDown) return;
    shuttingDown = true;
    void shutdown({ signal });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  onShutdownRequest = () => {
    if (shuttingDown) return;
    shuttingDown = true;
    void shutdown({ requestedBy: 'primary' });
  };
  if (requestedEarly) onShutdownRequest();
}

/** DATABASE_URL as it may be shown: a MySQL URL without its credentials. */
function shownDatabase(config: Config): string {
  return config.databaseUrl.startsWith('sqlite:') ? config.databaseUrl : config.databaseUrl.replace(/\/\/[^@]*@/, '//***@');
}

/** Printed once, on the first start: the key is stored only as a hash, the webhook secret encrypted. */
function printDemoStart(url: string, database: string, demo: DemoTenant): void {
  process.stdout.write(
    [
      '',
      `Reckon is running at ${url} on ${database}`,
      'A demo tenant was created. Its API key (shown only now):',
      '',
      `  export RECKON_KEY=${demo.apiKey}`,
      '',
      `Dashboard: ${new URL('/dashboard', url).toString()} (sign in with the key above)`,
      '',
      'Try it:',
      `  curl -s ${url} -H "Authorization: Bearer $RECKON_KEY" -H 'Content-Type: application/json' \\`,
      `    -d '{"query":"{ me { tenant { id name } } }"}'`,
      '',
      `It has a simulator payment gateway (${DEMO_GATEWAY_CURRENCIES.join(', ')}) with its default chart of accounts; charge a test card:`,
      `  curl -s ${url} -H "Authorization: Bearer $RECKON_KEY" -H 'Content-Type: application/json' \\`,
      `    -d '{"query":"mutation { authorizePayment(input: {amount: \\"12.50\\", currency: \\"USD\\", paymentToken: \\"tok_approve\\", capture: true}) { payment { id status gatewayPaymentId } } }"}'`,
      '',
      "The gateway's inbound events (disputes) are signed with its webhook secret (shown only now):",
      '',
      `  export RECKON_GATEWAY=${demo.gateway.id}`,
      `  export RECKON_GATEWAY_SECRET=${demo.webhookSecret}`,
      '',
      'Send it a signed dispute.opened for the payment above (put its gatewayPaymentId for sim_pay_…):',
      ...signedEventExample(new URL(url).origin).map((line) => `  ${line}`),
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
