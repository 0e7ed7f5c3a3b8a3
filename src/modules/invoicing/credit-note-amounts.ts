import { validationError } from '../../common/errors';
import { echoOfInput } from '../../common/echo';
import { formatMinorAsDecimal } from '../../common/money';
import {
  compareRates,
  computeInvoiceAmounts,
  divideRoundingHalfUp,
  formatScaled,
  type InvoiceLineInput,
  parseScaledDecimal,
  QUANTITY_DECIMALS,
  QUANTITY_MAX_WHOLE_DIGITS,
  type TaxRateTotal,
} from './invoice-amounts';
import type { CreditNoteLineRecord } from './credit-notes.types';
import type { InvoiceLineRecord } from './invoices.types';

/**
 * Credit note arithmetic: exact, in bigint minor units, on top of the invoice's own rounding rule
 * (invoice-amounts.ts: per line, half up).
 *
 * Credit note of lines. A line credited up to a cumulative quantity q (everything credited on it so
 * far, this note included) is worth the line recomputed at quantity q by the invoice's rule:
 * gross = round(q × unit price), the discount a percent of that gross (rounded), net and tax as the
 * line's EXCLUSIVE or INCLUSIVE rule says. A discount given as an amount is spread over the quantity:
 * the line's amount after discount × q / quantity, rounded half up, then taxed by the same rule. The
 * note credits the difference between the line at the quantity credited after it and before it.
 * So the pieces of a line always add up to the line: crediting every line in full, in one note or in
 * many, gives back exactly the invoice's net, tax and total, per line and per rate.
 *
 * Credit note of an amount (tax-inclusive). The amount is split over the tax rates in proportion to
 * what of each rate is still uncredited (the invoice's taxByRate less earlier credit notes: for the
 * first credit note, exactly the invoice's taxByRate), net + tax of each rate as the weight, by
 * largest remainder: each rate gets floor(amount × its weight / all weights), and the minor units
 * left over go one each to the rates with the largest remainders (equal remainders: the lower rate
 * first). Within a rate, tax = round(its share × its uncredited tax / its uncredited total), half up,
 * and net = share − tax. The parts therefore add up exactly to the amount, no rate is ever credited
 * more net or tax than it has left, and crediting everything that is left lands exactly on the
 * invoice's figures.
 */

export interface CreditNoteLineRequest {
  /** The invoice line's position (0-based). */
  position: number;
  /** A decimal string greater than zero, up to 6 decimals; omitted: all of the line not yet credited. */
  quantity?: string | null;
}

export interface CreditAmounts {
  lines: CreditNoteLineRecord[] | null;
  subtotalMinor: bigint;
  taxTotalMinor: bigint;
  totalMinor: bigint;
  /** Only rates this note credits, in ascending order of rate. */
  taxByRate: TaxRateTotal[];
}

/** Net, tax and total of a line at a quantity (scaled by 10^QUANTITY_DECIMALS), by the invoice's rule. */
function lineAt(line: InvoiceLineRecord, currency: string, quantityScaled: bigint): { netMinor: bigint; taxMinor: bigint; totalMinor: bigint } {
  const fullScaled = parseScaledDecimal(line.quantity, QUANTITY_DECIMALS, QUANTITY_MAX_WHOLE_DIGITS, 'quantity', '1');
  if (quantityScaled === 0n) return { netMinor: 0n, taxMinor: 0n, totalMinor: 0n };
  // The whole line is the line as stored, which finalisation computed by this very rule.
  if (quantityScaled === fullScaled) return { netMinor: line.netMinor, taxMinor: line.taxMinor, totalMinor: line.totalMinor };
  const base = { description: line.description, taxRate: line.taxRate, taxBehaviour: line.taxBehaviour };
  let input: InvoiceLineInput;
  if (line.discountAmountInputMinor !== null && line.discountMinor > 0n) {
    const afterDiscount = divideRoundingHalfUp((line.grossMinor - line.discountMinor) * quantityScaled, fullScaled);
    input = { ...base, quantity: '1', unitPrice: formatMinorAsDecimal(afterDiscount, currency) };
  } else {
    input = {
      ...base,
      quantity: formatScaled(quantityScaled, QUANTITY_DECIMALS),
      unitPrice: formatMinorAsDecimal(line.unitPriceMinor, currency),
      discount: line.discountPercent !== null ? { percent: line.discountPercent } : null,
    };
  }
  const [computed] = computeInvoiceAmounts({ currency, lines: [input] }).lines;
  return { netMinor: computed.netMinor, taxMinor: computed.taxMinor, totalMinor: computed.totalMinor };
}

