import { apiKeyPrefixOf, generateApiKey, hashSecret as hashApiKey } from '../../src/modules/auth/api-key-format';
import { allowsScope, parseScopes, Scope } from '../../src/modules/auth/scopes';
import { AppError } from '../../src/common/errors';

describe('API key format', () => {
  it('has a type prefix, a stored prefix and a checksum that catches any changed character', () => {
    const key = generateApiKey();
    expect(key.secret).toMatch(/^rk_[0-9A-Za-z]{12}_[0-9A-Za-z]{46}$/);
    expect(key.secret.startsWith(`${key.prefix}_`)).toBe(true);
    expect(apiKeyPrefixOf(key.secret)).toBe(key.prefix);
    expect(key.secretHash).toBe(hashApiKey(key.secret));
    for (const position of [3, 20, key.secret.length - 1]) {
      const original = key.secret[position];
      const changed = key.secret.slice(0, position) + (original === 'a' ? 'b' : 'a') + key.secret.slice(position + 1);
      expect(apiKeyPrefixOf(changed)).toBeUndefined();
    }
    expect(apiKeyPrefixOf(`${key.secret}x`)).toBeUndefined();
  });
});

describe('scopes', () => {
  const granted = (...scopes: string[]) => new Set(scopes);

  it.each([
    [['admin'], Scope.LEDGER_WRITE, true],
    [['ledger:write'], Scope.LEDGER_READ, true],
    [['ledger:read'], Scope.LEDGER_WRITE, false],
    [['payments:write'], Scope.LEDGER_READ, false],
    [[], Scope.LEDGER_READ, false],
    [['audit:read'], Scope.AUDIT_READ, true],
  ])('%j allows %s: %s', (scopes, required, expected) => {
    expect(allowsScope(granted(...scopes), required)).toBe(expected);
  });

  it('parses lists and space-separated strings, refusing unknown scopes', () => {
    expect(parseScopes('ledger:write ledger:read ledger:read')).toEqual(['ledger:read', 'ledger:write']);
    expect(() => parseScopes(['ledger:read', 'root'])).toThrow(AppError);
  });
});
