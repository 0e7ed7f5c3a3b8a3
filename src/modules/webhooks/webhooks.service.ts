import crypto from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Clock } from '../../common/clock';
import { DecryptionError, type FieldCipher, type FieldContext } from '../../common/encryption';
import { idKindOf, newId, requireIdOfKind } from '../../common/ids';
import { type Page, type PageRequest, readPage } from '../../common/pagination';
import { applyKeyset } from '../../db/keyset';
import { databaseKindOfSource } from '../../db/data-source';
import { isUniqueViolation, runInTransaction } from '../../db/transaction';
import type { IdempotencyHandle, IdempotencyService } from '../idempotency/idempotency.service';
import { normaliseWebhookEvents, normaliseWebhookUrl, WEBHOOK_LIMITS } from './webhook-rules';
import { WEBHOOK_ENDPOINT_ENCRYPTED_COLUMNS, WebhookEndpointEntity } from './webhook-endpoint.entity';
import { WebhookErrors } from './webhooks.errors';
import { checkDestinationAtCreation, RefusedDestinationError } from './webhook-destinations';

/** An endpoint as the rest of Reckon sees it: the URL decrypted, the secret left out. */
export interface WebhookEndpoint {
  id: string;
  tenantId: string;
  url: string;
  events: string[];
  createdAt: Date;
  disabledAt: Date | null;
}

export interface CreateWebhookEndpointInput {
  url: string;
  events: string[];
}

export interface WebhooksServiceOptions {
  /** Accept http:// to localhost and 127.0.0.1 (development only). */
  allowLoopbackHttp: boolean;
  /** Accept URLs that are or resolve to loopback, private, link-local… addresses (WEBHOOK_ALLOW_PRIVATE_NETWORKS; development only). */
  allowPrivateNetworks?: boolean;
}

const TABLE = WEBHOOK_ENDPOINT_ENCRYPTED_COLUMNS.table;
const URL_COLUMN = 'url_ciphertext';
const SECRET_COLUMN = 'secret_ciphertext';
/** 32 random bytes: the HMAC-SHA256 key that signs deliveries. */
const SIGNING_SECRET_BYTES = 32;

/**
 * `whsec_` and the key in standard base64, the Standard Webhooks form that its libraries decode.
 * Secrets made before deliveries existed were base64url (`-`, `_`, no padding): they still sign the
 * same bytes (see signWebhook); a receiver using a Standard Webhooks library converts such a secret
 * to base64 first, or creates a new endpoint.
 */
function newSigningSecret(): string {
  return `whsec_${crypto.randomBytes(SIGNING_SECRET_BYTES).toString('base64')}`;
}

/**
 * Webhook endpoints of a tenant: created with a signing secret shown once, listed, disabled (never
 * deleted). Every read and write is scoped to the tenant given; another tenant's endpoint is not found.
 */
