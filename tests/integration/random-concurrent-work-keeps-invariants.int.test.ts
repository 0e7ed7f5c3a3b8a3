import fc from 'fast-check';
import { systemClock } from '../../src/common/clock';
import { EntryDirection, JournalEntryStatus } from '../../src/modules/ledger/ledger.types';
import { LedgerWriter } from '../../src/modules/ledger/ledger-writer';
import type { JournalLineInput, PostJournalEntryInput, ReverseJournalEntryLeanMutation } from '../generated/graphql';
import {
  JournalEntryPostingsDocument,
  PostJournalEntriesDocument,
  PostJournalEntryDocument,
  PostPendingJournalEntryLeanDocument,
  ReverseJournalEntryLeanDocument,
  VoidPendingJournalEntryLeanDocument,
} from '../generated/graphql';
import { minorToDecimal, outcomeOf, readBalances, runWithWorkers, type AccountBalancesSnapshot, type Outcome } from '../helpers/concurrency';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';

/**
 * A random program of ledger work, run by concurrent HTTP workers, must leave the ledger exactly as a
 * simple model says: every committed entry moved the balances it should, every refused one moved
 * nothing, refusals are only the expected business refusals, and no limited account ever shows an
 * available balance below its floor. The seed is fixed (override with RECKON_FC_SEED; RECKON_FC_RUNS sets the number of programs) and printed.
 */
const SEED = Number(process.env.RECKON_FC_SEED ?? 20250611);
const RUNS = Number(process.env.RECKON_FC_RUNS ?? 3);
const WORKERS = 8;
const OPS_MIN = 60;
const OPS_MAX = 100;

type Currency = 'USD' | 'JPY';
type Direction = 'DEBIT' | 'CREDIT';

interface AccountSpec {
  key: string;
  currency: Currency;
  type: 'ASSET' | 'LIABILITY' | 'EQUITY' | 'REVENUE';
  noOverdraft?: boolean;
  creditLimit?: string;
}

/** Four accounts per currency; within a currency an account is named by its index 0..3. */
const SPECS: AccountSpec[] = [
  { key: 'usd-cash', currency: 'USD', type: 'ASSET' },
  { key: 'usd-revenue', currency: 'USD', type: 'REVENUE' },
  { key: 'usd-wallet', currency: 'USD', type: 'LIABILITY', noOverdraft: true },
  { key: 'usd-credit-line', currency: 'USD', type: 'ASSET', creditLimit: '50.00' },
  { key: 'jpy-cash', currency: 'JPY', type: 'ASSET' },
  { key: 'jpy-equity', currency: 'JPY', type: 'EQUITY' },
  { key: 'jpy-wallet', currency: 'JPY', type: 'LIABILITY', creditLimit: '3000' },
  { key: 'jpy-store', currency: 'JPY', type: 'ASSET', noOverdraft: true },
];
const isLimited = (spec: AccountSpec) => Boolean(spec.noOverdraft || spec.creditLimit);

/** Money moving from `credit` to `debit`, both accounts of `currency`. */
interface Leg {
  currency: Currency;
  debit: number;
  credit: number;
  amountMinor: number;
}

type Op =
  | { kind: 'transfer'; leg: Leg; withRef: boolean }
  | { kind: 'split'; currency: Currency; debit: number; credits: [number, number]; amountsMinor: [number, number] }
  | { kind: 'two-currency'; usd: Leg; jpy: Leg }
  | { kind: 'pending'; leg: Leg; resolution: 'post' | 'void' | 'post-part'; partMinor: number }
  | { kind: 'post-then-reverse'; leg: Leg }
  | { kind: 'post-and-reverse-race'; leg: Leg }
  | { kind: 'batch'; legs: Leg[] }
  | { kind: 'same-ref-twice'; legs: [Leg, Leg] };

const pairArb = fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 2 })).map(([a, b]) => [a, b >= a ? b + 1 : b] as const);
const legArb = (currency: Currency, pair = pairArb): fc.Arbitrary<Leg> =>
  fc.tuple(pair, fc.integer({ min: 1, max: 5000 })).map(([[debit, credit], amountMinor]) => ({ currency, debit, credit, amountMinor }));
