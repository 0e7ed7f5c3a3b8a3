import { AppError, ErrorCode } from '../../src/common/errors';
import { lineFingerprints } from '../../src/modules/reconciliation/line-fingerprint';
import { parseStatementFile, StatementFormat } from '../../src/modules/reconciliation/importers';
import { AccountNumberKind } from '../../src/modules/reconciliation/reconciliation.types';
import { parseTransactionPush } from '../../src/modules/reconciliation/transaction-push';

/**
 * The single-transaction push a bank sends to POST /bank-accounts/:id/notifications: read into the
 * line an importer would give for the same transaction (so the later statement finds it by its
 * fingerprint), and refused field by field, naming the field, for anything else.
 */

const ACCOUNT = { accountNumberKind: AccountNumberKind.IBAN, accountNumber: 'DE14740618130000033626', currency: 'EUR' };
const VALID = { transactionId: 'B26011200001', amount: '-89.90', currency: 'EUR', bookingDate: '2026-01-12' };

function refusal(json: unknown): { code: string; field: unknown } {
  try {
    parseTransactionPush(json, ACCOUNT);
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, field: error.details.field };
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(json)}`);
}

describe('transaction push', () => {
  it('reads a full push into one statement of one line, for the account the URL named', () => {
    const parsed = parseTransactionPush(
      {
        ...VALID,
        amount: '89.90',
        creditDebit: 'DEBIT',
        valueDate: '2026-01-13',
        status: 'PENDING',
        endToEndId: 'RENT-2026-01',
        counterpartyName: ' Office Rent Ltd ',
        counterpartyAccount: 'DE89370400440532013000',
        remittanceInformation: 'Rent January',
        description: 'SEPA transfer',
      },
      ACCOUNT,
    );
    expect(parsed.format).toBe('PUSH');
    expect(parsed.statements).toHaveLength(1);
    expect(parsed.statements[0]).toMatchObject({ statementId: 'B26011200001', accountIban: ACCOUNT.accountNumber, accountNumber: null, currency: 'EUR', fromDate: '2026-01-12', toDate: '2026-01-12', balanceCheck: null });
    expect(parsed.statements[0].lines).toEqual([
      {
        amountMinor: -8990n,
        currency: 'EUR',
        bookingDate: '2026-01-12',
        valueDate: '2026-01-13',
        bankReference: 'B26011200001',
        endToEndId: 'RENT-2026-01',
        counterpartyName: 'Office Rent Ltd',
        counterpartyAccount: 'DE89370400440532013000',
        remittanceInformation: 'Rent January',
        description: 'SEPA transfer',
        status: 'PENDING',
        sourceLocation: 'push',
      },
    ]);
  });

  it('takes a signed amount, CREDIT as money in, and null as absent', () => {
    const amount = (json: Record<string, unknown>) => parseTransactionPush({ ...VALID, ...json }, ACCOUNT).statements[0].lines[0].amountMinor;
    expect(amount({ amount: '12.5' })).toBe(1250n);
    expect(amount({ amount: '12.50', creditDebit: 'CREDIT' })).toBe(1250n);
    expect(amount({ amount: '-0.01', creditDebit: null })).toBe(-1n);
    expect(parseTransactionPush({ ...VALID, valueDate: null, endToEndId: null }, ACCOUNT).statements[0].lines[0]).toMatchObject({ valueDate: null, endToEndId: null, status: 'BOOKED' });
    const otherNumber = parseTransactionPush(VALID, { ...ACCOUNT, accountNumberKind: AccountNumberKind.OTHER, accountNumber: '0001234567' });
    expect(otherNumber.statements[0]).toMatchObject({ accountIban: null, accountNumber: '0001234567' });
  });

  it('gives the push the fingerprint the camt.053 line of the same transaction has', () => {
    const push = parseTransactionPush({ ...VALID, endToEndId: 'RENT-2026-01', remittanceInformation: 'differs from the statement' }, ACCOUNT);
    const statement = parseStatementFile(
      StatementFormat.CAMT053,
      `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt><GrpHdr><MsgId>S</MsgId><CreDtTm>2026-01-13T22:00:00</CreDtTm></GrpHdr>
       <Stmt><Id>S</Id><Acct><Id><IBAN>DE14740618130000033626</IBAN></Id><Ccy>EUR</Ccy></Acct>
       <Ntry><Amt Ccy="EUR">89.90</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-01-12</Dt></BookgDt><AcctSvcrRef>B26011200001</AcctSvcrRef>
       <NtryDtls><TxDtls><Refs><EndToEndId>RENT-2026-01</EndToEndId></Refs></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>`,
    );
    expect(lineFingerprints(push.statements[0])).toEqual(lineFingerprints(statement.statements[0]));
    const otherAmount = parseTransactionPush({ ...VALID, amount: '-89.91', endToEndId: 'RENT-2026-01' }, ACCOUNT);
    expect(lineFingerprints(otherAmount.statements[0])).not.toEqual(lineFingerprints(statement.statements[0]));
  });

  it.each<[string, unknown, string]>([
    ['not an object', [VALID], 'body'],
    ['a string', 'push', 'body'],
    ['an unknown field', { ...VALID, amountMinor: 8990 }, 'amountMinor'],
    ['no transactionId', { ...VALID, transactionId: undefined }, 'transactionId'],
    ['an empty transactionId', { ...VALID, transactionId: '' }, 'transactionId'],
    ['a transactionId with a newline', { ...VALID, transactionId: 'B1\nB2' }, 'transactionId'],
    ['a transactionId of 256 characters', { ...VALID, transactionId: 'X'.repeat(256) }, 'transactionId'],
    ['a numeric transactionId', { ...VALID, transactionId: 12 }, 'transactionId'],
    ['no currency', { ...VALID, currency: undefined }, 'currency'],
    ['another currency', { ...VALID, currency: 'USD' }, 'currency'],
    ['no amount', { ...VALID, amount: undefined }, 'amount'],
    ['a numeric amount', { ...VALID, amount: -89.9 }, 'amount'],
    ['a decimal comma', { ...VALID, amount: '89,90' }, 'amount'],
    ['too many decimals', { ...VALID, amount: '89.901' }, 'amount'],
    ['a zero amount', { ...VALID, amount: '0.00' }, 'amount'],
    ['an amount past 64 bits', { ...VALID, amount: '99999999999999999999' }, 'amount'],
    ['a signed amount with creditDebit', { ...VALID, amount: '-89.90', creditDebit: 'DEBIT' }, 'amount'],
    ['a bad creditDebit', { ...VALID, amount: '89.90', creditDebit: 'DBIT' }, 'creditDebit'],
    ['no bookingDate', { ...VALID, bookingDate: undefined }, 'bookingDate'],
    ['a bookingDate with a time', { ...VALID, bookingDate: '2026-01-12T10:00:00Z' }, 'bookingDate'],
    ['a bookingDate not on the calendar', { ...VALID, bookingDate: '2026-02-30' }, 'bookingDate'],
    ['a bad valueDate', { ...VALID, valueDate: '12.01.2026' }, 'valueDate'],
    ['a bad status', { ...VALID, status: 'BOOK' }, 'status'],
    ['an empty counterpartyName', { ...VALID, counterpartyName: '  ' }, 'counterpartyName'],
    ['a counterpartyAccount beginning with a space', { ...VALID, counterpartyAccount: ' DE89 3704 ' }, 'counterpartyAccount'],
    ['a remittanceInformation with a control character', { ...VALID, remittanceInformation: 'Rent\u0007' }, 'remittanceInformation'],
    ['a description past 2000 characters', { ...VALID, description: 'x'.repeat(2001) }, 'description'],
    ['a numeric endToEndId', { ...VALID, endToEndId: 7 }, 'endToEndId'],
  ])('refuses %s with VALIDATION_FAILED naming the field', (_what, json, field) => {
    expect(refusal(json)).toEqual({ code: ErrorCode.VALIDATION_FAILED, field });
  });
});
