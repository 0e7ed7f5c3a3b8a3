import * as fs from 'fs';
import * as path from 'path';
import {
  createEncodingDetector,
  createStatementCollector,
  parseStatementFile,
  readStatementEvents,
  StatementFormat,
  StatementFormatError,
  type ParsedFile,
  type StreamOptions,
} from '../../src/modules/reconciliation/importers';
import { BANK_STATEMENT_FIXTURES, CSV_MAPPINGS, FORMAT_OF_FOLDER, describeWithStatementFixtures, goodFixtureFiles, readFixture } from '../helpers/bank-statement-fixtures';

/** The bytes in chunks of `size`: small odd sizes cut lines, multi-byte characters and XML tags apart. */
async function* chunked(content: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < content.length; offset += size) yield content.subarray(offset, offset + size);
}

/** The detector fed in small steps (7 bytes, as a network might cut a file), or larger ones for a large file. */
function encodingOf(content: Buffer, step = 7) {
  const detector = createEncodingDetector();
  for (let offset = 0; offset < content.length; offset += step) detector.update(content.subarray(offset, offset + step));
  return detector.result();
}

async function streamed(format: StatementFormat, content: Buffer, chunkSize: number, options: StreamOptions = {}): Promise<{ file: ParsedFile; batches: number }> {
  const collector = createStatementCollector(format);
  let batches = 0;
  for await (const batch of readStatementEvents(format, chunked(content, chunkSize), { encoding: encodingOf(content, Math.max(7, chunkSize)), ...options })) {
    batches += 1;
    for (const event of batch) collector.sink(event);
  }
  return { file: collector.file(), batches };
}

async function streamRefusal(format: StatementFormat, content: Buffer, options: StreamOptions = {}, chunkSize = 5): Promise<StatementFormatError> {
  try {
    await streamed(format, content, chunkSize, options);
  } catch (error) {
    expect(error).toBeInstanceOf(StatementFormatError);
    return error as StatementFormatError;
  }
  throw new Error('the stream accepted a file the whole-file parse refuses');
}

describeWithStatementFixtures('a statement read as it streams is the statement read whole', () => {
  for (const file of goodFixtureFiles()) {
    const [folder, name] = file.split('/');
    const format = FORMAT_OF_FOLDER[folder];
    it(`${file} in 5- and 4096-byte chunks`, async () => {
      const content = readFixture(file);
      const whole = parseStatementFile(format, content, { csv: CSV_MAPPINGS[name] });
      for (const size of [5, 4096]) {
        const { file: read } = await streamed(format, content, size, { csv: CSV_MAPPINGS[name] });
        expect(read).toEqual(whole);
      }
    });
  }

  for (const file of fs.readdirSync(path.join(BANK_STATEMENT_FIXTURES, 'malformed')).filter((f) => /\.(sta|txt|940)$/i.test(f))) {
    it(`malformed/${file} is refused at the same place as read whole`, async () => {
      const content = fs.readFileSync(path.join(BANK_STATEMENT_FIXTURES, 'malformed', file));
      let wholeRefusal: StatementFormatError | null = null;
      try {
        parseStatementFile(StatementFormat.MT940, content);
      } catch (error) {
        wholeRefusal = error as StatementFormatError;
      }
      expect(wholeRefusal).toBeInstanceOf(StatementFormatError);
      const refused = await streamRefusal(StatementFormat.MT940, content);
      expect(refused.location).toBe(wholeRefusal!.location);
      expect(refused.reason).toBe(wholeRefusal!.reason);
    });
  }
});

describe('streamed CSV and MT940 hand their lines over in batches, never the whole file at once', () => {
  const mapping = { dateColumn: 'Date', dateFormat: 'YYYY-MM-DD', amountColumn: 'Amount', referenceColumn: 'Ref', decimalSeparator: '.' as const, currency: 'EUR' };
  const csv = (rows: number, badRow?: number) =>
    Buffer.from(
      ['Date,Amount,Ref', ...Array.from({ length: rows }, (_, i) => (i === badRow ? `2026-02-30,1.00,R${i}` : `2026-03-${String((i % 28) + 1).padStart(2, '0')},${(i % 997) + 1}.25,R${i}`))].join('\n'),
    );

  it('a CSV file of 5,000 rows arrives in several batches with every line, in file order', async () => {
    const { file, batches } = await streamed(StatementFormat.CSV, csv(5000), 1024, { csv: mapping });
    expect(batches).toBeGreaterThanOrEqual(5);
    expect(file.statements[0].lines).toHaveLength(5000);
    expect(file.statements[0].lines[4999].bankReference).toBe('R4999');
    expect(file.statements[0]).toMatchObject({ fromDate: '2026-03-01', toDate: '2026-03-28', entryCount: 5000 });
  });

  it('a bad row late in a CSV file refuses it after earlier batches were handed over, naming the line', async () => {
    const refused = await streamRefusal(StatementFormat.CSV, csv(3000, 2500), { csv: mapping });
    expect(refused.location).toBe('line 2502');
    expect(refused.reason).toMatch(/not a calendar date/);
  });

  it('a cut-off CSV row is refused as the whole-file parse refuses it', async () => {
    const content = Buffer.concat([csv(10), Buffer.from('\n2026-03-01,"1.00')]);
    const refused = await streamRefusal(StatementFormat.CSV, content, { csv: mapping });
    expect(refused.reason).toMatch(/not a well-formed CSV row/);
  });

  it('an XML document larger than the whole-document limit is refused, naming the limit and what streams', async () => {
    // In 64 KiB chunks: 5-byte ones would only make 600,000 iterations of the same loop (75 s).
    const refused = await streamRefusal(StatementFormat.CAMT053, Buffer.alloc(3 * 1024 * 1024, 0x20), { wholeDocumentLimitBytes: 2 * 1024 * 1024 }, 64 * 1024);
    expect(refused.reason).toMatch(/at most 2 MB.*CSV or MT940/);
  });
});
