import { AppError, ErrorCode } from '../../src/common/errors';
import { type ChartAccounts, ChartRole } from '../../src/modules/ledger/default-chart';
import { EntryDirection, JournalEntryStatus } from '../../src/modules/ledger/ledger.types';
import {
  captureRefusal,
  closeDisputeRefusal,
  DisputeStatus,
  evidenceRefusal,
  expiryRefusal,
  openDisputeRefusal,
  type PaymentState,
  PaymentStatus,
  PendingOperation,
  refundableMinorOf,
  refundRefusal,
  voidRefusal,
} from '../../src/modules/payments/payment-state';
import { ledgerCommandFor, POSTING_RULES, type PostingContext, PostingEvent } from '../../src/modules/payments/posting-rules';

/**
 * The payment lifecycle's pure rules, table by table: every status against every action, then each
 * amount limit at the limit and one minor unit past it. A refusal's code is what the client sees in
 * `extensions.code`, so each row names the exact code (or LEGAL).
 */

const NOW = new Date('2030-06-01T12:00:00.000Z');
const HOUR_MS = 3600_000;
const AUTHORIZED_MINOR = 10_000n;
const CAPTURED_MINOR = 8_000n;

type Verdict = 'LEGAL' | ErrorCode.INVALID_STATE_TRANSITION | ErrorCode.VALIDATION_FAILED;
const LEGAL: Verdict = 'LEGAL';
const ILLEGAL: Verdict = ErrorCode.INVALID_STATE_TRANSITION;
const TOO_MUCH: Verdict = ErrorCode.VALIDATION_FAILED;

/** A payment in `status` as the service would hold it: captured amounts only once captured. */
function paymentIn(status: PaymentStatus, overrides: Partial<PaymentState> = {}): PaymentState {
  return {
    id: 'pay_01J00000000000000000000000',
    status,
    currency: 'USD',
    authorizedMinor: AUTHORIZED_MINOR,
    capturedMinor: status === PaymentStatus.CAPTURED ? CAPTURED_MINOR : 0n,
    refundedMinor: 0n,
    refundPendingMinor: 0n,
    disputedMinor: 0n,
    disputeLostMinor: 0n,
    pendingOperation: null,
    expiresAt: new Date(NOW.getTime() + HOUR_MS),
    ...overrides,
  };
}

function verdictOf(refusal: AppError | undefined): Verdict {
  if (refusal === undefined) return LEGAL;
  expect(refusal).toBeInstanceOf(AppError);
  return refusal.code as Verdict;
}

type Action = 'capture' | 'void' | 'refund' | 'open dispute' | 'expire';

/** Each action with an amount well inside every limit, and (for expiry) a time past the window. */
const ACTIONS: Record<Action, (state: PaymentState) => AppError | undefined> = {
  capture: (state) => captureRefusal(state, 1n, NOW),
  void: (state) => voidRefusal(state),
  refund: (state) => refundRefusal(state, 1n),
  'open dispute': (state) => openDisputeRefusal(state, 1n, false),
  expire: (state) => expiryRefusal(state, new Date(state.expiresAt.getTime() + 1)),
};

/** Which action each status allows; everything else is INVALID_STATE_TRANSITION. */
const ALLOWED: Record<PaymentStatus, Action[]> = {
  [PaymentStatus.PROCESSING]: [],
  [PaymentStatus.AUTHORIZED]: ['capture', 'void', 'expire'],
  [PaymentStatus.CAPTURED]: ['refund', 'open dispute'],
  [PaymentStatus.VOIDED]: [],
  [PaymentStatus.EXPIRED]: [],
  [PaymentStatus.FAILED]: [],
};

