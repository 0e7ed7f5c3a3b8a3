import { AccountType } from './ledger.types';

/**
 * The default chart of accounts every tenant has, one set per currency it uses (ledger accounts hold
 * one currency each). Posting rules of other modules name these roles, never account ids. The accounts
 * are created the first time a currency needs them, with codes `SYS-<number>-<currency>`; the `SYS-`
 * prefix is reserved, so a tenant's own accounts can never take one of these codes.
 */
export enum ChartRole {
  CASH_AT_BANK = 'CASH_AT_BANK',
  /** What the gateways owe the business: captures in, fees, refunds and disputes out, payouts to the bank. */
  GATEWAY_CLEARING = 'GATEWAY_CLEARING',
  ACCOUNTS_RECEIVABLE = 'ACCOUNTS_RECEIVABLE',
  /** Funds a gateway withdrew for an open dispute, until the dispute is won (returned) or lost. */
  DISPUTED_FUNDS = 'DISPUTED_FUNDS',
  SALES_TAX_PAYABLE = 'SALES_TAX_PAYABLE',
  /** What the business owes customers who paid more than they owed, or were credited: used by their later invoices. */
  CUSTOMER_CREDIT = 'CUSTOMER_CREDIT',
  REVENUE = 'REVENUE',
  /** Contra-revenue: refunds reduce revenue rather than count as an expense. */
  REFUNDS = 'REFUNDS',
  PROCESSING_FEES = 'PROCESSING_FEES',
  CHARGEBACK_LOSSES = 'CHARGEBACK_LOSSES',
  CHARGEBACK_FEES = 'CHARGEBACK_FEES',
  BAD_DEBT = 'BAD_DEBT',
}

export const SYSTEM_ACCOUNT_CODE_PREFIX = 'SYS-';

export interface ChartAccountSpec {
  role: ChartRole;
  number: string;
  name: string;
  type: AccountType;
}

export const DEFAULT_CHART: readonly ChartAccountSpec[] = [
  { role: ChartRole.CASH_AT_BANK, number: '1000', name: 'Cash at bank', type: AccountType.ASSET },
  { role: ChartRole.GATEWAY_CLEARING, number: '1100', name: 'Gateway clearing', type: AccountType.ASSET },
  { role: ChartRole.ACCOUNTS_RECEIVABLE, number: '1200', name: 'Accounts receivable', type: AccountType.ASSET },
  { role: ChartRole.DISPUTED_FUNDS, number: '1300', name: 'Disputed funds', type: AccountType.ASSET },
  { role: ChartRole.SALES_TAX_PAYABLE, number: '2100', name: 'Sales tax payable', type: AccountType.LIABILITY },
  { role: ChartRole.CUSTOMER_CREDIT, number: '2200', name: 'Customer credit', type: AccountType.LIABILITY },
  { role: ChartRole.REVENUE, number: '4000', name: 'Revenue', type: AccountType.REVENUE },
  { role: ChartRole.REFUNDS, number: '4100', name: 'Refunds (contra-revenue)', type: AccountType.REVENUE },
  { role: ChartRole.PROCESSING_FEES, number: '6000', name: 'Payment processing fees', type: AccountType.EXPENSE },
  { role: ChartRole.CHARGEBACK_LOSSES, number: '6100', name: 'Chargeback losses', type: AccountType.EXPENSE },
  { role: ChartRole.CHARGEBACK_FEES, number: '6200', name: 'Chargeback fees', type: AccountType.EXPENSE },
  { role: ChartRole.BAD_DEBT, number: '6300', name: 'Bad debt', type: AccountType.EXPENSE },
];

export function systemAccountCode(spec: ChartAccountSpec, currency: string): string {
  return `${SYSTEM_ACCOUNT_CODE_PREFIX}${spec.number}-${currency}`;
}

/** Account ids of the default chart in one currency, by role. */
export type ChartAccounts = Record<ChartRole, string>;
