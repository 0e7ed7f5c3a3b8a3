import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { validationError } from '../../common/errors';
import { optionalText, requireText } from '../../common/input';
import { fromDbTimestamp, toDbTimestamp } from '../../common/timestamps';
import { databaseKindOfSource } from '../../db/data-source';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { type InvoiceNumberSettings, requireInvoiceNumberSettings } from './invoice-numbers';
import {
  FOOTER_MAX,
  type InvoiceSettingsRecord,
  SELLER_ADDRESS_LINE_MAX,
  SELLER_ADDRESS_MAX_LINES,
  SELLER_NAME_MAX,
  SELLER_TAX_ID_MAX,
  type UpdateInvoiceSettingsInput,
} from './invoice-settings.types';
import { DEFAULT_INVOICE_NUMBERING, DEFAULT_PAYMENT_TERMS_DAYS, MAX_PAYMENT_TERMS_DAYS } from './invoices.types';

/** The settings row of a tenant, or nothing: a tenant that never saved settings has the defaults. */
async function settingsRow(manager: EntityManager, tenantId: string, forUpdate = ''): Promise<Record<string, unknown> | null> {
  const rows: Record<string, unknown>[] = await manager.query(`SELECT * FROM invoice_settings WHERE tenant_id = ?${forUpdate}`, [tenantId]);
  return rows[0] ?? null;
}

function numberingOfRow(row: Record<string, unknown>): InvoiceNumberSettings {
  return { prefix: String(row.number_prefix), yearlyReset: Number(row.yearly_reset) === 1, padding: Number(row.number_digits) };
}

/**
 * The numbering finalizeInvoice takes a number with, read in its transaction: the tenant's saved
 * settings, or DEFAULT_INVOICE_NUMBERING. Series are keyed by the printed text before the digits, so a
 * change of prefix starts (or resumes) the series of that text, never one that repeats a number.
 */
export async function invoiceNumberingOf(manager: EntityManager, tenantId: string): Promise<InvoiceNumberSettings> {
  const row = await settingsRow(manager, tenantId);
  return row ? numberingOfRow(row) : DEFAULT_INVOICE_NUMBERING;
}

/** The payment terms a new draft of the tenant gets when given neither a due date nor terms. */
export async function defaultPaymentTermsOf(manager: EntityManager, tenantId: string): Promise<number> {
  const row = await settingsRow(manager, tenantId);
  return row ? Number(row.default_payment_terms_days) : DEFAULT_PAYMENT_TERMS_DAYS;
}

interface CheckedSettings {
  numbering: InvoiceNumberSettings;
  defaultPaymentTermsDays: number;
  sellerName: string;
  sellerAddress: string[];
  sellerTaxId: string | null;
  footer: string | null;
}

/** Every field checked, in input order; VALIDATION_FAILED naming the first bad one. */
function checkSettings(input: UpdateInvoiceSettingsInput): CheckedSettings {
  const numbering = requireInvoiceNumberSettings(input.numbering, 'numbering');
  const terms = input.defaultPaymentTermsDays ?? DEFAULT_PAYMENT_TERMS_DAYS;
  if (!Number.isInteger(terms) || terms < 0 || terms > MAX_PAYMENT_TERMS_DAYS) {
    throw validationError(`defaultPaymentTermsDays must be a whole number from 0 to ${MAX_PAYMENT_TERMS_DAYS}`, { field: 'defaultPaymentTermsDays', max: MAX_PAYMENT_TERMS_DAYS });
  }
  const sellerName = requireText(input.sellerName ?? '', 'sellerName', SELLER_NAME_MAX).trim();
  const lines = input.sellerAddress ?? [];
  if (lines.length > SELLER_ADDRESS_MAX_LINES) {
    throw validationError(`sellerAddress has at most ${SELLER_ADDRESS_MAX_LINES} lines`, { field: 'sellerAddress', max: SELLER_ADDRESS_MAX_LINES });
  }
  const sellerAddress = lines.map((line, index) => requireText(line, `sellerAddress[${index}]`, SELLER_ADDRESS_LINE_MAX).trim());
  const taxId = optionalText(input.sellerTaxId, 'sellerTaxId', SELLER_TAX_ID_MAX);
  const footer = optionalText(input.footer, 'footer', FOOTER_MAX);
  return {
    numbering,
    defaultPaymentTermsDays: terms,
    sellerName,
    sellerAddress,
    sellerTaxId: taxId === null || taxId.trim() === '' ? null : taxId.trim(),
    footer: footer === null || footer.trim() === '' ? null : footer.trim(),
  };
}

