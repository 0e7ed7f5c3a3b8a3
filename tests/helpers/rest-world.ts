import type { TestApp } from './harness';
import { createSimulatorGateway } from './payment-fixtures';
import type { Json, RestClient } from './rest-client';
import { eventually } from './webhook-receiver';

/**
 * A tenant's books built through the REST interface, with one object of each kind the document's
 * operations take as a path parameter, in the states its operations need: the contract and fuzz
 * suites send their requests against these. `ids` is keyed by path parameter name (`paymentId`),
 * so a GET operation finds its parameters without a case of its own.
 */
export interface RestWorld {
  ids: Record<string, string>;
  gatewayId: string;
  cashAccountId: string;
  revenueAccountId: string;
  bankLedgerAccountId: string;
  /** Objects set aside, each for the one action that changes it. */
  spare: {
    authorizedToCapture: string;
    authorizedToVoid: string;
    capturedToRefund: string;
    capturedToDispute: string;
    disputeToClose: string;
    postedEntryToReverse: string;
    pendingEntryToPost: string;
    pendingEntryToVoid: string;
    draftInvoiceToUpdate: string;
    draftInvoiceToFinalize: string;
    openInvoiceToPay: string;
    openInvoiceToRecordPayment: string;
    openInvoiceToCredit: string;
    openInvoiceToVoid: string;
    openInvoiceToWriteOff: string;
    unmatchedLineId: string;
    /** A posting on the bank's ledger account of the unmatched line's amount, far outside its window. */
    postingForUnmatchedLine: string;
    flagToAcknowledge: string;
    flagToResolve: string;
    endpointToDisable: string;
    deliveryToRedeliver: string;
    keyToRevoke: string;
    keyToRoll: string;
  };
  /** A key with read scopes only (every *_READ scope), for 403s. */
  readOnlyKey: string;
}

let worldSequence = 0;

/** YYYY-MM-DD `offset` days from today. */
export function dayFromToday(offset: number): string {
  return new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
}

const INVOICE_LINES = [{ description: 'Consulting', quantity: '2', unitPrice: '50.00', taxRate: '10', taxBehaviour: 'EXCLUSIVE' }];

/**
 * `webhookUrl`: a receiver the world's endpoint delivers to, on a server whose delivery worker polls;
 * the world then waits for a delivery to be DELIVERED, as redelivering one needs. Without it the
 * deliveries stay PENDING (the worker is all but idle in tests).
 */
