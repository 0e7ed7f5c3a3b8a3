import { AppError } from '../../src/common/errors';
import { idKindOf, newId, requireIdOfKind } from '../../src/common/ids';
import fc from 'fast-check';
import { decodeCursor, encodeCursor, readPage, readPageRequest, sliceInMemory } from '../../src/common/pagination';

describe('ids', () => {
  it('are prefixed by kind and sort by creation time', () => {
    const ids = Array.from({ length: 50 }, () => newId('account'));
    expect(ids.every((id) => /^acct_[0-9A-HJKMNP-TV-Z]{26}$/.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(idKindOf(newId('journalEntry'))).toBe('journalEntry');
    expect(idKindOf('acct_nope')).toBeUndefined();
    expect(idKindOf('zzz_01M8AX68346E5E1SYWTX2X1F2K')).toBeUndefined();
  });

  it('refuses an id of another kind', () => {
    expect(() => requireIdOfKind(newId('journalEntry'), 'account', 'accountId')).toThrow(AppError);
  });
});

describe('cursors and pages', () => {
  it('round-trip and refuse forgeries', () => {
    expect(decodeCursor(encodeCursor('acct_X'))).toBe('acct_X');
    expect(() => decodeCursor('garbage!')).toThrow(AppError);
    expect(() => decodeCursor(Buffer.from('x:acct').toString('base64url'))).toThrow(AppError);
  });

  it.each([0, -1, 501, 1.5])('refuses first or last = %s', (size) => {
    expect(() => readPageRequest({ first: size })).toThrow(AppError);
    expect(() => readPageRequest({ last: size })).toThrow(AppError);
  });

  it('defaults to 100 and allows up to 500, or the list’s own sizes', () => {
    expect(readPageRequest({}).limit).toBe(100);
    expect(readPageRequest({ first: 500 }).limit).toBe(500);
    expect(readPageRequest({ last: 500 })).toMatchObject({ limit: 500, backward: true });
    expect(readPageRequest({}, { defaultSize: 5, maxSize: 50 }).limit).toBe(5);
    expect(() => readPageRequest({ last: 51 }, { defaultSize: 5, maxSize: 50 })).toThrow(AppError);
  });

  it('refuses first with last, and cursors of another list, as VALIDATION_FAILED', () => {
    const refusal = (request: Parameters<typeof readPageRequest>[0], isKey?: (key: string) => boolean) => {
      try {
        readPageRequest(request, undefined, isKey);
      } catch (error) {
        return { code: (error as AppError).code, field: (error as AppError).details?.field };
      }
      return null;
    };
    expect(refusal({ first: 1, last: 1 })).toEqual({ code: 'VALIDATION_FAILED', field: 'last' });
    expect(refusal({ before: 'nope' })).toEqual({ code: 'VALIDATION_FAILED', field: 'before' });
    expect(refusal({ after: encodeCursor('pay_1') }, (key) => key.startsWith('acct_'))).toEqual({ code: 'VALIDATION_FAILED', field: 'after' });
    // after and before together page within the window between them.
    expect(refusal({ after: encodeCursor('a'), before: encodeCursor('z'), last: 2 })).toBeNull();
  });
});

/**
 * The Relay cursor connection spec's algorithm, written out over a list in memory: ApplyCursorsToEdges,
 * then first or last, with hasPreviousPage/hasNextPage true when items lie before/after the page.
 */
function relayPage(all: string[], request: { first?: number; after?: string; last?: number; before?: string }) {
  let edges = all;
  if (request.after !== undefined) edges = edges.filter((key) => key > (request.after as string));
  if (request.before !== undefined) edges = edges.filter((key) => key < (request.before as string));
  const window = edges;
  if (request.first !== undefined) edges = edges.slice(0, request.first);
  if (request.last !== undefined) edges = edges.slice(Math.max(0, edges.length - request.last));
  const hasPreviousPage =
    request.last !== undefined ? window.length > request.last : request.after !== undefined && all.some((key) => key <= (request.after as string));
  const hasNextPage =
    request.first !== undefined ? window.length > request.first : request.before !== undefined && all.some((key) => key >= (request.before as string));
  return { items: edges, hasPreviousPage, hasNextPage };
}

describe('readPage pages by keyset as the Relay spec says, forward and backward', () => {
  const keyArb = fc.integer({ min: 0, max: 40 }).map((n) => `k${String(n).padStart(2, '0')}`);
  it('matches the spec for every first/after, last/before and window over any list', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(keyArb, { maxLength: 25 }).map((keys) => keys.sort()),
        fc.boolean(),
        fc.integer({ min: 1, max: 8 }),
        fc.option(keyArb, { nil: undefined }),
        fc.option(keyArb, { nil: undefined }),
        async (all, backward, size, after, before) => {
          const request = backward ? { last: size, before, after } : { first: size, after, before };
          const reads: number[] = [];
          const page = await readPage(
            { ...request, after: after === undefined ? null : encodeCursor(after), before: before === undefined ? null : encodeCursor(before) },
            async (slice) => {
              reads.push(slice.limit);
              return sliceInMemory(all, slice, (key) => key);
            },
            (key) => key,
          );
          const expected = relayPage(all, request);
          expect({ items: page.items, hasPreviousPage: page.hasPreviousPage, hasNextPage: page.hasNextPage }).toEqual(expected);
          expect(page.startCursor === null ? null : decodeCursor(page.startCursor)).toBe(expected.items[0] ?? null);
          expect(page.endCursor === null ? null : decodeCursor(page.endCursor)).toBe(expected.items.at(-1) ?? null);
          // limit + 1 rows for the page, and one more only when the page starts from a cursor.
          expect(reads[0]).toBe(size + 1);
          expect(reads.length).toBe((backward ? before : after) === undefined ? 1 : 2);
        },
      ),
      { numRuns: 500 },
    );
  });
});
