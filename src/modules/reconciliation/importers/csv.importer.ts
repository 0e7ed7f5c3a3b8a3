import { parse } from 'csv-parse/sync';
import { StatementFormatError, quoted } from './statement-format.errors';
import { isoDate, nonEmpty, parseSignedAmount, statementCurrencyExponent } from './importer-common';
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

export function parseCsv(text: string, mapping: CsvMapping): ParsedFile {
  statementCurrencyExponent(F, mapping.currency, 'mapping.currency');
  if (mapping.amountColumn === undefined && mapping.debitColumn === undefined && mapping.creditColumn === undefined) {
    throw new StatementFormatError(F, 'mapping', 'name an amountColumn, or a debitColumn and a creditColumn');
  }
  const delimiter = mapping.delimiter ?? detectDelimiter(text.slice(nthLineOffset(text, mapping.skipRows ?? 0)));
  let rows: Array<{ record: string[]; info: { lines: number } }>;
  try {
    rows = parse(text, {
      delimiter,
      from_line: (mapping.skipRows ?? 0) + 1,
      skip_empty_lines: true,
      relax_column_count: false,
      bom: true,
      info: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (error) {
    const lines = (error as { lines?: number }).lines;
    throw new StatementFormatError(F, `line ${lines ?? '?'}`, `not a well-formed CSV row (${(error as Error).message})`);
  }
  const hasHeader = mapping.hasHeader ?? true;
  const header = hasHeader ? rows.shift() : undefined;
  if (hasHeader && !header) throw new StatementFormatError(F, 'line 1', 'the file is empty: no header row');
  const headerNames = header?.record.map((name) => name.trim()) ?? [];
  const headerLine = header ? `line ${header.info.lines}` : 'mapping';

  const column = (key: keyof CsvMapping, ref: string | number | undefined): number | undefined => {
    if (ref === undefined) return undefined;
    if (typeof ref === 'number') return ref;
    const index = headerNames.indexOf(ref);
    if (index < 0) {
      throw new StatementFormatError(F, headerLine, `mapping.${key} names the column ${quoted(ref)}, which the header lacks (it has ${headerNames.map((name) => quoted(name)).join(', ')})`);
    }
    return index;
  };
  const dateColumn = column('dateColumn', mapping.dateColumn) as number;
  const valueDateColumn = column('valueDateColumn', mapping.valueDateColumn);
  const amountColumn = column('amountColumn', mapping.amountColumn);
  const debitColumn = column('debitColumn', mapping.debitColumn);
  const creditColumn = column('creditColumn', mapping.creditColumn);
  const descriptionColumn = column('descriptionColumn', mapping.descriptionColumn);
  const referenceColumn = column('referenceColumn', mapping.referenceColumn);
  const counterpartyColumn = column('counterpartyColumn', mapping.counterpartyColumn);
  const counterpartyAccountColumn = column('counterpartyAccountColumn', mapping.counterpartyAccountColumn);
  const remittanceColumns = (mapping.remittanceColumns ?? []).map((ref) => column('remittanceColumns', ref) as number);
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

  const lines: ParsedLine[] = rows.map(({ record, info }) => {
    const location = `line ${info.lines}`;
    const cell = (index: number | undefined): string | null => (index === undefined ? null : nonEmpty(record[index]));
    let amountMinor: bigint;
    if (amountColumn !== undefined) {
      const raw = cell(amountColumn);
      if (raw === null) throw new StatementFormatError(F, location, 'the amount cell is empty');
      amountMinor = amountOf(raw, location);
    } else {
      const debit = cell(debitColumn);
      const credit = cell(creditColumn);
      if ((debit === null) === (credit === null)) {
        throw new StatementFormatError(F, location, debit === null ? 'neither the debit nor the credit cell holds an amount' : 'both the debit and the credit cell hold an amount');
      }
      const magnitude = amountOf((debit ?? credit) as string, location);
      const absolute = magnitude < 0n ? -magnitude : magnitude;
      amountMinor = debit !== null ? -absolute : absolute;
    }
    const dateText = cell(dateColumn);
    if (dateText === null) throw new StatementFormatError(F, location, 'the date cell is empty');
    const valueDateText = cell(valueDateColumn);
    const remittance = remittanceColumns.map((index) => cell(index)).filter((part): part is string => part !== null);
    return {
      amountMinor,
      currency: mapping.currency,
      bookingDate: readDate(dateText, location),
      valueDate: valueDateText ? readDate(valueDateText, location) : null,
      bankReference: cell(referenceColumn),
      endToEndId: null,
      counterpartyName: cell(counterpartyColumn),
      counterpartyAccount: cell(counterpartyAccountColumn),
      remittanceInformation: remittance.length > 0 ? remittance.join(' ') : null,
      description: cell(descriptionColumn),
      status: 'BOOKED',
      sourceLocation: location,
    };
  });
  const dates = lines.map((line) => line.bookingDate as string).sort();
  return {
    format: F,
    statements: [
      {
        format: F,
        statementId: null,
        accountIban: null,
        accountNumber: null,
        currency: mapping.currency,
        fromDate: dates[0] ?? null,
        toDate: dates[dates.length - 1] ?? null,
        openingBalance: null,
        closingBalance: null,
        balances: [],
        lines,
        entryCount: lines.length,
        balanceCheck: null,
      },
    ],
  };
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
