import { newId } from '../../src/common/ids';
import { formatMinorAsDecimal } from '../../src/common/money';
import {
  AuthorizePaymentDocument,
  CapturePaymentDocument,
  CloseDisputeDocument,
  CreateCreditNoteDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  FinalizeInvoiceDocument,
  OpenDisputeDocument,
  PayInvoiceDocument,
  PaymentDocument,
  RecordInvoicePaymentDocument,
  RefundPaymentDocument,
  SubmitDisputeEvidenceDocument,
  TrialBalanceDocument,
} from '../generated/graphql';
import type { GraphQLClient, GraphQLErrorShape } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { createSimulatorGateway } from '../helpers/payment-fixtures';
import { type Json, originOf, RestClient, type RestResponse } from '../helpers/rest-client';

/**
 * The same two stories told twice, by two tenants of one server: once through /graphql and once
 * through /v1. REST runs each operation through the GraphQL field it stands for, so nothing may
 * differ but the ids: the books (entries, postings, balances, trial balance), the objects' final
 * states and amounts, the ids' shapes, and the error codes of the same mistakes.
 *
 * The POS story: authorize 100.00 without capture, capture 80.00, refund 30.00, a dispute on what
 * is left (with a 15.00 fee), evidence, lost. The invoice story: a customer, a draft invoice of
 * 3 × 33.33 + 19% (119.00 USD), finalized, 50.00 received by bank transfer, a 10.00 credit note,
 * and the rest (59.00) paid by card.
 */

const INVOICE_LINES = [{ description: 'Consulting', quantity: '3', unitPrice: '33.33', taxRate: '19', taxBehaviour: 'EXCLUSIVE' as const }];
/** Our ids, and the references the simulator gateway gives its charges and refunds (random too). */
const ID_PATTERN = /\b([a-z]{2,5})_[0-9A-HJKMNP-TV-Z]{26}\b|\b(sim_[a-z]+)_[0-9a-f]{24}\b/g;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** An id's shape: its prefix, its length and the alphabet of what follows (a ULID's Crockford base 32). */
function shapeOfId(id: string): string {
  const match = /^([a-z]{2,5})_([0-9A-HJKMNP-TV-Z]+)$/.exec(id);
  return match ? `${match[1]}_ ${match[2].length} crockford-base32` : `not an id: ${id}`;
}

/**
 * A value with its ids replaced by `prefix#n` in the order they first appear, and its instants by a
 * placeholder: two tenants' equal stories then give equal values, and an id that points at the same
 * object in both (a dispute's payment) gets the same name in both.
 */
function normalised(value: unknown, names = new Map<string, string>()): unknown {
  if (typeof value === 'string') {
    if (ISO_INSTANT.test(value)) return '<instant>';
    return value.replace(ID_PATTERN, (id, prefix: string | undefined, gatewayPrefix: string | undefined) => {
      if (!names.has(id)) names.set(id, `${prefix ?? gatewayPrefix}#${names.size + 1}`);
      return names.get(id) as string;
    });
  }
  if (Array.isArray(value)) return value.map((item) => normalised(item, names));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalised(item, names)]));
  return value;
}

/**
 * The fields both representations carry, from the GraphQL one: REST's money has no minorUnits and
 * REST shows another object as `{ id }`, so a GraphQL answer holds more. What REST shows must be
 * exactly what GraphQL shows.
 */
function sharedWith(graphql: unknown, rest: unknown): unknown {
  if (Array.isArray(graphql) && Array.isArray(rest)) return graphql.map((item, index) => sharedWith(item, rest[index]));
  if (graphql && rest && typeof graphql === 'object' && typeof rest === 'object' && !Array.isArray(graphql)) {
    const restObject = rest as Record<string, unknown>;
    const money = graphql as { minorUnits?: string; amount?: string; currency?: string };
    if (money.minorUnits !== undefined && typeof restObject.currency === 'string' && 'amount' in restObject) {
      // Money the GraphQL document read in minor units only: compared as REST shows it.
      const amount = money.amount ?? formatMinorAsDecimal(BigInt(money.minorUnits), money.currency ?? restObject.currency);
      return { amount, ...(money.currency ? { currency: money.currency } : {}) };
    }
    return Object.fromEntries(
      Object.entries(graphql as Record<string, unknown>)
        .filter(([key]) => key in restObject)
        .map(([key, item]) => [key, sharedWith(item, restObject[key])]),
    );
  }
  return graphql;
}

