import { parse } from 'csv-parse/sync';
import { StatementFormatError, quoted } from './statement-format.errors';
import { isoDate, nonEmpty, parseSignedAmount, statementCurrencyExponent } from './importer-common';
import { createStatementCollector, type StatementEventSink } from './statement-events';
import { StatementFormat, type CsvMapping, type ParsedFile, type ParsedLine } from './statement-types';

/**
 * A bank's CSV export, read with a column mapping (see CsvMapping). Every row must have as many cells
 * as the header (a cut-off last row does not), every date must match dateFormat and every amount be a
 * decimal in the mapping's notation; the first row that does not refuses the file, naming its line.
 */

const F = StatementFormat.CSV;

function detectDelimiter(text: string): string {
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  const counts = [',', ';', '\t'].map((candidate) => ({ candidate, count: firstLine.split(candidate).length - 1 }));
  counts.sort((a, b) => b.count - a.count);
  return counts[0].count > 0 ? counts[0].candidate : ',';
}

/** 'DD.MM.YYYY', 'M/D/YY'… to a reader of that format. */
function dateReader(format: string): (value: string, location: string) => string {
  const order: string[] = [];
  const pattern = format.replace(/YYYY|YY|MM|M|DD|D|[.*+?^${}()|[\]\\/-]/g, (token) => {
    switch (token) {
      case 'YYYY':
        order.push('Y');
        return '(\\d{4})';
      case 'YY':
        order.push('y');
        return '(\\d{2})';
      case 'MM':
      case 'DD':
        order.push(token[0]);
        return '(\\d{2})';
      case 'M':
      case 'D':
        order.push(token);
        return '(\\d{1,2})';
      default:
        return `\\${token}`;
    }
  });
  if (!order.includes('D') || !order.includes('M') || !(order.includes('Y') || order.includes('y'))) {
    throw new StatementFormatError(F, 'mapping.dateFormat', `${quoted(format)} needs a day (DD or D), a month (MM or M) and a year (YYYY or YY)`);
  }
  const regex = new RegExp(`^${pattern}$`);
  return (value, location) => {
    const match = regex.exec(value.trim());
    if (!match) throw new StatementFormatError(F, location, `date ${quoted(value)} does not match the format ${format}`);
    let year = 0;
    let month = 0;
    let day = 0;
    order.forEach((part, index) => {
      const number = Number(match[index + 1]);
      if (part === 'Y') year = number;
      else if (part === 'y') year = number < 80 ? 2000 + number : 1900 + number;
      else if (part === 'M') month = number;
      else day = number;
    });
    return isoDate(F, year, month, day, location, value);
  };
}

type CsvRow = { record: string[]; info: { lines: number } };

/** The csv-parse options of a mapping; the delimiter is detected on the first row read when the mapping names none. */
export function csvParseOptions(mapping: CsvMapping, delimiter: string) {
  return {
    delimiter,
    from_line: (mapping.skipRows ?? 0) + 1,
    skip_empty_lines: true,
    relax_column_count: false,
    bom: true,
    info: true,
  } as const;
}

/** The delimiter of a file from its first rows (after the mapping's skipRows). */
export function csvDelimiterOf(mapping: CsvMapping, firstText: string): string {
  return mapping.delimiter ?? detectDelimiter(firstText.slice(nthLineOffset(firstText, mapping.skipRows ?? 0)));
}

/** A csv-parse failure as the refusal of the file, naming its line. */
export function csvSyntaxError(error: unknown): StatementFormatError {
  const lines = (error as { lines?: number }).lines;
  return new StatementFormatError(F, `line ${lines ?? '?'}`, `not a well-formed CSV row (${(error as Error).message})`);
}

export interface CsvReader {
  row(row: CsvRow): void;
  end(): void;
}

/** Checks a mapping before any row is read: a bad one is refused whether the file is empty or not. */
export function checkCsvMapping(mapping: CsvMapping): void {
  statementCurrencyExponent(F, mapping.currency, 'mapping.currency');
  if (mapping.amountColumn === undefined && mapping.debitColumn === undefined && mapping.creditColumn === undefined) {
    throw new StatementFormatError(F, 'mapping', 'name an amountColumn, or a debitColumn and a creditColumn');
  }
  dateReader(mapping.dateFormat);
}

/**
 * Reads a CSV file's rows (as csv-parse gives them, with their line numbers) into statement events:
 * one statement for the whole file, its lines in file order, its period from the dates seen.
 */
