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

/** Who may call a root field: any authenticated caller, or one holding every scope listed. */
export type RootFieldAccess = 'authenticated' | readonly Scope[];

/**
 * One explicit rule for every root field, as the scopes it needs (the REST document shows them
 * too); anything not listed is denied (fallbackRule: deny), and a test fails when a root field has
 * no entry here. Resolvers still scope every read and write to the caller's tenant: these rules
 * decide what a credential may do, not whose data it sees.
 */
export const ROOT_FIELD_SCOPES = {
  Query: {
    // Each id's kind needs the scope that reading it needs elsewhere; node.resolver.ts (NODE_READERS)
    // checks it per id, so that one refused id of nodes() does not refuse the others.
    node: 'authenticated',
    nodes: 'authenticated',
    me: 'authenticated',
    // The process's own figures: no tenant's data, so any credential may read them.
    serviceHealth: 'authenticated',
    account: [Scope.LEDGER_READ],
    accounts: [Scope.LEDGER_READ],
    journalEntry: [Scope.LEDGER_READ],
    journalEntries: [Scope.LEDGER_READ],
    trialBalance: [Scope.LEDGER_READ],
    accountStatement: [Scope.LEDGER_READ],
    apiKeys: [Scope.ADMIN],
    webhookEndpoints: [Scope.ADMIN],
    webhookDeliveries: [Scope.ADMIN],
    payment: [Scope.PAYMENTS_READ],
    payments: [Scope.PAYMENTS_READ],
    paymentGateways: [Scope.PAYMENTS_READ],
    bankAccount: [Scope.RECONCILIATION_READ],
    bankAccounts: [Scope.RECONCILIATION_READ],
    bankStatement: [Scope.RECONCILIATION_READ],
    reconciliationFlags: [Scope.RECONCILIATION_READ],
    reconciliationReport: [Scope.RECONCILIATION_READ],
    reconciliationAccuracy: [Scope.RECONCILIATION_READ],
    customer: [Scope.INVOICES_READ],
    customers: [Scope.INVOICES_READ],
    invoice: [Scope.INVOICES_READ],
    invoices: [Scope.INVOICES_READ],
    invoiceSettings: [Scope.INVOICES_READ],
    creditNote: [Scope.INVOICES_READ],
    creditNotes: [Scope.INVOICES_READ],
    auditEvents: [Scope.AUDIT_READ],
    verifyAuditChain: [Scope.AUDIT_READ],
  },
  Mutation: {
    createAccount: [Scope.LEDGER_WRITE],
    postJournalEntry: [Scope.LEDGER_WRITE],
    postJournalEntries: [Scope.LEDGER_WRITE],
    reverseJournalEntry: [Scope.LEDGER_WRITE],
    postPendingJournalEntry: [Scope.LEDGER_WRITE],
    voidPendingJournalEntry: [Scope.LEDGER_WRITE],
    createApiKey: [Scope.ADMIN],
    revokeApiKey: [Scope.ADMIN],
    rollApiKey: [Scope.ADMIN],
    createOAuthClient: [Scope.ADMIN],
    revokeOAuthClient: [Scope.ADMIN],
    createWebhookEndpoint: [Scope.ADMIN],
    disableWebhookEndpoint: [Scope.ADMIN],
    redeliverWebhookEvent: [Scope.ADMIN],
    createGateway: [Scope.ADMIN],
    authorizePayment: [Scope.PAYMENTS_WRITE],
    capturePayment: [Scope.PAYMENTS_WRITE],
    voidPayment: [Scope.PAYMENTS_WRITE],
    refundPayment: [Scope.PAYMENTS_WRITE],
    openDispute: [Scope.PAYMENTS_WRITE],
    submitDisputeEvidence: [Scope.PAYMENTS_WRITE],
    closeDispute: [Scope.PAYMENTS_WRITE],
    recordPayout: [Scope.PAYMENTS_WRITE],
    createBankAccount: [Scope.RECONCILIATION_WRITE],
    rollBankAccountNotificationSecret: [Scope.RECONCILIATION_WRITE],
    updateBankAccountMatchingSettings: [Scope.RECONCILIATION_WRITE],
    importBankStatement: [Scope.RECONCILIATION_WRITE],
    matchStatementLine: [Scope.RECONCILIATION_WRITE],
    unmatchStatementLine: [Scope.RECONCILIATION_WRITE],
    acknowledgeReconciliationFlag: [Scope.RECONCILIATION_WRITE],
    resolveReconciliationFlag: [Scope.RECONCILIATION_WRITE],
    createCustomer: [Scope.INVOICES_WRITE],
    updateCustomer: [Scope.INVOICES_WRITE],
    createInvoice: [Scope.INVOICES_WRITE],
    updateInvoice: [Scope.INVOICES_WRITE],
    finalizeInvoice: [Scope.INVOICES_WRITE],
    updateInvoiceSettings: [Scope.INVOICES_WRITE],
    createCreditNote: [Scope.INVOICES_WRITE],
    voidInvoice: [Scope.INVOICES_WRITE],
    markInvoiceUncollectible: [Scope.INVOICES_WRITE],
    recordInvoicePayment: [Scope.INVOICES_WRITE],
    // Charging a card is a payment like authorizePayment (it appears among the payments): both areas.
    payInvoice: [Scope.INVOICES_WRITE, Scope.PAYMENTS_WRITE],
    refundInvoicePayment: [Scope.INVOICES_WRITE],
  },
  // Guards each event's resolve; the subscribe step checks the same scope itself (shield does not reach it).
  Subscription: {
    journalEntryPosted: [Scope.LEDGER_READ],
    paymentUpdated: [Scope.PAYMENTS_READ],
    reconciliationFlagRaised: [Scope.RECONCILIATION_READ],
    reconciliationFlagUpdated: [Scope.RECONCILIATION_READ],
    invoiceUpdated: [Scope.INVOICES_READ],
  },
} as const satisfies Record<'Query' | 'Mutation' | 'Subscription', Record<string, RootFieldAccess>>;

function ruleOf(access: RootFieldAccess): ShieldRule {
  if (access === 'authenticated') return authenticated;
  const rules = access.map(requireScope);
  return rules.length === 1 ? rules[0] : and(...rules);
}

/** The shield rules of ROOT_FIELD_SCOPES. */
export const ROOT_FIELD_RULES: Record<string, Record<string, ShieldRule>> = Object.fromEntries(
  Object.entries(ROOT_FIELD_SCOPES).map(([root, fields]) => [
    root,
    Object.fromEntries(Object.entries(fields).map(([field, access]) => [field, ruleOf(access as RootFieldAccess)])),
  ]),
);

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