function projectionOf(value: unknown, like: unknown): unknown {
  if (Array.isArray(value) && Array.isArray(like)) return value.map((item, index) => projectionOf(item, like[index]));
  if (value && like && typeof value === 'object' && typeof like === 'object') {
    return Object.fromEntries(Object.keys(like).filter((key) => key in (value as object)).map((key) => [key, projectionOf((value as Record<string, unknown>)[key], (like as Record<string, unknown>)[key])]));
  }
  return value;
}

/** A step of a story: what the interface answered, as a plain object of that interface's shape. */
interface StoryStep {
  name: string;
  value: Json;
}

interface StoryIds {
  payment: string;
  refund: string;
  dispute: string;
  customer: string;
  invoice: string;
  creditNote: string;
  bankTransfer: string;
  cardInvoicePayment: string;
  cardPayment: string;
}

interface Told {
  steps: StoryStep[];
  ids: StoryIds;
}

/** The error of a refused call, as either interface carries it. */
interface Refusal {
  /** REST's HTTP status (GraphQL's is the transport's, compared elsewhere). */
  status?: number;
  code: string;
  retryable: unknown;
  details: unknown;
  message: string;
}

function refusalOfGraphQL(result: { errors?: GraphQLErrorShape[]; data?: unknown }): Refusal {
  if (!result.errors?.length) throw new Error(`Expected a refusal, got ${JSON.stringify(result.data)}`);
  expect(result.errors).toHaveLength(1);
  const [error] = result.errors;
  return { code: String(error.extensions?.code), retryable: error.extensions?.retryable, details: error.extensions?.details ?? null, message: error.message };
}

function refusalOfRest(response: RestResponse): Refusal {
  if (response.status < 400) throw new Error(`Expected a refusal, got ${response.status} ${JSON.stringify(response.body)}`);
  expect(response.contentType).toMatch(/^application\/problem\+json/);
  const problem = response.body as Json;
  expect(problem).toMatchObject({ status: response.status, type: `urn:reckon:error:${problem.code}`, requestId: response.headers.get('x-request-id') });
  return { status: response.status, code: problem.code, retryable: problem.retryable, details: problem.details ?? null, message: problem.detail };
}

async function tellOverGraphQL(client: GraphQLClient): Promise<Told> {
  const steps: StoryStep[] = [];
  const step = <T>(name: string, value: T): T => {
    steps.push({ name, value });
    return value;
  };
  const { authorizePayment } = await client.ok(AuthorizePaymentDocument, {
    input: { amount: '100.00', currency: 'USD', paymentToken: 'tok_approve', capture: false, customerId: 'pos-customer-7', description: 'Table 12' },
  });
  const paymentId = step('authorize', authorizePayment.payment).id;
  step('capture', (await client.ok(CapturePaymentDocument, { input: { paymentId, amount: '80.00' } })).capturePayment.payment);
  const refund = step('refund', (await client.ok(RefundPaymentDocument, { input: { paymentId, amount: '30.00', reason: 'One item returned' } })).refundPayment.refund);
  const dispute = step('open dispute', (await client.ok(OpenDisputeDocument, { input: { paymentId, reason: 'fraudulent', fee: '15.00' } })).openDispute.dispute);
  step('evidence', (await client.ok(SubmitDisputeEvidenceDocument, { input: { disputeId: dispute.id, evidence: 'Signed receipt' } })).submitDisputeEvidence.dispute);
  step('close dispute', (await client.ok(CloseDisputeDocument, { input: { disputeId: dispute.id, outcome: 'LOST' } })).closeDispute.dispute);

  const customer = step('customer', (await client.ok(CreateCustomerDocument, { input: { name: 'Acme Corp', email: 'billing@acme.example', currency: 'USD' } })).createCustomer.customer);
  const draft = step('draft invoice', (await client.ok(CreateInvoiceDocument, { input: { customerId: customer.id, currency: 'USD', lines: INVOICE_LINES } })).createInvoice.invoice);
  step('finalize', (await client.ok(FinalizeInvoiceDocument, { input: { invoiceId: draft.id } })).finalizeInvoice.invoice);
  const transfer = (
    await client.ok(RecordInvoicePaymentDocument, { input: { invoiceId: draft.id, amount: '50.00', method: 'BANK_TRANSFER', reference: 'TRF-1042', receivedOn: '2026-03-09' } })
  ).recordInvoicePayment;
  step('bank transfer', transfer);
  const creditNote = (await client.ok(CreateCreditNoteDocument, { input: { invoiceId: draft.id, amount: '10.00', reason: 'Discount agreed after delivery' } })).createCreditNote.creditNote;
  step('credit note', creditNote);
  const card = (await client.ok(PayInvoiceDocument, { input: { invoiceId: draft.id, paymentToken: 'tok_approve' } })).payInvoice;
  step('pay by card', { invoice: card.invoice, invoicePayment: card.invoicePayment });
  return {
    steps,
    ids: {
      payment: paymentId,
      refund: refund.id,
      dispute: dispute.id,
      customer: customer.id,
      invoice: draft.id,
      creditNote: creditNote.id,
      bankTransfer: transfer.invoicePayment.id,
      cardInvoicePayment: card.invoicePayment.id,
      cardPayment: card.payment!.id,
    },
  };
}