describe('payment state: every status × every action', () => {
  it('covers every PaymentStatus', () => {
    expect(Object.keys(ALLOWED).sort()).toEqual(Object.values(PaymentStatus).sort());
  });

  const matrix = Object.values(PaymentStatus).flatMap((status) =>
    (Object.keys(ACTIONS) as Action[]).map((action) => ({ status, action, expected: ALLOWED[status].includes(action) ? LEGAL : ILLEGAL })),
  );

  it.each(matrix)('$action on a $status payment is $expected', ({ status, action, expected }) => {
    const refusal = ACTIONS[action](paymentIn(status));
    expect(verdictOf(refusal)).toBe(expected);
    if (refusal) expect(refusal.details).toMatchObject({ paymentId: 'pay_01J00000000000000000000000', status, action: action === 'open dispute' ? 'dispute' : action });
  });

  it.each(matrix.filter((row) => row.expected === ILLEGAL))(
    '$action on a $status payment is refused for its state even with an amount past every limit',
    ({ status, action }) => {
      const state = paymentIn(status);
      const huge = 10n ** 15n;
      const refusal = {
        capture: () => captureRefusal(state, huge, NOW),
        void: () => voidRefusal(state),
        refund: () => refundRefusal(state, huge),
        'open dispute': () => openDisputeRefusal(state, huge, false),
        expire: () => expiryRefusal(state, new Date(NOW.getTime() + 100 * HOUR_MS)),
      }[action]();
      expect(verdictOf(refusal)).toBe(ILLEGAL);
    },
  );
});

interface Row {
  name: string;
  state: PaymentState;
  refusal: (state: PaymentState) => AppError | undefined;
  expected: Verdict;
  /** For VALIDATION_FAILED: the limit the refusal names, in major units. */
  limit?: string;
}

function runRows(rows: Row[]): void {
  it.each(rows)('$name → $expected', ({ state, refusal, expected, limit }) => {
    const error = refusal(state);
    expect(verdictOf(error)).toBe(expected);
    if (limit !== undefined) expect(error?.details).toMatchObject({ field: 'amount', limit });
  });
}

describe('capture: the authorized amount, the window, a gateway call under way', () => {
  const authorized = paymentIn(PaymentStatus.AUTHORIZED);
  const at = (amountMinor: bigint, now = NOW) => (state: PaymentState) => captureRefusal(state, amountMinor, now);
  runRows([
    { name: 'capture of exactly the authorized amount', state: authorized, refusal: at(AUTHORIZED_MINOR), expected: LEGAL },
    { name: 'capture of one minor unit', state: authorized, refusal: at(1n), expected: LEGAL },
    { name: 'capture of the authorized amount + 1', state: authorized, refusal: at(AUTHORIZED_MINOR + 1n), expected: TOO_MUCH, limit: '100.00' },
    {
      name: 'capture 1 ms before the authorization expires',
      state: authorized,
      refusal: at(1n, new Date(authorized.expiresAt.getTime() - 1)),
      expected: LEGAL,
    },
    { name: 'capture at the instant the authorization expires', state: authorized, refusal: at(1n, authorized.expiresAt), expected: ILLEGAL },
    {
      name: 'capture after the authorization expired (the job has not run yet)',
      state: authorized,
      refusal: at(1n, new Date(authorized.expiresAt.getTime() + 1)),
      expected: ILLEGAL,
    },
    ...Object.values(PendingOperation).map((operation) => ({
      name: `capture while a ${operation} is under way at the gateway`,
      state: paymentIn(PaymentStatus.AUTHORIZED, { pendingOperation: operation }),
      refusal: at(1n),
      expected: ILLEGAL,
    })),
    {
      name: 'capture above the authorized amount while a CAPTURE is under way (the state decides first)',
      state: paymentIn(PaymentStatus.AUTHORIZED, { pendingOperation: PendingOperation.CAPTURE }),
      refusal: at(AUTHORIZED_MINOR + 1n),
      expected: ILLEGAL,
    },
    { name: 'a second capture (already CAPTURED) of the authorized amount', state: paymentIn(PaymentStatus.CAPTURED), refusal: at(AUTHORIZED_MINOR), expected: ILLEGAL },
    { name: 'capture after a void', state: paymentIn(PaymentStatus.VOIDED), refusal: at(1n), expected: ILLEGAL },
    { name: 'capture of a JPY authorization of exactly its amount', state: paymentIn(PaymentStatus.AUTHORIZED, { currency: 'JPY', authorizedMinor: 500n }), refusal: at(500n), expected: LEGAL },
    {
      name: 'capture of a JPY authorization + 1 yen',
      state: paymentIn(PaymentStatus.AUTHORIZED, { currency: 'JPY', authorizedMinor: 500n }),
      refusal: at(501n),
      expected: TOO_MUCH,
      limit: '500',
    },
  ]);
});

