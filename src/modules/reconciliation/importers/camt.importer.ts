import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { StatementFormatError, quoted } from './statement-format.errors';
import { checkBalance, nonEmpty, parseUnsignedAmount, refuseDoctype, xmlValidationFailure } from './importer-common';
import { StatementFormat, type ParsedBalance, type ParsedFile, type ParsedLine, type ParsedStatement } from './statement-types';

/**
 * ISO 20022 bank-to-customer cash management: camt.053 statements, camt.052 intraday reports and
 * camt.054 debit/credit notifications, versions 001.02 to 001.08 (the version is read from the
 * namespace; the elements read here did not change meaning across them, only v08 wraps parties in
 * Pty and Sts in Cd, both handled).
 *
 * One line per transaction: an entry with several TxDtls (a batch) becomes one line per TxDtls with
 * its own amount, and those amounts must add up to the entry's; an entry with one TxDtls or none is
 * one line with the entry's amount (the booked one; a lone TxDtls/Amt may be in the instructed
 * currency). A batch whose TxDtls carry no amounts at all stays one line, since it cannot be split.
 */

const MESSAGES = {
  [StatementFormat.CAMT053]: { family: 'camt.053', root: 'BkToCstmrStmt', item: 'Stmt' },
  [StatementFormat.CAMT052]: { family: 'camt.052', root: 'BkToCstmrAcctRpt', item: 'Rpt' },
  [StatementFormat.CAMT054]: { family: 'camt.054', root: 'BkToCstmrDbtCdtNtfctn', item: 'Ntfctn' },
} as const;

type CamtFormat = keyof typeof MESSAGES;

const REPEATED = new Set(['Stmt', 'Rpt', 'Ntfctn', 'Bal', 'Ntry', 'NtryDtls', 'TxDtls', 'Ustrd', 'Strd', 'CdtrRefInf', 'AdrLine', 'Rcrd']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  // Whitespace around a value is not part of it in these schemas (xs:token, decimals, dates).
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => REPEATED.has(name),
});

type XmlNode = Record<string, unknown>;

function child(node: unknown, name: string): XmlNode | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const value = (node as XmlNode)[name];
  if (Array.isArray(value)) return value[0] as XmlNode | undefined;
  return value && typeof value === 'object' ? (value as XmlNode) : value === undefined ? undefined : { '#text': value };
}

function children(node: unknown, name: string): XmlNode[] {
  if (!node || typeof node !== 'object') return [];
  const value = (node as XmlNode)[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => (item && typeof item === 'object' ? (item as XmlNode) : { '#text': item }));
}

function text(node: unknown, ...path: string[]): string | null {
  let current: unknown = node;
  for (const name of path) {
    current = child(current, name);
    if (current === undefined) return null;
  }
  if (typeof current === 'string') return current;
  if (current && typeof current === 'object') {
    const value = (current as XmlNode)['#text'];
    if (value === undefined || value === null) return '';
    return String(value);
  }
  return null;
}

function datePart(node: unknown): string | null {
  const value = text(node, 'Dt') ?? text(node, 'DtTm');
  if (value === null) return null;
  return /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : null;
}

export function parseCamt(format: CamtFormat, xml: string): ParsedFile {
  const spec = MESSAGES[format];
  refuseDoctype(format, xml);
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw xmlValidationFailure(format, valid.err);
  const namespace = /xmlns(?::\w+)?="urn:iso:std:iso:20022:tech:xsd:(camt\.\d{3})\.001\.(\d{2})"/.exec(xml);
  if (!namespace) {
    throw new StatementFormatError(format, 'Document', `no ISO 20022 camt namespace (expected urn:iso:std:iso:20022:tech:xsd:${spec.family}.001.0x)`);
  }
  const [, family, version] = namespace;
  if (family !== spec.family) {
    throw new StatementFormatError(format, 'Document', `the file is ${family}, not ${spec.family}: import it with the matching format`);
  }
  const versionNumber = Number(version);
  if (versionNumber < 2 || versionNumber > 8) {
    throw new StatementFormatError(format, 'Document', `${family}.001.${version} is not supported: versions 001.02 to 001.08 are`);
  }

  const document = child(parser.parse(xml) as XmlNode, 'Document');
  if (!document) throw new StatementFormatError(format, 'Document', 'the root element is not Document');
  const root = child(document, spec.root);
  if (!root) throw new StatementFormatError(format, 'Document', `no ${spec.root} element`);
  const items = children(root, spec.item);
  if (items.length === 0) throw new StatementFormatError(format, `Document/${spec.root}`, `no ${spec.item} element: the message holds no ${spec.item === 'Stmt' ? 'statement' : spec.item === 'Rpt' ? 'report' : 'notification'}`);

  return { format, statements: items.map((item, index) => parseStatement(format, item, `${spec.item}[${index}]`)) };
}

