import { AppError, ErrorCode } from '../../src/common/errors';
import { parseHttpGatewayCredentials } from '../../src/modules/payments/gateways/http-gateway';
import { GatewayKind } from '../../src/modules/payments/gateways/payment-gateway';

/**
 * HTTP gateway credentials as an administrator enters them: https only (plain http to loopback when
 * allowed), no credentials or query in the URL, a sane secret and timeout, and never the secret quoted
 * back in an error.
 */
const SECRET = 'sk_live_abcdefgh';

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a validation error');
}

describe('parseHttpGatewayCredentials', () => {
  it('accepts https and normalizes the base URL, with a 10 s default timeout', () => {
    expect(parseHttpGatewayCredentials({ baseUrl: 'https://Gateway.Example/v1/', apiSecret: SECRET }, { allowLoopbackHttp: false })).toEqual({
      kind: GatewayKind.HTTP,
      baseUrl: 'https://gateway.example/v1',
      apiSecret: SECRET,
      timeoutMs: 10_000,
    });
    expect(parseHttpGatewayCredentials({ baseUrl: 'https://gateway.example:8443', apiSecret: SECRET, timeoutMs: null }, { allowLoopbackHttp: false })).toMatchObject({
      baseUrl: 'https://gateway.example:8443',
      timeoutMs: 10_000,
    });
  });

  it.each(['http://localhost:8080/gw', 'http://127.0.0.1:9000', 'http://[::1]:9000/v1'])('accepts %s only when loopback http is allowed', (baseUrl) => {
    expect(parseHttpGatewayCredentials({ baseUrl, apiSecret: SECRET }, { allowLoopbackHttp: true }).baseUrl).toBe(baseUrl);
    expect(refusal(() => parseHttpGatewayCredentials({ baseUrl, apiSecret: SECRET }, { allowLoopbackHttp: false })).details).toEqual({ field: 'baseUrl' });
  });

  it.each([
    ['plain http to another host', 'http://gateway.example/v1'],
    ['plain http to a host named like loopback', 'http://localhost.evil.example/v1'],
    ['another scheme', 'ftp://gateway.example/v1'],
    ['a user and password', 'https://user:pass@gateway.example/v1'],
    ['an empty userinfo', 'https://@gateway.example/v1'],
    ['a query', 'https://gateway.example/v1?key=1'],
    ['an empty query', 'https://gateway.example/v1?'],
    ['a fragment', 'https://gateway.example/v1#top'],
    ['not a URL', 'gateway.example/v1'],
    ['spaces', ' https://gateway.example/v1'],
    ['an empty string', ''],
    ['an overlong URL', `https://gateway.example/${'a'.repeat(2100)}`],
  ])('refuses a baseUrl with %s', (_what, baseUrl) => {
    const error = refusal(() => parseHttpGatewayCredentials({ baseUrl, apiSecret: SECRET }, { allowLoopbackHttp: true }));
    expect(error.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(error.details).toEqual({ field: 'baseUrl' });
  });

  it.each([
    ['too short', 'short7!'],
    ['too long', 'x'.repeat(513)],
    ['with a space', 'sk_live abcdefgh'],
    ['with a newline', 'sk_live_abcdefgh\n'],
    ['not ASCII', 'sk_live_abcdéfgh'],
  ])('refuses an apiSecret %s, without quoting it', (_what, apiSecret) => {
    const error = refusal(() => parseHttpGatewayCredentials({ baseUrl: 'https://gateway.example', apiSecret }, { allowLoopbackHttp: false }));
    expect(error.details).toEqual({ field: 'apiSecret' });
    expect(error.message).not.toContain(apiSecret.trim().slice(0, 7));
  });

  it('accepts secrets of 8 and 512 characters', () => {
    for (const apiSecret of ['12345678', 'x'.repeat(512)]) {
      expect(parseHttpGatewayCredentials({ baseUrl: 'https://gateway.example', apiSecret }, { allowLoopbackHttp: false }).apiSecret).toBe(apiSecret);
    }
  });

  it.each([99, 60_001, 1500.5, Number.NaN, -1])('refuses a timeoutMs of %s', (timeoutMs) => {
    const error = refusal(() => parseHttpGatewayCredentials({ baseUrl: 'https://gateway.example', apiSecret: SECRET, timeoutMs }, { allowLoopbackHttp: false }));
    expect(error.details).toMatchObject({ field: 'timeoutMs' });
  });

  it.each([100, 60_000])('accepts a timeoutMs of %s', (timeoutMs) => {
    expect(parseHttpGatewayCredentials({ baseUrl: 'https://gateway.example', apiSecret: SECRET, timeoutMs }, { allowLoopbackHttp: false }).timeoutMs).toBe(timeoutMs);
  });
});
