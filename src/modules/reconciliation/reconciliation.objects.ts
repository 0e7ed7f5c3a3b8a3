import { GraphQLJSONObject, LocalDateResolver } from 'graphql-scalars';
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType, Node } from '../../graphql/common.objects';
import { BigIntScalar, CurrencyScalar } from '../../graphql/scalars';
import { StatementFormat } from './importers/statement-types';
import { MatchRule } from './matcher-rules';
import { AccountNumberKind, ReconciliationFlagKind, ReconciliationFlagStatus, StatementLineStatus, StatementSource } from './reconciliation.types';

registerEnumType(AccountNumberKind, { name: 'AccountNumberKind', description: 'IBAN, or OTHER for an account number without one.' });
registerEnumType(StatementLineStatus, {
  name: 'StatementLineStatus',
  description: 'BOOKED: on the account. PENDING: announced, not booked yet (intraday reports). INFO: for information only.',
});
registerEnumType(StatementSource, {
  name: 'StatementSource',
  description: 'How a statement, and its lines, came.',
  valuesConfig: {
    STATEMENT: { description: 'An imported statement file (importBankStatement, POST /bank-accounts/{id}/statements).' },
    NOTIFICATION: { description: 'A real-time notification from the bank (camt.054 or a single-transaction push to POST /bank-accounts/{id}/notifications).' },
  },
});
registerEnumType(ReconciliationFlagKind, {
  name: 'ReconciliationFlagKind',
  description: 'What a discrepancy between the bank, the gateways and the books is.',
  valuesConfig: {
    UNMATCHED_STATEMENT_LINE: { description: 'A statement line no posting matches.' },
    UNMATCHED_LEDGER_ENTRY: { description: 'A posting to the bank’s ledger account no statement line matched within the window.' },
    AMOUNT_MISMATCH: { description: 'A line and a posting that refer to each other differ in amount.' },
    AMBIGUOUS_MATCH: { description: 'Two equally good candidates: none was chosen.' },
    DUPLICATE_STATEMENT_LINE: { description: 'A line that looks like one already imported.' },
    STATEMENT_BALANCE_MISMATCH: { description: 'A statement whose opening balance plus its lines is not its closing balance.' },
    PAYOUT_MISMATCH: { description: 'A gateway payout that differs from what the gateway owes.' },
    GATEWAY_MISMATCH: { description: 'A gateway report that differs from the books.' },
    INVOICE_AMOUNT_MISMATCH: {
      description:
        'A line matched by invoice number paid another amount than the invoice still owed: it was recorded all the same (an underpayment leaves the invoice OPEN, an overpayment becomes customer credit); details say how much was expected and received.',
    },
    INVOICE_NOT_PAYABLE: {
      description: 'A line names an invoice it could not pay (not OPEN, another currency, or several invoices): nothing was recorded and the line is left unmatched; details say why.',
    },
  },
});
registerEnumType(ReconciliationFlagStatus, { name: 'ReconciliationFlagStatus', description: 'OPEN → ACKNOWLEDGED → RESOLVED; a cause that returns reopens its flag.' });

@ObjectType({ description: 'How the matching engine works for a bank account (updateBankAccountMatchingSettings changes it).' })
export class BankAccountMatchingSettings {
  @Field(() => [MatchRule], { description: 'The rules that run, in this order; a rule not listed never matches.' })
  rules!: MatchRule[];

  @Field(() => Int, { description: 'Business days a statement line and a posting may lie apart and still match.' })
  windowBusinessDays!: number;

  @Field(() => Int, { description: 'The most items a group found by summing (without a shared reference) may hold.' })
  maxGroupSize!: number;

  @Field(() => Int, { description: 'Groups are searched by summing only when at most this many candidates lie in the window.' })
  maxGroupCandidates!: number;
}

@ObjectType({ implements: Node, description: 'A bank account whose statements are imported and reconciled with the ledger account it mirrors.' })
export class BankAccount extends Node {
  @Field()
  name!: string;

  @Field(() => AccountNumberKind)
  accountNumberKind!: AccountNumberKind;

  @Field({ description: 'The last four characters of the IBAN or account number; the number itself is stored encrypted and never shown.' })
  last4!: string;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field(() => Int, { description: 'Business days a statement line and a posting may lie apart and still match.', deprecationReason: 'Use matching.windowBusinessDays.' })
  matchWindowBusinessDays!: number;

  @Field(() => BankAccountMatchingSettings, { description: 'How the matching engine works for this account.' })
  matching!: BankAccountMatchingSettings;

  @Field()
  createdAt!: Date;
}

export const BankAccountConnection = ConnectionType(BankAccount, 'BankAccount', { totalCount: 'the bank accounts the filter selects' });

@ObjectType({ implements: Node, description: 'One line of a bank statement, as the bank reported it.' })
export class BankStatementLine extends Node {
  @Field(() => LocalDateResolver, { nullable: true })
  bookingDate!: string | null;

  @Field(() => LocalDateResolver, { nullable: true })
  valueDate!: string | null;

