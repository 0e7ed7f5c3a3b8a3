import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An OAuth 2.0 client (client credentials grant). Its secret is stored only as a SHA-256 hash. */
@Entity({ name: 'oauth_clients' })
export class OAuthClientEntity {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 40 })
  tenantId!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ name: 'secret_hash', type: 'varchar', length: 64 })
  secretHash!: string;

  /** Space-separated; a token may carry these or fewer. */
  @Column({ type: 'varchar', length: 500 })
  scopes!: string;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'datetime', precision: 3, nullable: true })
  revokedAt!: Date | null;
}
