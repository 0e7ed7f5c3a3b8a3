import { ErrorNotice, Section, StatusBadge } from '../components';
import { formatDateTime, formatPercent, humanize } from '../format';
import { DashboardAccuracyDocument } from '../generated';
import type { LiveFeed } from '../live-feed';
import type { Session } from '../session';
import { useFeed } from '../use-feed';
import { useQuery } from '../use-query';

/** KPI tiles from the API's own figures, and the latest flag steps of the live feed. */
export function OverviewView({ session, feed }: { session: Session; feed: LiveFeed }) {
  const accuracy = useQuery(session, DashboardAccuracyDocument, {});
  const feedState = useFeed(feed);
  const rate = accuracy.data?.reconciliationAccuracy;
  return (
    <>
      <Section title="Key figures">
        {accuracy.error ? <ErrorNotice error={accuracy.error} onRetry={accuracy.reload} /> : null}
        <ul class="tiles">
          <li class="tile" data-testid="kpi-accuracy">
            <span class="tile-label">Reconciliation accuracy</span>
            <span class="tile-value">{formatPercent(rate?.automaticLineRate)}</span>
            <span class="tile-note">
              {rate ? `${rate.statementLinesMatchedAutomatically} of ${rate.statementLines} statement lines matched automatically; ${formatPercent(rate.confirmedRate)} of automatic matches still stand` : '…'}
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
