import {
  CapturePaymentDocument,
  CapturePaymentOldFormDocument,
  CloseDisputeOldFormDocument,
  MutationArgumentsDocument,
  MutationArgumentsNotDeprecatedDocument,
  OpenDisputeOldFormDocument,
  RefundPaymentDocument,
  RefundPaymentOldFormDocument,
  SubmitDisputeEvidenceOldFormDocument,
  VoidPaymentOldFormDocument,
} from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { errorCodeOf, expectFresh, expectReplayOf, newIdempotencyKey, sendKeyed } from '../helpers/idempotency-http';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { authorize, createSimulatorGateway, readPayment } from '../helpers/payment-fixtures';

/**
 * Every mutation takes one `input:` plus `idempotencyKey:`. The mutations that took loose arguments
 * before keep them for one release, deprecated: an old client keeps working, schema tooling sees the
 * deprecation, a call that gives both forms (or neither) is refused naming the new form, and a retry
 * may switch forms under one key and still be the same request.
 */

/** Each mutation's deprecated arguments, all of them: the new form is in each reason. */
const DEPRECATED_ARGUMENTS: Record<string, string[]> = {
  capturePayment: ['amount', 'paymentId'],
  closeDispute: ['disputeId', 'outcome'],
  openDispute: ['paymentId'],
  refundPayment: ['paymentId'],
  submitDisputeEvidence: ['disputeId', 'evidence'],
  voidPayment: ['paymentId'],
};

