import {
  CreateBankAccountDocument,
  type CreateBankAccountInput,
  type CsvMappingInput,
  ImportBankStatementDocument,
  type ImportBankStatementInput,
  PostJournalEntryDocument,
  type StatementFormat,
} from '../generated/graphql';
import { BANK_STATEMENT_FIXTURES, readFixture } from './bank-statement-fixtures';
import type { GraphQLClient } from './graphql-client';
import { createAccount } from './ledger-fixtures';

// One place knows where the shared fixtures are and how a suite behaves without them.
export { describeWithStatementFixtures } from './bank-statement-fixtures';
export const STATEMENT_FIXTURES_DIR = BANK_STATEMENT_FIXTURES;
export const fixtureBytes = readFixture;

/** A file as importBankStatement's `content`: UTF-8 text as it is, anything else base64. */
export function contentOfFile(bytes: Buffer): Pick<ImportBankStatementInput, 'content' | 'contentEncoding'> {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? { content: text, contentEncoding: 'TEXT' } : { content: bytes.toString('base64'), contentEncoding: 'BASE64' };
}

/** The column mappings of the CSV fixtures, as their banks' exports lay them out. */
export const CSV_MAPPINGS: Record<string, CsvMappingInput> = {
  'csv/csv2ofx__capitalone.csv': {
    dateColumn: 'Posted Date',
    dateFormat: 'YYYY-MM-DD',
    valueDateColumn: 'Transaction Date',
    debitColumn: 'Debit',
    creditColumn: 'Credit',
    descriptionColumn: 'Description',
    decimalSeparator: '.',
    currency: 'USD',
  },
  'csv/csv2ofx__gls.csv': {
    delimiter: ';',
    encoding: 'LATIN1',
    dateColumn: 'Buchungstag',
    dateFormat: 'DD.MM.YYYY',
    valueDateColumn: 'Wertstellung',
    amountColumn: 'Betrag',
    counterpartyColumn: 'Auftraggeber/Empfänger',
    descriptionColumn: 'Buchungstext',
    remittanceColumns: ['VWZ1', 'VWZ2', 'VWZ3', 'VWZ4', 'VWZ5', 'VWZ6', 'VWZ7', 'VWZ8', 'VWZ9', 'VWZ10', 'VWZ11', 'VWZ12', 'VWZ13', 'VWZ14'],
    decimalSeparator: ',',
    thousandsSeparator: '.',
    currency: 'EUR',
  },
  'csv/csv2ofx__ingesp.csv': {
    dateColumn: 'date',
    dateFormat: 'DD/MM/YYYY',
    amountColumn: 'amount',
    descriptionColumn: 'desc',
    decimalSeparator: '.',
    currency: 'EUR',
  },
  'csv/csv2ofx__n26-fr.csv': {
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
  'csv/csv2ofx__outbank.csv': {
    delimiter: ';',
    dateColumn: 'Date',
    dateFormat: 'M/D/YY',
    valueDateColumn: 'Value Date',
    amountColumn: 'Amount',
    counterpartyColumn: 'Name',
    counterpartyAccountColumn: 'Number',
    descriptionColumn: 'Posting Text',
    remittanceColumns: ['Reason'],
    decimalSeparator: ',',
    currency: 'EUR',
  },
  'csv/csv2ofx__ubs-ch-fr_trimmed.csv': {
    delimiter: ';',
    dateColumn: 'Date de valeur',
    dateFormat: 'DD.MM.YYYY',
    debitColumn: 'Débit',
    creditColumn: 'Crédit',
    descriptionColumn: 'Description 1',
    remittanceColumns: ['Description 2', 'Description 3'],
    referenceColumn: 'N° de transaction',
    decimalSeparator: '.',
    thousandsSeparator: "'",
    currency: 'CHF',
  },
};

export interface FixtureExpectation {
  file: string;
  format: StatementFormat;
  /** The bank account the file is imported into: its IBAN, or its number when it has none (or the sample's IBAN fails its check digits). */
  account: { iban: string } | { accountNumber: string } | null;
  currency: string;
  /** Statements of the file for this account, and the lines they hold (SOURCES.md; camt batch entries count one line per transaction). */
  statements: number;
  lines: number;
  /** Statements of the file for other accounts or currencies. */
  otherStatements: number;
  /** Statements whose opening balance plus lines is not their closing balance. */
  balanceMismatches: number;
}

const iban = (value: string) => ({ iban: value });
const number = (value: string) => ({ accountNumber: value });

/** Every good fixture, with the bank account it goes into and what the import must find. */
export const FIXTURES: FixtureExpectation[] = [
  { file: 'camt053/genkgo__camt053.v2.all-balance-types.xml', format: 'CAMT053', account: iban('CH2801234000123456789'), currency: 'EUR', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 1 },
  { file: 'camt053/genkgo__camt053.v2.minimal.xml', format: 'CAMT053', account: iban('NL26VAYB8060476890'), currency: 'EUR', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt053/genkgo__camt053.v2.multi.statement.xml', format: 'CAMT053', account: iban('NL26VAYB8060476890'), currency: 'EUR', statements: 2, lines: 2, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt053/genkgo__camt053.v3.xml', format: 'CAMT053', account: iban('NL26VAYB8060476890'), currency: 'EUR', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt053/genkgo__camt053.v4.xml', format: 'CAMT053', account: iban('NL26VAYB8060476890'), currency: 'EUR', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt053/genkgo__camt053.v8.xml', format: 'CAMT053', account: iban('NL26VAYB8060476890'), currency: 'EUR', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt053/viafintech__053_valid_example.xml', format: 'CAMT053', account: iban('DE14740618130000033626'), currency: 'EUR', statements: 1, lines: 5, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt053/viafintech__053_valid_example_v4.xml', format: 'CAMT053', account: iban('CH0309000000250090342'), currency: 'CHF', statements: 1, lines: 32, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt053/viafintech__053_valid_example_v8.xml', format: 'CAMT053', account: number('CH1111111111111111111'), currency: 'CHF', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 1 },
  { file: 'camt053/viafintech__053_valid_example_with_batch.xml', format: 'CAMT053', account: number('NL18INGB00012345678'), currency: 'EUR', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 1 },
  { file: 'camt052/genkgo__camt052.v2.xml', format: 'CAMT052', account: iban('CH2801234000123456789'), currency: 'SEK', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt052/viafintech__052_valid_example.xml', format: 'CAMT052', account: iban('DE58740618130100033626'), currency: 'EUR', statements: 1, lines: 2, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt054/genkgo__camt054.v2.xml', format: 'CAMT054', account: iban('CH2801234000123456789'), currency: 'SEK', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'camt054/viafintech__054_valid_example.xml', format: 'CAMT054', account: iban('CH0309000000250090342'), currency: 'CHF', statements: 1, lines: 5, otherStatements: 0, balanceMismatches: 0 },
  { file: 'ofx/ofxparse__checking.ofx', format: 'OFX', account: number('1452687~7'), currency: 'USD', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 0 },
  { file: 'ofx/ofxparse__bank_medium.ofx', format: 'OFX', account: number('12300 000012345678'), currency: 'CAD', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 0 },
  { file: 'ofx/ofxparse__suncorp.ofx', format: 'OFX', account: number('123456789'), currency: 'AUD', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'ofx/ofxparse__anzcc.ofx', format: 'OFX', account: number('1234123412341234'), currency: 'AUD', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
  { file: 'ofx/ofxparse__multiple_accounts.ofx', format: 'OFX', account: number('9100'), currency: 'USD', statements: 1, lines: 0, otherStatements: 1, balanceMismatches: 0 },
  { file: 'ofx/asgrim__ofxdata-xml.ofx', format: 'OFX', account: number('098-121'), currency: 'USD', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 0 },
  { file: 'ofx/asgrim__ofxdata-banking-xml200.ofx', format: 'OFX', account: number('12345678901'), currency: 'ZAR', statements: 1, lines: 0, otherStatements: 0, balanceMismatches: 0 },
  { file: 'ofx/asgrim__ofx-multiple-accounts-xml.ofx', format: 'OFX', account: number('546582659855'), currency: 'GBP', statements: 1, lines: 2, otherStatements: 2, balanceMismatches: 0 },
  { file: 'mt940/wolph__ASNB_mt940.txt', format: 'MT940', account: number('NL81ASNB9999999999'), currency: 'EUR', statements: 31, lines: 8, otherStatements: 0, balanceMismatches: 0 },
  { file: 'mt940/wolph__jejik_ing.sta', format: 'MT940', account: number('0001234567'), currency: 'EUR', statements: 1, lines: 7, otherStatements: 0, balanceMismatches: 1 },
  { file: 'mt940/wolph__jejik_rabobank-iban.sta', format: 'MT940', account: number('NL71RABO0123456789'), currency: 'EUR', statements: 2, lines: 4, otherStatements: 0, balanceMismatches: 0 },
  { file: 'mt940/wolph__jejik_knab.sta', format: 'MT940', account: number('123456789'), currency: 'EUR', statements: 2, lines: 3, otherStatements: 0, balanceMismatches: 1 },
  { file: 'mt940/wolph__mBank_mt940.sta', format: 'MT940', account: iban('PL29114010810000267002001002'), currency: 'PLN', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 0 },
  { file: 'mt940/wolph__sberbank_171011_01234945.sta', format: 'MT940', account: number('1966315302010001'), currency: 'HUF', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 0 },
  // Three statements in DEM, EUR and PLN: DEM is withdrawn (no ledger account can hold it); the other two each go to their own account.
  { file: 'mt940/wolph__cmxl_mt940.sta', format: 'MT940', account: number('10020030/1234567'), currency: 'EUR', statements: 1, lines: 2, otherStatements: 2, balanceMismatches: 0 },
  { file: 'mt940/wolph__cmxl_mt940.sta', format: 'MT940', account: number('BPHKPLPK/320000546101'), currency: 'PLN', statements: 1, lines: 3, otherStatements: 2, balanceMismatches: 0 },
  // Two statements of two accounts.
  { file: 'mt940/wolph__betterplace_sepa_snippet.sta', format: 'MT940', account: number('50880050/0194787400888'), currency: 'EUR', statements: 1, lines: 4, otherStatements: 1, balanceMismatches: 0 },
  { file: 'mt940/wolph__betterplace_sepa_snippet.sta', format: 'MT940', account: number('50880050/0194791600888'), currency: 'EUR', statements: 1, lines: 7, otherStatements: 1, balanceMismatches: 1 },
  // CSV exports name no account: any bank account in the mapping's currency takes them.
  // SOURCES.md says 9 and 3 rows; the files hold 10 and 4 data rows under their header.
  { file: 'csv/csv2ofx__ingesp.csv', format: 'CSV', account: null, currency: 'EUR', statements: 1, lines: 10, otherStatements: 0, balanceMismatches: 0 },
  { file: 'csv/csv2ofx__ubs-ch-fr_trimmed.csv', format: 'CSV', account: null, currency: 'CHF', statements: 1, lines: 3, otherStatements: 0, balanceMismatches: 0 },
  { file: 'csv/csv2ofx__outbank.csv', format: 'CSV', account: null, currency: 'EUR', statements: 1, lines: 4, otherStatements: 0, balanceMismatches: 0 },
  { file: 'csv/csv2ofx__capitalone.csv', format: 'CSV', account: null, currency: 'USD', statements: 1, lines: 2, otherStatements: 0, balanceMismatches: 0 },
  { file: 'csv/csv2ofx__n26-fr.csv', format: 'CSV', account: null, currency: 'EUR', statements: 1, lines: 2, otherStatements: 0, balanceMismatches: 0 },
  { file: 'csv/csv2ofx__gls.csv', format: 'CSV', account: null, currency: 'EUR', statements: 1, lines: 1, otherStatements: 0, balanceMismatches: 0 },
];

let accountSequence = 0;

/** A bank account mirrored by a fresh ASSET ledger account in its currency; a number of its own unless one is given. */
export async function createBankAccount(
  client: GraphQLClient,
  input: Partial<CreateBankAccountInput> & { currency?: string } = {},
) {
  accountSequence += 1;
  const currency = input.currency ?? 'EUR';
  const ledgerAccount = await createAccount(client, { type: 'ASSET', currency });
  const hasNumber = input.iban !== undefined || input.accountNumber !== undefined;
  const { createBankAccount: payload } = await client.ok(CreateBankAccountDocument, {
    input: {
      name: `Bank ${accountSequence}`,
      ledgerAccountId: ledgerAccount.id,
      ...(hasNumber ? {} : { accountNumber: `ACC${process.pid}X${accountSequence}` }),
      ...input,
      currency,
    },
  });
  return payload.bankAccount;
}

/** The importBankStatement input of a fixture file, into the bank account given. */
export function fixtureImport(bankAccountId: string, file: string, format: StatementFormat, bytes: Buffer = fixtureBytes(file)): ImportBankStatementInput {
  return { bankAccountId, format, ...contentOfFile(bytes), ...(format === 'CSV' ? { csvMapping: CSV_MAPPINGS[file] } : {}) };
}

export async function importFixture(client: GraphQLClient, bankAccountId: string, file: string, format: StatementFormat, idempotencyKey?: string) {
  const { importBankStatement } = await client.ok(ImportBankStatementDocument, { input: fixtureImport(bankAccountId, file, format), idempotencyKey });
  return importBankStatement;
}

/**
 * A statement that adds up (1,000.00 + 98.50 + 40.00 = 1,138.50) into the IBAN DE14740618130000033626
 * with two discrepancies for books that have INV-2001 paid at 100.00: the customer's payment short by
 * the bank's 1.50 fee (AMOUNT_MISMATCH), and a transfer the books lack (UNMATCHED_STATEMENT_LINE).
 * Both lines are dated long enough ago that their matching window has passed.
 */
export const TWO_DISCREPANCIES_MT940 = [
  ':20:E2E-FLAGS',
  ':25:DE14740618130000033626',
  ':28C:1/1',
  ':60F:C260101EUR1000,00',
  ':61:2601050105C98,50NTRFINV-2001//B26010500001',
  ':86:ACME GmbH payment INV-2001',
  ':61:2601060106C40,00NTRFNONREF//B26010600002',
  ':86:Unknown sender',
  ':62F:C260106EUR1138,50',
  '',
].join('\n');

/**
 * The books TWO_DISCREPANCIES_MT940 is meant for: its bank account (by IBAN) and INV-2001 paid at
 * 100.00 into it, so that importing the statement raises exactly its two flags. Returns the bank account.
 */
export async function bankAccountAwaitingTwoDiscrepancies(client: GraphQLClient) {
  const bank = await createBankAccount(client, { iban: 'DE14740618130000033626', currency: 'EUR' });
  const revenue = await createAccount(client, { type: 'REVENUE', currency: 'EUR' });
  await client.ok(PostJournalEntryDocument, {
    input: {
      description: 'Invoice INV-2001 paid',
      externalRef: 'INV-2001',
      lines: [
        { accountId: bank.ledgerAccount.id, direction: 'DEBIT', amount: '100.00', currency: 'EUR' },
        { accountId: revenue.id, direction: 'CREDIT', amount: '100.00', currency: 'EUR' },
      ],
    },
  });
  return bank;
}
