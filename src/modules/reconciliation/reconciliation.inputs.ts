import { Field, ID, InputType, Int, registerEnumType } from 'type-graphql';
import { CurrencyScalar } from '../../graphql/scalars';
import { MatchRule } from './matcher-rules';
import { StatementFormat } from './importers/statement-types';
import { ReconciliationFlagKind, ReconciliationFlagStatus } from './reconciliation.types';

/** How `content` carries the file. */
export enum ContentEncoding {
  TEXT = 'TEXT',
  BASE64 = 'BASE64',
}

export enum CsvEncoding {
  UTF8 = 'utf-8',
  LATIN1 = 'latin1',
}

registerEnumType(StatementFormat, {
  name: 'StatementFormat',
  description: 'A bank statement file format.',
  valuesConfig: {
    CAMT053: { description: 'ISO 20022 camt.053 end-of-day statement (001.02 to 001.08).' },
    CAMT052: { description: 'ISO 20022 camt.052 intraday account report.' },
    CAMT054: { description: 'ISO 20022 camt.054 debit/credit notification.' },
    OFX: { description: 'OFX 1.x (SGML) or 2.x (XML) bank or credit card statement.' },
    MT940: { description: 'SWIFT MT940 customer statement.' },
    CSV: { description: 'A bank’s CSV export; needs csvMapping.' },
    PUSH: { description: 'A single-transaction JSON push the bank sent to POST /bank-accounts/:id/notifications; not importable as a file.' },
  },
});
registerEnumType(ContentEncoding, {
  name: 'ContentEncoding',
  description: 'TEXT: the file as a string. BASE64: the file’s bytes in base64 (for files that are not UTF-8, such as Latin-1 CSV exports).',
});
registerEnumType(CsvEncoding, { name: 'CsvEncoding', valuesConfig: { UTF8: { description: 'utf-8' }, LATIN1: { description: 'ISO 8859-1' } } });

registerEnumType(MatchRule, {
  name: 'MatchRule',
  description: 'A rule of the matching engine, as a bank account’s matching settings list them.',
  valuesConfig: {
    REFERENCE: { description: 'A reference on the line (end-to-end id, remittance, bank reference) equals, or is the truncated start of, the posting’s, with equal amounts.' },
    AMOUNT_DATE: { description: 'Equal amount, dates within the window, exactly one candidate on each side.' },
    MANY_TO_ONE: { description: 'One line equals the sum of several postings (a gateway payout: captures − refunds − fees).' },
    ONE_TO_MANY: { description: 'One posting equals the sum of several lines (an invoice paid in instalments).' },
    INVOICE_NUMBER: {
      description:
        'A line of money in that the other rules left unmatched names one OPEN invoice by its number (in the remittance text or a reference): it is recorded as that invoice’s payment and matched to the posting that writes. Runs after the other rules, wherever it is listed.',
    },
  },
});

@InputType({ description: 'Matching settings of a bank account. A field left out (or null) keeps its value: the default when creating the account, the current one when updating.' })
export class BankAccountMatchingSettingsInput {
  @Field(() => [MatchRule], {
    nullable: true,
    description: 'The rules that run, in this order: at least one, each once (default REFERENCE, AMOUNT_DATE, MANY_TO_ONE, ONE_TO_MANY). A rule left out never matches.',
  })
  rules?: MatchRule[] | null;

  @Field(() => Int, { nullable: true, description: 'Business days a statement line and a posting may lie apart and still match, 0 to 30 (default 3).' })
  windowBusinessDays?: number | null;

  @Field(() => Int, { nullable: true, description: 'The most items a MANY_TO_ONE or ONE_TO_MANY group found by summing (without a shared reference) may hold, 2 to 10 (default 4).' })
  maxGroupSize?: number | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Groups are searched by summing only when at most this many candidates lie in the window, 0 to 16 (default 12; 0: never). Each one more doubles the work.',
  })
  maxGroupCandidates?: number | null;
}

@InputType({ description: 'New matching settings for a bank account; what is left out stays as it is. At least one setting.' })
export class UpdateBankAccountMatchingSettingsInput extends BankAccountMatchingSettingsInput {
  @Field(() => ID)
  bankAccountId!: string;
}

@InputType()
export class CreateBankAccountInput {
  @Field({ description: '1 to 200 characters.' })
  name!: string;

  @Field(() => String, {
    nullable: true,
    description: 'The IBAN (spaces allowed; country format and check digits are verified). Stored encrypted; shown only as its last four characters. Give this or accountNumber.',
  })
  iban?: string | null;

