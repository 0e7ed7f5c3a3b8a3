import { Writable } from 'node:stream';
import { createLogger } from '../../src/bootstrap';
import { holdsCardNumber, isLuhnValid, scrubLogLine, scrubSecrets } from '../../src/common/log-redaction';
import { generateApiKey } from '../../src/modules/auth/api-key-format';

/** What one logger call writes, parsed, with the raw line. */
function logged(write: (log: ReturnType<typeof createLogger>) => void): { raw: string; line: Record<string, unknown> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  write(createLogger('trace', sink));
  expect(lines).toHaveLength(1);
  return { raw: lines[0], line: JSON.parse(lines[0]) as Record<string, unknown> };
}

describe('log lines are scrubbed of secrets and card numbers', () => {
  test('the Luhn check: test card numbers pass, a changed digit fails', () => {
    expect(isLuhnValid('4111111111111111')).toBe(true);
    expect(isLuhnValid('5555555555554444')).toBe(true);
    expect(isLuhnValid('378282246310005')).toBe(true);
    expect(isLuhnValid('4111111111111112')).toBe(false);
    // A card number glued to its expiry date is still found; 12 digits are never a card number.
    expect(holdsCardNumber('41111111111111111229')).toBe(true);
    expect(holdsCardNumber('411111111111')).toBe(false);
  });

  test('secrets are recognised by their shape; the public API key prefix stays', () => {
    const key = generateApiKey();
    expect(scrubSecrets(`key ${key.secret} used`)).toBe(`key ${key.prefix}_[Redacted] used`);
    for (const secret of ['rcs_' + 'A1'.repeat(24), 'whsec_abcDEF0123456789-_xyz', 'gwsec_abcDEF0123456789-_xyz', 'bnsec_abcDEF0123456789-_xyz']) {
      expect(scrubSecrets(`x ${secret} y`)).toBe(`x ${secret.split('_')[0]}_[Redacted] y`);
    }
    expect(scrubSecrets('token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjbGkifQ.c2lnbmF0dXJl end')).toBe('token [Redacted] end');
    expect(scrubSecrets('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer [Redacted]');
    expect(scrubSecrets('paid with 4111 1111 1111 1111 or 5555-5555-5555-4444')).toBe('paid with [Redacted] or [Redacted]');
    // Ids, times, amounts and short numbers stay as they are.
    const ordinary = 'pay_01JEXAMPLEABCDEFGHJKMNPQRS at 2026-12-07T08:31:00.123Z for 1234567.89 USD, 12 items, port 3306';
    expect(scrubSecrets(ordinary)).toBe(ordinary);
  });

  test('a scrubbed line is still the same JSON, bare numbers included', () => {
    const line = JSON.stringify({ a: 'card 4111111111111111', n: 4111111111111111, m: -5555555555554444, ok: 1234, f: 12.5, s: 'say "4111 1111 1111 1111"\n' });
    const scrubbed = JSON.parse(scrubLogLine(line)) as Record<string, unknown>;
    expect(scrubbed).toEqual({ a: 'card [Redacted]', n: '[Redacted]', m: '[Redacted]', ok: 1234, f: 12.5, s: 'say "[Redacted]"\n' });
  });

  test('the logger redacts secret-named keys, scrubs every value and drops statement values from errors', () => {
    const key = generateApiKey();
    const { raw, line } = logged((log) =>
      log.child({ requestId: '4111111111111111' }).info({ authorization: `Bearer ${key.secret}`, input: { paymentToken: 'tok_visa', note: `key ${key.secret}` } }, 'hello'),
    );
    expect(raw).not.toContain(key.secret);
    expect(raw).not.toContain('tok_visa');
    expect(line).toMatchObject({ requestId: '[Redacted]', authorization: '[Redacted]', input: { paymentToken: '[Redacted]', note: `key ${key.prefix}_[Redacted]` }, msg: 'hello' });

    const failure = Object.assign(new Error('Duplicate entry for 5555555555554444'), {
      sql: "INSERT INTO t VALUES ('5555555555554444', 'secret value')",
      parameters: ['secret value'],
      driverError: Object.assign(new Error('inner'), { sql: 'INSERT … secret value', errno: 1062 }),
    });
    const details = { parameters: ['kept in the application'] };
    const { raw: errorRaw, line: errorLine } = logged((log) => log.error({ err: failure, details }, 'boom'));
    expect(errorRaw).not.toContain('secret value');
    expect(errorRaw).not.toContain('5555555555554444');
    expect(errorLine.err).toMatchObject({ type: 'Error', message: 'Duplicate entry for [Redacted]', stack: expect.stringContaining('Error: Duplicate entry') });
    expect((errorLine.err as { driverError: Record<string, unknown> }).driverError).toMatchObject({ errno: 1062 });
    // The logged objects themselves are never changed.
    expect(failure.parameters).toEqual(['secret value']);
    expect(details.parameters).toEqual(['kept in the application']);
  });
});
