import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { StatementFormatError, quoted } from './statement-format.errors';
import { checkBalance, isoDate, nonEmpty, parseSignedAmount, refuseDoctype, xmlValidationFailure } from './importer-common';
import { StatementFormat, type ParsedBalance, type ParsedFile, type ParsedLine, type ParsedStatement } from './statement-types';

/**
 * OFX 1.x (SGML: leaf elements are not closed) and 2.x (XML), bank (STMTRS) and credit-card
 * (CCSTMTRS) statements; each statement response is one ParsedStatement, so a file with several
 * accounts gives several.
 *
 * The SGML is first made well-formed XML by closeLeaves() below, which keeps every line where it was
 * and marks each aggregate with the line it opened on, then fast-xml-parser reads it. The OFX
 * packages tried instead: node-ofx-parser reads the 8 fixtures but escapes "&" twice ("AT&amp;T"
 * comes out "AT&amp;amp;amp;T"), drops the dot from tags (INTU.BID), bundles fast-xml-parser 3 and
 * refuses a broken file with "Error while parsing content" and no line; ofx-js fails on CDATA
 * (suncorp.ofx); ofx-data-extractor fails 5 of the 8.
 */

const F = StatementFormat.OFX;
const LINE_ATTRIBUTE = '@_ofxline';
const TOKEN = /<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->|<\/?([A-Za-z][A-Za-z0-9_.]*)\s*>|<[^>]*>?/g;

function lineAt(text: string, offset: number, from: { offset: number; line: number }): number {
  let line = from.line;
  for (let index = from.offset; index < offset; index += 1) if (text.charCodeAt(index) === 10) line += 1;
  from.offset = offset;
  from.line = line;
  return line;
}

function escapeText(value: string): string {
  return value.replace(/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/g, '&amp;').replace(/>/g, '&gt;');
}

/**
 * SGML to XML: an element followed by text and then anything but its own end tag is a leaf whose end
 * tag SGML left out, so it is closed right after its text; an element followed directly by another
 * start tag is an aggregate, which must be closed explicitly (OFX requires it), and gets an attribute
 * with its line number for error messages. Mismatched or missing end tags refuse the file there.
 */
function closeLeaves(body: string, firstLine: number): string {
  const out: string[] = [];
  const stack: Array<{ name: string; line: number; piece: number }> = [];
  const position = { offset: 0, line: firstLine };
  let pending: { name: string; line: number; piece: number; text: string } | null = null;
  let last = 0;
  TOKEN.lastIndex = 0;

  const takeText = (raw: string): void => {
    if (pending) pending.text += raw;
    else if (raw.trim() !== '') {
      const line = lineAt(body, last, position);
      throw new StatementFormatError(F, `line ${line}`, `text ${quoted(raw.trim())} outside of any element`);
    }
    out.push(raw.startsWith('<![CDATA[') ? raw : escapeText(raw));
  };

  for (let match = TOKEN.exec(body); match; match = TOKEN.exec(body)) {
    if (match.index > last) takeText(body.slice(last, match.index));
    const token = match[0];
    last = match.index + token.length;
    if (token.startsWith('<![CDATA[')) {
      takeText(token);
      continue;
    }
    if (token.startsWith('<!--')) continue;
    const line = lineAt(body, match.index, position);
    const name = match[1];
    if (!name) throw new StatementFormatError(F, `line ${line}`, `${quoted(token)} is not an OFX tag`);
    if (token.startsWith('</')) {
      if (pending && pending.name === name) {
        out.push(token);
        pending = null;
        continue;
      }
      if (pending) {
        if (pending.text.trim() === '') {
          throw new StatementFormatError(F, `line ${pending.line}`, `<${pending.name}> has no value and no end tag`);
        }
        out.push(`</${pending.name}>`);
        pending = null;
      }
      const open = stack.pop();
      if (!open || open.name !== name) {
        throw new StatementFormatError(F, `line ${line}`, open ? `</${name}> closes nothing open: <${open.name}> of line ${open.line} is still open` : `</${name}> closes nothing open`);
      }
      out.push(token);
      continue;
    }
    if (pending) {
      if (pending.text.trim() === '') {
        // Followed directly by a start tag: an aggregate.
        out[pending.piece] = `<${pending.name} ofxline="${pending.line}">`;
        stack.push({ name: pending.name, line: pending.line, piece: pending.piece });
      } else {
        // Close right after the value, before the whitespace that follows it.
        const piece = out.length - 1;
        const value = out[piece];
        const trailing = /\s*$/.exec(value)?.[0] ?? '';
        out[piece] = `${value.slice(0, value.length - trailing.length)}</${pending.name}>${trailing}`;
      }
      pending = null;
    }
    out.push(token);
    pending = { name, line, piece: out.length - 1, text: '' };
  }
  if (last < body.length) takeText(body.slice(last));
  if (pending) {
    const line = lineAt(body, body.length, position);
    if (pending.text.trim() === '') throw new StatementFormatError(F, `line ${line}`, `the file ends after <${pending.name}> without its end tag`);
    out.push(`</${pending.name}>`);
  }
  const unclosed = stack.pop();
  if (unclosed) {
    const line = lineAt(body, body.length, position);
    throw new StatementFormatError(F, `line ${line}`, `the file ends before </${unclosed.name}> (opened on line ${unclosed.line}): it is cut short`);
  }
  return out.join('');
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (_name, _path, isLeafNode) => !isLeafNode,
});

