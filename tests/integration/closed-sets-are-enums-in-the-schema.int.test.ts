import { ErrorCode, errorCodeTraits, REQUEST_ERROR_CODES } from '../../src/common/errors';
import { Scope } from '../../src/modules/auth/scopes';
import { DeclineCode } from '../../src/modules/payments/gateways/payment-gateway';
import { InvoiceEventType } from '../../src/modules/invoicing/invoices.events';
import { ALL_WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES } from '../../src/modules/webhooks/webhook-rules';
import {
  AuthorizePaymentDocument,
  CloseDisputeDocument,
  CreateApiKeyDocument,
  CreateWebhookEndpointDocument,
  type DisputeOutcome,
  OpenDisputeDocument,
  PaymentDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { authorize, createSimulatorGateway, readPayment } from '../helpers/payment-fixtures';

interface EnumValue {
  name: string;
  description: string | null;
}

interface TypeRef {
  kind: string;
  name: string | null;
  ofType: TypeRef | null;
}

function printed(type: TypeRef): string {
  if (type.kind === 'NON_NULL') return `${printed(type.ofType!)}!`;
  if (type.kind === 'LIST') return `[${printed(type.ofType!)}]`;
  return String(type.name);
}

const TYPE_REF = 'kind name ofType { kind name ofType { kind name ofType { kind name } } }';

/**
 * Closed sets are enums a client can read from the schema (introspection over HTTP, as a code
 * generator would), and each enum holds exactly the values the code knows.
 */
describeEachDatabase('closed sets are enums in the schema', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  async function enumValues(name: string): Promise<EnumValue[]> {
    const result = await app.client.raw({ query: `{ __type(name: "${name}") { kind enumValues { name description } } }` });
    expect(result.errors).toBeUndefined();
    const type = (result.data as { __type: { kind: string; enumValues: EnumValue[] } | null }).__type;
    expect({ name, kind: type?.kind }).toEqual({ name, kind: 'ENUM' });
    return type!.enumValues;
  }

  async function fieldTypes(typeName: string, input = false): Promise<Record<string, string>> {
    const fields = input ? `inputFields { name type { ${TYPE_REF} } }` : `fields { name type { ${TYPE_REF} } args { name type { ${TYPE_REF} } } }`;
    const result = await app.client.raw({ query: `{ __type(name: "${typeName}") { ${fields} } }` });
    expect(result.errors).toBeUndefined();
    const type = (result.data as { __type: { fields?: { name: string; type: TypeRef }[]; inputFields?: { name: string; type: TypeRef }[] } }).__type;
    return Object.fromEntries((type.fields ?? type.inputFields ?? []).map((field) => [field.name, printed(field.type)]));
  }

  it('Scope names every scope of the code, each with its wire string', async () => {
    const values = await enumValues('Scope');
    expect(values.map((value) => value.name).sort()).toEqual(Object.keys(Scope).sort());
    for (const value of values) expect(value.description).toMatch(new RegExp(`^"${Scope[value.name as keyof typeof Scope]}": `));
  });

  it('WebhookEvent names every event type and ALL, each with the type its deliveries carry', async () => {
    const values = await enumValues('WebhookEvent');
    const wireByName = Object.fromEntries(values.map((value) => [value.name, /^"([^"]+)"/.exec(value.description ?? '')?.[1]]));
    expect(wireByName).toEqual({
      ALL: ALL_WEBHOOK_EVENTS,
      JOURNAL_ENTRY_POSTED: 'journal_entry.posted',
      JOURNAL_ENTRY_PENDING: 'journal_entry.pending',
      JOURNAL_ENTRY_VOIDED: 'journal_entry.voided',
      INVOICE_CREATED: 'invoice.created',
      INVOICE_UPDATED: 'invoice.updated',
      INVOICE_FINALIZED: 'invoice.finalized',
      INVOICE_PAYMENT_SUCCEEDED: 'invoice.payment_succeeded',
      INVOICE_PAYMENT_FAILED: 'invoice.payment_failed',
      INVOICE_PAID: 'invoice.paid',
      INVOICE_REOPENED: 'invoice.reopened',
      INVOICE_CREDIT_NOTE_CREATED: 'invoice.credit_note_created',
      INVOICE_VOIDED: 'invoice.voided',
      INVOICE_MARKED_UNCOLLECTIBLE: 'invoice.marked_uncollectible',
      INVOICE_OVERDUE: 'invoice.overdue',
      PAYMENT_AUTHORIZED: 'payment.authorized',
      PAYMENT_AUTHORIZATION_FAILED: 'payment.authorization_failed',
      PAYMENT_CAPTURED: 'payment.captured',
      PAYMENT_CAPTURE_FAILED: 'payment.capture_failed',
      PAYMENT_VOIDED: 'payment.voided',
      PAYMENT_VOID_FAILED: 'payment.void_failed',
      PAYMENT_EXPIRED: 'payment.expired',
      PAYMENT_REFUNDED: 'payment.refunded',
      PAYMENT_REFUND_FAILED: 'payment.refund_failed',
      PAYMENT_DISPUTE_OPENED: 'payment.dispute_opened',
      PAYMENT_DISPUTE_EVIDENCE_SUBMITTED: 'payment.dispute_evidence_submitted',
      PAYMENT_DISPUTE_WON: 'payment.dispute_won',
      PAYMENT_DISPUTE_LOST: 'payment.dispute_lost',
      RECONCILIATION_FLAG_RAISED: 'reconciliation.flag_raised',
    });
    // Each type also says what it means after its wire name.
    for (const value of values) expect(value.description).toMatch(/^"[^"]+": \S/);
    expect(Object.values(wireByName).sort()).toEqual([ALL_WEBHOOK_EVENTS, ...WEBHOOK_EVENT_TYPES].sort());
  });

  it('InvoiceEventType names every invoice event, each with the type webhooks will carry', async () => {
    const values = await enumValues('InvoiceEventType');
    expect(values.map((value) => value.name).sort()).toEqual(Object.keys(InvoiceEventType).sort());
    for (const value of values) expect(value.description).toMatch(new RegExp(`^"${InvoiceEventType[value.name as keyof typeof InvoiceEventType]}": \\S`));
  });

  it('DeclineCode and DisputeOutcome hold exactly their values', async () => {
    expect((await enumValues('DeclineCode')).map((value) => value.name).sort()).toEqual(Object.values(DeclineCode).sort());
    expect((await enumValues('DisputeOutcome')).map((value) => value.name).sort()).toEqual(['LOST', 'WON']);
  });

  it('ErrorCode lists every code of src/common/errors.ts and GraphQL’s own, each with its HTTP status and retryability', async () => {
    const values = await enumValues('ErrorCode');
    const expected = [...Object.values(ErrorCode), ...Object.keys(REQUEST_ERROR_CODES)];
    expect(values.map((value) => value.name).sort()).toEqual(expected.sort());
    for (const value of values) {
      const traits = value.name in REQUEST_ERROR_CODES ? REQUEST_ERROR_CODES[value.name as keyof typeof REQUEST_ERROR_CODES] : errorCodeTraits(value.name as ErrorCode);
      expect({ code: value.name, description: value.description }).toEqual({
        code: value.name,
        description: expect.stringContaining(`HTTP ${traits.httpStatus} `),
      });
      expect({ code: value.name, retryable: value.description?.endsWith(traits.retryable ? ' Retryable.' : ' Not retryable.') }).toEqual({
        code: value.name,
        retryable: true,
      });
    }
    expect(values.find((value) => value.name === 'IDEMPOTENCY_KEY_IN_USE')?.description).toMatch(/Retryable\.$/);
    expect(values.find((value) => value.name === 'NOT_FOUND')?.description).toMatch(/^No object with this id.* HTTP 404 .*Not retryable\.$/);
  });

  it('the codes a client meets for malformed requests are all in ErrorCode', async () => {
    const names = new Set((await enumValues('ErrorCode')).map((value) => value.name));
    const seen = [
      await app.client.raw({ query: '{ me { ' }),
      await app.client.raw({ query: '{ me { noSuchField } }' }),
      await app.client.raw({ query: 'query A { me { scopes } } query B { me { scopes } }' }),
      await app.client.raw({ query: 'query A { me { scopes } }', operationName: 'C' }),
      await app.client.raw({ variables: {} }),
      await app.client.raw({ query: 'query($ids: [ID!]!) { nodes(ids: $ids) { id } }', variables: { ids: [null] } }),
    ].flatMap((result) => result.errors?.map((error) => String(error.extensions?.code)) ?? ['(none)']);
    expect(seen.filter((code) => !names.has(code))).toEqual([]);
    expect(new Set(seen)).toEqual(new Set(['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'OPERATION_RESOLUTION_FAILURE', 'BAD_REQUEST', 'VALIDATION_FAILED']));
  });

  it('fields and inputs that carried strings now carry these enums', async () => {
    expect(await fieldTypes('Viewer')).toMatchObject({ scopes: '[Scope!]!' });
    expect(await fieldTypes('ApiKey')).toMatchObject({ scopes: '[Scope!]!' });
    expect(await fieldTypes('OAuthClient')).toMatchObject({ scopes: '[Scope!]!' });
    expect(await fieldTypes('CreateApiKeyInput', true)).toMatchObject({ scopes: '[Scope!]' });
    expect(await fieldTypes('CreateOAuthClientInput', true)).toMatchObject({ scopes: '[Scope!]!' });
    expect(await fieldTypes('WebhookEndpoint')).toMatchObject({ events: '[WebhookEvent!]!' });
    expect(await fieldTypes('CreateWebhookEndpointInput', true)).toMatchObject({ events: '[WebhookEvent!]!' });
    expect(await fieldTypes('Payment')).toMatchObject({ failureCode: 'DeclineCode' });
    expect(await fieldTypes('Refund')).toMatchObject({ failureCode: 'DeclineCode' });
    expect(await fieldTypes('CloseDisputeInput', true)).toMatchObject({ outcome: 'DisputeOutcome!' });
    const mutation = await app.client.raw({ query: `{ __type(name: "Mutation") { fields(includeDeprecated: true) { name args(includeDeprecated: true) { name type { ${TYPE_REF} } } } } }` });
    const closeDispute = (mutation.data as { __type: { fields: { name: string; args: { name: string; type: TypeRef }[] }[] } }).__type.fields.find(
      (field) => field.name === 'closeDispute',
    )!;
    expect(Object.fromEntries(closeDispute.args.map((arg) => [arg.name, printed(arg.type)]))).toMatchObject({ outcome: 'DisputeOutcome' });
  });

  it('scopes and events go over the wire as enum names and are kept as their wire strings', async () => {
    const { createApiKey } = await app.client.ok(CreateApiKeyDocument, { input: { name: 'two scopes', scopes: ['PAYMENTS_READ', 'LEDGER_WRITE'] } });
    expect(createApiKey.apiKey.scopes).toEqual(['LEDGER_WRITE', 'PAYMENTS_READ']);
    const [key] = await app.runtime.dataSource.query('SELECT scopes FROM api_keys WHERE id = ?', [createApiKey.apiKey.id]);
    expect(key.scopes).toBe('ledger:write payments:read');

    const { createWebhookEndpoint } = await app.client.ok(CreateWebhookEndpointDocument, {
      input: { url: 'http://127.0.0.1:9/enums', events: ['JOURNAL_ENTRY_VOIDED', 'JOURNAL_ENTRY_POSTED'] },
    });
    expect(createWebhookEndpoint.webhookEndpoint.events).toEqual(['JOURNAL_ENTRY_POSTED', 'JOURNAL_ENTRY_VOIDED']);
    const [endpoint] = await app.runtime.dataSource.query('SELECT events FROM webhook_endpoints WHERE id = ?', [createWebhookEndpoint.webhookEndpoint.id]);
    expect(endpoint.events).toBe('journal_entry.posted journal_entry.voided');
  });

  it('a declined payment’s failureCode is a DeclineCode', async () => {
    await createSimulatorGateway(app.client);
    const declined = await app.client.request(AuthorizePaymentDocument, {
      input: { amount: '5.00', currency: 'USD', paymentToken: 'tok_decline_insufficient_funds' },
    });
    expect(declined.errors?.[0].extensions?.code).toBe('GATEWAY_DECLINED');
    const paymentId = String(declined.errors?.[0].extensions?.details?.paymentId);
    const { payment } = await app.client.ok(PaymentDocument, { id: paymentId });
    expect({ status: payment.status, failureCode: payment.failureCode }).toEqual({ status: 'FAILED', failureCode: 'INSUFFICIENT_FUNDS' });
  });

  it('closeDispute refuses OPEN and UNDER_REVIEW before any resolver, and the dispute stays open', async () => {
    const sale = await authorize(app.client, { amount: '10.00', capture: true });
    const { openDispute } = await app.client.ok(OpenDisputeDocument, { input: { paymentId: sale.id, reason: 'fraudulent' } });
    const disputeId = openDispute.dispute.id;
    for (const outcome of ['OPEN', 'UNDER_REVIEW']) {
      const inDocument = await app.client.raw({
        query: `mutation($id: ID!) { closeDispute(input: { disputeId: $id, outcome: ${outcome} }) { dispute { status } } }`,
        variables: { id: disputeId },
      });
      expect({ outcome, data: inDocument.data, codes: inDocument.errors?.map((error) => error.extensions?.code) }).toEqual({
        outcome,
        data: undefined,
        codes: ['GRAPHQL_VALIDATION_FAILED'],
      });
      const deprecatedForm = await app.client.raw({
        query: `mutation($id: ID!) { closeDispute(disputeId: $id, outcome: ${outcome}) { dispute { status } } }`,
        variables: { id: disputeId },
      });
      expect(deprecatedForm.errors?.map((error) => error.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      const asVariable = await app.client.request(CloseDisputeDocument, { input: { disputeId, outcome: outcome as DisputeOutcome } });
      expect({ outcome, data: asVariable.data, codes: asVariable.errors?.map((error) => error.extensions?.code) }).toEqual({
        outcome,
        data: undefined,
        codes: ['VALIDATION_FAILED'],
      });
      expect(asVariable.errors?.[0].message).toMatch(/DisputeOutcome/);
    }
    const payment = await readPayment(app.client, sale.id);
    expect(payment.disputes.map((dispute) => dispute.status)).toEqual(['OPEN']);
    expect(payment.disputedAmount.amount).toBe('10.00');
  });
});