  @Field(() => String, { nullable: true, description: 'An account number for an account without an IBAN (4 to 34 letters or digits). Stored encrypted.' })
  accountNumber?: string | null;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field(() => ID, { description: 'The cash-at-bank ledger account this bank account mirrors: an ASSET account of the tenant in the same currency.' })
  ledgerAccountId!: string;

  @Field(() => Int, {
    nullable: true,
    description: 'How many business days a statement line and a posting may lie apart and still match (0 to 30; default 3).',
    deprecationReason: 'Use matching.windowBusinessDays. Both may be given only when equal.',
  })
  matchWindowBusinessDays?: number | null;

  @Field(() => BankAccountMatchingSettingsInput, { nullable: true, description: 'How the matching engine works for this account; left out, or any field of it left out: the default.' })
  matching?: BankAccountMatchingSettingsInput | null;
}

@InputType({ description: 'Which columns of a CSV export hold what. A column is named by its header text, or by its 0-based index written as digits.' })
export class CsvMappingInput {
  @Field(() => String, { nullable: true, description: 'One character; detected among "," ";" and tab when left out.' })
  delimiter?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Whether the first row (after skipRows) names the columns. Default true.' })
  hasHeader?: boolean | null;

  @Field(() => Int, { nullable: true, description: 'Rows to skip before the header (a bank’s preamble).' })
  skipRows?: number | null;

  @Field(() => CsvEncoding, { nullable: true, description: 'How the file’s bytes are text (default UTF8). Send a LATIN1 file with encoding BASE64.' })
  encoding?: CsvEncoding | null;

  @Field()
  dateColumn!: string;

  @Field({ description: 'e.g. "DD/MM/YYYY", "YYYY-MM-DD", "MM/DD/YYYY", "DD.MM.YYYY".' })
  dateFormat!: string;

  @Field(() => String, { nullable: true })
  valueDateColumn?: string | null;

  @Field(() => String, { nullable: true, description: 'A signed amount; or give debitColumn and creditColumn.' })
  amountColumn?: string | null;

  @Field(() => String, { nullable: true, description: 'Money out, as a positive number.' })
  debitColumn?: string | null;

  @Field(() => String, { nullable: true, description: 'Money in, as a positive number.' })
  creditColumn?: string | null;

  @Field(() => String, { nullable: true })
  descriptionColumn?: string | null;

  @Field(() => String, { nullable: true, description: 'The bank’s reference of the line.' })
  referenceColumn?: string | null;

  @Field(() => String, { nullable: true })
  counterpartyColumn?: string | null;

  @Field(() => String, { nullable: true })
  counterpartyAccountColumn?: string | null;

  @Field(() => [String], { nullable: true, description: 'Columns joined with a space into the remittance information.' })
  remittanceColumns?: string[] | null;

  @Field({ description: '"." or ",".' })
  decimalSeparator!: string;

  @Field(() => String, { nullable: true, description: 'e.g. ",", ".", "\'" or " ".' })
  thousandsSeparator?: string | null;

  @Field(() => CurrencyScalar)
  currency!: string;
}

@InputType()
export class ImportBankStatementInput {
  @Field(() => ID)
  bankAccountId!: string;

  @Field(() => StatementFormat)
  format!: StatementFormat;

  @Field({ description: 'The whole file (at most 2 MB through GraphQL; larger files: POST /bank-accounts/{id}/statements).' })
  content!: string;

  @Field(() => ContentEncoding, { nullable: true, description: 'Default TEXT.' })
  contentEncoding?: ContentEncoding | null;

  @Field(() => CsvMappingInput, { nullable: true, description: 'Required for CSV, refused for the other formats.' })
  csvMapping?: CsvMappingInput | null;
}

@InputType()
export class RollBankAccountNotificationSecretInput {
  @Field(() => ID, { description: 'The bank account whose notification secret is replaced.' })
  bankAccountId!: string;
}

@InputType()
export class BankAccountFilterInput {
  @Field(() => CurrencyScalar, { nullable: true, description: 'Bank accounts in this currency.' })
  currency?: string | null;

  @Field(() => ID, { nullable: true, description: 'The bank account registered against this ledger cash account.' })
  ledgerAccountId?: string | null;
}

@InputType()
export class ReconciliationFlagFilterInput {
  @Field(() => ID, { nullable: true, description: 'Flags on this bank account.' })
  bankAccountId?: string | null;

  @Field(() => ReconciliationFlagKind, { nullable: true, description: 'Flags of this kind.' })
  kind?: ReconciliationFlagKind | null;

  @Field(() => ReconciliationFlagStatus, { nullable: true, description: 'Flags with this status.' })
  status?: ReconciliationFlagStatus | null;
}
