import {
  AccountBalancesDocument,
  JournalEntryDocument,
  PostJournalEntryDocument,
  PostPendingJournalEntryDocument,
  VoidPendingJournalEntryDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { expectRefusedUnchanged, usd, usdBalances } from '../helpers/ledger-snapshot';

type Account = Awaited<ReturnType<typeof createAccount>>;

describeEachDatabase('a pending entry: held, posted in part, voided, posted twice', (kind) => {
  let app: TestApp;
  let cash: Account;
  let wallet: Account;
  let merchant: Account;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  /** A fresh world per test: cash (asset), a customer wallet (liability, no overdraft) funded with 100.00, a merchant (liability). */
  beforeEach(async () => {
    cash = await createAccount(app.client, { type: 'ASSET' });
    wallet = await createAccount(app.client, { type: 'LIABILITY', noOverdraft: true });
    merchant = await createAccount(app.client, { type: 'LIABILITY' });
    await postTransfer(app.client, cash.id, wallet.id, '100.00');
  });

  async function balancesOf(account: Account) {
    const { account: found } = await app.client.ok(AccountBalancesDocument, { id: account.id });
    return found.balances;
  }

  /** Holds `amount` from the wallet for the merchant. */
  async function holdFromWallet(amount: string) {
    const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, {
      input: { lines: transfer(wallet.id, merchant.id, amount), status: 'PENDING', description: 'card authorization' },
    });
    return postJournalEntry.journalEntry;
  }

  function postingsSummary(postings: { direction: string; phase: string; amount: { amount: string }; account: { id: string } }[]) {
    const name = (id: string) => (id === wallet.id ? 'wallet' : id === merchant.id ? 'merchant' : id === cash.id ? 'cash' : id);
    return postings.map((p) => `${name(p.account.id)} ${p.direction} ${p.phase} ${p.amount.amount}`);
  }

  it('moves pending balances only, with available = posted less pending outflows', async () => {
    const expense = await createAccount(app.client, { type: 'EXPENSE' });
    const hold = await holdFromWallet('30.00');
    expect(hold.status).toBe('PENDING');
    expect(hold.resolvedAt).toBeNull();
    expect(postingsSummary(hold.postings)).toEqual(['wallet DEBIT PENDING 30.00', 'merchant CREDIT PENDING 30.00']);
    // A pending outflow of a debit-normal account: cash pays 10.00 of expenses, not yet settled.
    await app.client.ok(PostJournalEntryDocument, { input: { lines: transfer(expense.id, cash.id, '10.00'), status: 'PENDING' } });

    // Credit-normal wallet: the pending debit is an outflow, so available drops with pending.
    expect(await balancesOf(wallet)).toEqual(
      usdBalances(['0.00', '100.00', '100.00'], ['30.00', '100.00', '70.00'], ['30.00', '100.00', '70.00']),
    );
    // Credit-normal merchant: the pending credit is an inflow, not yet available.
    expect(await balancesOf(merchant)).toEqual(
      usdBalances(['0.00', '0.00', '0.00'], ['0.00', '30.00', '30.00'], ['0.00', '0.00', '0.00']),
    );
    // Debit-normal cash: the pending credit is an outflow.
    expect(await balancesOf(cash)).toEqual(
      usdBalances(['100.00', '0.00', '100.00'], ['100.00', '10.00', '90.00'], ['100.00', '10.00', '90.00']),
    );
    // Debit-normal expense: the pending debit is an inflow.
    expect(await balancesOf(expense)).toEqual(
      usdBalances(['0.00', '0.00', '0.00'], ['10.00', '0.00', '10.00'], ['0.00', '0.00', '0.00']),
    );
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('posts in part: books the smaller amount and releases the rest', async () => {
    const hold = await holdFromWallet('30.00');
    const { postPendingJournalEntry } = await app.client.ok(PostPendingJournalEntryDocument, {
      input: { id: hold.id, lines: transfer(wallet.id, merchant.id, '20.00') },
    });
    const posted = postPendingJournalEntry.journalEntry;
    expect(posted.id).toBe(hold.id);
    expect(posted.status).toBe('POSTED');
    expect(posted.resolvedAt).not.toBeNull();
    expect(postingsSummary(posted.postings)).toEqual([
      'wallet DEBIT PENDING 30.00',
      'merchant CREDIT PENDING 30.00',
      'wallet DEBIT PENDING -30.00',
      'merchant CREDIT PENDING -30.00',
      'wallet DEBIT POSTED 20.00',
      'merchant CREDIT POSTED 20.00',
    ]);

    expect(await balancesOf(wallet)).toEqual(
      usdBalances(['20.00', '100.00', '80.00'], ['20.00', '100.00', '80.00'], ['20.00', '100.00', '80.00']),
    );
    expect(await balancesOf(merchant)).toEqual(
      usdBalances(['0.00', '20.00', '20.00'], ['0.00', '20.00', '20.00'], ['0.00', '20.00', '20.00']),
    );
    const { journalEntry } = await app.client.ok(JournalEntryDocument, { id: hold.id });
    expect(journalEntry.status).toBe('POSTED');
    expect(journalEntry.postings).toHaveLength(6);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses to post an entry a second time, or to void it once posted, and changes nothing', async () => {
    const hold = await holdFromWallet('30.00');
    await app.client.ok(PostPendingJournalEntryDocument, { input: { id: hold.id } });
    const walletAfterPost = await balancesOf(wallet);
    expect(walletAfterPost).toEqual(usdBalances(['30.00', '100.00', '70.00'], ['30.00', '100.00', '70.00'], ['30.00', '100.00', '70.00']));

    const again = await expectRefusedUnchanged(app, app.client, PostPendingJournalEntryDocument, { input: { id: hold.id } }, 'INVALID_STATE_TRANSITION');
    expect(again.message).toContain(`Journal entry ${hold.id} is POSTED`);
    expect(again.extensions?.details).toMatchObject({ id: hold.id, status: 'POSTED' });
    await expectRefusedUnchanged(
      app,
      app.client,
      PostPendingJournalEntryDocument,
      { input: { id: hold.id, lines: transfer(wallet.id, merchant.id, '1.00') } },
      'INVALID_STATE_TRANSITION',
    );
    await expectRefusedUnchanged(app, app.client, VoidPendingJournalEntryDocument, { input: { id: hold.id } }, 'INVALID_STATE_TRANSITION');

    expect(await balancesOf(wallet)).toEqual(walletAfterPost);
    const { journalEntry } = await app.client.ok(JournalEntryDocument, { id: hold.id });
    expect(journalEntry.status).toBe('POSTED');
    expect(journalEntry.postings).toHaveLength(6);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('voids a pending entry, releasing the hold, and refuses to void or post it afterwards', async () => {
    const hold = await holdFromWallet('30.00');
    const { voidPendingJournalEntry } = await app.client.ok(VoidPendingJournalEntryDocument, { input: { id: hold.id } });
    expect(voidPendingJournalEntry.journalEntry.status).toBe('VOIDED');
    expect(voidPendingJournalEntry.journalEntry.resolvedAt).not.toBeNull();
    expect(postingsSummary(voidPendingJournalEntry.journalEntry.postings)).toEqual([
      'wallet DEBIT PENDING 30.00',
      'merchant CREDIT PENDING 30.00',
      'wallet DEBIT PENDING -30.00',
      'merchant CREDIT PENDING -30.00',
    ]);
    expect(await balancesOf(wallet)).toEqual(
      usdBalances(['0.00', '100.00', '100.00'], ['0.00', '100.00', '100.00'], ['0.00', '100.00', '100.00']),
    );
    expect(await balancesOf(merchant)).toEqual(usdBalances(['0.00', '0.00', '0.00'], ['0.00', '0.00', '0.00'], ['0.00', '0.00', '0.00']));

    const voidAgain = await expectRefusedUnchanged(app, app.client, VoidPendingJournalEntryDocument, { input: { id: hold.id } }, 'INVALID_STATE_TRANSITION');
    expect(voidAgain.message).toContain('is VOIDED');
    await expectRefusedUnchanged(app, app.client, PostPendingJournalEntryDocument, { input: { id: hold.id } }, 'INVALID_STATE_TRANSITION');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses to void an entry that was posted directly', async () => {
    const entry = await postTransfer(app.client, wallet.id, merchant.id, '5.00');
    expect(entry.status).toBe('POSTED');
    const error = await expectRefusedUnchanged(app, app.client, VoidPendingJournalEntryDocument, { input: { id: entry.id } }, 'INVALID_STATE_TRANSITION');
    expect(error.message).toContain('only a PENDING entry can be posted or voided');
    await expectRefusedUnchanged(app, app.client, PostPendingJournalEntryDocument, { input: { id: entry.id } }, 'INVALID_STATE_TRANSITION');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses to post in part for more than is held, or on other accounts, and leaves the hold in place', async () => {
    const hold = await holdFromWallet('30.00');
    const more = await expectRefusedUnchanged(
      app,
      app.client,
      PostPendingJournalEntryDocument,
      { input: { id: hold.id, lines: transfer(wallet.id, merchant.id, '30.01') } },
      'VALIDATION_FAILED',
    );
    expect(more.message).toMatch(/^lines\[0\]: a pending entry can be posted for at most the amounts it holds/);
    // Same amount, but the sides swapped: nothing is held on those sides.
    await expectRefusedUnchanged(
      app,
      app.client,
      PostPendingJournalEntryDocument,
      { input: { id: hold.id, lines: transfer(merchant.id, wallet.id, '10.00') } },
      'VALIDATION_FAILED',
    );
    // The cash account holds nothing in this entry.
    await expectRefusedUnchanged(
      app,
      app.client,
      PostPendingJournalEntryDocument,
      { input: { id: hold.id, lines: transfer(cash.id, merchant.id, '10.00') } },
      'VALIDATION_FAILED',
    );
    // Unbalanced partial lines are refused before the entry is looked at.
    await expectRefusedUnchanged(
      app,
      app.client,
      PostPendingJournalEntryDocument,
      {
        input: {
          id: hold.id,
          lines: [
            { accountId: wallet.id, direction: 'DEBIT', amount: '10.00', currency: 'USD' },
            { accountId: merchant.id, direction: 'CREDIT', amount: '9.00', currency: 'USD' },
          ],
        },
      },
      'VALIDATION_FAILED',
    );

    const { journalEntry } = await app.client.ok(JournalEntryDocument, { id: hold.id });
    expect(journalEntry.status).toBe('PENDING');
    expect(await balancesOf(wallet)).toEqual(
      usdBalances(['0.00', '100.00', '100.00'], ['30.00', '100.00', '70.00'], ['30.00', '100.00', '70.00']),
    );
    // Posting for exactly what is held is accepted.
    await app.client.ok(PostPendingJournalEntryDocument, { input: { id: hold.id, lines: transfer(wallet.id, merchant.id, '30.00') } });
    expect((await balancesOf(merchant)).posted.net).toEqual(usd('30.00'));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('counts a pending hold against a no-overdraft account, so a spend beyond what is left is INSUFFICIENT_FUNDS', async () => {
    const hold = await holdFromWallet('70.00');
    expect((await balancesOf(wallet)).available.net).toEqual(usd('30.00'));

    const spend = await expectRefusedUnchanged(
      app,
      app.client,
      PostJournalEntryDocument,
      { input: { lines: transfer(wallet.id, merchant.id, '30.01') } },
      'INSUFFICIENT_FUNDS',
    );
    expect(spend.extensions?.details).toMatchObject({ accountId: wallet.id, availableMinorUnits: '3000', floorMinorUnits: '0', currency: 'USD' });
    // A second hold beyond what is available is refused the same way.
    await expectRefusedUnchanged(
      app,
      app.client,
      PostJournalEntryDocument,
      { input: { lines: transfer(wallet.id, merchant.id, '30.01'), status: 'PENDING' } },
      'INSUFFICIENT_FUNDS',
    );

    // Exactly what is available may be spent, down to zero.
    await postTransfer(app.client, wallet.id, merchant.id, '30.00');
    expect(await balancesOf(wallet)).toEqual(
      usdBalances(['30.00', '100.00', '70.00'], ['100.00', '100.00', '0.00'], ['100.00', '100.00', '0.00']),
    );
    await expectRefusedUnchanged(
      app,
      app.client,
      PostJournalEntryDocument,
      { input: { lines: transfer(wallet.id, merchant.id, '0.01') } },
      'INSUFFICIENT_FUNDS',
    );

    // Capturing the hold for less releases the rest, which can be spent again.
    await app.client.ok(PostPendingJournalEntryDocument, { input: { id: hold.id, lines: transfer(wallet.id, merchant.id, '50.00') } });
    expect(await balancesOf(wallet)).toEqual(
      usdBalances(['80.00', '100.00', '20.00'], ['80.00', '100.00', '20.00'], ['80.00', '100.00', '20.00']),
    );
    await postTransfer(app.client, wallet.id, merchant.id, '20.00');
    expect((await balancesOf(wallet)).available.net).toEqual(usd('0.00'));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
