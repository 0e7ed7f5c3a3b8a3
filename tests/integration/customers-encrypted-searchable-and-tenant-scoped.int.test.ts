import crypto from 'node:crypto';
import type { Runtime } from '../../src/bootstrap';
import { formatEncryptionKeys, generateEncryptionKey } from '../../src/common/encryption';
import { newId } from '../../src/common/ids';
import { reencryptAll } from '../../src/db/encrypted-columns';
import type { RunningServer } from '../../src/server/app';
import {
  CreateApiKeyDocument,
  CreateCustomerDocument,
  type CreateCustomerInput,
  CustomerDocument,
  CustomersDocument,
  NodeOfAnyKindDocument,
  UpdateCustomerDocument,
  type UpdateCustomerInput,
} from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { createTestDatabase, describeEachDatabase, startTestApp, type TestApp, type TestDatabase, type TestTenant, withServerOn } from '../helpers/harness';
import { countRows } from '../helpers/idempotency-http';

const FULL: CreateCustomerInput = {
  name: '  Acme Trading GmbH ',
  email: ' Billing@Acme-Trading.example ',
  taxId: 'DE813495425',
  address: { line1: 'Friedrichstraße 123', line2: 'Aufgang B', city: 'Berlin', postalCode: '10117', region: 'Berlin', country: 'de' },
  currency: 'EUR',
  metadata: { crmId: 'crm-42' },
};

/** Every row of customers, as stored. */
function customerRows(app: TestApp, id: string): Promise<Record<string, unknown>[]> {
  return app.runtime.dataSource.query('SELECT * FROM customers WHERE id = ?', [id]);
}

