import { ErrorCode, errorCodeMeaning } from '../../common/errors';
import { Scope } from '../../modules/auth/scopes';
import { ReconciliationFlagAction, ReconciliationFlagResolution } from '../../modules/reconciliation/reconciliation-flags.events';
import { ReconciliationFlagKind, ReconciliationFlagStatus } from '../../modules/reconciliation/reconciliation.types';
import { WEBHOOK_EVENT_TYPES } from '../../modules/webhooks/webhook-rules';
import { restStatusOf } from './rest-problem';
import { EVENT_STREAM_PATH, FLAG_STREAM_PATH, STREAM_HEARTBEAT_MS, STREAM_RETRY_MS } from './rest-streams.routes';

/**
 * The OpenAPI description of the two Server-Sent Events operations (rest-streams.routes.ts). OpenAPI
 * 3.1 has no schema for the events of a text/event-stream, so the 200 response describes the format
 * in words and, as its schema, the sequence of events it carries, each event's `data` a component.
 */

const STREAM_ERRORS: readonly ErrorCode[] = [
  ErrorCode.VALIDATION_FAILED,
  ErrorCode.UNAUTHENTICATED,
  ErrorCode.FORBIDDEN,
  ErrorCode.NOT_FOUND,
  ErrorCode.RATE_LIMITED,
  ErrorCode.SERVICE_UNAVAILABLE,
  ErrorCode.INTERNAL_SERVER_ERROR,
];

const nullable = (schema: Record<string, unknown>) => ({ oneOf: [schema, { type: 'null' }] });

const SCHEMAS: Record<string, Record<string, unknown>> = {
  StreamReady: {
    type: 'object',
    description: 'The first event of every stream (`event: ready`): the position the stream starts from, also its `id`, so that a client that leaves before any other event resumes from there.',
    properties: { lastEventId: { type: 'string', description: 'A decimal position.' } },
    required: ['lastEventId'],
    additionalProperties: false,
  },
  ReconciliationFlagStreamEvent: {
    type: 'object',
    description: 'One step of a flag’s history, as reconciliationFlagUpdated delivers it over GraphQL. `sequence` is the event’s `id`.',
    properties: {
      sequence: { type: 'string', description: 'The tenant’s flag sequence number of this step (dense, in commit order).' },
      flagId: { type: 'string' },
      action: { type: 'string', enum: Object.values(ReconciliationFlagAction) },
      bankAccountId: nullable({ type: 'string' }),
      kind: { type: 'string', enum: Object.values(ReconciliationFlagKind) },
      statusFrom: nullable({ type: 'string', enum: Object.values(ReconciliationFlagStatus) }),
      statusTo: { type: 'string', enum: Object.values(ReconciliationFlagStatus) },
      occurrenceCount: { type: 'integer' },
      details: nullable({ type: 'object', additionalProperties: true }),
      actorCredentialId: nullable({ type: 'string' }),
      note: nullable({ type: 'string' }),
      resolution: nullable({ type: 'string', enum: Object.values(ReconciliationFlagResolution) }),
      journalEntryId: nullable({ type: 'string' }),
      createdAt: { type: 'string', format: 'date-time' },
    },
    required: ['sequence', 'flagId', 'action', 'bankAccountId', 'kind', 'statusFrom', 'statusTo', 'occurrenceCount', 'createdAt'],
    additionalProperties: false,
  },
  DomainStreamEvent: {
    type: 'object',
    description: 'A domain event: exactly the body a webhook endpoint receives for it (same `id`, `type` and `data`).',
    properties: {
      id: { type: 'string', description: 'The event’s id (evt_…), the same as in webhook deliveries.' },
      type: { type: 'string', enum: [...WEBHOOK_EVENT_TYPES] },
      timestamp: { type: 'string', format: 'date-time' },
      tenantId: { type: 'string' },
      data: { type: 'object', additionalProperties: true, description: 'What the event is about, as in the webhook payload of its type.' },
    },
    required: ['id', 'type', 'timestamp', 'tenantId', 'data'],
    additionalProperties: false,
  },
};

