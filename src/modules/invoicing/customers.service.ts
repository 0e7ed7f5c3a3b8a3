import type { DataSource } from 'typeorm';
import type { Clock } from '../../common/clock';
import { DecryptionError, type FieldCipher, type FieldContext } from '../../common/encryption';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { requireMetadata } from '../../common/input';
import { requireCurrency } from '../../common/money';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
import { keysetSql } from '../../db/keyset';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { CustomerErrors } from './customers.errors';
import { CUSTOMER_ENCRYPTED_COLUMNS, type CustomerAddress, type CustomerRecord, ISO_3166_ALPHA2 } from './customers.types';

export interface CustomerAddressInput {
  line1: string;
  line2?: string | null;
  city: string;
  postalCode?: string | null;
  region?: string | null;
  country: string;
}

export interface CreateCustomerInput {
  name: string;
  email?: string | null;
  taxId?: string | null;
  address?: CustomerAddressInput | null;
  currency?: string | null;
  metadata?: Record<string, unknown> | null;
}

/** A field left out (undefined) keeps its value; null clears an optional one. */
export interface UpdateCustomerInput {
  customerId: string;
  name?: string | null;
  email?: string | null;
  taxId?: string | null;
  address?: CustomerAddressInput | null;
  currency?: string | null;
  metadata?: Record<string, unknown> | null;
}

export interface CustomerFilter {
  /** Case-insensitive substring of the name. */
  name?: string | null;
  /** Exact email (normalised before the blind index is computed, so case and spaces do not matter). */
  email?: string | null;
}

const TABLE = CUSTOMER_ENCRYPTED_COLUMNS.table;
const [EMAIL_COLUMN, TAX_ID_COLUMN, ADDRESS_COLUMN] = CUSTOMER_ENCRYPTED_COLUMNS.columns;
const EMAIL_INDEX_COLUMN = 'email_index';
const NAME_MAX = 200;
const EMAIL_MAX = 254;
const TAX_ID_MAX = 64;
/** A pragmatic email shape: one @, no spaces, a dot in the domain. Deliverability is the sender's to find out. */
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Trimmed and lower-cased: the form stored, shown and indexed, so "Ann@X.com " finds "ann@x.com". */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

function requireName(value: string | null | undefined, field: string): string {
  if (value === null || value === undefined) throw CustomerErrors.nameRequired(field);
  const name = value.trim();
  if (name.length < 1 || name.length > NAME_MAX) throw CustomerErrors.invalidName(field);
  return name;
}

function requireEmail(value: string, field: string): string {
  const email = normaliseEmail(value);
  if (email.length > EMAIL_MAX || !EMAIL_SHAPE.test(email)) throw CustomerErrors.invalidEmail(field);
  return email;
}

function requireTaxId(value: string, field: string): string {
  const taxId = value.trim();
  if (taxId.length < 1 || taxId.length > TAX_ID_MAX) throw CustomerErrors.invalidTaxId(field);
  return taxId;
}

function addressPart(value: string | null | undefined, field: string, max: number, required: boolean): string | null {
  if (value === null || value === undefined || value.trim() === '') {
    if (required) throw CustomerErrors.invalidAddressPart(field, max);
    return null;
  }
  const part = value.trim();
  if (part.length > max) throw CustomerErrors.invalidAddressPart(field, max);
  return part;
}

function requireAddress(input: CustomerAddressInput, field: string): CustomerAddress {
  const country = input.country.trim().toUpperCase();
  if (!ISO_3166_ALPHA2.has(country)) throw CustomerErrors.invalidCountry(`${field}.country`);
  return {
    line1: addressPart(input.line1, `${field}.line1`, 200, true) as string,
    line2: addressPart(input.line2, `${field}.line2`, 200, false),
    city: addressPart(input.city, `${field}.city`, 100, true) as string,
    postalCode: addressPart(input.postalCode, `${field}.postalCode`, 20, false),
    region: addressPart(input.region, `${field}.region`, 100, false),
    country,
  };
}

/** Optional values: null stays null (cleared), anything else is checked. */
function optional<T, R>(value: T | null | undefined, check: (value: T) => R): R | null {
  return value === null || value === undefined ? null : check(value);
}

