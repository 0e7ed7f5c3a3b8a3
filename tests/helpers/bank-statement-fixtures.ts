import * as fs from 'fs';
import * as path from 'path';
import { StatementFormat, type CsvMapping } from '../../src/modules/reconciliation/importers';

/** The shared bank-statement fixtures (see their SOURCES.md), beside the clone as ../shared in CI. */
export const BANK_STATEMENT_FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/bank-statements');

/** Runs the suite when the fixtures are there; outside CI a missing folder skips it with the reason, in CI it fails. */
export function describeWithStatementFixtures(name: string, suite: () => void): void {
  if (fs.existsSync(BANK_STATEMENT_FIXTURES)) {
    describe(name, suite);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('finds the shared bank-statement fixtures', () => {
        throw new Error(`${BANK_STATEMENT_FIXTURES} is missing: CI must lay shared/ beside the clone`);
      });
    });
  } else {
    describe.skip(`${name} [skipped: ${BANK_STATEMENT_FIXTURES} not found]`, suite);
  }
}

export const FORMAT_OF_FOLDER: Record<string, StatementFormat> = {
  camt052: StatementFormat.CAMT052,
  camt053: StatementFormat.CAMT053,
  camt054: StatementFormat.CAMT054,
  ofx: StatementFormat.OFX,
  mt940: StatementFormat.MT940,
  csv: StatementFormat.CSV,
};

/** Every good fixture as "folder/file", read from disk so a new file must get its expectations. */
export function goodFixtureFiles(): string[] {
  return Object.keys(FORMAT_OF_FOLDER).flatMap((folder) =>
    fs.existsSync(path.join(BANK_STATEMENT_FIXTURES, folder)) ? fs.readdirSync(path.join(BANK_STATEMENT_FIXTURES, folder)).sort().map((file) => `${folder}/${file}`) : [],
  );
}

export function readFixture(file: string): Buffer {
  return fs.readFileSync(path.join(BANK_STATEMENT_FIXTURES, file));
}

/**
 * How each bank's CSV export maps (the documentation of CsvMapping by example). Columns are named by
 * their header text; the bank decides sign conventions: a signed amount column, or separate debit and
 * credit columns holding positive numbers.
 */
export const CSV_MAPPINGS: Record<string, CsvMapping> = {
  // Capital One card: ISO dates, separate Debit/Credit columns, one of them filled per row.
  'csv2ofx__capitalone.csv': {
    dateColumn: 'Transaction Date',
    valueDateColumn: 'Posted Date',
    dateFormat: 'YYYY-MM-DD',
    debitColumn: 'Debit',
    creditColumn: 'Credit',
    descriptionColumn: 'Description',
    decimalSeparator: '.',
    currency: 'USD',
  },
  // GLS Bank: Latin-1 (the header has "Empfänger", "Währung"), ';', German dates, "1.234,56" amounts, purpose in VWZ1..VWZ14.
  'csv2ofx__gls.csv': {
    encoding: 'latin1',
    delimiter: ';',
    dateColumn: 'Buchungstag',
    valueDateColumn: 'Wertstellung',
    dateFormat: 'DD.MM.YYYY',
    amountColumn: 'Betrag',
    decimalSeparator: ',',
    thousandsSeparator: '.',
    descriptionColumn: 'Buchungstext',
    counterpartyColumn: 'Auftraggeber/Empfänger',
    remittanceColumns: ['VWZ1', 'VWZ2', 'VWZ3', 'VWZ4', 'VWZ5', 'VWZ6', 'VWZ7', 'VWZ8', 'VWZ9', 'VWZ10', 'VWZ11', 'VWZ12', 'VWZ13', 'VWZ14'],
    currency: 'EUR',
  },
  // ING Spain: ',', dd/mm/yyyy, a signed amount (the balance column is not read).
  'csv2ofx__ingesp.csv': {
    dateColumn: 'date',
    dateFormat: 'DD/MM/YYYY',
    amountColumn: 'amount',
    descriptionColumn: 'desc',
    decimalSeparator: '.',
    currency: 'EUR',
  },
  // N26: ISO dates, a signed "Amount (EUR)", the partner's name and IBAN.
  'csv2ofx__n26-fr.csv': {
    dateColumn: 'Booking Date',
    dateFormat: 'YYYY-MM-DD',
    amountColumn: 'Amount (EUR)',
    counterpartyColumn: 'Partner Name',
    counterpartyAccountColumn: 'Partner Iban',
    descriptionColumn: 'Type',
    remittanceColumns: ['Payment Reference'],
    decimalSeparator: '.',
    currency: 'EUR',
  },
  // Outbank: ';', US short dates (2/20/19), decimal comma, the counterparty's IBAN in "Number".
  'csv2ofx__outbank.csv': {
    delimiter: ';',
    dateColumn: 'Date',
    valueDateColumn: 'Value Date',
    dateFormat: 'M/D/YY',
    amountColumn: 'Amount',
    decimalSeparator: ',',
    counterpartyColumn: 'Name',
    counterpartyAccountColumn: 'Number',
    remittanceColumns: ['Reason'],
    descriptionColumn: 'Posting Text',
    currency: 'EUR',
  },
  // UBS (French): ';', dd.mm.yyyy value dates, Débit/Crédit columns, apostrophe thousands (11'373.94), transaction number as reference.
  'csv2ofx__ubs-ch-fr_trimmed.csv': {
    delimiter: ';',
    dateColumn: 'Date de valeur',
    valueDateColumn: 'Date de valeur',
    dateFormat: 'DD.MM.YYYY',
    debitColumn: 'Débit',
    creditColumn: 'Crédit',
    decimalSeparator: '.',
    thousandsSeparator: "'",
    descriptionColumn: 'Description 1',
    remittanceColumns: ['Description 2', 'Description 3'],
    referenceColumn: 'N° de transaction',
    currency: 'CHF',
  },
};
