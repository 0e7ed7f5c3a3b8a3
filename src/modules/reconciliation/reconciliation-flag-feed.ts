import { validationError } from '../../common/errors';
import type { PubSub } from '../../graphql/pubsub';
import { RAISING_ACTIONS, type ReconciliationFlagEventRecord, subscribeToFlagEvents } from './reconciliation-flags.events';
import type { FlagEventFilter, ReconciliationFlagsService } from './reconciliation-flags.service';

/** Steps read from the database per query while catching up. */
const CATCH_UP_PAGE = 500;

export interface FlagFeedOptions {
  /** Resume after this sequence number: every step after it is delivered first. Null: from now on. */
  since: number | null;
  filter: FlagEventFilter;
}

function keeps(filter: FlagEventFilter, event: ReconciliationFlagEventRecord): boolean {
  if (filter.bankAccountId && event.bankAccountId !== filter.bankAccountId) return false;
  if (filter.kind && event.kind !== filter.kind) return false;
  if (filter.raisingOnly && !RAISING_ACTIONS.includes(event.action)) return false;
  return true;
}

/**
 * A tenant's flag steps, in sequence order, without loss or repetition: those after `since` from the
 * database, then live ones. It listens before it reads, so nothing committed between the read and the
 * listening is missed, and it drops what it has delivered already by sequence number.
 *
 * The tenant's sequence is dense and commits in order (see ReconciliationFlagsService), so a live step
 * more than one past the last one delivered means steps in between are in the database but their
 * messages are late or lost (pub/sub is at most once, and two processes publish independently): the
 * feed reads them from the database first. Every step of the tenant advances the position, also the
 * ones the filter drops.
 */
export async function openFlagFeed(
  pubSub: PubSub,
  flags: ReconciliationFlagsService,
  tenantId: string,
  options: FlagFeedOptions,
): Promise<AsyncIterableIterator<ReconciliationFlagEventRecord>> {
  const last = await flags.lastSequence(tenantId);
  if (options.since !== null && (options.since < 0 || options.since > last)) {
    throw validationError(`since must be a sequence number this tenant has reached (0 to ${last}): the last one your subscriber received`, {
      field: 'since',
      lastSequence: String(last),
    });
  }
  const live = await subscribeToFlagEvents(pubSub, tenantId);
  // Read after listening: a step committed meanwhile is both at or below this and on the stream, and is dropped there.
  let position = options.since ?? (await flags.lastSequence(tenantId));
  const ready: ReconciliationFlagEventRecord[] = [];
  let caughtUp = options.since === null;

  /** Reads the tenant's steps after `position` up to `until` (or all of them), queueing those the filter keeps. */
  const catchUp = async (until: number | null): Promise<void> => {
    for (;;) {
      const page = await flags.eventsAfter(tenantId, position, CATCH_UP_PAGE);
      for (const event of page) {
        position = event.sequence;
        if (keeps(options.filter, event)) ready.push(event);
      }
      if (page.length < CATCH_UP_PAGE || (until !== null && position >= until)) return;
    }
  };

  const feed: AsyncIterableIterator<ReconciliationFlagEventRecord> = {
    async next() {
      for (;;) {
        const queued = ready.shift();
        if (queued) return { value: queued, done: false };
        if (!caughtUp) {
          await catchUp(null);
          caughtUp = true;
          continue;
        }
        const result = await live.next();
        if (result.done) return { value: undefined, done: true };
        const event = result.value;
        if (event.sequence <= position) continue;
        if (event.sequence > position + 1) {
          await catchUp(event.sequence);
          // Not yet readable (it has committed, so this does not happen with one database): deliver it as heard.
          if (position < event.sequence) {
            position = event.sequence;
            if (keeps(options.filter, event)) return { value: event, done: false };
          }
          continue;
        }
        position = event.sequence;
        if (keeps(options.filter, event)) return { value: event, done: false };
      }
    },
    async return() {
      ready.length = 0;
      await live.return?.();
      return { value: undefined, done: true };
    },
    async throw(error?: unknown) {
      await live.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return feed;
    },
  };
  return feed;
}
