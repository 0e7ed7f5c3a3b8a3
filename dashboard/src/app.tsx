import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { humanize } from './format';
import { LiveFeed } from './live-feed';
import { useFeed } from './use-feed';
import { VIEWS, useView, type ViewPath } from './router';
import type { Session } from './session';
import { SignIn } from './sign-in';
import { AccountsView } from './views/accounts';
import { BankAccountsView } from './views/bank-accounts';
import { FlagsView } from './views/flags';
import { InvoicesView } from './views/invoices';
import { JournalView } from './views/journal';
import { OverviewView } from './views/overview';
import { PaymentsView } from './views/payments';
import { TrialBalanceView } from './views/trial-balance';

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [endedBecause, setEndedBecause] = useState<string | null>(null);
  if (!session) {
    return (
      <SignIn
        endedBecause={endedBecause}
        onSignedIn={(signedIn) => {
          signedIn.onRefused((reason) => {
            signedIn.signOut();
            setEndedBecause(reason);
            setSession(null);
          });
          setEndedBecause(null);
          setSession(signedIn);
        }}
      />
    );
  }
  return (
    <SignedIn
      key={session.viewer.credentialId}
      session={session}
      onSignOut={() => {
        session.signOut();
        setSession(null);
      }}
    />
  );
}

function SignedIn({ session, onSignOut }: { session: Session; onSignOut(): void }) {
  const view = useView();
  const feed = useMemo(() => new LiveFeed(session), [session]);
  useEffect(() => {
    void feed.start();
    return () => feed.stop();
  }, [feed]);
  const feedState = useFeed(feed);
  const openFlags = [...feedState.flags.values()].filter((flag) => flag.status !== 'RESOLVED').length;
  const title = VIEWS.find((item) => item.path === view)?.title ?? '';
  const firstView = useRef(true);
  useEffect(() => {
    document.title = `${title} · Reckon dashboard`;
    // After a menu choice, keyboard and screen-reader users land on the new view, not back on the menu.
    if (firstView.current) firstView.current = false;
    else document.getElementById('main')?.focus();
  }, [title]);

  return (
    <div class="layout">
      {/* The hash names the view, so the link moves focus itself instead of navigating to #main. */}
      <a
        class="skip-link"
        href="#main"
        onClick={(event) => {
          event.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top-bar">
        <div class="brand">Reckon</div>
        <div class="who" aria-label="Signed in as">
          <span class="tenant">{session.viewer.tenant.name}</span>
          <span class="muted"> · {CREDENTIAL_KINDS[session.viewer.credentialKind] ?? humanize(session.viewer.credentialKind)}</span>
          <details class="scopes">
            <summary>{session.viewer.scopes.length === 1 ? '1 scope' : `${session.viewer.scopes.length} scopes`}</summary>
            <ul aria-label="Scopes of this credential">
              {session.viewer.scopes.map((scope) => (
                <li key={scope}>
                  <code>{scopeName(scope)}</code>
                </li>
              ))}
            </ul>
          </details>
        </div>
        <FeedStatus connection={feedState.connection} openFlags={openFlags} />
        <button type="button" class="sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <nav class="menu" aria-label="Views">
        <ul>
          {VIEWS.map((item) => (
            <li key={item.path}>
              <a href={`#/${item.path}`} aria-current={item.path === view ? 'page' : undefined}>
                {item.title}
                {item.path === 'flags' && openFlags > 0 ? <span class="count" aria-label={`${openFlags} unresolved`}>{openFlags}</span> : null}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        <h1>{title}</h1>
        <CurrentView view={view} session={session} feed={feed} />
      </main>
    </div>
  );
}

const CREDENTIAL_KINDS: Record<string, string> = { API_KEY: 'API key', OAUTH_TOKEN: 'OAuth client', EXTERNAL_TOKEN: 'External token' };

/** Scope enum values (LEDGER_READ) as the API's scope strings (ledger:read). */
function scopeName(scope: string): string {
  const parts = scope.toLowerCase().split('_');
  return parts.length > 1 ? `${parts.slice(0, -1).join('_')}:${parts[parts.length - 1]}` : parts[0];
}

function FeedStatus({ connection, openFlags }: { connection: string; openFlags: number }) {
  const label = connection === 'live' ? 'Live' : connection === 'reconnecting' ? 'Reconnecting…' : connection === 'connecting' ? 'Connecting…' : 'Feed stopped';
  return (
    <div class={`feed-status feed-${connection}`} role="status" aria-live="polite" data-testid="feed-status">
      <span class="dot" aria-hidden="true" /> {label}
      <span class="muted"> · {openFlags} unresolved flags</span>
    </div>
  );
}

function CurrentView({ view, session, feed }: { view: ViewPath; session: Session; feed: LiveFeed }) {
  switch (view) {
    case 'overview':
      return <OverviewView session={session} feed={feed} />;
    case 'accounts':
      return <AccountsView session={session} />;
    case 'trial-balance':
      return <TrialBalanceView session={session} />;
    case 'journal':
      return <JournalView session={session} />;
    case 'payments':
      return <PaymentsView session={session} />;
    case 'invoices':
      return <InvoicesView session={session} />;
    case 'bank-accounts':
      return <BankAccountsView session={session} />;
    case 'flags':
      return <FlagsView session={session} feed={feed} />;
    default: {
      const unknownView: never = view;
      return unknownView;
    }
  }
}
