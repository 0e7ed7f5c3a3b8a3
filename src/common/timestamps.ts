import { validationError } from './errors';

/**
 * Timestamps are stored as UTC text "YYYY-MM-DD HH:MM:SS.mmm" in DATETIME(3) columns on MySQL and TEXT
 * columns on SQLite. The same text sorts and compares correctly on both, and raw SQL binds it as a
 * plain string on both drivers.
 */
export function toDbTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

export function fromDbTimestamp(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'string') {
    const iso = value.includes('T') ? value : value.replace(' ', 'T');
    return new Date(iso.endsWith('Z') ? iso : `${iso}Z`);
  }
  throw new TypeError(`Not a timestamp: ${String(value)}`);
}

/** Earliest and latest dates the ledger accepts: DATETIME's range, and no silent year-10000 surprises. */
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export function requireStorableDate(date: Date, field: string): Date {
  const time = date.getTime();
  if (Number.isNaN(time) || time < EARLIEST || time > LATEST) {
    throw validationError(`${field} must be a date between 1970-01-01 and 9999-12-31`, { field });
  }
  return date;
}
