import { validationError } from './errors';

/** Lists return at most this many items per page, whatever `first` asks for. */
export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 100;

export interface PageRequest {
  first?: number | null;
  after?: string | null;
}

export interface Page<T> {
  items: T[];
  hasNextPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

export function encodeCursor(key: string): string {
  return Buffer.from(`c:${key}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!decoded.startsWith('c:') || decoded.length < 3 || encodeCursor(decoded.slice(2)) !== cursor) {
    throw validationError('after is not a cursor returned by this API', { field: 'after' });
  }
  return decoded.slice(2);
}

/** Validates `first`/`after` and returns the page size and the decoded key to continue after. */
export function readPageRequest(request: PageRequest): { limit: number; afterKey: string | null } {
  const first = request.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw validationError(`first must be between 1 and ${MAX_PAGE_SIZE}`, { field: 'first', max: MAX_PAGE_SIZE });
  }
  return { limit: first, afterKey: request.after ? decodeCursor(request.after) : null };
}

/**
 * Builds a page from rows fetched with `limit + 1`: the extra row only tells whether a next page
 * exists and is not returned.
 */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  return {
    items,
    hasNextPage: rows.length > limit,
    startCursor: items.length ? encodeCursor(keyOf(items[0])) : null,
    endCursor: items.length ? encodeCursor(keyOf(items[items.length - 1])) : null,
  };
}
