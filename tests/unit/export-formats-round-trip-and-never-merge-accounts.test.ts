import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { csvRecord, spreadsheetSafe } from '../../src/common/csv';
import { journalAccountName } from '../../src/modules/ledger/ledger-export.formats';
import { AccountType } from '../../src/modules/ledger/ledger.types';

/**
 * The export formats' two promises that no example list covers: any fields, commas, quotes and line
 * breaks included, come back from an RFC 4180 parser exactly as written; and no two account codes
 * ever give one journal account name (hledger would add the two accounts up), nor a name hledger
 * would cut short or read as a hierarchy.
 */
describe('export formats', () => {
  it('any record reads back field for field through csv-parse', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }), { minLength: 1, maxLength: 8 }), (fields) => {
        const text = csvRecord(fields);
        expect(text.endsWith('\r\n')).toBe(true);
        const records = parse(text, { record_delimiter: '\r\n' }) as string[][];
        expect(records).toEqual([fields]);
      }),
    );
  });

  it('text a spreadsheet would run as a formula gets an apostrophe, other text none', () => {
    expect(['=SUM(A1)', '+1', '-2', '@x', '\tx'].map(spreadsheetSafe)).toEqual(["'=SUM(A1)", "'+1", "'-2", "'@x", "'\tx"]);
    expect(['Sale 1', '', "'quoted", '1=1'].map(spreadsheetSafe)).toEqual(['Sale 1', '', "'quoted", '1=1']);
  });

  it('distinct account codes give distinct journal names, each one account of its type with no double blanks', () => {
    const code = fc.string({ unit: fc.constantFrom('a', 'B', '1', ' ', ':', ';', '%', '-', '\t', 'é'), minLength: 1, maxLength: 8 });
    const name = fc.string({ unit: fc.constantFrom('a', ' ', ':', ';', '%', '\n', '(', ')'), minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(code, code, name, name, (codeA, codeB, nameA, nameB) => {
        const a = journalAccountName({ type: AccountType.ASSET, code: codeA, name: nameA });
        const b = journalAccountName({ type: AccountType.ASSET, code: codeB, name: nameB });
        if (codeA !== codeB) expect(a).not.toBe(b);
        for (const journalName of [a, b]) {
          expect(journalName.startsWith('assets:')).toBe(true);
          // One colon (the type's), no two blanks in a row, no tab, no comment, nothing after a line break.
          expect(journalName.split(':')).toHaveLength(2);
          expect(journalName).not.toMatch(/ {2}|[\t;\n\r]/);
          expect(journalName).toBe(journalName.trim());
        }
      }),
    );
    expect(journalAccountName({ type: AccountType.REVENUE, code: 'SYS-4000-USD', name: 'Revenue (USD)' })).toBe('revenues:SYS-4000-USD Revenue (USD)');
  });
});
