import crypto from 'node:crypto';
import { bootstrap, createLogger, type Runtime } from './bootstrap';
import { formatEncryptionKeys, generateEncryptionKey } from './common/encryption';
import { loadConfig } from './config';
import { reencryptAll } from './db/encrypted-columns';
import { generateSigningKey } from './services/key-material';

const USAGE = `Usage:
  npm run reckon -- tenant create "<name>"     create a tenant and print its first API key
  npm run reckon -- key create <tenantId> "<name>"   add an API key to a tenant
  npm run reckon -- keys generate              print new keys (encryption, JWT signing, blind index) for setup and rotation
  npm run reckon -- keys reencrypt [--batch-size N]   re-encrypt every encrypted column under the first key of ENCRYPTION_KEYS`;

/** New keys to paste into the configuration; touches no database. */
async function generateKeys(): Promise<number> {
  const stamp = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const encryptionKey = generateEncryptionKey(`k${stamp}-${crypto.randomBytes(3).toString('hex')}`);
  console.log('# Encryption key: put it first in ENCRYPTION_KEYS, keep the old keys after it until `keys reencrypt` has run.');
  console.log(formatEncryptionKeys([encryptionKey]));
  console.log('# JWT signing key (private JWK): put it first in the JWT_SIGNING_KEYS array; keep the old one until its tokens expire.');
  console.log(JSON.stringify(await generateSigningKey()));
  console.log('# Blind index key, for a NEW installation only (BLIND_INDEX_KEY): changing it later breaks every lookup on encrypted values.');
  console.log(crypto.randomBytes(32).toString('base64'));
  return 0;
}

/** `[--batch-size N]`, N from 1 to 10000; null when malformed. */
function readBatchSize(options: string[]): number | null {
  if (options.length === 0) return 200;
  if (options.length !== 2 || options[0] !== '--batch-size' || !/^[1-9][0-9]{0,4}$/.test(options[1])) return null;
  const batchSize = Number(options[1]);
  return batchSize <= 10_000 ? batchSize : null;
}

async function reencrypt(runtime: Runtime, batchSize: number): Promise<number> {
  const { cipher } = runtime.services;
  console.log(`re-encrypting under key ${cipher.currentKeyId} in batches of ${batchSize}`);
  const reports = await reencryptAll(runtime.dataSource, cipher, { batchSize });
  let failures = 0;
  for (const report of reports) {
    console.log(
      `${report.table}: ${report.rowsReencrypted} of ${report.rows} rows re-encrypted (${report.valuesReencrypted} values), ${report.failures.length} failed`,
    );
    for (const failure of report.failures) console.error(`  failed: ${report.table} ${failure.id} ${failure.column}: ${failure.reason}`);
    failures += report.failures.length;
  }
  if (failures) {
    console.error(`${failures} rows could not be decrypted with ENCRYPTION_KEYS and were left as they were: keep the keys they need.`);
    return 1;
  }
  console.log(`done: every encrypted value is under key ${cipher.currentKeyId}; older keys can be removed from ENCRYPTION_KEYS.`);
  return 0;
}

async function run(args: string[]): Promise<number> {
  const [noun, verb, ...rest] = args;
  if (!noun || !verb) {
    console.error(USAGE);
    return 2;
  }
  if (noun === 'keys' && verb === 'generate' && rest.length === 0) return generateKeys();
  const batchSize = noun === 'keys' && verb === 'reencrypt' ? readBatchSize(rest) : null;
  if (noun === 'keys' && batchSize === null) {
    console.error(USAGE);
    return 2;
  }
  const config = loadConfig();
  const runtime = await bootstrap(config, { log: createLogger('warn') });
  try {
    const { tenancy, auth } = runtime.services;
    if (batchSize !== null) return await reencrypt(runtime, batchSize);
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
