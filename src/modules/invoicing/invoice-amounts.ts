import { validationError } from '../../common/errors';
import { echoOfInput } from '../../common/echo';
import { requireText } from '../../common/input';
import { MAX_MINOR_UNITS, parseDecimalToMinor, requireCurrency } from '../../common/money';

/**
 * Invoice arithmetic: exact, in bigint minor units, and the same on every run.
 *
 * Rounding rule (one rule, applied everywhere): every amount that needs rounding is rounded ONCE, per
 * line, to the currency's minor unit, HALF UP (a half goes away from zero; every amount here is zero
 * or positive). Half up rather than half even because it is the rule customers, accountants and tax
 * authorities recompute invoices with ("commercial rounding", what a calculator or a spreadsheet's
 * ROUND does) and the one the project already uses (the simulator's fee); half even's advantage, no
 * bias over many roundings, does not apply here: each line is rounded once and totals are exact sums of
 * rounded lines, never rounded again.
 *
 * Per line:
 * - gross = round(quantity × unitPrice): the line as entered, so including tax when INCLUSIVE and
 *   excluding it when EXCLUSIVE;
 * - discount = round(gross × percent / 100), or the amount given; never more than gross;
 * - EXCLUSIVE: net = gross − discount, tax = round(net × rate / 100), total = net + tax;
 * - INCLUSIVE: total = gross − discount, net = round(total / (1 + rate / 100)), tax = total − net:
 *   the tax is extracted from the rounded amount, so the total is exactly what was entered.
 * Per invoice, sums of the lines and nothing else: subtotal = Σ net (excluding tax, after discounts),
 * discountTotal = Σ discount, taxTotal = Σ tax (and per rate: Σ net and Σ tax of its lines),
 * total = Σ line totals = subtotal + taxTotal. Lines therefore always add up exactly to the totals.
 */

export type TaxBehaviour = 'EXCLUSIVE' | 'INCLUSIVE';

export type InvoiceLineDiscountInput = { percent: string; amount?: undefined } | { amount: string; percent?: undefined };

export interface InvoiceLineInput {
  description: string;
  /** A decimal string greater than zero with at most 6 decimals ("1.5", "0.333333"). */
  quantity: string;
  /** A decimal string in the invoice's currency, with at most its decimals ("12.34" USD, "1200" JPY). */
  unitPrice: string;
  /** A percentage as a decimal string from 0 to 100 with at most 4 decimals ("19", "7.7", "8.875"). */
  taxRate: string;
  taxBehaviour: TaxBehaviour;
  discount?: InvoiceLineDiscountInput | null;
}

export interface InvoiceAmountsInput {
  currency: string;
  lines: readonly InvoiceLineInput[];
}

export interface InvoiceLineAmounts {
  description: string;
  /** The quantity and rates as given, normalised ("1.50" → "1.5"), for storage and display. */
  quantity: string;
  unitPriceMinor: bigint;
  taxRate: string;
  taxBehaviour: TaxBehaviour;
  /** quantity × unitPrice, rounded: including tax when INCLUSIVE, excluding it when EXCLUSIVE. */
  grossMinor: bigint;
  discountMinor: bigint;
  /** Excluding tax, after the discount. */
  netMinor: bigint;
  taxMinor: bigint;
  /** Including tax, after the discount: netMinor + taxMinor. */
  totalMinor: bigint;
}

export interface TaxRateTotal {
  /** Normalised percentage ("7.7", "19", "0"). */
  rate: string;
  /** Σ net of the lines taxed at this rate. */
  taxableMinor: bigint;
  /** Σ tax of the lines taxed at this rate. */
  taxMinor: bigint;
}

export interface InvoiceAmounts {
  currency: string;
  lines: InvoiceLineAmounts[];
  /** Σ line net: excluding tax, after discounts. */
  subtotalMinor: bigint;
  /** Σ line discounts, each on its line's gross (so including tax on INCLUSIVE lines); already out of subtotal. */
  discountTotalMinor: bigint;
  taxTotalMinor: bigint;
  /** One entry per distinct rate, in ascending order of rate; 0% included. */
  taxByRate: TaxRateTotal[];
  /** Σ line totals = subtotalMinor + taxTotalMinor. */
  totalMinor: bigint;
}

export const QUANTITY_DECIMALS = 6;
export const RATE_DECIMALS = 4;
/** Whole digits a quantity may have: a bound for parsing; the amount bound (MAX_MINOR_UNITS) is the real one. */
export const QUANTITY_MAX_WHOLE_DIGITS = 15;
export const MAX_INVOICE_LINES = 1000;
export const MAX_LINE_DESCRIPTION_LENGTH = 500;

const UNSIGNED_DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/** Half up (away from zero) of numerator / denominator, both ≥ 0 and denominator > 0. */
export function divideRoundingHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (2n * numerator + denominator) / (2n * denominator);
}

/**
 * An unsigned decimal string as an integer scaled by 10^decimals ("7.7" with 4 decimals → 77000n).
 * Refuses signs, exponents, blanks and more decimals than allowed rather than rounding them.
 */
