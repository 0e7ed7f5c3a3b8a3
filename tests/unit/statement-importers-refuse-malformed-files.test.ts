import * as fs from 'fs';
import * as path from 'path';
import { ErrorCode } from '../../src/common/errors';
import { StatementFormat, StatementFormatError, parseStatementFile, type ParsedFile } from '../../src/modules/reconciliation/importers';
import { BANK_STATEMENT_FIXTURES, CSV_MAPPINGS, FORMAT_OF_FOLDER, describeWithStatementFixtures, goodFixtureFiles, readFixture } from '../helpers/bank-statement-fixtures';

/** What each file of malformed/ is refused for, and where (SOURCES.md says why each is broken). */
const MALFORMED: Record<string, { format: StatementFormat; location: string; reason: RegExp }> = {
  // GrpHdr but no Stmt.
  'genkgo__camt053.v2.wrong.xml': { format: StatementFormat.CAMT053, location: 'Document/BkToCstmrStmt', reason: /no Stmt element/ },
  // TRNAMT "$120": the whole file is refused, naming the transaction.
  'ofxparse__fail_nice_decimal_error.ofx': { format: StatementFormat.OFX, location: 'line 34 (<STMTTRN> FITID 2000957249)', reason: /amount "\$120" is not a decimal number/ },
  // :25: where the :86: of the first transaction belongs.
  'wolph__betterplace_sepa_snippet_broken.sta': { format: StatementFormat.MT940, location: 'line 6', reason: /:25: cannot come after the opening balance/ },
  // Lines "1".."10".
  'wolph__self-provided_invalid_statement.sta': { format: StatementFormat.MT940, location: 'line 1', reason: /no MT940 statement/ },
};

