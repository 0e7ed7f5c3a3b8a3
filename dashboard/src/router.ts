import { useEffect, useState } from 'preact/hooks';

/** The views, in menu order; the hash (#/accounts) names the open one, so the back button works. */
export const VIEWS = [
  { path: 'overview', title: 'Overview' },
  { path: 'accounts', title: 'Accounts' },
  { path: 'trial-balance', title: 'Trial balance' },
  { path: 'journal', title: 'Journal entries' },
  { path: 'payments', title: 'Payments' },
  { path: 'invoices', title: 'Invoices' },
  { path: 'bank-accounts', title: 'Bank accounts' },
  { path: 'flags', title: 'Reconciliation flags' },
] as const;

export type ViewPath = (typeof VIEWS)[number]['path'];

function currentView(): ViewPath {
  const wanted = window.location.hash.replace(/^#\/?/, '');
  return VIEWS.find((view) => view.path === wanted)?.path ?? 'overview';
}

export function useView(): ViewPath {
  const [view, setView] = useState(currentView);
  useEffect(() => {
    const onChange = () => setView(currentView());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return view;
}
