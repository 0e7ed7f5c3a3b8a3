import { PostJournalEntryLeanDocument, VoidPendingJournalEntryLeanDocument } from '../generated/graphql';
import { outcomeOf, readBalances, seededRandom, type Outcome } from '../helpers/concurrency';
import { bootstrap, createLogger } from '../../src/bootstrap';
import { startServer } from '../../src/server/app';
import { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, describeOnMysql, startTestApp, testRuntimeConfig, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

/**
 * Balance limits are checked inside the writer's transaction, after the account rows are locked, and
 * each entry of a group-commit batch sees the balances left by the ones before it. So however many
 * withdrawals race, an account never goes below its floor, and exactly as many succeed as the funds allow.
 */
describeEachDatabase('no overdraft under concurrent withdrawals', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  /** A customer wallet (credit-normal) holding `funds`, and the cash account its money comes from. */
  async function fundedWallet(limit: { noOverdraft?: boolean; creditLimit?: string }, funds: string) {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const wallet = await createAccount(app.client, { type: 'LIABILITY', ...limit });
    if (funds !== '0.00') await postTransfer(app.client, cash.id, wallet.id, funds);
    return { cash, wallet };
  }

  function withdraw(walletId: string, cashId: string, amount: string) {
    return app.client
      .request(PostJournalEntryLeanDocument, { input: { lines: transfer(walletId, cashId, amount), description: 'withdrawal' } })
      .then(outcomeOf);
  }

  /**
   * Fires `count` withdrawals at once while a reader keeps checking that the available balance never
   * shows below the floor, and returns the outcomes.
   */
  async function raceWithdrawals(walletId: string, cashId: string, count: number, floorMinor: bigint) {
    let done = false;
    const seenAvailable: bigint[] = [];
    const reader = (async () => {
      while (!done) {
        const balance = (await readBalances(app.client)).get(walletId);
        if (balance) seenAvailable.push(balance.availableMinor);
      }
    })();
    let outcomes: Outcome<unknown>[];
    try {
      outcomes = await Promise.all(Array.from({ length: count }, () => withdraw(walletId, cashId, '1.00')));
    } finally {
      done = true;
      await reader;
    }
    expect(seenAvailable.length).toBeGreaterThan(0);
    expect(seenAvailable.filter((available) => available < floorMinor)).toEqual([]);
    return outcomes;
  }

  function countCodes(outcomes: Outcome<unknown>[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const outcome of outcomes) {
      const key = outcome.ok ? 'OK' : outcome.code;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  it('with noOverdraft and 10.00: exactly 10 of 50 withdrawals of 1.00 succeed, the rest get INSUFFICIENT_FUNDS', async () => {
    const { cash, wallet } = await fundedWallet({ noOverdraft: true }, '10.00');
    const outcomes = await raceWithdrawals(wallet.id, cash.id, 50, 0n);

    expect(countCodes(outcomes)).toEqual({ OK: 10, INSUFFICIENT_FUNDS: 40 });
    for (const outcome of outcomes) {
      if (!outcome.ok) expect(outcome.details).toMatchObject({ accountId: wallet.id, currency: 'USD', floorMinorUnits: '0' });
    }
    const balance = (await readBalances(app.client)).get(wallet.id);
    expect(balance).toMatchObject({ postedMinor: 0n, pendingMinor: 0n, availableMinor: 0n, floorMinor: 0n });
    expect((await readBalances(app.client)).get(cash.id)?.postedMinor).toBe(0n);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('with a creditLimit of 5.00 and 10.00: exactly 15 of 50 withdrawals of 1.00 succeed', async () => {
    const { cash, wallet } = await fundedWallet({ creditLimit: '5.00' }, '10.00');
    const outcomes = await raceWithdrawals(wallet.id, cash.id, 50, -500n);

    expect(countCodes(outcomes)).toEqual({ OK: 15, INSUFFICIENT_FUNDS: 35 });
    const balance = (await readBalances(app.client)).get(wallet.id);
    expect(balance).toMatchObject({ postedMinor: -500n, pendingMinor: -500n, availableMinor: -500n, floorMinor: -500n });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('counts pending holds against the floor: exactly 10 of 50 holds of 1.00 pass, and voiding them frees the funds', async () => {
    const { cash, wallet } = await fundedWallet({ noOverdraft: true }, '10.00');
    const holds = await Promise.all(
      Array.from({ length: 50 }, () =>
        app.client
          .request(PostJournalEntryLeanDocument, { input: { lines: transfer(wallet.id, cash.id, '1.00'), status: 'PENDING' } })
          .then(outcomeOf),
      ),
    );
    expect(countCodes(holds)).toEqual({ OK: 10, INSUFFICIENT_FUNDS: 40 });
    let balance = (await readBalances(app.client)).get(wallet.id);
    expect(balance).toMatchObject({ postedMinor: 1000n, pendingMinor: 0n, availableMinor: 0n });
    // With everything held, even a withdrawal of 0.01 is refused.
    expect(await withdraw(wallet.id, cash.id, '0.01')).toMatchObject({ ok: false, code: 'INSUFFICIENT_FUNDS' });

    const accepted = holds.flatMap((h) => (h.ok ? [h.data.postJournalEntry!.journalEntry.id] : []));
    const voids = await Promise.all(
      accepted.map((id) => app.client.request(VoidPendingJournalEntryLeanDocument, { input: { id } }).then(outcomeOf)),
    );
    expect(countCodes(voids)).toEqual({ OK: 10 });
    balance = (await readBalances(app.client)).get(wallet.id);
    expect(balance).toMatchObject({ postedMinor: 1000n, pendingMinor: 1000n, availableMinor: 1000n });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('refuses only the entries that fail their own limit check; their batch neighbours commit', async () => {
    // 10 wallets hold 3.00 and each gets two withdrawals of 2.00 (exactly one can pass); 10 empty
    // wallets each get one (refused); 20 transfers between unlimited accounts must all commit.
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const funded = [];
    const empty = [];
    for (let i = 0; i < 10; i += 1) {
      const wallet = await createAccount(app.client, { type: 'LIABILITY', noOverdraft: true });
      await postTransfer(app.client, cash.id, wallet.id, '3.00');
      funded.push(wallet);
      empty.push(await createAccount(app.client, { type: 'LIABILITY', noOverdraft: true }));
    }
    type Request = { label: 'funded' | 'empty' | 'free'; walletId: string | null; amount: string; debitId: string; creditId: string };
    const requests: Request[] = [
      ...funded.flatMap((w) => [0, 1].map(() => ({ label: 'funded' as const, walletId: w.id, amount: '2.00', debitId: w.id, creditId: cash.id }))),
      ...empty.map((w) => ({ label: 'empty' as const, walletId: w.id, amount: '2.00', debitId: w.id, creditId: cash.id })),
      ...Array.from({ length: 20 }, (_, i) => ({ label: 'free' as const, walletId: null, amount: `1.${String(i).padStart(2, '0')}`, debitId: cash.id, creditId: revenue.id })),
    ];
    // A fixed shuffle, so refused and accepted entries sit side by side in the writer's queue.
    const random = seededRandom(7);
    for (let i = requests.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [requests[i], requests[j]] = [requests[j], requests[i]];
    }

    const outcomes = await Promise.all(
      requests.map((r) =>
        app.client
          .request(PostJournalEntryLeanDocument, { input: { lines: transfer(r.debitId, r.creditId, r.amount), description: r.label } })
          .then(outcomeOf),
      ),
    );

    const byLabel = (label: Request['label']) => outcomes.filter((_, i) => requests[i].label === label);
    expect(countCodes(byLabel('free'))).toEqual({ OK: 20 });
    expect(countCodes(byLabel('empty'))).toEqual({ INSUFFICIENT_FUNDS: 10 });
    expect(countCodes(byLabel('funded'))).toEqual({ OK: 10, INSUFFICIENT_FUNDS: 10 });
    for (const wallet of funded) {
      const mine = outcomes.filter((_, i) => requests[i].walletId === wallet.id);
      expect(countCodes(mine)).toEqual({ OK: 1, INSUFFICIENT_FUNDS: 1 });
    }
    outcomes.forEach((outcome, i) => {
      if (!outcome.ok) expect(outcome.details?.accountId).toBe(requests[i].walletId);
    });
    expect(countCodes(outcomes)).toEqual({ OK: 30, INSUFFICIENT_FUNDS: 20 });

    const balances = await readBalances(app.client);
    for (const wallet of funded) expect(balances.get(wallet.id)?.postedMinor).toBe(100n);
    for (const wallet of empty) expect(balances.get(wallet.id)?.postedMinor).toBe(0n);
    const freeTotal = requests.filter((r) => r.label === 'free').reduce((sum, r) => sum + BigInt(r.amount.replace('.', '')), 0n);
    expect(balances.get(revenue.id)?.postedMinor).toBe(freeTotal);
    // Cash (debit-normal) was debited 3.00 per funded wallet, credited 2.00 per withdrawal, debited by the free transfers.
    expect(balances.get(cash.id)?.postedMinor).toBe(10n * 300n - 10n * 200n + freeTotal);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});

/**
 * API processes are stateless and each has its own group-commit writer: the limit holds only because
 * the writer locks the account row in the database. Two servers on one MySQL database, each with its
 * own pool and writer, share the withdrawals.
 */
describeOnMysql('no overdraft when two API processes share the withdrawals', () => {
  let app: TestApp;
  let second: { client: GraphQLClient; close(): Promise<void> };
  beforeAll(async () => {
    app = await startTestApp('mysql');
    const url = (app.runtime.dataSource.options as { url?: string }).url;
    if (!url) throw new Error('the MySQL test app has no database URL');
    const log = createLogger('silent');
    const config = testRuntimeConfig(url, { poolSize: 10 });
    const runtime = await bootstrap(config, { log });
    const server = await startServer({ services: runtime.services, log, config }, 0, '127.0.0.1');
    second = {
      client: new GraphQLClient(server.url, app.apiKey),
      close: async () => {
        await server.close();
        await runtime.close();
      },
    };
  });
  afterAll(async () => {
    await second?.close();
    await app?.close();
  });

  it('lets exactly 10 of 50 withdrawals of 1.00 through, whichever process takes them', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const wallet = await createAccount(app.client, { type: 'LIABILITY', noOverdraft: true });
    await postTransfer(app.client, cash.id, wallet.id, '10.00');
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 === 0 ? app.client : second.client)
          .request(PostJournalEntryLeanDocument, { input: { lines: transfer(wallet.id, cash.id, '1.00') } })
          .then(outcomeOf),
      ),
    );
    const ok = outcomes.filter((o) => o.ok).length;
    expect({ ok, refused: outcomes.filter((o) => !o.ok && o.code === 'INSUFFICIENT_FUNDS').length }).toEqual({ ok: 10, refused: 40 });
    for (const client of [app.client, second.client]) {
      expect((await readBalances(client)).get(wallet.id)).toMatchObject({ postedMinor: 0n, availableMinor: 0n });
    }
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
