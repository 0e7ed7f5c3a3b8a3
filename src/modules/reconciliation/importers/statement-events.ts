import { checkBalance } from './importer-common';
import type { ParsedBalance, ParsedFile, ParsedLine, ParsedStatement, StatementFormat } from './statement-types';

/**
 * A statement file read as a stream of events rather than as one object, so that a file of a
 * million lines never sits in memory whole: each statement announces who it is for (`start`), hands
 * over its lines one by one (`line`), and ends with what is only known once all were read (`end`:
 * the balances that banks write after the lines, the period, the entry count).
 *
 * Every importer emits these; `parseStatementFile` collects them into a ParsedFile, and the
 * statement import writes them to the database as they come.
 */
export interface StatementHeader {
  format: StatementFormat;
  statementId: string | null;
  accountIban: string | null;
  accountNumber: string | null;
  currency: string;
}

export interface StatementTrailer {
  openingBalance: ParsedBalance | null;
  closingBalance: ParsedBalance | null;
  balances: ParsedBalance[];
  fromDate: string | null;
  toDate: string | null;
  /** The bank's entries: a camt batch entry is one entry and several lines. */
  entryCount: number;
}

export type StatementEvent = { type: 'start'; header: StatementHeader } | { type: 'line'; line: ParsedLine } | { type: 'end'; trailer: StatementTrailer };

/** Where an importer hands its events; importers call it synchronously, in file order. */
export type StatementEventSink = (event: StatementEvent) => void;

/** The events of a file already parsed whole (camt, OFX: XML documents that fast-xml-parser reads at once). */
export function* eventsOfParsedFile(file: ParsedFile): Generator<StatementEvent> {
  for (const statement of file.statements) {
    const { format, statementId, accountIban, accountNumber, currency } = statement;
    yield { type: 'start', header: { format, statementId, accountIban, accountNumber, currency } };
    for (const line of statement.lines) yield { type: 'line', line };
    const { openingBalance, closingBalance, balances, fromDate, toDate, entryCount } = statement;
    yield { type: 'end', trailer: { openingBalance, closingBalance, balances, fromDate, toDate, entryCount } };
  }
}

/** Collects events into whole statements, with their balance checks: the one way a ParsedFile is built from a stream. */
export function createStatementCollector(format: StatementFormat): { sink: StatementEventSink; file: () => ParsedFile } {
  const statements: ParsedStatement[] = [];
  let header: StatementHeader | null = null;
  let lines: ParsedLine[] = [];
  const sink: StatementEventSink = (event) => {
    if (event.type === 'start') {
      header = event.header;
      lines = [];
    } else if (event.type === 'line') {
      lines.push(event.line);
    } else if (header) {
      const { openingBalance, closingBalance } = event.trailer;
      statements.push({
        ...header,
        ...event.trailer,
        lines,
        balanceCheck: checkBalance(header.currency, openingBalance, closingBalance, lines),
      });
      header = null;
      lines = [];
    }
  };
  return { sink, file: () => ({ format, statements }) };
}
