import { getNamedType, GraphQLNonNull, type GraphQLObjectType, type GraphQLSchema, isListType, isNonNullType } from 'graphql';
import { ErrorCode, errorCodeMeaning, errorCodeTraits } from '../../common/errors';
import { pageSizesOf } from '../../graphql/common.objects';
import { scopeToReadNodeType } from '../graphql/node.resolver';
import { ROOT_FIELD_SCOPES } from '../permissions';
import { ExampleBuilder } from './rest-examples';
import { type JsonSchema, ref, RestSchemas } from './rest-representation';
import { planOperation, type RestPlan } from './rest-plan';
import { restStatusOf, titleOf } from './rest-problem';
import { REST_OPERATIONS, REST_TAG_DESCRIPTIONS } from './rest-operations';
import { streamApi } from './rest-streams.openapi';
import type { RestOperation } from './rest-operation';

/** The OpenAPI document and the plans it describes: built once per process from the schema. */
export interface RestApi {
  plans: RestPlan[];
  document: Record<string, unknown>;
}

/** Every operation may answer these; each operation adds its own (RestOperation.errors). */
const SHARED_ERRORS: readonly ErrorCode[] = [
  ErrorCode.VALIDATION_FAILED,
  ErrorCode.UNAUTHENTICATED,
  ErrorCode.FORBIDDEN,
  ErrorCode.RATE_LIMITED,
  ErrorCode.SERVICE_UNAVAILABLE,
  ErrorCode.STATEMENT_TIMEOUT,
  ErrorCode.INTERNAL_SERVER_ERROR,
];
const WRITE_ERRORS: readonly ErrorCode[] = [ErrorCode.IDEMPOTENCY_KEY_REUSED, ErrorCode.IDEMPOTENCY_KEY_IN_USE, ErrorCode.QUERY_TOO_LARGE];

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

const PROBLEM_SCHEMA: JsonSchema = {
  type: 'object',
  description:
    'An error, as RFC 9457 problem details: `code` is the stable machine code (the same as GraphQL’s extensions.code), `retryable` says whether the same request may succeed later, `requestId` finds it in the logs.',
  properties: {
    type: { type: 'string', description: 'urn:reckon:error:<code>' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'What went wrong and what to do next.' },
    instance: { type: 'string', description: 'The request’s path.' },
    code: { $ref: '#/components/schemas/ErrorCode' },
    retryable: { type: 'boolean' },
    details: { type: 'object', additionalProperties: true, description: 'Facts about the error (`field` names a refused input).' },
    requestId: { type: 'string' },
  },
  required: ['type', 'title', 'status', 'detail', 'code', 'retryable', 'requestId'],
  additionalProperties: false,
};

const PAGING_PARAMETERS = [
  {
    name: 'limit',
    in: 'query',
    required: false,
    description: 'How many items a page holds (1 to the list’s maximum).',
    schema: { type: 'integer', minimum: 1 },
  },
  {
    name: 'starting_after',
    in: 'query',
    required: false,
    description: 'A cursor (nextCursor of the page before): the page after it. Not with ending_before.',
    schema: { type: 'string' },
  },
  {
    name: 'ending_before',
    in: 'query',
    required: false,
    description: 'A cursor (previousCursor of the page after): the page before it. Not with starting_after.',
    schema: { type: 'string' },
  },
];

function errorResponse(code: ErrorCode): Record<string, unknown> {
  return { $ref: `#/components/responses/${code}` };
}

/** The problem an error code answers, as the example of its response. */
function problemExampleOf(code: ErrorCode): Record<string, unknown> {
  return {
    summary: `${code}: ${titleOf(code)}`,
    value: {
      type: `urn:reckon:error:${code}`,
      title: titleOf(code),
      status: restStatusOf(code),
      detail: errorCodeMeaning(code),
      code,
      retryable: errorCodeTraits(code).retryable,
      requestId: 'req_01JFZQ7Y0C3V6D8M2N4P5Q6R7S',
    },
  };
}

const exampleRefOf = (code: ErrorCode) => ({ $ref: `#/components/examples/${code}` });

function scopesOf(operation: RestOperation): string[] {
  if (operation.as) {
    // node(id:) lets any credential ask, and checks the kind's own scope per id.
    const scope = scopeToReadNodeType(operation.as);
    if (scope === undefined) throw new Error(`${operation.operationId}: ${operation.as} is not a node type`);
    return scope === null ? [] : [scope];
  }
  const scopes = ROOT_FIELD_SCOPES[operation.method === 'get' ? 'Query' : 'Mutation'][operation.field as never] as readonly string[] | 'authenticated' | undefined;
  if (scopes === undefined) throw new Error(`${operation.operationId}: ${operation.field} has no permission rule`);
  return scopes === 'authenticated' ? [] : [...scopes];
}

