import { setRootFieldsOf } from '../helpers/graphql-client';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { ulid } from 'ulid';
import {
  AccountBalancesDocument,
  AccountsDocument,
  CreateAccountDocument,
  type JournalLineInput,
  MeDocument,
  PostJournalEntriesDocument,
  PostJournalEntryDocument,
  type PostJournalEntryInput,
} from '../generated/graphql';
import type { GraphQLErrorShape, GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';

type Account = Awaited<ReturnType<typeof createAccount>>;

const REQUEST_ID = /^req_[0-9A-HJKMNP-TV-Z]{26}$/;

describeEachDatabase('bad ledger input is refused and changes nothing', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let cash: Account;
  let revenue: Account;
  let wallet: Account;
  let cashEur: Account;
  let jpyCash: Account;
  let jpyRevenue: Account;
  let kwdCash: Account;
  let kwdRevenue: Account;
  let otherTenantAccount: Account;

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Globex');
    cash = await createAccount(app.client, { code: 'cash', type: 'ASSET' });
    revenue = await createAccount(app.client, { code: 'revenue', type: 'REVENUE' });
    wallet = await createAccount(app.client, { code: 'wallet', type: 'LIABILITY', noOverdraft: true });
    cashEur = await createAccount(app.client, { code: 'cash-eur', type: 'ASSET', currency: 'EUR' });
    jpyCash = await createAccount(app.client, { code: 'cash-jpy', type: 'ASSET', currency: 'JPY' });
    jpyRevenue = await createAccount(app.client, { code: 'revenue-jpy', type: 'REVENUE', currency: 'JPY' });
    kwdCash = await createAccount(app.client, { code: 'cash-kwd', type: 'ASSET', currency: 'KWD' });
    kwdRevenue = await createAccount(app.client, { code: 'revenue-kwd', type: 'REVENUE', currency: 'KWD' });
    otherTenantAccount = await createAccount(other.client, { code: 'cash', type: 'ASSET' });
    const otherRevenue = await createAccount(other.client, { code: 'revenue', type: 'REVENUE' });
    // Non-zero balances, so that "nothing changed" is not merely "everything is still zero".
    await postTransfer(app.client, cash.id, revenue.id, '100.00', { externalRef: 'seed-sale' });
    await postTransfer(app.client, cash.id, wallet.id, '50.00', { externalRef: 'seed-wallet' });
    await postTransfer(other.client, otherTenantAccount.id, otherRevenue.id, '7.00');
  });

  afterAll(async () => {
    await app?.close();
  });

  async function apiBalances(): Promise<unknown[]> {
    const accounts = [cash, revenue, wallet, cashEur, jpyCash, kwdCash];
    return Promise.all(accounts.map(async (a) => (await app.client.ok(AccountBalancesDocument, { id: a.id })).account));
  }

  /** Checks that the request failed with `count` errors, all with `code` and the response's request id; returns the first. */
  function expectErrors<T>(result: GraphQLResult<T>, code: string, count = 1): GraphQLErrorShape {
    expect(result.errors).toHaveLength(count);
    for (const error of result.errors as GraphQLErrorShape[]) {
      expect(error.extensions?.code).toBe(code);
      expect(error.message.length).toBeGreaterThan(10);
      expect(error.extensions?.requestId).toMatch(REQUEST_ID);
      expect(error.extensions?.requestId).toBe(result.headers.get('x-request-id'));
      // Nothing internal leaks into a refusal.
      expect(JSON.stringify(error)).not.toMatch(/SELECT|INSERT|stack|at .*\.ts:\d+/);
    }
    return (result.errors as GraphQLErrorShape[])[0];
  }

  /** Sends a request that must be refused with `code`, and checks that neither the tables nor the API balances moved. */
  async function expectRefused<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    code: string,
    errorCount = 1,
  ): Promise<GraphQLErrorShape> {
    const before = await takeLedgerSnapshot(app.runtime.dataSource);
    const balancesBefore = await apiBalances();
    const result = await app.client.request(document, variables);
    const error = expectErrors(result, code, errorCount);
    expect(Object.values((result.data ?? {}) as Record<string, unknown>).filter((v) => v !== null)).toEqual([]);
    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);
    expect(await apiBalances()).toEqual(balancesBefore);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
    return error;
  }

  function entry(lines: JournalLineInput[], extra: Partial<PostJournalEntryInput> = {}): { input: PostJournalEntryInput } {
    return { input: { lines, description: 'bad input', ...extra } };
  }

  describe('amounts and balance', () => {
    it('refuses an unbalanced entry', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry([
          { accountId: cash.id, direction: 'DEBIT', amount: '10.00', currency: 'USD' },
          { accountId: revenue.id, direction: 'CREDIT', amount: '9.99', currency: 'USD' },
        ]),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/unbalanced/);
      expect(error.extensions?.details).toMatchObject({ currency: 'USD', debitsMinorUnits: '1000', creditsMinorUnits: '999' });
    });

    it('refuses an entry with one line only', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry([{ accountId: cash.id, direction: 'DEBIT', amount: '10.00', currency: 'USD' }]),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/at least 2 lines, got 1/);
    });

    it('refuses a zero amount', async () => {
      const error = await expectRefused(PostJournalEntryDocument, entry(transfer(cash.id, revenue.id, '0.00')), 'VALIDATION_FAILED');
      expect(error.message).toMatch(/greater than zero/);
      expect(error.extensions?.details).toMatchObject({ field: 'lines[0].amount' });
    });

    it('refuses a negative amount', async () => {
      const error = await expectRefused(PostJournalEntryDocument, entry(transfer(cash.id, revenue.id, '-5.00')), 'VALIDATION_FAILED');
      expect(error.message).toMatch(/greater than zero/);
    });

    it('refuses more decimals than USD has', async () => {
      const error = await expectRefused(PostJournalEntryDocument, entry(transfer(cash.id, revenue.id, '1.001')), 'VALIDATION_FAILED');
      expect(error.message).toMatch(/3 decimals; USD allows at most 2/);
      expect(error.extensions?.details).toMatchObject({ maxDecimals: 2 });
    });

    it('refuses decimals in JPY and accepts whole yen', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(jpyCash.id, jpyRevenue.id, '1.5', 'JPY')),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/JPY allows at most 0/);

      await app.client.ok(PostJournalEntryDocument, entry(transfer(jpyCash.id, jpyRevenue.id, '15', 'JPY')));
      const { account } = await app.client.ok(AccountBalancesDocument, { id: jpyCash.id });
      expect(account.balances.posted.net).toEqual({ amount: '15', minorUnits: '15', currency: 'JPY' });
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });

    it('refuses four decimals in KWD and accepts three', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(kwdCash.id, kwdRevenue.id, '1.2345', 'KWD')),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/4 decimals; KWD allows at most 3/);

      await app.client.ok(PostJournalEntryDocument, entry(transfer(kwdCash.id, kwdRevenue.id, '1.234', 'KWD')));
      const { account } = await app.client.ok(AccountBalancesDocument, { id: kwdCash.id });
      expect(account.balances.posted.net).toEqual({ amount: '1.234', minorUnits: '1234', currency: 'KWD' });
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });

    it('refuses an amount of 2^63 minor units', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '92233720368547758.08')),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/out of range/);
    });

    it('refuses an entry that would take an account balance past 64 bits', async () => {
      // 2^63 - 1 minor units is a valid amount, but cash already holds 150.00 in debits.
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '92233720368547758.07')),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/past the 64-bit range/);
    });

    it('refuses an unknown currency and a lowercase code, naming each bad line', async () => {
      for (const currency of ['XYZ', 'usd']) {
        const error = await expectRefused(
          PostJournalEntryDocument,
          entry(transfer(cash.id, revenue.id, '1.00', currency)),
          'VALIDATION_FAILED',
          2,
        );
        expect(error.message).toContain(`Unknown currency "${currency}"`);
        expect(error.message).toContain('input.lines[0].currency');
      }
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry([
          { accountId: cash.id, direction: 'DEBIT', amount: '1.00', currency: 'USD' },
          { accountId: revenue.id, direction: 'CREDIT', amount: '1.00', currency: 'XYZ' },
        ]),
        'VALIDATION_FAILED',
      );
      expect(error.message).toContain('input.lines[1].currency');
    });

    it('refuses a JSON number where a decimal string belongs', async () => {
      const before = await takeLedgerSnapshot(app.runtime.dataSource);
      const result = await app.client.raw({
        query: print(PostJournalEntryDocument),
        variables: {
          input: {
            lines: [
              { accountId: cash.id, direction: 'DEBIT', amount: 12.34, currency: 'USD' },
              { accountId: revenue.id, direction: 'CREDIT', amount: 12.34, currency: 'USD' },
            ],
          },
        },
      });
      const error = expectErrors(result, 'VALIDATION_FAILED', 2);
      expect(error.message).toContain('input.lines[0].amount');
      expect(error.message).toMatch(/strings such as "12.34", not numbers/);
      expect(setRootFieldsOf(result.data)).toBeNull();
      expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);
    });

    it('refuses a mixed-currency entry whose EUR line has no balancing pair', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry([
          ...transfer(cash.id, revenue.id, '10.00'),
          { accountId: cashEur.id, direction: 'DEBIT', amount: '5.00', currency: 'EUR' },
        ]),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/unbalanced entry: EUR debits 500 and credits 0/);
    });

    it('refuses a line whose currency is not its account’s', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '5.00', 'EUR')),
        'VALIDATION_FAILED',
      );
      expect(error.message).toContain(`account ${cash.id} is in USD, the line is in EUR`);
      expect(error.extensions?.details).toMatchObject({ field: 'lines[0]', accountCurrency: 'USD', lineCurrency: 'EUR' });
    });
  });

  describe('account ids', () => {
    it('reports a well-formed account id that does not exist as NOT_FOUND', async () => {
      const missing = `acct_${ulid()}`;
      const error = await expectRefused(PostJournalEntryDocument, entry(transfer(cash.id, missing, '1.00')), 'NOT_FOUND');
      expect(error.message).toContain(missing);
    });

    it('refuses a malformed account id as VALIDATION_FAILED', async () => {
      for (const malformed of ['acct_123', 'je_01ARZ3NDEKTSV4RRFFQ69G5FAV', '']) {
        const error = await expectRefused(PostJournalEntryDocument, entry(transfer(malformed, cash.id, '1.00')), 'VALIDATION_FAILED');
        expect(error.extensions?.details).toMatchObject({ field: 'lines[0].accountId' });
      }
    });

    it('reports another tenant’s account as NOT_FOUND, in either position of the entry', async () => {
      await expectRefused(PostJournalEntryDocument, entry(transfer(otherTenantAccount.id, cash.id, '1.00')), 'NOT_FOUND');
      await expectRefused(PostJournalEntryDocument, entry(transfer(cash.id, otherTenantAccount.id, '1.00')), 'NOT_FOUND');
      const { account } = await other.client.ok(AccountBalancesDocument, { id: otherTenantAccount.id });
      expect(account.balances.posted.net).toEqual({ amount: '7.00', minorUnits: '700', currency: 'USD' });
    });
  });

  describe('batches', () => {
    it('refuses 1,001 entries in one call', async () => {
      const entries = Array.from({ length: 1001 }, (_, i) => ({ lines: transfer(cash.id, revenue.id, '0.01'), externalRef: `bulk-${i}` }));
      const error = await expectRefused(PostJournalEntriesDocument, { input: { entries } }, 'VALIDATION_FAILED');
      expect(error.message).toMatch(/between 1 and 1000 entries per call, got 1001/);
    });

    it('writes nothing from a batch whose second entry is refused, and names that entry', async () => {
      const entries: PostJournalEntryInput[] = [
        // Raises the wallet to 60.00 within the batch: the second entry is checked against that.
        { lines: transfer(cash.id, wallet.id, '10.00'), externalRef: 'batch-0' },
        { lines: transfer(wallet.id, cash.id, '60.01'), externalRef: 'batch-1' },
        { lines: transfer(cash.id, revenue.id, '1.00'), externalRef: 'batch-2' },
      ];
      const error = await expectRefused(PostJournalEntriesDocument, { input: { entries } }, 'INSUFFICIENT_FUNDS');
      expect(error.message).toMatch(/^entries\[1\]: /);
      expect(error.extensions?.details).toMatchObject({ index: 1, accountId: wallet.id, availableMinorUnits: '6000', floorMinorUnits: '0' });

      // The refused batch took no external reference: the first entry alone is accepted.
      const { postJournalEntries } = await app.client.ok(PostJournalEntriesDocument, { input: { entries: [entries[0]] } });
      expect(postJournalEntries.journalEntries).toEqual([expect.objectContaining({ status: 'POSTED', externalRef: 'batch-0' })]);
      const { account } = await app.client.ok(AccountBalancesDocument, { id: wallet.id });
      expect(account.balances.available.net.amount).toBe('60.00');
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });
  });

  describe('credentials', () => {
    async function expectUnauthenticated(apiKey: string | null, headers: Record<string, string> = {}) {
      const before = await takeLedgerSnapshot(app.runtime.dataSource);
      const client = app.client.withKey(apiKey);
      const results: GraphQLResult<unknown>[] = [
        await client.request(MeDocument, {}, headers),
        await client.request(PostJournalEntryDocument, entry(transfer(cash.id, revenue.id, '1.00')), headers),
      ];
      for (const result of results) {
        expect(result.status).toBe(401);
        // RFC 6750 §3: a bare challenge when no credentials came, invalid_token when bad ones did.
        const sent = Boolean(apiKey) || Boolean(headers.authorization);
        const challenge = result.headers.get('www-authenticate');
        if (sent) expect(challenge).toMatch(/^Bearer realm="reckon", error="invalid_token", error_description="[^"]+"$/);
        else expect(challenge).toBe('Bearer realm="reckon"');
        const error = expectErrors(result, 'UNAUTHENTICATED');
        if (apiKey) expect(error.message).not.toContain(apiKey);
        expect(setRootFieldsOf(result.data)).toBeNull();
      }
      expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(before);
    }

    it('refuses a request without an API key with 401', async () => {
      await expectUnauthenticated(null);
    });

    it('refuses an unknown, a malformed and a wrong-scheme API key with 401', async () => {
      await expectUnauthenticated(`rk_${'A'.repeat(12)}_${'b'.repeat(46)}`);
      await expectUnauthenticated('not-a-key');
      await expectUnauthenticated(null, { authorization: `Basic ${app.apiKey}` });
    });

    it('refuses a real key with one character changed', async () => {
      const last = app.apiKey.slice(-1);
      await expectUnauthenticated(app.apiKey.slice(0, -1) + (last === 'a' ? 'b' : 'a'));
    });
  });

  describe('uniqueness', () => {
    it('refuses a second account with the same code', async () => {
      const error = await expectRefused(
        CreateAccountDocument,
        { input: { code: 'cash', name: 'Cash again', type: 'ASSET', currency: 'USD' } },
        'ALREADY_EXISTS',
      );
      expect(error.message).toContain('"cash"');
    });

    it('refuses a second entry with the same externalRef', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '3.00'), { externalRef: 'seed-sale' }),
        'ALREADY_EXISTS',
      );
      expect(error.extensions?.details).toMatchObject({ field: 'externalRef', externalRef: 'seed-sale' });
    });

    it('refuses a batch that uses one externalRef twice, naming the second use', async () => {
      const error = await expectRefused(
        PostJournalEntriesDocument,
        {
          input: {
            entries: [
              { lines: transfer(cash.id, revenue.id, '1.00'), externalRef: 'twice' },
              { lines: transfer(cash.id, revenue.id, '2.00'), externalRef: 'twice' },
            ],
          },
        },
        'ALREADY_EXISTS',
      );
      expect(error.message).toMatch(/^entries\[1\]: /);
      expect(error.extensions?.details).toMatchObject({ index: 1, externalRef: 'twice' });
      await expectRefused(PostJournalEntriesDocument, { input: { entries: [] } }, 'VALIDATION_FAILED');
    });
    it('refuses an externalRef or account code that begins or ends with a space', async () => {
      // MySQL's PAD SPACE collations take "seed-sale " for "seed-sale" where SQLite does not: refused on both.
      for (const externalRef of ['seed-sale ', ' seed-sale', 'fresh-ref ']) {
        const error = await expectRefused(
          PostJournalEntryDocument,
          entry(transfer(cash.id, revenue.id, '3.00'), { externalRef }),
          'VALIDATION_FAILED',
        );
        expect(error.message).toMatch(/externalRef must not begin or end with a space/);
        expect(error.extensions?.details).toMatchObject({ field: 'externalRef' });
      }
      for (const code of ['cash ', ' cash', 'fresh ']) {
        const error = await expectRefused(
          CreateAccountDocument,
          { input: { code, name: 'Padded', type: 'ASSET', currency: 'USD' } },
          'VALIDATION_FAILED',
        );
        expect(error.message).toMatch(/code must not begin or end with a space/);
        expect(error.extensions?.details).toMatchObject({ field: 'code' });
      }
    });
  });

  describe('pagination', () => {
    it('refuses first: 501 and first: 0, and accepts first: 500', async () => {
      const error = await expectRefused(AccountsDocument, { first: 501 }, 'VALIDATION_FAILED');
      expect(error.message).toMatch(/first must be between 1 and 500/);
      await expectRefused(AccountsDocument, { first: 0 }, 'VALIDATION_FAILED');
      const { accounts } = await app.client.ok(AccountsDocument, { first: 500 });
      expect(accounts.edges).toHaveLength(8);
    });

    it('refuses an after cursor the API did not issue', async () => {
      for (const after of ['garbage', 'Yzo', Buffer.from('x:acct_1').toString('base64url'), '!!!']) {
        const error = await expectRefused(AccountsDocument, { first: 2, after }, 'VALIDATION_FAILED');
        expect(error.message).toMatch(/after is not a cursor/);
      }
    });
  });

  describe('entry fields', () => {
    it('refuses a description longer than 500 characters and accepts 500', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '1.00'), { description: 'x'.repeat(501) }),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/description is longer than 500 characters/);
      const { postJournalEntry } = await app.client.ok(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '1.00'), { description: 'é'.repeat(500) }),
      );
      expect(postJournalEntry.journalEntry.description).toBe('é'.repeat(500));
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });

    it('refuses metadata larger than 4 KiB', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '1.00'), { metadata: { note: 'm'.repeat(4096) } }),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/metadata is 4107 bytes; at most 4096/);
      // Exactly 4 KiB of JSON is kept, byte for byte.
      const metadata = { note: 'm'.repeat(4085) };
      const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, entry(transfer(cash.id, revenue.id, '1.00'), { metadata }));
      expect(postJournalEntry.journalEntry.metadata).toEqual(metadata);
      await assertLedgerInvariants(app.runtime.dataSource, app.client);
    });

    it('refuses an effective date in 1960', async () => {
      const error = await expectRefused(
        PostJournalEntryDocument,
        entry(transfer(cash.id, revenue.id, '1.00'), { effectiveAt: '1960-06-01T00:00:00.000Z' }),
        'VALIDATION_FAILED',
      );
      expect(error.message).toMatch(/effectiveAt must be a date between 1970-01-01 and 9999-12-31/);
    });
  });

  describe('internal errors', () => {
    it('masks an internal error: no driver text, code INTERNAL_SERVER_ERROR, the request id kept', async () => {
      // A real failure, not a mock: a second server's database pool is closed under it, as in a shutdown.
      const broken = await startTestApp(kind);
      try {
        await broken.runtime.close();
        const results: GraphQLResult<unknown>[] = [
          await broken.client.request(MeDocument, {}),
          await broken.client.request(PostJournalEntryDocument, entry(transfer(cash.id, revenue.id, '1.00'))),
        ];
        for (const result of results) {
          expect(result.status).toBe(500);
          const requestId = result.headers.get('x-request-id');
          expect(requestId).toMatch(REQUEST_ID);
          expect(result.errors).toEqual([
            { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: false, requestId } },
          ]);
          expect(setRootFieldsOf(result.data)).toBeNull();
        }
      } finally {
        // Reopened only so that close() can drop the suite's database.
        await broken.runtime.dataSource.initialize();
        await broken.close();
      }
    });
  });
});
