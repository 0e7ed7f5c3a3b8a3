import crypto from 'node:crypto';
import { AppError, ErrorCode } from '../../src/common/errors';
import {
  GATEWAY_SIGNATURE_TOLERANCE_SECONDS,
  parseGatewayEventBody,
  signGatewayEvent,
  verifyGatewayEventSignature,
} from '../../src/modules/payments/gateway-event-signature';

const SECRET = 'gwsec_unit-test-secret';
const OTHER_SECRET = 'gwsec_another-secret';
const BODY = '{"id":"evt_1","type":"dispute.opened","data":{"gatewayPaymentId":"gp_1"}}';
const T = 1_764_400_000;

/** What a gateway computes, written out independently of the module under test. */
function hexSignature(secret: string, body: string, t: number): string {
  return crypto.createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

describe('signGatewayEvent', () => {
  it('writes t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    expect(signGatewayEvent(SECRET, BODY, T)).toBe(`t=${T},v1=${hexSignature(SECRET, BODY, T)}`);
  });

  it('signs bytes and strings alike', () => {
    expect(signGatewayEvent(SECRET, Buffer.from(BODY, 'utf8'), T)).toBe(signGatewayEvent(SECRET, BODY, T));
  });

  it('refuses a timestamp that is not whole unix seconds', () => {
    expect(() => signGatewayEvent(SECRET, BODY, 1.5)).toThrow();
    expect(() => signGatewayEvent(SECRET, BODY, -1)).toThrow();
  });
});