/** A REST call that must answer `status`; for 201, its Location must name the created object. */
async function expectStatus(rest: RestClient, method: string, path: string, status: number, body?: unknown): Promise<Json> {
  const response = await rest.call(method, path, body === undefined ? {} : { body });
  if (response.status !== status) throw new Error(`${method} ${path} answered ${response.status}, not ${status}: ${JSON.stringify(response.body)}`);
  expect(response.contentType).toMatch(/^application\/json/);
  if (status === 201) expect(response.headers.get('location')).toMatch(new RegExp(`^/v1/[a-z-]+/${(response.body as Json).id}$`));
  return response.body;
}

async function tellOverRest(rest: RestClient): Promise<Told> {
  const steps: StoryStep[] = [];
  const step = (name: string, value: Json): Json => {
    steps.push({ name, value });
    return value;
  };
  const payment = step(
    'authorize',
    await expectStatus(rest, 'POST', '/payments', 201, { amount: '100.00', currency: 'USD', paymentToken: 'tok_approve', capture: false, customerId: 'pos-customer-7', description: 'Table 12' }),
  );
  step('capture', await expectStatus(rest, 'POST', `/payments/${payment.id}/capture`, 200, { amount: '80.00' }));
  const refund = step('refund', await expectStatus(rest, 'POST', `/payments/${payment.id}/refunds`, 201, { amount: '30.00', reason: 'One item returned' }));
  const dispute = step('open dispute', await expectStatus(rest, 'POST', `/payments/${payment.id}/disputes`, 201, { reason: 'fraudulent', fee: '15.00' }));
  step('evidence', await expectStatus(rest, 'POST', `/disputes/${dispute.id}/evidence`, 200, { evidence: 'Signed receipt' }));
  step('close dispute', await expectStatus(rest, 'POST', `/disputes/${dispute.id}/close`, 200, { outcome: 'LOST' }));

  const customer = step('customer', await expectStatus(rest, 'POST', '/customers', 201, { name: 'Acme Corp', email: 'billing@acme.example', currency: 'USD' }));
  const draft = step('draft invoice', await expectStatus(rest, 'POST', '/invoices', 201, { customerId: customer.id, currency: 'USD', lines: INVOICE_LINES }));
  step('finalize', await expectStatus(rest, 'POST', `/invoices/${draft.id}/finalize`, 200));
  const transfer = step(
    'bank transfer',
    await expectStatus(rest, 'POST', `/invoices/${draft.id}/payments`, 200, { amount: '50.00', method: 'BANK_TRANSFER', reference: 'TRF-1042', receivedOn: '2026-03-09' }),
  );
  const creditNote = step('credit note', await expectStatus(rest, 'POST', `/invoices/${draft.id}/credit-notes`, 201, { amount: '10.00', reason: 'Discount agreed after delivery' }));
  const card = await expectStatus(rest, 'POST', `/invoices/${draft.id}/pay`, 200, { paymentToken: 'tok_approve' });
  step('pay by card', { invoice: card.invoice, invoicePayment: card.invoicePayment });
  return {
    steps,
    ids: {
      payment: payment.id,
      refund: refund.id,
      dispute: dispute.id,
      customer: customer.id,
      invoice: draft.id,
      creditNote: creditNote.id,
      bankTransfer: transfer.invoicePayment.id,
      cardInvoicePayment: card.invoicePayment.id,
      cardPayment: card.payment.id,
    },
  };
}