  @Field(() => String, { nullable: true, description: 'The bank’s own reference (camt AcctSvcrRef, OFX FITID, MT940 bank reference).' })
  bankReference!: string | null;

  @Field(() => String, { nullable: true, description: 'The payer’s end-to-end id (camt EndToEndId, MT940 EREF+).' })
  endToEndId!: string | null;

  @Field(() => String, { nullable: true })
  counterpartyName!: string | null;

  @Field(() => String, { nullable: true, description: 'The counterparty’s IBAN or other account id.' })
  counterpartyAccount!: string | null;

  @Field(() => String, { nullable: true })
  remittanceInformation!: string | null;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => StatementLineStatus)
  status!: StatementLineStatus;

  @Field({ description: 'Where in the file the line was: "Stmt[0]/Ntry[2]/TxDtls[1]", "line 14".' })
  sourceLocation!: string;

  @Field()
  createdAt!: Date;
}

export const BankStatementLineConnection = ConnectionType(BankStatementLine, 'BankStatementLine', { totalCount: 'the lines the field selects' });

@ObjectType({ implements: Node, description: 'A statement imported into a bank account.' })
export class BankStatement extends Node {
  @Field(() => StatementFormat)
  format!: StatementFormat;

  @Field(() => String, { nullable: true, description: 'The bank’s id of the statement (camt Stmt/Id, MT940 :20:/:28C:).' })
  statementReference!: string | null;

  @Field(() => LocalDateResolver, { nullable: true })
  fromDate!: string | null;

  @Field(() => LocalDateResolver, { nullable: true })
  toDate!: string | null;

  @Field(() => CurrencyScalar)
  currency!: string;

  @Field(() => Int, { description: 'Lines in the file for this statement.' })
  lineCount!: number;

  @Field(() => Int, { description: 'Lines this import stored.' })
  importedLineCount!: number;

  @Field(() => Int, { description: 'Lines an earlier import had stored already (the same or an overlapping statement), not stored again.' })
  duplicateLineCount!: number;

  @Field(() => Int, { description: 'Lines a real-time notification had stored already, which this statement confirmed (not counted as duplicates). 0 for a notification.' })
  confirmedLineCount!: number;

  @Field(() => StatementSource, { description: 'STATEMENT for an imported file; NOTIFICATION for a notification, stored as a statement holding its lines.' })
  source!: StatementSource;

  @Field()
  importedAt!: Date;
}

@ObjectType({ implements: Node, description: 'A discrepancy between the bank, the gateways and the books, for an auditor to follow.' })
export class ReconciliationFlag extends Node {
  @Field(() => ReconciliationFlagKind)
  kind!: ReconciliationFlagKind;

  @Field(() => ReconciliationFlagStatus)
  status!: ReconciliationFlagStatus;

  @Field(() => BigIntScalar, { description: 'The tenant’s sequence number of the flag’s last step (raised, recurred, reopened, acknowledged, resolved): every step of every flag of the tenant takes the next one. The order flags are listed in.' })
  sequence!: bigint;

  @Field(() => GraphQLJSONObject, { description: 'The values that differ, by kind (e.g. statedClosingBalance, expectedClosingBalance, difference).' })
  details!: Record<string, unknown>;

  @Field(() => Int, { description: 'How many times the cause has occurred (a reopened flag counts again).' })
  occurrenceCount!: number;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

export const ReconciliationFlagConnection = ConnectionType(ReconciliationFlag, 'ReconciliationFlag', { totalCount: 'the flags the filter selects' });

@ObjectType()
export class BankAccountPayload {
  @Field(() => BankAccount)
  bankAccount!: BankAccount;

  @Field(() => String, {
    nullable: true,
    description:
      'The secret (bnsec_…) that signs this bank account’s notifications to POST /bank-accounts/{id}/notifications, answered by createBankAccount and rollBankAccountNotificationSecret only (null elsewhere). Shown once; store it now. Rolling it replaces it at once.',
  })
  notificationSecret?: string | null;
}

@ObjectType()
export class ImportBankStatementPayload {
  @Field(() => [BankStatement], {
    description: 'The file’s statements for this bank account, in file order; one imported before is listed as it was then stored.',
  })
  statements!: BankStatement[];

  @Field(() => Int, { description: 'Lines stored by this import.' })
  importedLineCount!: number;

  @Field(() => Int, { description: 'Lines of the file already stored by an earlier import (or twice in this file), not stored again.' })
  duplicateLineCount!: number;

  @Field(() => Int, { description: 'Lines real-time notifications had stored, which this file’s statements confirmed (not counted as duplicates).' })
  confirmedLineCount!: number;

  @Field(() => Int, { description: 'Statements of the file for other accounts or currencies (multi-account files), left out.' })
  otherAccountStatementCount!: number;

  @Field(() => [ReconciliationFlag], { description: 'Flags this import raised, such as STATEMENT_BALANCE_MISMATCH.' })
  flags!: ReconciliationFlag[];
}
