import crypto from 'node:crypto';
import { idKindOf } from '../../common/ids';
import { API_KEY_PATTERN } from '../auth/api-key-format';
import { MAX_RESOURCE_IDS } from './audit.types';

/** What replaces a sensitive value before the arguments are digested. */
export const REDACTED = '[REDACTED]';

/**
 * The one redaction rule of the audit trail. A value is sensitive when its key (any level, any case)
 * names a secret, a token, a password, card data or bank account details (paymentToken, signingSecret,
 * notificationSecret, clientSecret, webhookSecret, cardNumber, cvc, iban, accountNumber, authorization,
 * …; not a key ending in Id or Ids, which holds references), or when the value itself looks like a credential or a card number whatever its key: an API key
 * (rk_…), a JWT, or 13 to 19 digits that pass the Luhn check.
 */
const SENSITIVE_KEY = /secret|token|passw|passphrase|card|cvc|cvv|^pan$|iban|accountnumber|^authorization$|privatekey|signature/i;
/** Keys that hold ids (apiKeyId, paymentIds) are references, not secrets, whatever they contain. */
const ID_KEY = /Ids?$/;
const JWT_SHAPE = /^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$/;

export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key) && !ID_KEY.test(key);
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

export function isSensitiveValue(value: string): boolean {
  const trimmed = value.trim();
  if (API_KEY_PATTERN.test(trimmed) || JWT_SHAPE.test(trimmed)) return true;
  const digits = trimmed.replace(/[\s-]/g, '');
  return /^\d{13,19}$/.test(digits) && luhnValid(digits);
}

/**
 * A plain JSON copy of the value with every sensitive value replaced by REDACTED: keys sorted (so the
 * digest does not depend on argument order), bigints and dates as strings, undefined dropped.
 */
export function redactArguments(value: unknown, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return isSensitiveValue(value) ? REDACTED : value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => redactArguments(item, depth + 1));
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => [key, isSensitiveKey(key) && item !== null ? REDACTED : redactArguments(item, depth + 1)]);
    return Object.fromEntries(entries);
  }
  return REDACTED;
}

/** SHA-256 (hex) of the redacted arguments' JSON: proves what was asked without keeping it. */
export function argumentsDigestOf(args: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(redactArguments(args) ?? null), 'utf8').digest('hex');
}

/**
 * The resource ids a value names: every string that is a well-formed Reckon id (acct_…, inv_…), found
 * under non-sensitive keys, at most `depth` levels down, at most MAX_RESOURCE_IDS. Cheap by design: a
 * payload's records carry their ids at the top, and a giant list is cut rather than walked.
 */
export function resourceIdsOf(value: unknown, into: Set<string> = new Set(), depth = 4): Set<string> {
  if (into.size >= MAX_RESOURCE_IDS || depth < 0 || value === null || value === undefined) return into;
  if (typeof value === 'string') {
    // The tenant's own id names no resource: every event is the tenant's already.
    const idKind = value.length <= 40 ? idKindOf(value) : undefined;
    if (idKind !== undefined && idKind !== 'tenant') into.add(value);
    return into;
  }
  if (typeof value !== 'object' || value instanceof Date || value instanceof Error) return into;
  if (Array.isArray(value)) {
    for (const item of value.slice(0, MAX_RESOURCE_IDS)) resourceIdsOf(item, into, depth - 1);
    return into;
  }
  if (value instanceof Promise || Buffer.isBuffer(value)) return into;
  for (const key of Object.keys(value)) {
    if (into.size >= MAX_RESOURCE_IDS) break;
    // A getter may run a query (a connection's totalCount): only plain data is read.
    const descriptor = Object.getOwnPropertyDescriptor(value, key);
    if (!descriptor || descriptor.get || isSensitiveKey(key)) continue;
    resourceIdsOf(descriptor.value, into, depth - 1);
  }
  return into;
}

/** Sorted, distinct, bounded: the form events store. */
export function normalizedResourceIds(ids: Iterable<string>): string[] {
  return [...new Set(ids)].sort().slice(0, MAX_RESOURCE_IDS);
}
