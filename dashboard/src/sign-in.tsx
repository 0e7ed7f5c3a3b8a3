import { useState } from 'preact/hooks';
import { ErrorNotice } from './components';
import { type Credential, type Session, signIn } from './session';
import { asReckonError } from './use-query';
import type { ReckonError } from '../../client/src/reckon-client';

/** API key or OAuth client credentials; both stay in memory only (see session.ts). */
export function SignIn({ onSignedIn, endedBecause }: { onSignedIn(session: Session): void; endedBecause: string | null }) {
  const [method, setMethod] = useState<'apiKey' | 'oauthClient'>('apiKey');
  const [apiKey, setApiKey] = useState('');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [error, setError] = useState<ReckonError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const credential: Credential = method === 'apiKey' ? { kind: 'apiKey', apiKey: apiKey.trim() } : { kind: 'oauthClient', clientId: clientId.trim(), clientSecret };
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(credential));
    } catch (caught) {
      setError(asReckonError(caught));
      setBusy(false);
    }
  };

  return (
    <main class="sign-in" id="main">
      <h1>Reckon dashboard</h1>
      {endedBecause ? (
        <div class="notice notice-error" role="alert" data-testid="session-ended">
          The server ended your session ({endedBecause}). Sign in again with a credential that holds.
        </div>
      ) : null}
      <p>Sign in with an API key or an OAuth client. The credential stays in this tab's memory: reloading the page or closing the tab signs you out.</p>
      <form onSubmit={submit} aria-describedby={error ? 'sign-in-error' : undefined}>
        <fieldset>
          <legend>Credential</legend>
          <label class="choice">
            <input type="radio" name="method" value="apiKey" checked={method === 'apiKey'} onChange={() => setMethod('apiKey')} /> With an API key
          </label>
          <label class="choice">
            <input type="radio" name="method" value="oauthClient" checked={method === 'oauthClient'} onChange={() => setMethod('oauthClient')} /> With OAuth client credentials
          </label>
        </fieldset>
        {method === 'apiKey' ? (
          <div class="field">
            <label for="api-key">API key</label>
            <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck={false} required placeholder="rk_…" value={apiKey} onInput={(event) => setApiKey(event.currentTarget.value)} />
          </div>
        ) : (
          <>
            <div class="field">
              <label for="client-id">Client id</label>
              <input id="client-id" name="client-id" type="text" autocomplete="off" spellcheck={false} required value={clientId} onInput={(event) => setClientId(event.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="client-secret">Client secret</label>
              <input id="client-secret" name="client-secret" type="password" autocomplete="off" required value={clientSecret} onInput={(event) => setClientSecret(event.currentTarget.value)} />
            </div>
          </>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {error ? (
        <div id="sign-in-error">
          <ErrorNotice error={error} />
        </div>
      ) : null}
    </main>
  );
}