type Node = Record<string, unknown>;

function agg(node: Node | undefined, name: string): Node | undefined {
  const value = node?.[name];
  return Array.isArray(value) ? (value[0] as Node) : undefined;
}

function aggs(node: Node | undefined, name: string): Node[] {
  const value = node?.[name];
  // A placeholder written as text only ("<STMTTRN>*snipped*</STMTTRN>") is no aggregate.
  return Array.isArray(value) ? (value as unknown[]).filter((item): item is Node => typeof item === 'object' && item !== null) : [];
}

function leaf(node: Node | undefined, name: string): string | null {
  const value = node?.[name];
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return null;
  return String(value);
}

function lineOf(node: Node | undefined): string {
  return `line ${String(node?.[LINE_ATTRIBUTE] ?? '?')}`;
}

/** OFX date-time "YYYYMMDD[HHMMSS[.XXX]][[gmt offset[:tz name]]]": the date as the bank wrote it. */
function ofxDate(value: string | null, location: string): string | null {
  const text = nonEmpty(value);
  if (!text) return null;
  const match = /^(\d{4})(\d{2})(\d{2})(?:\d{4,6}(?:\.\d{1,3})?)?(?:\[[^\]]*\])?$/.exec(text);
  if (!match) throw new StatementFormatError(F, location, `date ${quoted(text)} is not an OFX date YYYYMMDD[HHMMSS]`);
  return isoDate(F, Number(match[1]), Number(match[2]), Number(match[3]), location, text);
}

export function parseOfx(content: string): ParsedFile {
  refuseDoctype(F, content);
  const start = content.search(/<OFX>/i);
  if (start < 0) throw new StatementFormatError(F, 'line 1', 'no <OFX> element: not an OFX file');
  const headerLines = content.slice(0, start).split('\n').length;
  const xml = closeLeaves(content.slice(start), headerLines);
  // The header is replaced by as many empty lines, so the validator's line numbers are the file's.
  const padded = '\n'.repeat(headerLines - 1) + xml;
  const valid = XMLValidator.validate(padded);
  if (valid !== true) throw xmlValidationFailure(F, valid.err);
  const root = agg(parser.parse(padded) as Node, 'OFX');
  if (!root) throw new StatementFormatError(F, 'line 1', 'no <OFX> element: not an OFX file');

  const statements: ParsedStatement[] = [];
  for (const bank of aggs(root, 'BANKMSGSRSV1')) {
    for (const response of aggs(bank, 'STMTTRNRS')) {
      for (const stmt of aggs(response, 'STMTRS')) statements.push(parseStatement(stmt, agg(stmt, 'BANKACCTFROM')));
    }
  }
  for (const card of aggs(root, 'CREDITCARDMSGSRSV1')) {
    for (const response of aggs(card, 'CCSTMTTRNRS')) {
      for (const stmt of aggs(response, 'CCSTMTRS')) statements.push(parseStatement(stmt, agg(stmt, 'CCACCTFROM')));
    }
  }
  if (statements.length === 0) {
    throw new StatementFormatError(F, lineOf(root), 'no bank or credit-card statement (STMTRS or CCSTMTRS) in the file');
  }
  return { format: F, statements };
}

