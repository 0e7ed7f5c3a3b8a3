import { type QueuedWrite, WriteCoalescer } from '../../src/modules/idempotency/coalesced-writes';

/**
 * The coalescer behind idempotency claims and stored responses: writes added together go in one group,
 * groups respect their limits, each write is settled by its own outcome, and a failing group write
 * fails only the writes it left unsettled.
 */
describe('WriteCoalescer', () => {
  it('writes what is added in one turn as one group, and what comes during a write as the next', async () => {
    const groups: number[][] = [];
    let release: () => void = () => undefined;
    const firstWrite = new Promise<void>((resolve) => (release = resolve));
    const coalescer = new WriteCoalescer<number>(
      async (group) => {
        groups.push(group.map((queued) => queued.item));
        if (groups.length === 1) await firstWrite;
        for (const queued of group) queued.resolve();
      },
      { maxItems: 100 },
    );
    const first = [1, 2, 3].map((n) => coalescer.add(n));
    await new Promise((resolve) => setImmediate(resolve));
    const second = [4, 5].map((n) => coalescer.add(n));
    release();
    await Promise.all([...first, ...second]);
    expect(groups).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('keeps groups within their item and size limits, one item always going', async () => {
    const groups: string[][] = [];
    const coalescer = new WriteCoalescer<string>(
      async (group) => {
        groups.push(group.map((queued) => queued.item));
        for (const queued of group) queued.resolve();
      },
      { maxItems: 3, maxSize: 10, size: (item) => item.length },
    );
    await Promise.all(['aaaa', 'bbbb', 'cccc', 'dddddddddddddddd', 'e', 'f', 'g', 'h'].map((item) => coalescer.add(item)));
    expect(groups).toEqual([['aaaa', 'bbbb', 'cccc'], ['dddddddddddddddd'], ['e', 'f', 'g'], ['h']]);
  });

  it('settles each write by its own outcome; a throwing group write fails only the unsettled ones', async () => {
    const coalescer = new WriteCoalescer<number>(
      async (group: QueuedWrite<number>[]) => {
        for (const queued of group) {
          if (queued.item === 2) queued.reject(new Error('two refused'));
          else if (queued.item === 1) queued.resolve();
        }
        throw new Error('group failed');
      },
      { maxItems: 10 },
    );
    const results = await Promise.allSettled([1, 2, 3].map((n) => coalescer.add(n)));
    expect(results.map((result) => (result.status === 'fulfilled' ? 'ok' : (result.reason as Error).message))).toEqual([
      'ok',
      'two refused',
      'group failed',
    ]);
    // And it keeps working afterwards.
    await expect(Promise.all([coalescer.add(1)])).resolves.toEqual([undefined]);
  });
});