function sumByRate(lines: readonly { taxRate: string; netMinor: bigint; taxMinor: bigint }[]): TaxRateTotal[] {
  const byRate = new Map<string, TaxRateTotal>();
  for (const line of lines) {
    const group = byRate.get(line.taxRate) ?? { rate: line.taxRate, taxableMinor: 0n, taxMinor: 0n };
    group.taxableMinor += line.netMinor;
    group.taxMinor += line.taxMinor;
    byRate.set(line.taxRate, group);
  }
  return [...byRate.values()].sort((a, b) => compareRates(a.rate, b.rate));
}

function totalsOf(lines: CreditNoteLineRecord[] | null, taxByRate: TaxRateTotal[]): CreditAmounts {
  const subtotalMinor = taxByRate.reduce((sum, group) => sum + group.taxableMinor, 0n);
  const taxTotalMinor = taxByRate.reduce((sum, group) => sum + group.taxMinor, 0n);
  return { lines, subtotalMinor, taxTotalMinor, totalMinor: subtotalMinor + taxTotalMinor, taxByRate };
}

/** Quantity already credited on each line position by earlier credit notes (scaled). */
export function creditedQuantities(earlier: readonly (CreditNoteLineRecord[] | null)[]): Map<number, bigint> {
  const credited = new Map<number, bigint>();
  for (const lines of earlier) {
    for (const line of lines ?? []) {
      const scaled = parseScaledDecimal(line.quantity, QUANTITY_DECIMALS, QUANTITY_MAX_WHOLE_DIGITS, 'quantity', '1');
      credited.set(line.position, (credited.get(line.position) ?? 0n) + scaled);
    }
  }
  return credited;
}

/**
 * The amounts of a credit note of lines. Refuses with VALIDATION_FAILED naming the field
 * (`lines[1].position`, `lines[0].quantity`) a position the invoice does not have, a position given
 * twice, a malformed or zero quantity, or more than is left to credit of a line.
 */
