import { Scope } from '../../src/modules/auth/scopes';
import { scopeOfEventType } from '../../src/modules/webhooks/event-stream.service';
import { WEBHOOK_EVENT_TYPES } from '../../src/modules/webhooks/webhook-rules';

/**
 * GET /v1/events/stream serves each event to credentials that read its area: every event type must
 * have that area's read scope, so that a type added later cannot be streamed to the wrong credential
 * (or fail every stream) unnoticed.
 */
describe('the scope that reads each event type', () => {
  const expected: [prefix: string, scope: Scope][] = [
    ['journal_entry.', Scope.LEDGER_READ],
    ['payment.', Scope.PAYMENTS_READ],
    ['invoice.', Scope.INVOICES_READ],
    ['reconciliation.', Scope.RECONCILIATION_READ],
  ];

  it.each([...WEBHOOK_EVENT_TYPES])('%s is read with its area’s scope', (type) => {
    const area = expected.find(([prefix]) => type.startsWith(prefix));
    expect(area).toBeDefined();
    expect(scopeOfEventType(type)).toBe(area![1]);
  });

  it('refuses a type of no known area rather than guessing', () => {
    expect(() => scopeOfEventType('customer.created')).toThrow('No scope reads events of type customer.created');
  });
});
