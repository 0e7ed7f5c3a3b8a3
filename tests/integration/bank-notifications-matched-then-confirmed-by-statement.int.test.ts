import { signRequestBody } from '../../src/common/request-signature';
import {
  CreateBankAccountWithSecretDocument,
  ImportStatementConfirmingNotificationsDocument,
  NotificationLinesDocument,
  NotifiedStatementLinesDocument,
  PostJournalEntryDocument,
  RollBankAccountNotificationSecretDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, transfer } from '../helpers/ledger-fixtures';

/**
 * POST /bank-accounts/:id/notifications over real HTTP: a signed single-transaction push and a signed
 * camt.054 are stored as statement lines and matched to postings before the answer comes; anything
 * that cannot prove it comes from the account's bank, or that does not read, is refused with its code
 * and stores nothing; a notification delivered again (or ten times at once) is stored once; and the
 * camt.053 statement that later holds the notified transactions confirms them instead of storing them
 * twice.
 */

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; details?: Record<string, unknown> } };
}

interface Account {
  bankAccountId: string;
  bankLedgerId: string;
  otherId: string;
  number: string;
  secret: string;
}

/** A weekday about three weeks back, plus `offset` calendar days (as the matching test dates its lines). */
const BASE = (() => {
  const day = new Date(Date.now() - 21 * 86_400_000);
  while (day.getUTCDay() !== 1) day.setUTCDate(day.getUTCDate() - 1);
  return day.toISOString().slice(0, 10);
})();
const day = (offset: number) => new Date(Date.parse(`${BASE}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10);
const at = (offset: number) => `${day(offset)}T12:00:00.000Z`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

let sequence = 0;
const unique = (label: string) => `${label}-${process.pid}-${++sequence}`;

interface CamtEntry {
  ref: string;
  amount: string; // unsigned, 2 decimals
  direction: 'CRDT' | 'DBIT';
  bookingDate: string;
  endToEndId?: string;
  status?: 'BOOK' | 'PDNG';
}

function entryXml(entry: CamtEntry): string {
  return `<Ntry><Amt Ccy="EUR">${entry.amount}</Amt><CdtDbtInd>${entry.direction}</CdtDbtInd><Sts>${entry.status ?? 'BOOK'}</Sts>
      <BookgDt><Dt>${entry.bookingDate}</Dt></BookgDt><ValDt><Dt>${entry.bookingDate}</Dt></ValDt><AcctSvcrRef>${entry.ref}</AcctSvcrRef>
      <NtryDtls><TxDtls><Refs><EndToEndId>${entry.endToEndId ?? 'NOTPROVIDED'}</EndToEndId></Refs><RmtInf><Ustrd>${entry.endToEndId ?? entry.ref}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>`;
}

function camt054(number: string, id: string, entries: CamtEntry[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.04"><BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>${id}</MsgId><CreDtTm>${at(1)}</CreDtTm></GrpHdr>
  <Ntfctn><Id>${id}</Id><CreDtTm>${at(1)}</CreDtTm><Acct><Id><Othr><Id>${number}</Id></Othr></Id><Ccy>EUR</Ccy></Acct>
    ${entries.map(entryXml).join('\n    ')}
  </Ntfctn></BkToCstmrDbtCdtNtfctn></Document>`;
}

function camt053(number: string, id: string, opening: string, closing: string, entries: CamtEntry[]): string {
  const balance = (code: string, amount: string, date: string) =>
    `<Bal><Tp><CdOrPrtry><Cd>${code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">${amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>${date}</Dt></Dt></Bal>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"><BkToCstmrStmt>
  <GrpHdr><MsgId>${id}</MsgId><CreDtTm>${at(4)}</CreDtTm></GrpHdr>
  <Stmt><Id>${id}</Id><CreDtTm>${at(4)}</CreDtTm><FrToDt><FrDtTm>${day(0)}T00:00:00</FrDtTm><ToDtTm>${day(3)}T23:59:59</ToDtTm></FrToDt>
    <Acct><Id><Othr><Id>${number}</Id></Othr></Id><Ccy>EUR</Ccy></Acct>
    ${balance('OPBD', opening, day(0))}${balance('CLBD', closing, day(3))}
    ${entries.map(entryXml).join('\n    ')}
  </Stmt></BkToCstmrStmt></Document>`;
}

describeEachDatabase('bank notifications: matched as they arrive, confirmed by the statement', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  }, 60_000);
  afterAll(() => app?.close());

  async function bankAccount(client: GraphQLClient): Promise<Account> {
    const ledger = await createAccount(client, { type: 'ASSET', currency: 'EUR' });
    const other = await createAccount(client, { type: 'REVENUE', currency: 'EUR' });
    const number = unique('NOTIFY');
    const { createBankAccount } = await client.ok(CreateBankAccountWithSecretDocument, {
      input: { name: `Notified ${number}`, accountNumber: number, currency: 'EUR', ledgerAccountId: ledger.id },
    });
    return { bankAccountId: createBankAccount.bankAccount.id, bankLedgerId: ledger.id, otherId: other.id, number, secret: createBankAccount.notificationSecret as string };
  }

  /** Money in from the revenue account to the bank's ledger account; returns the bank-side posting id. */
  async function postIncoming(account: Account, amount: string, offset: number, externalRef?: string): Promise<string> {
    const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, {
      input: { lines: transfer(account.bankLedgerId, account.otherId, amount, 'EUR'), effectiveAt: at(offset), description: 'customer payment', ...(externalRef ? { externalRef } : {}) },
    });
    return postJournalEntry.journalEntry.postings.find((p) => p.account.id === account.bankLedgerId)!.id;
  }

  async function post(bankAccountId: string, body: string, headers: Record<string, string>): Promise<Answer> {
    const response = await fetch(new URL(`/bank-accounts/${encodeURIComponent(bankAccountId)}/notifications`, app.url), { method: 'POST', headers, body });
    return { status: response.status, body: JSON.parse(await response.text()) as Answer['body'] };
  }

  function send(bankAccountId: string, secret: string, body: string, contentType = 'application/json', timestampSeconds = nowSeconds()): Promise<Answer> {
    return post(bankAccountId, body, { 'content-type': contentType, 'reckon-signature': signRequestBody(secret, body, timestampSeconds) });
  }

  /** Rows straight from the tables: what a refused request must not have added to. */
  async function stored(bankAccountId: string): Promise<{ statements: number; lines: number }> {
    const count = async (table: string) => {
      const rows: Record<string, unknown>[] = await app.runtime.services.dataSource.query(`SELECT COUNT(*) AS total FROM ${table} WHERE bank_account_id = ?`, [bankAccountId]);
      return Number(rows[0].total);
    };
    return { statements: await count('bank_statements'), lines: await count('statement_lines') };
  }

  async function linesOf(statementId: string) {
    const { bankStatement } = await app.client.ok(NotifiedStatementLinesDocument, { id: statementId });
    return { statement: bankStatement, lines: bankStatement.lines.edges.map((e) => e.node) };
  }

  const statementIdOf = (answer: Answer) => (answer.body.statements as Array<{ id: string }>)[0].id;

  it('matches a push and a camt.054 at once, stores replays once, and the camt.053 confirms them without duplicates', async () => {
    const account = await bankAccount(app.client);
    const invoice = unique('INV');
    const pushPosting = await postIncoming(account, '120.00', 0, invoice);
    const camtPostings = [await postIncoming(account, '75.40', 1, unique('A')), await postIncoming(account, '310.00', 1, unique('B'))];
    // A posting a PENDING entry of the same amount must not take.
    const laterPosting = await postIncoming(account, '55.00', 2);

    const push = JSON.stringify({
      transactionId: unique('TX'),
      amount: '120.00',
      creditDebit: 'CREDIT',
      currency: 'EUR',
      bookingDate: day(1),
      valueDate: day(1),
      endToEndId: invoice,
      counterpartyName: 'Customer GmbH',
      remittanceInformation: invoice,
    });
    const pushed = await send(account.bankAccountId, account.secret, push);
    expect(pushed.status).toBe(200);
    expect(pushed.body).toMatchObject({ importedLineCount: 1, duplicateLineCount: 0, confirmedLineCount: 0 });
    expect(pushed.body.statements).toEqual([expect.objectContaining({ format: 'PUSH', source: 'NOTIFICATION', lineCount: 1 })]);
    // Matched before the answer came: no waiting for a sweep.
    const pushLines = await linesOf(statementIdOf(pushed));
    expect(pushLines.lines).toEqual([
      expect.objectContaining({ source: 'NOTIFICATION', status: 'BOOKED', endToEndId: invoice, amount: { amount: '120.00' }, matchStatus: 'MATCHED', confirmedBy: null }),
    ]);
    expect(pushLines.lines[0].match!.postings).toEqual([{ id: pushPosting }]);

    // The bank retries: the same push again stores nothing and answers 200 with what it holds.
    const again = await send(account.bankAccountId, account.secret, push);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ importedLineCount: 0, duplicateLineCount: 1 });
    expect(statementIdOf(again)).toBe(statementIdOf(pushed));
    expect(await stored(account.bankAccountId)).toEqual({ statements: 1, lines: 1 });

    const camtEntries: CamtEntry[] = [
      { ref: unique('C1'), amount: '75.40', direction: 'CRDT', bookingDate: day(1) },
      { ref: unique('C2'), amount: '310.00', direction: 'CRDT', bookingDate: day(2) },
    ];
    const pending: CamtEntry = { ref: unique('P'), amount: '55.00', direction: 'CRDT', bookingDate: day(2), status: 'PDNG' };
    const notification = camt054(account.number, unique('NTF'), [...camtEntries, pending]);
    const notified = await send(account.bankAccountId, account.secret, notification, 'application/xml');
    expect(notified.status).toBe(200);
    expect(notified.body).toMatchObject({ importedLineCount: 3, duplicateLineCount: 0 });
    const camtLines = (await linesOf(statementIdOf(notified))).lines;
    expect(camtLines.map((l) => [l.amount.amount, l.status, l.matchStatus])).toEqual([
      ['75.40', 'BOOKED', 'MATCHED'],
      ['310.00', 'BOOKED', 'MATCHED'],
      ['55.00', 'PENDING', 'UNMATCHED'],
    ]);
    expect(camtLines.slice(0, 2).map((l) => l.match!.postings[0].id).sort()).toEqual([...camtPostings].sort());
    expect(camtLines.flatMap((l) => l.match?.postings ?? []).map((p) => p.id)).not.toContain(laterPosting);
    // text/xml is camt.054 too, and the same message again is a duplicate, not an error.
    const replayed = await send(account.bankAccountId, account.secret, notification, 'text/xml; charset=utf-8');
    expect(replayed.status).toBe(200);
    expect(replayed.body).toMatchObject({ importedLineCount: 0, duplicateLineCount: 3 });

    // The same bank transaction id with another amount is another line: the fingerprint holds the amount.
    const corrected = await send(account.bankAccountId, account.secret, JSON.stringify({ ...JSON.parse(push), amount: '121.00' }));
    expect(corrected.status).toBe(200);
    expect(corrected.body).toMatchObject({ importedLineCount: 1, duplicateLineCount: 0 });
    expect(await stored(account.bankAccountId)).toEqual({ statements: 3, lines: 5 });

    // The day's statement: the push's transaction (as the bank books it), the two camt.054 entries, and one more.
    const pushed1 = JSON.parse(push) as { transactionId: string };
    const extra: CamtEntry = { ref: unique('S'), amount: '10.00', direction: 'DBIT', bookingDate: day(3) };
    const statementEntries: CamtEntry[] = [
      { ref: pushed1.transactionId, amount: '120.00', direction: 'CRDT', bookingDate: day(1), endToEndId: invoice },
      ...camtEntries,
      extra,
    ];
    const { importBankStatement } = await app.client.ok(ImportStatementConfirmingNotificationsDocument, {
      input: { bankAccountId: account.bankAccountId, format: 'CAMT053', content: camt053(account.number, unique('STMT'), '1000.00', '1495.40', statementEntries) },
    });
    expect(importBankStatement).toMatchObject({ importedLineCount: 1, duplicateLineCount: 0, confirmedLineCount: 3 });
    expect(importBankStatement.statements).toEqual([
      expect.objectContaining({ source: 'STATEMENT', lineCount: 4, importedLineCount: 1, duplicateLineCount: 0, confirmedLineCount: 3 }),
    ]);
    const statementId = importBankStatement.statements[0].id;
    // No second row for a notified transaction: the statement stored only the one nobody had notified.
    expect(await stored(account.bankAccountId)).toEqual({ statements: 4, lines: 6 });
    const statementLines = (await linesOf(statementId)).lines;
    expect(statementLines.map((l) => [l.bankReference, l.source, l.confirmedBy])).toEqual([[extra.ref, 'STATEMENT', null]]);
    // The notified lines are confirmed by it and keep their matches; the corrected push and the pending entry are not.
    expect((await linesOf(statementIdOf(pushed))).lines[0]).toMatchObject({ confirmedBy: { id: statementId, source: 'STATEMENT' }, matchStatus: 'MATCHED' });
    expect((await linesOf(statementIdOf(notified))).lines.map((l) => l.confirmedBy?.id ?? null)).toEqual([statementId, statementId, null]);
    expect((await linesOf(statementIdOf(corrected))).lines[0].confirmedBy).toBeNull();

    // What the bank notified and never stated stays in view: the corrected push and the pending entry.
    const notificationLines = async (confirmed: boolean | null, first = 10, after: string | null = null) =>
      (await app.client.ok(NotificationLinesDocument, { id: account.bankAccountId, confirmed, first, after })).bankAccount.notificationLines;
    const unconfirmed = await notificationLines(false);
    expect(unconfirmed.totalCount).toBe(2);
    expect(unconfirmed.edges.map((e) => e.node.bankReference).sort()).toEqual([pushed1.transactionId, pending.ref].sort());
    expect((await notificationLines(true)).edges.map((e) => e.node.confirmedBy?.id)).toEqual([statementId, statementId, statementId]);
    const firstPage = await notificationLines(null, 3);
    expect(firstPage).toMatchObject({ totalCount: 5, pageInfo: { hasNextPage: true } });
    const secondPage = await notificationLines(null, 3, firstPage.pageInfo.endCursor);
    expect(secondPage.pageInfo.hasNextPage).toBe(false);
    expect(new Set([...firstPage.edges, ...secondPage.edges].map((e) => e.node.id)).size).toBe(5);

    // The statement again: a duplicate, and it confirms nothing twice.
    const { importBankStatement: reimported } = await app.client.ok(ImportStatementConfirmingNotificationsDocument, {
      input: { bankAccountId: account.bankAccountId, format: 'CAMT053', content: camt053(account.number, unique('STMT'), '1000.00', '1495.40', statementEntries) },
    });
    expect(reimported).toMatchObject({ importedLineCount: 0, duplicateLineCount: 4, confirmedLineCount: 0 });
  });

  it('books a line first pushed as PENDING when the bank reports it BOOKED, and matches it then', async () => {
    const account = await bankAccount(app.client);
    const invoice = unique('INV');
    const posting = await postIncoming(account, '42.10', 0, invoice);
    const transaction = { transactionId: unique('TX'), amount: '42.10', creditDebit: 'CREDIT', currency: 'EUR', bookingDate: day(1), endToEndId: invoice, remittanceInformation: invoice };

    const pending = await send(account.bankAccountId, account.secret, JSON.stringify({ ...transaction, status: 'PENDING' }));
    expect(pending.body).toMatchObject({ importedLineCount: 1 });
    const before = await linesOf(statementIdOf(pending));
    // A pending transaction may still change or vanish: it is not matched.
    expect(before.lines).toEqual([expect.objectContaining({ status: 'PENDING', matchStatus: 'UNMATCHED' })]);

    const booked = await send(account.bankAccountId, account.secret, JSON.stringify({ ...transaction, status: 'BOOKED' }));
    expect(booked.status).toBe(200);
    expect(booked.body).toMatchObject({ importedLineCount: 0, duplicateLineCount: 1 });
    // The same transaction: the stored line is booked, not duplicated, and matched before the answer.
    const after = await linesOf(statementIdOf(pending));
    expect(after.lines).toEqual([expect.objectContaining({ id: before.lines[0].id, status: 'BOOKED', matchStatus: 'MATCHED' })]);
    expect(after.lines[0].match!.postings).toEqual([{ id: posting }]);
    expect((await stored(account.bankAccountId)).lines).toBe(1);
  });

  it('refuses what cannot prove it is the bank’s, or does not read, with a stable code and nothing stored', async () => {
    const account = await bankAccount(app.client);
    const other = await app.createTenant('Other');
    const othersAccount = await bankAccount(other.client);
    const body = JSON.stringify({ transactionId: unique('TX'), amount: '-12.50', currency: 'EUR', bookingDate: day(1) });

    const refusals: Array<[string, Promise<Answer>, number, string]> = [
      ['no signature', post(account.bankAccountId, body, { 'content-type': 'application/json' }), 401, 'UNAUTHENTICATED'],
      ['another secret', send(account.bankAccountId, `${account.secret}x`, body), 401, 'UNAUTHENTICATED'],
      ['stale timestamp', send(account.bankAccountId, account.secret, body, 'application/json', nowSeconds() - 600), 401, 'UNAUTHENTICATED'],
      ['from the future', send(account.bankAccountId, account.secret, body, 'application/json', nowSeconds() + 600), 401, 'UNAUTHENTICATED'],
      // Another tenant's bank account, signed with this tenant's secret: the same 401 as an unknown one.
      ['another tenant’s account', send(othersAccount.bankAccountId, account.secret, body), 401, 'UNAUTHENTICATED'],
      ['unknown account', send('bac_00000000000000000000000000', account.secret, body), 401, 'UNAUTHENTICATED'],
      ['not an id', send('nonsense', account.secret, body), 401, 'UNAUTHENTICATED'],
      ['not JSON', send(account.bankAccountId, account.secret, '{"transactionId":'), 400, 'VALIDATION_FAILED'],
      ['bad amount', send(account.bankAccountId, account.secret, body.replace('-12.50', '12,50')), 400, 'VALIDATION_FAILED'],
      ['wrong currency', send(account.bankAccountId, account.secret, body.replace('"EUR"', '"USD"')), 400, 'VALIDATION_FAILED'],
      ['not camt.054', send(account.bankAccountId, account.secret, '<Document><Nothing/></Document>', 'application/xml'), 400, 'VALIDATION_FAILED'],
      ['unsupported media type', send(account.bankAccountId, account.secret, body, 'text/plain'), 415, 'VALIDATION_FAILED'],
    ];
    for (const [what, answer, status, code] of refusals) {
      const { status: got, body: answerBody } = await answer;
      expect({ what, status: got, code: answerBody.error?.code }).toEqual({ what, status, code });
    }
    const badField = await send(account.bankAccountId, account.secret, body.replace('-12.50', '12,50'));
    expect(badField.body.error!.details).toMatchObject({ field: 'amount' });
    const unknownField = await send(account.bankAccountId, account.secret, JSON.stringify({ ...JSON.parse(body), amountMinor: 1250 }));
    expect(unknownField.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'amountMinor' } });
    // A camt.054 for another account (here the other tenant's number), correctly signed: refused whole.
    const foreign = await send(account.bankAccountId, account.secret, camt054(othersAccount.number, unique('NTF'), [{ ref: unique('F'), amount: '1.00', direction: 'CRDT', bookingDate: day(1) }]), 'application/xml');
    expect(foreign.status).toBe(400);
    expect(foreign.body.error!.code).toBe('VALIDATION_FAILED');

    expect(await stored(account.bankAccountId)).toEqual({ statements: 0, lines: 0 });
    expect(await stored(othersAccount.bankAccountId)).toEqual({ statements: 0, lines: 0 });
  });

  it('stores one line when the same notification arrives ten times at once', async () => {
    const account = await bankAccount(app.client);
    const body = JSON.stringify({ transactionId: unique('TX'), amount: '-42.00', currency: 'EUR', bookingDate: day(2), description: 'card payment' });
    const answers = await Promise.all(Array.from({ length: 10 }, () => send(account.bankAccountId, account.secret, body)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(answers.map((a) => a.body.importedLineCount).reduce((sum: number, n) => sum + Number(n), 0)).toBe(1);
    expect(new Set(answers.map(statementIdOf)).size).toBe(1);
    expect(await stored(account.bankAccountId)).toEqual({ statements: 1, lines: 1 });
  });

  it('rolls the notification secret: the new one signs, the old one no longer does', async () => {
    const account = await bankAccount(app.client);
    expect(account.secret).toMatch(/^bnsec_[A-Za-z0-9_-]{43}$/);
    const rollKey = unique('roll');
    const roll = () => app.client.ok(RollBankAccountNotificationSecretDocument, { input: { bankAccountId: account.bankAccountId }, idempotencyKey: rollKey });
    const { rollBankAccountNotificationSecret: rolled } = await roll();
    expect(rolled.notificationSecret).toMatch(/^bnsec_[A-Za-z0-9_-]{43}$/);
    expect(rolled.notificationSecret).not.toBe(account.secret);
    const rolledSecret = rolled.notificationSecret as string;
    expect(rolledSecret).toMatch(/^bnsec_/);
    // A retry with the same key answers the same secret (from the stored response), and rolls nothing.
    expect((await roll()).rollBankAccountNotificationSecret.notificationSecret).toBe(rolled.notificationSecret);
    // The secret is stored encrypted: the table never holds it.
    const [row]: Record<string, unknown>[] = await app.runtime.services.dataSource.query('SELECT notification_secret_ciphertext AS stored FROM bank_accounts WHERE id = ?', [account.bankAccountId]);
    expect(String(row.stored)).not.toContain(rolledSecret.slice(6));
    const body = JSON.stringify({ transactionId: unique('TX'), amount: '5.00', currency: 'EUR', bookingDate: day(1) });
    expect((await send(account.bankAccountId, account.secret, body)).status).toBe(401);
    expect((await send(account.bankAccountId, rolledSecret, body)).status).toBe(200);
    // Another tenant cannot roll it: NOT_FOUND, and the secret still signs.
    const other = await app.createTenant('Roller');
    const refused = await other.client.request(RollBankAccountNotificationSecretDocument, { input: { bankAccountId: account.bankAccountId } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const next = JSON.stringify({ transactionId: unique('TX'), amount: '6.00', currency: 'EUR', bookingDate: day(1) });
    expect((await send(account.bankAccountId, rolledSecret, next)).status).toBe(200);
  });
});
