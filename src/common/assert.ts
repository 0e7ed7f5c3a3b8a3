/**
 * Invariant checks. A failed assertion is a bug in Reckon, never a user error: it surfaces as a masked
 * INTERNAL_SERVER_ERROR and is logged in full.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(`Invariant violated: ${message}`);
}

export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`Unexpected ${what}: ${String(value)}`);
}
