import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { echoOfInput } from '../../common/echo';
import { AppError, ErrorCode, validationError } from '../../common/errors';
import type { RequestContext } from '../../graphql/context';
import { allowsScope, insufficientScopeError, Scope } from '../../modules/auth/scopes';
import { openFlagFeed } from '../../modules/reconciliation/reconciliation-flag-feed';
import type { ReconciliationFlagEventRecord } from '../../modules/reconciliation/reconciliation-flags.events';
import { ReconciliationFlagKind } from '../../modules/reconciliation/reconciliation.types';
import { type StreamedEvent, scopeOfEventType } from '../../modules/webhooks/event-stream.service';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../modules/webhooks/webhook-rules';
import { expectedErrorOf } from '../rest-errors';
import { problemOfError, sendProblem } from './rest-problem';

/** How long an EventSource waits before it reconnects (the stream's `retry:` field). */
export const STREAM_RETRY_MS = 3000;
/**
 * A comment line this often keeps proxies and load balancers, which close connections idle for 30 to
 * 60 seconds, from ending a quiet stream, and lets the server notice a client that has gone.
 */
export const STREAM_HEARTBEAT_MS = 15_000;

const MAX_TIMER_MS = 2 ** 31 - 1;

export const FLAG_STREAM_PATH = '/reconciliation-flags/stream';
export const EVENT_STREAM_PATH = '/events/stream';
/** The scopes that read the areas events come from (scopeOfEventType). */
const EVENT_AREA_SCOPES = [Scope.LEDGER_READ, Scope.PAYMENTS_READ, Scope.INVOICES_READ, Scope.RECONCILIATION_READ];

export interface RestStreamsOptions {
  /** Authenticates as every /v1 operation does (credential, lockout, rate limit); `auditEntry` names the route. */
  authenticate(req: Request, requestId: string, auditEntry: string): Promise<RequestContext>;
  log: Logger;
  heartbeatMs?: number;
  /** Whether a principal's credential still holds (not revoked, not expired): asked every credentialCheckIntervalMs. */
  isStillValid(principal: RequestContext['principal']): Promise<boolean>;
  /** How often an open stream re-checks its credential (WS_CREDENTIAL_CHECK_INTERVAL_MS, as WebSockets do). */
  credentialCheckIntervalMs: number;
}

export interface RestStreams {
  router: express.Router;
  /** Streams open now; for tests and shutdown. */
  openCount(): number;
  /**
   * Ends every open stream and refuses new ones (503): a stream never ends by itself, so shutdown
   * ends them before it waits for the HTTP requests in flight. Clients reconnect elsewhere with
   * Last-Event-ID and lose nothing.
   */
  close(): Promise<void>;
}

/** The SSE `data` of a flag step: the step as stored (reconciliation_flag_events), sequence as a string. */
export function flagStreamDataOf(event: ReconciliationFlagEventRecord): Record<string, unknown> {
  return {
    sequence: String(event.sequence),
    flagId: event.flagId,
    action: event.action,
    bankAccountId: event.bankAccountId,
    kind: event.kind,
    statusFrom: event.statusFrom,
    statusTo: event.statusTo,
    occurrenceCount: event.occurrenceCount,
    details: event.details,
    actorCredentialId: event.actorCredentialId,
    note: event.note,
    resolution: event.resolution,
    journalEntryId: event.journalEntryId,
    createdAt: event.createdAt.toISOString(),
  };
}

/** The SSE event name of a flag step: `reconciliation_flag.raised`, `.recurred`, `.reopened`, `.acknowledged`, `.resolved`. */
export function flagStreamEventNameOf(event: ReconciliationFlagEventRecord): string {
  return `reconciliation_flag.${event.action.toLowerCase()}`;
}

/**
 * One open text/event-stream answer. Writes wait for the socket to drain (a slow client holds its own
 * stream back, not the process's memory); `closed` settles when the client leaves or the server ends
 * the stream, and every timer and listener goes with it.
 */
class EventStream {
  private ended = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly endedListeners: (() => void)[] = [];
  sent = 0;

