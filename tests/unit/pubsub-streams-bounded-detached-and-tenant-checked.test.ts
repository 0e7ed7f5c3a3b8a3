import { AppError, ErrorCode } from '../../src/common/errors';
import { JournalEntryStatus } from '../../src/modules/ledger/ledger.types';
import {
  decodeJournalEntry,
  encodeJournalEntry,
  journalEntryPostedChannel,
  pubSubLedgerEvents,
  subscribeToJournalEntries,
} from '../../src/modules/ledger/ledger.events';
import type { JournalEntryRecord } from '../../src/modules/ledger/ledger-writer';
import { createPubSub } from '../../src/graphql/pubsub';

function entry(overrides: Partial<JournalEntryRecord> = {}): JournalEntryRecord {
  return {
    id: 'je_01JCY0000000000000000000AA',
    tenantId: 'ten_A',
    status: JournalEntryStatus.POSTED,
    description: 'sale',
    effectiveAt: new Date('2025-01-02T03:04:05.678Z'),
    externalRef: null,
    metadata: { order: 42, nested: { ok: true } },
    reversalOfId: null,
    createdAt: new Date('2025-01-02T03:04:06.000Z'),
    resolvedAt: null,
    ...overrides,
  };
}

describe('in-memory pub/sub streams', () => {
  it('delivers in order to every live stream and detaches a stream on return(), even while it waits', async () => {
    const pubSub = createPubSub(null);
    const one = await pubSub.subscribe('c');
    const two = await pubSub.subscribe('c');
    expect(pubSub.listenerCount('c')).toBe(2);
    await pubSub.publish('c', 'a');
    await pubSub.publish('c', 'b');
    await pubSub.publish('other', 'x');
    expect([await one.next(), await one.next()]).toEqual([
      { value: 'a', done: false },
      { value: 'b', done: false },
    ]);
    expect((await two.next()).value).toBe('a');

    const waiting = one.next();
    await one.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(pubSub.listenerCount('c')).toBe(1);
    await two.return();
    expect(pubSub.listenerCount('c')).toBe(0);
  });

  it('ends a stream that falls more than its buffer behind with SERVICE_UNAVAILABLE, after what it holds', async () => {
    const pubSub = createPubSub(null);
    const slow = await pubSub.subscribe('c', { bufferLimit: 2 });
    for (const message of ['1', '2', '3', '4']) await pubSub.publish('c', message);
    expect(pubSub.listenerCount('c')).toBe(0);
    expect((await slow.next()).value).toBe('1');
    expect((await slow.next()).value).toBe('2');
    const failure = await slow.next().then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe(ErrorCode.SERVICE_UNAVAILABLE);
    expect(await slow.next()).toEqual({ value: undefined, done: true });
  });

  it('ends every stream on close and refuses new subscriptions', async () => {
    const pubSub = createPubSub(null);
    const stream = await pubSub.subscribe('c');
    const waiting = stream.next();
    await pubSub.close();
    expect(await waiting).toEqual({ value: undefined, done: true });
    await expect(pubSub.subscribe('c')).rejects.toMatchObject({ code: ErrorCode.SERVICE_UNAVAILABLE });
  });
});

describe('journal entry events', () => {
  it('survive the trip through a message unchanged, dates included', () => {
    const resolved = entry({ status: JournalEntryStatus.VOIDED, resolvedAt: new Date('2025-02-01T00:00:00.001Z'), reversalOfId: 'je_x' });
    expect(decodeJournalEntry(encodeJournalEntry(resolved))).toEqual(resolved);
    expect(decodeJournalEntry(encodeJournalEntry(entry()))).toEqual(entry());
  });

  it('reach only the tenant’s own subscribers, and a stray message on its channel is dropped', async () => {
    const pubSub = createPubSub(null);
    const events = pubSubLedgerEvents(pubSub);
    const forA = await subscribeToJournalEntries(pubSub, 'ten_A');
    const forB = await subscribeToJournalEntries(pubSub, 'ten_B');
    // A message naming another tenant on A's channel (a bug elsewhere) must not reach A's subscriber.
    await pubSub.publish(journalEntryPostedChannel('ten_A'), encodeJournalEntry(entry({ id: 'je_stray', tenantId: 'ten_B' })));
    events.entriesCommitted([entry({ id: 'je_b', tenantId: 'ten_B' }), entry({ id: 'je_a' })]);
    expect((await forA.next()).value?.id).toBe('je_a');
    expect((await forB.next()).value?.id).toBe('je_b');
    await forA.return?.();
    await forB.return?.();
    expect(pubSub.listenerCount(journalEntryPostedChannel('ten_A'))).toBe(0);
  });
});
