import { bootstrap } from './bootstrap';
import { loadConfig } from './config';
import { startServer } from './server/app';

async function main(): Promise<void> {
  const config = loadConfig();
  const runtime = await bootstrap(config);
  const { services, log } = runtime;

  let demoKey: string | undefined;
  if (config.seedDemoTenant && (await services.tenancy.countTenants()) === 0) {
    const tenant = await services.tenancy.createTenant('Demo');
    demoKey = (await services.auth.createApiKey(tenant.id, { name: 'demo' })).secret;
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
      ].join('\n'),
    );
  }

  const shutdown = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    await server.close();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
