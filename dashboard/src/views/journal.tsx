import { useState } from 'preact/hooks';
import { Amount, EnumFilter, Pager, QueryStatus, StatusBadge, pageVariables, usePageCursor } from '../components';
import { formatDateTime } from '../format';
import { DashboardAccountsDocument, DashboardJournalEntriesDocument, type JournalEntryStatus } from '../generated';
import type { Session } from '../session';
import { useQuery } from '../use-query';

const PAGE_SIZE = 20;
const STATUSES: JournalEntryStatus[] = ['POSTED', 'PENDING', 'VOIDED'];

/** Journal entries, newest first, filtered by status and account, paged both ways. */
export function JournalView({ session }: { session: Session }) {
  const [status, setStatus] = useState<JournalEntryStatus | ''>('');
  const [accountId, setAccountId] = useState('');
  const accounts = useQuery(session, DashboardAccountsDocument, { first: 200 });
  const filter = { ...(status ? { status } : {}), ...(accountId ? { accountId } : {}) };
  const [cursor, setCursor] = usePageCursor(filter);
  const entries = useQuery(session, DashboardJournalEntriesDocument, { filter, ...pageVariables(cursor, PAGE_SIZE) });
  const connection = entries.data?.journalEntries;

  return (
    <>
      <form class="filters" onSubmit={(event) => event.preventDefault()} aria-label="Journal entry filters">
        <EnumFilter
          id="journal-status"
          label="Status"
          values={STATUSES}
          value={status}
          onChange={(value) => setStatus(value)}
        />
        <div class="field">
          <label for="journal-account">Account</label>
          <select
            id="journal-account"
            value={accountId}
            onChange={(event) => setAccountId(event.currentTarget.value)}
          >
            <option value="">Any</option>
            {(accounts.data?.accounts?.edges ?? []).map(({ node }) => (
              <option key={node.id} value={node.id}>
                {node.code} {node.name}
              </option>
            ))}
          </select>
        </div>
      </form>
      <QueryStatus query={entries} what="journal entries" />
      {connection ? (
        <>
          {connection.edges.length === 0 ? <p>No journal entry matches.</p> : null}
          <ul class="cards" data-testid="journal-entries">
            {connection.edges.map(({ node }) => (
              <li key={node.id} class="card">
                <div class="card-head">
                  <strong>{node.description}</strong> <StatusBadge status={node.status} />
                </div>
                <div class="muted">
                  {formatDateTime(node.effectiveAt)} · <code>{node.id}</code>
                  {node.externalRef ? <> · ref {node.externalRef}</> : null}
                </div>
                <table class="postings">
                  <caption class="visually-hidden">Postings of {node.description}</caption>
                  <thead>
                    <tr>
                      <th scope="col">Account</th>
                      <th scope="col" class="num">Debit</th>
                      <th scope="col" class="num">Credit</th>
                    </tr>
                  </thead>
                  <tbody>
                    {node.postings.map((posting) => (
                      <tr key={posting.id}>
                        <td>
                          <code>{posting.account.code}</code> {posting.account.name}
                          {posting.phase === 'PENDING' ? <span class="muted"> (pending)</span> : null}
                        </td>
                        <td class="num">{posting.direction === 'DEBIT' ? <Amount money={posting.amount} /> : null}</td>
                        <td class="num">{posting.direction === 'CREDIT' ? <Amount money={posting.amount} /> : null}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </li>
            ))}
          </ul>
          <Pager label="Journal entries" pageInfo={connection.pageInfo} onNext={(after) => setCursor({ after })} onPrevious={(before) => setCursor({ before })} />
        </>
      ) : null}
    </>
  );
}