const anyLegArb = fc.oneof(legArb('USD'), legArb('JPY'));
/** Legs between the two unlimited accounts of a currency: they can never be refused for funds. */
const unlimitedLegArb = fc.oneof(
  legArb('USD', fc.constantFrom([0, 1] as const, [1, 0] as const)),
  legArb('JPY', fc.constantFrom([0, 1] as const, [1, 0] as const)),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('transfer' as const), leg: anyLegArb, withRef: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom<Currency>('USD', 'JPY'),
        fc.shuffledSubarray([0, 1, 2, 3], { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 3000 }),
      )
      .map(([currency, [debit, c1, c2], a, b]) => ({
        kind: 'split' as const,
        currency,
        debit,
        credits: [c1, c2] as [number, number],
        amountsMinor: [a, b] as [number, number],
      })),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('two-currency' as const), usd: legArb('USD'), jpy: legArb('JPY') }) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        leg: anyLegArb,
        resolution: fc.constantFrom('post' as const, 'void' as const, 'post-part' as const),
        part: fc.double({ min: 0, max: 1, noNaN: true }),
      })
      .map(({ leg, resolution, part }) => ({
        kind: 'pending' as const,
        leg,
        resolution,
        partMinor: Math.max(1, Math.min(leg.amountMinor, Math.ceil(part * leg.amountMinor))),
      })),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('post-then-reverse' as const), leg: anyLegArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('post-and-reverse-race' as const), leg: anyLegArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('batch' as const), legs: fc.array(anyLegArb, { minLength: 1, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('same-ref-twice' as const), legs: fc.tuple(unlimitedLegArb, unlimitedLegArb) }) },
);
const programArb = fc.array(opArb, { minLength: OPS_MIN, maxLength: OPS_MAX });

/** One posted line, by global account index, as the model applies it. */
interface ModelLine {
  account: number;
  direction: Direction;
  amountMinor: bigint;
}