function parseStatement(format: CamtFormat, stmt: XmlNode, path: string): ParsedStatement {
  const account = child(stmt, 'Acct');
  const accountIban = nonEmpty(text(account, 'Id', 'IBAN'));
  const accountNumber = accountIban ? null : nonEmpty(text(account, 'Id', 'Othr', 'Id'));

  const balances = children(stmt, 'Bal').map((bal, index) => parseBalance(format, bal, `${path}/Bal[${index}]`));
  const entries = children(stmt, 'Ntry');
  const currency =
    nonEmpty(text(account, 'Ccy')) ??
    balances[0]?.currency ??
    nonEmpty(text(child(entries[0], 'Amt'), '@_Ccy')) ??
    null;
  if (!currency) throw new StatementFormatError(format, `${path}/Acct/Ccy`, 'the account currency is missing and no balance or entry states one');

  const lines: ParsedLine[] = [];
  entries.forEach((entry, index) => lines.push(...parseEntry(format, entry, `${path}/Ntry[${index}]`)));

  const openingBalance = balances.find((b) => b.code === 'OPBD') ?? balances.find((b) => b.code === 'PRCD') ?? null;
  const closingBalance = balances.find((b) => b.code === 'CLBD') ?? null;
  const period = child(stmt, 'FrToDt');
  const fromDate = text(period, 'FrDtTm')?.slice(0, 10) ?? text(period, 'FrDt')?.slice(0, 10) ?? null;
  const toDate = text(period, 'ToDtTm')?.slice(0, 10) ?? text(period, 'ToDt')?.slice(0, 10) ?? null;

  return {
    format,
    statementId: nonEmpty(text(stmt, 'Id')),
    accountIban,
    accountNumber,
    currency,
    fromDate,
    toDate,
    openingBalance,
    closingBalance,
    balances,
    lines,
    entryCount: entries.length,
    balanceCheck: checkBalance(currency, openingBalance, closingBalance, lines),
  };
}

function signed(format: CamtFormat, node: XmlNode, path: string, fallbackIndicator?: string): { minor: bigint; currency: string } {
  const amount = child(node, 'Amt');
  const value = text(amount);
  const currency = text(amount, '@_Ccy');
  if (value === null) throw new StatementFormatError(format, `${path}/Amt`, 'the amount is missing');
  if (!currency) throw new StatementFormatError(format, `${path}/Amt`, 'the amount has no Ccy attribute');
  const minor = parseUnsignedAmount(format, value, currency, `${path}/Amt`);
  const indicator = text(node, 'CdtDbtInd') ?? fallbackIndicator;
  if (indicator !== 'CRDT' && indicator !== 'DBIT') {
    throw new StatementFormatError(format, `${path}/CdtDbtInd`, `expected CRDT or DBIT, got ${quoted(indicator ?? '(missing)')}`);
  }
  return { minor: indicator === 'DBIT' ? -minor : minor, currency };
}

function parseBalance(format: CamtFormat, bal: XmlNode, path: string): ParsedBalance {
  const type = child(child(bal, 'Tp'), 'CdOrPrtry');
  const code = nonEmpty(text(type, 'Cd')) ?? nonEmpty(text(type, 'Prtry'));
  if (!code) throw new StatementFormatError(format, `${path}/Tp/CdOrPrtry`, 'the balance type is missing');
  const { minor, currency } = signed(format, bal, path);
  const kind = code === 'OPBD' || code === 'PRCD' ? 'OPENING' : code === 'CLBD' ? 'CLOSING' : 'OTHER';
  return { code, kind, amountMinor: minor, currency, date: datePart(child(bal, 'Dt')) };
}

function entryStatus(entry: XmlNode): ParsedLine['status'] {
  const code = text(entry, 'Sts', 'Cd') ?? text(entry, 'Sts');
  if (code === 'PDNG' || code === 'FUTR') return 'PENDING';
  if (code === 'INFO') return 'INFO';
  return 'BOOKED';
}

interface TxAmount {
  minor: bigint;
  currency: string;
}

function transactionAmount(format: CamtFormat, tx: XmlNode, path: string, entryIndicator: string): TxAmount | null {
  if (child(tx, 'Amt')) return signed(format, tx, path, entryIndicator);
  const txAmount = child(child(tx, 'AmtDtls'), 'TxAmt');
  if (txAmount) {
    return signed(format, txAmount, `${path}/AmtDtls/TxAmt`, text(tx, 'CdtDbtInd') ?? entryIndicator);
  }
  return null;
}

