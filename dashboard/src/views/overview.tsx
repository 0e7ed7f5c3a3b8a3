import { ErrorNotice, Section, StatusBadge } from '../components';
import { formatDateTime, formatDuration, formatPercent, humanize } from '../format';
import { DashboardAccuracyDocument, DashboardServiceHealthDocument } from '../generated';
import type { LiveFeed } from '../live-feed';
import type { Session } from '../session';
import { useFeed } from '../use-feed';
import { useQuery } from '../use-query';

/** Histogram estimates: whole milliseconds are all the buckets' resolution supports. */
function formatMilliseconds(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : `${Math.round(value)} ms`;
}

/** KPI tiles from the API's own figures, and the latest flag steps of the live feed. */
export function OverviewView({ session, feed }: { session: Session; feed: LiveFeed }) {
  const accuracy = useQuery(session, DashboardAccuracyDocument, {});
  const health = useQuery(session, DashboardServiceHealthDocument, {});
  const service = health.data?.serviceHealth;
  const feedState = useFeed(feed);
  const rate = accuracy.data?.reconciliationAccuracy;
  return (
    <>
      <Section title="Key figures">
        {accuracy.error ? <ErrorNotice error={accuracy.error} onRetry={accuracy.reload} /> : null}
        {health.error ? <ErrorNotice error={health.error} onRetry={health.reload} /> : null}
        <ul class="tiles">
          <li class="tile" data-testid="kpi-latency">
            <span class="tile-label">Transaction latency p99</span>
            <span class="tile-value">{formatMilliseconds(service?.mutationLatencyMsP99)}</span>
            <span class="tile-note">
              {service
                ? `${service.mutationCount} writes (mutations) since this API process started; ledger commits p99 ${formatMilliseconds(service.ledgerCommitLatencyMsP99)} over ${service.ledgerCommitCount}`
                : '…'}
            </span>
          </li>
          <li class="tile" data-testid="kpi-uptime">
            <span class="tile-label">Uptime</span>
            <span class="tile-value">{service ? formatDuration(service.uptimeSeconds) : '—'}</span>
            <span class="tile-note">{service ? `This API process, serving since ${formatDateTime(service.startedAt)}` : '…'}</span>
          </li>
          <li class="tile" data-testid="kpi-accuracy">
            <span class="tile-label">Reconciliation accuracy</span>
            <span class="tile-value">{formatPercent(rate?.automaticLineRate)}</span>
            <span class="tile-note">
              {rate
                ? `${rate.statementLinesMatchedAutomatically} of ${rate.statementLines} statement lines matched automatically` +
                  (rate.confirmedRate === null || rate.confirmedRate === undefined ? '' : `; ${formatPercent(rate.confirmedRate)} of automatic matches still stand`)
                : '…'}
            </span>
          </li>
        </ul>
      </Section>
      <Section title="Latest flag steps">
        {feedState.recentSteps.length === 0 ? <p class="muted">No flag has changed since you signed in.</p> : null}
        <ol class="steps" data-testid="recent-steps">
          {feedState.recentSteps.slice(0, 10).map((step) => (
            <li key={step.sequence}>
              <time dateTime={step.createdAt}>{formatDateTime(step.createdAt)}</time> {humanize(step.action)}: {humanize(step.flag.kind)} <StatusBadge status={step.statusTo} />
            </li>
          ))}
        </ol>
      </Section>
    </>
  );
}
