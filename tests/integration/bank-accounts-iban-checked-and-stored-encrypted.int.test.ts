import { BankAccountDocument, BankAccountsDocument, CreateApiKeyDocument, CreateBankAccountDocument, ReconciliationNodeDocument } from '../generated/graphql';
import { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { countRows } from '../helpers/idempotency-http';
import { createAccount } from '../helpers/ledger-fixtures';
import { createBankAccount } from '../helpers/statement-fixtures';

const IBAN = 'DE14740618130000033626';
/** The same IBAN as a person types it. */
const IBAN_PRINTED = 'de14 7406 1813 0000 0336 26';

describeEachDatabase('bank accounts: the IBAN is checked, stored encrypted and shown as its last four', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let eurCash: { id: string };

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Globex');
    eurCash = await createAccount(app.client, { type: 'ASSET', currency: 'EUR' });
  });

  afterAll(async () => {
    await app?.close();
  });

  const bankAccountRows = () => countRows(app.runtime.dataSource, 'bank_accounts');

  async function refused(input: Record<string, unknown>, code: string): Promise<{ message: string; details?: Record<string, unknown> }> {
    const before = await bankAccountRows();
    const result = await app.client.request(CreateBankAccountDocument, {
      input: { name: 'Main', currency: 'EUR', ledgerAccountId: eurCash.id, ...input } as never,
    });
    expect(result.data?.createBankAccount ?? null).toBeNull();
    expect(result.errors?.[0].extensions?.code).toBe(code);
    expect(await bankAccountRows()).toBe(before);
    return { message: result.errors?.[0].message ?? '', details: result.errors?.[0].extensions?.details };
  }

  it('creates a bank account from a printed IBAN, shows only its last four, and keeps no copy of it in clear', async () => {
    const { createBankAccount: payload } = await app.client.ok(CreateBankAccountDocument, {
      input: { name: 'Main EUR', iban: IBAN_PRINTED, currency: 'EUR', ledgerAccountId: eurCash.id },
    });
    expect(payload.bankAccount).toMatchObject({
      name: 'Main EUR',
      accountNumberKind: 'IBAN',
      last4: '3626',
      currency: 'EUR',
      matchWindowBusinessDays: 3,
      ledgerAccount: { id: eurCash.id },
    });
    expect(payload.bankAccount.id).toMatch(/^bac_/);
    const { bankAccount } = await app.client.ok(BankAccountDocument, { id: payload.bankAccount.id });
    expect(bankAccount).toEqual(payload.bankAccount);

    const rows: Record<string, unknown>[] = await app.runtime.dataSource.query('SELECT * FROM bank_accounts WHERE id = ?', [payload.bankAccount.id]);
    const stored = JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
    for (const fragment of [IBAN, IBAN.slice(4), '740618130000033626', '0000033626']) expect(stored).not.toContain(fragment);
    expect(String(rows[0].account_number_ciphertext)).toMatch(/^v1\./);

    // The same number and currency again is refused, whichever way it is written.
    const taken = await refused({ iban: IBAN }, 'ALREADY_EXISTS');
    expect(taken.details).toMatchObject({ id: payload.bankAccount.id });
  });

  it('refuses a bad IBAN saying what is wrong with it, without echoing it', async () => {
    const wrongCheckDigits = await refused({ iban: 'DE15740618130000033626' }, 'VALIDATION_FAILED');
    expect(wrongCheckDigits.message).toMatch(/not a valid IBAN.*check digits/);
    expect(wrongCheckDigits.message).not.toContain('0000033626');
    const tooShort = await refused({ iban: 'DE1474061813' }, 'VALIDATION_FAILED');
    expect(tooShort.message).toMatch(/length/);
    const neither = await refused({}, 'VALIDATION_FAILED');
    expect(neither.message).toMatch(/iban, or its accountNumber/);
    const both = await refused({ iban: IBAN, accountNumber: '12345678' }, 'VALIDATION_FAILED');
    expect(both.details).toMatchObject({ field: 'iban' });
  });

  it('refuses a ledger account that is another tenant’s (NOT_FOUND), not an asset, or in another currency', async () => {
    const othersCash = await createAccount(other.client, { type: 'ASSET', currency: 'EUR' });
    await refused({ iban: IBAN, currency: 'EUR', ledgerAccountId: othersCash.id, name: 'Theirs' }, 'NOT_FOUND');
    const revenue = await createAccount(app.client, { type: 'REVENUE', currency: 'EUR' });
    expect((await refused({ accountNumber: '11112222', ledgerAccountId: revenue.id }, 'VALIDATION_FAILED')).message).toMatch(/REVENUE account.*ASSET/);
    const usdCash = await createAccount(app.client, { type: 'ASSET', currency: 'USD' });
    expect((await refused({ accountNumber: '11112222', ledgerAccountId: usdCash.id }, 'VALIDATION_FAILED')).message).toMatch(/in USD, the bank account in EUR/);
    expect((await refused({ accountNumber: '11112222', matchWindowBusinessDays: 31 }, 'VALIDATION_FAILED')).details).toMatchObject({
      field: 'matchWindowBusinessDays',
    });
  });

  it('lists bank accounts as a connection both ways with totalCount and a filter, and each is a node of its tenant only', async () => {
    const tenant = await app.createTenant('Lister');
    const created = [];
    for (let i = 0; i < 3; i += 1) created.push(await createBankAccount(tenant.client, { currency: 'EUR' }));
    created.push(await createBankAccount(tenant.client, { currency: 'USD', matchWindowBusinessDays: 0 }));

    const forward = await tenant.client.ok(BankAccountsDocument, { first: 2 });
    expect(forward.bankAccounts.totalCount).toBe(4);
    expect(forward.bankAccounts.edges.map((e) => e.node.id)).toEqual(created.slice(0, 2).map((a) => a.id));
    expect(forward.bankAccounts.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const rest = await tenant.client.ok(BankAccountsDocument, { first: 2, after: forward.bankAccounts.pageInfo.endCursor });
    expect(rest.bankAccounts.edges.map((e) => e.node.id)).toEqual(created.slice(2).map((a) => a.id));
    expect(rest.bankAccounts.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const backward = await tenant.client.ok(BankAccountsDocument, { last: 3 });
    expect(backward.bankAccounts.edges.map((e) => e.node.id)).toEqual(created.slice(1).map((a) => a.id));
    expect(backward.bankAccounts.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const usd = await tenant.client.ok(BankAccountsDocument, { filter: { currency: 'USD' } });
    expect(usd.bankAccounts.totalCount).toBe(1);
    expect(usd.bankAccounts.edges[0].node).toMatchObject({ id: created[3].id, matchWindowBusinessDays: 0 });

    const { node } = await tenant.client.ok(ReconciliationNodeDocument, { id: created[0].id });
    expect(node).toMatchObject({ id: created[0].id, __typename: 'BankAccount' });
    // Another tenant's bank account is NOT_FOUND, by id and as a node, and not in its list.
    expect(await app.client.errorCode(BankAccountDocument, { id: created[0].id })).toBe('NOT_FOUND');
    expect(await app.client.errorCode(ReconciliationNodeDocument, { id: created[0].id })).toBe('NOT_FOUND');
    const mine = await app.client.ok(BankAccountsDocument, {});
    expect(mine.bankAccounts.edges.map((e) => e.node.id)).not.toContain(created[0].id);
  });

  it('needs reconciliation:read to read and reconciliation:write to create', async () => {
    const account = await createBankAccount(app.client, { currency: 'EUR' });
    const keyWith = async (scopes: ('LEDGER_READ' | 'RECONCILIATION_READ' | 'RECONCILIATION_WRITE')[]) => {
      const { createApiKey } = await app.client.ok(CreateApiKeyDocument, { input: { name: scopes.join('+'), scopes } });
      return new GraphQLClient(app.url, createApiKey.secret);
    };
    const ledgerOnly = await keyWith(['LEDGER_READ']);
    expect(await ledgerOnly.errorCode(BankAccountDocument, { id: account.id })).toBe('FORBIDDEN');
    const reader = await keyWith(['RECONCILIATION_READ']);
    expect((await reader.ok(BankAccountDocument, { id: account.id })).bankAccount.id).toBe(account.id);
    const create = { input: { name: 'By reader', accountNumber: '99990000', currency: 'EUR', ledgerAccountId: eurCash.id } };
    expect(await reader.errorCode(CreateBankAccountDocument, create)).toBe('FORBIDDEN');
    const writer = await keyWith(['RECONCILIATION_WRITE', 'LEDGER_READ']);
    expect((await writer.ok(CreateBankAccountDocument, create)).createBankAccount.bankAccount.last4).toBe('0000');
  });
});
