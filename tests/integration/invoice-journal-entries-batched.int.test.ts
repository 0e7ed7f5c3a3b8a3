import { newId } from '../../src/common/ids';
import { toDbTimestamp } from '../../src/common/timestamps';
import {
  CreateCustomerDocument,
  CreateInvoiceDocument,
  FinalizeInvoiceDocument,
  InvoiceJournalEntriesDocument,
  InvoicesWithJournalEntriesDocument,
} from '../generated/graphql';
import { nodesOf } from '../helpers/connections';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp, type TestTenant } from '../helpers/harness';
import { createAccount, postTransfer } from '../helpers/ledger-fixtures';

/**
 * Invoice.journalEntries lists every entry an invoice caused: its finalisation, the entries of its
 * payments and credit notes, its void or write-off, oldest first, paged. Nothing on this branch writes
 * payments or credit notes yet, so their rows are inserted here as their services will store them,
 * each naming a real journal entry. A page of invoices reads them with a bounded number of statements
 * whatever its size (one statement for every invoice's payment and credit-note entries).
 */

const INVOICES = 24;

describeEachDatabase('Invoice.journalEntries: every entry of the invoice, batched for a page', (kind) => {
  let app: TestApp;
  let other: TestTenant;
  let debit: string;
  let credit: string;
  /** Entries by invoice, as inserted: finalisation first. */
  const expected = new Map<string, string[]>();

  async function customerOf(client: GraphQLClient): Promise<string> {
    return (await client.ok(CreateCustomerDocument, { input: { name: 'Acme' } })).createCustomer.customer.id;
  }

  async function finalizedInvoice(client: GraphQLClient, customerId: string) {
    const { createInvoice } = await client.ok(CreateInvoiceDocument, {
      input: { customerId, currency: 'USD', lines: [{ description: 'Work', quantity: '1', unitPrice: '100.00', taxRate: '0', taxBehaviour: 'EXCLUSIVE' }] },
    });
    return (await client.ok(FinalizeInvoiceDocument, { input: { invoiceId: createInvoice.invoice.id } })).finalizeInvoice.invoice;
  }

  const minor = (value: bigint) => (kind === 'sqlite' ? value : value.toString());

  /** An invoice payment row as InvoicePaymentsService will store it, naming its journal entry (or none, while PENDING). */
  async function insertPayment(tenantId: string, invoiceId: string, customerId: string, journalEntryId: string | null) {
    const now = toDbTimestamp(new Date());
    await app.runtime.dataSource.query(
      `INSERT INTO invoice_payments (id, tenant_id, invoice_id, customer_id, currency, method, status, amount_minor, applied_minor, credited_minor,
                                     refunded_minor, reference, payment_id, statement_line_id, journal_entry_id, received_on, failure_code, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'USD', 'BANK_TRANSFER', ?, ?, ?, ?, ?, 'ref', NULL, NULL, ?, '2026-03-10', NULL, ?, ?)`,
      [newId('invoicePayment'), tenantId, invoiceId, customerId, journalEntryId ? 'SUCCEEDED' : 'PENDING', minor(1000n), minor(1000n), minor(0n), minor(0n), journalEntryId, now, now],
    );
  }

  /** `lines` is a reserved word in MySQL and MariaDB: the column is always quoted (SQLite accepts backticks too). */
  async function insertCreditNote(tenantId: string, invoiceId: string, customerId: string, journalEntryId: string, number: string) {
    await app.runtime.dataSource.query(
      `INSERT INTO credit_notes (id, tenant_id, invoice_id, customer_id, currency, number, series_key, number_value, reason, \`lines\`, subtotal_minor,
                                 tax_total_minor, total_minor, tax_by_rate, applied_to_invoice_minor, credited_to_customer_minor, journal_entry_id, metadata, created_at)
       VALUES (?, ?, ?, ?, 'USD', ?, 'CN', 1, NULL, NULL, ?, ?, ?, '[]', ?, ?, ?, NULL, ?)`,
      [newId('creditNote'), tenantId, invoiceId, customerId, number, minor(500n), minor(0n), minor(500n), minor(500n), minor(0n), journalEntryId, toDbTimestamp(new Date())],
    );
  }

  const entry = async () => (await postTransfer(app.client, debit, credit, '1.00')).id;

  beforeAll(async () => {
    app = await startTestApp(kind);
    other = await app.createTenant('Globex');
    debit = (await createAccount(app.client)).id;
    credit = (await createAccount(app.client, { type: 'LIABILITY' })).id;
    const customerId = await customerOf(app.client);
    for (let i = 0; i < INVOICES; i += 1) {
      const invoice = await finalizedInvoice(app.client, customerId);
      const entries = [invoice.journalEntry!.id];
      // Every third invoice has a payment, a pending payment (no entry yet) and a credit note.
      if (i % 3 === 0) {
        const paymentEntry = await entry();
        await insertPayment(app.tenantId, invoice.id, customerId, paymentEntry);
        await insertPayment(app.tenantId, invoice.id, customerId, null);
        const creditEntry = await entry();
        await insertCreditNote(app.tenantId, invoice.id, customerId, creditEntry, `CN-${i}`);
        entries.push(paymentEntry, creditEntry);
      }
      expected.set(invoice.id, entries);
    }
    // Another tenant's invoice with a payment: never part of this tenant's answers.
    const otherCustomer = await customerOf(other.client);
    const theirs = await finalizedInvoice(other.client, otherCustomer);
    await insertPayment(other.tenantId, theirs.id, otherCustomer, theirs.journalEntry!.id);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('lists the finalisation, payment and credit-note entries of an invoice, oldest first, in pages both ways', async () => {
    const [withSettlements] = [...expected.entries()].filter(([, entries]) => entries.length === 3);
    const [invoiceId, entries] = withSettlements;
    const all = (await app.client.ok(InvoiceJournalEntriesDocument, { id: invoiceId })).invoice.journalEntries;
    expect(all.totalCount).toBe(3);
    expect(nodesOf(all).map((node) => node.id)).toEqual(entries);
    expect(nodesOf(all)[0].postings.map((posting) => `${posting.account.code} ${posting.direction} ${posting.amount.minorUnits}`).sort()).toEqual([
      'SYS-1200-USD DEBIT 10000',
      'SYS-4000-USD CREDIT 10000',
    ]);

    const first = (await app.client.ok(InvoiceJournalEntriesDocument, { id: invoiceId, first: 2 })).invoice.journalEntries;
    expect(nodesOf(first).map((node) => node.id)).toEqual(entries.slice(0, 2));
    expect(first.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false });
    const rest = (await app.client.ok(InvoiceJournalEntriesDocument, { id: invoiceId, first: 2, after: first.edges[1].cursor })).invoice.journalEntries;
    expect(nodesOf(rest).map((node) => node.id)).toEqual(entries.slice(2));
    expect(rest.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: true });
    const last = (await app.client.ok(InvoiceJournalEntriesDocument, { id: invoiceId, last: 1 })).invoice.journalEntries;
    expect(nodesOf(last).map((node) => node.id)).toEqual(entries.slice(2));

    const [onlyFinalized] = [...expected.entries()].filter(([, ids]) => ids.length === 1);
    const single = (await app.client.ok(InvoiceJournalEntriesDocument, { id: onlyFinalized[0] })).invoice.journalEntries;
    expect({ totalCount: single.totalCount, ids: nodesOf(single).map((node) => node.id) }).toEqual({ totalCount: 1, ids: onlyFinalized[1] });
  });

  it('answers a page of invoices with their customers and entries in as few statements for 24 invoices as for 3', async () => {
    async function page(first: number) {
      const before = app.runtime.statements.count;
      const result = await app.client.request(InvoicesWithJournalEntriesDocument, { first });
      const statements = app.runtime.statements.count - before;
      expect(result.errors).toBeUndefined();
      return { statements, nodes: nodesOf(result.data!.invoices!) };
    }
    await page(3); // warm-up: nothing below may depend on a first request
    const three = await page(3);
    const all = await page(INVOICES);
    expect(all.nodes).toHaveLength(INVOICES);
    for (const node of all.nodes) {
      expect(nodesOf(node.journalEntries).map((e) => e.id)).toEqual(expected.get(node.id));
      expect(node.customer.name).toBe('Acme');
    }
    // The levels of the query (credential, invoices and count, customers, settlement entry ids, entries,
    // postings, accounts), not the number of invoices: an N+1 anywhere would add at least 24 here.
    expect(all.statements).toBeLessThanOrEqual(three.statements + 2);
    expect(all.statements).toBeLessThanOrEqual(16);
  });
});
