/** Formatting for display. Amounts stay the API's decimal strings: no float ever touches money here. */

export interface MoneyValue {
  amount: string;
  currency: string;
  minorUnits: string;
}

/** "1234.5" → "1,234.50"-style grouping of the API's decimal string, sign kept; never through a float. */
export function formatAmount(amount: string): string {
  const negative = amount.startsWith('-');
  const [whole, fraction] = (negative ? amount.slice(1) : amount).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '−' : ''}${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}

export function formatMoney(money: MoneyValue | null | undefined): string {
  if (!money) return '—';
  return `${formatAmount(money.amount)} ${money.currency}`;
}

/** For charts only (a plotted point needs a number); labels and tables use formatAmount. */
export function amountAsNumber(money: MoneyValue): number {
  return Number(money.amount);
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

export function formatPercent(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)} %`;
}

export function formatDuration(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  return `${minutes} min ${Math.floor(seconds % 60)} s`;
}

/** SNAKE_CASE enum values as words: "UNMATCHED_STATEMENT_LINE" → "Unmatched statement line". */
export function humanize(value: string): string {
  const words = value.toLowerCase().replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
