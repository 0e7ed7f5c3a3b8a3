import type DataLoader from 'dataloader';
import { type KeysetSlice, oppositeSlice, type PageWindow, pageSlice, sliceInMemory, toPage } from '../../common/pagination';
import { type Connection, toConnection } from '../../graphql/common.objects';
import type { JournalEntryRecord } from './ledger-writer';

/**
 * A page of the journal entries an object caused (a payment's, an invoice's), when the object knows
 * their ids and there are a handful of them: the ids are paged in memory, oldest first (ids are
 * time-ordered), and only the page's entries are read, through the request's entry loader (one
 * statement for every object of the request).
 */
export async function journalEntryPageOf(
  entryById: DataLoader<string, JournalEntryRecord | null>,
  entryIds: readonly string[],
  window: PageWindow,
): Promise<Connection<JournalEntryRecord>> {
  const ids = [...new Set(entryIds)].sort();
  const slice = (s: KeysetSlice) => sliceInMemory(ids, s, (id) => id);
  const opposite = oppositeSlice(window);
  const pageOfIds = toPage(slice(pageSlice(window)), window, (id) => id, opposite ? slice(opposite).length > 0 : false);
  const entries = await entryById.loadMany(pageOfIds.items);
  const found = entries.filter((entry): entry is JournalEntryRecord => entry !== null && !(entry instanceof Error));
  return toConnection({ ...pageOfIds, items: found }, (e) => e.id, (e) => e, () => Promise.resolve(ids.length));
}
