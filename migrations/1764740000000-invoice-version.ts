import type { MigrationInterface, QueryRunner } from 'typeorm';
import { addColumnsPortably } from './portable-columns';

/**
 * Optimistic concurrency on invoices: a version counter on the invoice row, 1 when created and one
 * more with every change of what the invoice shows (its fields, its lines, its payments). Clients send
 * it back (expectedVersion in GraphQL, If-Match over REST, where it is the ETag) so that a change made
 * on a stale read is refused instead of silently undoing someone else's. Invoices that exist already
 * start at 1.
 */
export class InvoiceVersion1764740000000 implements MigrationInterface {
  name = 'InvoiceVersion1764740000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await addColumnsPortably(queryRunner, 'invoices', [{ name: 'version', type: 'int', default: 1 }]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('invoices', 'version');
  }
}
