import { loadConfig } from '../../src/config';
import { createPubSub } from '../../src/graphql/pubsub';
import {
  decodeInvoiceEvent,
  encodeInvoiceEvent,
  INVOICE_EVENT_DESCRIPTIONS,
  type InvoiceEvent,
  invoiceEventsChannel,
  InvoiceEventType,
  pubSubInvoiceEvents,
  subscribeToInvoiceEvents,
} from '../../src/modules/invoicing/invoices.events';
import { type InvoiceRecord, InvoiceStatus } from '../../src/modules/invoicing/invoices.types';
import { normaliseWebhookEvents, WEBHOOK_EVENT_DESCRIPTIONS, WEBHOOK_EVENT_TYPES } from '../../src/modules/webhooks/webhook-rules';

/** An invoice with every field set (no nulls), so that a field the encoding forgot shows as a difference. */
function invoice(overrides: Partial<InvoiceRecord> = {}): InvoiceRecord {
  const at = (seconds: number) => new Date(Date.UTC(2026, 2, 10, 12, 0, seconds, 123));
  return {
    id: 'inv_01JCY0000000000000000000AA',
    tenantId: 'ten_A',
    customerId: 'cus_01JCY0000000000000000000AA',
    currency: 'USD',
    status: InvoiceStatus.OPEN,
    number: 'INV-2026-000042',
    seriesKey: 'INV-2026',
    numberValue: 42,
    issueDate: '2026-03-10',
    dueDate: '2026-04-09',
    paymentTermsDays: 30,
    memo: 'Thanks',
    metadata: { order: 'A-1', nested: { ok: true } },
    subtotalMinor: 9_223_372_036_854_775_000n,
    discountTotalMinor: 1n,
    taxTotalMinor: 2n,
    totalMinor: 9_223_372_036_854_775_002n,
    amountPaidMinor: 3n,
    amountCreditedMinor: 4n,
    amountWrittenOffMinor: 5n,
    taxByRate: [{ rate: '19', taxableMinor: 9_223_372_036_854_775_000n, taxMinor: 2n }],
    journalEntryId: 'je_01JCY0000000000000000000AA',
    voidEntryId: 'je_01JCY0000000000000000000AB',
    writeOffEntryId: 'je_01JCY0000000000000000000AC',
    finalizedAt: at(1),
    paidAt: at(2),
    voidedAt: at(3),
    uncollectibleAt: at(4),
    overdueNotifiedAt: at(5),
    createdAt: at(6),
    updatedAt: at(7),
    version: 7,
    ...overrides,
  };
}

