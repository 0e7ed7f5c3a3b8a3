import crypto from 'node:crypto';
import { DecryptionError, FieldCipher, generateEncryptionKey, parseEncryptionKeys, formatEncryptionKeys } from '../../src/common/encryption';

const context = { table: 'webhook_endpoints', column: 'secret', tenantId: 'ten_A' };

describe('FieldCipher', () => {
  const oldKey = generateEncryptionKey('k1');
  const newKey = generateEncryptionKey('k2');
  const blind = crypto.randomBytes(32);

  it('round-trips and never repeats a ciphertext', () => {
    const cipher = new FieldCipher([oldKey], blind);
    const a = cipher.encrypt('whsec_123', context);
    const b = cipher.encrypt('whsec_123', context);
    expect(a).not.toEqual(b);
    expect(a).not.toContain('whsec_123');
    expect(cipher.decrypt(a, context)).toBe('whsec_123');
  });

  it.each([
    ['another tenant', { ...context, tenantId: 'ten_B' }],
    ['another column', { ...context, column: 'url' }],
    ['another table', { ...context, table: 'customers' }],
  ])('refuses a ciphertext moved to %s', (_what, moved) => {
    const cipher = new FieldCipher([oldKey], blind);
    expect(() => cipher.decrypt(cipher.encrypt('secret', context), moved)).toThrow(DecryptionError);
  });

  it('refuses a tampered ciphertext', () => {
    const cipher = new FieldCipher([oldKey], blind);
    const parts = cipher.encrypt('secret', context).split('.');
    const body = Buffer.from(parts[3], 'base64url');
    body[0] ^= 1;
    parts[3] = body.toString('base64url');
    expect(() => cipher.decrypt(parts.join('.'), context)).toThrow(DecryptionError);
  });

  it('rotates: the newest key encrypts, old ciphertexts still decrypt and are flagged for re-encryption', () => {
    const before = new FieldCipher([oldKey], blind).encrypt('secret', context);
    const rotated = new FieldCipher([newKey, oldKey], blind);
    expect(rotated.decrypt(before, context)).toBe('secret');
    expect(rotated.needsReencryption(before)).toBe(true);
    const after = rotated.encrypt('secret', context);
    expect(rotated.keyIdOf(after)).toBe('k2');
    expect(rotated.needsReencryption(after)).toBe(false);
    expect(after.startsWith(rotated.currentCiphertextPrefix)).toBe(true);
    expect(before.startsWith(rotated.currentCiphertextPrefix)).toBe(false);
    expect(() => new FieldCipher([newKey], blind).decrypt(before, context)).toThrow(DecryptionError);
  });

  it('blind indexes are stable, keyed and scoped to the tenant', () => {
    const cipher = new FieldCipher([oldKey], blind);
    const lower = (v: string) => v.toLowerCase();
    expect(cipher.blindIndex('A@x.io', context, lower)).toBe(cipher.blindIndex('a@x.io', context, lower));
    expect(cipher.blindIndex('a@x.io', context)).not.toBe(cipher.blindIndex('a@x.io', { ...context, tenantId: 'ten_B' }));
    expect(new FieldCipher([oldKey], crypto.randomBytes(32)).blindIndex('a@x.io', context)).not.toBe(cipher.blindIndex('a@x.io', context));
  });
});

describe('parseEncryptionKeys', () => {
  it('reads id:base64 pairs in order', () => {
    const keys = [generateEncryptionKey('k2'), generateEncryptionKey('k1')];
    expect(parseEncryptionKeys(formatEncryptionKeys(keys)).map((k) => k.id)).toEqual(['k2', 'k1']);
  });

  it.each([
    ['', 'at least one'],
    ['k1:abc', '32 bytes'],
    [':' + crypto.randomBytes(32).toString('base64'), 'key ids'],
    [`k1:${crypto.randomBytes(32).toString('base64')},k1:${crypto.randomBytes(32).toString('base64')}`, 'unique'],
  ])('refuses %j', (value, message) => {
    expect(() => parseEncryptionKeys(value)).toThrow(message);
  });
});