/** The largest page of a paged operation's list, as its connection allows. */
function pageSizeOf(plan: RestPlan, schema: GraphQLSchema): { defaultSize: number; maxSize: number } | undefined {
  const { operation } = plan;
  if (!operation.paged) return undefined;
  let parent = (operation.method === 'get' ? schema.getQueryType() : schema.getMutationType()) as GraphQLObjectType;
  let field = operation.field;
  for (const step of [...(operation.through ? [operation.through] : []), ...operation.paged]) {
    parent = getNamedType(parent.getFields()[field].type) as GraphQLObjectType;
    field = step;
  }
  return pageSizesOf(parent.name, field);
}

/**
 * The schema of a path or query parameter's argument: never null (a parameter is given or left out),
 * and a list as comma-separated values (`style: form, explode: false`, which the handler splits).
 */
function parameterSchemaOf(schemas: RestSchemas, type: Parameters<RestSchemas['inputValue']>[0]): JsonSchema {
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return { type: 'array', items: schemas.inputValue(inner.ofType) };
  return schemas.inputValue(new GraphQLNonNull(inner));
}

function operationObject(plan: RestPlan, schemas: RestSchemas, schema: GraphQLSchema, examples: ExampleBuilder): Record<string, unknown> {
  const { operation } = plan;
  const scopes = scopesOf(operation);
  const codes = [...SHARED_ERRORS, ...(plan.kind === 'mutation' ? WRITE_ERRORS : []), ...(operation.errors ?? [])];
  // A path names an object, and so may a body (an invoice's customerId, a payout's gatewayId): either may not exist.
  if (operation.method === 'get' || operation.params || plan.bodySchema) codes.push(ErrorCode.NOT_FOUND);
  if (plan.takesIfMatch) codes.push(ErrorCode.PRECONDITION_FAILED);
  const responses: Record<string, unknown> = {};
  const success = operation.created ? '201' : '200';
  const headers: Record<string, unknown> = { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } };
  if (operation.created) headers.Location = { description: 'The created object’s path.', schema: { type: 'string' } };
  if (plan.kind === 'mutation') headers['Idempotent-Replayed'] = { $ref: '#/components/headers/Idempotent-Replayed' };
  if (operation.paged) headers.Link = { $ref: '#/components/headers/Link' };
  if (operation.version) headers.ETag = { $ref: '#/components/headers/ETag' };
  responses[success] = {
    description: operation.created ? 'Created.' : 'OK.',
    headers,
    content: { 'application/json': { schema: plan.responseSchema, example: examples.of(plan.responseSchema) } },
  };
  if (operation.version && plan.kind === 'query') {
    responses['304'] = {
      description: 'Not Modified: If-None-Match names the object’s current ETag, so the copy you hold is current. No body.',
      headers: { ETag: { $ref: '#/components/headers/ETag' }, 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } },
    };
  }
  // One response per status; where several codes share one, the status's response lists them all.
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) byStatus.set(restStatusOf(code), [...(byStatus.get(restStatusOf(code)) ?? []), code]);
  for (const [status, statusCodes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] =
      statusCodes.length === 1
        ? errorResponse(statusCodes[0])
        : {
            description: statusCodes.map((code) => `${code}: ${errorCodeMeaning(code)}`).join('\n\n'),
            content: {
              [PROBLEM_MEDIA_TYPE]: {
                schema: { $ref: '#/components/schemas/Problem' },
                examples: Object.fromEntries(statusCodes.map((code) => [code, exampleRefOf(code)])),
              },
            },
          };
  }
  const parameters: unknown[] = plan.pathParameters.map((parameter) => {
    const idExample = ExampleBuilder.idExampleOf(parameter.name);
    const description = parameter.description ?? ExampleBuilder.idDescriptionOf(parameter.name);
    return {
      name: parameter.name,
      in: 'path',
      required: true,
      ...(description ? { description } : {}),
      schema: parameterSchemaOf(schemas, parameter.type),
      ...(idExample ? { example: idExample } : {}),
    };
  });
  for (const parameter of plan.queryParameters) {
    const parameterSchema = parameterSchemaOf(schemas, parameter.type);
    parameters.push({
      name: parameter.name,
      in: 'query',
      required: isNonNullType(parameter.type),
      ...(parameter.description ? { description: parameter.description } : {}),
      schema: parameterSchema,
      ...(parameterSchema.type === 'array' ? { style: 'form', explode: false } : {}),
    });
  }
  if (operation.paged) {
    const sizes = pageSizeOf(plan, schema);
    parameters.push(...PAGING_PARAMETERS.map((parameter) =>
      parameter.name === 'limit' && sizes
        ? { ...parameter, description: `How many items a page holds: 1 to ${sizes.maxSize}, ${sizes.defaultSize} when not given.`, schema: { type: 'integer', minimum: 1, maximum: sizes.maxSize } }
        : parameter,
    ));
  }
  if (plan.kind === 'mutation') parameters.push({ $ref: '#/components/parameters/IdempotencyKey' });
  if (plan.takesIfMatch) parameters.push({ $ref: '#/components/parameters/IfMatch' });
  if (operation.version && plan.kind === 'query') parameters.push({ $ref: '#/components/parameters/IfNoneMatch' });
  const description = [
    operation.description,
    scopes.length ? `Needs the scope ${scopes.map((scope) => `\`${scope}\``).join(' and ')} (or one that implies it).` : 'Any valid credential.',
    `GraphQL: \`${operation.field}\`${operation.through ? ` (its \`${operation.through}\`)` : ''}; the same rules, errors and idempotency records.`,
  ].filter(Boolean).join('\n\n');
  return {
    operationId: operation.operationId,
    summary: operation.summary,
    description,
    tags: [operation.tag],
    security: [{ bearer: scopes }],
    'x-required-scopes': scopes,
    ...(parameters.length ? { parameters } : {}),
    ...(plan.bodySchema
      ? {
          requestBody: {
            required: !plan.bodyOptional,
            content: {
              'application/json': {
                schema: ref(plan.bodySchema),
                // An operation without an example of its own shows the smallest valid body.
                example: operation.example ?? examples.of(ref(plan.bodySchema), { requiredOnly: true }),
              },
            },
          },
        }
      : {}),
    responses,
  };
}

/** The OpenAPI path of an operation: /v1 and the table's path. */
export function openApiPathOf(operation: RestOperation): string {
  return `/v1${operation.path}`;
}

/** Builds every plan and the OpenAPI 3.1 document from the schema; throws at start-up on a bad table. */
export function buildRestApi(schema: GraphQLSchema, operations: readonly RestOperation[] = REST_OPERATIONS): RestApi {
  const schemas = new RestSchemas(schema);
  const plans: RestPlan[] = [];
  const seen = new Set<string>();
  for (const operation of operations) {
    const key = `${operation.method} ${operation.path}`;
    if (seen.has(operation.operationId) || seen.has(key)) throw new Error(`REST operation ${operation.operationId} (${key}) is not unique`);
    seen.add(operation.operationId).add(key);
    const plan = planOperation(operation, schema, schemas);
    plan.pageSize = pageSizeOf(plan, schema);
    plans.push(plan);
  }
  const paths: Record<string, Record<string, unknown>> = {};
  const examples = new ExampleBuilder(schemas.components);
  for (const plan of plans) {
    const path = openApiPathOf(plan.operation);
    paths[path] = { ...paths[path], [plan.operation.method]: operationObject(plan, schemas, schema, examples) };
  }
  paths[`/v1/invoices/{invoiceId}/pdf`] = { get: invoicePdfOperation() };
  // The Server-Sent Events operations are not GraphQL plans: their own description (rest-streams.openapi.ts).
  const streams = streamApi();
  Object.assign(paths, streams.paths);
  Object.assign(schemas.components, streams.schemas);
  schemas.components.ErrorCode = { type: 'string', enum: Object.values(ErrorCode), description: 'Stable machine codes; see the README’s error table.' };
  schemas.components.Problem = PROBLEM_SCHEMA;
  const responses: Record<string, unknown> = {};
  const problemExamples: Record<string, unknown> = {};
  for (const code of Object.values(ErrorCode)) {
    problemExamples[code] = problemExampleOf(code);
    responses[code] = {
      description: `${code}: ${errorCodeMeaning(code)}`,
      content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: '#/components/schemas/Problem' }, examples: { [code]: exampleRefOf(code) } } },
    };
  }
  const tags = [
    ...[...new Set(plans.map((plan) => plan.operation.tag))].map((name) => ({
      name,
      ...(REST_TAG_DESCRIPTIONS[name] ? { description: REST_TAG_DESCRIPTIONS[name] } : {}),
    })),
    streams.tag,
  ];
  const document = {
    openapi: '3.1.0',
    info: {
      title: 'Reckon REST API',
      version: '1.0.0',
      summary: 'Payments, double-entry ledger, invoices and bank reconciliation over plain HTTP and JSON.',
      description:
        'The same operations as Reckon’s GraphQL API at /graphql, over the same services: the same credentials and scopes, tenant isolation, rate limits and idempotency records. Money is `{ "amount": "12.34", "currency": "USD" }` (a decimal string, never a float). Every POST and PATCH takes an `Idempotency-Key` header. Errors are RFC 9457 problem details carrying the stable `code`. Lists page with `limit`, `starting_after` and `ending_before`, and a `Link` header. Live feeds: `GET /v1/reconciliation-flags/stream` and `GET /v1/events/stream` (Server-Sent Events).',
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/', description: 'This server' }],
    security: [{ bearer: [] }],
    tags,
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (rk_live_…) or an OAuth access token from POST /oauth/token. Each operation names the scope it needs.',
        },
      },
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Makes the request safe to retry: the same key with the same body answers the first response again (Idempotent-Replayed: true); with another body it is 422 IDEMPOTENCY_KEY_REUSED; while the first is still running it is 409 IDEMPOTENCY_KEY_IN_USE (retry). Keys are scoped to the credential and the operation and kept for IDEMPOTENCY_TTL.',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
        },
        IfMatch: {
          name: 'If-Match',
          in: 'header',
          required: false,
          description:
            'The ETag the object had when you read it (such as "3"): the change is made only if it still has it; otherwise 412 PRECONDITION_FAILED, `details.currentVersion` names the current version, and nothing changes: read it again. A tag that is no version of ours is 412 too. Without If-Match (or with `*`) the change applies to whatever is stored: the last write wins.',
          schema: { type: 'string', examples: ['"3"'] },
        },
        IfNoneMatch: {
          name: 'If-None-Match',
          in: 'header',
          required: false,
          description: 'The ETag of the copy you hold: 304 Not Modified, without a body, while the object still has it.',
          schema: { type: 'string', examples: ['"3"'] },
        },
      },
      headers: {
        'X-Request-Id': { description: 'The request’s id, in every log line about it.', schema: { type: 'string' } },
        'Idempotent-Replayed': { description: '"true" when this is the stored answer of an earlier request with the same Idempotency-Key.', schema: { type: 'string', enum: ['true'] } },
        Link: { description: 'RFC 8288 links to the next and previous pages (rel="next", rel="prev").', schema: { type: 'string' } },
        ETag: {
          description:
            'The object’s version as a strong entity tag, such as "3": it changes with every change of what the object shows. Send it as If-Match to change the object only if nobody has since, or as If-None-Match to read it only if it has changed.',
          schema: { type: 'string', pattern: '^"[0-9]+"$', examples: ['"3"'] },
        },
      },
      responses,
      examples: problemExamples,
      schemas: schemas.components,
    },
  };
  return { plans, document: withoutUnusedComponents(document) };
}

/**
 * The document without the components nothing in it refers to: every error code's response and
 * example exists to be referred to, but an operation uses only its own, and a paged response's
 * `…Page` schema replaces its object's own (AccountStatement, TrialBalance). Security schemes are
 * named by security requirements, not referred to, and stay.
 */
function withoutUnusedComponents<T extends { components: Record<string, Record<string, unknown>> }>(document: T): T {
  const used = new Set<string>();
  const pending: unknown[] = [{ ...document, components: { securitySchemes: document.components.securitySchemes } }];
  while (pending.length) {
    const value = pending.pop();
    if (Array.isArray(value)) pending.push(...value);
    else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/') && !used.has(inner)) {
          used.add(inner);
          const [, , section, name] = inner.split('/');
          pending.push(document.components[section]?.[name]);
        } else pending.push(inner);
      }
    }
  }
  const components: Record<string, Record<string, unknown>> = {};
  for (const [section, entries] of Object.entries(document.components)) {
    components[section] =
      section === 'securitySchemes' ? entries : Object.fromEntries(Object.entries(entries).filter(([name]) => used.has(`#/components/${section}/${name}`)));
  }
  return { ...document, components };
}

/** GET /v1/invoices/{invoiceId}/pdf: the one operation that answers a file rather than JSON. */
function invoicePdfOperation(): Record<string, unknown> {
  const codes = [...SHARED_ERRORS, ErrorCode.NOT_FOUND];
  const responses: Record<string, unknown> = {
    '200': {
      description: 'The invoice as a PDF (a DRAFT is marked as one). Cache-Control: private, no-store: it holds the customer’s details.',
      headers: { 'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' } },
      content: { 'application/pdf': { schema: { type: 'string', contentMediaType: 'application/pdf' }, example: '%PDF-1.3 … (the invoice, one or more A4 pages)' } },
    },
  };
  for (const code of codes) responses[String(restStatusOf(code))] ??= errorResponse(code);
  return {
    operationId: 'getInvoicePdf',
    summary: 'Get an invoice as a PDF',
    description: 'Needs the scope `invoices:read` (or one that implies it).',
    tags: ['Invoices'],
    security: [{ bearer: ['invoices:read'] }],
    'x-required-scopes': ['invoices:read'],
    parameters: [{ name: 'invoiceId', in: 'path', required: true, description: 'The invoice (inv_…).', schema: { type: 'string' } }],
    responses,
  };
}
