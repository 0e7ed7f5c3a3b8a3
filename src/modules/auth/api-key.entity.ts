import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An API key. Only its visible prefix and a SHA-256 hash of the whole key are stored. */
@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 40 })
  tenantId!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  /** The non-secret start of the key, unique, used to find the row before comparing hashes. */
  @Column({ type: 'varchar', length: 40 })
  prefix!: string;

  @Column({ name: 'secret_hash', type: 'varchar', length: 64 })
  secretHash!: string;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'datetime', precision: 3, nullable: true })
  revokedAt!: Date | null;

  /** Space-separated scopes; a restricted key has fewer than admin. */
  @Column({ type: 'varchar', length: 500 })
  scopes!: string;

  /** After this instant the key no longer works (set by rolling, or at creation). */
  @Column({ name: 'expires_at', type: 'datetime', precision: 3, nullable: true })
  expiresAt!: Date | null;

  /** Updated at most once a minute, so that using a key does not cost a write per request. */
  @Column({ name: 'last_used_at', type: 'datetime', precision: 3, nullable: true })
  lastUsedAt!: Date | null;
}
