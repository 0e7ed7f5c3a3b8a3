import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The encrypted columns of webhook_endpoints, for the service and for `keys reencrypt`. */
export const WEBHOOK_ENDPOINT_ENCRYPTED_COLUMNS = {
  table: 'webhook_endpoints',
  columns: ['url_ciphertext', 'secret_ciphertext'],
} as const;

/**
 * A URL that receives a tenant's events, signed with the endpoint's secret. The URL and the secret
 * are stored encrypted (FieldCipher, bound to this table, their column and the tenant): the URL may
 * carry a token, and the secret must be readable again to sign deliveries, so it cannot be hashed.
 */
@Entity({ name: 'webhook_endpoints' })
export class WebhookEndpointEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 40 })
  tenantId!: string;

  @Column({ name: 'url_ciphertext', type: 'text' })
  urlCiphertext!: string;

  /**
   * Keyed HMAC of the normalised URL, unique per tenant, so that a URL can be found and refused twice
   * without decrypting every row. A disabled endpoint gives its URL up (see WebhooksService.disable).
   */
  @Column({ name: 'url_index', type: 'varchar', length: 64 })
  urlIndex!: string;

  @Column({ name: 'secret_ciphertext', type: 'text' })
  secretCiphertext!: string;

  /** Space-separated event types, or `*` for all. */
  @Column({ type: 'varchar', length: 1000 })
  events!: string;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Column({ name: 'disabled_at', type: 'datetime', precision: 3, nullable: true })
  disabledAt!: Date | null;
}
