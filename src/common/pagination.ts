import { validationError } from './errors';

/** Lists return at most this many items per page, whatever `first` or `last` asks for. */
export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 100;

/** How many items a list gives when neither `first` nor `last` is given, and the most it gives. */
export interface PageSizes {
  defaultSize: number;
  maxSize: number;
}

export const ROOT_PAGE_SIZES: PageSizes = { defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE };

/**
 * Relay's four paging arguments. `first` (with `after`) pages forward, `last` (with `before`) pages
 * backward; `after` and `before` together bound a window between two cursors. `first` and `last`
 * together are refused: the Relay spec strongly discourages them and the result would be confusing.
 */
export interface PageRequest {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface Page<T> {
  items: T[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

/** A page request once checked: the page size, the direction, and the decoded cursor keys. */
export interface PageWindow {
  limit: number;
  /** True for `last`: the page is read from the end of the window toward its start. */
  backward: boolean;
  afterKey: string | null;
  beforeKey: string | null;
}

export interface KeyBound {
  key: string;
  /** Whether the item with this very key is part of the range. */
  inclusive: boolean;
}

/**
 * The rows a service reads for one page, in the list's own order: those after `after` and before
 * `before`, the first `limit` of them, or the last `limit` when `fromEnd` (returned last first).
 */
export interface KeysetSlice {
  after: KeyBound | null;
  before: KeyBound | null;
  fromEnd: boolean;
  limit: number;
}

export function encodeCursor(key: string): string {
  return Buffer.from(`c:${key}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, field = 'after'): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!decoded.startsWith('c:') || decoded.length < 3 || encodeCursor(decoded.slice(2)) !== cursor) {
    throw validationError(`${field} is not a cursor returned by this API`, { field });
  }
  return decoded.slice(2);
}

function readSize(value: number, field: 'first' | 'last', sizes: PageSizes): number {
  if (!Number.isInteger(value) || value < 1 || value > sizes.maxSize) {
    throw validationError(`${field} must be between 1 and ${sizes.maxSize}`, { field, max: sizes.maxSize });
  }
  return value;
}

/**
 * Validates a page request. `isKey` checks a decoded cursor's key has the shape this list's keys have
 * (a cursor of another list, or a forged one, is VALIDATION_FAILED rather than an odd page).
 */
export function readPageRequest(request: PageRequest, sizes: PageSizes = ROOT_PAGE_SIZES, isKey?: (key: string) => boolean): PageWindow {
  const hasFirst = request.first !== null && request.first !== undefined;
  const hasLast = request.last !== null && request.last !== undefined;
  if (hasFirst && hasLast) {
    throw validationError('Give first (to page forward) or last (to page backward), not both', { field: 'last' });
  }
  const limit = hasFirst ? readSize(request.first as number, 'first', sizes) : hasLast ? readSize(request.last as number, 'last', sizes) : sizes.defaultSize;
  const key = (cursor: string | null | undefined, field: 'after' | 'before') => {
    if (cursor === null || cursor === undefined) return null;
    const decoded = decodeCursor(cursor, field);
    if (isKey && !isKey(decoded)) throw validationError(`${field} is not a cursor returned by this API`, { field });
    return decoded;
  };
  return { limit, backward: hasLast, afterKey: key(request.after, 'after'), beforeKey: key(request.before, 'before') };
}

/** The slice that reads a page: one row more than asked, in the asked direction. */
export function pageSlice(window: PageWindow): KeysetSlice {
  return {
    after: window.afterKey === null ? null : { key: window.afterKey, inclusive: false },
    before: window.beforeKey === null ? null : { key: window.beforeKey, inclusive: false },
    fromEnd: window.backward,
    limit: window.limit + 1,
  };
}

/**
 * The slice whose one row tells whether anything lies on the far side of the cursor the page starts
 * from (before `after` going forward, after `before` going backward), the cursor's own item included;
 * null when the page starts at an end of the list.
 */
export function oppositeSlice(window: PageWindow): KeysetSlice | null {
  if (!window.backward && window.afterKey !== null) {
    return { after: null, before: { key: window.afterKey, inclusive: true }, fromEnd: true, limit: 1 };
  }
  if (window.backward && window.beforeKey !== null) {
    return { after: { key: window.beforeKey, inclusive: true }, before: null, fromEnd: false, limit: 1 };
  }
  return null;
}

/**
 * Builds a page from the rows `pageSlice` read (`limit + 1`, in the asked direction): the extra row
 * only tells that more items lie in that direction. `beyondCursor` is what `oppositeSlice` found.
 * Following the Relay spec, paging forward hasNextPage comes from the extra row and hasPreviousPage
 * from the cursor's far side; backward, the other way round.
 */
export function toPage<T>(rows: T[], window: PageWindow, keyOf: (row: T) => string, beyondCursor = false): Page<T> {
  const more = rows.length > window.limit;
  const items = rows.slice(0, window.limit);
  if (window.backward) items.reverse();
  return {
    items,
    hasNextPage: window.backward ? beyondCursor : more,
    hasPreviousPage: window.backward ? more : beyondCursor,
    startCursor: items.length ? encodeCursor(keyOf(items[0])) : null,
    endCursor: items.length ? encodeCursor(keyOf(items[items.length - 1])) : null,
  };
}

export interface ReadPageOptions {
  sizes?: PageSizes;
  isKey?: (key: string) => boolean;
}

/**
 * The one way lists page: validates the request, reads `limit + 1` rows by keyset in the asked
 * direction, and, when the page starts from a cursor, reads one row on its far side.
 */
export async function readPage<T>(
  request: PageRequest,
  fetch: (slice: KeysetSlice) => Promise<T[]>,
  keyOf: (row: T) => string,
  options: ReadPageOptions = {},
): Promise<Page<T>> {
  const window = readPageRequest(request, options.sizes, options.isKey);
  const rows = await fetch(pageSlice(window));
  const opposite = oppositeSlice(window);
  const beyond = opposite ? (await fetch(opposite)).length > 0 : false;
  return toPage(rows, window, keyOf, beyond);
}

/**
 * readPage for many parents at once (a DataLoader batch): `fetch` reads the same slice of each
 * parent's list in one statement, so a page of parents costs two statements at most, not one per parent.
 */
export async function readPages<T>(
  parentIds: readonly string[],
  window: PageWindow,
  fetch: (parentIds: readonly string[], slice: KeysetSlice) => Promise<Map<string, T[]>>,
  keyOf: (row: T) => string,
): Promise<Map<string, Page<T>>> {
  const rows = await fetch(parentIds, pageSlice(window));
  const opposite = oppositeSlice(window);
  const beyond = opposite ? await fetch(parentIds, opposite) : new Map<string, T[]>();
  return new Map(parentIds.map((id) => [id, toPage(rows.get(id) ?? [], window, keyOf, (beyond.get(id) ?? []).length > 0)]));
}

/** Applies a slice to a list already in memory, sorted in list order by `keyOf` (string order). */
export function sliceInMemory<T>(sorted: readonly T[], slice: KeysetSlice, keyOf: (row: T) => string): T[] {
  const inRange = sorted.filter((row) => {
    const key = keyOf(row);
    if (slice.after && (slice.after.inclusive ? key < slice.after.key : key <= slice.after.key)) return false;
    if (slice.before && (slice.before.inclusive ? key > slice.before.key : key >= slice.before.key)) return false;
    return true;
  });
  return slice.fromEnd ? inRange.slice(-slice.limit).reverse() : inRange.slice(0, slice.limit);
}
