import { useState } from 'preact/hooks';
import { Amount, Pager, QueryStatus, Section } from '../components';
import { formatDateTime, humanize } from '../format';
import { DashboardTrialBalanceDocument } from '../generated';
import type { Session } from '../session';
import { useQuery } from '../use-query';

const PAGE_SIZE = 100;

/** Every account's net posted balance in a debit or a credit column, with the totals per currency. */
export function TrialBalanceView({ session }: { session: Session }) {
  const [after, setAfter] = useState<string | null>(null);
  const report = useQuery(session, DashboardTrialBalanceDocument, { first: PAGE_SIZE, ...(after ? { after } : {}) });
  const trialBalance = report.data?.trialBalance;
  return (
    <>
      <QueryStatus query={report} what="the trial balance" />
      {trialBalance ? (
        <>
          <Section title="Totals">
            <p>
              As of {formatDateTime(trialBalance.asOf)}:{' '}
              <strong data-testid="trial-balance-verdict" class={trialBalance.balanced ? 'ok' : 'bad'}>
                {trialBalance.balanced ? 'debits equal credits' : 'debits and credits differ'}
              </strong>
              .
            </p>
            <div class="table-scroll">
              <table data-testid="trial-balance-totals">
                <thead>
                  <tr>
                    <th scope="col">Currency</th>
                    <th scope="col" class="num">Debits</th>
                    <th scope="col" class="num">Credits</th>
                    <th scope="col">Balanced</th>
                  </tr>
                </thead>
                <tbody>
                  {trialBalance.totals.map((total) => (
                    <tr key={total.currency} data-currency={total.currency}>
                      <th scope="row">{total.currency}</th>
                      <td class="num" data-column="debits">
                        <Amount money={total.debits} />
                      </td>
                      <td class="num" data-column="credits">
                        <Amount money={total.credits} />
                      </td>
                      <td>{total.balanced ? 'Yes' : 'No'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Section>
          <Section title="Accounts">
            <div class="table-scroll">
              <table data-testid="trial-balance-lines">
                <thead>
                  <tr>
                    <th scope="col">Code</th>
                    <th scope="col">Account</th>
                    <th scope="col">Type</th>
                    <th scope="col" class="num">Debit</th>
                    <th scope="col" class="num">Credit</th>
                  </tr>
                </thead>
                <tbody>
                  {trialBalance.lines.edges.map(({ node }) => (
                    <tr key={node.account.id} data-account-code={node.account.code}>
                      <td>
                        <code>{node.account.code}</code>
                      </td>
                      <th scope="row">{node.account.name}</th>
                      <td>{humanize(node.account.type)}</td>
                      <td class="num" data-column="debit">
                        <Amount money={node.debit} />
                      </td>
                      <td class="num" data-column="credit">
                        <Amount money={node.credit} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager label="Trial balance" pageInfo={trialBalance.lines.pageInfo} onNext={setAfter} />
            {after ? (
              <button type="button" class="link-button" onClick={() => setAfter(null)}>
                Back to the first page
              </button>
            ) : null}
          </Section>
        </>
      ) : null}
    </>
  );
}
