import { CreateCustomerDocument, CreateInvoiceDocument, type CreateInvoiceInput, FinalizeInvoiceDocument, InvoiceNumbersDocument, type InvoiceNumbersQuery, type InvoiceFilterInput } from '../generated/graphql';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { TestClock } from '../helpers/test-clock';

/**
 * invoices(filter:) by overdue and by issue and due date ranges (inclusive, YYYY-MM-DD): the same
 * answer as each invoice's own `overdue` field, an exact totalCount, pages that add up to it, and
 * malformed or reversed dates refused with VALIDATION_FAILED naming the field.
 */

const LINES: CreateInvoiceInput['lines'] = [{ description: 'Work', quantity: '1', unitPrice: '10.00', taxRate: '0', taxBehaviour: 'EXCLUSIVE' }];
const at = (day: string) => new Date(`${day}T10:00:00Z`);

describeEachDatabase('invoices(filter:) by overdue, issue date and due date', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  const clock = new TestClock(at('2026-03-10'));
  const ids: Record<string, string> = {};
  let customerId: string;
  let secondCustomerId: string;

  const list = async (filter: InvoiceFilterInput, client = app.client) => {
    const { invoices } = await client.ok(InvoiceNumbersDocument, { filter, first: 100 });
    const names = Object.fromEntries(Object.entries(ids).map(([name, id]) => [id, name]));
    return { totalCount: invoices.totalCount, names: invoices.edges.map((edge) => names[edge.node.id]), nodes: invoices.edges.map((edge) => edge.node) };
  };

  beforeAll(async () => {
    app = await startTestApp(kind, { clock });
    other = await app.createTenant('Globex');
    customerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'First' } })).createCustomer.customer.id;
    secondCustomerId = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Second' } })).createCustomer.customer.id;
    const create = async (name: string, extra: Partial<CreateInvoiceInput>, finalizeOn: string | null, customer = customerId) => {
      ids[name] = (await app.client.ok(CreateInvoiceDocument, { input: { customerId: customer, currency: 'USD', lines: LINES, ...extra } })).createInvoice.invoice.id;
      if (finalizeOn) {
        clock.set(at(finalizeOn));
        await app.client.ok(FinalizeInvoiceDocument, { input: { invoiceId: ids[name] } });
      }
    };
    await create('A', { dueDate: '2026-03-15' }, '2026-03-10');
    await create('B', { paymentTermsDays: 30 }, '2026-03-10', secondCustomerId); // due 2026-04-09
    await create('C', { paymentTermsDays: 0 }, '2026-03-12'); // due 2026-03-12
    await create('D', { dueDate: '2026-03-11' }, null); // a draft with a due date
    await create('E', { paymentTermsDays: 7 }, null); // a draft without one
    await create('F', { dueDate: '2026-03-11' }, '2026-03-10');
    // F was paid: a PAID invoice is never overdue. (Payments are another part of the module; the
    // filter reads the stored status, which they keep.)
    await app.runtime.dataSource.query("UPDATE invoices SET status = 'PAID' WHERE id = ?", [ids.F]);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('lists OPEN invoices past their due date as overdue, the same ones the invoices’ own overdue field names', async () => {
    clock.set(at('2026-03-20'));
    expect(await list({ overdue: true })).toMatchObject({ totalCount: 2, names: ['A', 'C'] });
    const rest = await list({ overdue: false });
    expect(rest).toMatchObject({ totalCount: 4, names: ['B', 'D', 'E', 'F'] });
    const all = await list({});
    expect(all.totalCount).toBe(6);
    for (const node of all.nodes) expect(node.overdue).toBe(['A', 'C'].includes(Object.entries(ids).find(([, id]) => id === node.id)?.[0] as string));

    // Due today is not overdue yet; the day after it is.
    clock.set(at('2026-03-15'));
    expect(await list({ overdue: true })).toMatchObject({ totalCount: 1, names: ['C'] });
    clock.set(at('2026-03-16'));
    expect(await list({ overdue: true })).toMatchObject({ totalCount: 2, names: ['A', 'C'] });
    clock.set(at('2026-04-10'));
    expect(await list({ overdue: true })).toMatchObject({ totalCount: 3, names: ['A', 'B', 'C'] });
    expect(await list({ overdue: true, customerId: secondCustomerId })).toMatchObject({ totalCount: 1, names: ['B'] });
    expect(await list({ overdue: true, status: 'DRAFT' })).toMatchObject({ totalCount: 0, names: [] });
  });

  it('filters by inclusive issue and due date ranges; drafts have no issue date, and drafts on terms no due date', async () => {
    expect(await list({ issueDateFrom: '2026-03-10', issueDateTo: '2026-03-10' })).toMatchObject({ totalCount: 3, names: ['A', 'B', 'F'] });
    expect(await list({ issueDateFrom: '2026-03-11' })).toMatchObject({ totalCount: 1, names: ['C'] });
    expect(await list({ issueDateTo: '2026-03-12' })).toMatchObject({ totalCount: 4, names: ['A', 'B', 'C', 'F'] });
    expect(await list({ dueDateFrom: '2026-03-12', dueDateTo: '2026-03-15' })).toMatchObject({ totalCount: 2, names: ['A', 'C'] });
    expect(await list({ dueDateTo: '2026-03-11' })).toMatchObject({ totalCount: 2, names: ['D', 'F'] });
    expect(await list({ dueDateFrom: '2026-04-09' })).toMatchObject({ totalCount: 1, names: ['B'] });
    expect(await list({ issueDateFrom: '2026-03-10', dueDateTo: '2026-03-15', status: 'OPEN' })).toMatchObject({ totalCount: 2, names: ['A', 'C'] });
    clock.set(at('2026-03-20'));
    expect(await list({ overdue: true, issueDateFrom: '2026-03-11' })).toMatchObject({ totalCount: 1, names: ['C'] });
  });

  it('pages a filtered list with an exact totalCount that the pages add up to', async () => {
    const filter = { issueDateFrom: '2026-03-01', issueDateTo: '2026-03-31' };
    const seen: string[] = [];
    let after: string | null | undefined = null;
    for (;;) {
      const { invoices }: { invoices: NonNullable<InvoiceNumbersQuery['invoices']> } = await app.client.ok(InvoiceNumbersDocument, { filter, first: 1, after });
      expect(invoices.totalCount).toBe(4);
      seen.push(...invoices.edges.map((edge) => edge.node.id));
      if (!invoices.pageInfo.hasNextPage) break;
      after = invoices.pageInfo.endCursor;
    }
    expect(seen).toEqual([ids.A, ids.B, ids.C, ids.F]);
  });

  it('refuses a malformed date or a reversed range with VALIDATION_FAILED naming the field', async () => {
    const cases: [InvoiceFilterInput, string][] = [
      [{ issueDateFrom: '2026-02-30' }, 'filter.issueDateFrom'],
      [{ issueDateTo: '2026-3-1' }, 'filter.issueDateTo'],
      [{ dueDateFrom: 'yesterday' }, 'filter.dueDateFrom'],
      [{ dueDateTo: '2026-03-10T00:00:00Z' }, 'filter.dueDateTo'],
      [{ issueDateFrom: '2026-03-11', issueDateTo: '2026-03-10' }, 'filter.issueDateFrom'],
      [{ dueDateFrom: '2026-04-01', dueDateTo: '2026-03-31' }, 'filter.dueDateFrom'],
    ];
    for (const [filter, field] of cases) {
      const result = await app.client.request(InvoiceNumbersDocument, { filter, first: 10 });
      expect({ field, error: result.errors?.[0]?.extensions }).toMatchObject({ field, error: { code: 'VALIDATION_FAILED', details: { field } } });
      expect(result.data?.invoices ?? null).toBeNull();
    }
  });

  it('shows another tenant none of these invoices, whatever the filter', async () => {
    clock.set(at('2026-04-10'));
    for (const filter of [{ overdue: true }, { overdue: false }, { issueDateFrom: '2000-01-01' }, { dueDateTo: '2100-01-01' }]) {
      expect(await list(filter, other.client)).toMatchObject({ totalCount: 0, names: [] });
    }
  });
});
