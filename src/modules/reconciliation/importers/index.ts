import { parseCamt } from './camt.importer';
import { parseCsv } from './csv.importer';
import { decodeText } from './importer-common';
import { parseMt940 } from './mt940.importer';
import { parseOfx } from './ofx.importer';
import { StatementFormatError } from './statement-format.errors';
import { StatementFormat, type ParseOptions, type ParsedFile } from './statement-types';

export * from './statement-types';
export { StatementFormatError } from './statement-format.errors';

/**
 * Parses a whole statement file; throws StatementFormatError (VALIDATION_FAILED, details { format,
 * location, reason }) naming the line or element at fault, and never returns a partial result.
 */
export function parseStatementFile(format: StatementFormat, content: Buffer | string, options: ParseOptions = {}): ParsedFile {
  switch (format) {
    case StatementFormat.CAMT053:
    case StatementFormat.CAMT052:
    case StatementFormat.CAMT054:
      return parseCamt(format, decodeText(content));
    case StatementFormat.OFX:
      return parseOfx(decodeText(content));
    case StatementFormat.MT940:
      return parseMt940(decodeText(content));
    case StatementFormat.CSV:
      if (!options.csv) throw new StatementFormatError(format, 'mapping', 'a CSV file needs a column mapping (date, amount or debit/credit, date format, decimal separator, currency)');
      return parseCsv(decodeText(content, options.csv.encoding), options.csv);
    case StatementFormat.PUSH:
      throw new StatementFormatError(format, 'format', 'a single-transaction push is sent to POST /bank-accounts/:id/notifications, signed; it is not a statement file');
    default: {
      const unknown: never = format;
      throw new StatementFormatError(unknown, 'format', 'unknown statement format');
    }
  }
}