/**
 * A tenant's invoice settings (see InvoiceSettingsRecord): read with their defaults, and replaced
 * whole by updateInvoiceSettings. Numbers already issued keep their text; the next finalisation uses
 * the settings committed before its transaction read them.
 */
export class InvoiceSettingsService {
  private readonly forUpdate: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    /** Completes idempotency claims inside the transaction of the change. */
    private readonly idempotency?: IdempotencyService,
  ) {
    this.forUpdate = databaseKindOfSource(dataSource) === 'mysql' ? ' FOR UPDATE' : '';
  }

  async getSettings(tenantId: string): Promise<InvoiceSettingsRecord> {
    return this.read(this.dataSource.manager, tenantId);
  }

  /**
   * Replaces the settings whole: an optional field left out returns to its default (terms 30 days,
   * padding 6, no address, tax id or footer). A bad field is VALIDATION_FAILED naming it, and nothing
   * changes.
   */
  async updateSettings(tenantId: string, input: UpdateInvoiceSettingsInput, idempotency?: IdempotencyHandle): Promise<InvoiceSettingsRecord> {
    const settings = checkSettings(input);
    const now = this.clock.now();
    const values = [
      settings.numbering.prefix,
      settings.numbering.yearlyReset ? 1 : 0,
      settings.numbering.padding,
      settings.defaultPaymentTermsDays,
      settings.sellerName,
      settings.sellerAddress.length === 0 ? null : JSON.stringify(settings.sellerAddress),
      settings.sellerTaxId,
      settings.footer,
    ];
    return runInTransaction(this.dataSource, async (manager) => {
      const update = () =>
        manager.query(
          `UPDATE invoice_settings SET number_prefix = ?, yearly_reset = ?, number_digits = ?, default_payment_terms_days = ?,
                  seller_name = ?, seller_address = ?, seller_tax_id = ?, footer = ?, updated_at = ?
            WHERE tenant_id = ?`,
          [...values, toDbTimestamp(now), tenantId],
        );
      if (await settingsRow(manager, tenantId, this.forUpdate)) {
        await update();
      } else {
        try {
          await manager.query(
            `INSERT INTO invoice_settings (tenant_id, number_prefix, yearly_reset, number_digits, default_payment_terms_days,
                                           seller_name, seller_address, seller_tax_id, footer, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [tenantId, ...values, toDbTimestamp(now), toDbTimestamp(now)],
          );
        } catch (error) {
          // Another first save of the tenant committed meanwhile (MySQL): this one replaces it, as a later save would.
          if (!isUniqueViolation(error)) throw error;
          await update();
        }
      }
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { tenantId } });
      return this.read(manager, tenantId);
    });
  }

  private async read(manager: EntityManager, tenantId: string): Promise<InvoiceSettingsRecord> {
    const row = await settingsRow(manager, tenantId);
    if (row) {
      return {
        tenantId,
        numbering: numberingOfRow(row),
        defaultPaymentTermsDays: Number(row.default_payment_terms_days),
        sellerName: String(row.seller_name),
        sellerAddress: row.seller_address === null || row.seller_address === undefined ? [] : (JSON.parse(String(row.seller_address)) as string[]),
        sellerTaxId: row.seller_tax_id === null || row.seller_tax_id === undefined ? null : String(row.seller_tax_id),
        footer: row.footer === null || row.footer === undefined ? null : String(row.footer),
        updatedAt: fromDbTimestamp(row.updated_at),
      };
    }
    const tenants: Record<string, unknown>[] = await manager.query('SELECT name FROM tenants WHERE id = ?', [tenantId]);
    // The principal's tenant always exists: a missing one is an internal error, never a client's.
    if (!tenants[0]) throw new Error(`Tenant ${tenantId} has no row`);
    return {
      tenantId,
      numbering: DEFAULT_INVOICE_NUMBERING,
      defaultPaymentTermsDays: DEFAULT_PAYMENT_TERMS_DAYS,
      sellerName: String(tenants[0].name),
      sellerAddress: [],
      sellerTaxId: null,
      footer: null,
      updatedAt: null,
    };
  }
}
