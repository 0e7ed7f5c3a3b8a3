import { pipeline, Readable } from 'node:stream';
import { CsvError, parse as csvStream } from 'csv-parse';
import { parseCamt } from './camt.importer';
import { checkCsvMapping, createCsvReader, csvDelimiterOf, csvParseOptions, csvSyntaxError, parseCsv } from './csv.importer';
import { decodeText } from './importer-common';
import { createMt940Reader, parseMt940 } from './mt940.importer';
import { parseOfx } from './ofx.importer';
import { eventsOfParsedFile, type StatementEvent } from './statement-events';
import { StatementFormatError } from './statement-format.errors';
import { StatementFormat, type CsvMapping, type ParseOptions, type ParsedFile } from './statement-types';

export * from './statement-types';
export * from './statement-events';
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
      if (!options.csv) throw csvMappingMissing();
      return parseCsv(decodeText(content, options.csv.encoding), options.csv);
    case StatementFormat.PUSH:
      throw new StatementFormatError(format, 'format', 'a single-transaction push is sent to POST /bank-accounts/:id/notifications, signed; it is not a statement file');
    default: {
      const unknown: never = format;
      throw new StatementFormatError(unknown, 'format', 'unknown statement format');
    }
  }
}

/** The text encoding of a file's bytes: UTF-8 when they are valid UTF-8, else Windows-1252 (which never fails), as decodeText decides. */
export type TextEncodingName = 'utf-8' | 'windows-1252';

/** Decides a file's encoding while its bytes stream past (the upload does this while spooling), so the parse can decode as it reads. */
export function createEncodingDetector(): { update(chunk: Buffer): void; result(): TextEncodingName } {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let valid = true;
  return {
    update(chunk) {
      if (!valid) return;
      try {
        utf8.decode(chunk, { stream: true });
      } catch {
        valid = false;
      }
    },
    result() {
      if (valid) {
        try {
          utf8.decode();
        } catch {
          valid = false;
        }
      }
      return valid ? 'utf-8' : 'windows-1252';
    },
  };
}

/** The encoding of bytes held whole in memory (see createEncodingDetector). */
export function encodingOf(content: Buffer): TextEncodingName {
  const detector = createEncodingDetector();
  detector.update(content);
  return detector.result();
}

export interface StreamOptions extends ParseOptions {
  /** How the bytes are decoded (detected beforehand); a CSV mapping's own encoding wins. Strings pass as they are. */
  encoding?: TextEncodingName;
  /**
   * camt and OFX are documents fast-xml-parser reads whole: the most bytes such a file may have.
   * CSV and MT940 are read as they stream, whatever their size.
   */
  wholeDocumentLimitBytes?: number;
}

/** Events handed over per batch: a consumer writing them to a database gets rows in useful numbers. */
const EVENT_BATCH = 1000;
export const DEFAULT_WHOLE_DOCUMENT_LIMIT_BYTES = 64 * 1024 * 1024;

async function* decodedText(chunks: AsyncIterable<Buffer | string>, encoding: TextEncodingName): AsyncGenerator<string> {
  const decoder = new TextDecoder(encoding);
  for await (const chunk of chunks) {
    const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

/**
 * Reads a statement file as it streams, in batches of events (see statement-events.ts), with the same
 * result and the same refusals as parseStatementFile: a malformed file throws StatementFormatError at
 * the point it is found, after earlier batches were handed over, so a consumer writes them inside a
 * transaction it can roll back. CSV and MT940 never hold more than a batch; camt and OFX are read
 * whole first (up to wholeDocumentLimitBytes), then handed over in batches.
 */
export async function* readStatementEvents(format: StatementFormat, chunks: AsyncIterable<Buffer | string>, options: StreamOptions = {}): AsyncGenerator<StatementEvent[]> {
  switch (format) {
    case StatementFormat.MT940:
      yield* readMt940Events(decodedText(chunks, options.encoding ?? 'utf-8'));
      return;
    case StatementFormat.CSV: {
      if (!options.csv) throw csvMappingMissing();
      const encoding = options.csv.encoding === 'latin1' ? 'windows-1252' : options.csv.encoding === 'utf-8' ? 'utf-8' : (options.encoding ?? 'utf-8');
      yield* readCsvEvents(decodedText(chunks, encoding), options.csv);
      return;
    }
    default: {
      const limit = options.wholeDocumentLimitBytes ?? DEFAULT_WHOLE_DOCUMENT_LIMIT_BYTES;
      const parts: string[] = [];
      let length = 0;
      for await (const text of decodedText(chunks, options.encoding ?? 'utf-8')) {
        length += text.length;
        if (length > limit) {
          throw new StatementFormatError(format, 'file', `a ${format} file is read whole and may have at most ${Math.floor(limit / 1024 / 1024)} MB; split it by period, or send CSV or MT940, which stream`);
        }
        parts.push(text);
      }
      let batch: StatementEvent[] = [];
      for (const event of eventsOfParsedFile(parseStatementFile(format, parts.join(''), options))) {
        batch.push(event);
        if (batch.length >= EVENT_BATCH) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length) yield batch;
    }
  }
}

async function* readMt940Events(texts: AsyncIterable<string>): AsyncGenerator<StatementEvent[]> {
  let batch: StatementEvent[] = [];
  const reader = createMt940Reader((event) => batch.push(event));
  let carry = '';
  for await (const text of texts) {
    const lines = (carry + text).split('\n');
    carry = lines.pop() as string;
    for (const line of lines) reader.line(line);
    if (batch.length >= EVENT_BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (carry !== '') reader.line(carry);
  reader.end();
  if (batch.length) yield batch;
}

async function* readCsvEvents(texts: AsyncIterable<string>, mapping: CsvMapping): AsyncGenerator<StatementEvent[]> {
  checkCsvMapping(mapping);
  // The delimiter is detected on the first row after skipRows: read until it is whole.
  const iterator = texts[Symbol.asyncIterator]();
  const head: string[] = [];
  let headText = '';
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    headText += next.value;
    if (headText.split('\n').length > (mapping.skipRows ?? 0) + 1) break;
  }
  async function* rest(): AsyncGenerator<string> {
    yield* head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const rows = csvStream(csvParseOptions(mapping, csvDelimiterOf(mapping, headText)));
  // A failing source (the upload's file) destroys the parser with its error, which the loop below throws.
  pipeline(Readable.from(rest()), rows, () => undefined);
  let batch: StatementEvent[] = [];
  const reader = createCsvReader(mapping, (event) => batch.push(event));
  try {
    for await (const row of rows as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      reader.row(row);
      if (batch.length >= EVENT_BATCH) {
        yield batch;
        batch = [];
      }
    }
  } catch (error) {
    throw error instanceof CsvError ? csvSyntaxError(error) : error;
  } finally {
    rows.destroy();
  }
  reader.end();
  if (batch.length) yield batch;
}

function csvMappingMissing(): StatementFormatError {
  return new StatementFormatError(StatementFormat.CSV, 'mapping', 'a CSV file needs a column mapping (date, amount or debit/credit, date format, decimal separator, currency)');
}
