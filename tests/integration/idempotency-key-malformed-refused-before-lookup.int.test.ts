import { IdempotentPostJournalEntryDocument } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { countRows, errorCodeOf, expectFresh, idempotencyRows, sendKeyed } from '../helpers/idempotency-http';
import { createAccount, transfer } from '../helpers/ledger-fixtures';

type Account = Awaited<ReturnType<typeof createAccount>>;

/**
 * A key is 8 to 255 printable ASCII characters with no space at either end. Anything else is
 * VALIDATION_FAILED before the key is looked up: no claim, no idempotency record, no entry.
 */
describeEachDatabase('malformed idempotency keys', (kind) => {
  let app: TestApp;
  let cash: Account;
  let revenue: Account;

  beforeAll(async () => {
    app = await startTestApp(kind);
    cash = await createAccount(app.client, { type: 'ASSET' });
    revenue = await createAccount(app.client, { type: 'REVENUE' });
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  afterAll(async () => {
    await app?.close();
  });

  const malformed: [string, string][] = [
    ['7 characters', 'abcdefg'],
    ['256 characters', 'k'.repeat(256)],
    ['a control character', 'pos-\u0007-retry-1'],
    ['a leading space', ' pos-retry-0001'],
    ['a trailing space', 'pos-retry-0001 '],
    ['a non-ASCII character', 'pos-retry-été-1'],
  ];

  it.each(malformed)('refuses a key with %s before any lookup', async (_why, key) => {
    const claim = jest.spyOn(app.runtime.services.idempotency, 'claim');
    const entriesBefore = await countRows(app.runtime.dataSource, 'journal_entries');
    const recordsBefore = await idempotencyRows(app.runtime.dataSource);

    const result = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '1.00'), description: 'malformed key' },
      idempotencyKey: key,
    });

    expect(errorCodeOf(result)).toBe('VALIDATION_FAILED');
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0].extensions?.details).toEqual({ field: 'idempotencyKey' });
    expect(result.errors?.[0].message).toMatch(/8 to 255 printable ASCII characters/);
    expect(claim).not.toHaveBeenCalled();
    expect(await idempotencyRows(app.runtime.dataSource)).toEqual(recordsBefore);
    expect(await countRows(app.runtime.dataSource, 'journal_entries')).toBe(entriesBefore);
  });

  it.each([
    ['8 characters', 'abcdefgh'],
    ['255 characters', `k${'-'.repeat(253)}k`],
    ['inner spaces and punctuation', 'order #42 / retry: "1"'],
  ])('accepts a key of %s', async (_why, key) => {
    const result = await sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, {
      input: { lines: transfer(cash.id, revenue.id, '1.00'), description: `boundary ${key.length}` },
      idempotencyKey: key,
    });
    expectFresh(result);
    expect((await idempotencyRows(app.runtime.dataSource, key)).map((row) => row.idempotency_key)).toEqual([key]);
  });
});