describe('verifyGatewayEventSignature', () => {
  const header = signGatewayEvent(SECRET, BODY, T);
  const verify = (h: string | undefined | null, now = T, body: string | Buffer = BODY, secret = SECRET) => verifyGatewayEventSignature(secret, body, h, now);

  it('accepts its own signature and returns the signed timestamp', () => {
    expect(verify(header)).toEqual({ ok: true, timestampSeconds: T });
    expect(verify(header, T, Buffer.from(BODY))).toEqual({ ok: true, timestampSeconds: T });
  });

  it.each([
    ['exactly the tolerance in the past', T + GATEWAY_SIGNATURE_TOLERANCE_SECONDS, true],
    ['exactly the tolerance in the future', T - GATEWAY_SIGNATURE_TOLERANCE_SECONDS, true],
    ['one second past the tolerance, old', T + GATEWAY_SIGNATURE_TOLERANCE_SECONDS + 1, false],
    ['one second past the tolerance, in the future', T - GATEWAY_SIGNATURE_TOLERANCE_SECONDS - 1, false],
    ['ten minutes old', T + 600, false],
    ['ten minutes in the future', T - 600, false],
    ['a fraction of a second past the tolerance', T + GATEWAY_SIGNATURE_TOLERANCE_SECONDS + 0.5, false],
  ])('a timestamp %s: accepted=%s', (_name, now, accepted) => {
    expect(verify(header, now)).toEqual(accepted ? { ok: true, timestampSeconds: T } : { ok: false, reason: 'timestamp_out_of_tolerance' });
  });

  it('takes a tolerance of its own', () => {
    expect(verifyGatewayEventSignature(SECRET, BODY, header, T + 10, 10).ok).toBe(true);
    expect(verifyGatewayEventSignature(SECRET, BODY, header, T + 11, 10)).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' });
  });

  it('reports a mismatch, not a stale timestamp, for a bad signature that is also old', () => {
    expect(verify(header, T + 3600, BODY, OTHER_SECRET)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('passes when any one of several v1 signatures matches (a secret being rolled)', () => {
    const old = hexSignature(OTHER_SECRET, BODY, T);
    const current = hexSignature(SECRET, BODY, T);
    expect(verify(`t=${T},v1=${old},v1=${current}`).ok).toBe(true);
    expect(verify(`t=${T},v1=${current},v1=${old}`).ok).toBe(true);
    expect(verify(`t=${T}, v1=${old}, v1=${current}`).ok).toBe(true);
    expect(verify(`v1=${old},t=${T},v1=${current}`).ok).toBe(true);
    expect(verify(`t=${T},v1=${old},v1=${old}`)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('skips schemes it does not know, beside a v1 it checks', () => {
    expect(verify(`t=${T},v0=whatever,v1=${hexSignature(SECRET, BODY, T)}`).ok).toBe(true);
    expect(verify(`t=${T},v0=${hexSignature(SECRET, BODY, T)}`)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('accepts the hex digits in upper case', () => {
    expect(verify(`t=${T},v1=${hexSignature(SECRET, BODY, T).toUpperCase()}`).ok).toBe(true);
  });

  it.each([
    ['another secret', { secret: OTHER_SECRET }],
    ['a body changed by one byte', { body: BODY.replace('gp_1', 'gp_2') }],
    ['a body with a space added', { body: `${BODY} ` }],
  ])('reports a mismatch for %s', (_name, change: { secret?: string; body?: string }) => {
    expect(verify(header, T, change.body ?? BODY, change.secret ?? SECRET)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('reports a mismatch when the timestamp was changed after signing', () => {
    const v1 = hexSignature(SECRET, BODY, T);
    expect(verify(`t=${T + 1},v1=${v1}`, T + 1)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it.each([undefined, null, '', '   '])('reports a missing header for %p', (value) => {
    expect(verify(value)).toEqual({ ok: false, reason: 'missing' });
  });

  const v1 = hexSignature(SECRET, BODY, T);
  it.each([
    ['no timestamp', `v1=${v1}`],
    ['no signature', `t=${T}`],
    ['two timestamps', `t=${T},t=${T},v1=${v1}`],
    ['a timestamp that is not a number', `t=abc,v1=${v1}`],
    ['a negative timestamp', `t=-${T},v1=${v1}`],
    ['a timestamp with a fraction', `t=${T}.5,v1=${v1}`],
    ['a timestamp of 13 digits (milliseconds)', `t=${T}000,v1=${v1}`],
    ['non-hex signature', `t=${T},v1=${'z'.repeat(64)}`],
    ['a signature one hex digit short', `t=${T},v1=${v1.slice(1)}`],
    ['a signature one hex digit long', `t=${T},v1=${v1}0`],
    ['a base64 signature', `t=${T},v1=${Buffer.from(v1, 'hex').toString('base64')}`],
    ['an empty signature', `t=${T},v1=`],
    ['an item without "="', `t=${T},v1=${v1},junk`],
    ['an item with an empty key', `t=${T},=${v1}`],
    ['a trailing comma', `t=${T},v1=${v1},`],
    ['more than eight signatures', `t=${T},${Array.from({ length: 9 }, () => `v1=${v1}`).join(',')}`],
    ['a header over 1 KiB', `t=${T},v1=${v1},x=${'a'.repeat(1024)}`],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.e30.signature'],
  ])('reports a malformed header for %s', (_name, value) => {
    expect(verify(value)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('accepts up to eight signatures', () => {
    const others = Array.from({ length: 7 }, (_, i) => `v1=${hexSignature(`gwsec_old_${i}`, BODY, T)}`);
    expect(verify(`t=${T},${others.join(',')},v1=${v1}`).ok).toBe(true);
  });
});

describe('parseGatewayEventBody', () => {
  const valid = { id: 'evt_1', type: 'dispute.opened', data: { gatewayPaymentId: 'gp_1' } };
  const withData = (data: Record<string, unknown>) => ({ ...valid, data: { ...valid.data, ...data } });

  /** The field a refusal names, or fails when the body was accepted or refused some other way. */
  function refusedField(json: unknown): unknown {
    try {
      parseGatewayEventBody(json);
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe(ErrorCode.VALIDATION_FAILED);
      return (error as AppError).details.field;
    }
    throw new Error(`accepted ${JSON.stringify(json)}`);
  }

  it('reads a minimal event', () => {
    expect(parseGatewayEventBody(valid)).toEqual({ id: 'evt_1', type: 'dispute.opened', gatewayPaymentId: 'gp_1' });
  });

  it('reads every field, amounts as bigint from strings and from safe integers', () => {
    const event = parseGatewayEventBody(
      withData({ gatewayDisputeId: 'dp_9', amountMinor: '9223372036854775807', feeMinor: 1500, reason: 'fraudulent' }),
    );
    expect(event).toEqual({
      id: 'evt_1',
      type: 'dispute.opened',
      gatewayPaymentId: 'gp_1',
      gatewayDisputeId: 'dp_9',
      amountMinor: 9223372036854775807n,
      feeMinor: 1500n,
      reason: 'fraudulent',
    });
  });

  it.each(['dispute.opened', 'dispute.won', 'dispute.lost'])('takes the type %s', (type) => {
    expect(parseGatewayEventBody({ ...valid, type, data: { ...valid.data, gatewayDisputeId: 'dp_1' } }).type).toBe(type);
  });

  it('takes null as absent for the optional fields', () => {
    expect(parseGatewayEventBody(withData({ gatewayDisputeId: null, amountMinor: null, feeMinor: null, reason: null }))).toEqual(
      parseGatewayEventBody(valid),
    );
  });

  it('takes a fee of zero but an amount of one at least', () => {
    expect(parseGatewayEventBody(withData({ feeMinor: 0, amountMinor: 1 }))).toMatchObject({ feeMinor: 0n, amountMinor: 1n });
    expect(parseGatewayEventBody(withData({ feeMinor: '0', amountMinor: '1' }))).toMatchObject({ feeMinor: 0n, amountMinor: 1n });
  });

  it('takes an id of 191 printable characters, spaces inside', () => {
    expect(parseGatewayEventBody({ ...valid, id: 'e'.repeat(191) }).id).toHaveLength(191);
    expect(parseGatewayEventBody({ ...valid, id: 'evt 1' }).id).toBe('evt 1');
  });

  it.each([
    ['null', null, 'body'],
    ['an array', [valid], 'body'],
    ['a string', 'evt_1', 'body'],
    ['an unknown top-level field', { ...valid, created: 1 }, 'created'],
    ['no id', { type: valid.type, data: valid.data }, 'id'],
    ['an empty id', { ...valid, id: '' }, 'id'],
    ['an id of 192 characters', { ...valid, id: 'e'.repeat(192) }, 'id'],
    ['a numeric id', { ...valid, id: 42 }, 'id'],
    ['an id with a newline', { ...valid, id: 'evt\n1' }, 'id'],
    ['an id beginning with a space', { ...valid, id: ' evt_1' }, 'id'],
    ['an id with non-ASCII characters', { ...valid, id: 'évt_1' }, 'id'],
    ['an unknown type', { ...valid, type: 'charge.refunded' }, 'type'],
    ['a type in another case', { ...valid, type: 'DISPUTE.OPENED' }, 'type'],
    ['no type', { id: 'evt_1', data: valid.data }, 'type'],
    ['no data', { id: 'evt_1', type: valid.type }, 'data'],
    ['data as an array', { ...valid, data: [] }, 'data'],
    ['an unknown data field', withData({ amount_minor: '100' }), 'data.amount_minor'],
    ['no gatewayPaymentId', { ...valid, data: {} }, 'data.gatewayPaymentId'],
    ['a gatewayPaymentId of 256 characters', withData({ gatewayPaymentId: 'g'.repeat(256) }), 'data.gatewayPaymentId'],
    ['a numeric gatewayPaymentId', withData({ gatewayPaymentId: 7 }), 'data.gatewayPaymentId'],
    ['a gatewayDisputeId that is not a string', withData({ gatewayDisputeId: {} }), 'data.gatewayDisputeId'],
    ['dispute.won without gatewayDisputeId', { ...valid, type: 'dispute.won' }, 'data.gatewayDisputeId'],
    ['dispute.lost without gatewayDisputeId', { ...valid, type: 'dispute.lost' }, 'data.gatewayDisputeId'],
    ['an amount of zero', withData({ amountMinor: 0 }), 'data.amountMinor'],
    ['an amount of "0"', withData({ amountMinor: '0' }), 'data.amountMinor'],
    ['a negative amount', withData({ amountMinor: -5 }), 'data.amountMinor'],
    ['a negative amount string', withData({ amountMinor: '-5' }), 'data.amountMinor'],
    ['an amount with decimals', withData({ amountMinor: 12.5 }), 'data.amountMinor'],
    ['an amount as a decimal string', withData({ amountMinor: '12.50' }), 'data.amountMinor'],
    ['an amount with a sign', withData({ amountMinor: '+5' }), 'data.amountMinor'],
    ['an amount with spaces', withData({ amountMinor: ' 5' }), 'data.amountMinor'],
    ['an amount in exponent notation', withData({ amountMinor: '1e3' }), 'data.amountMinor'],
    ['an amount past 2^63-1', withData({ amountMinor: '9223372036854775808' }), 'data.amountMinor'],
    ['an amount of 21 digits', withData({ amountMinor: '100000000000000000000' }), 'data.amountMinor'],
    ['an amount past 2^53 as a number', withData({ amountMinor: 2 ** 53 }), 'data.amountMinor'],
    ['an amount as a boolean', withData({ amountMinor: true }), 'data.amountMinor'],
    ['a negative fee', withData({ feeMinor: -1 }), 'data.feeMinor'],
    ['a fee past 2^63-1', withData({ feeMinor: '9223372036854775808' }), 'data.feeMinor'],
    ['a reason of 501 characters', withData({ reason: 'r'.repeat(501) }), 'data.reason'],
    ['an empty reason', withData({ reason: '  ' }), 'data.reason'],
    ['a reason with a control character', withData({ reason: 'fraud\u0000' }), 'data.reason'],
    ['a numeric reason', withData({ reason: 5 }), 'data.reason'],
  ])('refuses %s', (_name, json, field) => {
    expect(refusedField(json)).toBe(field);
  });

  it('takes a reason of 500 characters, non-ASCII included', () => {
    expect(parseGatewayEventBody(withData({ reason: 'é'.repeat(500) })).reason).toHaveLength(500);
  });
});
