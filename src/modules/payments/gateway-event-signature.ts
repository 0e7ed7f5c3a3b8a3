import crypto from 'node:crypto';
import { assert } from '../../common/assert';
import { validationError } from '../../common/errors';
import { MAX_MINOR_UNITS } from '../../common/money';
import { GATEWAY_EVENT_TYPES, type GatewayEvent, type GatewayEventType } from './gateways/payment-gateway';
import { echoOfInput } from '../../common/echo';

/**
 * How a gateway signs the events it sends to `POST /webhooks/gateways/:gatewayId`, in the manner of
 * Stripe's webhooks. The gateway sends the header
 *
 *     Reckon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * where `secret` is the whole `gwsec_…` string the `createGateway` mutation returned once, and the raw
 * body is the exact bytes sent (no Content-Encoding). While a secret is being rolled, the gateway may
 * send one `v1=` per secret; any one that matches passes. The timestamp is covered by the signature, so
 * a captured request cannot be replayed later than the tolerance allows.
 *
 * These functions are pure: no clock, no I/O. The route supplies the current time.
 */

export const GATEWAY_SIGNATURE_HEADER = 'Reckon-Signature';
/** How far the signed timestamp may be from our clock, either way: Stripe's default, five minutes. */
export const GATEWAY_SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * A header longer than this is refused unread: eight signatures and a timestamp fit in well under
 * 1 KiB, and a bound keeps a hostile header from costing more than a few HMAC comparisons.
 */
const MAX_HEADER_LENGTH = 1024;
/** Enough for a secret roll with room to spare; more is a malformed header, not more chances to match. */
const MAX_SIGNATURES = 8;
const TIMESTAMP_PATTERN = /^\d{1,12}$/;
/** A SHA-256 HMAC in hex: exactly 32 bytes, so every comparison is between buffers of the same length. */
const SIGNATURE_PATTERN = /^[0-9a-fA-F]{64}$/;

export type GatewaySignatureRefusal = 'missing' | 'malformed' | 'timestamp_out_of_tolerance' | 'mismatch';

export type GatewaySignatureVerdict = { ok: true; timestampSeconds: number } | { ok: false; reason: GatewaySignatureRefusal };

function hmacOf(secret: string, rawBody: Buffer | string, timestampSeconds: number): Buffer {
  return crypto.createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest();
}

/**
 * The `Reckon-Signature` header value for a body sent at `timestampSeconds` (unix seconds), signed
 * with one secret. Gateways implement exactly this; tests use it to send events.
 */
export function signGatewayEvent(secret: string, rawBody: Buffer | string, timestampSeconds: number): string {
  assert(Number.isSafeInteger(timestampSeconds) && timestampSeconds >= 0, 'the timestamp is whole unix seconds');
  return `t=${timestampSeconds},v1=${hmacOf(secret, rawBody, timestampSeconds).toString('hex')}`;
}

