import fs from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, calculateJwkThumbprint, type JWK } from 'jose';
import { FieldCipher, formatEncryptionKeys, generateEncryptionKey, parseEncryptionKeys } from '../common/encryption';
import type { Config } from '../config';
import { SIGNING_ALGORITHMS } from '../modules/auth/tokens';

/** The private keys the process needs: JWT signing keys and the field-encryption key ring. */
export interface KeyMaterial {
  /** Private JWKs, each with `kid` and `alg`; the first signs, all verify. */
  signingKeys: JWK[];
  cipher: FieldCipher;
}

const SIGNING_KEYS_FILE = 'jwt-signing-keys.json';
const ENCRYPTION_KEYS_FILE = 'encryption-keys.json';

/**
 * Reads keys from configuration. In development, with none configured, generates them once and keeps
 * them under DATA_DIR (readable by the owner only) so that tokens and ciphertexts survive restarts. In
 * production a missing key is a start-up error, never a silently generated one.
 */
export async function loadKeyMaterial(
  config: Pick<Config, 'auth' | 'encryptionKeys' | 'blindIndexKey' | 'dataDir' | 'nodeEnv'>,
): Promise<KeyMaterial> {
  const production = config.nodeEnv === 'production';
  let signingKeysJson = config.auth.jwtSigningKeys;
  if (!signingKeysJson) {
    if (production) throw new Error('JWT_SIGNING_KEYS must be set in production');
    signingKeysJson = await readOrCreate(path.join(config.dataDir, SIGNING_KEYS_FILE), async () =>
      JSON.stringify([await generateSigningKey()], null, 2),
    );
  }
  let encryptionKeys = config.encryptionKeys;
  let blindIndexKey = config.blindIndexKey;
  if (!encryptionKeys || !blindIndexKey) {
    if (production) throw new Error('ENCRYPTION_KEYS and BLIND_INDEX_KEY must be set in production');
    const stored = JSON.parse(
      await readOrCreate(path.join(config.dataDir, ENCRYPTION_KEYS_FILE), async () =>
        JSON.stringify({
          encryptionKeys: formatEncryptionKeys([generateEncryptionKey(`k${Date.now().toString(36)}`)]),
          blindIndexKey: generateEncryptionKey('blind').key.toString('base64'),
        }),
      ),
    ) as { encryptionKeys: string; blindIndexKey: string };
    encryptionKeys ??= stored.encryptionKeys;
    blindIndexKey ??= stored.blindIndexKey;
  }
  return {
    signingKeys: parseSigningKeys(signingKeysJson),
    cipher: new FieldCipher(parseEncryptionKeys(encryptionKeys), decodeBlindIndexKey(blindIndexKey)),
  };
}

function decodeBlindIndexKey(value: string): Buffer {
  const key = Buffer.from(value, 'base64');
  if (key.length < 32) throw new Error('BLIND_INDEX_KEY must be at least 32 bytes of base64');
  return key;
}

export function parseSigningKeys(json: string): JWK[] {
  let keys: unknown;
  try {
    keys = JSON.parse(json);
  } catch {
    throw new Error('JWT_SIGNING_KEYS must be a JSON array of private JWKs');
  }
  if (!Array.isArray(keys) || keys.length === 0) throw new Error('JWT_SIGNING_KEYS must be a non-empty JSON array of private JWKs');
  for (const key of keys as JWK[]) {
    if (!key.kid || !key.d || !SIGNING_ALGORITHMS.includes(String(key.alg))) {
      throw new Error(`Each JWT signing key needs a kid, its private part and alg ${SIGNING_ALGORITHMS.join(' or ')}`);
    }
  }
  return keys as JWK[];
}

/** A new ES256 private JWK with its RFC 7638 thumbprint as kid. */
export async function generateSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, alg: 'ES256', use: 'sig', kid: await calculateJwkThumbprint(jwk) };
}

async function readOrCreate(file: string, create: () => Promise<string>): Promise<string> {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const content = await create();
  try {
    // 'wx': if another process created it meanwhile, keep theirs.
    fs.writeFileSync(file, content, { mode: 0o600, flag: 'wx' });
    return content;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8');
    throw error;
  }
}
