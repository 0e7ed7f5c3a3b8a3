import { ulid } from 'ulid';
import {
  AccountBalanceAsOfDocument,
  AccountBalancesDocument,
  JournalEntryDocument,
  PostJournalEntryDocument,
  PostPendingJournalEntryDocument,
  ReverseJournalEntryDocument,
  VoidPendingJournalEntryDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { expectRefusedUnchanged, usd, usdBalances } from '../helpers/ledger-snapshot';

type Account = Awaited<ReturnType<typeof createAccount>>;

interface PostingShape {
  direction: string;
  phase: string;
  amount: { amount: string; minorUnits: string; currency: string };
  account: { id: string };
}

function summary(postings: PostingShape[]): string[] {
  return postings.map((p) => `${p.account.id} ${p.direction} ${p.phase} ${p.amount.amount} ${p.amount.currency}`);
}

function opposite(direction: string): string {
  return direction === 'DEBIT' ? 'CREDIT' : 'DEBIT';
}

describeEachDatabase('a journal entry reversed once', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let cash: Account;
  let revenue: Account;

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Globex');
  });
  afterAll(async () => {
    await app?.close();
  });

  beforeEach(async () => {
    cash = await createAccount(app.client, { type: 'ASSET' });
    revenue = await createAccount(app.client, { type: 'REVENUE' });
    // An earlier sale, so that "back to before" is not "back to zero".
    await postTransfer(app.client, cash.id, revenue.id, '5.00');
  });

  async function balancesOf(account: { id: string }, client = app.client) {
    const { account: found } = await client.ok(AccountBalancesDocument, { id: account.id });
    return found.balances;
  }

  /** Net posted, pending and available balances: what a reversal restores (debit and credit totals only grow). */
  async function netsOf(account: { id: string }, client = app.client) {
    const balances = await balancesOf(account, client);
    return { posted: balances.posted.net, pending: balances.pending.net, available: balances.available.net };
  }

  it('books the exact opposite, linked to the original, and balances return to what they were', async () => {
    const cashEur = await createAccount(app.client, { type: 'ASSET', currency: 'EUR' });
    const revenueEur = await createAccount(app.client, { type: 'REVENUE', currency: 'EUR' });
    const fees = await createAccount(app.client, { type: 'EXPENSE' });
    const before = await Promise.all([cash, revenue, cashEur, revenueEur, fees].map((a) => netsOf(a)));

    const { postJournalEntry } = await app.client.ok(PostJournalEntryDocument, {
      input: {
        description: 'sale with fee, paid in two currencies',
        lines: [
          { accountId: cash.id, direction: 'DEBIT', amount: '11.84', currency: 'USD' },
          { accountId: fees.id, direction: 'DEBIT', amount: '0.50', currency: 'USD' },
          { accountId: revenue.id, direction: 'CREDIT', amount: '12.34', currency: 'USD' },
          { accountId: cashEur.id, direction: 'DEBIT', amount: '3.21', currency: 'EUR' },
          { accountId: revenueEur.id, direction: 'CREDIT', amount: '3.21', currency: 'EUR' },
        ],
      },
    });
    const original = postJournalEntry.journalEntry;
    expect((await balancesOf(cash)).posted.net).toEqual(usd('16.84'));

    const { reverseJournalEntry } = await app.client.ok(ReverseJournalEntryDocument, {
      input: { id: original.id, externalRef: 'refund-1', metadata: { reason: 'customer returned the goods' } },
    });
    const reversal = reverseJournalEntry.journalEntry;
    expect(reversal.id).not.toBe(original.id);
    expect(reversal.status).toBe('POSTED');
    expect(reversal.reversalOf).toEqual({ id: original.id });
    expect(reversal.description).toBe(`Reversal of ${original.id}`);
    expect(reversal.externalRef).toBe('refund-1');
    expect(reversal.metadata).toEqual({ reason: 'customer returned the goods' });
    expect(summary(reversal.postings)).toEqual([
      `${cash.id} CREDIT POSTED 11.84 USD`,
      `${fees.id} CREDIT POSTED 0.50 USD`,
      `${revenue.id} DEBIT POSTED 12.34 USD`,
      `${cashEur.id} CREDIT POSTED 3.21 EUR`,
      `${revenueEur.id} DEBIT POSTED 3.21 EUR`,
    ]);
    expect(summary(reversal.postings)).toEqual(
      summary(original.postings.map((p) => ({ ...p, direction: opposite(p.direction) }))),
    );

    expect(await Promise.all([cash, revenue, cashEur, revenueEur, fees].map((a) => netsOf(a)))).toEqual(before);
    expect(before[0]).toEqual({ posted: usd('5.00'), pending: usd('5.00'), available: usd('5.00') });
    // Double entry only appends: the totals carry both the entry and its reversal.
    expect(await balancesOf(cash)).toEqual(
      usdBalances(['16.84', '11.84', '5.00'], ['16.84', '11.84', '5.00'], ['16.84', '11.84', '5.00']),
    );
    // The original is untouched: still POSTED, with its own postings only.
    const { journalEntry } = await app.client.ok(JournalEntryDocument, { id: original.id });
    expect(journalEntry.status).toBe('POSTED');
    expect(journalEntry.reversalOf).toBeNull();
    expect(summary(journalEntry.postings)).toEqual(summary(original.postings));
    const { journalEntry: readBack } = await app.client.ok(JournalEntryDocument, { id: reversal.id });
    expect(readBack.reversalOf).toEqual({ id: original.id });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('dates the reversal when asked, so balances as of instants in between still show the original', async () => {
    const original = await postTransfer(app.client, cash.id, revenue.id, '12.34', { effectiveAt: '2024-01-10T00:00:00.000Z' });
    const { reverseJournalEntry } = await app.client.ok(ReverseJournalEntryDocument, {
      input: { id: original.id, effectiveAt: '2024-01-20T00:00:00.000Z', description: 'Chargeback' },
    });
    expect(reverseJournalEntry.journalEntry.description).toBe('Chargeback');
    expect(reverseJournalEntry.journalEntry.effectiveAt).toBe('2024-01-20T00:00:00.000Z');
    expect(reverseJournalEntry.journalEntry.postings.map((p) => p.effectiveAt)).toEqual([
      '2024-01-20T00:00:00.000Z',
      '2024-01-20T00:00:00.000Z',
    ]);
    const netAsOf = async (asOf: string) =>
      (await app.client.ok(AccountBalanceAsOfDocument, { id: cash.id, asOf })).account.balance.posted.net.amount;
    expect(await netAsOf('2024-01-09T23:59:59.999Z')).toBe('0.00');
    expect(await netAsOf('2024-01-10T00:00:00.000Z')).toBe('12.34');
    expect(await netAsOf('2024-01-19T23:59:59.999Z')).toBe('12.34');
    expect(await netAsOf('2024-01-20T00:00:00.000Z')).toBe('0.00');
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses a second reversal and changes nothing', async () => {
    const original = await postTransfer(app.client, cash.id, revenue.id, '12.34');
    await app.client.ok(ReverseJournalEntryDocument, { input: { id: original.id } });
    const after = await balancesOf(cash);
    expect(after.posted.net).toEqual(usd('5.00'));

    const error = await expectRefusedUnchanged(app, app.client, ReverseJournalEntryDocument, { input: { id: original.id } }, 'INVALID_STATE_TRANSITION');
    expect(error.message).toBe(`Journal entry ${original.id} has already been reversed`);
    expect(error.extensions?.details).toEqual({ id: original.id });
    expect(await balancesOf(cash)).toEqual(after);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses to reverse a PENDING or a VOIDED entry; a pending entry posted in part is reversed for what was posted', async () => {
    const beforeHold = await netsOf(cash);
    const pending = await app.client.ok(PostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '30.00'), status: 'PENDING' },
    });
    const pendingId = pending.postJournalEntry.journalEntry.id;
    const error = await expectRefusedUnchanged(app, app.client, ReverseJournalEntryDocument, { input: { id: pendingId } }, 'INVALID_STATE_TRANSITION');
    expect(error.message).toContain('is PENDING; only a POSTED entry can be reversed');

    const voided = await app.client.ok(PostJournalEntryDocument, { input: { lines: transfer(cash.id, revenue.id, '7.00'), status: 'PENDING' } });
    await app.client.ok(VoidPendingJournalEntryDocument, { input: { id: voided.postJournalEntry.journalEntry.id } });
    await expectRefusedUnchanged(
      app,
      app.client,
      ReverseJournalEntryDocument,
      { input: { id: voided.postJournalEntry.journalEntry.id } },
      'INVALID_STATE_TRANSITION',
    );

    await app.client.ok(PostPendingJournalEntryDocument, { input: { id: pendingId, lines: transfer(cash.id, revenue.id, '20.00') } });
    expect((await balancesOf(cash)).posted.net).toEqual(usd('25.00'));
    const { reverseJournalEntry } = await app.client.ok(ReverseJournalEntryDocument, { input: { id: pendingId } });
    expect(summary(reverseJournalEntry.journalEntry.postings)).toEqual([
      `${cash.id} CREDIT POSTED 20.00 USD`,
      `${revenue.id} DEBIT POSTED 20.00 USD`,
    ]);
    // The capture released the hold's rest, so after the reversal every net balance is back where it was.
    expect(await netsOf(cash)).toEqual(beforeHold);
    expect(beforeHold).toEqual({ posted: usd('5.00'), pending: usd('5.00'), available: usd('5.00') });
    expect(await balancesOf(cash)).toEqual(
      usdBalances(['25.00', '20.00', '5.00'], ['25.00', '20.00', '5.00'], ['25.00', '20.00', '5.00']),
    );
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('reports another tenant’s entry, an unknown id and a malformed id without changing anything', async () => {
    const theirCash = await createAccount(other.client, { type: 'ASSET' });
    const theirRevenue = await createAccount(other.client, { type: 'REVENUE' });
    const theirs = await postTransfer(other.client, theirCash.id, theirRevenue.id, '42.00');
    const theirBalances = await balancesOf(theirCash, other.client);

    const error = await expectRefusedUnchanged(app, app.client, ReverseJournalEntryDocument, { input: { id: theirs.id } }, 'NOT_FOUND');
    expect(error.message).toBe(`Journal entry ${theirs.id} was not found`);
    await expectRefusedUnchanged(app, app.client, ReverseJournalEntryDocument, { input: { id: `je_${ulid()}` } }, 'NOT_FOUND');
    await expectRefusedUnchanged(app, app.client, ReverseJournalEntryDocument, { input: { id: cash.id } }, 'VALIDATION_FAILED');
    await expectRefusedUnchanged(app, app.client, ReverseJournalEntryDocument, { input: { id: 'je_nope' } }, 'VALIDATION_FAILED');
    expect(await balancesOf(theirCash, other.client)).toEqual(theirBalances);

    // The failed attempt left their entry reversible by them.
    const { reverseJournalEntry } = await other.client.ok(ReverseJournalEntryDocument, { input: { id: theirs.id } });
    expect(reverseJournalEntry.journalEntry.reversalOf).toEqual({ id: theirs.id });
    expect((await balancesOf(theirCash, other.client)).posted.net).toEqual(usd('0.00'));
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('checks a reversal against account limits like any entry', async () => {
    const wallet = await createAccount(app.client, { type: 'LIABILITY', noOverdraft: true });
    const merchant = await createAccount(app.client, { type: 'LIABILITY' });
    const deposit = await postTransfer(app.client, cash.id, wallet.id, '100.00');
    const spend = await postTransfer(app.client, wallet.id, merchant.id, '80.00');

    // Reversing the deposit would leave the wallet at -80.00.
    const error = await expectRefusedUnchanged(app, app.client, ReverseJournalEntryDocument, { input: { id: deposit.id } }, 'INSUFFICIENT_FUNDS');
    expect(error.extensions?.details).toMatchObject({ accountId: wallet.id, availableMinorUnits: '2000' });

    await app.client.ok(ReverseJournalEntryDocument, { input: { id: spend.id } });
    await app.client.ok(ReverseJournalEntryDocument, { input: { id: deposit.id } });
    expect(await balancesOf(wallet)).toEqual(
      usdBalances(['180.00', '180.00', '0.00'], ['180.00', '180.00', '0.00'], ['180.00', '180.00', '0.00']),
    );
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses a reversal whose externalRef is taken', async () => {
    await postTransfer(app.client, cash.id, revenue.id, '1.00', { externalRef: 'taken-ref' });
    const original = await postTransfer(app.client, cash.id, revenue.id, '2.00');
    await expectRefusedUnchanged(
      app,
      app.client,
      ReverseJournalEntryDocument,
      { input: { id: original.id, externalRef: 'taken-ref' } },
      'ALREADY_EXISTS',
    );
    // Still reversible with a fresh reference.
    await app.client.ok(ReverseJournalEntryDocument, { input: { id: original.id, externalRef: 'fresh-ref' } });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
