import { fingerprintOf } from '../../src/modules/idempotency/fingerprint';
import { IdempotentPostJournalEntriesDocument, IdempotentPostJournalEntryDocument, type PostJournalEntryInput } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import {
  errorCodeOf,
  expectFresh,
  expectReplayOf,
  idempotencyRows,
  type KeyedResult,
  newIdempotencyKey,
  sendKeyed,
} from '../helpers/idempotency-http';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';

/** What the requests below carry and must not be readable in idempotency_records. */
const SECRETS = {
  amount: '98765.43',
  amountMinor: '9876543',
  refusedAmount: '55555.55',
  refusedAmountMinor: '5555555',
  fundedMinor: '1234567',
  externalRef: 'INV-CONFIDENTIAL-7731',
  batchRef: 'BATCH-CONFIDENTIAL-4410',
  description: 'Payout to Jane Roe',
  metadataValue: 'routing-0110-0001',
};

/**
 * A raw read of idempotency_records (a backup, a replica, a support query) must not show what the
 * requests carried: the fingerprint is hashes, and every stored answer, success or refusal, is
 * ciphertext. Replays still work, so the server itself can read them back.
 */
describeEachDatabase('idempotency records read with raw SQL', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('show no amount, reference, description or metadata, in clear or as a plain hash', async () => {
    const cash = await createAccount(app.client, { type: 'ASSET' });
    const revenue = await createAccount(app.client, { type: 'REVENUE' });
    const wallet = await createAccount(app.client, { type: 'ASSET', noOverdraft: true });
    await postTransfer(app.client, wallet.id, revenue.id, '12345.67');
    const sent: { key: string; result: KeyedResult<unknown>; resend: () => Promise<KeyedResult<unknown>> }[] = [];
    async function keep(key: string, resend: () => Promise<KeyedResult<unknown>>): Promise<KeyedResult<unknown>> {
      const result = await resend();
      sent.push({ key, result, resend });
      return result;
    }
    const post = (input: PostJournalEntryInput) => {
      const key = newIdempotencyKey('secret');
      return keep(key, () => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntryDocument, { input, idempotencyKey: key }));
    };
    const postBatch = (entries: PostJournalEntryInput[]) => {
      const key = newIdempotencyKey('secret-batch');
      return keep(key, () => sendKeyed(app.url, app.apiKey, IdempotentPostJournalEntriesDocument, { input: { entries }, idempotencyKey: key }));
    };

    const entry = {
      lines: transfer(cash.id, revenue.id, SECRETS.amount),
      description: SECRETS.description,
      externalRef: SECRETS.externalRef,
      metadata: { account: SECRETS.metadataValue },
    };
    expectFresh(await post(entry));
    // Refusals are stored answers too: one naming the taken reference, one naming the available balance.
    expect(errorCodeOf(await post({ ...entry, lines: transfer(cash.id, revenue.id, '1.00') }))).toBe('ALREADY_EXISTS');
    expect(errorCodeOf(await post({ lines: transfer(revenue.id, wallet.id, SECRETS.refusedAmount), description: SECRETS.description }))).toBe(
      'INSUFFICIENT_FUNDS',
    );
    expect(errorCodeOf(await postBatch([{ ...entry, externalRef: SECRETS.batchRef }, entry]))).toBe('ALREADY_EXISTS');

    // An unkeyed hash of an amount or a reference is as good as clear text: anyone can hash likely values.
    const plain = fingerprintOf('postJournalEntry', { input: entry }, '');
    const guessable = {
      amountDigest: plain['input.lines[0].amount'],
      externalRefDigest: plain['input.externalRef'],
      descriptionDigest: plain['input.description'],
    };

    const rows = await idempotencyRows(app.runtime.dataSource);
    expect(rows.length).toBeGreaterThanOrEqual(sent.length);
    for (const row of rows) {
      const text = JSON.stringify(row);
      for (const [what, secret] of Object.entries({ ...SECRETS, ...guessable })) {
        if (text.includes(secret)) throw new Error(`idempotency_records shows the ${what} (${secret}) in clear: ${text}`);
      }
      const fingerprint = JSON.parse(String(row.fingerprint)) as Record<string, string>;
      for (const digest of Object.values(fingerprint)) expect(digest).toMatch(/^[A-Za-z0-9_-]{22}$/);
      if (row.response_ciphertext !== null) expect(String(row.response_ciphertext)).toMatch(/^v1\./);
      if (row.error_json !== null) expect(String(row.error_json)).toMatch(/^v1\./);
    }

    // The server can still read every answer back.
    for (const { key, result, resend } of sent) {
      const replay = await resend();
      if (result.errors) {
        expect(replay.errors?.[0].message).toBe(result.errors[0].message);
        expect(replay.errors?.[0].extensions?.details).toEqual(result.errors[0].extensions?.details);
        expect(replay.extensions?.idempotency).toEqual({ key, replayed: true });
      } else {
        expectReplayOf(result, replay, key);
      }
    }
  });
});