  constructor(
    private readonly res: Response,
    heartbeatMs: number,
  ) {
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // nginx buffers proxied answers unless told not to; a buffered stream is no stream.
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), heartbeatMs);
    res.on('close', () => this.end());
    this.write(`retry: ${STREAM_RETRY_MS}\n\n`);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  onEnd(listener: () => void): void {
    if (this.ended) listener();
    else this.endedListeners.push(listener);
  }

  /** Sends one event (`json`: its data already as one line of JSON); resolves once the socket has taken it (or the stream has ended). */
  async send(name: string, id: string, data: unknown, json = JSON.stringify(data)): Promise<void> {
    const ok = this.write(`event: ${name}\nid: ${id}\ndata: ${json}\n\n`);
    this.sent += 1;
    if (!ok && !this.ended) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.res.off('drain', done);
          resolve();
        };
        this.res.on('drain', done);
        this.onEnd(done);
      });
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    if (!this.res.writableEnded) this.res.end();
    for (const listener of this.endedListeners.splice(0)) listener();
  }

  private write(text: string): boolean {
    if (this.ended || this.res.writableEnded) return true;
    return this.res.write(text);
  }
}

/** The query parameters a stream takes, each given at most once; anything else is VALIDATION_FAILED, as in every /v1 operation. */
function queryOf(req: Request, accepted: readonly string[]): Record<string, string> {
  const query = req.query as Record<string, unknown>;
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(query)) {
    if (!accepted.includes(name)) {
      throw validationError(`Unknown query parameter "${echoOfInput(name)}"; this operation takes ${accepted.join(', ')}`, { field: echoOfInput(name) });
    }
    if (typeof value !== 'string') throw validationError(`Give ${name} once`, { field: name });
    if (value !== '') values[name] = value;
  }
  return values;
}

/**
 * Where to resume: the Last-Event-ID header (EventSource sends it on every reconnect), or the
 * `lastEventId` query parameter for clients that cannot set headers on the first connection. Both
 * name a stream position: a decimal sequence number.
 */
function resumePositionOf(req: Request, query: Record<string, string>): number | null {
  const header = req.header('last-event-id');
  const raw = header !== undefined && header.trim() !== '' ? header.trim() : query.lastEventId;
  const field = header !== undefined && header.trim() !== '' ? 'Last-Event-ID' : 'lastEventId';
  if (raw === undefined) return null;
  if (!/^\d{1,15}$/.test(raw)) throw validationError(`${field} must be the id of an event this stream sent (a decimal number); got "${echoOfInput(raw)}"`, { field });
  return Number(raw);
}

function booleanOf(name: string, raw: string | undefined): boolean {
  if (raw === undefined) return false;
  if (raw !== 'true' && raw !== 'false') throw validationError(`${name} must be true or false; got "${echoOfInput(raw)}"`, { field: name });
  return raw === 'true';
}

/**
 * Server-Sent Events under /v1, for clients behind proxies that cannot hold a WebSocket: the same
 * feeds as the GraphQL subscriptions, from the same services, tenant-scoped and scope-checked.
 * Each event's `id` is a durable position in the tenant's feed, so a reconnect with Last-Event-ID
 * first replays from the database everything after it, then continues live, with nothing lost or
 * repeated (README, REST: live streams).
 */
