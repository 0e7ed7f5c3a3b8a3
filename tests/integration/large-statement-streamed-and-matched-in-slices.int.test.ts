import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { PostJournalEntriesDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { createBankAccount } from '../helpers/statement-fixtures';

/**
 * The upload of a statement file too large for a GraphQL document: spooled to disk as it arrives
 * (gzip undone), read as a stream, written in batches inside one transaction and matched in slices
 * of days. What a client sees must not depend on any of that: every line matched as one run would
 * match it, a bad row anywhere refuses the whole file, and no spool file outlives its request.
 */

const LINES = 600;
const UPLOAD_LIMIT = 2 * 1024 * 1024;
const XML_LIMIT = 1024 * 1024;
const MAPPING = { dateColumn: 'Date', dateFormat: 'YYYY-MM-DD', amountColumn: 'Amount', referenceColumn: 'Reference', decimalSeparator: '.', currency: 'USD' };

/** Weekdays from about four months back: every line is past its window, so what stays unmatched is flagged at once. */
const days = (() => {
  const out: string[] = [];
  const day = new Date(Date.now() - 120 * 86_400_000);
  while (out.length < 60) {
    if (day.getUTCDay() !== 0 && day.getUTCDay() !== 6) out.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return out;
})();

/** Line i: 10 lines a day, a unique amount, a reference the books carry for every third line. */
const lineOf = (i: number) => ({ date: days[Math.floor(i / 10)], amount: `${100 + i}.${String(i % 100).padStart(2, '0')}`, reference: `INV-${process.pid}-${i}` });

function csv(lineCount: number, badRow?: number): Buffer {
  const rows = ['Date,Amount,Reference'];
  for (let i = 0; i < lineCount; i += 1) {
    const line = lineOf(i);
    rows.push(i === badRow ? `${line.date},12.3.4,${line.reference}` : `${line.date},${line.amount},${line.reference}`);
  }
  return Buffer.from(rows.join('\n') + '\n');
}

describeEachDatabase('a large statement upload is streamed, imported whole or not at all, and matched in slices', (kind) => {
  let app: TestApp;
  let spoolDir: string;

  beforeAll(async () => {
    spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-spool-test-'));
    app = await startTestApp(kind, { env: { STATEMENT_UPLOAD_MAX_BYTES: String(UPLOAD_LIMIT), STATEMENT_XML_MAX_BYTES: String(XML_LIMIT), STATEMENT_SPOOL_DIR: spoolDir } });
  });

  afterAll(async () => {
    await app?.close();
    fs.rmSync(spoolDir, { recursive: true, force: true });
  });

  async function upload(bankAccountId: string, query: string, body: Buffer, headers: Record<string, string> = {}) {
    const response = await fetch(app.url.replace(/\/graphql$/, `/bank-accounts/${bankAccountId}/statements?${query}`), {
      method: 'POST',
      headers: { authorization: `Bearer ${app.apiKey}`, 'content-type': 'text/csv', ...headers },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { error?: { code: string; message: string; details?: Record<string, unknown> } } };
  }

  const count = async (sql: string, params: unknown[]) => Number(((await app.runtime.dataSource.query(sql, params)) as Record<string, unknown>[])[0].n);

  it('matches every line of a gzip upload in slices as it would in one run, and refuses a file with a bad last-but-ten row whole', async () => {
    const bank = await createBankAccount(app.client, { currency: 'USD' });
    const revenue = await createAccount(app.client, { type: 'REVENUE', currency: 'USD' });
    // The books: one posting per line, same amount, on the line's day; every third with the line's reference.
    for (let start = 0; start < LINES; start += 300) {
      const entries = Array.from({ length: 300 }, (_, k) => {
        const i = start + k;
        const line = lineOf(i);
        return {
          lines: transfer(bank.ledgerAccount.id, revenue.id, line.amount),
          effectiveAt: `${line.date}T10:00:00.000Z`,
          description: `sale ${i}`,
          ...(i % 3 === 0 ? { externalRef: line.reference } : {}),
        };
      });
      await app.client.ok(PostJournalEntriesDocument, { input: { entries } });
    }
    // Small slices: the 600 lines are matched in about twenty runs.
    app.runtime.services.matching.sliceLines = 30;

    const refused = await upload(bank.id, `format=CSV&csvMapping=${encodeURIComponent(JSON.stringify(MAPPING))}`, zlib.gzipSync(csv(LINES, LINES - 10)), { 'content-encoding': 'gzip' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { location: `line ${LINES - 10 + 2}` } });
    expect(await count('SELECT COUNT(*) AS n FROM statement_lines WHERE bank_account_id = ?', [bank.id])).toBe(0);
    expect(await count('SELECT COUNT(*) AS n FROM bank_statements WHERE bank_account_id = ?', [bank.id])).toBe(0);

    const uploaded = await upload(bank.id, `format=CSV&csvMapping=${encodeURIComponent(JSON.stringify(MAPPING))}`, zlib.gzipSync(csv(LINES)), { 'content-encoding': 'gzip' });
    expect(uploaded.status).toBe(200);
    expect(uploaded.body).toMatchObject({ importedLineCount: LINES, duplicateLineCount: 0 });
    // The answer comes once the lines are matched: every line, each to the posting of its own amount.
    const matched: Record<string, unknown>[] = await app.runtime.dataSource.query(
      `SELECT l.amount_minor AS line_amount, p.amount_minor AS posting_amount FROM statement_lines l
       JOIN reconciliation_match_items i ON i.statement_line_id = l.id JOIN reconciliation_match_items j ON j.match_id = i.match_id AND j.posting_id IS NOT NULL
       JOIN postings p ON p.id = j.posting_id WHERE l.bank_account_id = ?`,
      [bank.id],
    );
    expect(matched).toHaveLength(LINES);
    expect(matched.every((row) => String(row.line_amount) === String(row.posting_amount))).toBe(true);
    expect(await count("SELECT COUNT(*) AS n FROM reconciliation_flags WHERE bank_account_id = ? AND status = 'OPEN'", [bank.id])).toBe(0);

    // The same file again: nothing new, and nothing matched twice.
    const again = await upload(bank.id, `format=CSV&csvMapping=${encodeURIComponent(JSON.stringify(MAPPING))}`, csv(LINES));
    expect(again.body).toMatchObject({ importedLineCount: 0, duplicateLineCount: LINES });
    expect(await count('SELECT COUNT(*) AS n FROM statement_lines WHERE bank_account_id = ?', [bank.id])).toBe(LINES);
    expect(fs.readdirSync(spoolDir)).toEqual([]);
  });

  it('refuses what it cannot read whole or at all, before or while spooling, and keeps no spool file', async () => {
    const bank = await createBankAccount(app.client, { currency: 'USD' });
    const query = `format=CSV&csvMapping=${encodeURIComponent(JSON.stringify(MAPPING))}`;
    const refusals: [string, Promise<Awaited<ReturnType<typeof upload>>>, number, string, RegExp][] = [
      ['past the limit', upload(bank.id, query, Buffer.alloc(UPLOAD_LIMIT + 1, 0x41)), 413, 'QUERY_TOO_LARGE', /larger than 2 MB/],
      // 64 KiB of gzip that inflates past the limit: refused while inflating, not after.
      ['a gzip bomb', upload(bank.id, query, zlib.gzipSync(Buffer.alloc(UPLOAD_LIMIT * 4, 0x41)), { 'content-encoding': 'gzip' }), 413, 'QUERY_TOO_LARGE', /larger than 2 MB/],
      ['broken gzip', upload(bank.id, query, Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }), 400, 'VALIDATION_FAILED', /gzip/],
      ['an unknown encoding', upload(bank.id, query, csv(3), { 'content-encoding': 'br' }), 400, 'VALIDATION_FAILED', /Content-Encoding/],
      ['camt read whole past its limit', upload(bank.id, 'format=CAMT053', Buffer.alloc(XML_LIMIT + 10, 0x20)), 400, 'VALIDATION_FAILED', /read whole.*CSV or MT940/],
      ['another tenant’s bank account', upload('bac_00000000000000000000000000', query, csv(3)), 404, 'NOT_FOUND', /./],
    ];
    for (const [name, answer, status, code, message] of refusals) {
      const { status: got, body } = await answer;
      expect({ name, status: got, code: body.error?.code }).toEqual({ name, status, code });
      expect(body.error?.message).toMatch(message);
    }
    expect(await count('SELECT COUNT(*) AS n FROM statement_lines WHERE bank_account_id = ?', [bank.id])).toBe(0);
    expect(fs.readdirSync(spoolDir)).toEqual([]);
  });
});
