import { setRootFieldsOf } from '../helpers/graphql-client';
import {
  getNamedType,
  isInputObjectType,
  type GraphQLArgument,
  type GraphQLInputObjectType,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import { idKindOf, newId } from '../../src/common/ids';
import { buildReckonSchema } from '../../src/server/graphql/schema';
import {
  CreateCreditNoteDocument,
  CreditNoteDocument,
  CreditNotesDocument,
  MarkInvoiceUncollectibleDocument,
  VoidInvoiceDocument,
  AccountDocument,
  AcknowledgeReconciliationFlagDocument,
  ResolveReconciliationFlagDocument,
  RollBankAccountNotificationSecretDocument,
  UpdateBankAccountMatchingSettingsDocument,
  AccountStatementDocument,
  AuthorizePaymentDocument,
  BankAccountDocument,
  BankAccountsDocument,
  BankStatementDocument,
  CreateBankAccountDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  FinalizeInvoiceDocument,
  PayInvoiceDocument,
  RecordInvoicePaymentDocument,
  RefundInvoicePaymentDocument,
  InvoiceDocument,
  InvoicesDocument,
  UpdateInvoiceDocument,
  CustomerDocument,
  UpdateCustomerDocument,
  ImportBankStatementDocument,
  MatchStatementLineDocument,
  UnmatchStatementLineDocument,
  ReconciliationAccuracyDocument,
  ReconciliationFlagsDocument,
  ReconciliationReportDocument,
  CapturePaymentDocument,
  CloseDisputeDocument,
  CreateApiKeyDocument,
  CreateOAuthClientDocument,
  JournalEntriesDocument,
  JournalEntryDocument,
  NodeWithTypeDocument,
  NodesDocument,
  OpenDisputeDocument,
  PaymentDocument,
  PaymentGatewaysDocument,
  PaymentsDocument,
  PostJournalEntriesDocument,
  PostJournalEntryDocument,
  PostPendingJournalEntryDocument,
  RecordPayoutDocument,
  RefundPaymentDocument,
  ReverseJournalEntryDocument,
  RevokeApiKeyDocument,
  RevokeOAuthClientDocument,
  RollApiKeyDocument,
  SubmitDisputeEvidenceDocument,
  TenantViewDocument,
  VoidPaymentDocument,
  VoidPendingJournalEntryDocument,
  RedeliverWebhookEventDocument,
  WebhookDeliveriesDocument,
} from '../generated/graphql';
import type { GraphQLClient, GraphQLResult } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer, transfer } from '../helpers/ledger-fixtures';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { snapshotOfTenant } from '../helpers/tenant-snapshot';
import { clientCredentialsToken } from '../helpers/oauth-http';
import { authorize, createSimulatorGateway } from '../helpers/payment-fixtures';

/** Whether an input type reaches an `ID` anywhere (fields of input objects, lists, non-null). */
function reachesId(type: GraphQLInputType, seen = new Set<string>()): boolean {
  const named = getNamedType(type);
  if (named.name === 'ID') return true;
  if (!isInputObjectType(named) || seen.has(named.name)) return false;
  seen.add(named.name);
  return Object.values((named as GraphQLInputObjectType).getFields()).some((field) => reachesId(field.type, seen));
}

/**
 * Every Query and Mutation field that takes an id, in an argument or inside an input: each must have
 * a row in the isolation table below. Subscriptions run over WebSocket and have their own tenant tests.
 */
function rootFieldsTakingIds(): string[] {
  const schema = buildReckonSchema();
  const fields: string[] = [];
  for (const root of [schema.getQueryType(), schema.getMutationType()] as (GraphQLObjectType | null | undefined)[]) {
    if (!root) continue;
    for (const field of Object.values(root.getFields())) {
      if (field.args.some((arg: GraphQLArgument) => reachesId(arg.type))) fields.push(`${root.name}.${field.name}`);
    }
  }
  return fields.sort();
}

function schemaHasMutation(name: string): boolean {
  return Boolean(buildReckonSchema().getMutationType()?.getFields()[name]);
}

/** Every string in a response that looks like one of our ids. */
function idsIn(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string' && idKindOf(value)) found.add(value);
  else if (Array.isArray(value)) for (const item of value) idsIn(item, found);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) idsIn(item, found);
  return found;
}

