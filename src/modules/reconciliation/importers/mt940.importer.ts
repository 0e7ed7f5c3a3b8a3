import { StatementFormatError, quoted } from './statement-format.errors';
import { isoDate, nonEmpty, parseUnsignedAmount } from './importer-common';
import { createStatementCollector, type StatementEventSink } from './statement-events';
import { StatementFormat, type ParsedBalance, type ParsedFile, type ParsedLine } from './statement-types';

/**
 * SWIFT MT940, read line by line (a field is a tag line plus its continuation lines). Accepted around
 * the statements: SWIFT block headers ({1:…}{2:…}{4:, -}{5:}), "-" separators and a bank's own
 * preamble lines before the first :20:. A statement is :20: [:21:] :25: :28C: :60F/M: (:61: [:86:])*
 * :62F/M: [:64:] [:65:]* [:86:]; a field out of that order, a statement without its closing balance,
 * or a SWIFT block left open refuses the file, naming the line.
 *
 * mt940js was tried first: it reads amounts as JavaScript numbers (sums like -2501617.2199999997),
 * fails 6 of the 8 fixtures (ING/Rabobank/mBank headers, Knab's "C500" amount, Sberbank's :NS:
 * fields) and cut a 18-character reference to 16; so this small reader.
 */

const F = StatementFormat.MT940;
const TAG_LINE = /^:(\d{2}[A-Z]?|NS):(.*)$/;
const BALANCE = /^(C|D)(\d{6})([A-Z]{3})(\d+(?:,\d*)?)$/;
const TRANSACTION = /^(\d{6})(\d{4})?(RC|RD|EC|ED|C|D)([A-Z])?(\d+(?:,\d*)?)([NSF][A-Z0-9 ]{3})(.*)$/;
// SEPA keys in German :86: purpose lines, and the older "MTLG:" (Mitteilung, a message) some banks still use.
const SEPA_KEYS = /(EREF\+|KREF\+|MREF\+|CRED\+|DEBT\+|SVWZ\+|ABWA\+|ABWE\+|IBAN\+|BIC\+|COAM\+|OAMT\+|SQTP\+|PURP\+|MTLG:)/;
const SLASH_KEYS = /\/(EREF|BENM|ORDP|NAME|REMI|ISDT|IBAN|BIC|CSID|MARF|PREF|RTRN|TRCD|CNTP|ADDR|ULTB|ULTD|PURP|SVWZ|CREF)\//;

interface Field {
  tag: string;
  line: number;
  lines: string[];
}

interface StatementDraft {
  startLine: number;
  reference: string;
  sequence: string | null;
  account: string | null;
  currency: string | null;
  opening: ParsedBalance | null;
  closing: ParsedBalance | null;
  balances: ParsedBalance[];
  lineCount: number;
  /** What the last field was, to check the order of the next. */
  phase: 'header' | 'body' | 'closed';
  lastTransactionHasInfo: boolean;
}

function yymmdd(value: string, line: number): string {
  const year = Number(value.slice(0, 2));
  return isoDate(F, year < 80 ? 2000 + year : 1900 + year, Number(value.slice(2, 4)), Number(value.slice(4, 6)), `line ${line}`, value);
}

function parseBalanceField(field: Field, currencyExpected: string | null): ParsedBalance {
  const content = field.lines[0].trim();
  const match = BALANCE.exec(content);
  const location = `line ${field.line}`;
  if (!match) {
    throw new StatementFormatError(F, location, `:${field.tag}: balance ${quoted(content)} is not a C/D mark, a YYMMDD date, a currency and an amount such as C200101EUR444,29`);
  }
  const [, mark, date, currency, amount] = match;
  if (currencyExpected && currency !== currencyExpected) {
    throw new StatementFormatError(F, location, `:${field.tag}: is in ${currency} but the statement's opening balance in ${currencyExpected}`);
  }
  const minor = parseUnsignedAmount(F, amount, currency, location, ',');
  const kind = field.tag.startsWith('60') ? 'OPENING' : field.tag.startsWith('62') ? 'CLOSING' : 'OTHER';
  return { code: field.tag, kind, amountMinor: mark === 'D' ? -minor : minor, currency, date: yymmdd(date, field.line) };
}