function party(tx: XmlNode | undefined, role: 'Dbtr' | 'Cdtr'): { name: string | null; account: string | null } {
  const parties = child(tx, 'RltdPties');
  const who = child(parties, role);
  const name = nonEmpty(text(who, 'Nm')) ?? nonEmpty(text(who, 'Pty', 'Nm'));
  const account = child(parties, `${role}Acct`);
  return { name, account: nonEmpty(text(account, 'Id', 'IBAN')) ?? nonEmpty(text(account, 'Id', 'Othr', 'Id')) };
}

function remittance(tx: XmlNode | undefined): string | null {
  const info = child(tx, 'RmtInf');
  const parts = [
    ...children(info, 'Ustrd').map((node) => text(node)),
    ...children(info, 'Strd').flatMap((strd) => children(strd, 'CdtrRefInf').map((ref) => text(ref, 'Ref'))),
  ].map((part) => nonEmpty(part)).filter((part): part is string => part !== null);
  return parts.length > 0 ? parts.join(' ') : null;
}

function endToEnd(tx: XmlNode | undefined): string | null {
  const id = nonEmpty(text(tx, 'Refs', 'EndToEndId'));
  return id === 'NOTPROVIDED' ? null : id;
}

function parseEntry(format: CamtFormat, entry: XmlNode, path: string): ParsedLine[] {
  const { minor: entryMinor, currency: entryCurrency } = signed(format, entry, path);
  const entryIndicator = entryMinor < 0n ? 'DBIT' : 'CRDT';
  const base = {
    bookingDate: datePart(child(entry, 'BookgDt')),
    valueDate: datePart(child(entry, 'ValDt')),
    status: entryStatus(entry),
    bankReference: nonEmpty(text(entry, 'AcctSvcrRef')),
    description: nonEmpty(text(entry, 'AddtlNtryInf')),
  };
  const transactions: Array<{ tx: XmlNode; path: string }> = [];
  children(entry, 'NtryDtls').forEach((details, detailsIndex, all) =>
    children(details, 'TxDtls').forEach((tx) =>
      transactions.push({ tx, path: `${path}/${all.length > 1 ? `NtryDtls[${detailsIndex}]/` : ''}TxDtls[${transactions.length}]` }),
    ),
  );
  // Every TxDtls amount is read, used or not, so a corrupted one refuses the file.
  const amounts = transactions.map(({ tx, path: txPath }) => transactionAmount(format, tx, txPath, entryIndicator));

  const lineFor = (tx: XmlNode | undefined, minor: bigint, currency: string, sourceLocation: string): ParsedLine => {
    const counterparty = party(tx, minor < 0n ? 'Cdtr' : 'Dbtr');
    return {
      ...base,
      amountMinor: minor,
      currency,
      bankReference: nonEmpty(text(tx, 'Refs', 'AcctSvcrRef')) ?? base.bankReference,
      endToEndId: endToEnd(tx),
      counterpartyName: counterparty.name,
      counterpartyAccount: counterparty.account,
      remittanceInformation: remittance(tx),
      description: nonEmpty(text(tx, 'AddtlTxInf')) ?? base.description,
      sourceLocation,
    };
  };

  if (transactions.length <= 1) return [lineFor(transactions[0]?.tx, entryMinor, entryCurrency, path)];

  const withAmount = amounts.filter((amount): amount is TxAmount => amount !== null);
  if (withAmount.length === 0) {
    // A batch reported without per-transaction amounts: one line, the details' texts together.
    const line = lineFor(transactions[0].tx, entryMinor, entryCurrency, path);
    const texts = transactions.map(({ tx }) => remittance(tx)).filter((part): part is string => part !== null);
    const ids = new Set(transactions.map(({ tx }) => endToEnd(tx)));
    return [{ ...line, remittanceInformation: texts.length > 0 ? texts.join(' ') : null, endToEndId: ids.size === 1 ? line.endToEndId : null }];
  }
  if (withAmount.length !== transactions.length) {
    const missing = transactions[amounts.findIndex((amount) => amount === null)].path;
    throw new StatementFormatError(format, missing, 'this batch entry gives amounts for some transactions but not this one, so it cannot be split');
  }
  let sum = 0n;
  for (const [index, amount] of withAmount.entries()) {
    if (amount.currency !== entryCurrency) {
      throw new StatementFormatError(format, `${transactions[index].path}/Amt`, `the transaction is in ${amount.currency} but its batch entry in ${entryCurrency}`);
    }
    sum += amount.minor;
  }
  if (sum !== entryMinor) {
    throw new StatementFormatError(
      format,
      path,
      `the entry's ${transactions.length} transactions add up to ${sum} minor units of ${entryCurrency} but the entry amount is ${entryMinor}`,
    );
  }
  return transactions.map(({ tx, path: txPath }, index) => lineFor(tx, withAmount[index].minor, withAmount[index].currency, txPath));
}