/**
 * A tenant's books read straight from the tables: every account (by code) with its four stored
 * totals, and every entry in the order it was written with its postings in order. Ids are named by
 * first appearance, so the two tenants' books compare as they would if their ids were the same.
 */
async function booksOf(app: TestApp, tenantId: string): Promise<unknown> {
  const dataSource = app.runtime.dataSource;
  const accounts: Record<string, unknown>[] = await dataSource.query(
    `SELECT code, name, type, currency, posted_debits_minor, posted_credits_minor, pending_debits_minor, pending_credits_minor
       FROM accounts WHERE tenant_id = ? ORDER BY code`,
    [tenantId],
  );
  const entries: Record<string, unknown>[] = await dataSource.query(
    `SELECT id, status, description, external_ref, metadata, reversal_of_id FROM journal_entries WHERE tenant_id = ? ORDER BY id`,
    [tenantId],
  );
  const postings: Record<string, unknown>[] = await dataSource.query(
    `SELECT p.journal_entry_id, a.code, p.direction, p.amount_minor, p.currency, p.phase
       FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.tenant_id = ? ORDER BY p.id`,
    [tenantId],
  );
  const books = {
    accounts: Object.fromEntries(
      accounts.map((row) => [
        String(row.code),
        {
          name: row.name,
          type: row.type,
          currency: row.currency,
          posted: `${BigInt(String(row.posted_debits_minor))} DR / ${BigInt(String(row.posted_credits_minor))} CR`,
          pending: `${BigInt(String(row.pending_debits_minor))} DR / ${BigInt(String(row.pending_credits_minor))} CR`,
        },
      ]),
    ),
    entries: entries.map((entry) => ({
      id: entry.id,
      status: entry.status,
      description: entry.description,
      externalRef: entry.external_ref,
      metadata: typeof entry.metadata === 'string' ? JSON.parse(entry.metadata) : entry.metadata,
      reversalOf: entry.reversal_of_id,
      postings: postings
        .filter((posting) => posting.journal_entry_id === entry.id)
        .map((posting) => `${posting.code} ${posting.direction} ${BigInt(String(posting.amount_minor))} ${posting.currency} ${posting.phase}`),
    })),
  };
  return normalised(books);
}

/** The trial balance through GraphQL, keyed by account code. */
async function trialBalanceOverGraphQL(client: GraphQLClient): Promise<Record<string, unknown>> {
  const { trialBalance } = await client.ok(TrialBalanceDocument, {});
  expect(trialBalance.balanced).toBe(true);
  expect(trialBalance.lines.pageInfo.hasNextPage).toBe(false);
  return {
    totals: trialBalance.totals,
    lines: Object.fromEntries(trialBalance.lines.edges.map(({ node }) => [node.account.code, { debit: node.debit.amount, credit: node.credit.amount, currency: node.debit.currency }])),
  };
}

/** The same trial balance through REST, in the same form. */
async function trialBalanceOverRest(rest: RestClient): Promise<Record<string, unknown>> {
  const trialBalance = await rest.ok('GET', '/trial-balance', { query: { limit: 100 } });
  expect(trialBalance.balanced).toBe(true);
  expect(trialBalance.lines.hasMore).toBe(false);
  const codes = new Map<string, string>();
  for (const { account } of trialBalance.lines.data) codes.set(account.id, (await rest.ok('GET', `/accounts/${account.id}`)).code);
  return {
    totals: trialBalance.totals,
    lines: Object.fromEntries(
      trialBalance.lines.data.map((line: Json) => [codes.get(line.account.id), { debit: line.debit.amount, credit: line.credit.amount, currency: line.debit.currency }]),
    ),
  };
}

/** The objects of a story as REST reads them at the end: every one, whole. */
async function finalObjectsOverRest(rest: RestClient, ids: StoryIds): Promise<unknown> {
  return normalised({
    payment: await rest.ok('GET', `/payments/${ids.payment}`),
    refunds: await rest.ok('GET', `/payments/${ids.payment}/refunds`),
    refund: await rest.ok('GET', `/refunds/${ids.refund}`),
    disputes: await rest.ok('GET', `/payments/${ids.payment}/disputes`),
    dispute: await rest.ok('GET', `/disputes/${ids.dispute}`),
    customer: await rest.ok('GET', `/customers/${ids.customer}`),
    invoice: await rest.ok('GET', `/invoices/${ids.invoice}`),
    creditNote: await rest.ok('GET', `/credit-notes/${ids.creditNote}`),
    cardPayment: await rest.ok('GET', `/payments/${ids.cardPayment}`),
  });
}

