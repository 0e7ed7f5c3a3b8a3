import { bootstrap } from './bootstrap';
import { loadConfig } from './config';
import { GatewayKind } from './modules/payments/gateways/payment-gateway';
import { startServer } from './server/app';

async function main(): Promise<void> {
  const config = loadConfig();
  const runtime = await bootstrap(config);
  const { services, log } = runtime;

  let demoKey: string | undefined;
  if (config.seedDemoTenant && (await services.tenancy.countTenants()) === 0) {
    const tenant = await services.tenancy.createTenant('Demo');
    demoKey = (await services.auth.createApiKey(tenant.id, { name: 'demo' })).secret;
    // A gateway and the chart of accounts from the start, so that a first payment works at once.
    await services.payments.gateways.createGateway(tenant.id, { name: 'Simulator', kind: GatewayKind.SIMULATOR, currencies: ['USD', 'EUR'] });
    await services.ledger.defaultChartAccounts(tenant.id, 'USD');
  }

  const server = await startServer({ services, log, config }, config.port, config.host);
  const database = config.databaseUrl.startsWith('sqlite:') ? config.databaseUrl : config.databaseUrl.replace(/\/\/[^@]*@/, '//***@');
  log.info({ url: server.url, database }, 'Reckon is listening');
  if (demoKey) {
    // Printed once, on the first start: the key is stored only as a hash.
    process.stdout.write(
      [
        '',
        `Reckon is running at ${server.url} on ${database}`,
        'A demo tenant was created. Its API key (shown only now):',
        '',
        `  export RECKON_KEY=${demoKey}`,
        '',
        'Try it:',
        `  curl -s ${server.url} -H "Authorization: Bearer $RECKON_KEY" -H 'Content-Type: application/json' \\`,
        `    -d '{"query":"{ me { tenant { id name } } }"}'`,
        '',
        'It has a simulator payment gateway (USD, EUR) with its default chart of accounts; charge a test card:',
        `  curl -s ${server.url} -H "Authorization: Bearer $RECKON_KEY" -H 'Content-Type: application/json' \\`,
        `    -d '{"query":"mutation { authorizePayment(input: {amount: \\"12.50\\", currency: \\"USD\\", paymentToken: \\"tok_approve\\", capture: true}) { payment { id status } } }"}'`,
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
      process.exit(inTime ? 0 : 1);
    } catch (error) {
      log.error({ err: error }, 'shutdown: failed');
      process.exit(1);
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

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
