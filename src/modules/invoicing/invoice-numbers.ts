import { validationError } from '../../common/errors';
import { echoOfInput } from '../../common/echo';

/**
 * How a tenant's invoice numbers look: PREFIX-000042, or PREFIX-2026-000042 with a yearly reset
 * (numbering starts again at 1 each calendar year, UTC, of the finalisation date).
 */
export interface InvoiceNumberSettings {
  /** 1 to 12 characters of A–Z, 0–9 and "-", not ending with "-" (the number's own "-" follows it). */
  prefix: string;
  yearlyReset: boolean;
  /** Minimum digits of the number, zero-padded (1 to 12, default 6); larger numbers just grow. */
  padding: number;
}

export interface InvoiceNumberSettingsInput {
  prefix: string;
  yearlyReset?: boolean | null;
  padding?: number | null;
}

export const DEFAULT_INVOICE_NUMBER_PADDING = 6;
export const MAX_INVOICE_NUMBER_PADDING = 12;
const PREFIX_PATTERN = /^[A-Z0-9-]{1,12}$/;

/** The settings, checked, with defaults filled in; VALIDATION_FAILED naming the field otherwise. */
export function requireInvoiceNumberSettings(input: InvoiceNumberSettingsInput, fieldPrefix = 'invoiceNumbering'): InvoiceNumberSettings {
  const prefixField = `${fieldPrefix}.prefix`;
  if (typeof input.prefix !== 'string' || !PREFIX_PATTERN.test(input.prefix)) {
    throw validationError(`${prefixField} must be 1 to 12 characters of A-Z, 0-9 and "-", such as "INV"`, { field: prefixField, value: echoOfInput(input.prefix) });
  }
  if (input.prefix.endsWith('-')) {
    throw validationError(`${prefixField} must not end with "-": the number is joined to it with one`, { field: prefixField, value: echoOfInput(input.prefix) });
  }
  const padding = input.padding ?? DEFAULT_INVOICE_NUMBER_PADDING;
  if (!Number.isInteger(padding) || padding < 1 || padding > MAX_INVOICE_NUMBER_PADDING) {
    throw validationError(`${fieldPrefix}.padding must be a whole number from 1 to ${MAX_INVOICE_NUMBER_PADDING}`, { field: `${fieldPrefix}.padding` });
  }
  const yearlyReset = input.yearlyReset ?? false;
  if (typeof yearlyReset !== 'boolean') throw validationError(`${fieldPrefix}.yearlyReset must be true or false`, { field: `${fieldPrefix}.yearlyReset` });
  return { prefix: input.prefix, yearlyReset, padding };
}

/**
 * The series a number is counted in: the number's text before its digits ("INV", "INV-2026").
 * Counting by that text rather than by (prefix, year) is what makes numbers unique whatever the
 * settings become: prefix "INV-2026" without reset and prefix "INV" with reset in 2026 would both
 * print "INV-2026-000001", and here they share one counter instead. (A number's digits follow its
 * last "-", so the text determines its series and value, and one counter never repeats a value.)
 */
export function invoiceNumberSeriesKey(settings: InvoiceNumberSettings, finalizedAt: Date): string {
  return settings.yearlyReset ? `${settings.prefix}-${finalizedAt.getUTCFullYear()}` : settings.prefix;
}

export function formatInvoiceNumber(seriesKey: string, value: number, padding: number): string {
  return `${seriesKey}-${String(value).padStart(padding, '0')}`;
}
