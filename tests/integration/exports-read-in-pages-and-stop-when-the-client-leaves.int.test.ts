import http from 'node:http';
import { parse } from 'csv-parse/sync';
import type { ExportPosting } from '../../src/modules/ledger/ledger-export.service';
import { AccountDocument, PostJournalEntriesDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { describeWithHledger, hledgerBalances, runHledger } from '../helpers/hledger';
import { createAccount, transfer } from '../helpers/ledger-fixtures';

/**
 * The exports' memory does not grow with their size because they are read in pages and written page
 * by page: with EXPORT_PAGE_ROWS lowered to 499, 20,000 postings (10,000 entries, many booked in the
 * same millisecond) come in 41 page reads, every posting once, and the response arrives in many
 * chunks; the journal export gives each entry once although many straddle two pages. A client that
 * goes away after the first chunk stops the reads: the page reads end well before the 41st.
 * (bench/exports.bench.ts measures the memory itself on a million postings.)
 */

const PAGE_ROWS = 499;
const ENTRIES = 10_000;
const POSTINGS = ENTRIES * 2;
const PAGES = Math.ceil(POSTINGS / PAGE_ROWS);

describeEachDatabase('exports read in pages and stop when the client leaves', (kind) => {
  let app: TestApp;
  let base: string;
  let cashId: string;

  beforeAll(async () => {
    app = await startTestApp(kind, { env: { EXPORT_PAGE_ROWS: String(PAGE_ROWS) } });
    base = app.url.replace(/\/graphql$/, '');
    const cash = await createAccount(app.client, { code: 'CASH', type: 'ASSET' });
    const equity = await createAccount(app.client, { code: 'EQUITY', type: 'EQUITY' });
    cashId = cash.id;
    for (let batch = 0; batch < ENTRIES / 1000; batch += 1) {
      const entries = Array.from({ length: 1000 }, (_, i) => ({
        lines: transfer(cash.id, equity.id, `${batch + 1}.${String(i % 100).padStart(2, '0')}`),
        description: `entry ${batch * 1000 + i}`,
      }));
      await app.client.ok(PostJournalEntriesDocument, { input: { entries } });
    }
  }, 300_000);

  afterAll(async () => {
    jest.restoreAllMocks();
    await app?.close();
  });

  /** Reads an export over HTTP, counting the chunks it arrives in. */
  const download = (pathAndQuery: string): Promise<{ status: number; body: string; chunks: number }> =>
    new Promise((resolve, reject) => {
      http
        .get(`${base}${pathAndQuery}`, { headers: { authorization: `Bearer ${app.apiKey}` } }, (response) => {
          const parts: Buffer[] = [];
          response.on('data', (chunk: Buffer) => parts.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), chunks: parts.length }));
          response.on('error', reject);
        })
        .on('error', reject);
    });

  it(`journal-entries.csv: ${POSTINGS} postings in ${PAGES} page reads of ${PAGE_ROWS}, each posting once, streamed in many chunks`, async () => {
    const pages = jest.spyOn(app.runtime.services.ledgerExports, 'postingsPage');
    try {
      const { status, body, chunks } = await download('/exports/journal-entries.csv');
      expect(status).toBe(200);
      const rows = parse(body, { columns: true, record_delimiter: '\r\n' }) as { posting_id: string; account_id: string; debit_minor: string }[];
      expect(rows).toHaveLength(POSTINGS);
      expect(new Set(rows.map((row) => row.posting_id)).size).toBe(POSTINGS);
      expect(pages).toHaveBeenCalledTimes(PAGES);
      expect(pages.mock.calls.every(([, , , limit]) => limit === PAGE_ROWS)).toBe(true);
      expect(chunks).toBeGreaterThan(PAGES / 2);
    } finally {
      pages.mockRestore();
    }
  });

  describeWithHledger('journal.ledger', () => {
    it('gives every entry once, those straddling two pages included, and hledger balances it', async () => {
      const { status, body } = await download('/exports/journal.ledger');
      expect(status).toBe(200);
      const ids = runHledger(body, ['tags', 'entry', '--values']).trim().split('\n');
      expect(ids).toHaveLength(ENTRIES);
      expect(new Set(ids).size).toBe(ENTRIES);
      const cash = [...hledgerBalances(body)].find(([name]) => name.startsWith('assets:CASH '));
      const { account } = await app.client.ok(AccountDocument, { id: cashId });
      expect(cash?.[1]).toBe(`${account.balances.posted.net.amount} USD`);
      // Σ over batches b = 1..10 of (1000 × b + 10 × (0.00 + … + 0.99)) = 55,000 + 4,950.
      expect(account.balances.posted.net.amount).toBe('59950.00');
    });
  });

  it('a client that leaves after the first chunk stops the reads', async () => {
    const service = app.runtime.services.ledgerExports;
    const original = service.postingPages.bind(service);
    let ended: () => void = () => undefined;
    const exportEnded = new Promise<void>((resolve) => {
      ended = resolve;
    });
    const pages = jest.spyOn(service, 'postingsPage');
    const generator = jest.spyOn(service, 'postingPages').mockImplementation(async function* (...args): AsyncGenerator<ExportPosting[]> {
      try {
        yield* original(...args);
      } finally {
        ended();
      }
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const request = http.get(`${base}/exports/journal-entries.csv`, { headers: { authorization: `Bearer ${app.apiKey}` } }, (response) => {
          expect(response.statusCode).toBe(200);
          response.once('data', () => {
            request.destroy();
            resolve();
          });
        });
        request.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ECONNRESET') reject(error);
        });
      });
      await exportEnded;
      const readAfterLeaving = pages.mock.calls.length;
      expect(readAfterLeaving).toBeGreaterThan(0);
      expect(readAfterLeaving).toBeLessThan(PAGES);
      // The server is none the worse: the next export runs to its end.
      const again = await download('/exports/trial-balance.csv');
      expect(again.status).toBe(200);
      expect(pages.mock.calls.length).toBe(readAfterLeaving);
    } finally {
      generator.mockRestore();
      pages.mockRestore();
    }
  });
});