/** The timestamp and signatures of a header, or null when it does not follow the scheme. */
function parseSignatureHeader(header: string): { timestampSeconds: number; signatures: Buffer[] } | null {
  if (header.length > MAX_HEADER_LENGTH) return null;
  let timestampSeconds: number | null = null;
  const signatures: Buffer[] = [];
  for (const item of header.split(',')) {
    const separator = item.indexOf('=');
    if (separator <= 0) return null;
    const key = item.slice(0, separator).trim();
    const value = item.slice(separator + 1).trim();
    if (key === 't') {
      // Two timestamps would leave it open which one the signature is checked against.
      if (timestampSeconds !== null || !TIMESTAMP_PATTERN.test(value)) return null;
      timestampSeconds = Number(value);
    } else if (key === 'v1') {
      if (!SIGNATURE_PATTERN.test(value)) return null;
      signatures.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (a future v2) are skipped, so a gateway can send old and new side by side.
  }
  if (timestampSeconds === null || signatures.length === 0 || signatures.length > MAX_SIGNATURES) return null;
  return { timestampSeconds, signatures };
}

/**
 * Checks a `Reckon-Signature` header against the raw body. The signature is checked before the
 * timestamp, so `timestamp_out_of_tolerance` means an authentic event sent too early or too late (a
 * replay, or a gateway whose clock is off) rather than any stale garbage.
 */
export function verifyGatewayEventSignature(
  secret: string,
  rawBody: Buffer | string,
  header: string | undefined | null,
  nowSeconds: number,
  toleranceSeconds = GATEWAY_SIGNATURE_TOLERANCE_SECONDS,
): GatewaySignatureVerdict {
  if (header === undefined || header === null || header.trim() === '') return { ok: false, reason: 'missing' };
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const expected = hmacOf(secret, rawBody, parsed.timestampSeconds);
  // Every signature is compared, without stopping at the first match, so the time taken does not say
  // which of them matched.
  let matched = false;
  for (const signature of parsed.signatures) {
    if (crypto.timingSafeEqual(signature, expected)) matched = true;
  }
  if (!matched) return { ok: false, reason: 'mismatch' };
  if (Math.abs(nowSeconds - parsed.timestampSeconds) > toleranceSeconds) return { ok: false, reason: 'timestamp_out_of_tolerance' };
  return { ok: true, timestampSeconds: parsed.timestampSeconds };
}

// ---------------------------------------------------------------------------------------------
// The body

const EVENT_ID_MAX_LENGTH = 191;
/** The gateway's ids are stored in 255-character columns (payments.gateway_payment_id, disputes.gateway_dispute_id). */
const GATEWAY_REFERENCE_MAX_LENGTH = 255;
const REASON_MAX_LENGTH = 500;
/** Printable ASCII, neither beginning nor ending with a space: ids are compared byte for byte. */
const IDENTIFIER_PATTERN = /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/;
const DIGITS_PATTERN = /^\d{1,20}$/;
/** C0 and C1 control characters, DEL included: a reason is shown in dashboards and written to logs. */
const CONTROL_CHARACTERS = /\p{Cc}/u;

const EVENT_FIELDS = new Set(['id', 'type', 'data']);
const DATA_FIELDS = new Set(['gatewayPaymentId', 'gatewayDisputeId', 'amountMinor', 'feeMinor', 'reason']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Unknown fields are refused rather than skipped: a misspelt `amount_minor` skipped would open a
 * dispute for the whole payment instead of the amount the gateway meant.
 */
function refuseUnknownFields(object: Record<string, unknown>, known: Set<string>, prefix: string): void {
  const unknown = Object.keys(object).find((key) => !known.has(key));
  if (unknown !== undefined) {
    const field = `${prefix}${echoOfInput(unknown)}`;
    throw validationError(`${field} is not a field of a gateway event`, { field });
  }
}

function requireIdentifier(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string') throw validationError(`${field} must be a string`, { field });
  if (value.length === 0 || value.length > maxLength) throw validationError(`${field} must be 1 to ${maxLength} characters`, { field, maxLength });
  if (!IDENTIFIER_PATTERN.test(value)) {
    throw validationError(`${field} may hold only printable ASCII characters, and must not begin or end with a space`, { field });
  }
  return value;
}

/**
 * An amount in minor units, as a string of digits or as a JSON number. A number is taken only while
 * it is a safe integer: past 2^53 JSON.parse has already rounded it, and a rounded amount is wrong.
 */
function requireMinorUnits(value: unknown, field: string, minimum: bigint): bigint {
  let minor: bigint;
  if (typeof value === 'string') {
    if (!DIGITS_PATTERN.test(value)) throw validationError(`${field} must be a whole number of minor units, such as "1250"`, { field });
    minor = BigInt(value);
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw validationError(`${field} must be a whole number of minor units; send amounts past 2^53 as a string of digits`, { field });
    }
    minor = BigInt(value);
  } else {
    throw validationError(`${field} must be a string of digits or an integer`, { field });
  }
  if (minor < minimum) throw validationError(`${field} must be at least ${minimum}`, { field, minimum: minimum.toString() });
  if (minor > MAX_MINOR_UNITS) throw validationError(`${field} is out of range: at most ${MAX_MINOR_UNITS} minor units`, { field });
  return minor;
}

function requireReason(value: unknown, field: string): string {
  if (typeof value !== 'string') throw validationError(`${field} must be a string`, { field });
  if (value.trim().length === 0) throw validationError(`${field} must not be empty`, { field });
  if (value.length > REASON_MAX_LENGTH) throw validationError(`${field} is longer than ${REASON_MAX_LENGTH} characters`, { field, maxLength: REASON_MAX_LENGTH });
  if (CONTROL_CHARACTERS.test(value)) throw validationError(`${field} must not contain control characters`, { field });
  return value;
}

/**
 * Reads the JSON body of a signed gateway event:
 *
 *     { "id": "evt_…", "type": "dispute.opened" | "dispute.won" | "dispute.lost",
 *       "data": { "gatewayPaymentId": "…", "gatewayDisputeId": "…", "amountMinor": "1250", "feeMinor": 1500, "reason": "…" } }
 *
 * Amounts are minor units of the payment's currency. `gatewayDisputeId` is required to close a dispute
 * (won, lost), since that is how the dispute is found; an event that could never apply is refused here,
 * where the gateway sees why, rather than recorded as ignored under its id for good.
 * Throws VALIDATION_FAILED, naming the field, on anything else.
 */
export function parseGatewayEventBody(json: unknown): GatewayEvent {
  if (!isPlainObject(json)) throw validationError('the body must be a JSON object', { field: 'body' });
  refuseUnknownFields(json, EVENT_FIELDS, '');
  const id = requireIdentifier(json.id, 'id', EVENT_ID_MAX_LENGTH);
  if (typeof json.type !== 'string' || !(GATEWAY_EVENT_TYPES as readonly string[]).includes(json.type)) {
    throw validationError(`type must be one of ${GATEWAY_EVENT_TYPES.join(', ')}`, { field: 'type', allowed: [...GATEWAY_EVENT_TYPES] });
  }
  const type = json.type as GatewayEventType;
  const data = json.data;
  if (!isPlainObject(data)) throw validationError('data must be a JSON object', { field: 'data' });
  refuseUnknownFields(data, DATA_FIELDS, 'data.');

  const event: GatewayEvent = { id, type, gatewayPaymentId: requireIdentifier(data.gatewayPaymentId, 'data.gatewayPaymentId', GATEWAY_REFERENCE_MAX_LENGTH) };
  // An optional field sent as null is taken as absent, as most JSON encoders write a missing value.
  const given = (field: string) => data[field] !== undefined && data[field] !== null;
  if (given('gatewayDisputeId')) {
    event.gatewayDisputeId = requireIdentifier(data.gatewayDisputeId, 'data.gatewayDisputeId', GATEWAY_REFERENCE_MAX_LENGTH);
  } else if (type !== 'dispute.opened') {
    throw validationError(`data.gatewayDisputeId is required for ${type}`, { field: 'data.gatewayDisputeId' });
  }
  if (given('amountMinor')) event.amountMinor = requireMinorUnits(data.amountMinor, 'data.amountMinor', 1n);
  if (given('feeMinor')) event.feeMinor = requireMinorUnits(data.feeMinor, 'data.feeMinor', 0n);
  if (given('reason')) event.reason = requireReason(data.reason, 'data.reason');
  return event;
}
