import { useMemo, useState } from 'preact/hooks';
import { Amount, QueryStatus, Section } from '../components';
import { humanize } from '../format';
import { DashboardBankAccountsDocument, DashboardReconciliationReportDocument } from '../generated';
import type { Session } from '../session';
import { useQuery } from '../use-query';

const DEFAULT_PERIOD_DAYS = 90;

const isoDay = (date: Date) => date.toISOString().slice(0, 10);

/** Bank accounts, and for the chosen one the reconciliation report of a period. */
export function BankAccountsView({ session }: { session: Session }) {
  const bankAccounts = useQuery(session, DashboardBankAccountsDocument, { first: 100 });
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const today = useMemo(() => new Date(), []);
  const [from, setFrom] = useState(isoDay(new Date(today.getTime() - DEFAULT_PERIOD_DAYS * 86_400_000)));
  const [to, setTo] = useState(isoDay(today));
  const edges = bankAccounts.data?.bankAccounts?.edges ?? [];
  const chosen = edges.find(({ node }) => node.id === selectedId)?.node ?? edges[0]?.node ?? null;

  return (
    <>
      <QueryStatus query={bankAccounts} what="bank accounts" />
      {bankAccounts.data && edges.length === 0 ? <p>This tenant has no bank account yet: create one with createBankAccount, then import statements into it.</p> : null}
      {edges.length > 0 ? (
        <Section title="Bank accounts">
          <div class="table-scroll">
            <table data-testid="bank-accounts-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Currency</th>
                  <th scope="col">Number</th>
                  <th scope="col">Ledger account</th>
                  <th scope="col">
                    <span class="visually-hidden">Report</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {edges.map(({ node }) => (
                  <tr key={node.id} aria-selected={chosen?.id === node.id ? 'true' : undefined}>
                    <th scope="row">{node.name}</th>
                    <td>{node.currency}</td>
                    <td>{humanize(node.accountNumberKind)}</td>
                    <td>
                      <code>{node.ledgerAccount.code}</code> {node.ledgerAccount.name}
                    </td>
                    <td>
                      <button type="button" class="link-button" onClick={() => setSelectedId(node.id)}>
                        Report<span class="visually-hidden"> of {node.name}</span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Section>
      ) : null}
      {chosen ? (
        <Section title={`Reconciliation report: ${chosen.name}`}>
          <form class="filters" onSubmit={(event) => event.preventDefault()} aria-label="Report period">
            <div class="field">
              <label for="report-from">From</label>
              <input id="report-from" type="date" value={from} max={to} onChange={(event) => event.currentTarget.value && setFrom(event.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="report-to">To</label>
              <input id="report-to" type="date" value={to} min={from} onChange={(event) => event.currentTarget.value && setTo(event.currentTarget.value)} />
            </div>
          </form>
          <ReconciliationReport session={session} bankAccountId={chosen.id} from={from} to={to} />
        </Section>
      ) : null}
    </>
  );
}

function ReconciliationReport({ session, bankAccountId, from, to }: { session: Session; bankAccountId: string; from: string; to: string }) {
  const report = useQuery(session, DashboardReconciliationReportDocument, { bankAccountId, period: { from, to } });
  const data = report.data?.reconciliationReport;
  if (!data) return <QueryStatus query={report} what="the reconciliation report" />;
  return (
    <div data-testid="reconciliation-report">
      <div class="table-scroll">
        <table>
          <caption>
            {data.from} to {data.to}
          </caption>
          <thead>
            <tr>
              <th scope="col">Side</th>
              <th scope="col" class="num">Matched</th>
              <th scope="col" class="num">Matched amount</th>
              <th scope="col" class="num">Unmatched</th>
              <th scope="col" class="num">Unmatched amount</th>
            </tr>
          </thead>
          <tbody>
            {[
              { label: 'Statement lines', side: data.statementLines },
              { label: 'Ledger postings', side: data.ledgerPostings },
            ].map(({ label, side }) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                <td class="num">{side.matched.count}</td>
                <td class="num">
                  <Amount money={side.matched.amount} />
                </td>
                <td class="num">{side.unmatched.count}</td>
                <td class="num">
                  <Amount money={side.unmatched.amount} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data.balances ? (
        <p>
          Closing balance of statement {data.balances.statementId} on {data.balances.date}: <Amount money={data.balances.statementClosingBalance} />; the ledger says{' '}
          <Amount money={data.balances.ledgerBalance} /> (difference <Amount money={data.balances.difference} />
          ).
        </p>
      ) : (
        <p class="muted">No statement with a closing balance falls in this period.</p>
      )}
      {data.openFlags.length > 0 ? (
        <p>
          Open flags:{' '}
          {data.openFlags.map((count, index) => (
            <span key={count.kind}>
              {index > 0 ? ', ' : ''}
              {count.count} {humanize(count.kind).toLowerCase()}
            </span>
          ))}
          . <a href="#/flags">See the flags</a>.
        </p>
      ) : (
        <p>No open flag for this bank account.</p>
      )}
    </div>
  );
}