function refusal(parse: () => ParsedFile): StatementFormatError {
  let result: ParsedFile | undefined;
  try {
    result = parse();
  } catch (error) {
    expect(error).toBeInstanceOf(StatementFormatError);
    const refused = error as StatementFormatError;
    expect(refused.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(refused.details).toEqual({ format: refused.format, location: refused.location, reason: refused.reason });
    expect(refused.location).not.toBe('');
    expect(refused.message).toContain(refused.location);
    return refused;
  }
  throw new Error(`accepted with ${result?.statements.reduce((sum, statement) => sum + statement.lines.length, 0)} lines`);
}

function parseAs(file: string, content: Buffer): ParsedFile {
  const [folder, name] = file.split('/');
  return parseStatementFile(FORMAT_OF_FOLDER[folder], content, { csv: CSV_MAPPINGS[name] });
}

/** The first transaction amount of the file (or its first balance when it has none), as a byte range. */
function firstAmount(file: string, text: string): { start: number; end: number } {
  const folder = file.split('/')[0];
  const patterns: RegExp[] =
    folder === 'mt940'
      ? [/^:61:\d{6}(?:\d{4})?(?:RC|RD|C|D)[A-Z]?(\d+(?:,\d*)?)/m, /^:60[FM]:[CD]\d{6}[A-Z]{3}(\d+(?:,\d*)?)/m]
      : folder === 'ofx'
        ? [/<TRNAMT>\s*(-?[\d.]+)/, /<BALAMT>\s*(-?[\d.]+)/]
        : folder === 'csv'
          ? []
          : [/<Ntry>[\s\S]*?<Amt Ccy="[A-Z]{3}">([^<]+)</];
  for (const pattern of patterns) {
    const match = pattern.exec(text);
    if (match) {
      const start = match.index + match[0].length - match[1].length - (match[0].endsWith('<') ? 1 : 0);
      return { start, end: start + match[1].length };
    }
  }
  throw new Error(`no amount found in ${file}`);
}

/** The first data row's amount cell of each CSV fixture, as the file writes it. */
const CSV_FIRST_AMOUNT: Record<string, string> = {
  'csv2ofx__capitalone.csv': '1000.00',
  'csv2ofx__gls.csv': '-98,76',
  'csv2ofx__ingesp.csv': '2.83',
  'csv2ofx__n26-fr.csv': '328.00',
  'csv2ofx__outbank.csv': '100,00',
  'csv2ofx__ubs-ch-fr_trimmed.csv': '10.00',
};

function firstCsvAmount(file: string, text: string): { start: number; end: number } {
  const amount = CSV_FIRST_AMOUNT[file.slice(4)];
  if (!amount) throw new Error(`${file} needs its first amount in CSV_FIRST_AMOUNT`);
  const secondLine = text.indexOf('\n') + 1;
  const start = text.indexOf(amount, secondLine);
  if (secondLine === 0 || start < 0 || start > text.indexOf('\n', secondLine) && text.indexOf('\n', secondLine) > 0) throw new Error(`${amount} is not in the first row of ${file}`);
  return { start, end: start + amount.length };
}

/** The same bytes with the last digit of the first amount made an "X". */
function corrupted(file: string, content: Buffer): { content: Buffer; amount: string; line: number } {
  const text = content.toString('latin1');
  const { start, end } = file.startsWith('csv/') ? firstCsvAmount(file, text) : firstAmount(file, text);
  const amount = text.slice(start, end);
  const lastDigit = start + Math.max(...[...amount].map((char, index) => (/\d/.test(char) ? index : -1)));
  const copy = Buffer.from(content);
  copy[lastDigit] = 'X'.charCodeAt(0);
  return { content: copy, amount, line: text.slice(0, lastDigit).split('\n').length };
}

describeWithStatementFixtures('a malformed, truncated or corrupted statement file is refused whole, naming where', () => {
  const malformedDir = path.join(BANK_STATEMENT_FIXTURES, 'malformed');
  const malformedFiles = fs.existsSync(malformedDir) ? fs.readdirSync(malformedDir).sort() : [];

  it('has an expectation for every file of malformed/', () => {
    expect(malformedFiles.length).toBeGreaterThan(0);
    expect(Object.keys(MALFORMED).sort()).toEqual(malformedFiles);
  });

  for (const file of malformedFiles) {
    it(`malformed/${file}`, () => {
      const expected = MALFORMED[file];
      expect(expected).toBeDefined();
      const refused = refusal(() => parseStatementFile(expected.format, fs.readFileSync(path.join(malformedDir, file))));
      expect(refused.format).toBe(expected.format);
      expect(refused.location).toBe(expected.location);
      expect(refused.reason).toMatch(expected.reason);
    });
  }

  for (const file of goodFixtureFiles()) {
    it(`${file} cut at 60% is refused`, () => {
      const content = readFixture(file);
      expect(() => parseAs(file, content)).not.toThrow();
      const refused = refusal(() => parseAs(file, content.subarray(0, Math.floor(content.length * 0.6))));
      if (process.env.SHOW_REFUSALS) console.log(file, 'cut', refused.location, refused.reason);
    });

    it(`${file} with a letter in its first amount is refused`, () => {
      const { content, amount, line } = corrupted(file, readFixture(file));
      const refused = refusal(() => parseAs(file, content));
      if (process.env.SHOW_REFUSALS) console.log(file, amount, line, refused.location, refused.reason);
      expect(refused.reason).toMatch(/not a decimal|is not a C\/D mark|is not a value date/);
      if (file.startsWith('mt940/') || file.startsWith('csv/')) expect(refused.location).toBe(`line ${line}`);
      else if (file.startsWith('ofx/')) expect(refused.location).toMatch(/^line \d+/);
      else expect(refused.location).toMatch(/^Stmt\[0\]\/Ntry\[0\]\/Amt$|^(Rpt|Ntfctn)\[0\]\/Ntry\[0\]\/Amt$/);
    });
  }

  describe('the rules behind the refusals', () => {
    const text = (file: string): string => readFixture(file).toString('utf8');

    it('refuses a camt batch entry whose transactions do not add up to it, naming the entry', () => {
      const file = 'camt053/viafintech__053_valid_example.xml';
      const original = text(file);
      expect(original.match(/<Amt Ccy="EUR">2\.50<\/Amt>/g)).toHaveLength(1);
      const refused = refusal(() => parseStatementFile(StatementFormat.CAMT053, original.replace('<Amt Ccy="EUR">2.50</Amt>', '<Amt Ccy="EUR">2.40</Amt>')));
      expect(refused.location).toBe('Stmt[0]/Ntry[3]');
      expect(refused.reason).toMatch(/2 transactions add up to -590 minor units of EUR but the entry amount is -600/);
    });

    it('refuses an amount with more decimals than its currency has instead of rounding it, and reads zeros past them as they are', () => {
      const file = 'camt053/viafintech__053_valid_example_v4.xml';
      const original = text(file);
      const first = '<Amt Ccy="CHF">24.00</Amt>';
      expect(original.indexOf(first)).toBeGreaterThan(0);
      const refused = refusal(() => parseStatementFile(StatementFormat.CAMT053, original.replace(first, '<Amt Ccy="CHF">24.001</Amt>')));
      expect(refused).toMatchObject({ location: 'Stmt[0]/Ntry[0]/Amt' });
      expect(refused.reason).toMatch(/3 decimals; CHF has 2/);
      const exact = parseStatementFile(StatementFormat.CAMT053, original.replace(first, '<Amt Ccy="CHF">24.000</Amt>'));
      expect(exact.statements[0].lines[0].amountMinor).toBe(-2400n);
    });

    it('refuses a camt file of another message than the format it was sent as', () => {
      const refused = refusal(() => parseStatementFile(StatementFormat.CAMT053, readFixture('camt054/viafintech__054_valid_example.xml')));
      expect(refused).toMatchObject({ location: 'Document', reason: expect.stringMatching(/the file is camt\.054, not camt\.053/) });
    });

    it('refuses an MT940 statement without its closing balance :62F:', () => {
      const original = text('mt940/wolph__jejik_knab.sta');
      const withoutClosing = original.replace(':62F:C140508EUR500,\n', '');
      expect(withoutClosing).not.toBe(original);
      const refused = refusal(() => parseStatementFile(StatementFormat.MT940, withoutClosing));
      expect(refused).toMatchObject({ location: 'line 8', reason: 'the statement that starts on line 1 has no closing balance :62F:/:62M:' });
    });

    it('refuses an OFX file without its closing tags', () => {
      const original = text('ofx/ofxparse__checking.ofx');
      const refused = refusal(() => parseStatementFile(StatementFormat.OFX, original.replace('</BANKMSGSRSV1>\n</OFX>', '')));
      expect(refused.reason).toMatch(/the file ends before <\/(BANKMSGSRSV1|OFX)>/);
    });

    it('refuses an XML statement that declares a DOCTYPE (entities to expand) before reading it', () => {
      const original = text('camt053/genkgo__camt053.v2.minimal.xml');
      const withDoctype = original.replace('<Document', '<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa">]>\n<Document');
      const refused = refusal(() => parseStatementFile(StatementFormat.CAMT053, withDoctype));
      expect(refused).toMatchObject({ location: 'line 2', reason: expect.stringMatching(/DOCTYPE/) });
    });

    it('refuses a CSV row whose date does not match the mapping, and a mapping naming a column the header lacks', () => {
      const file = 'csv/csv2ofx__capitalone.csv';
      const mapping = CSV_MAPPINGS['csv2ofx__capitalone.csv'];
      const wrongDate = refusal(() => parseStatementFile(StatementFormat.CSV, readFixture(file), { csv: { ...mapping, dateFormat: 'DD/MM/YYYY' } }));
      expect(wrongDate).toMatchObject({ location: 'line 2', reason: 'date "2015-12-31" does not match the format DD/MM/YYYY' });
      const wrongColumn = refusal(() => parseStatementFile(StatementFormat.CSV, readFixture(file), { csv: { ...mapping, amountColumn: 'Amount', debitColumn: undefined, creditColumn: undefined } }));
      expect(wrongColumn.location).toBe('line 1');
      expect(wrongColumn.reason).toMatch(/mapping\.amountColumn names the column "Amount", which the header lacks/);
    });
  });
});