function parseTransaction(field: Field, statement: StatementDraft): ParsedLine {
  const location = `line ${field.line}`;
  const content = field.lines[0];
  const match = TRANSACTION.exec(content);
  if (!match) {
    throw new StatementFormatError(
      F,
      location,
      `:61: ${quoted(content)} is not a value date YYMMDD, an optional entry date MMDD, a C/D/RC/RD mark, an amount and a transaction type such as NTRF`,
    );
  }
  const [, valueDateText, entryDateText, mark, , amountText, , rest] = match;
  const currency = statement.currency as string;
  const magnitude = parseUnsignedAmount(F, amountText, currency, location, ',');
  const credit = mark === 'C' || mark === 'EC' || mark === 'RD';
  const valueDate = yymmdd(valueDateText, field.line);
  let bookingDate = valueDate;
  if (entryDateText) {
    let year = Number(valueDate.slice(0, 4));
    const entryMonth = Number(entryDateText.slice(0, 2));
    const valueMonth = Number(valueDate.slice(5, 7));
    if (entryMonth === 12 && valueMonth === 1) year -= 1;
    if (entryMonth === 1 && valueMonth === 12) year += 1;
    bookingDate = isoDate(F, year, entryMonth, Number(entryDateText.slice(2, 4)), location, entryDateText);
  }
  const separator = rest.indexOf('//');
  const bankReference = separator >= 0 ? nonEmpty(rest.slice(separator + 2)) : null;
  const supplementary = nonEmpty(field.lines.slice(1).join(' '));
  return {
    amountMinor: credit ? magnitude : -magnitude,
    currency,
    bookingDate,
    valueDate,
    bankReference,
    endToEndId: null,
    counterpartyName: null,
    counterpartyAccount: null,
    remittanceInformation: null,
    description: supplementary,
    status: 'BOOKED',
    sourceLocation: location,
  };
}

function collapse(value: string | undefined | null): string | null {
  return nonEmpty(value?.replace(/\s+/g, ' '));
}

/** :86: information to account owner: German ?xx subfields with SEPA keys (EREF+, SVWZ+…), Dutch /CODE/ fields, or free text. */
function applyInformation(line: ParsedLine, field: Field): void {
  const raw = field.lines.join('\n');
  const trimmed = raw.trimStart();
  if (/^\d{3}\?/.test(trimmed) || /^\d{3}\s*\?\d{2}/.test(trimmed)) {
    const joined = trimmed.replace(/\r?\n/g, '');
    const subfields = new Map<string, string>();
    const parts = joined.split(/\?(\d{2})/);
    for (let index = 1; index + 1 < parts.length; index += 2) {
      subfields.set(parts[index], (subfields.get(parts[index]) ?? '') + parts[index + 1]);
    }
    const purpose = ['20', '21', '22', '23', '24', '25', '26', '27', '28', '29', '60', '61', '62', '63'].map((key) => subfields.get(key) ?? '').join('');
    const keyed = new Map<string, string>();
    const pieces = purpose.split(SEPA_KEYS);
    for (let index = 1; index + 1 < pieces.length; index += 2) keyed.set(pieces[index].slice(0, -1), pieces[index + 1]);
    const endToEnd = collapse(keyed.get('EREF'));
    line.endToEndId = endToEnd === 'NOTPROVIDED' ? null : endToEnd;
    line.remittanceInformation = collapse(keyed.get('SVWZ')) ?? collapse(keyed.get('MTLG')) ?? collapse(pieces[0]) ?? (keyed.size === 0 ? collapse(purpose) : null);
    line.counterpartyName = collapse((subfields.get('32') ?? '') + (subfields.get('33') ?? ''));
    line.counterpartyAccount = collapse(subfields.get('38')) ?? collapse(subfields.get('31'));
    line.description = line.description ?? collapse(subfields.get('00'));
    return;
  }
  if (SLASH_KEYS.test(trimmed) && trimmed.startsWith('/')) {
    const joined = trimmed.replace(/\r?\n/g, '');
    const values = new Map<string, string>();
    const pieces = joined.split(SLASH_KEYS);
    for (let index = 1; index + 1 < pieces.length; index += 2) values.set(pieces[index], pieces[index + 1].replace(/\/$/, ''));
    line.endToEndId = collapse(values.get('EREF'));
    line.counterpartyName = collapse(values.get('NAME'));
    line.counterpartyAccount = collapse(values.get('IBAN'));
    line.remittanceInformation = values.has('REMI') ? collapse(values.get('REMI')) : collapse(joined);
    return;
  }
  line.remittanceInformation = collapse(raw);
}

