import { useState } from 'preact/hooks';
import { Amount, EnumFilter, Pager, QueryStatus, StatusBadge, pageVariables, usePageCursor } from '../components';
import { DashboardInvoicesDocument, type InvoiceStatus } from '../generated';
import type { Session } from '../session';
import { useQuery } from '../use-query';

const PAGE_SIZE = 20;
const STATUSES: InvoiceStatus[] = ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'];

/** Invoices with their status and what is still due, filtered by status or overdue. */
export function InvoicesView({ session }: { session: Session }) {
  const [status, setStatus] = useState<InvoiceStatus | ''>('');
  const [overdueOnly, setOverdueOnly] = useState(false);
  const filter = { ...(status ? { status } : {}), ...(overdueOnly ? { overdue: true } : {}) };
  const [cursor, setCursor] = usePageCursor(filter);
  const invoices = useQuery(session, DashboardInvoicesDocument, { filter, ...pageVariables(cursor, PAGE_SIZE) });
  const connection = invoices.data?.invoices;

  return (
    <>
      <form class="filters" onSubmit={(event) => event.preventDefault()} aria-label="Invoice filters">
        <EnumFilter
          id="invoice-status"
          label="Status"
          values={STATUSES}
          value={status}
          onChange={(value) => setStatus(value)}
        />
        <label class="choice">
          <input
            type="checkbox"
            checked={overdueOnly}
            onChange={(event) => setOverdueOnly(event.currentTarget.checked)}
          />{' '}
          Overdue only
        </label>
      </form>
      <QueryStatus query={invoices} what="invoices" />
      {connection ? (
        <>
          {connection.edges.length === 0 ? <p>No invoice matches.</p> : null}
          <div class="table-scroll">
            <table data-testid="invoices-table">
              <thead>
                <tr>
                  <th scope="col">Number</th>
                  <th scope="col">Customer</th>
                  <th scope="col">Status</th>
                  <th scope="col">Issued</th>
                  <th scope="col">Due</th>
                  <th scope="col" class="num">Total</th>
                  <th scope="col" class="num">Due</th>
                  <th scope="col" class="num">Paid</th>
                  <th scope="col" class="num">Remaining</th>
                </tr>
              </thead>
              <tbody>
                {connection.edges.map(({ node }) => (
                  <tr key={node.id} data-invoice-number={node.number ?? undefined}>
                    <th scope="row">{node.number ?? <span class="muted">Draft</span>}</th>
                    <td>{node.customer.name}</td>
                    <td>
                      <StatusBadge status={node.status} />
                      {node.overdue ? <span class="badge badge-overdue">Overdue</span> : null}
                    </td>
                    <td>{node.issueDate ?? '—'}</td>
                    <td>{node.dueDate ?? '—'}</td>
                    <td class="num">
                      <Amount money={node.total} />
                    </td>
                    <td class="num">
                      <Amount money={node.amountDue} />
                    </td>
                    <td class="num">
                      <Amount money={node.amountPaid} />
                    </td>
                    <td class="num">
                      <Amount money={node.amountRemaining} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager label="Invoices" pageInfo={connection.pageInfo} onNext={(after) => setCursor({ after })} onPrevious={(before) => setCursor({ before })} />
        </>
      ) : null}
    </>
  );
}