export function createCsvReader(mapping: CsvMapping, sink: StatementEventSink): CsvReader {
  checkCsvMapping(mapping);
  const hasHeader = mapping.hasHeader ?? true;
  const readDate = dateReader(mapping.dateFormat);
  const notation = `decimal separator "${mapping.decimalSeparator}"${mapping.thousandsSeparator ? `, thousands separator "${mapping.thousandsSeparator}"` : ''}`;
  const amountOf = (raw: string, location: string): bigint => {
    let value = raw.trim();
    if (mapping.thousandsSeparator) value = value.split(mapping.thousandsSeparator).join('');
    if (mapping.decimalSeparator === ',') {
      if (value.includes('.')) throw new StatementFormatError(F, location, `amount ${quoted(raw)} is not a decimal number with ${notation}`);
      value = value.replace(',', '.');
    }
    if (!/^[-+]?\d+(\.\d*)?$/.test(value)) throw new StatementFormatError(F, location, `amount ${quoted(raw)} is not a decimal number with ${notation}`);
    return parseSignedAmount(F, value, mapping.currency, location);
  };

  let columns: ReturnType<typeof resolveColumns> | null = hasHeader ? null : resolveColumns(mapping, [], 'mapping');
  let started = false;
  let lineCount = 0;
  let fromDate: string | null = null;
  let toDate: string | null = null;
  const start = () => {
    if (started) return;
    started = true;
    sink({ type: 'start', header: { format: F, statementId: null, accountIban: null, accountNumber: null, currency: mapping.currency } });
  };

  const lineOf = ({ record, info }: CsvRow, c: ReturnType<typeof resolveColumns>): ParsedLine => {
    const location = `line ${info.lines}`;
    const cell = (index: number | undefined): string | null => (index === undefined ? null : nonEmpty(record[index]));
    let amountMinor: bigint;
    if (c.amount !== undefined) {
      const raw = cell(c.amount);
      if (raw === null) throw new StatementFormatError(F, location, 'the amount cell is empty');
      amountMinor = amountOf(raw, location);
    } else {
      const debit = cell(c.debit);
      const credit = cell(c.credit);
      if ((debit === null) === (credit === null)) {
        throw new StatementFormatError(F, location, debit === null ? 'neither the debit nor the credit cell holds an amount' : 'both the debit and the credit cell hold an amount');
      }
      const magnitude = amountOf((debit ?? credit) as string, location);
      const absolute = magnitude < 0n ? -magnitude : magnitude;
      amountMinor = debit !== null ? -absolute : absolute;
    }
    const dateText = cell(c.date);
    if (dateText === null) throw new StatementFormatError(F, location, 'the date cell is empty');
    const valueDateText = cell(c.valueDate);
    const remittance = c.remittance.map((index) => cell(index)).filter((part): part is string => part !== null);
    return {
      amountMinor,
      currency: mapping.currency,
      bookingDate: readDate(dateText, location),
      valueDate: valueDateText ? readDate(valueDateText, location) : null,
      bankReference: cell(c.reference),
      endToEndId: null,
      counterpartyName: cell(c.counterparty),
      counterpartyAccount: cell(c.counterpartyAccount),
      remittanceInformation: remittance.length > 0 ? remittance.join(' ') : null,
      description: cell(c.description),
      status: 'BOOKED',
      sourceLocation: location,
    };
  };

  return {
    row(row) {
      if (!columns) {
        columns = resolveColumns(mapping, row.record.map((name) => name.trim()), `line ${row.info.lines}`);
        start();
        return;
      }
      start();
      const line = lineOf(row, columns);
      const day = line.bookingDate as string;
      if (fromDate === null || day < fromDate) fromDate = day;
      if (toDate === null || day > toDate) toDate = day;
      lineCount += 1;
      sink({ type: 'line', line });
    },
    end() {
      if (!columns) throw new StatementFormatError(F, 'line 1', 'the file is empty: no header row');
      start();
      sink({ type: 'end', trailer: { openingBalance: null, closingBalance: null, balances: [], fromDate, toDate, entryCount: lineCount } });
    },
  };
}

function resolveColumns(mapping: CsvMapping, headerNames: string[], headerLine: string) {
  const column = (key: keyof CsvMapping, ref: string | number | undefined): number | undefined => {
    if (ref === undefined) return undefined;
    if (typeof ref === 'number') return ref;
    const index = headerNames.indexOf(ref);
    if (index < 0) {
      throw new StatementFormatError(F, headerLine, `mapping.${key} names the column ${quoted(ref)}, which the header lacks (it has ${headerNames.map((name) => quoted(name)).join(', ')})`);
    }
    return index;
  };
  return {
    date: column('dateColumn', mapping.dateColumn) as number,
    valueDate: column('valueDateColumn', mapping.valueDateColumn),
    amount: column('amountColumn', mapping.amountColumn),
    debit: column('debitColumn', mapping.debitColumn),
    credit: column('creditColumn', mapping.creditColumn),
    description: column('descriptionColumn', mapping.descriptionColumn),
    reference: column('referenceColumn', mapping.referenceColumn),
    counterparty: column('counterpartyColumn', mapping.counterpartyColumn),
    counterpartyAccount: column('counterpartyAccountColumn', mapping.counterpartyAccountColumn),
    remittance: (mapping.remittanceColumns ?? []).map((ref) => column('remittanceColumns', ref) as number),
  };
}

export function parseCsv(text: string, mapping: CsvMapping): ParsedFile {
  checkCsvMapping(mapping);
  let rows: CsvRow[];
  try {
    rows = parse(text, csvParseOptions(mapping, csvDelimiterOf(mapping, text))) as unknown as CsvRow[];
  } catch (error) {
    throw csvSyntaxError(error);
  }
  const collector = createStatementCollector(F);
  const reader = createCsvReader(mapping, collector.sink);
  for (const row of rows) reader.row(row);
  reader.end();
  return collector.file();
}

function nthLineOffset(text: string, lines: number): number {
  let offset = 0;
  for (let index = 0; index < lines; index += 1) {
    const next = text.indexOf('\n', offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  return offset;
}
