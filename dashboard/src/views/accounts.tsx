import { useMemo, useState } from 'preact/hooks';
import { Amount, Pager, QueryStatus, Section, pageVariables, usePageCursor } from '../components';
import { BalanceChart, type BalancePoint } from '../balance-chart';
import { amountAsNumber, formatAmount, formatDateTime, humanize } from '../format';
import { DashboardAccountHistoryDocument, DashboardAccountsDocument, type DashboardAccountsQuery } from '../generated';
import type { Session } from '../session';
import { useQuery } from '../use-query';

type AccountRow = NonNullable<DashboardAccountsQuery['accounts']>['edges'][number]['node'];

const PAGE_SIZE = 25;
const HISTORY_DAYS = 90;
/** Postings read for the chart: one page of the statement is plenty for a 90-day picture of most accounts. */
const HISTORY_POSTINGS = 500;

/** Every account with its three balances; choosing one draws its balance over the last 90 days. */
export function AccountsView({ session }: { session: Session }) {
  const [cursor, setCursor] = usePageCursor(null);
  const [selected, setSelected] = useState<AccountRow | null>(null);
  const accounts = useQuery(session, DashboardAccountsDocument, pageVariables(cursor, PAGE_SIZE));
  const connection = accounts.data?.accounts;

  return (
    <>
      <Section title="Balances">
        <QueryStatus query={accounts} what="accounts" />
        {connection ? (
          <>
            <div class="table-scroll">
              <table data-testid="accounts-table">
                <caption class="visually-hidden">Accounts with their posted, pending and available balances</caption>
                <thead>
                  <tr>
                    <th scope="col">Code</th>
                    <th scope="col">Account</th>
                    <th scope="col">Type</th>
                    <th scope="col" class="num">Posted</th>
                    <th scope="col" class="num">Pending</th>
                    <th scope="col" class="num">Available</th>
                    <th scope="col">
                      <span class="visually-hidden">Chart</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {connection.edges.map(({ node }) => (
                    <tr key={node.id} data-account-code={node.code} aria-selected={selected?.id === node.id ? 'true' : undefined}>
                      <td>
                        <code>{node.code}</code>
                      </td>
                      <th scope="row">{node.name}</th>
                      <td>{humanize(node.type)}</td>
                      <td class="num" data-balance="posted">
                        <Amount money={node.balances.posted.net} />
                      </td>
                      <td class="num" data-balance="pending">
                        <Amount money={node.balances.pending.net} />
                      </td>
                      <td class="num" data-balance="available">
                        <Amount money={node.balances.available.net} />
                      </td>
                      <td>
                        <button type="button" class="link-button" onClick={() => setSelected(node)}>
                          Chart<span class="visually-hidden"> of {node.name}</span>
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager label="Accounts" pageInfo={connection.pageInfo} onNext={(after) => setCursor({ after })} onPrevious={(before) => setCursor({ before })} />
          </>
        ) : null}
      </Section>
      {selected ? <AccountHistory key={selected.id} session={session} account={selected} /> : null}
    </>
  );
}

function AccountHistory({ session, account }: { session: Session; account: AccountRow }) {
  // Fixed once per opened account, so that re-renders do not ask again with a moving "now".
  const period = useMemo(() => {
    const to = new Date(Date.now() + 60_000);
    const from = new Date(to.getTime() - HISTORY_DAYS * 86_400_000);
    return { from: from.toISOString(), to: to.toISOString() };
  }, []);
  const history = useQuery(session, DashboardAccountHistoryDocument, { accountId: account.id, ...period, first: HISTORY_POSTINGS });
  const statement = history.data?.accountStatement;
  const points = useMemo<BalancePoint[]>(() => {
    if (!statement) return [];
    const start = { time: Date.parse(period.from) / 1000, balance: amountAsNumber(statement.openingBalance) };
    const moves = statement.lines.edges.map(({ node }) => ({ time: Date.parse(node.posting.effectiveAt) / 1000, balance: amountAsNumber(node.runningBalance) }));
    const last = moves[moves.length - 1] ?? start;
    return [start, ...moves, { time: Math.min(Date.now() / 1000, Date.parse(period.to) / 1000), balance: last.balance }];
  }, [statement, period]);

  return (
    <Section title={`Balance over time: ${account.name}`}>
      <QueryStatus query={history} what="the account's postings" />
      {statement ? (
        <>
          <p>
            Posted balance from {formatAmount(statement.openingBalance.amount)} to {formatAmount(statement.closingBalance.amount)} {account.currency} over the last {HISTORY_DAYS} days
            ({statement.lines.edges.length} postings{statement.lines.pageInfo.hasNextPage ? `; the chart shows the first ${HISTORY_POSTINGS}` : ''}).
          </p>
          <BalanceChart points={points} currency={account.currency} label={`Posted balance of ${account.name} over the last ${HISTORY_DAYS} days`} />
          {statement.lines.edges.length > 0 ? (
            <details>
              <summary>Postings as a table</summary>
              <div class="table-scroll">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Effective</th>
                      <th scope="col">Description</th>
                      <th scope="col" class="num">Balance after</th>
                    </tr>
                  </thead>
                  <tbody>
                    {statement.lines.edges.map(({ node }, index) => (
                      <tr key={index}>
                        <td>{formatDateTime(node.posting.effectiveAt)}</td>
                        <td>{node.description}</td>
                        <td class="num">
                          <Amount money={node.runningBalance} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </details>
          ) : null}
        </>
      ) : null}
    </Section>
  );
}
