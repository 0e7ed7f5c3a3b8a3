import crypto from 'node:crypto';
import { bootstrap, createLogger, type Runtime } from './bootstrap';
import { formatEncryptionKeys, generateEncryptionKey } from './common/encryption';
import { loadConfig } from './config';
import { reencryptAll } from './db/encrypted-columns';
import { rebuildPeriodTotals } from './modules/ledger/period-totals';
import { createDemoTenant } from './services/demo-tenant';
import { generateSigningKey } from './services/key-material';

const USAGE = `Usage:
  npm run reckon -- tenant list                 list tenants: id, name, created, active API keys (no secrets)
  npm run reckon -- tenant create "<name>" [--with-demo-gateway]
                                                create a tenant and print its first API key; with the flag also a
                                                simulator gateway (USD, EUR) and the default chart of accounts, and
                                                print the gateway id and its webhook secret
  npm run reckon -- key create <tenantId> "<name>"   add an API key to a tenant
  npm run reckon -- keys generate              print new keys (encryption, JWT signing, blind index) for setup and rotation
  npm run reckon -- keys reencrypt [--batch-size N]   re-encrypt every encrypted column under the first key of ENCRYPTION_KEYS
  npm run reckon -- ledger rebuild-checkpoints  recompute the ledger's balance checkpoints from the postings, after
                                                postings were loaded past the API (bulk SQL, a restore)`;

/** Where the CLI reads its settings and writes its answers; tests pass their own. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
}

const processIo: CliIo = {
  env: process.env,
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** New keys to paste into the configuration; touches no database. */
async function generateKeys(io: CliIo): Promise<number> {
  const stamp = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const encryptionKey = generateEncryptionKey(`k${stamp}-${crypto.randomBytes(3).toString('hex')}`);
  io.out('# Encryption key: put it first in ENCRYPTION_KEYS, keep the old keys after it until `keys reencrypt` has run.');
  io.out(formatEncryptionKeys([encryptionKey]));
  io.out('# JWT signing key (private JWK): put it first in the JWT_SIGNING_KEYS array; keep the old one until its tokens expire.');
  io.out(JSON.stringify(await generateSigningKey()));
  io.out('# Blind index key, for a NEW installation only (BLIND_INDEX_KEY): changing it later breaks every lookup on encrypted values.');
  io.out(crypto.randomBytes(32).toString('base64'));
  return 0;
}

/** `[--batch-size N]`, N from 1 to 10000; null when malformed. */
function readBatchSize(options: string[]): number | null {
  if (options.length === 0) return 200;
  if (options.length !== 2 || options[0] !== '--batch-size' || !/^[1-9][0-9]{0,4}$/.test(options[1])) return null;
  const batchSize = Number(options[1]);
  return batchSize <= 10_000 ? batchSize : null;
}

async function reencrypt(runtime: Runtime, batchSize: number, io: CliIo): Promise<number> {
  const { cipher } = runtime.services;
  io.out(`re-encrypting under key ${cipher.currentKeyId} in batches of ${batchSize}`);
  const reports = await reencryptAll(runtime.dataSource, cipher, { batchSize });
  let failures = 0;
  for (const report of reports) {
    io.out(
      `${report.table}: ${report.rowsReencrypted} of ${report.rows} rows re-encrypted (${report.valuesReencrypted} values), ${report.failures.length} failed`,
    );
    for (const failure of report.failures) io.err(`  failed: ${report.table} ${failure.id} ${failure.column}: ${failure.reason}`);
    failures += report.failures.length;
  }
  if (failures) {
    io.err(`${failures} rows could not be decrypted with ENCRYPTION_KEYS and were left as they were: keep the keys they need.`);
    return 1;
  }
  io.out(`done: every encrypted value is under key ${cipher.currentKeyId}; older keys can be removed from ENCRYPTION_KEYS.`);
  return 0;
}