describeEachDatabase('customers: personal data encrypted, email searchable through a blind index, tenant-scoped', (kind) => {
  let app: TestApp;
  let other: TestTenant;

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Globex');
  });
  afterAll(async () => {
    await app?.close();
  });

  it('creates a customer, normalises its email, reads it back by id and through node(id:), and keeps no clear copy of email, tax id or address', async () => {
    const { createCustomer } = await app.client.ok(CreateCustomerDocument, { input: FULL });
    const customer = createCustomer.customer;
    expect(customer).toMatchObject({
      name: 'Acme Trading GmbH',
      email: 'billing@acme-trading.example',
      taxId: 'DE813495425',
      address: { line1: 'Friedrichstraße 123', line2: 'Aufgang B', city: 'Berlin', postalCode: '10117', region: 'Berlin', country: 'DE' },
      currency: 'EUR',
      metadata: { crmId: 'crm-42' },
    });
    expect(customer.id).toMatch(/^cus_/);
    expect((await app.client.ok(CustomerDocument, { id: customer.id })).customer).toEqual(customer);
    expect((await app.client.ok(NodeOfAnyKindDocument, { id: customer.id })).node).toMatchObject({ __typename: 'Customer', id: customer.id, name: 'Acme Trading GmbH' });

    const [row] = await customerRows(app, customer.id);
    const stored = JSON.stringify(row);
    for (const clear of ['billing@acme-trading.example', 'Billing@Acme-Trading', 'acme-trading.example', 'DE813495425', '813495425', 'Friedrichstra', 'Aufgang', '10117']) {
      expect(stored).not.toContain(clear);
    }
    for (const column of ['email_ciphertext', 'tax_id_ciphertext', 'address_ciphertext']) expect(String(row[column])).toMatch(/^v1\./);
    expect(String(row.email_index)).toMatch(/^[0-9a-f]{64}$/);
    // The name stays in clear: it is what customers(filter: {name}) searches.
    expect(row.name).toBe('Acme Trading GmbH');
  });

  it('finds customers by email whatever its case and spaces, through the blind index; two customers may share an email', async () => {
    const first = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Shared inbox one', email: 'AP@Shared.example' } })).createCustomer.customer;
    const second = (await app.client.ok(CreateCustomerDocument, { input: { name: 'Shared inbox two', email: ' ap@shared.EXAMPLE' } })).createCustomer.customer;
    await other.client.ok(CreateCustomerDocument, { input: { name: 'Other tenant, same email', email: 'ap@shared.example' } });
    for (const asked of ['ap@shared.example', 'AP@SHARED.EXAMPLE', '  Ap@Shared.Example  ']) {
      const { customers } = await app.client.ok(CustomersDocument, { filter: { email: asked } });
      expect({ asked, ids: customers.edges.map((edge) => edge.node.id), totalCount: customers.totalCount }).toEqual({ asked, ids: [first.id, second.id], totalCount: 2 });
    }
    const { customers: none } = await app.client.ok(CustomersDocument, { filter: { email: 'ap@shared.example.org' } });
    expect(none).toMatchObject({ edges: [], totalCount: 0 });
    const [a, b] = [await customerRows(app, first.id), await customerRows(app, second.id)];
    expect(a[0].email_index).toBe(b[0].email_index);
    // Same email, same key, but the ciphertexts differ (a fresh IV each time) and other tenants' index differs.
    expect(a[0].email_ciphertext).not.toBe(b[0].email_ciphertext);
    const [otherRow] = await app.runtime.dataSource.query('SELECT email_index FROM customers WHERE tenant_id = ?', [other.tenantId]);
    expect(otherRow.email_index).not.toBe(a[0].email_index);
  });

  it('filters by name, case-insensitively, with % and _ taken literally, and pages both ways with an exact totalCount', async () => {
    const names = ['Pager Alpha', 'pager beta', 'PAGER Gamma', 'Pager 100% Delta', 'Pager_Epsilon'];
    const ids: string[] = [];
    for (const name of names) ids.push((await app.client.ok(CreateCustomerDocument, { input: { name } })).createCustomer.customer.id);
    await other.client.ok(CreateCustomerDocument, { input: { name: 'Pager of another tenant' } });

    const forward: string[] = [];
    let after: string | null = null;
    for (;;) {
      const { customers }: { customers: { totalCount: number; edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor?: string | null } } } =
        await app.client.ok(CustomersDocument, { filter: { name: 'pAgEr' }, first: 2, after });
      expect(customers.totalCount).toBe(5);
      forward.push(...customers.edges.map((edge) => edge.node.id));
      if (!customers.pageInfo.hasNextPage) break;
      after = customers.pageInfo.endCursor ?? null;
    }
    expect(forward).toEqual(ids);

    const backward: string[] = [];
    let before: string | null = null;
    for (;;) {
      const { customers }: { customers: { totalCount: number; edges: { node: { id: string } }[]; pageInfo: { hasPreviousPage: boolean; startCursor?: string | null } } } =
        await app.client.ok(CustomersDocument, { filter: { name: 'PAGER' }, last: 2, before });
      expect(customers.totalCount).toBe(5);
      backward.unshift(...customers.edges.map((edge) => edge.node.id));
      if (!customers.pageInfo.hasPreviousPage) break;
      before = customers.pageInfo.startCursor ?? null;
    }
    expect(backward).toEqual(ids);

    expect((await app.client.ok(CustomersDocument, { filter: { name: '100%' } })).customers.edges.map((edge) => edge.node.id)).toEqual([ids[3]]);
    expect((await app.client.ok(CustomersDocument, { filter: { name: 'r_e' } })).customers.edges.map((edge) => edge.node.id)).toEqual([ids[4]]);
    const all = await app.client.ok(CustomersDocument, { first: 500 });
    expect(all.customers.totalCount).toBe(await countRows(app.runtime.dataSource, 'customers', 'tenant_id = ?', [app.tenantId]));
  });

  it('updates only the fields given; null clears an optional field; the email index follows the email', async () => {
    const created = (await app.client.ok(CreateCustomerDocument, { input: FULL })).createCustomer.customer;
    const { updateCustomer } = await app.client.ok(UpdateCustomerDocument, {
      input: { customerId: created.id, name: 'Acme Trading AG', taxId: null, email: 'Invoices@Acme.example', metadata: null },
    });
    expect(updateCustomer.customer).toMatchObject({
      id: created.id,
      name: 'Acme Trading AG',
      email: 'invoices@acme.example',
      taxId: null,
      metadata: null,
      address: created.address,
      currency: 'EUR',
      createdAt: created.createdAt,
    });
    expect((await app.client.ok(CustomerDocument, { id: created.id })).customer).toEqual(updateCustomer.customer);
    const [row] = await customerRows(app, created.id);
    expect(row.tax_id_ciphertext).toBeNull();
    expect(JSON.stringify(row)).not.toContain('invoices@acme.example');
    const byNewEmail = await app.client.ok(CustomersDocument, { filter: { email: 'INVOICES@acme.example' } });
    expect(byNewEmail.customers.edges.map((edge) => edge.node.id)).toEqual([created.id]);

    const cleared = await app.client.ok(UpdateCustomerDocument, { input: { customerId: created.id, email: null, address: null, currency: null } });
    expect(cleared.updateCustomer.customer).toMatchObject({ name: 'Acme Trading AG', email: null, address: null, currency: null });
    const [clearedRow] = await customerRows(app, created.id);
    expect({ email: clearedRow.email_ciphertext, index: clearedRow.email_index, address: clearedRow.address_ciphertext }).toEqual({ email: null, index: null, address: null });
  });

  it('refuses every bad input with VALIDATION_FAILED naming the field, and changes nothing', async () => {
    const existing = (await app.client.ok(CreateCustomerDocument, { input: FULL })).createCustomer.customer;
    const [rowBefore] = await customerRows(app, existing.id);
    const address = FULL.address!;
    const badCreates: [string, CreateCustomerInput][] = [
      ['name', { name: '   ' }],
      ['name', { name: 'x'.repeat(201) }],
      ['email', { name: 'A', email: 'not-an-email' }],
      ['email', { name: 'A', email: 'two@@at.example' }],
      ['email', { name: 'A', email: `${'a'.repeat(250)}@x.example` }],
      ['taxId', { name: 'A', taxId: '  ' }],
      ['address.country', { name: 'A', address: { ...address, country: 'XX' } }],
      ['address.country', { name: 'A', address: { ...address, country: 'UK' } }],
      ['address.country', { name: 'A', address: { ...address, country: 'DEU' } }],
      ['address.line1', { name: 'A', address: { ...address, line1: ' ' } }],
      ['address.city', { name: 'A', address: { ...address, city: '' } }],
      ['address.postalCode', { name: 'A', address: { ...address, postalCode: '1'.repeat(21) } }],
      ['metadata', { name: 'A', metadata: { big: 'x'.repeat(5000) } }],
    ];
    for (const [field, input] of badCreates) {
      const rows = await countRows(app.runtime.dataSource, 'customers');
      const result = await app.client.request(CreateCustomerDocument, { input });
      expect({ field, data: result.data?.createCustomer ?? null, code: result.errors?.[0]?.extensions?.code, details: result.errors?.[0]?.extensions?.details }).toMatchObject({
        field,
        data: null,
        code: 'VALIDATION_FAILED',
        details: { field },
      });
      expect(await countRows(app.runtime.dataSource, 'customers')).toBe(rows);
    }
    // An unknown currency is refused by the Currency scalar while the variables are read, before any resolver runs.
    const badCurrency = await app.client.request(CreateCustomerDocument, { input: { name: 'A', currency: 'XYZ' } });
    expect({ code: badCurrency.errors?.[0]?.extensions?.code, message: badCurrency.errors?.[0]?.message }).toEqual({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('input.currency'),
    });
    const badUpdates: [string, UpdateCustomerInput][] = [
      ['name', { customerId: existing.id, name: null }],
      ['name', { customerId: existing.id, name: '' }],
      ['email', { customerId: existing.id, name: 'Fine', email: 'nope' }],
      ['address.country', { customerId: existing.id, address: { ...address, country: 'ZZ' } }],
      ['input', { customerId: existing.id }],
      ['customerId', { customerId: 'acct_01J0000000000000000000000', name: 'Fine' }],
    ];
    for (const [field, input] of badUpdates) {
      const result = await app.client.request(UpdateCustomerDocument, { input });
      expect({ field, code: result.errors?.[0]?.extensions?.code, details: result.errors?.[0]?.extensions?.details }).toMatchObject({ field, code: 'VALIDATION_FAILED', details: { field } });
    }
    expect(await customerRows(app, existing.id)).toEqual([rowBefore]);
    // A malformed email filter is refused, not answered with an empty page.
    const badFilter = await app.client.request(CustomersDocument, { filter: { email: 'nope' } });
    expect(badFilter.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'filter.email' } });
  });

  it('replays a retried create with the same idempotency key (one row) and refuses the key with another input', async () => {
    const idempotencyKey = `create-customer-${kind}`;
    const rows = await countRows(app.runtime.dataSource, 'customers');
    const first = await app.client.ok(CreateCustomerDocument, { input: { name: 'Retried Ltd', email: 'retry@example.com' }, idempotencyKey });
    const again = await app.client.ok(CreateCustomerDocument, { input: { name: 'Retried Ltd', email: 'retry@example.com' }, idempotencyKey });
    expect(again).toEqual(first);
    expect(await countRows(app.runtime.dataSource, 'customers')).toBe(rows + 1);
    // The stored response, replayed above, keeps the email encrypted too; the fingerprint is a hash.
    const records = await app.runtime.dataSource.query('SELECT * FROM idempotency_records WHERE tenant_id = ?', [app.tenantId]);
    expect(records.length).toBeGreaterThan(0);
    expect(JSON.stringify(records)).not.toContain('retry@example.com');
    const reused = await app.client.request(CreateCustomerDocument, { input: { name: 'Another Ltd' }, idempotencyKey });
    expect(reused.errors?.[0]?.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');

    const updateKey = `update-customer-${kind}`;
    const id = first.createCustomer.customer.id;
    const updated = await app.client.ok(UpdateCustomerDocument, { input: { customerId: id, name: 'Retried Ltd (renamed)' }, idempotencyKey: updateKey });
    expect(await app.client.ok(UpdateCustomerDocument, { input: { customerId: id, name: 'Retried Ltd (renamed)' }, idempotencyKey: updateKey })).toEqual(updated);
    expect(await countRows(app.runtime.dataSource, 'customers')).toBe(rows + 1);
  });

  it('answers NOT_FOUND for another tenant’s customer, exactly as for one that does not exist, and changes nothing', async () => {
    const mine = (await app.client.ok(CreateCustomerDocument, { input: FULL })).createCustomer.customer;
    const [rowBefore] = await customerRows(app, mine.id);
    for (const id of [mine.id, newId('customer')]) {
      const read = await other.client.request(CustomerDocument, { id });
      expect({ data: read.data?.customer ?? null, code: read.errors?.[0]?.extensions?.code }).toEqual({ data: null, code: 'NOT_FOUND' });
      const node = await other.client.request(NodeOfAnyKindDocument, { id });
      expect(node.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const update = await other.client.request(UpdateCustomerDocument, { input: { customerId: id, name: 'Taken over' } });
      expect({ data: update.data?.updateCustomer ?? null, code: update.errors?.[0]?.extensions?.code }).toEqual({ data: null, code: 'NOT_FOUND' });
    }
    expect(await customerRows(app, mine.id)).toEqual([rowBefore]);
    const listed = await other.client.ok(CustomersDocument, { first: 500 });
    expect(listed.customers.edges.map((edge) => edge.node.id)).not.toContain(mine.id);
    expect((await other.client.ok(CustomersDocument, { filter: { email: FULL.email } })).customers.totalCount).toBe(0);
  });

  it('needs invoices:read to read and invoices:write to change', async () => {
    const keyWith = async (scopes: ('INVOICES_READ' | 'LEDGER_READ')[]) =>
      app.client.withKey((await app.client.ok(CreateApiKeyDocument, { input: { name: scopes.join(' '), scopes } })).createApiKey.secret);
    const reader = await keyWith(['INVOICES_READ']);
    const ledgerOnly = await keyWith(['LEDGER_READ']);
    expect((await reader.ok(CustomersDocument, { first: 1 })).customers.totalCount).toBeGreaterThan(0);
    const write = await reader.request(CreateCustomerDocument, { input: { name: 'Not allowed' } });
    expect(write.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:write' } });
    const read = await ledgerOnly.request(CustomersDocument, { first: 1 });
    expect(read.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', details: { requiredScope: 'invoices:read' } });
  });
});

describeEachDatabase('customers: keys reencrypt rewrites email, tax id and address under the new key', (kind) => {
  const oldKey = generateEncryptionKey('old');
  const newKey = generateEncryptionKey('new');
  const blindIndexKey = crypto.randomBytes(32).toString('base64');
  const ring = (...keys: (typeof oldKey)[]) => ({ ENCRYPTION_KEYS: formatEncryptionKeys(keys), BLIND_INDEX_KEY: blindIndexKey });
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.drop();
  });

  const withServer = <T>(env: Record<string, string>, work: (runtime: Runtime, server: RunningServer) => Promise<T>): Promise<T> => withServerOn(database.url, env, work);

  it('re-encrypts every encrypted column of customers, and the customer reads and is found by email with the new key alone', async () => {
    const created = await withServer(ring(oldKey), async (runtime, server) => {
      const tenant = await runtime.services.tenancy.createTenant('Rotating customers');
      const { secret: apiKey } = await runtime.services.auth.createApiKey(tenant.id, { name: 'admin' });
      const client = new GraphQLClient(server.url, apiKey);
      return { apiKey, customer: (await client.ok(CreateCustomerDocument, { input: FULL })).createCustomer.customer };
    });

    await withServer(ring(newKey, oldKey), async (runtime) => {
      const reports = await reencryptAll(runtime.dataSource, runtime.services.cipher);
      expect(reports.find((report) => report.table === 'customers')).toMatchObject({ rowsReencrypted: 1, valuesReencrypted: 3, failures: [] });
      const [row] = await runtime.dataSource.query('SELECT * FROM customers WHERE id = ?', [created.customer.id]);
      for (const column of ['email_ciphertext', 'tax_id_ciphertext', 'address_ciphertext']) expect(runtime.services.cipher.keyIdOf(String(row[column]))).toBe('new');
    });

    await withServer(ring(newKey), async (_runtime, server) => {
      const client = new GraphQLClient(server.url, created.apiKey);
      expect((await client.ok(CustomerDocument, { id: created.customer.id })).customer).toEqual(created.customer);
      const found = await client.ok(CustomersDocument, { filter: { email: FULL.email } });
      expect(found.customers.edges.map((edge) => edge.node.id)).toEqual([created.customer.id]);
    });
  });
});
