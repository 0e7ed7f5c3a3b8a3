import {
  CreateCreditNoteDocument,
  CreateCustomerDocument,
  CreateInvoiceDocument,
  FinalizeInvoiceDocument,
  ImportBankStatementDocument,
  InvoiceStoryDocument,
  type InvoiceStoryQuery,
  MarkInvoiceUncollectibleDocument,
  PayInvoiceDocument,
  RefundPaymentDocument,
  StatementLineMatchesDocument,
  TrialBalanceDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { eventually, flagsOf } from '../helpers/matching-fixtures';
import { createSimulatorGateway } from '../helpers/payment-fixtures';
import { contentOfFile, createBankAccount, fixtureBytes } from '../helpers/statement-fixtures';

/**
 * The whole life of one invoice, through real HTTP, in the order a business lives it: finalised, paid
 * in part by card, then by a bank transfer that reconciliation reads off a real bank's camt.053 file
 * by the invoice number in its remittance text (less than was owed, so flagged), credited in part, the
 * card payment partly refunded (which reopens what it paid), and the rest written off. At the end the
 * invoice's receivable is zero, every figure of the invoice adds up to its total, and the books balance.
 *
 * The statement is viafintech's camt.053.001.04 example (shared/fixtures): CHF on
 * CH0309000000250090342, among its lines a batch credit of 620.00 whose first transaction, 50.00, has the
 * remittance "MUSTER MITTEILUNG"; the customer wrote the invoice number after it, which is the only
 * change made to the file.
 */

/** 8 hours at 100.00 CHF, Swiss VAT 8.1% on top: 800.00 + 64.80 = 864.80. */
const LINES = [{ description: 'Consulting hours', quantity: '8', unitPrice: '100.00', taxRate: '8.1', taxBehaviour: 'EXCLUSIVE' as const }];

type Story = NonNullable<InvoiceStoryQuery['invoice']>;

describeEachDatabase('an invoice from finalisation to write-off: the receivable ends at zero and the books balance', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  }, 60_000);
  afterAll(() => app?.close());

  const story = async (client: GraphQLClient, id: string): Promise<Story> => (await client.ok(InvoiceStoryDocument, { id })).invoice!;
  const figures = (invoice: Story) => ({
    status: invoice.status,
    paid: invoice.amountPaid.minorUnits,
    credited: invoice.amountCredited.minorUnits,
    writtenOff: invoice.amountWrittenOff.minorUnits,
    remaining: invoice.amountRemaining.minorUnits,
  });
  /** debit − credit of an account of the trial balance, which must balance whenever it is read. */
  const netDebit = async (client: GraphQLClient, code: string): Promise<bigint> => {
    const { trialBalance } = await client.ok(TrialBalanceDocument, { currency: 'CHF' });
    expect(trialBalance.balanced).toBe(true);
    const line = trialBalance.lines.edges.find((edge) => edge.node.account.code === code)?.node;
    return BigInt(line?.debit.minorUnits ?? '0') - BigInt(line?.credit.minorUnits ?? '0');
  };

  it('finalise, card in part, bank transfer matched by number, credit note, refund, write-off', async () => {
    const tenant = await app.createTenant('Muster AG');
    const client = tenant.client;
    await createSimulatorGateway(client, ['CHF']);
    const customerId = (await client.ok(CreateCustomerDocument, { input: { name: 'Muster Kunde GmbH' } })).createCustomer.customer.id;

    // 1. Finalised: 864.80 receivable.
    const draft = (await client.ok(CreateInvoiceDocument, { input: { customerId, currency: 'CHF', lines: LINES } })).createInvoice.invoice;
    const { invoice: finalized } = (await client.ok(FinalizeInvoiceDocument, { input: { invoiceId: draft.id }, idempotencyKey: 'story-finalize' })).finalizeInvoice;
    expect(finalized.number).toMatch(/^INV-\d{4}-000001$/);
    const number = finalized.number!;
    expect(figures(await story(client, draft.id))).toEqual({ status: 'OPEN', paid: '0', credited: '0', writtenOff: '0', remaining: '86480' });
    expect(await netDebit(client, 'SYS-1200-CHF')).toBe(86480n);

    // 2. 700.00 by card: authorised and captured through the gateway; still OPEN.
    const { payInvoice } = await client.ok(PayInvoiceDocument, { input: { invoiceId: draft.id, paymentToken: 'tok_approve', amount: '700.00' }, idempotencyKey: 'story-card' });
    expect(payInvoice.payment).toMatchObject({ status: 'CAPTURED', capturedAmount: { minorUnits: '70000' } });
    expect(figures(await story(client, draft.id))).toMatchObject({ status: 'OPEN', paid: '70000', remaining: '16480' });
    // Retried under its key: the same payment, no second charge.
    const retried = await client.ok(PayInvoiceDocument, { input: { invoiceId: draft.id, paymentToken: 'tok_approve', amount: '700.00' }, idempotencyKey: 'story-card' });
    expect(retried.payInvoice.payment.id).toBe(payInvoice.payment.id);
    expect(await netDebit(client, 'SYS-1200-CHF')).toBe(16480n);

    // 3. The bank's statement: 50.00 in, "MUSTER MITTEILUNG INV-…". Matched by the number, recorded
    //    as a bank transfer on the bank account's ledger account, and flagged: 164.80 was owed.
    const bank = await createBankAccount(client, { currency: 'CHF', iban: 'CH0309000000250090342' });
    const original = fixtureBytes('camt053/viafintech__053_valid_example_v4.xml').toString('utf8');
    const remittance = '<Ustrd>MUSTER MITTEILUNG</Ustrd>';
    expect(original.split(remittance)).toHaveLength(3); // the 50.00 and the 20.00 transactions of the batch
    const file = Buffer.from(original.replace(remittance, `<Ustrd>MUSTER MITTEILUNG ${number}</Ustrd>`), 'utf8');
    const { importBankStatement } = await client.ok(ImportBankStatementDocument, { input: { bankAccountId: bank.id, format: 'CAMT053', ...contentOfFile(file) } });
    const statementId = importBankStatement.statements[0].id;
    const matchedLines = await eventually(
      async () => (await client.ok(StatementLineMatchesDocument, { id: statementId, first: 50 })).bankStatement!.lines.edges.map((edge) => edge.node).filter((line) => line.match !== null),
      (lines) => lines.length > 0,
      'the invoice number to be matched',
    );
    expect(matchedLines).toHaveLength(1);
    expect(matchedLines[0]).toMatchObject({ amount: { amount: '50.00' }, match: { rule: 'INVOICE_NUMBER' } });
    const mismatch = (await flagsOf(client, bank.id)).filter((flag) => flag.kind === 'INVOICE_AMOUNT_MISMATCH');
    expect(mismatch).toHaveLength(1);
    expect(mismatch[0].details).toMatchObject({ invoiceId: draft.id, invoiceNumber: number });
    expect(figures(await story(client, draft.id))).toMatchObject({ status: 'OPEN', paid: '75000', remaining: '11480' });
    expect(await netDebit(client, bank.ledgerAccount.code)).toBe(5000n);

    // 4. A credit note of 50.00 (tax included) takes that off what is due.
    const { createCreditNote } = await client.ok(CreateCreditNoteDocument, { input: { invoiceId: draft.id, amount: '50.00', reason: 'Goodwill' }, idempotencyKey: 'story-cn' });
    expect(createCreditNote.creditNote).toMatchObject({ number: expect.stringMatching(/^CN-\d{4}-000001$/), total: { minorUnits: '5000' } });
    expect(figures(await story(client, draft.id))).toMatchObject({ status: 'OPEN', credited: '5000', remaining: '6480' });

    // 5. 30.00 of the card payment refunded: the receivable is owed again (not booked as a refund of revenue).
    await client.ok(RefundPaymentDocument, { input: { paymentId: payInvoice.payment.id, amount: '30.00', reason: 'Partial refund' }, idempotencyKey: 'story-refund' });
    expect(figures(await story(client, draft.id))).toMatchObject({ status: 'OPEN', paid: '72000', remaining: '9480' });

    // 6. The customer will not pay the rest: 94.80 written off as bad debt.
    const { markInvoiceUncollectible } = await client.ok(
      MarkInvoiceUncollectibleDocument,
      { input: { invoiceId: draft.id, reason: 'Customer insolvent' }, idempotencyKey: 'story-write-off' },
    );
    expect(markInvoiceUncollectible.invoice.status).toBe('UNCOLLECTIBLE');

    const end = await story(client, draft.id);
    expect(figures(end)).toEqual({ status: 'UNCOLLECTIBLE', paid: '72000', credited: '5000', writtenOff: '9480', remaining: '0' });
    // Every cent of the total is accounted for: paid + credited + written off.
    expect(72000n + 5000n + 9480n).toBe(BigInt(end.total.minorUnits));
    expect(end.payments.map((p) => [p.method, p.status, p.amount.minorUnits, p.refunded.minorUnits])).toEqual([
      ['CARD', 'SUCCEEDED', '70000', '3000'],
      ['BANK_TRANSFER', 'SUCCEEDED', '5000', '0'],
    ]);
    expect(end.creditNotes.edges.map((edge) => edge.node.appliedToInvoice.minorUnits)).toEqual(['5000']);

    // The invoice's journal entries net to zero on the receivable, and so does the ledger's account.
    const receivableOfInvoice = end.journalEntries.edges
      .flatMap((edge) => edge.node.postings)
      .filter((posting) => posting.account.code === 'SYS-1200-CHF')
      .reduce((sum, posting) => sum + (posting.direction === 'DEBIT' ? 1n : -1n) * BigInt(posting.amount.minorUnits), 0n);
    expect(receivableOfInvoice).toBe(0n);
    expect(await netDebit(client, 'SYS-1200-CHF')).toBe(0n);
    // Bad debt is the write-off. Revenue keeps the 800.00 finalisation booked; the credit note's 50.00 is
    // split by the rate's share (tax 50.00 × 64.80 / 864.80 = 3.7465 → 3.75, net 46.25) into refunds
    // (contra-revenue) and tax payable given back.
    expect(await netDebit(client, 'SYS-6300-CHF')).toBe(9480n);
    expect(await netDebit(client, 'SYS-4000-CHF')).toBe(-80000n);
    expect(await netDebit(client, 'SYS-4100-CHF')).toBe(4625n);
    expect(await netDebit(client, 'SYS-2100-CHF')).toBe(-(6480n - 375n));
    // The card's 700.00 less the 30.00 refunded is at the gateway, less the gateway's fee for the
    // capture (processing fees); the bank transfer is on the bank account's own ledger account.
    const fee = await netDebit(client, 'SYS-6000-CHF');
    expect(fee).toBeGreaterThan(0n);
    expect(await netDebit(client, 'SYS-1100-CHF')).toBe(67000n - fee);
    expect(await netDebit(client, bank.ledgerAccount.code)).toBe(5000n);
    await assertLedgerInvariants(app.runtime.services.dataSource, client);
  });
});
