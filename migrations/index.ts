import { InitialLedger1764100000000 } from './1764100000000-initial-ledger';
import { CredentialsAndSecrets1764200000000 } from './1764200000000-credentials-and-secrets';
import { IdempotencyRecords1764300000000 } from './1764300000000-idempotency-records';
import { Payments1764400000000 } from './1764400000000-payments';
import { SimulatorState1764460000000 } from './1764460000000-simulator-state';
import { PostingsAccountRecentIndex1764480000000 } from './1764480000000-postings-account-recent-index';
import { Reconciliation1764500000000 } from './1764500000000-reconciliation';
import { ReconciliationMatching1764520000000 } from './1764520000000-reconciliation-matching';
import { ReconciliationFlagHistory1764540000000 } from './1764540000000-reconciliation-flag-history';
import { BankNotifications1764560000000 } from './1764560000000-bank-notifications';
import { MatchingAging1764580000000 } from './1764580000000-matching-aging';
import { BankAccountMatchingSettings1764590000000 } from './1764590000000-bank-account-matching-settings';
import { Customers1764600000000 } from './1764600000000-customers';
import { InvoiceNumberSequences1764610000000 } from './1764610000000-invoice-number-sequences';
import { Invoices1764620000000 } from './1764620000000-invoices';
import { InvoiceSettlement1764630000000 } from './1764630000000-invoice-settlement';
import { PaymentInvoiceLink1764635000000 } from './1764635000000-payment-invoice-link';
import { InvoiceSettings1764640000000 } from './1764640000000-invoice-settings';
import { InvoiceNumberMatchRule1764650000000 } from './1764650000000-invoice-number-match-rule';
import { InvoiceJournalEntries1764660000000 } from './1764660000000-invoice-journal-entries';
import { AuditEvents1764700000000 } from './1764700000000-audit-events';
import { WebhookOutbox1764710000000 } from './1764710000000-webhook-outbox';
import { AccountPeriodTotals1764720000000 } from './1764720000000-account-period-totals';
import { EventStream1764730000000 } from './1764730000000-event-stream';
import { InvoiceVersion1764740000000 } from './1764740000000-invoice-version';

/** Every migration, in order. Listed explicitly so the build, tests and the CLI load the same set. */
export const MIGRATIONS = [InitialLedger1764100000000, CredentialsAndSecrets1764200000000, IdempotencyRecords1764300000000, Payments1764400000000, SimulatorState1764460000000, PostingsAccountRecentIndex1764480000000, Reconciliation1764500000000, ReconciliationMatching1764520000000, ReconciliationFlagHistory1764540000000, BankNotifications1764560000000, MatchingAging1764580000000, BankAccountMatchingSettings1764590000000, Customers1764600000000, InvoiceNumberSequences1764610000000, Invoices1764620000000, InvoiceSettlement1764630000000, PaymentInvoiceLink1764635000000, InvoiceSettings1764640000000, InvoiceNumberMatchRule1764650000000, InvoiceJournalEntries1764660000000, AuditEvents1764700000000, WebhookOutbox1764710000000, AccountPeriodTotals1764720000000, EventStream1764730000000, InvoiceVersion1764740000000];
