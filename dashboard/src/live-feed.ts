import type { Client as SubscriptionClient } from 'graphql-ws';
import { DashboardFlagFeedDocument, type DashboardFlagFeedSubscription, DashboardFlagsDocument, type DashboardFlagFragment } from './generated';
import type { Session } from './session';

export type Flag = DashboardFlagFragment;
export type FlagStep = DashboardFlagFeedSubscription['reconciliationFlagUpdated'];
export type FeedConnection = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface FeedState {
  /** Flags by id: those unresolved at sign-in, and every flag a step has touched since. */
  flags: ReadonlyMap<string, Flag>;
  /** The steps received live, newest first (bounded). */
  recentSteps: readonly FlagStep[];
  connection: FeedConnection;
  /** The sequence number of the last step applied; the feed resumes after it. */
  lastSequence: string;
  error: string | null;
}

const RECENT_STEPS_KEPT = 50;
/** Unresolved flags read at sign-in, per status: enough for a screen; the Flags list pages through the rest. */
const SNAPSHOT_SIZE = 100;

const later = (a: string, b: string) => BigInt(a) > BigInt(b);

/**
 * The reconciliation flag feed of a session, whatever view is open. It reads the newest sequence
 * number, then the unresolved flags, then subscribes to reconciliationFlagUpdated `since` that number:
 * a step committed between the reads is replayed, never missed. After a dropped WebSocket it
 * subscribes again from the last step it applied, so the steps raised meanwhile arrive from the
 * database; a step seen twice (replay and snapshot overlap) is ignored by its sequence number.
 */
export class LiveFeed {
  private state: FeedState = { flags: new Map(), recentSteps: [], connection: 'connecting', lastSequence: '0', error: null };
  private readonly listeners = new Set<(state: FeedState) => void>();
  private unsubscribe: (() => void) | null = null;
  private readonly offConnected: () => void;
  private readonly offClosed: () => void;
  private stopped = false;

  constructor(private readonly session: Session) {
    const subscriptions: SubscriptionClient = session.subscriptions;
    this.offConnected = subscriptions.on('connected', (_socket, _payload, wasRetry) => {
      this.update({ connection: 'live', error: null });
      if (wasRetry) this.subscribe();
    });
    this.offClosed = subscriptions.on('closed', () => {
      if (!this.stopped) this.update({ connection: 'reconnecting' });
    });
  }

  async start(): Promise<void> {
    try {
      const client = this.session.client;
      const newest = await client.request(DashboardFlagsDocument, { last: 1 });
      const since = newest.data.reconciliationFlags?.edges[0]?.node.sequence ?? '0';
      const [open, acknowledged] = await Promise.all(
        (['OPEN', 'ACKNOWLEDGED'] as const).map((status) => client.request(DashboardFlagsDocument, { filter: { status }, last: SNAPSHOT_SIZE })),
      );
      const flags = new Map(this.state.flags);
      for (const edge of [...(open.data.reconciliationFlags?.edges ?? []), ...(acknowledged.data.reconciliationFlags?.edges ?? [])]) {
        const known = flags.get(edge.node.id);
        if (!known || later(edge.node.sequence, known.sequence)) flags.set(edge.node.id, edge.node);
      }
      this.update({ flags, lastSequence: later(this.state.lastSequence, since) ? this.state.lastSequence : since });
      this.subscribe();
    } catch (error) {
      this.update({ connection: 'stopped', error: error instanceof Error ? error.message : String(error) });
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.offConnected();
    this.offClosed();
    this.update({ connection: 'stopped' });
  }

  /** Applies a flag a mutation of this page returned, without waiting for its step to come round. */
  applyFlag(flag: Flag): void {
    const known = this.state.flags.get(flag.id);
    if (known && !later(flag.sequence, known.sequence)) return;
    const flags = new Map(this.state.flags);
    flags.set(flag.id, flag);
    this.update({ flags });
  }

  current(): FeedState {
    return this.state;
  }

  listen(listener: (state: FeedState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private subscribe(): void {
    if (this.stopped) return;
    this.unsubscribe?.();
    this.unsubscribe = this.session.subscriptions.subscribe<DashboardFlagFeedSubscription>(
      { query: DashboardFlagFeedDocument.toString(), variables: { since: this.state.lastSequence } },
      {
        next: (result) => {
          if (result.data) this.applyStep(result.data.reconciliationFlagUpdated);
          else if (result.errors?.length) this.update({ error: result.errors.map((error) => error.message).join('; ') });
        },
        error: (error) => {
          // The client retries the socket itself; a refusal of the subscription (scope) lands here.
          const message = Array.isArray(error) ? error.map((item: { message: string }) => item.message).join('; ') : error instanceof Error ? error.message : 'The live feed stopped.';
          this.update({ error: message });
        },
        complete: () => undefined,
      },
    );
  }

  private applyStep(step: FlagStep): void {
    if (!later(step.sequence, this.state.lastSequence)) return;
    const flags = new Map(this.state.flags);
    const known = flags.get(step.flag.id);
    if (!known || !later(known.sequence, step.flag.sequence)) flags.set(step.flag.id, step.flag);
    this.update({
      flags,
      lastSequence: step.sequence,
      recentSteps: [step, ...this.state.recentSteps].slice(0, RECENT_STEPS_KEPT),
      connection: 'live',
      error: null,
    });
  }

  private update(change: Partial<FeedState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener(this.state);
  }
}
