import crypto from 'node:crypto';

/**
 * The fingerprint of a mutation call: one SHA-256 per argument leaf, keyed by its path
 * ("input.lines[0].amount"), plus the field name and its selection set. Stored instead of the
 * arguments themselves (no amounts or references at rest in the idempotency table), it still lets a
 * reused key be answered with the exact argument that differs.
 */
export type Fingerprint = Record<string, string>;

const FIELD = '(field)';
const SELECTION = '(selection set)';

function digest(value: string): string {
  return crypto.createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22);
}

/** Flattens a JSON-like value into leaf paths; key order never matters, array order does. */
function flatten(value: unknown, path: string, out: Fingerprint): void {
  if (value === undefined) return;
  if (value === null || typeof value !== 'object' || value instanceof Date) {
    const leaf = value instanceof Date ? value.toISOString() : typeof value === 'bigint' ? `${value}n` : JSON.stringify(value);
    out[path] = digest(`${typeof value}:${leaf}`);
    return;
  }
  if (Array.isArray(value)) {
    out[`${path}.length`] = digest(String(value.length));
    value.forEach((item, index) => flatten(item, `${path}[${index}]`, out));
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0 && path) out[path] = digest('{}');
  for (const [key, child] of entries) flatten(child, path ? `${path}.${key}` : key, out);
}

export function fingerprintOf(fieldName: string, args: Record<string, unknown>, selectionSet: string): Fingerprint {
  const out: Fingerprint = { [FIELD]: digest(fieldName), [SELECTION]: digest(selectionSet) };
  const { idempotencyKey: _key, ...rest } = args;
  flatten(rest, '', out);
  return out;
}

/** Paths whose values differ between two fingerprints, sorted; empty when they are the same call. */
export function differingPaths(stored: Fingerprint, given: Fingerprint): string[] {
  const paths = new Set([...Object.keys(stored), ...Object.keys(given)]);
  return [...paths].filter((path) => stored[path] !== given[path]).sort();
}
