import { setRootFieldsOf } from '../helpers/graphql-client';
import { IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { errorCodeOf, expectFresh, expectReplayOf, idempotencyRows, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { takeLedgerSnapshot } from '../helpers/ledger-snapshot';

/**
 * A key names one request. Sent again with other arguments it is a client bug, refused with
 * IDEMPOTENCY_KEY_REUSED naming what differs; nothing is written and the first answer stays as it was.
 */
describeEachDatabase('an idempotency key reused with another amount', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is IDEMPOTENCY_KEY_REUSED naming the amounts; nothing is written; the original still replays unchanged', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const key = newIdempotencyKey('sale');
    const original = { input: { lines: transfer(cash.id, revenue.id, '20.00'), description: 'sale' }, idempotencyKey: key };
    const send = (variables: typeof original) => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, variables);

    const first = await send(original);
    expectFresh(first);
    const [recordBefore] = await idempotencyRows(app.runtime.dataSource, key);
    const ledgerBefore = await takeLedgerSnapshot(app.runtime.dataSource);

    const reused = await send({ ...original, input: { ...original.input, lines: transfer(cash.id, revenue.id, '20.01') } });
    expect(errorCodeOf(reused)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(reused.errors).toHaveLength(1);
    expect(setRootFieldsOf(reused.data)).toBeNull();
    const [error] = reused.errors ?? [];
    expect(error.extensions).toMatchObject({
      retryable: false,
      details: { key, differingArguments: ['input.lines[0].amount', 'input.lines[1].amount'] },
    });
    expect(error.message).toContain('input.lines[0].amount, input.lines[1].amount');

    // Another description is another request too, and is named alone.
    const otherDescription = await send({ ...original, input: { ...original.input, description: 'refund' } });
    expect(errorCodeOf(otherDescription)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(otherDescription.errors?.[0].extensions?.details).toEqual({ key, differingArguments: ['input.description'] });

    expect(await takeLedgerSnapshot(app.runtime.dataSource)).toEqual(ledgerBefore);
    expect(await idempotencyRows(app.runtime.dataSource, key)).toEqual([recordBefore]);

    expectReplayOf(first, await send(original), key);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
