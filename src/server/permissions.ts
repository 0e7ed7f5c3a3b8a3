import { GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { applyMiddleware, type IMiddleware } from 'graphql-middleware';
import { allow, and, deny, rule, shield } from 'graphql-shield';
import type { IRules, ShieldRule } from 'graphql-shield/typings/types';
import { AppError, ErrorCode } from '../common/errors';
import { auditMiddleware } from '../modules/audit/audit.middleware';
import { replayStoredResponse } from '../modules/idempotency/idempotent-request';
import { allowsScope, insufficientScopeError, Scope } from '../modules/auth/scopes';
import type { RequestContext } from './context';
import { buildReckonSchema } from './graphql/schema';

const scopeRules = new Map<Scope, ShieldRule>();

/** The rule for one scope; `admin` and `<area>:write` imply what scopes.ts says they imply. */
export function requireScope(scope: Scope): ShieldRule {
  let cached = scopeRules.get(scope);
  if (!cached) {
    cached = rule(`requireScope(${scope})`, { cache: 'contextual' })(async (_parent, _args, ctx: RequestContext) =>
      allowsScope(ctx.principal.scopes, scope) ? true : insufficientScopeError(scope),
    );
    scopeRules.set(scope, cached);
  }
  return cached as ShieldRule;
}

/** Every request reaching a resolver is authenticated (the context refuses others); this says so explicitly. */
const authenticated = rule('authenticated', { cache: 'contextual' })(async (_parent, _args, ctx: RequestContext) =>
  Boolean(ctx.principal),
);

const ledgerRead = requireScope(Scope.LEDGER_READ);
const ledgerWrite = requireScope(Scope.LEDGER_WRITE);
const paymentsRead = requireScope(Scope.PAYMENTS_READ);
const paymentsWrite = requireScope(Scope.PAYMENTS_WRITE);
const reconciliationRead = requireScope(Scope.RECONCILIATION_READ);
const reconciliationWrite = requireScope(Scope.RECONCILIATION_WRITE);
const invoicesRead = requireScope(Scope.INVOICES_READ);
const invoicesWrite = requireScope(Scope.INVOICES_WRITE);
const auditRead = requireScope(Scope.AUDIT_READ);
const admin = requireScope(Scope.ADMIN);

/**
 * One explicit rule for every root field; anything not listed is denied (fallbackRule: deny), and a
 * test fails when a root field has no entry here. Resolvers still scope every read and write to the
 * caller's tenant: these rules decide what a credential may do, not whose data it sees.
 */
export const ROOT_FIELD_RULES = {
  Query: {
    // Each id's kind needs the scope that reading it needs elsewhere; node.resolver.ts (NODE_READERS)
    // checks it per id, so that one refused id of nodes() does not refuse the others.
    node: authenticated,
    nodes: authenticated,
    me: authenticated,
    account: ledgerRead,
    accounts: ledgerRead,
    journalEntry: ledgerRead,
    journalEntries: ledgerRead,
    trialBalance: ledgerRead,
    accountStatement: ledgerRead,
    apiKeys: admin,
    webhookEndpoints: admin,
    webhookDeliveries: admin,
    payment: paymentsRead,
    payments: paymentsRead,
    paymentGateways: paymentsRead,
    bankAccount: reconciliationRead,
    bankAccounts: reconciliationRead,
    bankStatement: reconciliationRead,
    reconciliationFlags: reconciliationRead,
    reconciliationReport: reconciliationRead,
    reconciliationAccuracy: reconciliationRead,
    customer: invoicesRead,
    customers: invoicesRead,
    invoice: invoicesRead,
    invoices: invoicesRead,
    invoiceSettings: invoicesRead,
    creditNote: invoicesRead,
    creditNotes: invoicesRead,
    auditEvents: auditRead,
    verifyAuditChain: auditRead,
  },
  Mutation: {
    createAccount: ledgerWrite,
    postJournalEntry: ledgerWrite,
    postJournalEntries: ledgerWrite,
    reverseJournalEntry: ledgerWrite,
    postPendingJournalEntry: ledgerWrite,
    voidPendingJournalEntry: ledgerWrite,
    createApiKey: admin,
    revokeApiKey: admin,
    rollApiKey: admin,
    createOAuthClient: admin,
    revokeOAuthClient: admin,
    createWebhookEndpoint: admin,
    disableWebhookEndpoint: admin,
    redeliverWebhookEvent: admin,
    createGateway: admin,
    authorizePayment: paymentsWrite,
    capturePayment: paymentsWrite,
    voidPayment: paymentsWrite,
    refundPayment: paymentsWrite,
    openDispute: paymentsWrite,
    submitDisputeEvidence: paymentsWrite,
    closeDispute: paymentsWrite,
    recordPayout: paymentsWrite,
    createBankAccount: reconciliationWrite,
    rollBankAccountNotificationSecret: reconciliationWrite,
    updateBankAccountMatchingSettings: reconciliationWrite,
    importBankStatement: reconciliationWrite,
    matchStatementLine: reconciliationWrite,
    unmatchStatementLine: reconciliationWrite,
    acknowledgeReconciliationFlag: reconciliationWrite,
    resolveReconciliationFlag: reconciliationWrite,
    createCustomer: invoicesWrite,
    updateCustomer: invoicesWrite,
    createInvoice: invoicesWrite,
    updateInvoice: invoicesWrite,
    finalizeInvoice: invoicesWrite,
    updateInvoiceSettings: invoicesWrite,
    createCreditNote: invoicesWrite,
    voidInvoice: invoicesWrite,
    markInvoiceUncollectible: invoicesWrite,
    recordInvoicePayment: invoicesWrite,
    // Charging a card is a payment like authorizePayment (it appears among the payments): both areas.
    payInvoice: and(invoicesWrite, paymentsWrite),
    refundInvoicePayment: invoicesWrite,
  },
  // Guards each event's resolve; the subscribe step checks the same scope itself (shield does not reach it).
  Subscription: {
    journalEntryPosted: ledgerRead,
    paymentUpdated: paymentsRead,
    reconciliationFlagRaised: reconciliationRead,
    reconciliationFlagUpdated: reconciliationRead,
    invoiceUpdated: invoicesRead,
  },
} satisfies Record<string, Record<string, ShieldRule>>;

/** Rules for all non-root object types: their fields are reachable only through a guarded root field. */
function nestedTypeRules(schema: GraphQLSchema): IRules {
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name, schema.getSubscriptionType()?.name]);
  const rules: Record<string, typeof allow> = {};
  for (const type of Object.values(schema.getTypeMap())) {
    if (type instanceof GraphQLObjectType && !roots.has(type.name) && !type.name.startsWith('__')) rules[type.name] = allow;
  }
  return rules;
}

let guarded: GraphQLSchema | undefined;

export function buildGuardedSchema(): GraphQLSchema {
  if (guarded) return guarded;
  const schema = buildReckonSchema();
  const permissions = shield(
    { ...nestedTypeRules(schema), ...ROOT_FIELD_RULES },
    {
      fallbackRule: deny,
      allowExternalErrors: true,
      fallbackError: (thrown) => (thrown instanceof Error ? thrown : new AppError(ErrorCode.FORBIDDEN, 'Not allowed')),
    },
  );
  // The audit trail outermost, so that calls the rules refuse are recorded too; then shield, so a
  // replayed idempotent mutation is authorised like a new one.
  // (graphql-middleware types resolvers as async; a plain function that returns a value works as well.)
  guarded = applyMiddleware(schema, auditMiddleware as unknown as IMiddleware, permissions, replayStoredResponse as unknown as IMiddleware);
  return guarded;
}
