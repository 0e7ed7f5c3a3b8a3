import { bootstrap, createLogger } from './bootstrap';
import { loadConfig } from './config';

const USAGE = `Usage:
  npm run reckon -- tenant create "<name>"     create a tenant and print its first API key
  npm run reckon -- key create <tenantId> "<name>"   add an API key to a tenant`;

async function run(args: string[]): Promise<number> {
  const config = loadConfig();
  const [noun, verb, ...rest] = args;
  if (!noun || !verb) {
    console.error(USAGE);
    return 2;
  }
  const runtime = await bootstrap(config, { log: createLogger('warn') });
  try {
    const { tenancy, auth } = runtime.services;
    if (noun === 'tenant' && verb === 'create' && rest.length === 1) {
      const tenant = await tenancy.createTenant(rest[0]);
      const { secret } = await auth.createApiKey(tenant.id, { name: 'first key' });
      console.log(`tenant ${tenant.id} "${tenant.name}"`);
      console.log(`API key (shown once): ${secret}`);
      return 0;
    }
    if (noun === 'key' && verb === 'create' && rest.length === 2) {
      const tenant = await tenancy.getTenant(rest[0]);
      if (!tenant) {
        console.error(`No tenant ${rest[0]}`);
        return 1;
      }
      const { apiKey, secret } = await auth.createApiKey(tenant.id, { name: rest[1] });
      console.log(`key ${apiKey.id} for tenant ${tenant.id}`);
      console.log(`API key (shown once): ${secret}`);
      return 0;
    }
    console.error(USAGE);
    return 2;
  } finally {
    await runtime.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
