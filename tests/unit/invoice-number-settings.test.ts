import { AppError, ErrorCode } from '../../src/common/errors';
import {
  formatInvoiceNumber,
  type InvoiceNumberSettingsInput,
  invoiceNumberSeriesKey,
  requireInvoiceNumberSettings,
} from '../../src/modules/invoicing/invoice-numbers';

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('invoice number settings', () => {
  it('fill in the defaults: no yearly reset, 6 digits', () => {
    expect(requireInvoiceNumberSettings({ prefix: 'INV' })).toEqual({ prefix: 'INV', yearlyReset: false, padding: 6 });
  });

  it.each([
    [{ prefix: 'INV' }, new Date('2026-06-01T00:00:00Z'), 42, 'INV-000042'],
    [{ prefix: 'INV', yearlyReset: true }, new Date('2026-06-01T00:00:00Z'), 42, 'INV-2026-000042'],
    // The year is UTC's: 23:30 on 31 December in UTC is already 2027 east of it, but counts in 2026.
    [{ prefix: 'INV', yearlyReset: true }, new Date('2026-12-31T23:30:00Z'), 1, 'INV-2026-000001'],
    [{ prefix: 'A-1', padding: 3 }, new Date('2026-06-01T00:00:00Z'), 7, 'A-1-007'],
    // Past the padding the number just grows.
    [{ prefix: 'X', padding: 2 }, new Date('2026-06-01T00:00:00Z'), 1234, 'X-1234'],
  ] as Array<[InvoiceNumberSettingsInput, Date, number, string]>)('%j on %s, value %d, is %s', (input, date, value, expected) => {
    const settings = requireInvoiceNumberSettings(input);
    expect(formatInvoiceNumber(invoiceNumberSeriesKey(settings, date), value, settings.padding)).toBe(expected);
  });

  it.each([
    [{ prefix: '' }, 'invoiceNumbering.prefix'],
    [{ prefix: 'inv' }, 'invoiceNumbering.prefix'],
    [{ prefix: 'ABCDEFGHIJKLM' }, 'invoiceNumbering.prefix'],
    [{ prefix: 'INV_1' }, 'invoiceNumbering.prefix'],
    [{ prefix: 'INV-' }, 'invoiceNumbering.prefix'],
    [{ prefix: 'INV', padding: 0 }, 'invoiceNumbering.padding'],
    [{ prefix: 'INV', padding: 13 }, 'invoiceNumbering.padding'],
    [{ prefix: 'INV', padding: 2.5 }, 'invoiceNumbering.padding'],
    [{ prefix: 'INV', yearlyReset: 'yes' as unknown as boolean }, 'invoiceNumbering.yearlyReset'],
  ] as Array<[InvoiceNumberSettingsInput, string]>)('%j is refused as %s', (input, field) => {
    const error = refusal(() => requireInvoiceNumberSettings(input));
    expect(error.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(error.details.field).toBe(field);
  });
});
