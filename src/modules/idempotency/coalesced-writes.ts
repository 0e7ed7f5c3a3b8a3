/** One write waiting in a WriteCoalescer, settled by the group write that takes it. */
export interface QueuedWrite<T> {
  item: T;
  resolve(): void;
  reject(error: unknown): void;
}

export interface CoalescerLimits<T> {
  /** Most items in one group write. */
  maxItems: number;
  /** No more items are added to a group once their sizes reach this (one item always goes). */
  maxSize?: number;
  size?(item: T): number;
}

/**
 * Turns many small writes into few: items added in the same turn of the event loop, or while a group
 * write runs, are handed to the next group write together (one statement, one commit). One group write
 * runs at a time, so groups grow with the load and a lone item waits only for the end of the current
 * turn. `writeGroup` settles each item it is given; if it throws, the items it left unsettled fail with
 * that error.
 */
export class WriteCoalescer<T> {
  private readonly queue: QueuedWrite<T>[] = [];
  private running = false;

  constructor(
    private readonly writeGroup: (group: QueuedWrite<T>[]) => Promise<void>,
    private readonly limits: CoalescerLimits<T>,
  ) {}

  add(item: T): Promise<void> {
    const written = new Promise<void>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.run());
    }
    return written;
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.groupLength());
      const settled = new Set<QueuedWrite<T>>();
      const tracked = group.map((queued) => ({
        item: queued.item,
        resolve: () => {
          settled.add(queued);
          queued.resolve();
        },
        reject: (error: unknown) => {
          settled.add(queued);
          queued.reject(error);
        },
      }));
      try {
        await this.writeGroup(tracked);
      } catch (error) {
        for (const queued of group) if (!settled.has(queued)) queued.reject(error);
      }
    }
    this.running = false;
  }

  private groupLength(): number {
    const { maxItems, maxSize, size } = this.limits;
    if (maxSize === undefined || !size) return Math.min(maxItems, this.queue.length);
    let total = 0;
    let count = 0;
    while (count < this.queue.length && count < maxItems && (count === 0 || total < maxSize)) {
      total += size(this.queue[count].item);
      count += 1;
    }
    return count;
  }
}