/**
 * Customers of a tenant. Email, tax id and address are stored encrypted with the FieldCipher (context
 * table/column/tenant, so a value copied to another row or tenant does not decrypt) and re-encrypted
 * by `keys reencrypt`; the email is also kept as a keyed blind index of its normalised form, for
 * exact lookups. The index is not unique: two customers (a parent company and a subsidiary, say) may
 * share a billing address.
 */
export class CustomersService {
  private readonly forUpdate: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly cipher: FieldCipher,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
  ) {
    this.forUpdate = databaseKindOfSource(dataSource) === 'mysql' ? ' FOR UPDATE' : '';
  }

  /** Adds a customer; every bad field is VALIDATION_FAILED naming it, and nothing is stored. */
  async createCustomer(tenantId: string, input: CreateCustomerInput, idempotency?: IdempotencyHandle): Promise<CustomerRecord> {
    const now = this.clock.now();
    const record: CustomerRecord = {
      id: newId('customer'),
      tenantId,
      name: requireName(input.name, 'name'),
      email: optional(input.email, (email) => requireEmail(email, 'email')),
      taxId: optional(input.taxId, (taxId) => requireTaxId(taxId, 'taxId')),
      address: optional(input.address, (address) => requireAddress(address, 'address')),
      currency: optional(input.currency, (currency) => requireCurrency(currency, 'currency')),
      metadata: requireMetadata(input.metadata),
      createdAt: now,
      updatedAt: now,
    };
    await runInTransaction(this.dataSource, async (manager) => {
      const columns = this.storedColumns(record);
      await manager.query(
        `INSERT INTO customers (id, tenant_id, ${Object.keys(columns).join(', ')}, created_at) VALUES (?, ?, ${Object.keys(columns)
          .map(() => '?')
          .join(', ')}, ?)`,
        [record.id, tenantId, ...Object.values(columns), toDbTimestamp(now)],
      );
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { customerId: record.id } });
    });
    return record;
  }

  /**
   * Changes the fields the input gives; a field left out keeps its value and null clears an optional
   * one (a name cannot be cleared). Another tenant's customer is NOT_FOUND, as one that does not exist.
   */
  async updateCustomer(tenantId: string, input: UpdateCustomerInput, idempotency?: IdempotencyHandle): Promise<CustomerRecord> {
    requireIdOfKind(input.customerId, 'customer', 'customerId');
    const { customerId, ...change } = input;
    if (Object.values(change).every((value) => value === undefined)) throw CustomerErrors.nothingToChange();
    // Every field is checked before the row is read: a bad one changes nothing and tells nothing of the row.
    const checked: Partial<CustomerRecord> = {};
    if (change.name !== undefined) checked.name = requireName(change.name, 'name');
    if (change.email !== undefined) checked.email = optional(change.email, (email) => requireEmail(email, 'email'));
    if (change.taxId !== undefined) checked.taxId = optional(change.taxId, (taxId) => requireTaxId(taxId, 'taxId'));
    if (change.address !== undefined) checked.address = optional(change.address, (address) => requireAddress(address, 'address'));
    if (change.currency !== undefined) checked.currency = optional(change.currency, (currency) => requireCurrency(currency, 'currency'));
    if (change.metadata !== undefined) checked.metadata = requireMetadata(change.metadata);
    return runInTransaction(this.dataSource, async (manager) => {
      const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM customers WHERE tenant_id = ? AND id = ?${this.forUpdate}`, [tenantId, customerId]);
      if (!rows[0]) throw CustomerErrors.customerNotFound(customerId);
      const updated: CustomerRecord = { ...this.customerFromRow(rows[0]), ...checked, updatedAt: this.clock.now() };
      const columns = this.storedColumns(updated);
      await manager.query(`UPDATE customers SET ${Object.keys(columns).map((column) => `${column} = ?`).join(', ')} WHERE tenant_id = ? AND id = ?`, [
        ...Object.values(columns),
        tenantId,
        customerId,
      ]);
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { customerId } });
      return updated;
    });
  }

  async customersByIds(tenantId: string, ids: readonly string[]): Promise<CustomerRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT * FROM customers WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`, [
      tenantId,
      ...ids,
    ]);
    return rows.map((row) => this.customerFromRow(row));
  }

  async getCustomer(tenantId: string, id: string, field = 'id'): Promise<CustomerRecord> {
    requireIdOfKind(id, 'customer', field);
    const [customer] = await this.customersByIds(tenantId, [id]);
    if (!customer) throw CustomerErrors.customerNotFound(id);
    return customer;
  }

  /** The tenant's customers, oldest first. */
  async listCustomers(tenantId: string, filter: CustomerFilter, request: PageRequest): Promise<Page<CustomerRecord>> {
    const where = this.conditions(tenantId, filter);
    return readPage(
      request,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT * FROM customers WHERE ${[...where.conditions, ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [...where.params, ...keyset.params],
        );
        return rows.map((row) => this.customerFromRow(row));
      },
      (customer) => customer.id,
      { isKey: (key) => idKindOf(key) === 'customer' },
    );
  }

  async countCustomers(tenantId: string, filter: CustomerFilter): Promise<number> {
    const where = this.conditions(tenantId, filter);
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM customers WHERE ${where.conditions.join(' AND ')}`, where.params);
    return Number(rows[0].total);
  }

  private conditions(tenantId: string, filter: CustomerFilter): { conditions: string[]; params: unknown[] } {
    const conditions = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (filter.name !== null && filter.name !== undefined) {
      const needle = filter.name.trim().toLowerCase();
      if (needle.length < 1 || needle.length > NAME_MAX) throw CustomerErrors.invalidName('filter.name');
      // LIKE with its wildcards escaped, on LOWER() of both sides: case-insensitive on SQLite and MySQL alike.
      conditions.push(`LOWER(name) LIKE ? ESCAPE '!'`);
      params.push(`%${needle.replace(/[!%_]/g, (c) => `!${c}`)}%`);
    }
    if (filter.email !== null && filter.email !== undefined) {
      conditions.push(`${EMAIL_INDEX_COLUMN} = ?`);
      params.push(this.emailIndexOf(tenantId, requireEmail(filter.email, 'filter.email')));
    }
    return { conditions, params };
  }

  /** The columns a customer is stored in, encrypted where it is personal data. */
  private storedColumns(customer: CustomerRecord): Record<string, unknown> {
    const { tenantId } = customer;
    const encrypt = (value: string | null, column: string) => (value === null ? null : this.cipher.encrypt(value, this.contextOf(tenantId, column)));
    return {
      name: customer.name,
      [EMAIL_COLUMN]: encrypt(customer.email, EMAIL_COLUMN),
      [EMAIL_INDEX_COLUMN]: customer.email === null ? null : this.emailIndexOf(tenantId, customer.email),
      [TAX_ID_COLUMN]: encrypt(customer.taxId, TAX_ID_COLUMN),
      [ADDRESS_COLUMN]: encrypt(customer.address === null ? null : JSON.stringify(customer.address), ADDRESS_COLUMN),
      currency: customer.currency,
      metadata: customer.metadata === null ? null : JSON.stringify(customer.metadata),
      updated_at: toDbTimestamp(customer.updatedAt),
    };
  }

  private customerFromRow(row: Record<string, unknown>): CustomerRecord {
    const id = String(row.id);
    const tenantId = String(row.tenant_id);
    const decrypt = (column: string): string | null => {
      const value = row[column];
      if (value === null || value === undefined) return null;
      try {
        return this.cipher.decrypt(String(value), this.contextOf(tenantId, column));
      } catch (error) {
        // A value that does not decrypt is an operator's problem (moved row, missing key): an internal error, logged with the row.
        if (error instanceof DecryptionError) throw new DecryptionError(`${TABLE}.${column} of ${id}: ${error.message}`);
        throw error;
      }
    };
    const address = decrypt(ADDRESS_COLUMN);
    return {
      id,
      tenantId,
      name: String(row.name),
      email: decrypt(EMAIL_COLUMN),
      taxId: decrypt(TAX_ID_COLUMN),
      address: address === null ? null : (JSON.parse(address) as CustomerAddress),
      currency: row.currency === null || row.currency === undefined ? null : String(row.currency),
      metadata: row.metadata === null || row.metadata === undefined ? null : (JSON.parse(String(row.metadata)) as Record<string, unknown>),
      createdAt: fromDbTimestamp(row.created_at),
      updatedAt: fromDbTimestamp(row.updated_at),
    };
  }

  private contextOf(tenantId: string, column: string): FieldContext {
    return { table: TABLE, column, tenantId };
  }

  private emailIndexOf(tenantId: string, normalisedEmail: string): string {
    return this.cipher.blindIndex(normalisedEmail, this.contextOf(tenantId, EMAIL_INDEX_COLUMN));
  }
}