describeEachDatabase('REST and GraphQL tell the same POS and invoice stories', (kind) => {
  let app: TestApp;
  let graphqlTenant: TestTenant;
  let restTenant: TestTenant;
  let rest: RestClient;
  /** REST for the GraphQL tenant, to read its books the same way. */
  let restOfGraphQLTenant: RestClient;
  let overGraphQL: Told;
  let overRest: Told;

  beforeAll(async () => {
    app = await startTestApp(kind);
    graphqlTenant = app;
    restTenant = await app.createTenant('Told over REST');
    rest = new RestClient(originOf(app.url), restTenant.apiKey);
    restOfGraphQLTenant = new RestClient(originOf(app.url), graphqlTenant.apiKey);
    // Gateways are set up through GraphQL on both sides: REST lists them but has no operation to add one.
    await createSimulatorGateway(graphqlTenant.client, ['USD']);
    await createSimulatorGateway(restTenant.client, ['USD']);
    overGraphQL = await tellOverGraphQL(graphqlTenant.client);
    overRest = await tellOverRest(rest);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers each step with what GraphQL answered, field for field, but for the ids', () => {
    expect(overRest.steps.map((step) => step.name)).toEqual(overGraphQL.steps.map((step) => step.name));
    for (const [index, graphqlStep] of overGraphQL.steps.entries()) {
      const restStep = overRest.steps[index];
      const shared = sharedWith(graphqlStep.value, restStep.value);
      expect({ step: restStep.name, value: normalised(projectionOf(restStep.value, shared)) }).toEqual({ step: graphqlStep.name, value: normalised(shared) });
    }
    // The figures a till and a bookkeeper read, spelled out.
    const last = (told: Told, name: string) => told.steps.find((step) => step.name === name)?.value;
    expect(last(overRest, 'pay by card')).toMatchObject({ invoice: { status: 'PAID', amountRemaining: { amount: '0.00' } }, invoicePayment: { method: 'CARD', amount: { amount: '58.99' } } });
    for (const told of [overGraphQL, overRest]) {
      expect(last(told, 'capture')).toMatchObject({ status: 'CAPTURED', capturedAmount: { amount: '80.00', currency: 'USD' }, feeAmount: { amount: '2.62' } });
      expect(last(told, 'refund')).toMatchObject({ status: 'SUCCEEDED', amount: { amount: '30.00' } });
      expect(last(told, 'open dispute')).toMatchObject({ status: 'OPEN', amount: { amount: '50.00' }, fee: { amount: '15.00' } });
      expect(last(told, 'close dispute')).toMatchObject({ status: 'LOST' });
      expect(last(told, 'finalize')).toMatchObject({ status: 'OPEN', total: { amount: '118.99' } });
    }
  });

  it('gives ids of the same shapes, kind by kind', () => {
    const shapes = (told: Told) => Object.fromEntries(Object.entries(told.ids).map(([name, id]) => [name, shapeOfId(id)]));
    expect(shapes(overRest)).toEqual(shapes(overGraphQL));
    expect(Object.values(shapes(overRest)).every((shape) => shape.endsWith(' 26 crockford-base32'))).toBe(true);
    expect(Object.fromEntries(Object.entries(overRest.ids).map(([name, id]) => [name, id.split('_')[0]]))).toEqual({
      payment: 'pay',
      refund: 're',
      dispute: 'dp',
      customer: 'cus',
      invoice: 'inv',
      creditNote: 'cn',
      bankTransfer: 'ipy',
      cardInvoicePayment: 'ipy',
      cardPayment: 'pay',
    });
  });

  it('leaves every object in the same final state with the same amounts', async () => {
    const graphqlObjects = await finalObjectsOverRest(restOfGraphQLTenant, overGraphQL.ids);
    const restObjects = await finalObjectsOverRest(rest, overRest.ids);
    expect(restObjects).toEqual(graphqlObjects);
    expect(restObjects).toMatchObject({
      payment: { status: 'CAPTURED', capturedAmount: { amount: '80.00' }, refundedAmount: { amount: '30.00' }, disputeLostAmount: { amount: '50.00' } },
      dispute: { status: 'LOST' },
      invoice: { status: 'PAID', amountPaid: { amount: '108.99' }, amountCredited: { amount: '10.00' }, amountRemaining: { amount: '0.00' } },
    });
    // GraphQL's own read of the payment, with its timeline and entries, agrees too.
    const readOverGraphQL = async (client: GraphQLClient, id: string) => normalised((await client.ok(PaymentDocument, { id })).payment);
    expect(await readOverGraphQL(restTenant.client, overRest.ids.payment)).toEqual(await readOverGraphQL(graphqlTenant.client, overGraphQL.ids.payment));
  });

  it('writes the same books: accounts, entries and postings in order, balances and trial balance', async () => {
    const graphqlBooks = await booksOf(app, graphqlTenant.tenantId);
    expect(await booksOf(app, restTenant.tenantId)).toEqual(graphqlBooks);
    expect((graphqlBooks as { entries: unknown[] }).entries.length).toBeGreaterThanOrEqual(10);

    const graphqlTrialBalance = await trialBalanceOverGraphQL(graphqlTenant.client);
    expect(await trialBalanceOverGraphQL(restTenant.client)).toEqual(graphqlTrialBalance);
    // REST reads the same trial balance as GraphQL does, for either tenant.
    expect(await trialBalanceOverRest(rest)).toEqual(await trialBalanceOverRest(restOfGraphQLTenant));
    const overRestLines = ((await trialBalanceOverRest(rest)) as { lines: Record<string, { debit: string; credit: string }> }).lines;
    expect(Object.fromEntries(Object.entries(overRestLines).map(([code, line]) => [code, { debit: line.debit, credit: line.credit }]))).toEqual(
      Object.fromEntries(Object.entries((graphqlTrialBalance as { lines: Record<string, { debit: string; credit: string }> }).lines).map(([code, line]) => [code, { debit: line.debit, credit: line.credit }])),
    );
  });

  describe('the same mistakes are refused with the same codes', () => {
    const UNKNOWN_PAYMENT = newId('payment');
    /** Each mistake, made once over GraphQL by its tenant and once over REST by the other. */
    const mistakes: {
      name: string;
      code: string;
      refusedBySchema?: boolean;
      overGraphQL: (client: GraphQLClient, ids: StoryIds) => Promise<Refusal>;
      overRest: (rest: RestClient, ids: StoryIds) => Promise<Refusal>;
    }[] = [
      {
        name: 'capturing a captured payment again',
        code: 'INVALID_STATE_TRANSITION',
        overGraphQL: async (client, ids) => refusalOfGraphQL(await client.request(CapturePaymentDocument, { input: { paymentId: ids.payment } })),
        overRest: async (rest, ids) => refusalOfRest(await rest.post(`/payments/${ids.payment}/capture`, {})),
      },
      {
        name: 'refunding more than was captured',
        code: 'VALIDATION_FAILED',
        overGraphQL: async (client, ids) => refusalOfGraphQL(await client.request(RefundPaymentDocument, { input: { paymentId: ids.cardPayment, amount: '500.00' } })),
        overRest: async (rest, ids) => refusalOfRest(await rest.post(`/payments/${ids.cardPayment}/refunds`, { amount: '500.00' })),
      },
      {
        name: 'reading a payment that does not exist',
        code: 'NOT_FOUND',
        overGraphQL: async (client) => refusalOfGraphQL(await client.request(PaymentDocument, { id: UNKNOWN_PAYMENT })),
        overRest: async (rest) => refusalOfRest(await rest.get(`/payments/${UNKNOWN_PAYMENT}`)),
      },
      {
        name: 'capturing a payment that does not exist',
        code: 'NOT_FOUND',
        overGraphQL: async (client) => refusalOfGraphQL(await client.request(CapturePaymentDocument, { input: { paymentId: UNKNOWN_PAYMENT } })),
        overRest: async (rest) => refusalOfRest(await rest.post(`/payments/${UNKNOWN_PAYMENT}/capture`, {})),
      },
      {
        name: 'an amount with more decimals than the currency has',
        code: 'VALIDATION_FAILED',
        overGraphQL: async (client) => refusalOfGraphQL(await client.request(AuthorizePaymentDocument, { input: { amount: '10.001', currency: 'USD', paymentToken: 'tok_approve' } })),
        overRest: async (rest) => refusalOfRest(await rest.post('/payments', { amount: '10.001', currency: 'USD', paymentToken: 'tok_approve' })),
      },
      {
        name: 'an amount that is not a number',
        code: 'VALIDATION_FAILED',
        // REST refuses it against the document's schema before GraphQL's scalar sees it: the same
        // code and field, in the document's words.
        refusedBySchema: true,
        overGraphQL: async (client) => refusalOfGraphQL(await client.request(AuthorizePaymentDocument, { input: { amount: 'twelve', currency: 'USD', paymentToken: 'tok_approve' } })),
        overRest: async (rest) => refusalOfRest(await rest.post('/payments', { amount: 'twelve', currency: 'USD', paymentToken: 'tok_approve' })),
      },
      {
        name: 'a negative amount',
        code: 'VALIDATION_FAILED',
        overGraphQL: async (client) => refusalOfGraphQL(await client.request(AuthorizePaymentDocument, { input: { amount: '-10.00', currency: 'USD', paymentToken: 'tok_approve' } })),
        overRest: async (rest) => refusalOfRest(await rest.post('/payments', { amount: '-10.00', currency: 'USD', paymentToken: 'tok_approve' })),
      },
      {
        name: 'a card the gateway declines',
        code: 'GATEWAY_DECLINED',
        overGraphQL: async (client) =>
          refusalOfGraphQL(await client.request(AuthorizePaymentDocument, { input: { amount: '12.00', currency: 'USD', paymentToken: 'tok_decline_insufficient_funds' } })),
        overRest: async (rest) => refusalOfRest(await rest.post('/payments', { amount: '12.00', currency: 'USD', paymentToken: 'tok_decline_insufficient_funds' })),
      },
    ];
    const REST_STATUS_OF: Record<string, number> = { INVALID_STATE_TRANSITION: 409, NOT_FOUND: 404, VALIDATION_FAILED: 400, GATEWAY_DECLINED: 402 };

    it.each(mistakes.map((mistake) => [mistake.name, mistake] as const))('%s', async (_name, mistake) => {
      const graphqlBooksBefore = await booksOf(app, graphqlTenant.tenantId);
      const restBooksBefore = await booksOf(app, restTenant.tenantId);
      const overGraphQLRefusal = await mistake.overGraphQL(graphqlTenant.client, overGraphQL.ids);
      const overRestRefusal = await mistake.overRest(rest, overRest.ids);
      expect(overGraphQLRefusal.code).toBe(mistake.code);
      expect(overRestRefusal.status).toBe(REST_STATUS_OF[mistake.code]);
      delete overRestRefusal.status;
      if (mistake.refusedBySchema) {
        const gist = (refusal: Refusal) => ({ code: refusal.code, retryable: refusal.retryable, field: (refusal.details as { field?: string } | null)?.field });
        expect(gist(overRestRefusal)).toEqual(gist(overGraphQLRefusal));
      } else {
        // The same code, retryable flag, details and words (ids aside).
        expect(normalised(overRestRefusal)).toEqual(normalised(overGraphQLRefusal));
      }
      // A refusal leaves the books as they were (a declined card books nothing either).
      expect(await booksOf(app, graphqlTenant.tenantId)).toEqual(graphqlBooksBefore);
      expect(await booksOf(app, restTenant.tenantId)).toEqual(restBooksBefore);
    });

    it('ends with the same lists of objects (the declined payments too) and both tenants’ books balanced', async () => {
      const lists = async (client: RestClient) => {
        const read = async (path: string) => (await client.ok('GET', path, { query: { limit: 100 } })).data;
        return normalised({ payments: await read('/payments'), customers: await read('/customers'), invoices: await read('/invoices'), creditNotes: await read('/credit-notes') });
      };
      const listsOfGraphQLTenant = await lists(restOfGraphQLTenant);
      expect(await lists(rest)).toEqual(listsOfGraphQLTenant);
      expect((listsOfGraphQLTenant as { payments: { status: string }[] }).payments.map((payment) => payment.status)).toEqual(['FAILED', 'CAPTURED', 'CAPTURED']);
      await assertLedgerInvariants(app.runtime.dataSource, graphqlTenant.client);
      await assertLedgerInvariants(app.runtime.dataSource, restTenant.client);
      expect(await booksOf(app, restTenant.tenantId)).toEqual(await booksOf(app, graphqlTenant.tenantId));
    });
  });
});
