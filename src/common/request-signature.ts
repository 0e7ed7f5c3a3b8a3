import crypto from 'node:crypto';
import { assert } from './assert';

/**
 * The one signature scheme of Reckon's inbound pushes, in the manner of Stripe's webhooks: gateway
 * events (`POST /webhooks/gateways/:gatewayId`) and bank notifications (`POST
 * /bank-accounts/:id/notifications`). The sender sends the header
 *
 *     Reckon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * where `secret` is the whole secret string Reckon returned once (`gwsec_…`, `bnsec_…`), and the raw
 * body is the exact bytes sent (no Content-Encoding). While a secret is being rolled, the sender may
 * send one `v1=` per secret; any one that matches passes. The timestamp is covered by the signature, so
 * a captured request cannot be replayed later than the tolerance allows.
 *
 * These functions are pure: no clock, no I/O. The route supplies the current time.
 */

export const SIGNATURE_HEADER = 'Reckon-Signature';
/** How far the signed timestamp may be from our clock, either way: Stripe's default, five minutes. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

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

export type SignatureRefusal = 'missing' | 'malformed' | 'timestamp_out_of_tolerance' | 'mismatch';

export type SignatureVerdict = { ok: true; timestampSeconds: number } | { ok: false; reason: SignatureRefusal };

function hmacOf(secret: string, rawBody: Buffer | string, timestampSeconds: number): Buffer {
  return crypto.createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest();
}

/**
 * The `Reckon-Signature` header value for a body sent at `timestampSeconds` (unix seconds), signed
 * with one secret. Senders implement exactly this; tests use it to send pushes.
 */
export function signRequestBody(secret: string, rawBody: Buffer | string, timestampSeconds: number): string {
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
    // Other schemes (a future v2) are skipped, so a sender can send old and new side by side.
  }
  if (timestampSeconds === null || signatures.length === 0 || signatures.length > MAX_SIGNATURES) return null;
  return { timestampSeconds, signatures };
}

/**
 * Checks a `Reckon-Signature` header against the raw body. The signature is checked before the
 * timestamp, so `timestamp_out_of_tolerance` means an authentic request sent too early or too late (a
 * replay, or a sender whose clock is off) rather than any stale garbage.
 */
export function verifyRequestSignature(
  secret: string,
  rawBody: Buffer | string,
  header: string | undefined | null,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): SignatureVerdict {
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
