import type { ComponentChildren } from 'preact';
import { useCallback, useState } from 'preact/hooks';
import type { ReckonError } from '../../client/src/reckon-client';
import { formatMoney, humanize, type MoneyValue } from './format';
import type { QueryState } from './use-query';

/** A failed call as the API told it: code, message, and the request id to quote when asking about it. */
export function ErrorNotice({ error, onRetry }: { error: ReckonError; onRetry?: () => void }) {
  return (
    <div class="notice notice-error" role="alert">
      <strong>{error.code}</strong>: {error.message}
      {error.requestId ? <span class="muted"> (request {error.requestId})</span> : null}
      {onRetry ? (
        <button type="button" class="link-button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** What a query has to say before it has data: its error (with a retry), or that it is loading. */
export function QueryStatus({ query, what }: { query: QueryState<unknown>; what: string }) {
  if (query.error) return <ErrorNotice error={query.error} onRetry={query.reload} />;
  if (query.loading && query.data === null) return <Loading what={what} />;
  return null;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/** Amounts right-aligned in tabular figures, negative ones marked for the eye and for screen readers. */
export function Amount({ money }: { money: MoneyValue | null | undefined }) {
  const negative = money?.amount.startsWith('-') ?? false;
  return <span class={negative ? 'amount negative' : 'amount'}>{formatMoney(money)}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status.toLowerCase()}`}>{humanize(status)}</span>;
}

export interface PageInfoValue {
  hasNextPage: boolean;
  hasPreviousPage?: boolean;
  startCursor?: string | null;
  endCursor?: string | null;
}

/** Cursor paging both ways, as every connection of the API offers it. */
export function Pager({ label, pageInfo, onNext, onPrevious }: { label: string; pageInfo: PageInfoValue; onNext(cursor: string): void; onPrevious?(cursor: string): void }) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      {onPrevious ? (
        <button type="button" disabled={!pageInfo.hasPreviousPage || !pageInfo.startCursor} onClick={() => pageInfo.startCursor && onPrevious(pageInfo.startCursor)}>
          ← Previous
        </button>
      ) : null}
      <button type="button" disabled={!pageInfo.hasNextPage || !pageInfo.endCursor} onClick={() => pageInfo.endCursor && onNext(pageInfo.endCursor)}>
        Next →
      </button>
    </nav>
  );
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="panel" aria-labelledby={`${slug(title)}-heading`}>
      <div class="panel-head">
        <h2 id={`${slug(title)}-heading`}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Cursor state of one paged list: where the current page starts, and which way it was reached. */
export type PageCursor = { after: string } | { before: string } | null;

/** The cursor of a paged list, back at the first page whenever `filter` changes (compared as JSON). */
export function usePageCursor(filter: unknown): [PageCursor, (cursor: PageCursor) => void] {
  const filterKey = JSON.stringify(filter);
  const [state, setState] = useState<{ filterKey: string; cursor: PageCursor }>({ filterKey, cursor: null });
  const setCursor = useCallback((cursor: PageCursor) => setState({ filterKey, cursor }), [filterKey]);
  return [state.filterKey === filterKey ? state.cursor : null, setCursor];
}

export function pageVariables(cursor: PageCursor, size: number): { first?: number; after?: string; last?: number; before?: string } {
  if (cursor && 'before' in cursor) return { last: size, before: cursor.before };
  return { first: size, ...(cursor ? { after: cursor.after } : {}) };
}

/** A labelled "Any or one of these" select of an enum filter; choosing resets the list to its first page. */
export function EnumFilter<T extends string>({ id, label, values, value, onChange }: { id: string; label: string; values: readonly T[]; value: T | ''; onChange(value: T | ''): void }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(event) => onChange(event.currentTarget.value as T | '')}>
        <option value="">Any</option>
        {values.map((option) => (
          <option key={option} value={option}>
            {humanize(option)}
          </option>
        ))}
      </select>
    </div>
  );
}
