import { parse } from 'csv-parse/sync';
import { parseDecimalToMinor } from '../../src/common/money';
import { journalAccountName, JOURNAL_ENTRIES_CSV_COLUMNS, TRIAL_BALANCE_CSV_COLUMNS } from '../../src/modules/ledger/ledger-export.formats';
import type { AccountType } from '../../src/modules/ledger/ledger.types';
import {
  type AccountPartsFragment,
  AccountsDocument,
  CapturePaymentDocument,
  CreateApiKeyDocument,
  JournalEntriesDocument,
  JournalEntryDocument,
  type JournalEntryPartsFragment,
  PostJournalEntryDocument,
  RefundPaymentDocument,
  ReverseJournalEntryDocument,
  TrialBalanceDocument,
  VoidPaymentDocument,
} from '../generated/graphql';
import { nodesOf } from '../helpers/connections';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { describeWithHledger, hledgerBalances, runHledger } from '../helpers/hledger';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';
import { TestClock } from '../helpers/test-clock';

/**
 * The exports checked against the API with the tools their readers use: Debian's hledger reads
 * journal.ledger of a full story (payments captured in full and in part, refunded, voided, an entry
 * reversed, USD, JPY and KWD, an authorization left pending) and its `balance` equals trialBalance to
 * the minor unit for every account; csv-parse reads journal-entries.csv and trial-balance.csv and each
 * row equals what the API says of that posting or account. Ranges, asOf, tenant scoping and every
 * refusal (stable code, the accepted form named) too.
 */

const DAY_ONE = new Date('2026-03-02T10:00:00Z');
const DAY_MS = 86_400_000;

/** The journal's name of an account the API listed. */
const journalNameOf = (account: AccountPartsFragment) => journalAccountName({ ...account, type: account.type as AccountType });

interface CsvRow {
  [column: string]: string;
}

function readCsv(text: string, columns: readonly string[]): CsvRow[] {
  // RFC 4180: CRLF after every record, the header included; a bare LF only inside a quoted field.
  expect(text.endsWith('\r\n')).toBe(true);
  const records = parse(text, { record_delimiter: '\r\n', relax_quotes: false }) as string[][];
  expect(records[0]).toEqual([...columns]);
  for (const record of records) expect(record).toHaveLength(columns.length);
  return records.slice(1).map((record) => Object.fromEntries(columns.map((column, i) => [column, record[i]])));
}