describe('void: only an AUTHORIZED payment with no gateway call under way', () => {
  runRows([
    { name: 'void of an authorization', state: paymentIn(PaymentStatus.AUTHORIZED), refusal: voidRefusal, expected: LEGAL },
    {
      name: 'void of an authorization past its window (the hold is released either way)',
      state: paymentIn(PaymentStatus.AUTHORIZED, { expiresAt: new Date(NOW.getTime() - HOUR_MS) }),
      refusal: voidRefusal,
      expected: LEGAL,
    },
    ...Object.values(PendingOperation).map((operation) => ({
      name: `void while a ${operation} is under way at the gateway`,
      state: paymentIn(PaymentStatus.AUTHORIZED, { pendingOperation: operation }),
      refusal: voidRefusal,
      expected: ILLEGAL,
    })),
    { name: 'void after capture', state: paymentIn(PaymentStatus.CAPTURED), refusal: voidRefusal, expected: ILLEGAL },
    { name: 'a second void', state: paymentIn(PaymentStatus.VOIDED), refusal: voidRefusal, expected: ILLEGAL },
  ]);
});

describe('expiry: only past the window, only AUTHORIZED, not while a gateway call is under way', () => {
  const authorized = paymentIn(PaymentStatus.AUTHORIZED);
  const expiresAtMs = authorized.expiresAt.getTime();
  const at = (ms: number) => (state: PaymentState) => expiryRefusal(state, new Date(ms));
  runRows([
    { name: 'expiry 1 ms before expiresAt', state: authorized, refusal: at(expiresAtMs - 1), expected: ILLEGAL },
    { name: 'expiry an hour before expiresAt', state: authorized, refusal: at(expiresAtMs - HOUR_MS), expected: ILLEGAL },
    { name: 'expiry at expiresAt', state: authorized, refusal: at(expiresAtMs), expected: LEGAL },
    { name: 'expiry 1 ms after expiresAt', state: authorized, refusal: at(expiresAtMs + 1), expected: LEGAL },
    ...Object.values(PendingOperation).map((operation) => ({
      name: `expiry past the window while a ${operation} is under way at the gateway`,
      state: paymentIn(PaymentStatus.AUTHORIZED, { pendingOperation: operation }),
      refusal: at(expiresAtMs + HOUR_MS),
      expected: ILLEGAL,
    })),
    { name: 'expiry of an already EXPIRED payment', state: paymentIn(PaymentStatus.EXPIRED), refusal: at(expiresAtMs + 1), expected: ILLEGAL },
    { name: 'expiry of a CAPTURED payment past its window', state: paymentIn(PaymentStatus.CAPTURED), refusal: at(expiresAtMs + 1), expected: ILLEGAL },
  ]);
});

describe('refund: captured, less refunds done or under way, less open and lost disputes', () => {
  const captured = (overrides: Partial<PaymentState> = {}) => paymentIn(PaymentStatus.CAPTURED, overrides);
  const of = (amountMinor: bigint) => (state: PaymentState) => refundRefusal(state, amountMinor);
  const scenarios: { name: string; state: PaymentState; refundable: bigint; limit: string }[] = [
    { name: 'nothing refunded yet', state: captured(), refundable: 8_000n, limit: '80.00' },
    { name: 'after earlier refunds of 30.00', state: captured({ refundedMinor: 3_000n }), refundable: 5_000n, limit: '50.00' },
    {
      name: 'with 30.00 refunded and 20.00 of refunds still pending at the gateway',
      state: captured({ refundedMinor: 3_000n, refundPendingMinor: 2_000n }),
      refundable: 3_000n,
      limit: '30.00',
    },
    { name: 'with an open dispute holding 40.00', state: captured({ disputedMinor: 4_000n }), refundable: 4_000n, limit: '40.00' },
    { name: 'after a dispute of 40.00 was lost', state: captured({ disputeLostMinor: 4_000n }), refundable: 4_000n, limit: '40.00' },
    {
      name: 'with every kind of deduction at once (10 refunded, 10 pending, 20 disputed, 15 lost)',
      state: captured({ refundedMinor: 1_000n, refundPendingMinor: 1_000n, disputedMinor: 2_000n, disputeLostMinor: 1_500n }),
      refundable: 2_500n,
      limit: '25.00',
    },
  ];

  it.each(scenarios)('refundableMinorOf $name is $refundable', ({ state, refundable }) => {
    expect(refundableMinorOf(state)).toBe(refundable);
  });

  runRows(
    scenarios.flatMap(({ name, state, refundable, limit }) => [
      { name: `refund of exactly the refundable amount ${name}`, state, refusal: of(refundable), expected: LEGAL },
      { name: `refund of the refundable amount + 1 ${name}`, state, refusal: of(refundable + 1n), expected: TOO_MUCH, limit },
    ]),
  );

  runRows([
    { name: 'refund of the whole lost amount after a lost dispute of 40.00 and 40.00 refunded', state: captured({ disputeLostMinor: 4_000n, refundedMinor: 4_000n }), refusal: of(1n), expected: ILLEGAL },
    { name: 'refund when everything was refunded', state: captured({ refundedMinor: CAPTURED_MINOR }), refusal: of(1n), expected: ILLEGAL },
    { name: 'refund when everything is in refunds still pending', state: captured({ refundPendingMinor: CAPTURED_MINOR }), refusal: of(1n), expected: ILLEGAL },
    { name: 'refund when an open dispute holds everything', state: captured({ disputedMinor: CAPTURED_MINOR }), refusal: of(1n), expected: ILLEGAL },
    { name: 'refund when a lost dispute took everything', state: captured({ disputeLostMinor: CAPTURED_MINOR }), refusal: of(1n), expected: ILLEGAL },
    { name: 'refund of an authorization not captured', state: paymentIn(PaymentStatus.AUTHORIZED), refusal: of(1n), expected: ILLEGAL },
    { name: 'refund of a voided payment', state: paymentIn(PaymentStatus.VOIDED), refusal: of(1n), expected: ILLEGAL },
  ]);
});