export function restStreamRoutes(options: RestStreamsOptions): RestStreams {
  const { log } = options;
  const heartbeatMs = options.heartbeatMs ?? STREAM_HEARTBEAT_MS;
  const open = new Set<EventStream>();
  let closing = false;
  const router = express.Router({ caseSensitive: true, strict: false });
  // Before the GET routes, which Express would otherwise run for HEAD: a HEAD would hold open a stream that sends nothing.
  for (const path of [FLAG_STREAM_PATH, EVENT_STREAM_PATH]) {
    router.head(path, (_req, res) => {
      res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' }).end();
    });
  }

  /** Authenticates, checks the scope, opens the feed (all of which may refuse with a problem), then pumps it into the stream. */
  const serve =
    <T>(
      path: string,
      /** The scope the stream needs; null: `start` decides (the events stream serves each area its scope reads). */
      scope: Scope | null,
      start: (req: Request, context: RequestContext) => Promise<{ ready: { id: string }; feed: AsyncIterableIterator<T>; eventOf(value: T): { name: string; id: string; data?: unknown; json?: string } }>,
    ) =>
    async (req: Request, res: Response) => {
      const requestId = String(res.locals.requestId);
      let context: RequestContext;
      let opened: Awaited<ReturnType<typeof start>>;
      try {
        if (closing) throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'This server is shutting down; reconnect (with Last-Event-ID) to another one');
        context = await options.authenticate(req, requestId, `GET /v1${path}`);
        if (scope && !allowsScope(context.principal.scopes, scope)) throw insufficientScopeError(scope);
        opened = await start(req, context);
      } catch (error) {
        const expected = expectedErrorOf(error);
        if (expected) sendProblem(req, res, problemOfError(expected));
        else {
          log.error({ err: error, requestId, path }, 'opening an event stream failed unexpectedly');
          sendProblem(req, res, { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'Internal server error' });
        }
        return;
      }
      const { feed, eventOf } = opened;
      const { tenantId, credentialId } = context.principal;
      if (req.socket.destroyed) {
        await feed.return?.();
        return;
      }
      const stream = new EventStream(res, heartbeatMs);
      open.add(stream);
      log.info({ requestId, tenantId, credentialId, path, from: opened.ready.id }, 'event stream opened');
      // A credential with an end (a token, an expiring key) is not served past it. Node fires a timer of
      // more than 2^31-1 ms at once, so a far end ends the stream after about 24 days instead (the client reconnects).
      const expiresAt = context.principal.expiresAt;
      const expiry = expiresAt ? setTimeout(() => stream.end(), Math.min(MAX_TIMER_MS, Math.max(0, expiresAt.getTime() - Date.now()))) : null;
      // A revoked credential is not served either: re-checked as an open WebSocket's is. An unreadable
      // database is no revocation; the next check decides.
      let revoked = false;
      let checking = false;
      const credentialCheck = setInterval(() => {
        if (checking) return;
        checking = true;
        options
          .isStillValid(context.principal)
          .then((valid) => {
            if (valid) return;
            revoked = true;
            stream.end();
          })
          .catch((error: unknown) => log.warn({ err: error, requestId, credentialId }, 'could not recheck an event stream’s credential'))
          .finally(() => {
            checking = false;
          });
      }, options.credentialCheckIntervalMs);
      credentialCheck.unref();
      // A feed waiting for its next event is released at once when the stream ends.
      stream.onEnd(() => {
        if (expiry) clearTimeout(expiry);
        clearInterval(credentialCheck);
        void feed.return?.();
      });
      let reason = 'client closed';
      try {
        // The position this stream starts from, so that a client that leaves before any event resumes from here.
        await stream.send('ready', opened.ready.id, { lastEventId: opened.ready.id });
        while (!stream.isEnded) {
          const result = await feed.next();
          if (result.done || stream.isEnded) break;
          const event = eventOf(result.value);
          await stream.send(event.name, event.id, event.data, event.json);
        }
        if (closing) reason = 'server shutting down';
        else if (revoked) reason = 'credential revoked or expired';
      } catch (error) {
        // Past the headers a failure can only end the stream; the client reconnects with Last-Event-ID.
        reason = 'failed';
        log.warn({ err: error, requestId, tenantId, path }, 'event stream ended by an error');
      } finally {
        stream.end();
        open.delete(stream);
        log.info({ requestId, tenantId, credentialId, path, eventsSent: Math.max(0, stream.sent - 1), reason }, 'event stream closed');
      }
    };

  router.get(
    FLAG_STREAM_PATH,
    serve<ReconciliationFlagEventRecord>(FLAG_STREAM_PATH, Scope.RECONCILIATION_READ, async (req, context) => {
      const query = queryOf(req, ['bankAccountId', 'kind', 'raisedOnly', 'lastEventId']);
      const { tenantId } = context.principal;
      const services = context.services;
      if (query.kind !== undefined && !Object.values(ReconciliationFlagKind).includes(query.kind as ReconciliationFlagKind)) {
        throw validationError(`kind must be one of ${Object.values(ReconciliationFlagKind).join(', ')}; got "${echoOfInput(query.kind)}"`, { field: 'kind' });
      }
      const raisingOnly = booleanOf('raisedOnly', query.raisedOnly);
      // Another tenant's bank account is NOT_FOUND, as over GraphQL.
      if (query.bankAccountId) await services.reconciliation.getBankAccount(tenantId, query.bankAccountId, 'bankAccountId');
      const resumeAfter = resumePositionOf(req, query);
      // Without Last-Event-ID the stream starts at the tenant's position now, which the ready event names.
      const since = resumeAfter ?? (await services.reconciliationFlags.lastSequence(tenantId));
      let feed: AsyncIterableIterator<ReconciliationFlagEventRecord>;
      try {
        feed = await openFlagFeed(services.pubSub, services.reconciliationFlags, tenantId, {
          since,
          filter: { bankAccountId: query.bankAccountId ?? null, kind: (query.kind as ReconciliationFlagKind | undefined) ?? null, raisingOnly },
        });
      } catch (error) {
        if (error instanceof AppError && error.details.field === 'since') {
          throw validationError(`Last-Event-ID ${since} is past this tenant's flag feed (it has reached ${String(error.details.lastSequence)}): give the id of an event this stream sent`, {
            field: req.header('last-event-id') ? 'Last-Event-ID' : 'lastEventId',
            lastEventId: String(error.details.lastSequence),
          });
        }
        throw error;
      }
      return {
        ready: { id: String(since) },
        feed,
        eventOf: (event) => ({ name: flagStreamEventNameOf(event), id: String(event.sequence), data: flagStreamDataOf(event) }),
      };
    }),
  );

  router.get(
    EVENT_STREAM_PATH,
    serve<StreamedEvent>(EVENT_STREAM_PATH, null, async (req, context) => {
      const query = queryOf(req, ['types', 'lastEventId']);
      const { tenantId, scopes } = context.principal;
      const readable = WEBHOOK_EVENT_TYPES.filter((type) => allowsScope(scopes, scopeOfEventType(type)));
      let types: string[];
      if (query.types !== undefined) {
        types = [...new Set(query.types.split(','))];
        const unknown = types.filter((type) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type));
        if (unknown.length) {
          throw validationError(`types has unknown event types: ${unknown.slice(0, 5).map(echoOfInput).join(', ')}; the types are those of webhooks`, {
            field: 'types',
            allowed: [...WEBHOOK_EVENT_TYPES],
          });
        }
        const unreadable = types.find((type) => !readable.includes(type as WebhookEventType));
        if (unreadable) throw insufficientScopeError(scopeOfEventType(unreadable));
      } else {
        types = readable;
        if (types.length === 0) {
          throw new AppError(ErrorCode.FORBIDDEN, 'This credential reads none of the areas events come from: it needs ledger:read, payments:read, invoices:read or reconciliation:read', {
            requiredScope: EVENT_AREA_SCOPES.join(' '),
          });
        }
      }
      const resumeAfter = resumePositionOf(req, query);
      const { from, feed } = await context.services.eventStream.openFeed(tenantId, resumeAfter, types.length === WEBHOOK_EVENT_TYPES.length ? null : types);
      return {
        ready: { id: String(from) },
        feed,
        eventOf: (event) => ({ name: event.type, id: String(event.sequence), json: event.payload }),
      };
    }),
  );

  // Methods other than GET and HEAD are 405.
  for (const path of [FLAG_STREAM_PATH, EVENT_STREAM_PATH]) {
    router.all(path, (req, res) => {
      sendProblem(
        req,
        res,
        { code: ErrorCode.VALIDATION_FAILED, message: `${req.method} is not an operation of ${req.baseUrl}${req.path}; it takes GET, HEAD`, details: { field: 'method' } },
        { status: 405, headers: { Allow: 'GET, HEAD' } },
      );
    });
  }

  return {
    router,
    openCount: () => open.size,
    close: async () => {
      closing = true;
      for (const stream of [...open]) stream.end();
    },
  };
}
