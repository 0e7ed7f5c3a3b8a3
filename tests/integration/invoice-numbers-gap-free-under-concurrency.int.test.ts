import { runInTransaction } from '../../src/db/transaction';
import { type InvoiceNumberSettings, requireInvoiceNumberSettings } from '../../src/modules/invoicing/invoice-numbers';
import { type IssuedInvoiceNumber, nextInvoiceNumber } from '../../src/modules/invoicing/invoice-numbers.service';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';

/** Thrown by a finalisation that fails after taking its number, so that its transaction rolls back. */
class FinalisationFailed extends Error {
  constructor(readonly issued: IssuedInvoiceNumber) {
    super(`finalisation of ${issued.number} failed`);
  }
}

/**
 * Numbers are taken inside the finalising transaction, with the series' counter row locked to its
 * end: however many finalisations race, the committed numbers of a series are 1…n, each once, and a
 * finalisation that rolls back gives its number back to the next one.
 */
describeEachDatabase('invoice numbers are gap-free under concurrency', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  const plain = requireInvoiceNumberSettings({ prefix: 'INV' });
  const yearly = requireInvoiceNumberSettings({ prefix: 'INV', yearlyReset: true });
  const finalisedAt = new Date('2026-03-14T10:00:00Z');

  /** A finalisation of one invoice: takes a number, then commits, or fails and rolls back. */
  function finalise(tenantId: string, settings: InvoiceNumberSettings, at: Date, failAfterNumbering = false): Promise<IssuedInvoiceNumber> {
    return runInTransaction(app.runtime.dataSource, async (manager) => {
      const issued = await nextInvoiceNumber(manager, tenantId, settings, at);
      if (failAfterNumbering) throw new FinalisationFailed(issued);
      return issued;
    });
  }

  async function nextValueStored(tenantId: string, seriesKey: string): Promise<number | null> {
    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT next_value FROM invoice_number_sequences WHERE tenant_id = ? AND series_key = ?', [
      tenantId,
      seriesKey,
    ]);
    return rows.length ? Number(rows[0].next_value) : null;
  }

  const oneTo = (n: number) => Array.from({ length: n }, (_, index) => index + 1);
  const byValue = (a: IssuedInvoiceNumber, b: IssuedInvoiceNumber) => a.value - b.value;

  it('50 concurrent finalisations take 50 distinct consecutive numbers', async () => {
    const tenant = await app.createTenant('Fifty');
    const issued = await Promise.all(oneTo(50).map(() => finalise(tenant.tenantId, plain, finalisedAt)));
    issued.sort(byValue);
    expect(issued.map((i) => i.value)).toEqual(oneTo(50));
    expect(new Set(issued.map((i) => i.number)).size).toBe(50);
    expect(issued[0]).toEqual({ number: 'INV-000001', seriesKey: 'INV', value: 1 });
    expect(issued[49].number).toBe('INV-000050');
    expect(await nextValueStored(tenant.tenantId, 'INV')).toBe(51);
  });

  it('finalisations that roll back after taking a number leave no gap among the committed ones', async () => {
    const tenant = await app.createTenant('Rollbacks');
    // Every third of 60 fails after numbering; the first of all fails too, before the series exists.
    const failing = (index: number) => index % 3 === 0;
    const outcomes = await Promise.allSettled(oneTo(60).map((_, index) => finalise(tenant.tenantId, plain, finalisedAt, failing(index))));

    const committed = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : [])).sort(byValue);
    const given = outcomes.flatMap((o) => (o.status === 'rejected' && o.reason instanceof FinalisationFailed ? [o.reason.issued] : []));
    expect(committed).toHaveLength(40);
    expect(given).toHaveLength(20);
    expect(committed.map((i) => i.value)).toEqual(oneTo(40));
    // Each rolled-back number was taken again by a later finalisation, or is the next one to be given.
    for (const number of given) expect(number.value).toBeLessThanOrEqual(41);
    expect(await nextValueStored(tenant.tenantId, 'INV')).toBe(41);
    expect((await finalise(tenant.tenantId, plain, finalisedAt)).number).toBe('INV-000041');
  });

  it('a series that only rolled back does not exist, and starts at 1', async () => {
    const tenant = await app.createTenant('Only rollbacks');
    await expect(finalise(tenant.tenantId, plain, finalisedAt, true)).rejects.toBeInstanceOf(FinalisationFailed);
    expect(await nextValueStored(tenant.tenantId, 'INV')).toBeNull();
    expect((await finalise(tenant.tenantId, plain, finalisedAt)).number).toBe('INV-000001');
  });

  it('with a yearly reset, a new year starts again at 1, counted by the UTC year of the finalisation', async () => {
    const tenant = await app.createTenant('Yearly');
    const lastSecondOf2026 = new Date('2026-12-31T23:59:59.999Z');
    const firstOf2027 = new Date('2027-01-01T00:00:00Z');
    const in2026 = await Promise.all(oneTo(3).map(() => finalise(tenant.tenantId, yearly, lastSecondOf2026)));
    expect(in2026.sort(byValue).map((i) => i.number)).toEqual(['INV-2026-000001', 'INV-2026-000002', 'INV-2026-000003']);
    expect((await finalise(tenant.tenantId, yearly, firstOf2027)).number).toBe('INV-2027-000001');
    expect((await finalise(tenant.tenantId, yearly, firstOf2027)).number).toBe('INV-2027-000002');
    // A late finalisation dated in 2026 continues 2026's series.
    expect((await finalise(tenant.tenantId, yearly, lastSecondOf2026)).number).toBe('INV-2026-000004');
    // Without the reset the year plays no part: one series across years.
    expect((await finalise(tenant.tenantId, plain, lastSecondOf2026)).number).toBe('INV-000001');
    expect((await finalise(tenant.tenantId, plain, firstOf2027)).number).toBe('INV-000002');
  });

  it('settings that print the same text share one counter, so no number is given twice', async () => {
    const tenant = await app.createTenant('Colliding settings');
    const prefixWithYear = requireInvoiceNumberSettings({ prefix: 'INV-2026' });
    const first = await finalise(tenant.tenantId, yearly, finalisedAt);
    const second = await finalise(tenant.tenantId, prefixWithYear, finalisedAt);
    const padded = await finalise(tenant.tenantId, { ...yearly, padding: 3 }, finalisedAt);
    expect([first.number, second.number, padded.number]).toEqual(['INV-2026-000001', 'INV-2026-000002', 'INV-2026-003']);
  });

  it('two tenants finalising at once have independent series', async () => {
    const [north, south] = await Promise.all([app.createTenant('North'), app.createTenant('South')]);
    const tenantIds = oneTo(40).map((n) => (n % 2 ? north.tenantId : south.tenantId));
    const issued = await Promise.all(tenantIds.map((tenantId) => finalise(tenantId, yearly, finalisedAt).then((number) => ({ tenantId, number }))));
    for (const tenant of [north, south]) {
      const own = issued.filter((i) => i.tenantId === tenant.tenantId).map((i) => i.number.value);
      expect(own.sort((a, b) => a - b)).toEqual(oneTo(20));
      expect(await nextValueStored(tenant.tenantId, 'INV-2026')).toBe(21);
    }
  });

  it('refuses to take a number outside a transaction, where a later failure would burn it', async () => {
    const tenant = await app.createTenant('No transaction');
    await expect(nextInvoiceNumber(app.runtime.dataSource.manager, tenant.tenantId, plain, finalisedAt)).rejects.toThrow(/inside the finalising transaction/);
    expect(await nextValueStored(tenant.tenantId, 'INV')).toBeNull();
  });
});