const LAST_EVENT_ID_PARAMETERS = [
  {
    name: 'Last-Event-ID',
    in: 'header',
    required: false,
    description:
      'Resume: the `id` of the last event received (EventSource sends it by itself on reconnecting). Every event after it is sent first, from the database, then live ones, with none lost or repeated. Without it the stream starts now.',
    schema: { type: 'string', pattern: '^[0-9]{1,15}$' },
  },
  {
    name: 'lastEventId',
    in: 'query',
    required: false,
    description: 'As the Last-Event-ID header, for clients that cannot set headers; the header wins when both are given.',
    schema: { type: 'string', pattern: '^[0-9]{1,15}$' },
  },
];

function format(events: string): string {
  return [
    `A text/event-stream that stays open. It starts with \`retry: ${STREAM_RETRY_MS}\` and an \`event: ready\` (data: StreamReady); then each event has \`event:\` (its name), \`id:\` (a decimal position in the tenant’s feed, increasing) and \`data:\` (one line of JSON). ${events}`,
    `A comment line (\`: heartbeat\`) every ${STREAM_HEARTBEAT_MS / 1000} s keeps proxies from closing a quiet stream. The server ends streams when it shuts down: reconnect (EventSource does) with Last-Event-ID and nothing is lost.`,
  ].join('\n\n');
}

function responsesOf(): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of STREAM_ERRORS) byStatus.set(restStatusOf(code), [...(byStatus.get(restStatusOf(code)) ?? []), code]);
  const responses: Record<string, unknown> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] =
      codes.length === 1
        ? { $ref: `#/components/responses/${codes[0]}` }
        : {
            description: codes.map((code) => `${code}: ${errorCodeMeaning(code)}`).join('\n\n'),
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          };
  }
  return responses;
}

/** One kind of event of a stream: its names, its id, and its data's schema. */
function eventItem(names: string[], schema: string): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      event: { type: 'string', enum: names },
      id: { type: 'string', pattern: '^[0-9]+$', description: 'The position; send it back as Last-Event-ID to resume after this event.' },
      data: { $ref: `#/components/schemas/${schema}` },
    },
    required: ['event', 'id', 'data'],
  };
}

function streamOperation(options: {
  operationId: string;
  summary: string;
  description: string;
  scopes: Scope[];
  parameters: unknown[];
  events: string;
  sseEvents: Record<string, string>;
  example: string;
}): Record<string, unknown> {
  return {
    get: {
      operationId: options.operationId,
      summary: options.summary,
      description: options.description,
      tags: ['Live streams'],
      security: [{ bearer: options.scopes }],
      'x-required-scopes': options.scopes,
      parameters: [...options.parameters, ...LAST_EVENT_ID_PARAMETERS],
      responses: {
        '200': {
          description: `${format(options.events)}\n\nFor example:\n\n\`\`\`\n${options.example}\`\`\``,
          headers: {
            'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
            'Cache-Control': { description: '`no-store`', schema: { type: 'string' } },
            'X-Accel-Buffering': { description: '`no`: tells nginx-like proxies not to buffer the stream.', schema: { type: 'string' } },
          },
          content: {
            'text/event-stream': {
              // OpenAPI 3.1 cannot say "a stream of events" (3.2's itemSchema can): the stream as the sequence of events it carries.
              schema: {
                type: 'array',
                description: 'The events of the stream, in order, each framed as text/event-stream fields (`event:`, `id:`, `data:` as one line of JSON), not as a JSON array.',
                items: {
                  oneOf: [
                    eventItem(['ready'], 'StreamReady'),
                    ...[...new Set(Object.values(options.sseEvents))].map((schema) => eventItem(Object.keys(options.sseEvents).filter((name) => options.sseEvents[name] === schema), schema)),
                  ],
                },
              },
              // The opening event every stream sends; the description shows a whole stream.
              example: [{ event: 'ready', id: '41', data: { lastEventId: '41' } }],
            },
          },
        },
        ...responsesOf(),
      },
    },
  };
}

