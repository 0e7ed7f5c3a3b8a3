import { AppError, ErrorCode } from '../../src/common/errors';
import { normaliseWebhookEvents, normaliseWebhookUrl, WEBHOOK_LIMITS } from '../../src/modules/webhooks/webhook-rules';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(ErrorCode.VALIDATION_FAILED);
    return (error as AppError).message;
  }
  throw new Error('expected a refusal');
}

describe('normaliseWebhookUrl', () => {
  const development = { allowLoopbackHttp: true };
  const production = { allowLoopbackHttp: false };

  it.each([
    ['https://hooks.example.com/reckon', 'https://hooks.example.com/reckon'],
    ['HTTPS://Hooks.Example.COM:443/reckon?token=AbC', 'https://hooks.example.com/reckon?token=AbC'],
    ['https://hooks.example.com', 'https://hooks.example.com/'],
    ['https://user:pa55@hooks.example.com:8443/x', 'https://user:pa55@hooks.example.com:8443/x'],
    ['http://localhost:3000/hook', 'http://localhost:3000/hook'],
    ['http://127.0.0.1/hook', 'http://127.0.0.1/hook'],
    ['http://[::1]:8080/hook', 'http://[::1]:8080/hook'],
  ])('accepts %s as %s (development)', (raw, normal) => {
    expect(normaliseWebhookUrl(raw, development)).toBe(normal);
  });

  it.each([
    ['', 'characters'],
    [`https://example.com/${'a'.repeat(WEBHOOK_LIMITS.urlLength)}`, 'characters'],
    [' https://example.com/', 'spaces'],
    ['example.com/hook', 'absolute'],
    ['http://example.com/hook', 'https'],
    ['http://localhost.example.com/hook', 'https'],
    ['ftp://example.com/hook', 'https'],
    ['javascript:alert(1)', 'https'],
    ['https://example.com/hook#part', 'fragment'],
  ])('refuses %j', (raw, message) => {
    expect(refusal(() => normaliseWebhookUrl(raw, development))).toContain(message);
  });

  it('refuses http even to localhost in production', () => {
    expect(refusal(() => normaliseWebhookUrl('http://localhost:3000/hook', production))).toContain('https');
    expect(normaliseWebhookUrl('https://localhost:3000/hook', production)).toBe('https://localhost:3000/hook');
  });
});

describe('normaliseWebhookEvents', () => {
  it.each([
    [['journal_entry.posted'], ['journal_entry.posted']],
    [['journal_entry.voided', 'journal_entry.posted', 'journal_entry.voided'], ['journal_entry.posted', 'journal_entry.voided']],
    [['journal_entry.posted', '*'], ['*']],
  ])('accepts %j as %j', (events, normal) => {
    expect(normaliseWebhookEvents(events)).toEqual(normal);
  });

  it.each([
    [[], 'at least one'],
    [['payment.teleported'], 'unknown'],
    [['JOURNAL_ENTRY.POSTED'], 'unknown'],
    [Array.from({ length: WEBHOOK_LIMITS.eventsPerEndpoint + 1 }, () => '*'), 'at most'],
  ])('refuses %j', (events, message) => {
    expect(refusal(() => normaliseWebhookEvents(events))).toContain(message);
  });
});