export async function buildRestWorld(app: TestApp, rest: RestClient, webhookUrl?: string): Promise<RestWorld> {
  worldSequence += 1;
  const tag = `${worldSequence}${Date.now() % 100000}`;
  const ok = (method: string, path: string, body?: unknown) => rest.ok(method, path, body === undefined ? {} : { body });
  const gateway = await createSimulatorGateway(app.client);

  const account = (code: string, type: string) => ok('POST', '/accounts', { code: `${code}${tag}`, name: `${type} ${code}`, type, currency: 'USD' });
  const cash: Json = await account('1010', 'ASSET');
  const revenue: Json = await account('4000', 'REVENUE');
  const bankLedger: Json = await account('1020', 'ASSET');
  await account('5000', 'EXPENSE');

  const entry = (debit: string, credit: string, amount: string, extra: Record<string, unknown> = {}) =>
    ok('POST', '/journal-entries', {
      description: 'World entry',
      lines: [
        { accountId: debit, direction: 'DEBIT', amount, currency: 'USD' },
        { accountId: credit, direction: 'CREDIT', amount, currency: 'USD' },
      ],
      ...extra,
    });
  const posted: Json = await entry(cash.id, revenue.id, '100.00');
  const toReverse: Json = await entry(cash.id, revenue.id, '7.00');
  const pendingToPost: Json = await entry(cash.id, revenue.id, '3.00', { status: 'PENDING' });
  const pendingToVoid: Json = await entry(cash.id, revenue.id, '4.00', { status: 'PENDING' });

  const pay = (amount: string, capture: boolean) => ok('POST', '/payments', { amount, currency: 'USD', paymentToken: 'tok_approve', capture });
  const captured: Json = await pay('50.00', true);
  const authorizedToCapture: Json = await pay('20.00', false);
  const authorizedToVoid: Json = await pay('21.00', false);
  const capturedToRefund: Json = await pay('30.00', true);
  const capturedToDispute: Json = await pay('31.00', true);
  const disputed: Json = await pay('32.00', true);
  const refund: Json = await ok('POST', `/payments/${captured.id}/refunds`, { amount: '5.00', reason: 'World refund' });
  const dispute: Json = await ok('POST', `/payments/${disputed.id}/disputes`, { reason: 'fraudulent' });
  const disputeToClose: Json = await ok('POST', `/payments/${capturedToDispute.id}/disputes`, { reason: 'fraudulent' });
  const payout: Json = await ok('POST', '/payouts', { gatewayId: gateway.id, amount: '1.00', currency: 'USD', externalRef: `po_${tag}` });

  const customer: Json = await ok('POST', '/customers', { name: 'Acme Corp', email: 'billing@acme.example', currency: 'USD' });
  const draft = () => ok('POST', '/invoices', { customerId: customer.id, currency: 'USD', lines: INVOICE_LINES });
  const open = async () => ok('POST', `/invoices/${(await draft()).id}/finalize`);
  const draftToUpdate: Json = await draft();
  const draftToFinalize: Json = await draft();
  const paid: Json = await open();
  await ok('POST', `/invoices/${paid.id}/payments`, { amount: '110.00', method: 'BANK_TRANSFER', reference: 'World transfer' });
  const credited: Json = await open();
  const creditNote: Json = await ok('POST', `/invoices/${credited.id}/credit-notes`, { amount: '10.00', reason: 'World credit' });
  const [toPay, toRecord, toCredit, toVoid, toWriteOff]: Json[] = [await open(), await open(), await open(), await open(), await open()];

  // The bank: its ledger account holds a deposit dated long ago, outside any matching window (so no
  // automatic match takes it), which a line of the imported statement is matched to by hand. Old
  // lines nothing matches are flagged when they arrive.
  const bankPayload: Json = await ok('POST', '/bank-accounts', { name: 'Operating', currency: 'USD', ledgerAccountId: bankLedger.id, accountNumber: `ACC${tag}` });
  const bankAccount = bankPayload.bankAccount;
  const deposit: Json = await entry(bankLedger.id, revenue.id, '41.00', { effectiveAt: `${dayFromToday(-300)}T12:00:00Z` });
  const depositPosting = deposit.postings.find((posting: Json) => posting.account.id === bankLedger.id).id;
  const csv = ['Date,Amount,Reference,Text', `${dayFromToday(-1)},41.00,R1,Deposit`, `${dayFromToday(-90)},77.77,R2,Old`, `${dayFromToday(-91)},66.66,R3,Older`, `${dayFromToday(-92)},88.88,R4,Oldest`].join('\n') + '\n';
  const imported: Json = await ok('POST', `/bank-accounts/${bankAccount.id}/statement-imports`, {
    format: 'CSV',
    content: csv,
    csvMapping: { currency: 'USD', dateColumn: 'Date', dateFormat: 'YYYY-MM-DD', amountColumn: 'Amount', referenceColumn: 'Reference', descriptionColumn: 'Text', decimalSeparator: '.' },
  });
  const statement = imported.statements[0];
  const lines: Json = await ok('GET', `/bank-statements/${statement.id}/lines`);
  const lineOf = (amount: string) => lines.data.find((line: Json) => line.amount.amount === amount).id;
  const matchedLine = lineOf('66.66');
  // One posting worth the 66.66 line, for a match to unmatch.
  const older: Json = await entry(bankLedger.id, revenue.id, '66.66', { effectiveAt: `${dayFromToday(-400)}T12:00:00Z` });
  await ok('POST', `/statement-lines/${matchedLine}/match`, { postingIds: [older.postings.find((posting: Json) => posting.account.id === bankLedger.id).id] });
  const flags: Json = await ok('GET', `/reconciliation-flags?bankAccountId=${bankAccount.id}&status=OPEN`);
  if (flags.data.length < 2) throw new Error(`The world's statement left ${flags.data.length} open flags; it needs two: ${JSON.stringify(flags.data)}`);

  const endpoint: Json = await ok('POST', '/webhook-endpoints', { url: webhookUrl ?? 'https://127.0.0.1:9/hooks/world', events: ['PAYMENT_CAPTURED'] });
  const endpointToDisable: Json = await ok('POST', '/webhook-endpoints', { url: 'https://127.0.0.1:9/hooks/disable', events: ['PAYMENT_CAPTURED'] });
  // An event after the endpoint exists, so it has a delivery.
  await pay('2.00', true);
  const deliveries: Json = await eventually(
    () => ok('GET', '/webhook-deliveries'),
    (page: Json) => page.data.some((delivery: Json) => delivery.endpoint.id === endpoint.webhookEndpoint.id && (!webhookUrl || delivery.status === 'DELIVERED')),
    webhookUrl ? 'a webhook delivery DELIVERED' : 'a webhook delivery',
  );
  const delivery = deliveries.data.find((candidate: Json) => candidate.endpoint.id === endpoint.webhookEndpoint.id && (!webhookUrl || candidate.status === 'DELIVERED'));

  const key: Json = await ok('POST', '/api-keys', { name: 'World key', scopes: ['LEDGER_READ'] });
  const keyToRevoke: Json = await ok('POST', '/api-keys', { name: 'To revoke' });
  const keyToRoll: Json = await ok('POST', '/api-keys', { name: 'To roll' });
  const readOnly: Json = await ok('POST', '/api-keys', {
    name: 'Read only',
    scopes: ['LEDGER_READ', 'PAYMENTS_READ', 'INVOICES_READ', 'RECONCILIATION_READ', 'AUDIT_READ'],
  });

  return {
    ids: {
      accountId: cash.id,
      journalEntryId: posted.id,
      paymentId: captured.id,
      refundId: refund.id,
      disputeId: dispute.id,
      payoutId: payout.id,
      customerId: customer.id,
      invoiceId: paid.id,
      creditNoteId: creditNote.id,
      bankAccountId: bankAccount.id,
      bankStatementId: statement.id,
      statementLineId: matchedLine,
      flagId: flags.data[0].id,
      webhookEndpointId: endpoint.webhookEndpoint.id,
      apiKeyId: key.apiKey.id,
      gatewayId: gateway.id,
      asOf: new Date().toISOString(),
    },
    gatewayId: gateway.id,
    cashAccountId: cash.id,
    revenueAccountId: revenue.id,
    bankLedgerAccountId: bankLedger.id,
    spare: {
      authorizedToCapture: authorizedToCapture.id,
      authorizedToVoid: authorizedToVoid.id,
      capturedToRefund: capturedToRefund.id,
      capturedToDispute: capturedToDispute.id,
      disputeToClose: disputeToClose.id,
      postedEntryToReverse: toReverse.id,
      pendingEntryToPost: pendingToPost.id,
      pendingEntryToVoid: pendingToVoid.id,
      draftInvoiceToUpdate: draftToUpdate.id,
      draftInvoiceToFinalize: draftToFinalize.id,
      openInvoiceToPay: toPay.id,
      openInvoiceToRecordPayment: toRecord.id,
      openInvoiceToCredit: toCredit.id,
      openInvoiceToVoid: toVoid.id,
      openInvoiceToWriteOff: toWriteOff.id,
      unmatchedLineId: lineOf('41.00'),
      postingForUnmatchedLine: depositPosting,
      flagToAcknowledge: flags.data[0].id,
      flagToResolve: flags.data[1].id,
      endpointToDisable: endpointToDisable.webhookEndpoint.id,
      deliveryToRedeliver: delivery.id,
      keyToRevoke: keyToRevoke.apiKey.id,
      keyToRoll: keyToRoll.apiKey.id,
    },
    readOnlyKey: readOnly.secret,
  };
}