export interface Mt940Reader {
  /** One line of the file, without its line break. */
  line(text: string): void;
  /** The end of the file: checks that nothing is left open. */
  end(): void;
}

const IBAN_SHAPE = /^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/;

/**
 * Reads MT940 line by line and hands each transaction to the sink once its :86: (if any) has been
 * read, so a stream of lines never needs the whole file, or a whole statement, in memory. A
 * statement starts (for the sink) at its opening balance, when its account and currency are known.
 */
export function createMt940Reader(sink: StatementEventSink): Mt940Reader {
  let statementCount = 0;
  let statement: StatementDraft | null = null;
  let field: Field | null = null;
  let openBlockLine: number | null = null;
  let lastTransaction: ParsedLine | null = null;
  let lineNumber = 0;

  const finishStatement = (atLine: number): void => {
    if (!statement) return;
    if (statement.phase !== 'closed' || !statement.closing) {
      throw new StatementFormatError(
        F,
        `line ${atLine}`,
        `the statement that starts on line ${statement.startLine} has no closing balance :62F:/:62M:`,
      );
    }
    statementCount += 1;
    sink({
      type: 'end',
      trailer: {
        fromDate: statement.opening?.date ?? null,
        toDate: statement.closing.date,
        openingBalance: statement.opening,
        closingBalance: statement.closing,
        balances: statement.balances,
        entryCount: statement.lineCount,
      },
    });
    statement = null;
    lastTransaction = null;
  };

  /** The transaction read last is complete once the next field is not its :86:. */
  const handOverTransaction = (): void => {
    if (lastTransaction) sink({ type: 'line', line: lastTransaction });
    lastTransaction = null;
  };

  const outOfOrder = (current: Field, after: string): never => {
    throw new StatementFormatError(F, `line ${current.line}`, `:${current.tag}: cannot come ${after}`);
  };

  const processField = (current: Field): void => {
    const tag = current.tag;
    if (tag === '20') {
      finishStatement(current.line);
      statement = {
        startLine: current.line,
        reference: current.lines[0].trim(),
        sequence: null,
        account: null,
        currency: null,
        opening: null,
        closing: null,
        balances: [],
        lineCount: 0,
        phase: 'header',
        lastTransactionHasInfo: true,
      };
      return;
    }
    const draft = statement as StatementDraft | null;
    if (!draft) throw new StatementFormatError(F, `line ${current.line}`, `:${tag}: comes before any statement reference :20:`);
    switch (tag) {
      case '21':
        if (draft.phase !== 'header') outOfOrder(current, 'after the opening balance');
        return;
      case '25':
        if (draft.phase !== 'header') outOfOrder(current, `after the opening balance: the account :25: belongs before :60F: (statement of line ${draft.startLine})`);
        draft.account = nonEmpty(current.lines[0]);
        return;
      case '28':
      case '28C':
        if (draft.phase !== 'header') outOfOrder(current, 'after the opening balance');
        draft.sequence = nonEmpty(current.lines[0]);
        return;
      case '60F':
      case '60M': {
        if (draft.phase !== 'header') outOfOrder(current, 'twice in one statement');
        if (!draft.account) throw new StatementFormatError(F, `line ${current.line}`, `the statement that starts on line ${draft.startLine} has no account :25: before its opening balance`);
        const balance = parseBalanceField(current, null);
        draft.opening = balance;
        draft.currency = balance.currency;
        draft.balances.push(balance);
        draft.phase = 'body';
        const account = draft.account;
        sink({
          type: 'start',
          header: {
            format: F,
            statementId: draft.sequence ? `${draft.reference}/${draft.sequence}` : draft.reference,
            accountIban: IBAN_SHAPE.test(account) ? account : null,
            accountNumber: IBAN_SHAPE.test(account) ? null : account,
            currency: balance.currency,
          },
        });
        return;
      }
      case '61': {
        if (draft.phase !== 'body') outOfOrder(current, draft.phase === 'header' ? 'before the opening balance :60F:' : 'after the closing balance');
        handOverTransaction();
        lastTransaction = parseTransaction(current, draft);
        draft.lineCount += 1;
        draft.lastTransactionHasInfo = false;
        return;
      }
      case '86':
        if (draft.phase === 'body' && lastTransaction && !draft.lastTransactionHasInfo) {
          applyInformation(lastTransaction, current);
          draft.lastTransactionHasInfo = true;
          return;
        }
        if (draft.phase === 'body' && lastTransaction) outOfOrder(current, 'twice after one :61: transaction');
        // Information about the whole statement (after the closing balance, or before any transaction).
        return;
      case 'NS':
        return;
      case '62F':
      case '62M': {
        if (draft.phase !== 'body') outOfOrder(current, draft.phase === 'header' ? 'before the opening balance :60F:' : 'twice in one statement');
        handOverTransaction();
        const balance = parseBalanceField(current, draft.currency);
        draft.closing = balance;
        draft.balances.push(balance);
        draft.phase = 'closed';
        return;
      }
      case '64':
      case '65':
        if (draft.phase !== 'closed') outOfOrder(current, 'before the closing balance :62F:');
        draft.balances.push(parseBalanceField(current, draft.currency));
        return;
      default:
        throw new StatementFormatError(F, `line ${current.line}`, `:${tag}: is not an MT940 field`);
    }
  };

  const flush = (): void => {
    if (field) processField(field);
    field = null;
  };

  const line = (raw: string): void => {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    lineNumber += 1;
    if (text.startsWith('{1:')) {
      flush();
      if (openBlockLine !== null) throw new StatementFormatError(F, `line ${lineNumber}`, `a new SWIFT message starts before the one of line ${openBlockLine} was closed with -}`);
      if (text.includes('{4:')) openBlockLine = lineNumber;
      return;
    }
    if (text.startsWith('-}') || text === '-' || /^-[A-Z]*$/.test(text.trim())) {
      flush();
      finishStatement(lineNumber);
      if (text.startsWith('-}')) openBlockLine = null;
      return;
    }
    const tagMatch = TAG_LINE.exec(text);
    if (tagMatch) {
      flush();
      field = { tag: tagMatch[1], line: lineNumber, lines: [tagMatch[2]] };
      return;
    }
    if (field) {
      field.lines.push(text);
      return;
    }
    // A bank's own preamble before the first statement ("0000 01INGBNL2AXXXX00001", ":940:").
    if (statement && text.trim() !== '') {
      throw new StatementFormatError(F, `line ${lineNumber}`, `${quoted(text)} is neither an MT940 field (:61:, :86:…) nor part of one`);
    }
  };

  const end = (): void => {
    flush();
    if (openBlockLine !== null) {
      throw new StatementFormatError(F, `line ${lineNumber}`, `the file ends inside the SWIFT message opened on line ${openBlockLine} (no closing -})`);
    }
    if (statement) finishStatement(lineNumber);
    if (statementCount === 0) {
      throw new StatementFormatError(F, 'line 1', 'no MT940 statement: expected a :20: line followed by :25:, :28C:, :60F:, :61:… and :62F:');
    }
  };

  return { line, end };
}

export function parseMt940(content: string): ParsedFile {
  const collector = createStatementCollector(F);
  const reader = createMt940Reader(collector.sink);
  let start = 0;
  while (start < content.length) {
    let end = content.indexOf('\n', start);
    if (end < 0) end = content.length;
    reader.line(content.slice(start, end));
    start = end + 1;
  }
  reader.end();
  return collector.file();
}