/** `"<name>" [--with-demo-gateway]`, in any order; null when anything else is given. */
function readTenantCreate(options: string[]): { name: string; withDemoGateway: boolean } | null {
  const flags = options.filter((option) => option.startsWith('--'));
  const names = options.filter((option) => !option.startsWith('--'));
  if (names.length !== 1 || flags.some((flag) => flag !== '--with-demo-gateway') || flags.length > 1) return null;
  return { name: names[0], withDemoGateway: flags.length === 1 };
}

async function listTenants(runtime: Runtime, io: CliIo): Promise<number> {
  const tenants = await runtime.services.tenancy.listTenantsWithActiveKeys();
  const rows = [['ID', 'NAME', 'CREATED', 'ACTIVE KEYS'], ...tenants.map((tenant) => [tenant.id, tenant.name, tenant.createdAt.toISOString(), String(tenant.activeKeys)])];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  for (const row of rows) io.out(row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  '));
  if (tenants.length === 0) io.out('(no tenants yet: npm run reckon -- tenant create "<name>")');
  return 0;
}

async function createTenant(runtime: Runtime, name: string, withDemoGateway: boolean, io: CliIo): Promise<number> {
  const { tenancy, auth } = runtime.services;
  if (withDemoGateway) {
    const { tenant, apiKey, gateway, webhookSecret } = await createDemoTenant(runtime.services, name);
    io.out(`tenant ${tenant.id} "${tenant.name}"`);
    io.out(`API key (shown once): ${apiKey}`);
    io.out(`gateway ${gateway.id} "${gateway.name}" (${gateway.kind}: ${gateway.currencies.join(', ')}), with the default USD chart of accounts`);
    io.out(`gateway webhook secret (shown once; it signs the gateway's inbound events): ${webhookSecret}`);
    return 0;
  }
  const tenant = await tenancy.createTenant(name);
  const { secret } = await auth.createApiKey(tenant.id, { name: 'first key' });
  io.out(`tenant ${tenant.id} "${tenant.name}"`);
  io.out(`API key (shown once): ${secret}`);
  return 0;
}

/** Runs one CLI command; answers the process's exit code (2: not a command, printed with the usage). */
export async function runCli(args: string[], io: CliIo = processIo): Promise<number> {
  const [noun, verb, ...rest] = args;
  const usage = () => {
    io.err(USAGE);
    return 2;
  };
  if (noun === 'keys' && verb === 'generate' && rest.length === 0) return generateKeys(io);
  const batchSize = noun === 'keys' && verb === 'reencrypt' ? readBatchSize(rest) : null;
  const tenantCreate = noun === 'tenant' && verb === 'create' ? readTenantCreate(rest) : null;
  const known =
    batchSize !== null ||
    tenantCreate !== null ||
    (noun === 'tenant' && verb === 'list' && rest.length === 0) ||
    (noun === 'ledger' && verb === 'rebuild-checkpoints' && rest.length === 0) ||
    (noun === 'key' && verb === 'create' && rest.length === 2 && !rest.some((option) => option.startsWith('--')));
  // Refused before the database is opened: a typo never runs migrations or creates anything.
  if (!known) return usage();

  const config = loadConfig(io.env);
  const runtime = await bootstrap(config, { log: createLogger('warn') });
  try {
    if (batchSize !== null) return await reencrypt(runtime, batchSize, io);
    if (tenantCreate) return await createTenant(runtime, tenantCreate.name, tenantCreate.withDemoGateway, io);
    if (noun === 'tenant') return await listTenants(runtime, io);
    if (noun === 'ledger') {
      await rebuildPeriodTotals(runtime.dataSource);
      io.out('done: balance checkpoints rebuilt from the postings');
      return 0;
    }
    const { tenancy, auth } = runtime.services;
    const tenant = await tenancy.getTenant(rest[0]);
    if (!tenant) {
      io.err(`No tenant ${rest[0]}`);
      return 1;
    }
    const { apiKey, secret } = await auth.createApiKey(tenant.id, { name: rest[1] });
    io.out(`key ${apiKey.id} for tenant ${tenant.id}`);
    io.out(`API key (shown once): ${secret}`);
    return 0;
  } finally {
    await runtime.close();
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
