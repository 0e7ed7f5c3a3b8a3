import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../common/clock';
import type { FieldCipher, FieldContext } from '../../common/encryption';
import { validationError } from '../../common/errors';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { requireCurrency } from '../../common/money';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { keysetSql } from '../../db/keyset';
import { toDbTimestamp } from '../../common/timestamps';
import { runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { createGatewayAdapter } from './gateways/gateway-adapters';
import { parseHttpGatewayCredentials } from './gateways/http-gateway';
import { type GatewayCredentials, GatewayKind, type PaymentGateway } from './gateways/payment-gateway';
import { PaymentErrors } from './payments.errors';
import { gatewayFromRow, type PaymentGatewayRecord } from './payments.types';

export interface CreateGatewayInput {
  name: string;
  kind: GatewayKind;
  /** Currencies this gateway is chosen for when a payment names no gateway. */
  currencies: string[];
  /** Required for HTTP gateways. */
  http?: { baseUrl: string; apiSecret: string; timeoutMs?: number | null } | null;
}

export interface PaymentGatewaysOptions {
  /** Accept http:// gateway URLs on localhost and 127.0.0.1 (development and tests only). */
  allowLoopbackHttp: boolean;
  /** How long the simulator's `tok_slow` token waits. */
  simulatorSlowMs?: number;
}

export const GATEWAY_ENCRYPTED_COLUMNS = {
  table: 'payment_gateways',
  columns: ['credentials_ciphertext', 'webhook_secret_ciphertext'],
} as const;

const TABLE = GATEWAY_ENCRYPTED_COLUMNS.table;
const MAX_CURRENCIES = 50;
const NAME_LENGTH = 200;

/**
 * A tenant's payment gateways: created with encrypted credentials and a webhook signing secret shown
 * once, looked up for routing, and turned into adapters. Another tenant's gateway is not found.
 */
export class PaymentGatewaysService {
  /** Adapters by gateway id: credentials never change after creation, so one adapter serves for good. */
  private readonly adapters = new Map<string, PaymentGateway>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly cipher: FieldCipher,
    private readonly options: PaymentGatewaysOptions,
    private readonly idempotency?: IdempotencyService,
  ) {}

  private context(tenantId: string, column: string): FieldContext {
    return { table: TABLE, column, tenantId };
  }

  async createGateway(
    tenantId: string,
    input: CreateGatewayInput,
    idempotency?: IdempotencyHandle,
  ): Promise<{ gateway: PaymentGatewayRecord; webhookSecret: string }> {
    const name = input.name.trim();
    if (name.length === 0 || name.length > NAME_LENGTH) throw validationError(`name must be 1 to ${NAME_LENGTH} characters`, { field: 'name' });
    if (input.currencies.length > MAX_CURRENCIES) throw validationError(`at most ${MAX_CURRENCIES} currencies`, { field: 'currencies' });
    const currencies = [...new Set(input.currencies.map((currency, i) => requireCurrency(currency, `currencies[${i}]`)))];
    let credentials: GatewayCredentials;
    switch (input.kind) {
      case GatewayKind.SIMULATOR:
        if (input.http) throw validationError('http settings are for HTTP gateways only', { field: 'http' });
        credentials = { kind: GatewayKind.SIMULATOR };
        break;
      case GatewayKind.HTTP:
        if (!input.http) throw validationError('an HTTP gateway needs http { baseUrl apiSecret }', { field: 'http' });
        credentials = parseHttpGatewayCredentials(input.http, { allowLoopbackHttp: this.options.allowLoopbackHttp });
        break;
      default:
        throw validationError('kind must be SIMULATOR or HTTP', { field: 'kind' });
    }
    const webhookSecret = `gwsec_${crypto.randomBytes(32).toString('base64url')}`;
    const gateway: PaymentGatewayRecord = {
      id: newId('paymentGateway'),
      tenantId,
      name,
      kind: input.kind,
      currencies,
      createdAt: this.clock.now(),
      disabledAt: null,
    };
    await runInTransaction(this.dataSource, async (manager) => {
      await manager.query(
        `INSERT INTO ${TABLE} (id, tenant_id, name, kind, currencies, credentials_ciphertext, webhook_secret_ciphertext, created_at, disabled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
        [
          gateway.id,
          tenantId,
          name,
          gateway.kind,
          currencies.join(' '),
          this.cipher.encrypt(JSON.stringify(credentials), this.context(tenantId, 'credentials_ciphertext')),
          this.cipher.encrypt(webhookSecret, this.context(tenantId, 'webhook_secret_ciphertext')),
          toDbTimestamp(gateway.createdAt),
        ],
      );
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { gatewayId: gateway.id } });
    });
    return { gateway, webhookSecret };
  }

  async gatewaysByIds(tenantId: string, ids: readonly string[]): Promise<PaymentGatewayRecord[]> {
    if (ids.length === 0) return [];
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT id, tenant_id, name, kind, currencies, created_at, disabled_at FROM ${TABLE} WHERE tenant_id = ? AND id IN (${ids.map(() => '?').join(',')})`,
      [tenantId, ...ids],
    );
    return rows.map(gatewayFromRow);
  }

  async getGateway(tenantId: string, id: string): Promise<PaymentGatewayRecord> {
    requireIdOfKind(id, 'paymentGateway', 'gatewayId');
    const [gateway] = await this.gatewaysByIds(tenantId, [id]);
    if (!gateway) throw PaymentErrors.gatewayNotFound(id);
    return gateway;
  }

  async listGateways(tenantId: string, pageRequest: PageRequest): Promise<Page<PaymentGatewayRecord>> {
    return readPage(
      pageRequest,
      async (slice) => {
        const keyset = keysetSql(slice, ['id'], 'ASC');
        const rows: Record<string, unknown>[] = await this.dataSource.query(
          `SELECT id, tenant_id, name, kind, currencies, created_at, disabled_at FROM ${TABLE}
            WHERE ${['tenant_id = ?', ...keyset.conditions].join(' AND ')} ORDER BY ${keyset.orderBy} LIMIT ${keyset.limit}`,
          [tenantId, ...keyset.params],
        );
        return rows.map(gatewayFromRow);
      },
      (gateway) => gateway.id,
      { isKey: (key) => idKindOf(key) === 'paymentGateway' },
    );
  }

  /** Exactly how many gateways the tenant has, disabled ones included. */
  async countGateways(tenantId: string): Promise<number> {
    const rows: Record<string, unknown>[] = await this.dataSource.query(`SELECT COUNT(*) AS total FROM ${TABLE} WHERE tenant_id = ?`, [tenantId]);
    return Number(rows[0].total);
  }

  /**
   * The gateway a payment goes through: the one named (which must take the currency), or else the
   * oldest enabled gateway of the tenant that lists the currency.
   */
  async chooseGateway(tenantId: string, gatewayId: string | null | undefined, currency: string): Promise<PaymentGatewayRecord> {
    if (gatewayId) {
      const gateway = await this.getGateway(tenantId, gatewayId);
      if (gateway.disabledAt) throw PaymentErrors.gatewayNotFound(gatewayId);
      if (!gateway.currencies.includes(currency)) throw PaymentErrors.gatewayCurrencyMismatch(gatewayId, currency);
      return gateway;
    }
    const rows: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT id, tenant_id, name, kind, currencies, created_at, disabled_at FROM ${TABLE} WHERE tenant_id = ? AND disabled_at IS NULL ORDER BY id`,
      [tenantId],
    );
    const gateway = rows.map(gatewayFromRow).find((candidate) => candidate.currencies.includes(currency));
    if (!gateway) throw PaymentErrors.noGatewayForCurrency(currency);
    return gateway;
  }

  /** The adapter that talks to a gateway; its credentials are decrypted once per process. */
  async adapterFor(gatewayId: string): Promise<PaymentGateway> {
    const cached = this.adapters.get(gatewayId);
    if (cached) return cached;
    const [row]: Record<string, unknown>[] = await this.dataSource.query(`SELECT tenant_id, credentials_ciphertext FROM ${TABLE} WHERE id = ?`, [gatewayId]);
    if (!row) throw PaymentErrors.gatewayNotFound(gatewayId);
    const credentials = JSON.parse(
      this.cipher.decrypt(String(row.credentials_ciphertext), this.context(String(row.tenant_id), 'credentials_ciphertext')),
    ) as GatewayCredentials;
    const adapter = createGatewayAdapter(gatewayId, credentials, {
      dataSource: this.dataSource,
      clock: this.clock,
      simulatorSlowMs: this.options.simulatorSlowMs,
    });
    this.adapters.set(gatewayId, adapter);
    return adapter;
  }

  /**
   * The secret that signs a gateway's inbound events, and its tenant. Looked up by gateway id alone:
   * the inbound route has no credential, and the signature is what authenticates it. Null when there is
   * no such gateway (answered like a bad signature, so ids cannot be probed).
   */
  async webhookSecretOf(gatewayId: string): Promise<{ tenantId: string; secret: string } | null> {
    const [row]: Record<string, unknown>[] = await this.dataSource.query(
      `SELECT tenant_id, webhook_secret_ciphertext FROM ${TABLE} WHERE id = ? AND disabled_at IS NULL`,
      [gatewayId],
    );
    if (!row) return null;
    const tenantId = String(row.tenant_id);
    return { tenantId, secret: this.cipher.decrypt(String(row.webhook_secret_ciphertext), this.context(tenantId, 'webhook_secret_ciphertext')) };
  }
}
