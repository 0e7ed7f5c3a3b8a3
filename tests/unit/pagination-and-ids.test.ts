import { AppError } from '../../src/common/errors';
import { idKindOf, newId, requireIdOfKind } from '../../src/common/ids';
import { decodeCursor, encodeCursor, readPageRequest, toPage } from '../../src/common/pagination';

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

  it.each([0, -1, 501, 1.5])('refuses first = %s', (first) => {
    expect(() => readPageRequest({ first })).toThrow(AppError);
  });

  it('defaults to 100 and allows up to 500', () => {
    expect(readPageRequest({}).limit).toBe(100);
    expect(readPageRequest({ first: 500 }).limit).toBe(500);
  });

  it('uses the extra row only to tell that a next page exists', () => {
    const page = toPage(['a', 'b', 'c'], 2, (x) => x);
    expect(page.items).toEqual(['a', 'b']);
    expect(page.hasNextPage).toBe(true);
    expect(decodeCursor(page.endCursor as string)).toBe('b');
    expect(toPage(['a'], 2, (x) => x).hasNextPage).toBe(false);
  });
});