export class WebhooksService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly cipher: FieldCipher,
    private readonly options: WebhooksServiceOptions,
    /** Completes idempotency claims of keyed creations inside their own transaction. */
    private readonly idempotency?: IdempotencyService,
  ) {}

  /** Creates an endpoint; the returned signing secret exists in clear only in this answer. */
  async createEndpoint(
    tenantId: string,
    input: CreateWebhookEndpointInput,
    idempotency?: IdempotencyHandle,
  ): Promise<{ endpoint: WebhookEndpoint; signingSecret: string }> {
    const url = normaliseWebhookUrl(input.url, { allowLoopbackHttp: this.options.allowLoopbackHttp });
    const events = normaliseWebhookEvents(input.events);
    try {
      await checkDestinationAtCreation(url, { allowPrivateNetworks: this.options.allowPrivateNetworks ?? false });
    } catch (error) {
      if (error instanceof RefusedDestinationError) throw WebhookErrors.invalidUrl(`host ${RefusedDestinationError.REASON}; use a public address`);
      throw error;
    }
    const signingSecret = newSigningSecret();
    const row: WebhookEndpointEntity = {
      id: newId('webhookEndpoint'),
      tenantId,
      urlCiphertext: this.cipher.encrypt(url, this.contextOf(tenantId, URL_COLUMN)),
      urlIndex: this.urlIndexOf(tenantId, url),
      secretCiphertext: this.cipher.encrypt(signingSecret, this.contextOf(tenantId, SECRET_COLUMN)),
      events: events.join(' '),
      createdAt: this.clock.now(),
      disabledAt: null,
    };
    try {
      await runInTransaction(this.dataSource, async (manager) => {
        // The tenant row lock makes the count and the insert one step, so that concurrent creations
        // cannot pass the limit together. SQLite transactions are serial already and have no row locks.
        if (databaseKindOfSource(this.dataSource) === 'mysql') await manager.query('SELECT id FROM tenants WHERE id = ? FOR UPDATE', [tenantId]);
        const [{ count }] = await manager.query(`SELECT COUNT(*) AS count FROM ${TABLE} WHERE tenant_id = ? AND disabled_at IS NULL`, [
          tenantId,
        ]);
        if (Number(count) >= WEBHOOK_LIMITS.enabledEndpointsPerTenant) throw WebhookErrors.tooManyEndpoints(WEBHOOK_LIMITS.enabledEndpointsPerTenant);
        await manager.insert(WebhookEndpointEntity, row);
        if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { webhookEndpointId: row.id } });
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = await this.dataSource.getRepository(WebhookEndpointEntity).findOneBy({ tenantId, urlIndex: row.urlIndex });
      throw WebhookErrors.urlTaken(existing?.id);
    }
    return { endpoint: this.toEndpoint(row), signingSecret };
  }

  /** All of the tenant's endpoints, disabled ones included, oldest first. */
  async listEndpoints(tenantId: string, request: PageRequest): Promise<Page<WebhookEndpoint>> {
    const page = await readPage(request, (slice) => applyKeyset(this.tenantEndpoints(tenantId), slice, 'w.id', 'ASC').getMany(), (w) => w.id, {
      isKey: (key) => idKindOf(key) === 'webhookEndpoint',
    });
    return { ...page, items: page.items.map((row) => this.toEndpoint(row)) };
  }

  /** Exactly how many endpoints the tenant has, disabled ones included. */
  countEndpoints(tenantId: string): Promise<number> {
    return this.tenantEndpoints(tenantId).getCount();
  }

  private tenantEndpoints(tenantId: string) {
    return this.dataSource.getRepository(WebhookEndpointEntity).createQueryBuilder('w').where('w.tenant_id = :tenantId', { tenantId });
  }

  async endpointsByIds(tenantId: string, ids: readonly string[]): Promise<WebhookEndpoint[]> {
    if (ids.length === 0) return [];
    const rows = await this.dataSource
      .getRepository(WebhookEndpointEntity)
      .createQueryBuilder('w')
      .where('w.tenant_id = :tenantId AND w.id IN (:...ids)', { tenantId, ids: [...ids] })
      .getMany();
    return rows.map((row) => this.toEndpoint(row));
  }

  async getEndpoint(tenantId: string, id: string): Promise<WebhookEndpoint> {
    return this.toEndpoint(await this.findRow(tenantId, id));
  }

  /**
   * Stops deliveries to an endpoint. The row stays, with its URL and secret, for the record; only its
   * claim on the URL is released, so that the same URL can be added again as a new endpoint.
   */
  async disableEndpoint(tenantId: string, id: string, idempotency?: IdempotencyHandle): Promise<WebhookEndpoint> {
    return runInTransaction(this.dataSource, async (manager) => {
      const row = await this.findRow(tenantId, id, manager, true);
      if (row.disabledAt) throw WebhookErrors.alreadyDisabled(id);
      row.disabledAt = this.clock.now();
      // Not a keyed hash, so it can never equal a URL's index (64 hex digits), and unique per row.
      row.urlIndex = `disabled:${row.id}`;
      await manager.update(WebhookEndpointEntity, { id: row.id, tenantId }, { disabledAt: row.disabledAt, urlIndex: row.urlIndex });
      if (idempotency && this.idempotency) await this.idempotency.complete(manager, idempotency, { resultRef: { webhookEndpointId: row.id } });
      return this.toEndpoint(row);
    });
  }

  /** What the delivery worker needs of an endpoint, read fresh at each attempt; null when it is gone. */
  async deliveryTargetOf(tenantId: string, id: string): Promise<{ url: string; signingSecret: string; disabled: boolean } | null> {
    const row = await this.dataSource.getRepository(WebhookEndpointEntity).findOneBy({ tenantId, id });
    if (!row) return null;
    return { url: this.decrypt(row, URL_COLUMN, row.urlCiphertext), signingSecret: this.decrypt(row, SECRET_COLUMN, row.secretCiphertext), disabled: row.disabledAt !== null };
  }

  /** The secret that signs deliveries to this endpoint (for the delivery worker; never for a client). */
  async signingSecretOf(tenantId: string, id: string): Promise<string> {
    const row = await this.findRow(tenantId, id);
    return this.decrypt(row, SECRET_COLUMN, row.secretCiphertext);
  }

  private async findRow(tenantId: string, id: string, manager: EntityManager = this.dataSource.manager, lock = false): Promise<WebhookEndpointEntity> {
    requireIdOfKind(id, 'webhookEndpoint', 'id');
    const query = manager
      .getRepository(WebhookEndpointEntity)
      .createQueryBuilder('w')
      .where('w.tenant_id = :tenantId AND w.id = :id', { tenantId, id });
    if (lock && databaseKindOfSource(this.dataSource) === 'mysql') query.setLock('pessimistic_write');
    const row = await query.getOne();
    if (!row) throw WebhookErrors.endpointNotFound(id);
    return row;
  }

  private toEndpoint(row: WebhookEndpointEntity): WebhookEndpoint {
    return {
      id: row.id,
      tenantId: row.tenantId,
      url: this.decrypt(row, URL_COLUMN, row.urlCiphertext),
      events: row.events.split(' ').filter(Boolean),
      createdAt: row.createdAt,
      disabledAt: row.disabledAt,
    };
  }

  /**
   * A value that does not decrypt was moved, tampered with, or written under a key that is no longer
   * configured: an operator's problem, never the caller's. It fails as an internal error, masked for
   * the client and logged in full with the row and column (never the value).
   */
  private decrypt(row: WebhookEndpointEntity, column: string, ciphertext: string): string {
    try {
      return this.cipher.decrypt(ciphertext, this.contextOf(row.tenantId, column));
    } catch (error) {
      if (error instanceof DecryptionError) throw new DecryptionError(`${TABLE}.${column} of ${row.id}: ${error.message}`);
      throw error;
    }
  }

  private contextOf(tenantId: string, column: string): FieldContext {
    return { table: TABLE, column, tenantId };
  }

  private urlIndexOf(tenantId: string, normalUrl: string): string {
    return this.cipher.blindIndex(normalUrl, this.contextOf(tenantId, 'url_index'));
  }
}
