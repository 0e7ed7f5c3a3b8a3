import { newId } from '../../src/common/ids';
import {
  BankStatementDocument,
  CreateApiKeyDocument,
  CreateBankAccountDocument,
  CreateCreditNoteDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  FinalizeInvoiceDocument,
  RecordInvoicePaymentDocument,
  ImportBankStatementDocument,
  CreateOAuthClientDocument,
  CreateWebhookEndpointDocument,
  NodeOfAnyKindDocument,
  NodesDocument,
  OpenDisputeDocument,
  RecordPayoutDocument,
  RefundPaymentDocument,
  WebhookDeliveriesDocument,
} from '../generated/graphql';
import type { GraphQLClient, GraphQLErrorShape } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';
import { authorize, createSimulatorGateway, readPayment } from '../helpers/payment-fixtures';

function byPosition(errors: GraphQLErrorShape[]): GraphQLErrorShape[] {
  return [...errors].sort((x, y) => Number(x.path?.[1]) - Number(y.path?.[1]));
}

/** One object of every kind of id that a tenant can have, with the GraphQL type node() must give it. */
interface OwnObject {
  id: string;
  typename: string;
}

describeEachDatabase('node(id:) and nodes(ids:) resolve every kind of id, in order, each id on its own', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  const own: Record<string, OwnObject> = {};
  let otherAccountId: string;
  let otherPaymentId: string;

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Other');
    const c = app.client;
    const put = (name: string, id: string, typename: string) => (own[name] = { id, typename });

    put('tenant', app.tenantId, 'Tenant');
    put('apiKey', (await c.ok(CreateApiKeyDocument, { input: { name: 'reader', scopes: ['LEDGER_READ'] } })).createApiKey.apiKey.id, 'ApiKey');
    put('oauthClient', (await c.ok(CreateOAuthClientDocument, { input: { name: 'sync', scopes: ['PAYMENTS_READ'] } })).createOAuthClient.client.id, 'OAuthClient');
    put(
      'webhookEndpoint',
      (await c.ok(CreateWebhookEndpointDocument, { input: { url: 'http://127.0.0.1:9/nodes', events: ['ALL'] } })).createWebhookEndpoint.webhookEndpoint.id,
      'WebhookEndpoint',
    );
    const cash = await createAccount(c, { type: 'ASSET' });
    const revenue = await createAccount(c, { type: 'REVENUE' });
    put('account', cash.id, 'Account');
    const entry = await postTransfer(c, cash.id, revenue.id, '10.00');
    put('journalEntry', entry.id, 'JournalEntry');
    put('posting', entry.postings[0].id, 'Posting');
    // The endpoint takes every event: the entry just posted is one of its deliveries (stored with the entry).
    put('webhookDelivery', (await c.ok(WebhookDeliveriesDocument, { first: 1 })).webhookDeliveries.edges[0].node.id, 'WebhookDelivery');
    const gateway = await createSimulatorGateway(c);
    put('paymentGateway', gateway.id, 'PaymentGateway');
    const payment = await authorize(c, { amount: '30.00', capture: true });
    put('payment', payment.id, 'Payment');
    put('refund', (await c.ok(RefundPaymentDocument, { input: { paymentId: payment.id, amount: '5.00' } })).refundPayment.refund.id, 'Refund');
    put(
      'dispute',
      (await c.ok(OpenDisputeDocument, { input: { paymentId: payment.id, amount: '5.00', reason: 'fraudulent' } })).openDispute.dispute.id,
      'Dispute',
    );
    put('paymentEvent', (await readPayment(c, payment.id)).events[0].id, 'PaymentEvent');
    put('payout', (await c.ok(RecordPayoutDocument, { input: { gatewayId: gateway.id, amount: '1.00', currency: 'USD' } })).recordPayout.payout.id, 'Payout');
    const bankAccount = (await c.ok(CreateBankAccountDocument, { input: { name: 'Bank', accountNumber: '12345678', currency: 'USD', ledgerAccountId: cash.id } }))
      .createBankAccount.bankAccount;
    put('bankAccount', bankAccount.id, 'BankAccount');
    // A statement whose balances do not add up (1,000 + 250 ≠ 1,200): one line and one flag.
    const content = ':20:NODES\n:25:12345678\n:28C:1/1\n:60F:C260101USD1000,00\n:61:2601050105C250,00NTRFINV-1//B1\n:86:Invoice 1\n:62F:C260105USD1200,00\n';
    const { importBankStatement } = await c.ok(ImportBankStatementDocument, { input: { bankAccountId: bankAccount.id, format: 'MT940', content } });
    put('bankStatement', importBankStatement.statements[0].id, 'BankStatement');
    put('reconciliationFlag', importBankStatement.flags[0].id, 'ReconciliationFlag');
    const { bankStatement } = await c.ok(BankStatementDocument, { id: importBankStatement.statements[0].id });
    put('bankStatementLine', bankStatement.lines.edges[0].node.id, 'BankStatementLine');
    const customer = (await c.ok(CreateCustomerDocument, { input: { name: 'Node customer' } })).createCustomer.customer.id;
    put('customer', customer, 'Customer');
    const invoiceLines = [{ description: 'Node line', quantity: '1', unitPrice: '5.00', taxRate: '0', taxBehaviour: 'EXCLUSIVE' as const }];
    put('invoice', (await c.ok(CreateInvoiceDocument, { input: { customerId: customer, currency: 'USD', lines: invoiceLines } })).createInvoice.invoice.id, 'Invoice');
    const creditedInvoice = (await c.ok(CreateInvoiceDocument, { input: { customerId: customer, currency: 'USD', lines: invoiceLines } })).createInvoice.invoice.id;
    await c.ok(FinalizeInvoiceDocument, { input: { invoiceId: creditedInvoice } });
    put('creditNote', (await c.ok(CreateCreditNoteDocument, { input: { invoiceId: creditedInvoice, amount: '1.00' } })).createCreditNote.creditNote.id, 'CreditNote');
    const paidInvoice = (await c.ok(CreateInvoiceDocument, { input: { customerId: customer, currency: 'USD', lines: invoiceLines } })).createInvoice.invoice.id;
    await c.ok(FinalizeInvoiceDocument, { input: { invoiceId: paidInvoice } });
    const { recordInvoicePayment } = await c.ok(RecordInvoicePaymentDocument, { input: { invoiceId: paidInvoice, amount: '5.00', method: 'CASH' } });
    put('invoicePayment', recordInvoicePayment.invoicePayment.id, 'InvoicePayment');

    otherAccountId = (await createAccount(other.client, { type: 'ASSET' })).id;
    await createSimulatorGateway(other.client);
    otherPaymentId = (await authorize(other.client, { amount: '2.00' })).id;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('has an object of every kind of id the schema makes a Node', () => {
    expect(Object.keys(own).sort()).toEqual(
      [
        'account',
        'apiKey',
        'bankAccount',
        'bankStatement',
        'bankStatementLine',
        'creditNote',
        'customer',
        'invoice',
        'invoicePayment',
        'dispute',
        'journalEntry',
        'oauthClient',
        'payment',
        'paymentEvent',
        'paymentGateway',
        'payout',
        'posting',
        'reconciliationFlag',
        'refund',
        'tenant',
        'webhookDelivery',
        'webhookEndpoint',
      ].sort(),
    );
  });

  it('node(id:) gives each kind its own type', async () => {
    for (const [name, object] of Object.entries(own)) {
      const { node } = await app.client.ok(NodeOfAnyKindDocument, { id: object.id });
      expect({ name, typename: node.__typename, id: node.id }).toEqual({ name, typename: object.typename, id: object.id });
    }
  });

  it('nodes(ids:) answers in order: own objects of every kind, null plus NOT_FOUND at its position for the rest', async () => {
    const notFound = [
      otherAccountId, // another tenant's account
      other.tenantId, // another tenant
      newId('refund'), // an id that exists nowhere
      newId('idempotencyRecord'), // a well-formed id of a kind that is not a node
      'garbage',
      'x'.repeat(300),
    ];
    const ownIds = Object.values(own);
    // Own and missing ids interleaved, an own id twice: positions must not shift.
    const ids = [...ownIds.flatMap((object, i) => (i < notFound.length ? [object.id, notFound[i]] : [object.id])), own.account.id];
    const result = await app.client.request(NodesDocument, { ids });
    expect(result.status).toBe(200);
    const nodes = result.data!.nodes!;
    expect(nodes).toHaveLength(ids.length);

    const expectedTypes = ids.map((id) => ownIds.find((object) => object.id === id)?.typename ?? null);
    expect(nodes.map((node) => node?.__typename ?? null)).toEqual(expectedTypes);
    expect(nodes.map((node) => node?.id ?? null)).toEqual(ids.map((id, i) => (expectedTypes[i] ? id : null)));

    const missingPositions = expectedTypes.flatMap((type, i) => (type ? [] : [i]));
    expect(missingPositions).toHaveLength(notFound.length);
    // graphql-js lists errors as they happen; their paths say where.
    expect(byPosition(result.errors!).map((error) => ({ path: error.path, code: error.extensions?.code }))).toEqual(
      missingPositions.map((i) => ({ path: ['nodes', i], code: 'NOT_FOUND' })),
    );
    // A bad value comes back short, never whole.
    for (const error of result.errors!) expect(error.message.length).toBeLessThan(200);

    // The objects are the real ones, read through each module.
    const byId = new Map(nodes.filter((node) => node !== null).map((node) => [node!.id, node!]));
    expect(byId.get(own.tenant.id)).toMatchObject({ name: 'Acme' });
    expect(byId.get(own.apiKey.id)).toMatchObject({ scopes: ['LEDGER_READ'], prefix: expect.stringMatching(/^rk_/) });
    expect(byId.get(own.oauthClient.id)).toMatchObject({ name: 'sync', scopes: ['PAYMENTS_READ'] });
    expect(byId.get(own.webhookEndpoint.id)).toMatchObject({ url: 'http://127.0.0.1:9/nodes', events: ['ALL'] });
    expect(byId.get(own.posting.id)).toMatchObject({ direction: 'DEBIT', account: { id: own.account.id } });
    expect(byId.get(own.refund.id)).toMatchObject({ refundStatus: 'SUCCEEDED' });
    expect(byId.get(own.dispute.id)).toMatchObject({ disputeStatus: 'OPEN' });
    expect(byId.get(own.paymentEvent.id)).toMatchObject({ type: 'AUTHORIZATION_REQUESTED' });
    expect(byId.get(own.payout.id)).toMatchObject({ amount: { amount: '1.00' } });
    expect(byId.get(own.customer.id)).toMatchObject({ name: 'Node customer' });
    expect(byId.get(own.invoice.id)).toMatchObject({ invoiceStatus: 'DRAFT' });
  });

  it('reads each kind with one statement however many ids of it are asked for', async () => {
    const accounts = [own.account.id, ...(await Promise.all([1, 2, 3].map(async () => (await createAccount(app.client, { type: 'ASSET' })).id)))];
    const others = Object.values(own)
      .filter((object) => object.typename !== 'Account')
      .map((object) => object.id);
    const statementsFor = async (ids: string[]) => {
      const before = app.runtime.statements.count;
      const result = await app.client.request(NodesDocument, { ids });
      expect(result.errors).toBeUndefined();
      return app.runtime.statements.count - before;
    };
    await statementsFor([...others, accounts[0]]); // warm-up
    const one = await statementsFor([...others, accounts[0]]);
    const four = await statementsFor([...others, ...accounts]);
    expect(four).toBe(one);
  });

  it('refuses the kinds a credential may not read, id by id, and tells nothing about other tenants', async () => {
    const { createApiKey } = await app.client.ok(CreateApiKeyDocument, { input: { name: 'ledger only', scopes: ['LEDGER_READ'] } });
    const ledgerOnly: GraphQLClient = app.client.withKey(createApiKey.secret);
    const ids = [own.account.id, own.payment.id, own.apiKey.id, own.tenant.id, otherPaymentId, otherAccountId, own.posting.id];
    const result = await ledgerOnly.request(NodesDocument, { ids });
    expect(result.status).toBe(200);
    expect(result.data!.nodes!.map((node) => node?.__typename ?? null)).toEqual(['Account', null, null, 'Tenant', null, null, 'Posting']);
    const errors = byPosition(result.errors!);
    expect(errors.map((error) => ({ path: error.path, code: error.extensions?.code, details: error.extensions?.details }))).toEqual([
      { path: ['nodes', 1], code: 'FORBIDDEN', details: { requiredScope: 'payments:read' } },
      { path: ['nodes', 2], code: 'FORBIDDEN', details: { requiredScope: 'admin' } },
      { path: ['nodes', 4], code: 'FORBIDDEN', details: { requiredScope: 'payments:read' } },
      { path: ['nodes', 5], code: 'NOT_FOUND', details: { id: otherAccountId } },
    ]);
    // Own payment and another tenant's payment get the very same refusal: the kind decides, not the row.
    expect(errors[0].message).toBe(errors[2].message);

    const single = await ledgerOnly.request(NodeOfAnyKindDocument, { id: own.payment.id });
    expect(single.data?.node ?? null).toBeNull();
    expect(single.errors?.map((error) => ({ code: error.extensions?.code, details: error.extensions?.details }))).toEqual([
      { code: 'FORBIDDEN', details: { requiredScope: 'payments:read' } },
    ]);
  });

  it('refuses more than 100 ids with VALIDATION_FAILED, leaving sibling fields answered', async () => {
    const ids = Array.from({ length: 101 }, () => own.account.id);
    const result = await app.client.raw({ query: 'query($ids: [ID!]!) { nodes(ids: $ids) { id } me { credentialKind } }', variables: { ids } });
    expect(result.data).toEqual({ nodes: null, me: { credentialKind: 'API_KEY' } });
    expect(result.errors?.map((error) => ({ path: error.path, code: error.extensions?.code }))).toEqual([{ path: ['nodes'], code: 'VALIDATION_FAILED' }]);
    const hundred = await app.client.request(NodesDocument, { ids: ids.slice(0, 100) });
    expect(hundred.errors).toBeUndefined();
    expect(hundred.data!.nodes).toHaveLength(100);
  });
});
