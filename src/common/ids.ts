import { monotonicFactory } from 'ulid';
import { validationError } from './errors';

/**
 * Opaque, prefixed, time-ordered ids. The prefix names the object type so `node(id:)` can route an id
 * without a lookup; the ULID part sorts by creation time, which the cursors rely on.
 */
export const ID_PREFIXES = {
  tenant: 'ten',
  apiKey: 'key',
  account: 'acct',
  journalEntry: 'je',
  posting: 'pst',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const nextUlid = monotonicFactory();
const ID_PATTERN = /^([a-z]{2,5})_([0-9A-HJKMNP-TV-Z]{26})$/;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${nextUlid()}`;
}

/** Returns the kind of a well-formed id, or undefined for anything else. */
export function idKindOf(id: string): IdKind | undefined {
  const match = ID_PATTERN.exec(id);
  if (!match) return undefined;
  const prefix = match[1];
  return (Object.keys(ID_PREFIXES) as IdKind[]).find((kind) => ID_PREFIXES[kind] === prefix);
}

/**
 * Checks that an id given by a client has the expected kind. A malformed id is refused before any
 * query; a well-formed id of the right kind that does not exist is the caller's NOT_FOUND to raise.
 */
export function requireIdOfKind(id: string, kind: IdKind, field: string): string {
  if (idKindOf(id) !== kind) {
    throw validationError(`${field} must be an id starting with "${ID_PREFIXES[kind]}_"`, { field, id });
  }
  return id;
}
