import { validationError } from '../../common/errors';
import type { CsvMapping } from './importers/statement-types';

const COLUMN_FIELDS = [
  'dateColumn',
  'valueDateColumn',
  'amountColumn',
  'debitColumn',
  'creditColumn',
  'descriptionColumn',
  'referenceColumn',
  'counterpartyColumn',
  'counterpartyAccountColumn',
] as const;

/** A column as a client names it: a header text, or a 0-based index (a number, or digits in a string). */
function columnOf(value: unknown, field: string): string | number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && value.trim() !== '') return /^\d{1,4}$/.test(value.trim()) ? Number(value.trim()) : value;
  throw validationError(`csvMapping.${field} must name a header or give a 0-based column index`, { field: `csvMapping.${field}` });
}

function optionalText(value: unknown, field: string): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') throw validationError(`csvMapping.${field} must be a string`, { field: `csvMapping.${field}` });
  return value;
}

/**
 * A CSV mapping from GraphQL's CsvMappingInput or the REST route's JSON, in the importer's shape.
 * Only the shape is checked here; the importer checks the columns against the file.
 */
export function toCsvMapping(raw: unknown): CsvMapping {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw validationError('csvMapping must be an object', { field: 'csvMapping' });
  const input = raw as Record<string, unknown>;
  const dateColumn = columnOf(input.dateColumn, 'dateColumn');
  if (dateColumn === undefined) throw validationError('csvMapping.dateColumn is required', { field: 'csvMapping.dateColumn' });
  const dateFormat = optionalText(input.dateFormat, 'dateFormat');
  if (!dateFormat) throw validationError('csvMapping.dateFormat is required (e.g. "DD/MM/YYYY")', { field: 'csvMapping.dateFormat' });
  const decimalSeparator = input.decimalSeparator;
  if (decimalSeparator !== '.' && decimalSeparator !== ',') {
    throw validationError('csvMapping.decimalSeparator must be "." or ","', { field: 'csvMapping.decimalSeparator' });
  }
  const currency = optionalText(input.currency, 'currency');
  if (!currency) throw validationError('csvMapping.currency is required', { field: 'csvMapping.currency' });
  const encoding = input.encoding ?? undefined;
  if (encoding !== undefined && encoding !== 'utf-8' && encoding !== 'latin1') {
    throw validationError('csvMapping.encoding must be "utf-8" or "latin1"', { field: 'csvMapping.encoding' });
  }
  if (input.hasHeader !== null && input.hasHeader !== undefined && typeof input.hasHeader !== 'boolean') {
    throw validationError('csvMapping.hasHeader must be true or false', { field: 'csvMapping.hasHeader' });
  }
  const skipRows = input.skipRows ?? undefined;
  if (skipRows !== undefined && (typeof skipRows !== 'number' || !Number.isInteger(skipRows) || skipRows < 0 || skipRows > 1000)) {
    throw validationError('csvMapping.skipRows must be between 0 and 1000', { field: 'csvMapping.skipRows' });
  }
  const remittance = input.remittanceColumns ?? undefined;
  if (remittance !== undefined && !Array.isArray(remittance)) {
    throw validationError('csvMapping.remittanceColumns must be a list of columns', { field: 'csvMapping.remittanceColumns' });
  }
  const mapping: CsvMapping = {
    dateColumn,
    dateFormat,
    decimalSeparator,
    currency,
    ...(input.delimiter !== null && input.delimiter !== undefined ? { delimiter: optionalText(input.delimiter, 'delimiter') } : {}),
    ...(typeof input.hasHeader === 'boolean' ? { hasHeader: input.hasHeader } : {}),
    ...(skipRows !== undefined ? { skipRows: skipRows as number } : {}),
    ...(encoding !== undefined ? { encoding: encoding as CsvMapping['encoding'] } : {}),
    ...(input.thousandsSeparator !== null && input.thousandsSeparator !== undefined
      ? { thousandsSeparator: optionalText(input.thousandsSeparator, 'thousandsSeparator') }
      : {}),
    ...(remittance !== undefined
      ? { remittanceColumns: (remittance as unknown[]).map((column, i) => columnOf(column, `remittanceColumns[${i}]`) as string | number) }
      : {}),
  };
  for (const field of COLUMN_FIELDS) {
    if (field === 'dateColumn') continue;
    const column = columnOf(input[field], field);
    if (column !== undefined) mapping[field] = column;
  }
  return mapping;
}