describe('open dispute: only CAPTURED, one open at a time, up to what is still with the business', () => {
  const captured = (overrides: Partial<PaymentState> = {}) => paymentIn(PaymentStatus.CAPTURED, overrides);
  const of =
    (amountMinor: bigint, hasOpenDispute = false) =>
    (state: PaymentState) =>
      openDisputeRefusal(state, amountMinor, hasOpenDispute);
  runRows([
    { name: 'dispute of the whole captured amount', state: captured(), refusal: of(CAPTURED_MINOR), expected: LEGAL },
    { name: 'dispute of the captured amount + 1', state: captured(), refusal: of(CAPTURED_MINOR + 1n), expected: TOO_MUCH, limit: '80.00' },
    { name: 'dispute of what is left after 30.00 refunded', state: captured({ refundedMinor: 3_000n }), refusal: of(5_000n), expected: LEGAL },
    { name: 'dispute of what is left after 30.00 refunded + 1', state: captured({ refundedMinor: 3_000n }), refusal: of(5_001n), expected: TOO_MUCH, limit: '50.00' },
    { name: 'dispute of what a lost dispute left', state: captured({ disputeLostMinor: 3_000n }), refusal: of(5_000n), expected: LEGAL },
    { name: 'dispute of what a lost dispute left + 1', state: captured({ disputeLostMinor: 3_000n }), refusal: of(5_001n), expected: TOO_MUCH, limit: '50.00' },
    { name: 'a second dispute while one is open', state: captured({ disputedMinor: 1_000n }), refusal: of(1n, true), expected: ILLEGAL },
    { name: 'dispute when everything was refunded', state: captured({ refundedMinor: CAPTURED_MINOR }), refusal: of(1n), expected: ILLEGAL },
    { name: 'dispute when a lost dispute took everything', state: captured({ disputeLostMinor: CAPTURED_MINOR }), refusal: of(1n), expected: ILLEGAL },
    { name: 'dispute on a voided payment', state: paymentIn(PaymentStatus.VOIDED), refusal: of(1n), expected: ILLEGAL },
    { name: 'dispute on an expired payment', state: paymentIn(PaymentStatus.EXPIRED), refusal: of(1n), expected: ILLEGAL },
    { name: 'dispute on an authorization not captured', state: paymentIn(PaymentStatus.AUTHORIZED), refusal: of(1n), expected: ILLEGAL },
  ]);
});

describe('dispute evidence and closing: only while the dispute is open', () => {
  const open = [DisputeStatus.OPEN, DisputeStatus.UNDER_REVIEW];
  it.each(Object.values(DisputeStatus).map((status) => ({ status, expected: open.includes(status) ? LEGAL : ILLEGAL })))(
    'evidence and closing of a $status dispute → $expected',
    ({ status, expected }) => {
      expect(verdictOf(evidenceRefusal('dp_01J00000000000000000000000', status))).toBe(expected);
      expect(verdictOf(closeDisputeRefusal('dp_01J00000000000000000000000', status))).toBe(expected);
    },
  );
});

