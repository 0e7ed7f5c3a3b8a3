import crypto from 'node:crypto';
import zlib from 'node:zlib';

/**
 * API keys: `rk_<12 id chars>_<40 secret chars><6 checksum chars>`, all base62.
 *
 * - The `rk_` type prefix and fixed shape let secret scanners find leaked keys by pattern, and the
 *   CRC-32 checksum lets them (and us, before any database lookup) tell a real key from a look-alike.
 * - `rk_<12 id chars>` is the key's prefix: stored in clear, shown in listings, used to find the row.
 * - The whole key is stored only as a SHA-256 hash: the secret has 238 bits of entropy, so a slow hash
 *   would add nothing.
 */
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const API_KEY_PATTERN = /^(rk_[0-9A-Za-z]{12})_([0-9A-Za-z]{40})([0-9A-Za-z]{6})$/;

export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of crypto.randomBytes(length * 2)) {
      // Rejection sampling keeps every character equally likely.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

function checksumOf(body: string): string {
  let value = zlib.crc32(body);
  let out = '';
  for (let i = 0; i < 6; i += 1) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export interface GeneratedApiKey {
  prefix: string;
  secret: string;
  secretHash: string;
}

/** How a whole API key, or an OAuth client secret (as random), is stored: SHA-256, in hex. */
export function hashSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function generateApiKey(): GeneratedApiKey {
  const prefix = `rk_${randomBase62(12)}`;
  const body = `${prefix}_${randomBase62(40)}`;
  const secret = body + checksumOf(body);
  return { prefix, secret, secretHash: hashSecret(secret) };
}

/** Returns the prefix of a well-formed key with a valid checksum, or undefined. */
export function apiKeyPrefixOf(key: string): string | undefined {
  const match = API_KEY_PATTERN.exec(key);
  if (!match) return undefined;
  const body = `${match[1]}_${match[2]}`;
  return checksumOf(body) === match[3] ? match[1] : undefined;
}