export function parseScaledDecimal(value: unknown, decimals: number, maxWholeDigits: number, field: string, example: string): bigint {
  const echo = echoOfInput(value);
  if (typeof value !== 'string') throw validationError(`${field} must be a decimal string such as "${example}"`, { field, value: echo });
  if (value.startsWith('-')) throw validationError(`${field} must not be negative, got "${echo}"`, { field, value: echo });
  const match = UNSIGNED_DECIMAL.exec(value);
  if (!match) throw validationError(`${field} "${echo}" is not a decimal number such as "${example}"`, { field, value: echo });
  const [, whole, fraction = ''] = match;
  if (fraction.length > decimals) {
    throw validationError(`${field} "${echo}" has ${fraction.length} decimals; at most ${decimals} are allowed`, { field, value: echo, maxDecimals: decimals });
  }
  if (whole.replace(/^0+/, '').length > maxWholeDigits) {
    throw validationError(`${field} "${echo}" is out of range`, { field, value: echo });
  }
  return BigInt(whole + fraction.padEnd(decimals, '0'));
}

/** A scaled integer back as its shortest decimal string: 77000n with 4 decimals → "7.7". */
export function formatScaled(value: bigint, decimals: number): string {
  const digits = value.toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}

function requireWithinRange(amount: bigint, field: string, what: string): bigint {
  if (amount > MAX_MINOR_UNITS) {
    throw validationError(`${field}: ${what} is past the largest amount, ${MAX_MINOR_UNITS} minor units`, { field, max: MAX_MINOR_UNITS.toString() });
  }
  return amount;
}

const PERCENT_SCALE = 100n * 10n ** BigInt(RATE_DECIMALS);
export const QUANTITY_SCALE = 10n ** BigInt(QUANTITY_DECIMALS);

function lineAmounts(line: InvoiceLineInput, currency: string, index: number): InvoiceLineAmounts {
  const at = `lines[${index}]`;
  if (line === null || typeof line !== 'object') throw validationError(`${at} must be an object`, { field: at });
  if (typeof line.description !== 'string') throw validationError(`${at}.description must be a string`, { field: `${at}.description` });
  const description = requireText(line.description.trim(), `${at}.description`, MAX_LINE_DESCRIPTION_LENGTH);

  const quantityScaled = parseScaledDecimal(line.quantity, QUANTITY_DECIMALS, QUANTITY_MAX_WHOLE_DIGITS, `${at}.quantity`, '1.5');
  if (quantityScaled === 0n) throw validationError(`${at}.quantity must be greater than zero`, { field: `${at}.quantity` });

  const priceField = `${at}.unitPrice`;
  if (typeof line.unitPrice !== 'string') throw validationError(`${priceField} must be a decimal string such as "12.34"`, { field: priceField });
  const unitPriceMinor = parseDecimalToMinor(line.unitPrice, currency, priceField);
  // "-0.00" too: a minus sign is refused, not read as zero.
  if (unitPriceMinor < 0n || line.unitPrice.startsWith('-')) throw validationError(`${priceField} must not be negative, got "${echoOfInput(line.unitPrice)}"`, { field: priceField });

  const rateScaled = parseScaledDecimal(line.taxRate, RATE_DECIMALS, 3, `${at}.taxRate`, '19');
  if (rateScaled > PERCENT_SCALE) throw validationError(`${at}.taxRate must be at most 100 (percent)`, { field: `${at}.taxRate` });

  if (line.taxBehaviour !== 'EXCLUSIVE' && line.taxBehaviour !== 'INCLUSIVE') {
    throw validationError(`${at}.taxBehaviour must be EXCLUSIVE or INCLUSIVE`, { field: `${at}.taxBehaviour`, value: echoOfInput(line.taxBehaviour) });
  }

  const grossMinor = requireWithinRange(divideRoundingHalfUp(quantityScaled * unitPriceMinor, QUANTITY_SCALE), at, 'quantity × unitPrice');
  const discountMinor = lineDiscount(line.discount, grossMinor, currency, at);
  const afterDiscount = grossMinor - discountMinor;

  let netMinor: bigint;
  let taxMinor: bigint;
  if (line.taxBehaviour === 'EXCLUSIVE') {
    netMinor = afterDiscount;
    taxMinor = divideRoundingHalfUp(netMinor * rateScaled, PERCENT_SCALE);
  } else {
    netMinor = divideRoundingHalfUp(afterDiscount * PERCENT_SCALE, PERCENT_SCALE + rateScaled);
    taxMinor = afterDiscount - netMinor;
  }
  const totalMinor = requireWithinRange(netMinor + taxMinor, at, 'the line total including tax');
  return {
    description,
    quantity: formatScaled(quantityScaled, QUANTITY_DECIMALS),
    unitPriceMinor,
    taxRate: formatScaled(rateScaled, RATE_DECIMALS),
    taxBehaviour: line.taxBehaviour,
    grossMinor,
    discountMinor,
    netMinor,
    taxMinor,
    totalMinor,
  };
}