/** OFX allows a comma as the decimal point ("-12,50"), which some European banks use. */
function ofxAmount(text: string, currency: string, location: string): bigint {
  const trimmed = text.trim();
  return parseSignedAmount(F, trimmed, currency, location, /^[-+]?\d+,\d+$/.test(trimmed) ? ',' : '.');
}

function parseBalance(stmt: Node, code: 'LEDGERBAL' | 'AVAILBAL', currency: string): ParsedBalance | null {
  const node = agg(stmt, code);
  if (!node) return null;
  const location = lineOf(node);
  const amount = leaf(node, 'BALAMT');
  if (amount === null) throw new StatementFormatError(F, location, `<${code}> has no <BALAMT>`);
  return {
    code,
    kind: code === 'LEDGERBAL' ? 'CLOSING' : 'OTHER',
    amountMinor: ofxAmount(amount, currency, `${location} <${code}><BALAMT>`),
    currency,
    date: ofxDate(leaf(node, 'DTASOF'), location),
  };
}

function parseStatement(stmt: Node, account: Node | undefined): ParsedStatement {
  const location = lineOf(stmt);
  const currency = nonEmpty(leaf(stmt, 'CURDEF'));
  if (!currency) throw new StatementFormatError(F, location, 'the statement has no <CURDEF> currency');
  const list = agg(stmt, 'BANKTRANLIST');
  const lines: ParsedLine[] = [];
  for (const transaction of aggs(list, 'STMTTRN')) {
    // An exporter's placeholder aggregate with no fields ("*snipped*") carries no transaction.
    if (!Object.keys(transaction).some((key) => !key.startsWith('@_') && key !== '#text')) continue;
    lines.push(parseTransaction(transaction, currency));
  }
  const ledger = parseBalance(stmt, 'LEDGERBAL', currency);
  const available = parseBalance(stmt, 'AVAILBAL', currency);
  const balances = [ledger, available].filter((balance): balance is ParsedBalance => balance !== null);
  const accountId = nonEmpty(leaf(account, 'ACCTID'));
  return {
    format: F,
    statementId: null,
    accountIban: accountId && /^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(accountId) ? accountId : null,
    accountNumber: accountId && !/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(accountId) ? accountId : null,
    currency,
    fromDate: ofxDate(leaf(list, 'DTSTART'), lineOf(list)),
    toDate: ofxDate(leaf(list, 'DTEND'), lineOf(list)),
    // OFX states only the balance at the end (LEDGERBAL): there is no opening balance to check against.
    openingBalance: null,
    closingBalance: ledger,
    balances,
    lines,
    entryCount: lines.length,
    balanceCheck: checkBalance(currency, null, ledger, lines),
  };
}

function parseTransaction(transaction: Node, statementCurrency: string): ParsedLine {
  const line = lineOf(transaction);
  const fitId = nonEmpty(leaf(transaction, 'FITID'));
  const where = `${line} (<STMTTRN>${fitId ? ` FITID ${fitId}` : ''})`;
  const amount = leaf(transaction, 'TRNAMT');
  if (amount === null) throw new StatementFormatError(F, where, 'the transaction has no <TRNAMT>');
  const currencyNode = agg(transaction, 'CURRENCY') ?? agg(transaction, 'ORIGCURRENCY');
  const currency = nonEmpty(leaf(currencyNode, 'CURSYM')) ?? statementCurrency;
  const amountMinor = ofxAmount(amount, currency, where);
  const posted = ofxDate(leaf(transaction, 'DTPOSTED'), where);
  return {
    amountMinor,
    currency,
    bookingDate: posted,
    valueDate: ofxDate(leaf(transaction, 'DTAVAIL'), where),
    bankReference: fitId,
    endToEndId: null,
    counterpartyName: null,
    counterpartyAccount: nonEmpty(leaf(agg(transaction, 'BANKACCTTO'), 'ACCTID')) ?? nonEmpty(leaf(agg(transaction, 'CCACCTTO'), 'ACCTID')),
    remittanceInformation: nonEmpty(leaf(transaction, 'MEMO')),
    description: nonEmpty(leaf(transaction, 'NAME')),
    status: 'BOOKED',
    sourceLocation: line,
  };
}
