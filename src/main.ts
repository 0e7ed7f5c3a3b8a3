import { bootstrap } from './bootstrap';
import { loadConfig } from './config';
import { startServer } from './server/app';
import { createDemoTenant, DEMO_GATEWAY_CURRENCIES, signedEventExample } from './services/demo-tenant';

async function main(): Promise<void> {
  const config = loadConfig();
  const runtime = await bootstrap(config);
  const { services, log } = runtime;

  // A gateway and the chart of accounts from the start, so that a first payment works at once.
  const demo = config.seedDemoTenant && (await services.tenancy.countTenants()) === 0 ? await createDemoTenant(services, 'Demo') : undefined;

  const server = await startServer({ services, log, config }, config.port, config.host);
  const database = config.databaseUrl.startsWith('sqlite:') ? config.databaseUrl : config.databaseUrl.replace(/\/\/[^@]*@/, '//***@');
  log.info({ url: server.url, database }, 'Reckon is listening');
  if (demo) {
    // Printed once, on the first start: the key is stored only as a hash, the webhook secret encrypted.
    process.stdout.write(
      [
        '',
        `Reckon is running at ${server.url} on ${database}`,
        'A demo tenant was created. Its API key (shown only now):',
        '',
        `  export RECKON_KEY=${demo.apiKey}`,
        '',
        'Try it:',
        `  curl -s ${server.url} -H "Authorization: Bearer $RECKON_KEY" -H 'Content-Type: application/json' \\`,
        `    -d '{"query":"{ me { tenant { id name } } }"}'`,
        '',
        `It has a simulator payment gateway (${DEMO_GATEWAY_CURRENCIES.join(', ')}) with its default chart of accounts; charge a test card:`,
        `  curl -s ${server.url} -H "Authorization: Bearer $RECKON_KEY" -H 'Content-Type: application/json' \\`,
        `    -d '{"query":"mutation { authorizePayment(input: {amount: \\"12.50\\", currency: \\"USD\\", paymentToken: \\"tok_approve\\", capture: true}) { payment { id status gatewayPaymentId } } }"}'`,
        '',
        "The gateway's inbound events (disputes) are signed with its webhook secret (shown only now):",
        '',
        `  export RECKON_GATEWAY=${demo.gateway.id}`,
        `  export RECKON_GATEWAY_SECRET=${demo.webhookSecret}`,
        '',
        'Send it a signed dispute.opened for the payment above (put its gatewayPaymentId for sim_pay_…):',
        ...signedEventExample(new URL(server.url).origin).map((line) => `  ${line}`),
        '',
      ].join('\n'),
    );
  }

  // Graceful shutdown: SHUTDOWN_TIMEOUT_MS bounds all of it; a second signal or the timeout exits at once.
  let shuttingDown = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    const deadline = Date.now() + config.shutdownTimeoutMs;
    log.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutdown: started');
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
      exitOnceLogsAreWritten(inTime ? 0 : 1);
    } catch (error) {
      log.error({ err: error }, 'shutdown: failed');
      exitOnceLogsAreWritten(1);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      log.warn({ signal }, 'shutdown: second signal; exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * Ends the process after the log lines already written reach stdout, in their order. pino writes
 * stdout asynchronously; when the pipe is full (a slow reader) a write waits to be retried, and
 * process.exit()'s synchronous flush would write the later lines first (CI saw "shutdown: complete"
 * before "audit events written"). Everything is closed by now, so the event loop ends on its own once
 * the writes are done; the unref'd timer is a backstop for a handle something forgot to close.
 */
function exitOnceLogsAreWritten(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