describeEachDatabase('exports: CSV and hledger journal match the books', (kind) => {
  describeWithHledger('with hledger', () => {
    let app: TestApp;
    let other: TestTenant;
    const clock = new TestClock(DAY_ONE);
    let base: string;
    const entriesOfDay: string[][] = [[], []];
    let pendingEntryId: string;
    let reversedEntryId: string;
    let reversalId: string;
    let trickyEntryId: string;

    const get = (tenantKey: string | null, pathAndQuery: string) =>
      fetch(`${base}${pathAndQuery}`, { headers: tenantKey === null ? {} : { authorization: `Bearer ${tenantKey}` } });
    const text = async (pathAndQuery: string, key = app.apiKey) => {
      const response = await get(key, pathAndQuery);
      const body = await response.text();
      expect({ status: response.status, body: response.status === 200 ? '' : body }).toEqual({ status: 200, body: '' });
      return { body, response };
    };

    /** Every entry id the story wrote (all of them: posted, pending, voided), newest first. */
    const allEntries = async (client = app.client): Promise<JournalEntryPartsFragment[]> => {
      const { journalEntries } = await client.ok(JournalEntriesDocument, { first: 500 });
      const entries: JournalEntryPartsFragment[] = [];
      for (const { id } of nodesOf(journalEntries)) entries.push((await client.ok(JournalEntryDocument, { id })).journalEntry);
      return entries;
    };
    const accounts = async (): Promise<AccountPartsFragment[]> => nodesOf((await app.client.ok(AccountsDocument, { first: 500 })).accounts);

    beforeAll(async () => {
      app = await startTestApp(kind, { clock });
      base = app.url.replace(/\/graphql$/, '');
      other = await app.createTenant('Other');
      const { client } = app;
      await createSimulatorGateway(client, ['USD', 'JPY', 'KWD']);
      const before = new Set((await client.ok(JournalEntriesDocument, { first: 500 })).journalEntries.edges.map((e) => e.node.id));
      const newEntries = async () => {
        const ids = (await client.ok(JournalEntriesDocument, { first: 500 })).journalEntries.edges.map((e) => e.node.id).filter((id) => !before.has(id));
        ids.forEach((id) => before.add(id));
        return ids;
      };

      // Day one: a USD sale captured at once; JPY authorized then captured in part; KWD captured;
      // a USD authorization voided; a KWD authorization left pending; a hand-written entry with
      // awkward text; another hand-written entry (reversed on day two).
      const usd = await authorize(client, { amount: '125.50', currency: 'USD', capture: true, externalRef: 'order-1001' });
      const jpy = await authorize(client, { amount: '12000', currency: 'JPY' });
      await client.ok(CapturePaymentDocument, { input: { paymentId: jpy.id, amount: '9000' } });
      const kwd = await authorize(client, { amount: '7.125', currency: 'KWD', capture: true });
      const voided = await authorize(client, { amount: '40.00', currency: 'USD' });
      await client.ok(VoidPaymentDocument, { input: { paymentId: voided.id } });
      await authorize(client, { amount: '1.005', currency: 'KWD' });
      const petty = await createAccount(client, { code: 'OPS:1;x  y', name: 'Petty cash;  front\tdesk: drawer', type: 'ASSET', currency: 'USD' });
      const owner = await createAccount(client, { code: '=CAPITAL', name: '+Owner capital', type: 'EQUITY', currency: 'USD' });
      const kwdCash = await createAccount(client, { code: 'KWD-CASH', name: 'Cash, Kuwait', type: 'ASSET', currency: 'KWD' });
      const kwdEquity = await createAccount(client, { code: 'KWD-EQ', name: 'Owner capital KWD', type: 'EQUITY', currency: 'KWD' });
      const tricky = await client.ok(PostJournalEntryDocument, {
        input: {
          lines: transfer(petty.id, owner.id, '10.10'),
          description: '=HYPERLINK("http://x"); cash "float"\nsecond line',
          externalRef: 'ref,with,commas',
          metadata: { 'order id': 'A,17', count: 3, nested: { ok: true } },
        },
      });
      trickyEntryId = tricky.postJournalEntry.journalEntry.id;
      const toReverse = await client.ok(PostJournalEntryDocument, { input: { lines: transfer(kwdCash.id, kwdEquity.id, '2.500', 'KWD'), description: 'Capital paid in' } });
      reversedEntryId = toReverse.postJournalEntry.journalEntry.id;
      const pending = await client.ok(PostJournalEntryDocument, { input: { lines: transfer(petty.id, owner.id, '99.99'), description: 'Pending hold', status: 'PENDING' } });
      pendingEntryId = pending.postJournalEntry.journalEntry.id;
      entriesOfDay[0] = await newEntries();

      // Day two: refunds (USD in part, JPY in full) and the reversal.
      clock.advance(DAY_MS);
      await client.ok(RefundPaymentDocument, { input: { paymentId: usd.id, amount: '20.25' } });
      await client.ok(RefundPaymentDocument, { input: { paymentId: jpy.id } });
      await client.ok(RefundPaymentDocument, { input: { paymentId: kwd.id, amount: '0.125' } });
      reversalId = (await client.ok(ReverseJournalEntryDocument, { input: { id: reversedEntryId, description: 'Paid in by mistake' } })).reverseJournalEntry.journalEntry.id;
      entriesOfDay[1] = await newEntries();

      // The other tenant's books, which no export of the first may show.
      const otherCash = await createAccount(other.client, { code: 'OTHER-CASH', currency: 'USD' });
      const otherEquity = await createAccount(other.client, { code: 'OTHER-EQ', type: 'EQUITY', currency: 'USD' });
      await other.client.ok(PostJournalEntryDocument, { input: { lines: transfer(otherCash.id, otherEquity.id, '5000.00'), description: 'other tenant' } });
    }, 120_000);

    afterAll(async () => {
      await app?.close();
    });

    it('hledger reads journal.ledger and its balance equals trialBalance for every account, to the minor unit', async () => {
      const { body: journal, response } = await text('/exports/journal.ledger');
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('private, no-store');
      const hledger = hledgerBalances(journal);
      const { trialBalance } = await app.client.ok(TrialBalanceDocument, {});
      const byId = new Map((await accounts()).map((account) => [account.id, account]));
      const expected = new Map<string, bigint>();
      for (const { node } of trialBalance.lines.edges) {
        const account = byId.get(node.account.id);
        if (!account) throw new Error(`trial balance account ${node.account.id} not listed`);
        expected.set(journalNameOf(account), BigInt(node.debit.minorUnits) - BigInt(node.credit.minorUnits));
      }
      const currencyOf = new Map([...byId.values()].map((account) => [journalNameOf(account), account.currency]));
      const actual = new Map<string, bigint>();
      for (const [name, balance] of hledger) {
        const currency = currencyOf.get(name);
        if (!currency) throw new Error(`hledger shows an account the tenant does not have: ${name}`);
        const [amount, commodity] = balance === '0' ? ['0', currency] : balance.split(' ');
        expect(commodity).toBe(currency);
        actual.set(name, parseDecimalToMinor(amount, currency));
      }
      // Every account of the trial balance: hledger's balance, or none where the books hold nothing.
      const compared = [...expected.keys()].map((name) => ({ name, net: (actual.get(name) ?? 0n).toString() }));
      expect(compared).toEqual([...expected].map(([name, net]) => ({ name, net: net.toString() })));
      expect([...actual.keys()].every((name) => expected.has(name))).toBe(true);
      // Something of each currency, with its own decimals, and every currency balanced to zero.
      expect(journal).toMatch(/ -?\d+\.\d\d USD\n/);
      expect(journal).toMatch(/ -?\d+ JPY\n/);
      expect(journal).toMatch(/ -?\d+\.\d{3} KWD\n/);
      const totals = runHledger(journal, ['balance', '--flat', '-O', 'csv']);
      expect(totals.trim().split('\n').pop()).toBe('"total","0"');
      // The awkward names: one account each, codes percent-encoded so none merges with another.
      expect(hledger.get('assets:OPS%3A1%3Bx%20%20y Petty cash%3B front desk%3A drawer')).toBe('10.10 USD');
      expect(hledger.get('equity:=CAPITAL +Owner capital')).toBe('-10.10 USD');
    });

    it('journal.ledger holds one transaction per posted entry, tagged with its id, reference and metadata; pending and voided entries are not in it', async () => {
      const { body: journal } = await text('/exports/journal.ledger');
      const tagged = runHledger(journal, ['tags', 'entry', '--values']).trim().split('\n').sort();
      const entries = await allEntries();
      const posted = entries.filter((entry) => entry.status === 'POSTED').map((entry) => entry.id).sort();
      expect(tagged).toEqual(posted);
      expect(posted).not.toContain(pendingEntryId);
      expect(entries.some((entry) => entry.status === 'VOIDED')).toBe(true);
      // hledger finds the entry by its code, its reference and its metadata, as written.
      const tricky = runHledger(journal, ['print', `code:${trickyEntryId}`]);
      expect(tricky).toContain(`(${trickyEntryId}) =HYPERLINK("http://x"), cash "float" second line`);
      expect(runHledger(journal, ['register', 'tag:ref=ref%2Cwith%2Ccommas'])).toContain('=HYPERLINK');
      expect(runHledger(journal, ['register', 'tag:meta.order%20id=A%2C17'])).toContain('=HYPERLINK');
      expect(runHledger(journal, ['print', `tag:reverses=${reversedEntryId}`])).toContain(`(${reversalId})`);
    });

    it('journal-entries.csv has one row per posted posting, each equal to what the API says of it', async () => {
      const { body, response } = await text('/exports/journal-entries.csv');
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present');
      expect(response.headers.get('content-disposition')).toBe('attachment; filename="journal-entries.csv"');
      const rows = readCsv(body, JOURNAL_ENTRIES_CSV_COLUMNS);
      const byCode = new Map((await accounts()).map((account) => [account.id, account]));
      const expected = (await allEntries()).flatMap((entry) =>
        entry.postings
          .filter((posting) => posting.phase === 'POSTED')
          .map((posting) => {
            const account = byCode.get(posting.account.id) as AccountPartsFragment;
            const debit = posting.direction === 'DEBIT';
            const safe = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);
            return {
              date: posting.effectiveAt.slice(0, 10),
              effective_at: posting.effectiveAt,
              entry_id: entry.id,
              description: safe(entry.description),
              external_ref: entry.externalRef === null ? '' : safe(entry.externalRef),
              reversal_of: entry.reversalOf?.id ?? '',
              metadata: entry.metadata === null ? '' : JSON.stringify(entry.metadata),
              posting_id: posting.id,
              account_id: account.id,
              account_code: safe(account.code),
              account_name: safe(account.name),
              account_type: account.type,
              currency: posting.amount.currency,
              debit: debit ? posting.amount.amount : '',
              credit: debit ? '' : posting.amount.amount,
              debit_minor: debit ? posting.amount.minorUnits : '',
              credit_minor: debit ? '' : posting.amount.minorUnits,
            };
          }),
      );
      const order = (row: { effective_at: string; posting_id: string }) => `${row.effective_at}|${row.posting_id}`;
      expect(rows).toEqual(expected.sort((a, b) => (order(a) < order(b) ? -1 : 1)));
      const tricky = rows.find((row) => row.entry_id === trickyEntryId && row.debit !== '');
      expect(tricky).toMatchObject({ description: '\'=HYPERLINK("http://x"); cash "float"\nsecond line', account_code: 'OPS:1;x  y', debit: '10.10', debit_minor: '1010' });
      expect(JSON.parse(tricky?.metadata ?? '')).toEqual({ 'order id': 'A,17', count: 3, nested: { ok: true } });
      expect(rows.some((row) => row.currency === 'JPY' && /^\d+$/.test(row.debit || row.credit))).toBe(true);
      expect(rows.some((row) => row.currency === 'KWD' && /^\d+\.\d{3}$/.test(row.debit || row.credit))).toBe(true);
      expect(rows.some((row) => row.entry_id === pendingEntryId)).toBe(false);
    });

    it('from (inclusive) and to (exclusive) select by the day the postings were booked', async () => {
      const day2 = new Date(DAY_ONE.getTime() + DAY_MS).toISOString().slice(0, 10);
      const firstDay = readCsv((await text(`/exports/journal-entries.csv?to=${day2}`)).body, JOURNAL_ENTRIES_CSV_COLUMNS);
      const secondDay = readCsv((await text(`/exports/journal-entries.csv?from=${day2}`)).body, JOURNAL_ENTRIES_CSV_COLUMNS);
      const all = readCsv((await text('/exports/journal-entries.csv')).body, JOURNAL_ENTRIES_CSV_COLUMNS);
      expect(firstDay.length + secondDay.length).toBe(all.length);
      expect(new Set(secondDay.map((row) => row.entry_id))).toEqual(new Set(entriesOfDay[1]));
      expect(firstDay.every((row) => row.date < day2) && secondDay.every((row) => row.date === day2)).toBe(true);
      // The same range in the journal: an RFC 3339 instant with an offset means the same instant.
      const journal = (await text(`/exports/journal.ledger?from=${encodeURIComponent(`${day2}T01:00:00+01:00`)}`)).body;
      expect(runHledger(journal, ['tags', 'entry', '--values']).trim().split('\n').sort()).toEqual([...entriesOfDay[1]].sort());
      // An empty range: the header row alone.
      expect((await text('/exports/journal-entries.csv?from=2030-01-01')).body).toBe(`${JOURNAL_ENTRIES_CSV_COLUMNS.join(',')}\r\n`);
    });

    it('trial-balance.csv equals trialBalance now and asOf a past instant, every account, to the minor unit', async () => {
      const check = async (query: string, asOf: string | null) => {
        const rows = readCsv((await text(`/exports/trial-balance.csv${query}`)).body, TRIAL_BALANCE_CSV_COLUMNS);
        const { trialBalance } = await app.client.ok(TrialBalanceDocument, { asOf });
        const byId = new Map((await accounts()).map((account) => [account.id, account]));
        expect(rows).toEqual(
          trialBalance.lines.edges.map(({ node }) => {
            const account = byId.get(node.account.id) as AccountPartsFragment;
            return {
              account_id: account.id,
              account_code: /^[=+\-@]/.test(account.code) ? `'${account.code}` : account.code,
              account_name: /^[=+\-@]/.test(account.name) ? `'${account.name}` : account.name,
              account_type: account.type,
              currency: account.currency,
              debit: node.debit.amount,
              credit: node.credit.amount,
              debit_minor: node.debit.minorUnits,
              credit_minor: node.credit.minorUnits,
            };
          }),
        );
        return rows;
      };
      const now = await check('', null);
      expect(now.some((row) => row.debit_minor !== '0')).toBe(true);
      // "asOf=<day one>" is the books at the end of that UTC day: before the refunds and the reversal.
      const dayOne = DAY_ONE.toISOString().slice(0, 10);
      const endOfDayOne = await check(`?asOf=${dayOne}`, `${dayOne}T23:59:59.999Z`);
      expect(endOfDayOne).not.toEqual(now);
      const beforeEverything = await check('?asOf=2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
      expect(beforeEverything.every((row) => row.debit_minor === '0' && row.credit_minor === '0')).toBe(true);
    });

    it("exports only the caller's tenant", async () => {
      const mine = await text('/exports/journal-entries.csv');
      const theirs = await text('/exports/journal-entries.csv', other.apiKey);
      const theirRows = readCsv(theirs.body, JOURNAL_ENTRIES_CSV_COLUMNS);
      expect(theirRows.map((row) => row.description)).toEqual(['other tenant', 'other tenant']);
      expect(mine.body).not.toContain('other tenant');
      const theirJournal = (await text('/exports/journal.ledger', other.apiKey)).body;
      expect(runHledger(theirJournal, ['tags', 'entry', '--values']).trim().split('\n')).toHaveLength(1);
      const theirBalance = readCsv((await text('/exports/trial-balance.csv', other.apiKey)).body, TRIAL_BALANCE_CSV_COLUMNS);
      expect(theirBalance.map((row) => row.account_code).sort()).toEqual(['OTHER-CASH', 'OTHER-EQ']);
    });

    it('refuses, before any byte of an export, with a stable code and what to send instead', async () => {
      const refusal = async (key: string | null, pathAndQuery: string) => {
        const response = await get(key, pathAndQuery);
        const body = (await response.json()) as { error: { code: string; message: string; details?: Record<string, unknown> } };
        return { status: response.status, code: body.error.code, message: body.error.message, details: body.error.details, response };
      };
      const none = await refusal(null, '/exports/journal-entries.csv');
      expect([none.status, none.code, none.response.headers.get('www-authenticate')]).toEqual([401, 'UNAUTHENTICATED', 'Bearer realm="reckon"']);
      expect((await refusal('rk_not_a_key', '/exports/journal.ledger')).status).toBe(401);
      const invoicesOnly = (await app.client.ok(CreateApiKeyDocument, { input: { name: 'invoices only', scopes: ['INVOICES_READ'] } })).createApiKey.secret;
      const forbidden = await refusal(invoicesOnly, '/exports/trial-balance.csv');
      expect([forbidden.status, forbidden.code]).toEqual([403, 'FORBIDDEN']);
      expect(forbidden.response.headers.get('www-authenticate')).toContain('scope="ledger:read"');
      const ledgerReader = (await app.client.ok(CreateApiKeyDocument, { input: { name: 'ledger reader', scopes: ['LEDGER_READ'] } })).createApiKey.secret;
      expect((await get(ledgerReader, '/exports/trial-balance.csv')).status).toBe(200);

      for (const [pathAndQuery, field] of [
        ['/exports/journal-entries.csv?from=yesterday', 'from'],
        ['/exports/journal-entries.csv?from=2026-02-30', 'from'],
        ['/exports/journal-entries.csv?to=2026-13-01', 'to'],
        ['/exports/journal.ledger?to=2026-03-01T24:00:00Z', 'to'],
        ['/exports/journal.ledger?from=2026-03-01T10:00:00', 'from'],
        ['/exports/trial-balance.csv?asOf=12%2F31%2F2026', 'asOf'],
        ['/exports/trial-balance.csv?asOf=1700000000', 'asOf'],
      ] as const) {
        const bad = await refusal(app.apiKey, pathAndQuery);
        expect({ pathAndQuery, status: bad.status, code: bad.code, field: bad.details?.field }).toEqual({ pathAndQuery, status: 400, code: 'VALIDATION_FAILED', field });
        expect(bad.message).toContain('YYYY-MM-DD');
        expect(bad.message).toContain('RFC 3339');
      }
      const backwards = await refusal(app.apiKey, '/exports/journal-entries.csv?from=2026-03-02&to=2026-03-01');
      expect([backwards.status, backwards.code, backwards.details?.field]).toEqual([400, 'VALIDATION_FAILED', 'to']);
      const misspelt = await refusal(app.apiKey, '/exports/journal-entries.csv?form=2026-03-01');
      expect([misspelt.status, misspelt.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(misspelt.message).toContain('from, to');
      const twice = await refusal(app.apiKey, '/exports/trial-balance.csv?asOf=2026-03-01&asOf=2026-03-02');
      expect([twice.status, twice.code]).toEqual([400, 'VALIDATION_FAILED']);
      const old = await refusal(app.apiKey, '/exports/journal-entries.csv?from=1969-12-31');
      expect([old.status, old.code]).toEqual([400, 'VALIDATION_FAILED']);
    });
  });
});
