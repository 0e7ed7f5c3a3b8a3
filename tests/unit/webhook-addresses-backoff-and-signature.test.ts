import { Webhook } from 'standardwebhooks';
import { isRefusedAddress } from '../../src/modules/webhooks/webhook-destinations';
import { retryDelayMs, signWebhook } from '../../src/modules/webhooks/webhook-delivery.worker';

describe('webhook destinations, backoff and signatures', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fd00::1',
    'fc00::1',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::10.0.0.1',
    'not-an-address',
  ])('refuses %s', (address) => {
    expect(isRefusedAddress(address)).toBe(true);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(isRefusedAddress(address)).toBe(false);
  });

  it('waits a random time below base·2^(n−1), capped: full jitter', () => {
    expect(retryDelayMs(1, 1000, 60_000, () => 0.999999)).toBe(999);
    expect(retryDelayMs(3, 1000, 60_000, () => 0.5)).toBe(2000);
    expect(retryDelayMs(30, 1000, 60_000, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(2, 1000, 60_000, () => 0)).toBe(0);
  });

  it('signs as Standard Webhooks verifies, with base64 and older base64url secrets alike', () => {
    const bytes = Buffer.from('0123456789abcdef0123456789abcdef>>??', 'utf8');
    const standard = `whsec_${bytes.toString('base64')}`;
    const older = `whsec_${bytes.toString('base64url')}`;
    const body = '{"id":"evt_1","type":"journal_entry.posted"}';
    const timestamp = Math.floor(Date.now() / 1000);
    for (const secret of [standard, older]) {
      const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(secret, 'evt_1', timestamp, body) };
      expect(new Webhook(standard).verify(body, headers)).toEqual(JSON.parse(body));
    }
  });
});