/** An MT940 statement of A's bank account whose balances do not add up (1,000 + 250 ≠ 1,200): one line, one flag. */
const UNBALANCED_MT940 = ':20:STARTUMS\n:25:DE14740618130000033626\n:28C:1/1\n:60F:C260101USD1000,00\n:61:2601050105C250,00NTRFINV-1002//B26010500001\n:86:Invoice 1002\n:62F:C260105USD1200,00\n';

interface IsolationCase {
  label: string;
  /** Tenant A's ids to try. */
  ids: () => string[];
  /** The request, sent with tenant B's credential, naming `id`. */
  send: (client: GraphQLClient, id: string) => Promise<GraphQLResult<unknown>>;
}

describeEachDatabase('tenant isolation: another tenant’s ids are NOT_FOUND everywhere, and nothing changes', (kind) => {
  let app: TestApp;
  let tenantA: TestTenant;
  let tenantB: TestTenant;
  const a: Record<string, string> = {};
  const b: Record<string, string> = {};
  const hasWebhooks = schemaHasMutation('createWebhookEndpoint');
  let credentialsOfB: [string, GraphQLClient][] = [];

  beforeAll(async () => {
    app = await startTestApp(kind);
    // A's webhook endpoint (127.0.0.1:9) refuses every delivery, and the worker's retries would move
    // its delivery rows on their own: stopped, so that "B changed nothing of A's" compares every row.
    await app.runtime.services.webhookWorker.stop();
    tenantA = app;
    tenantB = await app.createTenant('Beta');

    const cash = await createAccount(tenantA.client, { type: 'ASSET' });
    const revenue = await createAccount(tenantA.client, { type: 'REVENUE' });
    Object.assign(a, { cash: cash.id, revenue: revenue.id });
    const posted = await postTransfer(tenantA.client, cash.id, revenue.id, '100.00');
    a.posted = posted.id;
    a.posting = posted.postings[0].id;
    a.pending = (await postTransfer(tenantA.client, cash.id, revenue.id, '7.00', { status: 'PENDING' })).id;
    a.apiKey = (await tenantA.client.ok(CreateApiKeyDocument, { input: { name: 'A key', scopes: ['LEDGER_READ'] } })).createApiKey.apiKey.id;
    a.oauthClient = (
      await tenantA.client.ok(CreateOAuthClientDocument, { input: { name: 'A client', scopes: ['LEDGER_READ'] } })
    ).createOAuthClient.client.id;
    a.tenant = tenantA.tenantId;
    if (hasWebhooks) {
      const created = await tenantA.client.raw({
        query: 'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { webhookEndpoint { id } } }',
        variables: { input: { url: 'http://127.0.0.1:9/reckon-a', events: ['ALL'] } },
      });
      a.webhookEndpoint = (created.data as { createWebhookEndpoint: { webhookEndpoint: { id: string } } }).createWebhookEndpoint.webhookEndpoint.id;
    }

    // Payments of A in every state a B request could try to move: an authorization, a capture with a
    // refund and an open dispute, and a payout from A's gateway.
    a.gateway = (await createSimulatorGateway(tenantA.client)).id;
    a.authorizedPayment = (await authorize(tenantA.client, { amount: '50.00' })).id;
    a.capturedPayment = (await authorize(tenantA.client, { amount: '100.00', capture: true })).id;
    a.refund = (await tenantA.client.ok(RefundPaymentDocument, { input: { paymentId: a.capturedPayment, amount: '10.00' } })).refundPayment.refund.id;
    a.dispute = (
      await tenantA.client.ok(OpenDisputeDocument, { input: { paymentId: a.capturedPayment, amount: '20.00', reason: 'fraudulent' } })
    ).openDispute.dispute.id;
    a.payout = (await tenantA.client.ok(RecordPayoutDocument, { input: { gatewayId: a.gateway, amount: '5.00', currency: 'USD' } })).recordPayout.payout.id;

    // A bank account of A with a statement whose balances do not add up: a statement, a line and a flag.
    a.bankAccount = (
      await tenantA.client.ok(CreateBankAccountDocument, { input: { name: 'A bank', iban: 'DE14740618130000033626', currency: 'USD', ledgerAccountId: cash.id } })
    ).createBankAccount.bankAccount.id;
    const { importBankStatement } = await tenantA.client.ok(ImportBankStatementDocument, {
      input: { bankAccountId: a.bankAccount, format: 'MT940', content: UNBALANCED_MT940 },
    });
    a.bankStatement = importBankStatement.statements[0].id;
    a.reconciliationFlag = importBankStatement.flags[0].id;
    const { bankStatement } = await tenantA.client.ok(BankStatementDocument, { id: a.bankStatement });
    a.bankStatementLine = bankStatement.lines.edges[0].node.id;
    a.customer = (await tenantA.client.ok(CreateCustomerDocument, { input: { name: 'A customer', email: 'billing@a.example' } })).createCustomer.customer.id;
    // A draft (B could try to edit or finalise it) and an open invoice (B could try to read or finalise it again).
    const invoiceLines = [{ description: 'Work', quantity: '2', unitPrice: '10.00', taxRate: '19', taxBehaviour: 'EXCLUSIVE' as const }];
    a.draftInvoice = (await tenantA.client.ok(CreateInvoiceDocument, { input: { customerId: a.customer, currency: 'USD', lines: invoiceLines } })).createInvoice.invoice.id;
    const openInvoice = (await tenantA.client.ok(CreateInvoiceDocument, { input: { customerId: a.customer, currency: 'USD', lines: invoiceLines } })).createInvoice.invoice.id;
    a.openInvoice = (await tenantA.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: openInvoice } })).finalizeInvoice.invoice.id;
    a.creditNote = (await tenantA.client.ok(CreateCreditNoteDocument, { input: { invoiceId: a.openInvoice, amount: '1.00' } })).createCreditNote.creditNote.id;
    a.invoicePayment = (
      await tenantA.client.ok(RecordInvoicePaymentDocument, { input: { invoiceId: a.openInvoice, amount: '1.00', method: 'CASH' } })
    ).recordInvoicePayment.invoicePayment.id;

    const cashB = await createAccount(tenantB.client, { type: 'ASSET' });
    const revenueB = await createAccount(tenantB.client, { type: 'REVENUE' });
    Object.assign(b, { cash: cashB.id, revenue: revenueB.id });
    b.pending = (await postTransfer(tenantB.client, cashB.id, revenueB.id, '3.00', { status: 'PENDING' })).id;
    await postTransfer(tenantB.client, cashB.id, revenueB.id, '1.00');
    // B has a gateway of its own, so a request naming A's could not fail merely for want of one.
    b.gateway = (await createSimulatorGateway(tenantB.client)).id;
    b.payment = (await authorize(tenantB.client, { amount: '3.00', capture: true })).id;

    if (hasWebhooks) {
      // A's endpoint takes every event: its payments above have deliveries (the worker is stopped, so they wait).
      const [delivery] = await app.runtime.dataSource.query('SELECT id, event_id FROM webhook_deliveries WHERE tenant_id = ? ORDER BY id LIMIT 1', [tenantA.tenantId]);
      a.webhookDelivery = String(delivery.id);
      a.webhookEvent = String(delivery.event_id);
    }

    // Tenant B calls with its admin API key and with an admin OAuth token: whatever the credential,
    // the tenant comes from it and nothing else.
    const { createOAuthClient } = await tenantB.client.ok(CreateOAuthClientDocument, { input: { name: 'B admin', scopes: ['ADMIN'] } });
    const { accessToken } = await clientCredentialsToken(app.url, createOAuthClient.client.id, createOAuthClient.clientSecret);
    credentialsOfB = [
      ['API key', tenantB.client],
      ['OAuth token', tenantB.client.withKey(accessToken)],
    ];
  });
  afterAll(async () => {
    await app?.close();
  });

  const all = () => Object.values(a);
  const statementWindow = () => ({ from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' });

  /** One row per root field that takes an id; each case is tried with every A id it lists. */
  const ISOLATION_TABLE: Record<string, IsolationCase[]> = {
    'Query.node': [{ label: 'node(id:) of every object', ids: all, send: (c, id) => c.request(NodeWithTypeDocument, { id }) }],
    'Query.nodes': [
      {
        label: 'nodes(ids:) of every object',
        ids: all,
        // The list is set, its one item null: counted as nothing answered, like a null root field.
        send: async (c, id) => {
          const result = await c.request(NodesDocument, { ids: [id] });
          return { ...result, data: result.data?.nodes?.every((node) => node === null) ? { nodes: null } : result.data };
        },
      },
    ],
    'Query.account': [{ label: 'account(id:)', ids: () => [a.cash, a.revenue], send: (c, id) => c.request(AccountDocument, { id }) }],
    'Query.journalEntry': [
      { label: 'journalEntry(id:)', ids: () => [a.posted, a.pending], send: (c, id) => c.request(JournalEntryDocument, { id }) },
    ],
    'Query.accountStatement': [
      {
        label: 'accountStatement(accountId:)',
        ids: () => [a.cash],
        send: (c, id) => c.request(AccountStatementDocument, { accountId: id, ...statementWindow() }),
      },
    ],
    'Query.journalEntries': [
      { label: 'journalEntries(filter: { accountId })', ids: () => [a.cash, a.revenue], send: (c, id) => c.request(JournalEntriesDocument, { filter: { accountId: id } }) },
    ],
    'Mutation.postJournalEntry': [
      {
        label: 'postJournalEntry on two of A’s accounts',
        ids: () => [a.cash],
        send: (c, id) => c.request(PostJournalEntryDocument, { input: { lines: transfer(id, a.revenue, '1.00') } }),
      },
      {
        label: 'postJournalEntry from B’s account to A’s',
        ids: () => [a.cash, a.revenue],
        send: (c, id) => c.request(PostJournalEntryDocument, { input: { lines: transfer(b.cash, id, '1.00') } }),
      },
      {
        label: 'postJournalEntry holding (PENDING) on A’s account',
        ids: () => [a.cash],
        send: (c, id) => c.request(PostJournalEntryDocument, { input: { lines: transfer(id, b.revenue, '1.00'), status: 'PENDING' } }),
      },
    ],
    'Mutation.postJournalEntries': [
      {
        label: 'postJournalEntries with one entry on A’s account beside a good one',
        ids: () => [a.cash],
        send: (c, id) =>
          c.request(PostJournalEntriesDocument, {
            input: { entries: [{ lines: transfer(b.cash, b.revenue, '1.00') }, { lines: transfer(id, b.revenue, '1.00') }] },
          }),
      },
    ],
    'Mutation.postPendingJournalEntry': [
      {
        label: 'postPendingJournalEntry of A’s pending entry',
        ids: () => [a.pending, a.posted],
        send: (c, id) => c.request(PostPendingJournalEntryDocument, { input: { id } }),
      },
      {
        label: 'postPendingJournalEntry of A’s pending entry in part',
        ids: () => [a.pending],
        send: (c, id) => c.request(PostPendingJournalEntryDocument, { input: { id, lines: transfer(a.cash, a.revenue, '1.00') } }),
      },
    ],
    'Mutation.voidPendingJournalEntry': [
      {
        label: 'voidPendingJournalEntry of A’s entries',
        ids: () => [a.pending, a.posted],
        send: (c, id) => c.request(VoidPendingJournalEntryDocument, { input: { id } }),
      },
    ],
    'Mutation.reverseJournalEntry': [
      {
        label: 'reverseJournalEntry of A’s entries',
        ids: () => [a.posted, a.pending],
        send: (c, id) => c.request(ReverseJournalEntryDocument, { input: { id, description: 'not yours' } }),
      },
    ],
    'Query.payment': [
      { label: 'payment(id:)', ids: () => [a.authorizedPayment, a.capturedPayment], send: (c, id) => c.request(PaymentDocument, { id }) },
    ],
    'Mutation.authorizePayment': [
      {
        label: 'authorizePayment through A’s gateway (gatewayId inside input)',
        ids: () => [a.gateway],
        send: (c, id) => c.request(AuthorizePaymentDocument, { input: { amount: '1.00', currency: 'USD', paymentToken: 'tok_approve', gatewayId: id } }),
      },
      {
        label: 'authorizePayment through A’s gateway, captured at once',
        ids: () => [a.gateway],
        send: (c, id) =>
          c.request(AuthorizePaymentDocument, { input: { amount: '1.00', currency: 'USD', paymentToken: 'tok_approve', gatewayId: id, capture: true } }),
      },
    ],
    'Mutation.capturePayment': [
      {
        label: 'capturePayment of A’s payments in full',
        ids: () => [a.authorizedPayment, a.capturedPayment],
        send: (c, id) => c.request(CapturePaymentDocument, { input: { paymentId: id } }),
      },
      { label: 'capturePayment of A’s authorization in part', ids: () => [a.authorizedPayment], send: (c, id) => c.request(CapturePaymentDocument, { input: { paymentId: id, amount: '1.00' } }) },
    ],
    'Mutation.voidPayment': [
      { label: 'voidPayment of A’s payments', ids: () => [a.authorizedPayment, a.capturedPayment], send: (c, id) => c.request(VoidPaymentDocument, { input: { paymentId: id } }) },
    ],
    'Mutation.refundPayment': [
      {
        label: 'refundPayment of A’s payments in part',
        ids: () => [a.capturedPayment, a.authorizedPayment],
        send: (c, id) => c.request(RefundPaymentDocument, { input: { paymentId: id, amount: '1.00', reason: 'not yours' } }),
      },
      { label: 'refundPayment of everything refundable of A’s payment', ids: () => [a.capturedPayment], send: (c, id) => c.request(RefundPaymentDocument, { input: { paymentId: id } }) },
    ],
    'Mutation.openDispute': [
      {
        label: 'openDispute on A’s payments',
        ids: () => [a.capturedPayment, a.authorizedPayment],
        send: (c, id) => c.request(OpenDisputeDocument, { input: { paymentId: id, amount: '1.00', fee: '1.00', reason: 'not yours' } }),
      },
    ],
    'Mutation.submitDisputeEvidence': [
      { label: 'submitDisputeEvidence on A’s dispute', ids: () => [a.dispute], send: (c, id) => c.request(SubmitDisputeEvidenceDocument, { input: { disputeId: id, evidence: 'not yours' } }) },
    ],
    'Mutation.closeDispute': [
      { label: 'closeDispute of A’s dispute as WON', ids: () => [a.dispute], send: (c, id) => c.request(CloseDisputeDocument, { input: { disputeId: id, outcome: 'WON' } }) },
      { label: 'closeDispute of A’s dispute as LOST', ids: () => [a.dispute], send: (c, id) => c.request(CloseDisputeDocument, { input: { disputeId: id, outcome: 'LOST' } }) },
    ],
    'Mutation.recordPayout': [
      {
        label: 'recordPayout from A’s gateway (gatewayId inside input)',
        ids: () => [a.gateway],
        send: (c, id) => c.request(RecordPayoutDocument, { input: { gatewayId: id, amount: '1.00', currency: 'USD' } }),
      },
    ],
    'Mutation.revokeApiKey': [{ label: 'revokeApiKey of A’s key', ids: () => [a.apiKey], send: (c, id) => c.request(RevokeApiKeyDocument, { input: { id } }) }],
    'Mutation.rollApiKey': [{ label: 'rollApiKey of A’s key', ids: () => [a.apiKey], send: (c, id) => c.request(RollApiKeyDocument, { input: { id } }) }],
    'Mutation.revokeOAuthClient': [
      { label: 'revokeOAuthClient of A’s client', ids: () => [a.oauthClient], send: (c, id) => c.request(RevokeOAuthClientDocument, { input: { id } }) },
    ],
    ...(hasWebhooks
      ? {
          'Mutation.disableWebhookEndpoint': [
            {
              label: 'disableWebhookEndpoint of A’s endpoint',
              ids: () => [a.webhookEndpoint],
              send: (c: GraphQLClient, id: string) =>
                c.raw({
                  query: 'mutation($input: DisableWebhookEndpointInput!) { disableWebhookEndpoint(input: $input) { webhookEndpoint { id } } }',
                  variables: { input: { id } },
                }),
            },
          ],
          'Query.webhookDeliveries': [
            {
              label: 'webhookDeliveries(filter: { endpointId })',
              ids: () => [a.webhookEndpoint],
              send: (c: GraphQLClient, id: string) => c.request(WebhookDeliveriesDocument, { filter: { endpointId: id } }),
            },
          ],
          'Mutation.redeliverWebhookEvent': [
            {
              label: 'redeliverWebhookEvent of A’s delivery',
              ids: () => [a.webhookDelivery],
              send: (c: GraphQLClient, id: string) => c.request(RedeliverWebhookEventDocument, { input: { deliveryId: id } }),
            },
            {
              label: 'redeliverWebhookEvent of A’s event to A’s endpoint',
              ids: () => [a.webhookEvent],
              send: (c: GraphQLClient, id: string) => c.request(RedeliverWebhookEventDocument, { input: { eventId: id, endpointId: a.webhookEndpoint } }),
            },
          ],
        }
      : {}),
    // A filter naming another tenant's gateway is refused like journalEntries(accountId:), not answered with an empty page.
    'Query.bankAccount': [{ label: 'bankAccount(id:)', ids: () => [a.bankAccount], send: (c, id) => c.request(BankAccountDocument, { id }) }],
    'Query.bankAccounts': [
      { label: 'bankAccounts(filter: { ledgerAccountId }) of A’s ledger account', ids: () => [a.cash], send: (c, id) => c.request(BankAccountsDocument, { filter: { ledgerAccountId: id } }) },
    ],
    'Query.bankStatement': [{ label: 'bankStatement(id:)', ids: () => [a.bankStatement], send: (c, id) => c.request(BankStatementDocument, { id }) }],
    'Query.reconciliationFlags': [
      {
        label: 'reconciliationFlags(filter: { bankAccountId }) of A’s bank account',
        ids: () => [a.bankAccount],
        send: (c, id) => c.request(ReconciliationFlagsDocument, { filter: { bankAccountId: id } }),
      },
    ],
    'Query.reconciliationReport': [
      {
        label: 'reconciliationReport of A’s bank account',
        ids: () => [a.bankAccount],
        send: (c, id) => c.request(ReconciliationReportDocument, { bankAccountId: id, period: { from: '2026-01-01', to: '2026-01-31' } }),
      },
    ],
    'Query.reconciliationAccuracy': [
      { label: 'reconciliationAccuracy of A’s bank account', ids: () => [a.bankAccount], send: (c, id) => c.request(ReconciliationAccuracyDocument, { bankAccountId: id }) },
    ],
    'Mutation.createBankAccount': [
      {
        label: 'createBankAccount mirroring A’s ledger account',
        ids: () => [a.cash],
        send: (c, id) => c.request(CreateBankAccountDocument, { input: { name: 'Not yours', accountNumber: '12345678', currency: 'USD', ledgerAccountId: id } }),
      },
    ],
    'Mutation.rollBankAccountNotificationSecret': [
      {
        label: 'rollBankAccountNotificationSecret of A’s bank account',
        ids: () => [a.bankAccount],
        send: (c, id) => c.request(RollBankAccountNotificationSecretDocument, { input: { bankAccountId: id } }),
      },
    ],
    'Mutation.updateBankAccountMatchingSettings': [
      {
        label: 'updateBankAccountMatchingSettings of A’s bank account',
        ids: () => [a.bankAccount],
        send: (c, id) => c.request(UpdateBankAccountMatchingSettingsDocument, { input: { bankAccountId: id, rules: ['REFERENCE'] } }),
      },
    ],
    'Mutation.importBankStatement': [
      {
        label: 'importBankStatement into A’s bank account',
        ids: () => [a.bankAccount],
        send: (c, id) => c.request(ImportBankStatementDocument, { input: { bankAccountId: id, format: 'MT940', content: UNBALANCED_MT940 } }),
      },
    ],
    'Mutation.acknowledgeReconciliationFlag': [
      { label: 'acknowledgeReconciliationFlag of A’s flag', ids: () => [a.reconciliationFlag], send: (c, id) => c.request(AcknowledgeReconciliationFlagDocument, { input: { flagId: id } }) },
    ],
    'Mutation.resolveReconciliationFlag': [
      {
        label: 'resolveReconciliationFlag of A’s flag',
        ids: () => [a.reconciliationFlag],
        send: (c, id) => c.request(ResolveReconciliationFlagDocument, { input: { flagId: id, resolution: 'ACCEPTED', note: 'not yours' } }),
      },
    ],
    'Mutation.matchStatementLine': [
      {
        label: 'matchStatementLine of A’s statement line',
        ids: () => [a.bankStatementLine],
        send: (c, id) => c.request(MatchStatementLineDocument, { input: { statementLineId: id, postingIds: [newId('posting')] } }),
      },
    ],
    'Mutation.unmatchStatementLine': [
      {
        label: 'unmatchStatementLine of A’s statement line',
        ids: () => [a.bankStatementLine],
        send: (c, id) => c.request(UnmatchStatementLineDocument, { input: { statementLineId: id } }),
      },
    ],
    'Query.customer': [{ label: 'customer(id:)', ids: () => [a.customer], send: (c, id) => c.request(CustomerDocument, { id }) }],
    'Mutation.updateCustomer': [
      { label: 'updateCustomer of A’s customer', ids: () => [a.customer], send: (c, id) => c.request(UpdateCustomerDocument, { input: { customerId: id, name: 'Taken over' } }) },
    ],
    'Query.invoice': [{ label: 'invoice(id:)', ids: () => [a.draftInvoice, a.openInvoice], send: (c, id) => c.request(InvoiceDocument, { id }) }],
    'Query.invoices': [{ label: 'invoices(filter: { customerId }) of A’s customer', ids: () => [a.customer], send: (c, id) => c.request(InvoicesDocument, { filter: { customerId: id } }) }],
    'Mutation.createInvoice': [
      {
        label: 'createInvoice for A’s customer',
        ids: () => [a.customer],
        send: (c, id) =>
          c.request(CreateInvoiceDocument, {
            input: { customerId: id, currency: 'USD', lines: [{ description: 'Taken over', quantity: '1', unitPrice: '1.00', taxRate: '0', taxBehaviour: 'EXCLUSIVE' }] },
          }),
      },
    ],
    'Mutation.updateInvoice': [
      { label: 'updateInvoice of A’s invoice', ids: () => [a.draftInvoice, a.openInvoice], send: (c, id) => c.request(UpdateInvoiceDocument, { input: { invoiceId: id, memo: 'Taken over' } }) },
    ],
    'Mutation.finalizeInvoice': [
      { label: 'finalizeInvoice of A’s invoice', ids: () => [a.draftInvoice, a.openInvoice], send: (c, id) => c.request(FinalizeInvoiceDocument, { input: { invoiceId: id } }) },
    ],
    'Query.creditNote': [{ label: 'creditNote(id:)', ids: () => [a.creditNote], send: (c, id) => c.request(CreditNoteDocument, { id }) }],
    'Query.creditNotes': [
      { label: 'creditNotes(filter: { invoiceId }) of A’s invoice', ids: () => [a.openInvoice], send: (c, id) => c.request(CreditNotesDocument, { filter: { invoiceId: id } }) },
      { label: 'creditNotes(filter: { customerId }) of A’s customer', ids: () => [a.customer], send: (c, id) => c.request(CreditNotesDocument, { filter: { customerId: id } }) },
    ],
    'Mutation.createCreditNote': [
      {
        label: 'createCreditNote of A’s invoice',
        ids: () => [a.draftInvoice, a.openInvoice],
        send: (c, id) => c.request(CreateCreditNoteDocument, { input: { invoiceId: id, amount: '1.00' } }),
      },
    ],
    'Mutation.voidInvoice': [
      { label: 'voidInvoice of A’s invoice', ids: () => [a.draftInvoice, a.openInvoice], send: (c, id) => c.request(VoidInvoiceDocument, { input: { invoiceId: id } }) },
    ],
    'Mutation.markInvoiceUncollectible': [
      {
        label: 'markInvoiceUncollectible of A’s invoice',
        ids: () => [a.draftInvoice, a.openInvoice],
        send: (c, id) => c.request(MarkInvoiceUncollectibleDocument, { input: { invoiceId: id } }),
      },
    ],
    'Mutation.recordInvoicePayment': [
      {
        label: 'recordInvoicePayment of A’s invoice',
        ids: () => [a.openInvoice],
        send: (c, id) => c.request(RecordInvoicePaymentDocument, { input: { invoiceId: id, amount: '1.00', method: 'CASH' } }),
      },
    ],
    'Mutation.payInvoice': [
      { label: 'payInvoice of A’s invoice', ids: () => [a.openInvoice], send: (c, id) => c.request(PayInvoiceDocument, { input: { invoiceId: id, paymentToken: 'tok_approve' } }) },
    ],
    'Mutation.refundInvoicePayment': [
      {
        label: 'refundInvoicePayment of A’s invoice payment',
        ids: () => [a.invoicePayment],
        send: (c, id) => c.request(RefundInvoicePaymentDocument, { input: { invoicePaymentId: id, amount: '0.50' } }),
      },
    ],
    'Query.payments': [
      {
        label: 'payments(filter: { gatewayId }) of A’s gateway',
        ids: () => [a.gateway],
        send: (c, id) => c.request(PaymentsDocument, { filter: { gatewayId: id } }),
      },
    ],
  };

  it('has a row for every Query and Mutation field that takes an id (add new fields to ISOLATION_TABLE)', () => {
    const required = rootFieldsTakingIds();
    expect(required.filter((field) => !(field in ISOLATION_TABLE))).toEqual([]);
    expect(Object.keys(ISOLATION_TABLE).filter((field) => !required.includes(field))).toEqual([]);
  });

  it('answers NOT_FOUND (never FORBIDDEN) to every request of tenant B naming tenant A’s ids, and changes nothing of A', async () => {
    // A's own setup calls still in the audit buffer (reads, REST calls) are written now, not in the
    // middle of B's requests, where they would look like B changing A's audit trail.
    await app.runtime.services.audit.flush();
    const before = await snapshotOfTenant(app.runtime.dataSource, tenantA.tenantId);
    let tried = 0;
    for (const [credential, client] of credentialsOfB) {
      for (const [field, cases] of Object.entries(ISOLATION_TABLE)) {
        for (const testCase of cases) {
          for (const id of testCase.ids()) {
            const where = { credential, field, case: testCase.label, id };
            const result = await testCase.send(client, id);
            expect({ ...where, codes: result.errors?.map((error) => error.extensions?.code), data: setRootFieldsOf(result.data) }).toEqual({
              ...where,
              codes: ['NOT_FOUND'],
              data: null,
            });
            expect({ ...where, status: result.status }).not.toEqual({ ...where, status: 403 });
            expect(result.errors?.[0]?.extensions?.requestId).toBe(result.headers.get('x-request-id'));

            // Indistinguishable from an id that exists nowhere: same code, same message but for the id.
            const ghost = newId(idKindOf(id) ?? 'account');
            const control = await testCase.send(client, ghost);
            expect({ ...where, codes: control.errors?.map((error) => error.extensions?.code) }).toEqual({ ...where, codes: ['NOT_FOUND'] });
            expect({ ...where, message: result.errors?.[0]?.message.split(id).join('<id>') }).toEqual({
              ...where,
              message: control.errors?.[0]?.message.split(ghost).join('<id>'),
            });
            expect(result.status).toBe(control.status);
            tried += 1;
          }
        }
      }
    }
    expect(tried).toBeGreaterThan(20);
    // B's calls are in B's chain only: once written, A's rows are still exactly as they were.
    await app.runtime.services.audit.flush();
    expect(await snapshotOfTenant(app.runtime.dataSource, tenantA.tenantId)).toEqual(before);

    // A's credentials and objects still work as before.
    await assertLedgerInvariants(app.runtime.dataSource, tenantA.client);
    await tenantA.client.ok(RollApiKeyDocument, { input: { id: a.apiKey } });
    await tenantA.client.ok(VoidPendingJournalEntryDocument, { input: { id: a.pending } });
    await tenantA.client.ok(CapturePaymentDocument, { input: { paymentId: a.authorizedPayment } });
    await tenantA.client.ok(CloseDisputeDocument, { input: { disputeId: a.dispute, outcome: 'WON' } });
    await assertLedgerInvariants(app.runtime.dataSource, tenantA.client);
  });

  it('never shows tenant A’s objects in tenant B’s lists and nested fields', async () => {
    const seenByA = idsIn((await tenantA.client.ok(TenantViewDocument, { recent: 5 })));
    const paymentsOfA = idsIn(await tenantA.client.ok(PaymentsDocument, { first: 100 }));
    const gatewaysOfA = idsIn(await tenantA.client.ok(PaymentGatewaysDocument, { first: 100 }));
    expect([...paymentsOfA, ...gatewaysOfA]).toEqual(expect.arrayContaining([a.authorizedPayment, a.capturedPayment, a.gateway]));
    for (const id of [a.cash, a.revenue, a.posted, a.posting, a.apiKey, a.tenant]) expect(seenByA).toContain(id);

    const idsOfA = new Set(Object.values(a));
    const [{ id: firstPostingOfA }] = await app.runtime.dataSource.query('SELECT id FROM postings WHERE tenant_id = ? ORDER BY id', [tenantA.tenantId]);
    for (const [, client] of credentialsOfB) {
      const view = await client.ok(TenantViewDocument, { recent: 5 });
      expect(view.me.tenant.id).toBe(tenantB.tenantId);
      const seenByB = idsIn(view);
      expect([...seenByB].filter((id) => idsOfA.has(id) || seenByA.has(id))).toEqual([]);
      expect(seenByB).not.toContain(firstPostingOfA);
      expect(seenByB).toContain(b.cash);
      const paymentsSeenByB = idsIn(await client.ok(PaymentsDocument, { first: 100 }));
      const gatewaysSeenByB = idsIn(await client.ok(PaymentGatewaysDocument, { first: 100 }));
      expect([...paymentsSeenByB, ...gatewaysSeenByB].filter((id) => idsOfA.has(id) || paymentsOfA.has(id) || gatewaysOfA.has(id))).toEqual([]);
      expect([...paymentsSeenByB, ...gatewaysSeenByB]).toEqual(expect.arrayContaining([b.payment, b.gateway]));
      if (hasWebhooks) {
        const endpoints = await client.raw({ query: '{ webhookEndpoints(first: 100) { edges { node { id } } } }' });
        expect(endpoints.errors).toBeUndefined();
        expect([...idsIn(endpoints.data)].filter((id) => idsOfA.has(id))).toEqual([]);
      }
    }
  });
});