describeEachDatabase('random concurrent ledger work keeps every invariant', (kind) => {
  let app: TestApp;
  let ids: string[];

  beforeAll(async () => {
    app = await startTestApp(kind);
    ids = [];
    for (const spec of SPECS) {
      const account = await createAccount(app.client, {
        type: spec.type,
        currency: spec.currency,
        code: `${spec.key}-${kind}`,
        ...(spec.noOverdraft ? { noOverdraft: true } : {}),
        ...(spec.creditLimit ? { creditLimit: spec.creditLimit } : {}),
      });
      ids.push(account.id);
    }
    // Seed the limited accounts so that many, not all, of their outflows can pass.
    const fund = async (debitKey: string, creditKey: string, amount: string, currency: Currency) => {
      const debit = ids[SPECS.findIndex((s) => s.key === debitKey)];
      const credit = ids[SPECS.findIndex((s) => s.key === creditKey)];
      await app.client.ok(PostJournalEntryDocument, { input: { description: 'seed', lines: transfer(debit, credit, amount, currency) } });
    };
    await fund('usd-cash', 'usd-wallet', '60.00', 'USD');
    await fund('usd-credit-line', 'usd-revenue', '20.00', 'USD');
    await fund('jpy-cash', 'jpy-wallet', '6000', 'JPY');
    await fund('jpy-store', 'jpy-equity', '6000', 'JPY');
  });
  afterAll(async () => {
    await app?.close();
  });

  const globalIndex = (currency: Currency, index: number) => (currency === 'USD' ? 0 : 4) + index;
  const money = (minor: number | bigint, currency: Currency) => minorToDecimal(BigInt(minor), currency);

  function legLines(leg: Leg, amountMinor = leg.amountMinor): { api: JournalLineInput[]; model: ModelLine[] } {
    const model: ModelLine[] = [
      { account: globalIndex(leg.currency, leg.debit), direction: 'DEBIT', amountMinor: BigInt(amountMinor) },
      { account: globalIndex(leg.currency, leg.credit), direction: 'CREDIT', amountMinor: BigInt(amountMinor) },
    ];
    return { api: toApi(model), model };
  }

  function toApi(model: ModelLine[]): JournalLineInput[] {
    return model.map((line) => ({
      accountId: ids[line.account],
      direction: line.direction,
      amount: money(line.amountMinor, SPECS[line.account].currency),
      currency: SPECS[line.account].currency,
    }));
  }

  const opposite = (lines: ModelLine[]): ModelLine[] =>
    lines.map((line) => ({ ...line, direction: line.direction === 'DEBIT' ? 'CREDIT' : 'DEBIT' }));
  const touchesLimited = (lines: ModelLine[]) => lines.some((line) => isLimited(SPECS[line.account]));

  it(`matches the model after ${RUNS} random programs run by ${WORKERS} concurrent workers (seed ${SEED})`, async () => {
    console.log(`random-concurrent-work-keeps-invariants [${kind}]: fast-check seed ${SEED} (set RECKON_FC_SEED to change it)`);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(programArb, async (program) => {
        run += 1;
        const before = await readBalances(app.client);
        /** Posted lines of every entry the server committed, as the model sees them. */
        const committed: ModelLine[][] = [];
        const unexpected: string[] = [];
        const tally: Record<string, number> = {};
        const count = (key: string) => {
          tally[key] = (tally[key] ?? 0) + 1;
        };

        /** A refusal is fine only when it is the business refusal the operation could meet. */
        const refusedAsAllowed = (what: string, outcome: Outcome<unknown>, lines: ModelLine[], allowed: string[] = []) => {
          count(`${what}:${outcome.ok ? 'OK' : outcome.code}`);
          if (outcome.ok) return;
          if (outcome.code === 'INSUFFICIENT_FUNDS' && touchesLimited(lines)) {
            const accountId = outcome.details?.accountId;
            if (!lines.some((line) => ids[line.account] === accountId && isLimited(SPECS[line.account]))) {
              unexpected.push(`${what}: INSUFFICIENT_FUNDS names ${String(accountId)}, not a limited account of the entry`);
            }
            return;
          }
          if (allowed.includes(outcome.code)) return;
          unexpected.push(`${what}: ${outcome.code} ${outcome.message}`);
        };

        const postEntry = async (lines: ModelLine[], extra: Partial<PostJournalEntryInput> = {}) =>
          outcomeOf(await app.client.request(PostJournalEntryDocument, { input: { lines: toApi(lines), description: 'random', ...extra } }));

        /** Checks a reversal's postings against what it reverses, and books it in the model. */
        const checkReversal = (what: string, outcome: Outcome<ReverseJournalEntryLeanMutation>, reversed: ModelLine[]) => {
          if (!outcome.ok) return;
          const expected = opposite(reversed).map((l) => ({
            account: ids[l.account],
            direction: l.direction,
            phase: 'POSTED',
            minor: String(l.amountMinor),
          }));
          const actual = outcome.data.reverseJournalEntry!.journalEntry.postings.map((p) => ({
            account: p.account.id,
            direction: p.direction,
            phase: p.phase,
            minor: p.amount.minorUnits,
          }));
          if (JSON.stringify(actual) !== JSON.stringify(expected)) {
            unexpected.push(`${what}: reversal postings ${JSON.stringify(actual)} are not the opposite of ${JSON.stringify(expected)}`);
          }
          committed.push(opposite(reversed));
        };

        let done = false;
        const floorViolations: string[] = [];
        const watcher = (async () => {
          while (!done) {
            for (const balance of (await readBalances(app.client)).values()) {
              if (balance.floorMinor !== null && balance.availableMinor < balance.floorMinor) {
                floorViolations.push(`${balance.code}: available ${balance.availableMinor} < floor ${balance.floorMinor}`);
              }
            }
          }
        })();

        try {
          await runWithWorkers(program, WORKERS, async (op, index) => {
            const ref = `${kind}-run${run}-op${index}`;
            switch (op.kind) {
              case 'transfer': {
                const { model } = legLines(op.leg);
                const outcome = await postEntry(model, op.withRef ? { externalRef: ref } : {});
                refusedAsAllowed('transfer', outcome, model);
                if (outcome.ok) committed.push(model);
                return;
              }
              case 'split': {
                const [a, b] = op.amountsMinor.map(BigInt);
                const model: ModelLine[] = [
                  { account: globalIndex(op.currency, op.credits[0]), direction: 'CREDIT', amountMinor: a },
                  { account: globalIndex(op.currency, op.debit), direction: 'DEBIT', amountMinor: a + b },
                  { account: globalIndex(op.currency, op.credits[1]), direction: 'CREDIT', amountMinor: b },
                ];
                const outcome = await postEntry(model);
                refusedAsAllowed('split', outcome, model);
                if (outcome.ok) committed.push(model);
                return;
              }
              case 'two-currency': {
                const model = [...legLines(op.usd).model, ...legLines(op.jpy).model];
                const outcome = await postEntry(model);
                refusedAsAllowed('two-currency', outcome, model);
                if (outcome.ok) committed.push(model);
                return;
              }
              case 'pending': {
                const { model } = legLines(op.leg);
                const held = await postEntry(model, { status: 'PENDING' });
                refusedAsAllowed('pending', held, model);
                if (!held.ok) return;
                const id = held.data.postJournalEntry!.journalEntry.id;
                if (op.resolution === 'void') {
                  const voided = outcomeOf(await app.client.request(VoidPendingJournalEntryLeanDocument, { input: { id } }));
                  refusedAsAllowed('void', voided, []);
                  if (voided.ok && voided.data.voidPendingJournalEntry!.journalEntry.status !== 'VOIDED') unexpected.push(`void ${id}: not VOIDED`);
                  return;
                }
                const part = legLines(op.leg, op.resolution === 'post-part' ? op.partMinor : op.leg.amountMinor);
                const posted = outcomeOf(
                  await app.client.request(PostPendingJournalEntryLeanDocument, {
                    input: { id, ...(op.resolution === 'post-part' ? { lines: part.api } : {}) },
                  }),
                );
                // Posting a hold never lowers an available balance, so it is never refused.
                refusedAsAllowed('post-pending', posted, []);
                if (posted.ok) committed.push(part.model);
                return;
              }
              case 'post-then-reverse': {
                const { model } = legLines(op.leg);
                const outcome = await postEntry(model);
                refusedAsAllowed('post-then-reverse', outcome, model);
                if (!outcome.ok) return;
                committed.push(model);
                const reversal = outcomeOf(
                  await app.client.request(ReverseJournalEntryLeanDocument, { input: { id: outcome.data.postJournalEntry!.journalEntry.id, externalRef: `${ref}-rev` } }),
                );
                refusedAsAllowed('reverse', reversal, model);
                checkReversal('reverse', reversal, model);
                return;
              }
              case 'post-and-reverse-race': {
                // Posting a hold and reversing it, sent at once: the reversal either comes first (and is
                // refused: the entry is still PENDING) or reverses exactly what was posted.
                const { model } = legLines(op.leg);
                const held = await postEntry(model, { status: 'PENDING' });
                refusedAsAllowed('race-hold', held, model);
                if (!held.ok) return;
                const id = held.data.postJournalEntry!.journalEntry.id;
                const [posted, reversal] = await Promise.all([
                  app.client.request(PostPendingJournalEntryLeanDocument, { input: { id } }).then(outcomeOf),
                  app.client.request(ReverseJournalEntryLeanDocument, { input: { id } }).then(outcomeOf),
                ]);
                refusedAsAllowed('race-post', posted, []);
                if (!posted.ok) return;
                committed.push(model);
                refusedAsAllowed('race-reverse', reversal, model, ['INVALID_STATE_TRANSITION']);
                checkReversal('race-reverse', reversal, model);
                return;
              }
              case 'batch': {
                const entries = op.legs.map((leg, i) => ({ lines: legLines(leg).api, description: `batch ${index}`, externalRef: `${ref}-${i}` }));
                const models = op.legs.map((leg) => legLines(leg).model);
                const outcome = outcomeOf(await app.client.request(PostJournalEntriesDocument, { input: { entries } }));
                refusedAsAllowed('batch', outcome, models.flat());
                if (outcome.ok) {
                  if (outcome.data.postJournalEntries!.journalEntries.length !== entries.length) unexpected.push(`batch ${index}: wrong length`);
                  committed.push(...models);
                }
                return;
              }
              case 'same-ref-twice': {
                // Two entries with one externalRef, sent at once: exactly one is written.
                const models = op.legs.map((leg) => legLines(leg).model);
                const outcomes = await Promise.all(models.map((model) => postEntry(model, { externalRef: `${ref}-shared` })));
                outcomes.forEach((outcome, i) => {
                  refusedAsAllowed('same-ref', outcome, [], ['ALREADY_EXISTS']);
                  if (outcome.ok) committed.push(models[i]);
                });
                const written = outcomes.filter((o) => o.ok).length;
                if (written !== 1) unexpected.push(`same-ref-twice ${index}: ${written} of 2 written`);
                return;
              }
            }
          });
        } finally {
          done = true;
          await watcher;
        }

        expect(unexpected).toEqual([]);
        expect(floorViolations).toEqual([]);

        // The model: every committed entry's posted lines, applied to the balances before the run.
        const deltaDebitMinor = new Array<bigint>(SPECS.length).fill(0n);
        for (const lines of committed) {
          for (const line of lines) deltaDebitMinor[line.account] += line.direction === 'DEBIT' ? line.amountMinor : -line.amountMinor;
        }
        const after = await readBalances(app.client);
        const rows = SPECS.map((spec, i) => {
          const normalSign = spec.type === 'ASSET' ? 1n : -1n;
          const was = before.get(ids[i]) as AccountBalancesSnapshot;
          const now = after.get(ids[i]) as AccountBalancesSnapshot;
          return {
            account: spec.key,
            expectedPosted: was.postedMinor + normalSign * deltaDebitMinor[i],
            posted: now.postedMinor,
            // Every hold was posted or voided: nothing is pending any more.
            pending: now.pendingMinor,
            available: now.availableMinor,
            aboveFloor: now.floorMinor === null || now.availableMinor >= now.floorMinor,
          };
        });
        expect(rows).toEqual(
          rows.map((row) => ({ ...row, posted: row.expectedPosted, pending: row.expectedPosted, available: row.expectedPosted, aboveFloor: true })),
        );
        await assertLedgerInvariants(app.runtime.dataSource, app.client);
        console.log(`[${kind}] run ${run}: ${program.length} operations, ${committed.length} entries committed`, JSON.stringify(tally));
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });

  it('reverses what was posted when the posting of a hold and its reversal share one group-commit batch', async () => {
    // The random program found this: with both commands in one batch, the reversal read the entry's
    // postings from before the batch (holds only) and booked a reversal with no postings at all.
    // A writer with one batch in flight makes the shared batch certain: the first command is written
    // alone, and the two queued behind it are written together.
    const writer = new LedgerWriter(app.runtime.dataSource, systemClock, { maxBatchSize: 200, maxConcurrentBatches: 1 });
    const [cash, revenue] = [ids[0], ids[1]];
    const hold = await postTransfer(app.client, cash, revenue, '12.34', { status: 'PENDING' });
    const before = await readBalances(app.client);
    const line = (accountId: string, direction: EntryDirection) => ({ accountId, direction, amountMinor: 1n, currency: 'USD', field: 'lines' });
    const [filler, posted, reversal] = await Promise.all([
      writer.submit({
        type: 'create',
        tenantId: app.tenantId,
        status: JournalEntryStatus.POSTED,
        description: 'filler',
        effectiveAt: new Date(),
        externalRef: null,
        metadata: null,
        lines: [line(cash, EntryDirection.DEBIT), line(revenue, EntryDirection.CREDIT)],
      }),
      writer.submit({ type: 'post-pending', tenantId: app.tenantId, entryId: hold.id, effectiveAt: null, lines: null }),
      writer.submit({ type: 'reverse', tenantId: app.tenantId, entryId: hold.id, description: null, effectiveAt: null, externalRef: null, metadata: null }),
    ]);
    expect([filler.ok, posted.ok, reversal.ok]).toEqual([true, true, true]);
    if (!reversal.ok) return;

    const { journalEntry } = await app.client.ok(JournalEntryPostingsDocument, { id: reversal.write.entry.id });
    expect(journalEntry.postings.map((p) => ({ account: p.account.id, direction: p.direction, phase: p.phase, minor: p.amount.minorUnits }))).toEqual([
      { account: cash, direction: 'CREDIT', phase: 'POSTED', minor: '1234' },
      { account: revenue, direction: 'DEBIT', phase: 'POSTED', minor: '1234' },
    ]);
    // Net of the hold, its posting and its reversal: only the filler's 0.01 moved, and nothing is pending.
    const after = await readBalances(app.client);
    expect(after.get(cash)?.postedMinor).toBe((before.get(cash)?.postedMinor ?? 0n) + 1n);
    expect(after.get(cash)?.pendingMinor).toBe(after.get(cash)?.postedMinor);
    expect(after.get(revenue)?.postedMinor).toBe((before.get(revenue)?.postedMinor ?? 0n) + 1n);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