export function creditOfLines(
  currency: string,
  invoiceLines: readonly InvoiceLineRecord[],
  alreadyCredited: ReadonlyMap<number, bigint>,
  requests: readonly CreditNoteLineRequest[],
): CreditAmounts {
  if (!Array.isArray(requests) || requests.length === 0) throw validationError('lines: name at least one invoice line to credit', { field: 'lines' });
  if (requests.length > invoiceLines.length) {
    throw validationError(`lines: the invoice has ${invoiceLines.length} lines; each can be named once`, { field: 'lines', max: invoiceLines.length });
  }
  const seen = new Set<number>();
  const credited = requests.map((request, index): CreditNoteLineRecord => {
    const at = `lines[${index}]`;
    const position = request.position;
    if (!Number.isInteger(position) || position < 0 || position >= invoiceLines.length) {
      throw validationError(`${at}.position ${echoOfInput(position)} is not a line of the invoice: positions run from 0 to ${invoiceLines.length - 1}`, {
        field: `${at}.position`,
        max: invoiceLines.length - 1,
      });
    }
    if (seen.has(position)) throw validationError(`${at}.position ${position} is named twice; name each line once with its whole quantity`, { field: `${at}.position` });
    seen.add(position);
    const line = invoiceLines[position];
    const fullScaled = parseScaledDecimal(line.quantity, QUANTITY_DECIMALS, QUANTITY_MAX_WHOLE_DIGITS, 'quantity', '1');
    const before = alreadyCredited.get(position) ?? 0n;
    const left = fullScaled - before;
    if (left <= 0n) {
      throw validationError(`Line ${position} of the invoice has been credited in full already`, { field: `${at}.position`, position });
    }
    const quantityGiven = request.quantity !== null && request.quantity !== undefined;
    const quantityScaled = quantityGiven
      ? parseScaledDecimal(request.quantity, QUANTITY_DECIMALS, QUANTITY_MAX_WHOLE_DIGITS, `${at}.quantity`, '1.5')
      : left;
    if (quantityScaled === 0n) throw validationError(`${at}.quantity must be greater than zero`, { field: `${at}.quantity` });
    if (quantityScaled > left) {
      const leftText = formatScaled(left, QUANTITY_DECIMALS);
      throw validationError(`${at}.quantity is more than is left to credit of line ${position}: ${leftText} of ${line.quantity}`, {
        field: `${at}.quantity`,
        left: leftText,
      });
    }
    const after = lineAt(line, currency, before + quantityScaled);
    const earlier = lineAt(line, currency, before);
    return {
      position,
      description: line.description,
      quantity: formatScaled(quantityScaled, QUANTITY_DECIMALS),
      taxRate: line.taxRate,
      taxBehaviour: line.taxBehaviour,
      netMinor: after.netMinor - earlier.netMinor,
      taxMinor: after.taxMinor - earlier.taxMinor,
      totalMinor: after.totalMinor - earlier.totalMinor,
    };
  });
  return totalsOf(credited, sumByRate(credited).filter((group) => group.taxableMinor + group.taxMinor > 0n));
}

/**
 * Splits a tax-inclusive amount over the rates still uncredited (see the rule above). The caller has
 * checked 0 < amountMinor ≤ Σ uncredited totals.
 */
export function creditOfAmount(amountMinor: bigint, uncredited: readonly TaxRateTotal[]): CreditAmounts {
  const groups = uncredited.filter((group) => group.taxableMinor + group.taxMinor > 0n);
  const weights = groups.map((group) => group.taxableMinor + group.taxMinor);
  const all = weights.reduce((sum, weight) => sum + weight, 0n);
  if (amountMinor <= 0n || amountMinor > all) throw new Error(`creditOfAmount: ${amountMinor} is outside 1..${all}`);
  const shares = weights.map((weight) => (amountMinor * weight) / all);
  const remainders = weights.map((weight) => (amountMinor * weight) % all);
  let leftOver = amountMinor - shares.reduce((sum, share) => sum + share, 0n);
  // Groups are in ascending order of rate; a stable sort keeps the lower rate first among equals.
  const order = groups.map((_, index) => index).sort((a, b) => (remainders[b] > remainders[a] ? 1 : remainders[b] < remainders[a] ? -1 : 0));
  for (const index of order) {
    if (leftOver === 0n) break;
    shares[index] += 1n;
    leftOver -= 1n;
  }
  const taxByRate = groups.flatMap((group, index) => {
    const share = shares[index];
    if (share === 0n) return [];
    const taxMinor = divideRoundingHalfUp(share * group.taxMinor, weights[index]);
    return [{ rate: group.rate, taxableMinor: share - taxMinor, taxMinor }];
  });
  return totalsOf(null, taxByRate);
}

/** The invoice's net and tax per rate less what earlier credit notes took of each. */
export function uncreditedByRate(invoiceTaxByRate: readonly TaxRateTotal[], earlier: readonly (readonly TaxRateTotal[])[]): TaxRateTotal[] {
  const left = new Map(invoiceTaxByRate.map((group) => [group.rate, { ...group }]));
  for (const note of earlier) {
    for (const group of note) {
      const remaining = left.get(group.rate);
      if (!remaining) throw new Error(`credit note rate ${group.rate} is not a rate of its invoice`);
      remaining.taxableMinor -= group.taxableMinor;
      remaining.taxMinor -= group.taxMinor;
    }
  }
  return [...left.values()];
}
