import { useState } from 'preact/hooks';
import { Amount, EnumFilter, Pager, QueryStatus, Section, StatusBadge, pageVariables, usePageCursor } from '../components';
import { formatDateTime, humanize } from '../format';
import { DashboardPaymentTimelineDocument, DashboardPaymentsDocument, type PaymentStatus } from '../generated';
import type { Session } from '../session';
import { useQuery } from '../use-query';

const PAGE_SIZE = 20;
const TIMELINE_EVENTS = 100;
const STATUSES: PaymentStatus[] = ['PROCESSING', 'AUTHORIZED', 'CAPTURED', 'VOIDED', 'EXPIRED', 'FAILED'];

/** Payments, newest first, by status; choosing one shows its timeline of events. */
export function PaymentsView({ session }: { session: Session }) {
  const [status, setStatus] = useState<PaymentStatus | ''>('');
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const filter = status ? { status } : {};
  const [cursor, setCursor] = usePageCursor(filter);
  const payments = useQuery(session, DashboardPaymentsDocument, { filter, ...pageVariables(cursor, PAGE_SIZE) });
  const connection = payments.data?.payments;

  return (
    <>
      <form class="filters" onSubmit={(event) => event.preventDefault()} aria-label="Payment filters">
        <EnumFilter
          id="payment-status"
          label="Status"
          values={STATUSES}
          value={status}
          onChange={(value) => setStatus(value)}
        />
      </form>
      <QueryStatus query={payments} what="payments" />
      {connection ? (
        <Section title="Payments">
          {connection.edges.length === 0 ? <p>No payment matches.</p> : null}
          <div class="table-scroll">
            <table data-testid="payments-table">
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Payment</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">Amount</th>
                  <th scope="col" class="num">Captured</th>
                  <th scope="col" class="num">Refunded</th>
                  <th scope="col">
                    <span class="visually-hidden">Timeline</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {connection.edges.map(({ node }) => (
                  <tr key={node.id}>
                    <td>{formatDateTime(node.createdAt)}</td>
                    <th scope="row">
                      {node.description ?? node.externalRef ?? <code>{node.id}</code>}
                    </th>
                    <td>
                      <StatusBadge status={node.status} />
                    </td>
                    <td class="num">
                      <Amount money={node.amount} />
                    </td>
                    <td class="num">
                      <Amount money={node.capturedAmount} />
                    </td>
                    <td class="num">
                      <Amount money={node.refundedAmount} />
                    </td>
                    <td>
                      <button type="button" class="link-button" aria-expanded={selectedId === node.id} onClick={() => setSelectedId(selectedId === node.id ? null : node.id)}>
                        Timeline<span class="visually-hidden"> of {node.description ?? node.externalRef ?? node.id}</span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager label="Payments" pageInfo={connection.pageInfo} onNext={(after) => setCursor({ after })} onPrevious={(before) => setCursor({ before })} />
        </Section>
      ) : null}
      {selectedId ? <PaymentTimeline key={selectedId} session={session} paymentId={selectedId} /> : null}
    </>
  );
}

function PaymentTimeline({ session, paymentId }: { session: Session; paymentId: string }) {
  const timeline = useQuery(session, DashboardPaymentTimelineDocument, { id: paymentId, first: TIMELINE_EVENTS });
  const payment = timeline.data?.payment;
  return (
    <Section title="Payment timeline">
      <QueryStatus query={timeline} what="the payment's events" />
      {payment ? (
        <>
          <p>
            <code>{payment.id}</code> · <StatusBadge status={payment.status} /> · <Amount money={payment.amount} />
          </p>
          <ol class="timeline" data-testid="payment-timeline">
            {payment.events.edges.map(({ node }) => (
              <li key={node.id}>
                <time dateTime={node.createdAt}>{formatDateTime(node.createdAt)}</time>
                <div>
                  <strong>{humanize(node.type)}</strong> {node.amount ? <Amount money={node.amount} /> : null}
                  <span class="muted"> · {humanize(node.source)}</span>
                  {node.detail ? <div class="muted">{node.detail}</div> : null}
                  {node.journalEntries.length > 0 ? (
                    <div class="muted">
                      Posted:{' '}
                      {node.journalEntries.map((entry) => (
                        <code key={entry.id}>{entry.id} </code>
                      ))}
                    </div>
                  ) : null}
                </div>
              </li>
            ))}
          </ol>
          {payment.events.pageInfo.hasNextPage ? <p class="muted">The first {TIMELINE_EVENTS} events are shown.</p> : null}
        </>
      ) : null}
    </Section>
  );
}