describe('POSTING_RULES', () => {
  const chart = Object.fromEntries(Object.values(ChartRole).map((role) => [role, `acct_${role}`])) as ChartAccounts;
  const context = (overrides: Partial<PostingContext> = {}): PostingContext => ({
    tenantId: 'ten_01J00000000000000000000000',
    currency: 'USD',
    chart,
    description: 'test',
    effectiveAt: NOW,
    metadata: null,
    pendingEntryId: 'je_01J00000000000000000000000',
    ...overrides,
  });
  const events = Object.values(PostingEvent);
  const creating = events.filter((event) => ['POSTED', 'PENDING'].includes(POSTING_RULES[event].entry));
  const withLines = events.filter((event) => POSTING_RULES[event].entry !== 'VOID_PENDING');

  it('has exactly one rule for every PostingEvent', () => {
    expect(Object.keys(POSTING_RULES).sort()).toEqual([...events].sort());
    for (const event of events) expect(POSTING_RULES[event]).toEqual(expect.objectContaining({ entry: expect.any(String), amount: expect.any(String) }));
  });

  it.each(withLines)('%s debits one role and credits another', (event) => {
    const rule = POSTING_RULES[event];
    expect(rule.debit).not.toBeNull();
    expect(rule.credit).not.toBeNull();
    expect(Object.values(ChartRole)).toContain(rule.debit);
    expect(Object.values(ChartRole)).toContain(rule.credit);
    expect(rule.debit).not.toBe(rule.credit);
  });

  it.each(events.filter((event) => POSTING_RULES[event].entry === 'VOID_PENDING'))('%s releases the hold and names no accounts', (event) => {
    expect(POSTING_RULES[event]).toMatchObject({ debit: null, credit: null });
    expect(ledgerCommandFor(event, context(), 0n)).toEqual({
      type: 'void-pending',
      tenantId: 'ten_01J00000000000000000000000',
      entryId: 'je_01J00000000000000000000000',
      effectiveAt: NOW,
    });
  });

  it.each(withLines)('%s gives balanced lines on the rule’s accounts, in the payment’s currency', (event) => {
    const rule = POSTING_RULES[event];
    for (const amountMinor of [1n, 12_345n, 2n ** 62n]) {
      const command = ledgerCommandFor(event, context({ currency: 'JPY' }), amountMinor);
      expect(command).not.toBeNull();
      if (!command || !('lines' in command) || !command.lines) throw new Error(`${event} gave no lines`);
      const debits = command.lines.filter((line) => line.direction === EntryDirection.DEBIT);
      const credits = command.lines.filter((line) => line.direction === EntryDirection.CREDIT);
      const total = (lines: typeof debits) => lines.reduce((sum, line) => sum + line.amountMinor, 0n);
      expect(total(debits)).toBe(amountMinor);
      expect(total(credits)).toBe(amountMinor);
      expect(debits.map((line) => line.accountId)).toEqual([chart[rule.debit as ChartRole]]);
      expect(credits.map((line) => line.accountId)).toEqual([chart[rule.credit as ChartRole]]);
      for (const line of command.lines) expect(line.currency).toBe('JPY');
    }
  });

  it.each(creating)('%s creates an entry of the rule’s status', (event) => {
    const command = ledgerCommandFor(event, context(), 100n);
    expect(command).toMatchObject({
      type: 'create',
      status: POSTING_RULES[event].entry === 'PENDING' ? JournalEntryStatus.PENDING : JournalEntryStatus.POSTED,
    });
  });

  it('posts the authorization’s pending entry on capture', () => {
    expect(ledgerCommandFor(PostingEvent.CAPTURED, context(), 100n)).toMatchObject({ type: 'post-pending', entryId: 'je_01J00000000000000000000000' });
  });

  it.each(creating)('%s with an amount of zero (or less) needs no entry: null', (event) => {
    expect(ledgerCommandFor(event, context(), 0n)).toBeNull();
    expect(ledgerCommandFor(event, context(), -1n)).toBeNull();
  });

  it.each(events.filter((event) => ['POST_PENDING', 'VOID_PENDING'].includes(POSTING_RULES[event].entry)))(
    '%s refuses to run without the authorization’s pending entry',
    (event) => {
      expect(() => ledgerCommandFor(event, context({ pendingEntryId: null }), 100n)).toThrow(/pending entry/);
    },
  );
});
