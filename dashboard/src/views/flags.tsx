import { useState } from 'preact/hooks';
import type { ReckonError } from '../../../client/src/reckon-client';
import { ErrorNotice, StatusBadge } from '../components';
import { formatDateTime, humanize } from '../format';
import { DashboardAcknowledgeFlagDocument, DashboardResolveFlagDocument, type ReconciliationFlagResolution } from '../generated';
import type { Flag, LiveFeed } from '../live-feed';
import type { Session } from '../session';
import { useFeed } from '../use-feed';
import { asReckonError } from '../use-query';

/** What a person may resolve a flag as; MATCHED is the system's own. */
const RESOLUTIONS: { value: ReconciliationFlagResolution; label: string }[] = [
  { value: 'ACCEPTED', label: 'Accepted as it is (note required)' },
  { value: 'MATCHED_BY_HAND', label: 'Matched by hand' },
  { value: 'ADJUSTMENT_POSTED', label: 'Adjustment posted (journal entry id)' },
];

const STATUS_ORDER = { OPEN: 0, ACKNOWLEDGED: 1, RESOLVED: 2 } as const;

/** The live flag feed: newest first within each status, with acknowledge and resolve. */
export function FlagsView({ session, feed }: { session: Session; feed: LiveFeed }) {
  const state = useFeed(feed);
  const flags = [...state.flags.values()].sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || Number(BigInt(b.sequence) - BigInt(a.sequence)));
  const canWrite = session.viewer.scopes.some((scope) => scope === 'RECONCILIATION_WRITE' || scope === 'ADMIN');
  return (
    <>
      <p class="muted">
        Flags arrive here as statement imports and matching raise them, over a WebSocket subscription that resumes after a dropped connection from the last step received
        (sequence <span data-testid="feed-sequence">{state.lastSequence}</span>).
      </p>
      {state.error ? (
        <div class="notice notice-error" role="alert">
          Live feed: {state.error}
        </div>
      ) : null}
      {flags.length === 0 ? <p data-testid="no-flags">No reconciliation flag is open. New ones appear here as they are raised.</p> : null}
      <ul class="cards" data-testid="flags" aria-live="polite" aria-relevant="additions">
        {flags.map((flag) => (
          <FlagCard key={flag.id} flag={flag} session={session} feed={feed} canWrite={canWrite} />
        ))}
      </ul>
    </>
  );
}

function FlagCard({ flag, session, feed, canWrite }: { flag: Flag; session: Session; feed: LiveFeed; canWrite: boolean }) {
  const [resolving, setResolving] = useState(false);
  const [resolution, setResolution] = useState<ReconciliationFlagResolution>('ACCEPTED');
  const [note, setNote] = useState('');
  const [journalEntryId, setJournalEntryId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ReckonError | null>(null);
  const headingId = `flag-${flag.id}-heading`;

  const run = async (action: () => Promise<Flag | null | undefined>) => {
    setBusy(true);
    setError(null);
    try {
      const changed = await action();
      if (changed) feed.applyFlag(changed);
      setResolving(false);
    } catch (caught) {
      setError(asReckonError(caught));
    } finally {
      setBusy(false);
    }
  };
  const acknowledge = () =>
    run(async () => (await session.client.request(DashboardAcknowledgeFlagDocument, { input: { flagId: flag.id } })).data.acknowledgeReconciliationFlag?.flag);
  const resolve = (event: Event) => {
    event.preventDefault();
    void run(
      async () =>
        (
          await session.client.request(DashboardResolveFlagDocument, {
            input: { flagId: flag.id, resolution, ...(note.trim() ? { note: note.trim() } : {}), ...(resolution === 'ADJUSTMENT_POSTED' ? { journalEntryId: journalEntryId.trim() } : {}) },
          })
        ).data.resolveReconciliationFlag?.flag,
    );
  };

  return (
    <li class={`card flag flag-${flag.status.toLowerCase()}`} data-flag-id={flag.id} data-flag-kind={flag.kind} data-flag-status={flag.status} aria-labelledby={headingId}>
      <div class="card-head">
        <h3 id={headingId}>{humanize(flag.kind)}</h3>
        <StatusBadge status={flag.status} />
      </div>
      <div class="muted">
        {flag.bankAccount ? <>{flag.bankAccount.name} · </> : null}
        raised {formatDateTime(flag.createdAt)}
        {flag.occurrenceCount > 1 ? <> · seen {flag.occurrenceCount} times</> : null} · step {flag.sequence}
      </div>
      <FlagDetails details={flag.details} />
      {error ? <ErrorNotice error={error} /> : null}
      {canWrite && flag.status !== 'RESOLVED' ? (
        <div class="actions">
          {flag.status === 'OPEN' ? (
            <button type="button" onClick={acknowledge} disabled={busy}>
              Acknowledge
            </button>
          ) : null}
          <button type="button" aria-expanded={resolving} onClick={() => setResolving(!resolving)} disabled={busy}>
            Resolve…
          </button>
        </div>
      ) : null}
      {resolving ? (
        <form class="resolve" onSubmit={resolve} aria-label={`Resolve ${humanize(flag.kind)}`}>
          <div class="field">
            <label for={`resolution-${flag.id}`}>Resolution</label>
            <select id={`resolution-${flag.id}`} value={resolution} onChange={(event) => setResolution(event.currentTarget.value as ReconciliationFlagResolution)}>
              {RESOLUTIONS.map((option) => (
                <option key={option.value} value={option.value}>
                  {option.label}
                </option>
              ))}
            </select>
          </div>
          {resolution === 'ADJUSTMENT_POSTED' ? (
            <div class="field">
              <label for={`journal-entry-${flag.id}`}>Journal entry id</label>
              <input id={`journal-entry-${flag.id}`} type="text" required value={journalEntryId} onInput={(event) => setJournalEntryId(event.currentTarget.value)} />
            </div>
          ) : null}
          <div class="field">
            <label for={`note-${flag.id}`}>Note</label>
            <textarea id={`note-${flag.id}`} rows={2} required={resolution === 'ACCEPTED'} value={note} onInput={(event) => setNote(event.currentTarget.value)} />
          </div>
          <button type="submit" class="primary" disabled={busy}>
            Resolve flag
          </button>
        </form>
      ) : null}
    </li>
  );
}

/** The flag's details (amounts, dates, references) as a definition list, values as the API gave them. */
function FlagDetails({ details }: { details: Record<string, unknown> }) {
  const reason = typeof details.reason === 'string' ? details.reason : null;
  const entries = Object.entries(details).filter(([key, value]) => key !== 'reason' && value !== null && typeof value !== 'object');
  return (
    <>
      {reason ? <p class="reason">{reason}</p> : null}
      {entries.length > 0 ? (
        <dl class="details">
          {entries.slice(0, 8).map(([key, value]) => (
            <div key={key}>
              <dt>{key}</dt>
              <dd>{String(value)}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </>
  );
}
