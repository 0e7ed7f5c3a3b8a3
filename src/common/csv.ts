/**
 * RFC 4180 text for the CSV exports: records end with CRLF, a field is quoted when it holds a comma,
 * a double quote, CR or LF (quotes inside doubled), and every record has the header's field count.
 */

const NEEDS_QUOTES = /[",\r\n]/;

/** One field as RFC 4180 writes it. */
export function csvField(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One record, CRLF included. Null and undefined are empty fields. */
export function csvRecord(values: readonly (string | null | undefined)[]): string {
  return `${values.map((value) => csvField(value ?? '')).join(',')}\r\n`;
}

/**
 * A spreadsheet runs a cell that begins with = + - @ (or a tab or CR before one) as a formula: a
 * description such as `=HYPERLINK(…)` written by one user would run on an accountant's machine (CSV
 * injection, OWASP). Free text (never amounts, ids or dates) is written with a leading apostrophe
 * then, which spreadsheets show as text and hide.
 */
export function spreadsheetSafe(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}
