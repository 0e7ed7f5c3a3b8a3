import { validationError } from './errors';

/** Checks on free-form input shared by every module: one wording and one rule for each. */

const PRINTABLE = /^[\x20-\x7E]+$/;

/** At most this many bytes of JSON metadata are kept on any object. */
export const METADATA_MAX_BYTES = 4096;

export interface TextRules {
  /** Accept "" and blanks (descriptions); names and references must say something. */
  allowEmpty?: boolean;
  /** Printable ASCII only (codes, references, tokens). */
  printable?: boolean;
  /** No leading or trailing space (see below). */
  identifier?: boolean;
}

export function requireText(value: string, field: string, max: number, { allowEmpty = false, printable = false, identifier = false }: TextRules = {}): string {
  if (!allowEmpty && value.trim().length === 0) throw validationError(`${field} must not be empty`, { field });
  if (value.length > max) throw validationError(`${field} is longer than ${max} characters`, { field, max });
  if (printable && !PRINTABLE.test(value)) {
    throw validationError(`${field} may hold only printable ASCII characters`, { field });
  }
  // Unique identifiers compare byte for byte on SQLite but with PAD SPACE collations on MySQL/MariaDB,
  // where "ref " equals "ref": refused on both, so that uniqueness means the same everywhere.
  if (identifier && value !== value.trim()) {
    throw validationError(`${field} must not begin or end with a space`, { field });
  }
  return value;
}

/** requireText for an optional field: null and undefined give null. */
export function optionalText(value: string | null | undefined, field: string, max: number, rules: TextRules = {}): string | null {
  return value === null || value === undefined ? null : requireText(value, field, max, rules);
}

export function requireMetadata(metadata: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (metadata === null || metadata === undefined) return null;
  if (typeof metadata !== 'object' || Array.isArray(metadata)) throw validationError('metadata must be a JSON object', { field: 'metadata' });
  const size = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
  if (size > METADATA_MAX_BYTES) {
    throw validationError(`metadata is ${size} bytes; at most ${METADATA_MAX_BYTES} are kept`, { field: 'metadata' });
  }
  return metadata;
}
