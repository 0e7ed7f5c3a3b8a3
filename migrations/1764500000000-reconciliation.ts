import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';
import { portableColumns } from './portable-columns';

/**
 * Reconciliation: bank accounts (account number encrypted, found by a blind index), imported bank
 * statements and their lines (a fingerprint unique per bank account, so that no line is imported
 * twice), matches between statement lines and postings (each matched at most once, by unique
 * indexes), and the flags auditors follow (a per-tenant sequence, from a counter row per tenant).
 */
export class Reconciliation1764500000000 implements MigrationInterface {
  name = 'Reconciliation1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const { id, timestamp, exactText, minorUnits } = portableColumns(queryRunner);
    const tenantKey = { columnNames: ['tenant_id'], referencedTableName: 'tenants', referencedColumnNames: ['id'] };
    const bankAccountKey = { columnNames: ['bank_account_id'], referencedTableName: 'bank_accounts', referencedColumnNames: ['id'] };
    const date = (name: string, nullable = true) => ({ name, type: 'varchar', length: '10', isNullable: nullable });
    await queryRunner.createTable(
      new Table({
        name: 'bank_accounts',
        columns: [
          id('id', true),
          id('tenant_id'),
          { name: 'name', type: 'varchar', length: '200' },
          // IBAN or OTHER: how account_number_ciphertext is to be read and compared with statements.
          { name: 'account_number_kind', type: 'varchar', length: '8' },
          { name: 'account_number_ciphertext', type: 'text' },
          // Keyed HMAC of the normalised number: equality lookups, and one bank account per number and
          // currency (a multi-currency account has one IBAN and a statement per currency).
          { name: 'account_number_index', type: 'varchar', length: '64' },
          { name: 'account_last4', type: 'varchar', length: '4' },
          { name: 'currency', type: 'varchar', length: '3' },
          id('ledger_account_id'),
          { name: 'match_window_business_days', type: 'int' },
          timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_bank_accounts_number', columnNames: ['tenant_id', 'account_number_index', 'currency'], isUnique: true }),
          new TableIndex({ name: 'ix_bank_accounts_tenant', columnNames: ['tenant_id', 'id'] }),
          new TableIndex({ name: 'ix_bank_accounts_ledger_account', columnNames: ['ledger_account_id'] }),
        ],
        foreignKeys: [tenantKey, { columnNames: ['ledger_account_id'], referencedTableName: 'accounts', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'bank_statements',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('bank_account_id'),
          { name: 'format', type: 'varchar', length: '8' },
          exactText('statement_ref', 255, true),
          date('from_date'),
          date('to_date'),
          { name: 'currency', type: 'varchar', length: '3' },
          minorUnits('opening_balance_minor', true),
          date('opening_balance_date'),
          minorUnits('closing_balance_minor', true),
          date('closing_balance_date'),
          // Lines in the file, lines stored by this import, and lines already stored by an earlier one.
          { name: 'line_count', type: 'int' },
          { name: 'imported_line_count', type: 'int' },
          { name: 'duplicate_line_count', type: 'int' },
          // SHA-256 of what the statement says: importing the same statement again finds this row.
          { name: 'fingerprint', type: 'varchar', length: '64' },
          timestamp('imported_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_bank_statements_fingerprint', columnNames: ['tenant_id', 'bank_account_id', 'fingerprint'], isUnique: true }),
          new TableIndex({ name: 'ix_bank_statements_account', columnNames: ['bank_account_id', 'id'] }),
        ],
        foreignKeys: [tenantKey, bankAccountKey],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'statement_lines',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('bank_account_id'),
          id('statement_id'),
          // Signed, from the account holder's view: money in positive, money out negative.
          minorUnits('amount_minor'),
          { name: 'currency', type: 'varchar', length: '3' },
          date('booking_date'),
          date('value_date'),
          exactText('bank_reference', 255, true),
          exactText('end_to_end_id', 255, true),
          { name: 'counterparty_name', type: 'varchar', length: '255', isNullable: true },
          exactText('counterparty_account', 255, true),
          { name: 'remittance_information', type: 'text', isNullable: true },
          { name: 'description', type: 'text', isNullable: true },
          { name: 'status', type: 'varchar', length: '8' },
          { name: 'source_location', type: 'varchar', length: '255' },
          // SHA-256 of the bank's identifiers (or of the line's content) and its ordinal among equal lines.
          { name: 'fingerprint', type: 'varchar', length: '64' },
          timestamp('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_statement_lines_fingerprint', columnNames: ['tenant_id', 'bank_account_id', 'fingerprint'], isUnique: true }),
          new TableIndex({ name: 'ix_statement_lines_statement', columnNames: ['statement_id', 'id'] }),
          new TableIndex({ name: 'ix_statement_lines_account_date', columnNames: ['bank_account_id', 'booking_date'] }),
          new TableIndex({ name: 'ix_statement_lines_end_to_end', columnNames: ['bank_account_id', 'end_to_end_id'] }),
        ],
        foreignKeys: [tenantKey, bankAccountKey, { columnNames: ['statement_id'], referencedTableName: 'bank_statements', referencedColumnNames: ['id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'reconciliation_matches',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('bank_account_id'),
          { name: 'rule', type: 'varchar', length: '32' },
          { name: 'score', type: 'int' },
          // The values compared, as JSON: why the rule matched.
          { name: 'details', type: 'text' },
          // AUTOMATIC or MANUAL (then the credential that matched by hand).
          { name: 'origin', type: 'varchar', length: '16' },
          { ...id('created_by'), isNullable: true },
          timestamp('created_at'),
          timestamp('unmatched_at', true),
        ],
        indices: [new TableIndex({ name: 'ix_reconciliation_matches_account', columnNames: ['bank_account_id', 'id'] })],
        foreignKeys: [tenantKey, bankAccountKey],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'reconciliation_match_items',
        columns: [
          id('id', true),
          id('tenant_id'),
          id('match_id'),
          { ...id('statement_line_id'), isNullable: true },
          { ...id('posting_id'), isNullable: true },
        ],
        // One side per row; a line and a posting each belong to at most one (current) match. Unmatching
        // sets these to NULL and keeps what they held in recorded_* columns (1764520000000).
        indices: [
          new TableIndex({ name: 'uq_match_items_line', columnNames: ['statement_line_id'], isUnique: true }),
          new TableIndex({ name: 'uq_match_items_posting', columnNames: ['posting_id'], isUnique: true }),
          new TableIndex({ name: 'ix_match_items_match', columnNames: ['match_id'] }),
        ],
        foreignKeys: [
          tenantKey,
          { columnNames: ['match_id'], referencedTableName: 'reconciliation_matches', referencedColumnNames: ['id'] },
          { columnNames: ['statement_line_id'], referencedTableName: 'statement_lines', referencedColumnNames: ['id'] },
          { columnNames: ['posting_id'], referencedTableName: 'postings', referencedColumnNames: ['id'] },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'reconciliation_flags',
        columns: [
          id('id', true),
          id('tenant_id'),
          // NULL for gateway-side flags (PAYOUT_MISMATCH, GATEWAY_MISMATCH): raised by the payments
          // module about a gateway, with no bank account in the cause.
          { ...id('bank_account_id'), isNullable: true },
          { name: 'kind', type: 'varchar', length: '32' },
          { name: 'status', type: 'varchar', length: '16' },
          // What the flag is about (e.g. "statement:bst_…"): a cause that returns reopens its flag.
          exactText('subject', 128),
          { name: 'sequence', type: 'bigint' },
          { name: 'details', type: 'text' },
          { name: 'occurrence_count', type: 'int', default: 1 },
          timestamp('created_at'),
          timestamp('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'uq_reconciliation_flags_sequence', columnNames: ['tenant_id', 'sequence'], isUnique: true }),
          new TableIndex({ name: 'uq_reconciliation_flags_subject', columnNames: ['tenant_id', 'bank_account_id', 'kind', 'subject'], isUnique: true }),
          new TableIndex({ name: 'ix_reconciliation_flags_account', columnNames: ['bank_account_id', 'sequence'] }),
          new TableIndex({ name: 'ix_reconciliation_flags_status', columnNames: ['tenant_id', 'status', 'sequence'] }),
        ],
        foreignKeys: [tenantKey, bankAccountKey],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'reconciliation_sequences',
        columns: [id('tenant_id', true), { name: 'last_flag_sequence', type: 'bigint', default: 0 }],
        foreignKeys: [tenantKey],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['reconciliation_sequences', 'reconciliation_flags', 'reconciliation_match_items', 'reconciliation_matches', 'statement_lines', 'bank_statements', 'bank_accounts']) {
      await queryRunner.dropTable(table);
    }
  }
}