describe('invoice events', () => {
  it('survive the trip through a message unchanged: bigints past 2^53, nested tax groups and every date', () => {
    const event: InvoiceEvent = { type: InvoiceEventType.FINALIZED, invoice: invoice(), occurredAt: new Date('2026-03-10T12:00:07.123Z') };
    expect(decodeInvoiceEvent(encodeInvoiceEvent(event))).toEqual(event);
    const nulls = invoice({ number: null, finalizedAt: null, paidAt: null, overdueNotifiedAt: null, metadata: null, taxByRate: [] });
    expect(decodeInvoiceEvent(encodeInvoiceEvent({ ...event, invoice: nulls })).invoice).toEqual(nulls);
  });

  it('are published in order on their tenant’s channel and reach only that tenant’s subscribers, narrowed by invoice and customer', async () => {
    const pubSub = createPubSub(null);
    const publisher = pubSubInvoiceEvents(pubSub);
    const all = await subscribeToInvoiceEvents(pubSub, 'ten_A', { invoiceId: null, customerId: null });
    const one = await subscribeToInvoiceEvents(pubSub, 'ten_A', { invoiceId: 'inv_2', customerId: null });
    const ofCustomer = await subscribeToInvoiceEvents(pubSub, 'ten_A', { invoiceId: null, customerId: 'cus_2' });
    const at = new Date('2026-03-10T12:00:00Z');
    publisher.invoiceEventsCommitted([
      { type: InvoiceEventType.CREATED, invoice: invoice({ id: 'inv_1' }), occurredAt: at },
      { type: InvoiceEventType.FINALIZED, invoice: invoice({ id: 'inv_2' }), occurredAt: at },
      { type: InvoiceEventType.CREATED, invoice: invoice({ id: 'inv_3', tenantId: 'ten_B' }), occurredAt: at },
      { type: InvoiceEventType.OVERDUE, invoice: invoice({ id: 'inv_4', customerId: 'cus_2' }), occurredAt: at },
    ]);
    // A stray message on A's channel carrying another tenant's invoice is dropped by the tenant check.
    await pubSub.publish(invoiceEventsChannel('ten_A'), encodeInvoiceEvent({ type: InvoiceEventType.PAID, invoice: invoice({ id: 'inv_5', tenantId: 'ten_B' }), occurredAt: at }));
    publisher.invoiceEventsCommitted([{ type: InvoiceEventType.UPDATED, invoice: invoice({ id: 'inv_2', customerId: 'cus_2' }), occurredAt: at }]);
    const take = async (stream: AsyncIterableIterator<InvoiceEvent>, count: number) => {
      const seen: string[] = [];
      for (let i = 0; i < count; i += 1) {
        const { value } = await stream.next();
        seen.push(`${value.type} ${value.invoice.id}`);
      }
      return seen;
    };
    expect(await take(all, 4)).toEqual(['invoice.created inv_1', 'invoice.finalized inv_2', 'invoice.overdue inv_4', 'invoice.updated inv_2']);
    expect(await take(one, 2)).toEqual(['invoice.finalized inv_2', 'invoice.updated inv_2']);
    expect(await take(ofCustomer, 2)).toEqual(['invoice.overdue inv_4', 'invoice.updated inv_2']);
    await Promise.all([all.return?.(), one.return?.(), ofCustomer.return?.()]);
    expect(pubSub.listenerCount(invoiceEventsChannel('ten_A'))).toBe(0);
  });

  it('a publish that fails is logged, never thrown: the change has committed', async () => {
    const warnings: unknown[] = [];
    const failing = { publish: () => Promise.reject(new Error('redis down')) } as unknown as Parameters<typeof pubSubInvoiceEvents>[0];
    const log = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Parameters<typeof pubSubInvoiceEvents>[1];
    expect(() =>
      pubSubInvoiceEvents(failing, log).invoiceEventsCommitted([{ type: InvoiceEventType.CREATED, invoice: invoice(), occurredAt: new Date() }]),
    ).not.toThrow();
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toHaveLength(1);
  });

  it('every invoice event type is a webhook event type with the same description, and endpoints may subscribe to it', () => {
    for (const type of Object.values(InvoiceEventType)) {
      expect(WEBHOOK_EVENT_TYPES).toContain(type);
      expect(WEBHOOK_EVENT_DESCRIPTIONS[type]).toBe(INVOICE_EVENT_DESCRIPTIONS[type]);
    }
    expect(WEBHOOK_EVENT_TYPES.filter((type) => type.startsWith('invoice.')).sort()).toEqual(Object.values(InvoiceEventType).sort());
    // Names are added, never renamed: the first ones keep their place.
    expect(WEBHOOK_EVENT_TYPES.slice(0, 3)).toEqual(['journal_entry.posted', 'journal_entry.pending', 'journal_entry.voided']);
    expect(normaliseWebhookEvents(['invoice.overdue', 'invoice.finalized', 'invoice.overdue'])).toEqual(['invoice.finalized', 'invoice.overdue']);
  });

  it('INVOICE_OVERDUE_SWEEP_MS sets the sweep interval (60 s by default) and refuses a bad value', () => {
    expect(loadConfig({}).invoices.overdueSweepIntervalMs).toBe(60_000);
    expect(loadConfig({ INVOICE_OVERDUE_SWEEP_MS: '250' }).invoices.overdueSweepIntervalMs).toBe(250);
    for (const bad of ['0', 'soon', '86400001']) expect(() => loadConfig({ INVOICE_OVERDUE_SWEEP_MS: bad })).toThrow(/INVOICE_OVERDUE_SWEEP_MS/);
  });
});