function lineDiscount(discount: InvoiceLineDiscountInput | null | undefined, grossMinor: bigint, currency: string, at: string): bigint {
  if (discount === null || discount === undefined) return 0n;
  const field = `${at}.discount`;
  if (typeof discount !== 'object') throw validationError(`${field} must be an object with percent or amount`, { field });
  const hasPercent = discount.percent !== undefined && discount.percent !== null;
  const hasAmount = discount.amount !== undefined && discount.amount !== null;
  if (hasPercent === hasAmount) throw validationError(`${field} takes exactly one of percent and amount`, { field });
  if (hasPercent) {
    const percentScaled = parseScaledDecimal(discount.percent, RATE_DECIMALS, 3, `${field}.percent`, '10');
    if (percentScaled > PERCENT_SCALE) throw validationError(`${field}.percent must be at most 100`, { field: `${field}.percent` });
    return divideRoundingHalfUp(grossMinor * percentScaled, PERCENT_SCALE);
  }
  const amountField = `${field}.amount`;
  if (typeof discount.amount !== 'string') throw validationError(`${amountField} must be a decimal string such as "5.00"`, { field: amountField });
  const amountMinor = parseDecimalToMinor(discount.amount, currency, amountField);
  if (amountMinor < 0n || discount.amount.startsWith('-')) throw validationError(`${amountField} must not be negative, got "${echoOfInput(discount.amount)}"`, { field: amountField });
  if (amountMinor > grossMinor) {
    throw validationError(`${amountField} is larger than the line (quantity × unitPrice)`, { field: amountField });
  }
  return amountMinor;
}

/** Compares normalised rate strings as numbers, exactly. */
export function compareRates(a: string, b: string): number {
  const scaledA = parseScaledDecimal(a, RATE_DECIMALS, 3, 'rate', '19');
  const scaledB = parseScaledDecimal(b, RATE_DECIMALS, 3, 'rate', '19');
  return scaledA < scaledB ? -1 : scaledA > scaledB ? 1 : 0;
}

/**
 * The amounts of an invoice's lines and its totals (see the rounding rule above). Refuses, with
 * VALIDATION_FAILED naming the field (`lines[3].quantity`), anything malformed, negative, past
 * MAX_MINOR_UNITS, or a discount larger than its line; never rounds an input.
 */
export function computeInvoiceAmounts(input: InvoiceAmountsInput): InvoiceAmounts {
  const currency = requireCurrency(input.currency, 'currency');
  if (!Array.isArray(input.lines)) throw validationError('lines must be a list', { field: 'lines' });
  if (input.lines.length > MAX_INVOICE_LINES) {
    throw validationError(`An invoice has at most ${MAX_INVOICE_LINES} lines, got ${input.lines.length}`, { field: 'lines', max: MAX_INVOICE_LINES });
  }
  const lines = input.lines.map((line, index) => lineAmounts(line, currency, index));

  let subtotalMinor = 0n;
  let discountTotalMinor = 0n;
  let taxTotalMinor = 0n;
  let totalMinor = 0n;
  const byRate = new Map<string, TaxRateTotal>();
  for (const line of lines) {
    subtotalMinor += line.netMinor;
    discountTotalMinor += line.discountMinor;
    taxTotalMinor += line.taxMinor;
    totalMinor += line.totalMinor;
    const group = byRate.get(line.taxRate) ?? { rate: line.taxRate, taxableMinor: 0n, taxMinor: 0n };
    group.taxableMinor += line.netMinor;
    group.taxMinor += line.taxMinor;
    byRate.set(line.taxRate, group);
  }
  // Each line is within range, their sum need not be; the total bounds every other sum.
  requireWithinRange(totalMinor, 'lines', 'the invoice total');
  requireWithinRange(discountTotalMinor, 'lines', 'the discount total');
  return {
    currency,
    lines,
    subtotalMinor,
    discountTotalMinor,
    taxTotalMinor,
    taxByRate: [...byRate.values()].sort((a, b) => compareRates(a.rate, b.rate)),
    totalMinor,
  };
}

/** Tax per rate as stored (invoices.tax_by_rate, credit_notes.tax_by_rate): JSON, amounts as strings. */
export function taxByRateToJson(groups: readonly TaxRateTotal[]): string {
  return JSON.stringify(groups.map((group) => ({ rate: group.rate, taxableMinor: group.taxableMinor.toString(), taxMinor: group.taxMinor.toString() })));
}

/** The stored tax per rate read back (see taxByRateToJson). */
export function taxByRateFromJson(text: unknown): TaxRateTotal[] {
  return (JSON.parse(String(text)) as { rate: string; taxableMinor: string; taxMinor: string }[]).map((group) => ({
    rate: group.rate,
    taxableMinor: BigInt(group.taxableMinor),
    taxMinor: BigInt(group.taxMinor),
  }));
}
