import type { MigrationInterface, QueryRunner } from 'typeorm';
import { addColumnsPortably, portableColumns } from './portable-columns';

/**
 * A card payment can pay an invoice (payInvoice): payments gain the invoice it pays, nullable (most
 * payments pay none). The posting rules read it: a payment of an invoice settles a receivable that
 * the invoice's finalisation booked, so its capture credits accounts receivable rather than revenue,
 * and its refunds debit accounts receivable rather than refunds.
 */
export class PaymentInvoiceLink1764635000000 implements MigrationInterface {
  name = 'PaymentInvoiceLink1764635000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id } = portableColumns(queryRunner);
    await addColumnsPortably(queryRunner, 'payments', [{ ...id('invoice_id'), isNullable: true }]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('payments', 'invoice_id');
  }
}