describeEachDatabase('deprecated mutation arguments still work for one release', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(kind);
    await createSimulatorGateway(app.client);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('the schema marks each old argument deprecated and nullable, with a reason naming the new form', async () => {
    const { __schema } = await app.client.ok(MutationArgumentsDocument);
    const fields = __schema.mutationType!.fields!;
    const deprecated = Object.fromEntries(
      fields
        .map((field) => [field.name, field.args.filter((arg) => arg.isDeprecated).map((arg) => arg.name).sort()] as const)
        .filter(([, names]) => names.length > 0),
    );
    expect(deprecated).toEqual(DEPRECATED_ARGUMENTS);
    for (const [name, argumentNames] of Object.entries(DEPRECATED_ARGUMENTS)) {
      const field = fields.find((f) => f.name === name)!;
      for (const argumentName of argumentNames) {
        const arg = field.args.find((a) => a.name === argumentName)!;
        expect(arg.type.kind).not.toBe('NON_NULL');
        expect(arg.deprecationReason).toContain(`Use ${name}(input: {`);
      }
    }

    // The one mutation shape: every mutation takes input and idempotencyKey and answers a payload object.
    for (const field of fields) {
      const names = field.args.map((arg) => arg.name);
      expect({ field: field.name, hasInput: names.includes('input'), hasKey: names.includes('idempotencyKey') }).toEqual({
        field: field.name,
        hasInput: true,
        hasKey: true,
      });
      expect({ field: field.name, kind: field.type.kind, name: field.type.name }).toEqual({
        field: field.name,
        kind: 'OBJECT',
        name: expect.stringMatching(/Payload$/),
      });
    }

    // Without includeDeprecated, tooling sees the new form only.
    const visible = await app.client.ok(MutationArgumentsNotDeprecatedDocument);
    for (const name of Object.keys(DEPRECATED_ARGUMENTS)) {
      const field = visible.__schema.mutationType!.fields!.find((f) => f.name === name)!;
      expect({ name, args: field.args.map((arg) => arg.name).sort() }).toEqual({ name, args: ['idempotencyKey', 'input'] });
    }
  });

  it('capture, refund, dispute, evidence and close in the old form do what the new form does', async () => {
    const sale = await authorize(app.client, { amount: '100.00' });
    const { capturePayment } = await app.client.ok(CapturePaymentOldFormDocument, { paymentId: sale.id, amount: '80.00' });
    expect(capturePayment.payment).toMatchObject({ status: 'CAPTURED', capturedAmount: { amount: '80.00' } });

    const { refundPayment } = await app.client.ok(RefundPaymentOldFormDocument, { paymentId: sale.id, input: { amount: '30.00', reason: 'returned' } });
    expect(refundPayment.refund).toMatchObject({ status: 'SUCCEEDED', reason: 'returned', amount: { amount: '30.00' } });
    expect(refundPayment.payment.refundableAmount.amount).toBe('50.00');

    const { openDispute } = await app.client.ok(OpenDisputeOldFormDocument, { paymentId: sale.id, input: { amount: '20.00', reason: 'fraudulent' } });
    expect(openDispute.dispute).toMatchObject({ status: 'OPEN', amount: { amount: '20.00' } });
    const disputeId = openDispute.dispute.id;
    const { submitDisputeEvidence } = await app.client.ok(SubmitDisputeEvidenceOldFormDocument, { disputeId, evidence: 'signed receipt' });
    expect(submitDisputeEvidence.dispute).toMatchObject({ status: 'UNDER_REVIEW', evidence: 'signed receipt' });
    const { closeDispute } = await app.client.ok(CloseDisputeOldFormDocument, { disputeId, outcome: 'WON' });
    expect(closeDispute.dispute.status).toBe('WON');
    expect(closeDispute.payment).toMatchObject({ disputedAmount: { amount: '0.00' }, refundableAmount: { amount: '50.00' } });

    // The old refund form without an input refunds everything still refundable.
    const rest = await app.client.ok(RefundPaymentOldFormDocument, { paymentId: sale.id });
    expect(rest.refundPayment.refund.amount.amount).toBe('50.00');
    expect(rest.refundPayment.payment.refundableAmount.amount).toBe('0.00');

    const hold = await authorize(app.client, { amount: '12.00' });
    const { voidPayment } = await app.client.ok(VoidPaymentOldFormDocument, { paymentId: hold.id });
    expect(voidPayment.payment.status).toBe('VOIDED');

    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('closeDispute in the old form still refuses a status that is not an outcome, and changes nothing', async () => {
    const sale = await authorize(app.client, { amount: '10.00', capture: true });
    const { openDispute } = await app.client.ok(OpenDisputeOldFormDocument, { paymentId: sale.id, input: { reason: 'duplicate' } });
    // The deprecated argument is a DisputeOutcome too: OPEN is refused while coercing the variable.
    const refused = await app.client.request(CloseDisputeOldFormDocument, { disputeId: openDispute.dispute.id, outcome: 'OPEN' as 'WON' });
    expect(errorCodeOf(refused)).toBe('VALIDATION_FAILED');
    expect(refused.errors![0].message).toMatch(/"OPEN" does not exist in "DisputeOutcome"/);
    const payment = await readPayment(app.client, sale.id);
    expect(payment).toMatchObject({ disputedAmount: { amount: '10.00' }, disputeLostAmount: { amount: '0.00' }, refundableAmount: { amount: '0.00' } });
  });

  it('both forms at once, or neither, is VALIDATION_FAILED naming the new form, and changes nothing', async () => {
    const sale = await authorize(app.client, { amount: '40.00', capture: true });
    const hold = await authorize(app.client, { amount: '40.00' });
    const { openDispute } = await app.client.ok(OpenDisputeOldFormDocument, { paymentId: sale.id, input: { amount: '5.00', reason: 'fraudulent' } });
    const disputeId = openDispute.dispute.id;
    const before = {
      sale: (await readPayment(app.client, sale.id)),
      hold: (await readPayment(app.client, hold.id)),
    };

    const refusals: { query: string; variables: Record<string, string>; newForm: string; deprecatedArguments?: string[] }[] = [
      {
        query: 'mutation($id: ID!) { capturePayment(paymentId: $id, input: { paymentId: $id }) { payment { id } } }',
        variables: { id: hold.id },
        newForm: 'capturePayment(input: { paymentId, amount }, idempotencyKey)',
        deprecatedArguments: ['paymentId'],
      },
      {
        query: 'mutation($id: ID!) { capturePayment(amount: "1.00", input: { paymentId: $id }) { payment { id } } }',
        variables: { id: hold.id },
        newForm: 'capturePayment(input: { paymentId, amount }, idempotencyKey)',
        deprecatedArguments: ['amount'],
      },
      { query: 'mutation { capturePayment(idempotencyKey: "neither-form-1") { payment { id } } }', variables: {}, newForm: 'capturePayment(input:' },
      { query: 'mutation { capturePayment(amount: "1.00") { payment { id } } }', variables: {}, newForm: 'capturePayment(input:' },
      {
        query: 'mutation($id: ID!) { voidPayment(paymentId: $id, input: { paymentId: $id }) { payment { id } } }',
        variables: { id: hold.id },
        newForm: 'voidPayment(input: { paymentId }, idempotencyKey)',
        deprecatedArguments: ['paymentId'],
      },
      { query: 'mutation { voidPayment { payment { id } } }', variables: {}, newForm: 'voidPayment(input: { paymentId }' },
      {
        query: 'mutation($id: ID!) { refundPayment(paymentId: $id, input: { paymentId: $id, amount: "1.00" }) { refund { id } } }',
        variables: { id: sale.id },
        newForm: 'refundPayment(input: { paymentId, amount, reason }, idempotencyKey)',
        deprecatedArguments: ['paymentId'],
      },
      { query: 'mutation { refundPayment(input: { amount: "1.00" }) { refund { id } } }', variables: {}, newForm: 'refundPayment(input: { paymentId' },
      { query: 'mutation { refundPayment { refund { id } } }', variables: {}, newForm: 'refundPayment(input: { paymentId' },
      {
        query: 'mutation($id: ID!) { openDispute(paymentId: $id, input: { paymentId: $id, reason: "x" }) { dispute { id } } }',
        variables: { id: sale.id },
        newForm: 'openDispute(input: { paymentId, amount, reason, fee }, idempotencyKey)',
        deprecatedArguments: ['paymentId'],
      },
      { query: 'mutation { openDispute(input: { reason: "x" }) { dispute { id } } }', variables: {}, newForm: 'openDispute(input: { paymentId' },
      {
        query: 'mutation($id: ID!) { submitDisputeEvidence(evidence: "late", input: { disputeId: $id, evidence: "late" }) { dispute { id } } }',
        variables: { id: disputeId },
        newForm: 'submitDisputeEvidence(input: { disputeId, evidence }, idempotencyKey)',
        deprecatedArguments: ['evidence'],
      },
      { query: 'mutation($id: ID!) { submitDisputeEvidence(disputeId: $id) { dispute { id } } }', variables: { id: disputeId }, newForm: 'submitDisputeEvidence(input: {' },
      {
        query: 'mutation($id: ID!) { closeDispute(disputeId: $id, outcome: WON, input: { disputeId: $id, outcome: WON }) { dispute { id } } }',
        variables: { id: disputeId },
        newForm: 'closeDispute(input: { disputeId, outcome }, idempotencyKey)',
        deprecatedArguments: ['disputeId', 'outcome'],
      },
      { query: 'mutation($id: ID!) { closeDispute(disputeId: $id) { dispute { id } } }', variables: { id: disputeId }, newForm: 'closeDispute(input: {' },
    ];
    for (const refusal of refusals) {
      const answer = await app.client.raw({ query: refusal.query, variables: refusal.variables });
      expect({ query: refusal.query, code: answer.errors?.[0]?.extensions?.code }).toEqual({ query: refusal.query, code: 'VALIDATION_FAILED' });
      expect(answer.errors).toHaveLength(1);
      expect(answer.errors![0].message).toContain(`Use ${refusal.newForm}`);
      expect(answer.errors![0].extensions?.details).toMatchObject({ field: 'input' });
      if (refusal.deprecatedArguments) {
        expect(answer.errors![0].message).toContain('not both');
        expect(answer.errors![0].extensions?.details).toMatchObject({ deprecatedArguments: refusal.deprecatedArguments });
      }
    }

    // The key of the refused call is free again: nothing was decided under it.
    const retried = await sendKeyed(app.url, app.apiKey, CapturePaymentDocument, { input: { paymentId: hold.id, amount: '1.00' }, idempotencyKey: 'neither-form-1' });
    expectFresh(retried);
    expect(retried.data?.capturePayment?.payment.capturedAmount.amount).toBe('1.00');

    const after = (await readPayment(app.client, sale.id));
    expect(after).toEqual(before.sale);
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });

  it('a retry under the same key may switch forms: it gets the first answer, not IDEMPOTENCY_KEY_REUSED', async () => {
    const hold = await authorize(app.client, { amount: '50.00' });
    const captureKey = newIdempotencyKey('capture-switches-form');
    const oldForm = await sendKeyed(app.url, app.apiKey, CapturePaymentOldFormDocument, { paymentId: hold.id, amount: '40.00', idempotencyKey: captureKey });
    expectFresh(oldForm);
    const newForm = await sendKeyed(app.url, app.apiKey, CapturePaymentDocument, { input: { paymentId: hold.id, amount: '40.00' }, idempotencyKey: captureKey });
    expectReplayOf(oldForm, newForm, captureKey);
    // Another amount under the key is another request, in either form, named by its new-form path.
    const otherAmount = await sendKeyed(app.url, app.apiKey, CapturePaymentDocument, { input: { paymentId: hold.id, amount: '30.00' }, idempotencyKey: captureKey });
    expect(errorCodeOf(otherAmount)).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(otherAmount.errors![0].extensions?.details).toMatchObject({ differingArguments: ['input.amount'] });

    const refundKey = newIdempotencyKey('refund-switches-form');
    const first = await sendKeyed(app.url, app.apiKey, RefundPaymentDocument, { input: { paymentId: hold.id, amount: '5.00' }, idempotencyKey: refundKey });
    expectFresh(first);
    const again = await sendKeyed(app.url, app.apiKey, RefundPaymentOldFormDocument, { paymentId: hold.id, input: { amount: '5.00' }, idempotencyKey: refundKey });
    expectReplayOf(first, again, refundKey);

    const payment = await readPayment(app.client, hold.id);
    expect(payment).toMatchObject({ capturedAmount: { amount: '40.00' }, refundedAmount: { amount: '5.00' } });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