/** The stream operations' path items, component schemas and tag, merged into the document by buildRestApi. */
export function streamApi(): { paths: Record<string, Record<string, unknown>>; schemas: Record<string, Record<string, unknown>>; tag: { name: string; description: string } } {
  const flagActions = Object.values(ReconciliationFlagAction).map((action) => `reconciliation_flag.${action.toLowerCase()}`);
  return {
    tag: { name: 'Live streams', description: 'Server-Sent Events: the live feeds of the GraphQL subscriptions, for clients that cannot hold a WebSocket.' },
    schemas: SCHEMAS,
    paths: {
      [`/v1${FLAG_STREAM_PATH}`]: streamOperation({
        operationId: 'streamReconciliationFlags',
        summary: 'Stream reconciliation flag steps (Server-Sent Events)',
        description:
          'Every step of the tenant’s reconciliation flags once committed — raised, recurred, reopened, acknowledged, resolved — in sequence order, across server processes: the feed of the GraphQL subscriptions reconciliationFlagUpdated (and, with raisedOnly=true, reconciliationFlagRaised).\n\nNeeds the scope `reconciliation:read` (or one that implies it).',
        scopes: [Scope.RECONCILIATION_READ],
        parameters: [
          { name: 'bankAccountId', in: 'query', required: false, description: 'Only this bank account’s flags (another tenant’s is 404).', schema: { type: 'string' } },
          { name: 'kind', in: 'query', required: false, description: 'Only flags of this kind.', schema: { type: 'string', enum: Object.values(ReconciliationFlagKind) } },
          { name: 'raisedOnly', in: 'query', required: false, description: 'Only steps that raise a flag (RAISED, REOPENED), as reconciliationFlagRaised.', schema: { type: 'boolean' } },
        ],
        events: `Event names: ${flagActions.map((name) => `\`${name}\``).join(', ')}; data: ReconciliationFlagStreamEvent.`,
        sseEvents: Object.fromEntries(flagActions.map((name) => [name, 'ReconciliationFlagStreamEvent'])),
        example:
          'retry: 3000\n\nevent: ready\nid: 41\ndata: {"lastEventId":"41"}\n\nevent: reconciliation_flag.raised\nid: 42\ndata: {"sequence":"42","flagId":"rfl_01JFZQ7Y0C3V6D8M2N4P5Q6R7S","action":"RAISED","bankAccountId":"bac_01JFZQ7Y0C3V6D8M2N4P5Q6R7T","kind":"UNMATCHED_STATEMENT_LINE","statusFrom":null,"statusTo":"OPEN","occurrenceCount":1,"details":{},"actorCredentialId":null,"note":null,"resolution":null,"journalEntryId":null,"createdAt":"2026-01-05T10:00:00.000Z"}\n\n: heartbeat\n\n',
      }),
      [`/v1${EVENT_STREAM_PATH}`]: streamOperation({
        operationId: 'streamEvents',
        summary: 'Stream the tenant’s domain events (Server-Sent Events)',
        description:
          'The tenant’s domain events — the ones webhooks deliver (journal_entry.posted, payment.captured, invoice.paid, reconciliation.flag_raised, …) — in the order they committed, across server processes. Positions are kept for resuming for 24 hours after the tenant’s last stream closed.\n\nScopes: each event needs its area’s read scope (journal_entry.* `ledger:read`, payment.* `payments:read`, invoice.* `invoices:read`, reconciliation.* `reconciliation:read`); the stream carries the areas the credential reads, and asking for a type it cannot read is 403.',
        scopes: [],
        parameters: [
          {
            name: 'types',
            in: 'query',
            required: false,
            description: 'Only these event types, comma-separated (the webhook event types). Without it: every type the credential may read.',
            schema: { type: 'string' },
            example: 'journal_entry.posted,payment.captured',
          },
        ],
        events: 'The event name is the event type (`journal_entry.posted`, …); data: DomainStreamEvent.',
        sseEvents: Object.fromEntries(WEBHOOK_EVENT_TYPES.map((type) => [type, 'DomainStreamEvent'])),
        example:
          'retry: 3000\n\nevent: ready\nid: 7\ndata: {"lastEventId":"7"}\n\nevent: journal_entry.posted\nid: 8\ndata: {"id":"evt_01JFZQ7Y0C3V6D8M2N4P5Q6R7S","type":"journal_entry.posted","timestamp":"2026-01-05T10:00:00.000Z","tenantId":"ten_01JFZQ7Y0C3V6D8M2N4P5Q6R7T","data":{"journalEntry":{"id":"je_01JFZQ7Y0C3V6D8M2N4P5Q6R7V"}}}\n\n',
      }),
    },
  };
}
