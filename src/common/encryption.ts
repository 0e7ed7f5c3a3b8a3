import crypto from 'node:crypto';

/**
 * Field encryption for sensitive columns (bank account numbers, emails, tax ids, secrets).
 *
 * AES-256-GCM with a random 96-bit IV per value. The key id travels in the ciphertext so that keys can
 * rotate: the first key of the ring encrypts, every key decrypts. The additional authenticated data
 * binds a ciphertext to its table, column and tenant, so a value copied into another row, column or
 * tenant fails to decrypt instead of leaking. Lookups use a keyed HMAC "blind index" of the value,
 * never the ciphertext (which is different every time).
 */

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** Where a value lives: part of the authenticated data of its ciphertext and of its blind index. */
export interface FieldContext {
  table: string;
  column: string;
  tenantId: string;
}

const FORMAT_VERSION = 'v1';
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

function aadOf(context: FieldContext): Buffer {
  return Buffer.from(JSON.stringify([FORMAT_VERSION, context.table, context.column, context.tenantId]), 'utf8');
}

/**
 * Parses `ENCRYPTION_KEYS`: comma-separated `id:base64` pairs, each key 32 bytes. The first encrypts.
 */
export function parseEncryptionKeys(value: string, variable = 'ENCRYPTION_KEYS'): EncryptionKey[] {
  const keys = value
    .split(',')
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const separator = pair.indexOf(':');
      const id = pair.slice(0, separator);
      const key = Buffer.from(pair.slice(separator + 1), 'base64');
      if (separator < 1 || !KEY_ID_PATTERN.test(id)) throw new Error(`${variable}: key ids are 1-32 letters, digits, _ or -`);
      if (key.length !== 32) throw new Error(`${variable}: key "${id}" must be 32 bytes of base64, got ${key.length}`);
      return { id, key };
    });
  if (keys.length === 0) throw new Error(`${variable} must hold at least one id:base64 key`);
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error(`${variable}: key ids must be unique`);
  return keys;
}

export function formatEncryptionKeys(keys: EncryptionKey[]): string {
  return keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');
}

export class FieldCipher {
  private readonly byId: Map<string, Buffer>;

  constructor(
    private readonly keys: EncryptionKey[],
    private readonly blindIndexKey: Buffer,
  ) {
    if (keys.length === 0) throw new Error('FieldCipher needs at least one key');
    if (blindIndexKey.length < 32) throw new Error('The blind index key must be at least 32 bytes');
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get currentKeyId(): string {
    return this.keys[0].id;
  }

  /** `v1.<keyId>.<iv>.<ciphertext>.<tag>`, base64url parts. */
  encrypt(plaintext: string, context: FieldContext): string {
    const { id, key } = this.keys[0];
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aadOf(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT_VERSION, id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  decrypt(ciphertext: string, context: FieldContext): string {
    const parts = ciphertext.split('.');
    if (parts.length !== 5 || parts[0] !== FORMAT_VERSION) throw new DecryptionError('Not a Reckon ciphertext');
    const [, keyId, iv, body, tag] = parts;
    const key = this.byId.get(keyId);
    if (!key) throw new DecryptionError(`No key "${keyId}" in the key ring`);
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(aadOf(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new DecryptionError('Ciphertext failed authentication (wrong key, row, column or tenant)');
    }
  }

  /** How every ciphertext under the newest key starts, for finding stale ones in SQL. */
  get currentCiphertextPrefix(): string {
    return `${FORMAT_VERSION}.${this.currentKeyId}.`;
  }

  keyIdOf(ciphertext: string): string | undefined {
    const parts = ciphertext.split('.');
    return parts.length === 5 ? parts[1] : undefined;
  }

  /** True when the value is not under the newest key and should be re-encrypted. */
  needsReencryption(ciphertext: string): boolean {
    return this.keyIdOf(ciphertext) !== this.currentKeyId;
  }

  /**
   * A keyed HMAC of a normalised value, for equality lookups and unique indexes on encrypted columns.
   * Scoped like the ciphertext, so equal values in two tenants do not share an index.
   */
  blindIndex(value: string, context: FieldContext, normalise: (v: string) => string = (v) => v): string {
    return crypto
      .createHmac('sha256', this.blindIndexKey)
      .update(JSON.stringify([context.table, context.column, context.tenantId, normalise(value)]))
      .digest('hex');
  }
}

export function generateEncryptionKey(id: string): EncryptionKey {
  return { id, key: crypto.randomBytes(32) };
}
