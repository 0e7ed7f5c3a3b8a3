import { AppError, ErrorCode } from '../../src/common/errors';
import { MAX_MINOR_UNITS } from '../../src/common/money';
import { computeInvoiceAmounts, type InvoiceLineInput, type TaxBehaviour } from '../../src/modules/invoicing/invoice-amounts';
import { seededRandom } from '../helpers/concurrency';

function refusal(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

function line(overrides: Partial<InvoiceLineInput>): InvoiceLineInput {
  return { description: 'Consulting', quantity: '1', unitPrice: '1', taxRate: '0', taxBehaviour: 'EXCLUSIVE', ...overrides };
}

function amountsOfOne(currency: string, overrides: Partial<InvoiceLineInput>) {
  const result = computeInvoiceAmounts({ currency, lines: [line(overrides)] });
  const [only] = result.lines;
  return { gross: only.grossMinor, discount: only.discountMinor, net: only.netMinor, tax: only.taxMinor, total: only.totalMinor };
}

describe('invoice line amounts, computed by hand', () => {
  it.each([
    // 1.5 × 19.99 = 29.985 → 29.99 (half up); 19% of 29.99 = 5.6981 → 5.70.
    ['USD', { quantity: '1.5', unitPrice: '19.99', taxRate: '19' }, { gross: 2999n, discount: 0n, net: 2999n, tax: 570n, total: 3569n }],
    // 0.333333 × 100.00 = 33.3333 → 33.33; 8.875% of 33.33 = 2.9580375 → 2.96.
    ['USD', { quantity: '0.333333', unitPrice: '100.00', taxRate: '8.875' }, { gross: 3333n, discount: 0n, net: 3333n, tax: 296n, total: 3629n }],
    // Inclusive 7 × 1080 = 7560 JPY; net 7560 / 1.077 = 7019.49… → 7019; tax 541.
    ['JPY', { quantity: '7', unitPrice: '1080', taxRate: '7.7', taxBehaviour: 'INCLUSIVE' as TaxBehaviour }, { gross: 7560n, discount: 0n, net: 7019n, tax: 541n, total: 7560n }],
    // 0.333333 × 1000 JPY = 333.333 → 333; 8% = 26.64 → 27.
    ['JPY', { quantity: '0.333333', unitPrice: '1000', taxRate: '8' }, { gross: 333n, discount: 0n, net: 333n, tax: 27n, total: 360n }],
    // 1.5 × 0.125 KWD = 0.1875 → 0.188 (half up); no tax.
    ['KWD', { quantity: '1.5', unitPrice: '0.125', taxRate: '0' }, { gross: 188n, discount: 0n, net: 188n, tax: 0n, total: 188n }],
    // Inclusive 7 × 1.999 KWD = 13.993; net 13.993 / 1.19 = 11.75882… → 11.759; tax 2.234.
    ['KWD', { quantity: '7', unitPrice: '1.999', taxRate: '19', taxBehaviour: 'INCLUSIVE' as TaxBehaviour }, { gross: 13993n, discount: 0n, net: 11759n, tax: 2234n, total: 13993n }],
    // 3 × 10.00 = 30.00, 12.5% off = 3.75, net 26.25; 19% = 4.9875 → 4.99.
    ['USD', { quantity: '3', unitPrice: '10.00', taxRate: '19', discount: { percent: '12.5' } }, { gross: 3000n, discount: 375n, net: 2625n, tax: 499n, total: 3124n }],
    // Inclusive 2 × 59.50 = 119.00, 9.50 off = 109.50; net 109.50 / 1.19 = 92.0168… → 92.02; tax 17.48.
    [
      'USD',
      { quantity: '2', unitPrice: '59.50', taxRate: '19', taxBehaviour: 'INCLUSIVE' as TaxBehaviour, discount: { amount: '9.50' } },
      { gross: 11900n, discount: 950n, net: 9202n, tax: 1748n, total: 10950n },
    ],
    // Ties go up: 0.5 × 0.01 = 0.005 → 0.01 (half even would give 0.00); 50% of 0.01 = 0.005 → 0.01.
    ['USD', { quantity: '0.5', unitPrice: '0.01', taxRate: '50' }, { gross: 1n, discount: 0n, net: 1n, tax: 1n, total: 2n }],
    // A 100% discount leaves nothing, tax included.
    ['USD', { quantity: '1', unitPrice: '5.00', taxRate: '19', discount: { percent: '100' } }, { gross: 500n, discount: 500n, net: 0n, tax: 0n, total: 0n }],
  ])('%s %j', (currency, overrides, expected) => {
    expect(amountsOfOne(currency, overrides)).toEqual(expected);
  });

  it('totals an invoice of mixed lines per rate, with normalised rates in ascending order', () => {
    const result = computeInvoiceAmounts({
      currency: 'USD',
      lines: [
        line({ quantity: '1.5', unitPrice: '19.99', taxRate: '19' }),
        line({ quantity: '2', unitPrice: '59.50', taxRate: '19.000', taxBehaviour: 'INCLUSIVE', discount: { amount: '9.50' } }),
        line({ quantity: '0.333333', unitPrice: '100.00', taxRate: '8.875' }),
        line({ quantity: '7', unitPrice: '3.00', taxRate: '0' }),
      ],
    });
    expect(result.taxByRate).toEqual([
      { rate: '0', taxableMinor: 2100n, taxMinor: 0n },
      { rate: '8.875', taxableMinor: 3333n, taxMinor: 296n },
      { rate: '19', taxableMinor: 2999n + 9202n, taxMinor: 570n + 1748n },
    ]);
    expect(result.subtotalMinor).toBe(2999n + 9202n + 3333n + 2100n);
    expect(result.discountTotalMinor).toBe(950n);
    expect(result.taxTotalMinor).toBe(570n + 1748n + 296n);
    expect(result.totalMinor).toBe(3569n + 10950n + 3629n + 2100n);
    expect(result.lines[1]).toMatchObject({ quantity: '2', taxRate: '19', unitPriceMinor: 5950n, description: 'Consulting' });
  });
});

describe('invoice amounts refuse bad input, naming the field', () => {
  const valid = line({ quantity: '1', unitPrice: '10.00', taxRate: '19' });
  const withFourth = (overrides: Partial<InvoiceLineInput>, currency = 'USD') => () =>
    computeInvoiceAmounts({ currency, lines: [valid, valid, valid, line({ ...valid, ...overrides })] });

  it.each([
    [{ quantity: '0' }, 'lines[3].quantity'],
    [{ quantity: '-1' }, 'lines[3].quantity'],
    [{ quantity: '1.1234567' }, 'lines[3].quantity'],
    [{ quantity: '1e3' }, 'lines[3].quantity'],
    [{ quantity: '' }, 'lines[3].quantity'],
    [{ quantity: 2 as unknown as string }, 'lines[3].quantity'],
    [{ unitPrice: '1.234' }, 'lines[3].unitPrice'],
    [{ unitPrice: '-0.01' }, 'lines[3].unitPrice'],
    [{ unitPrice: '-0.00' }, 'lines[3].unitPrice'],
    [{ taxRate: '-0' }, 'lines[3].taxRate'],
    [{ unitPrice: '92233720368547758.08' }, 'lines[3].unitPrice'],
    [{ taxRate: '-1' }, 'lines[3].taxRate'],
    [{ taxRate: '100.01' }, 'lines[3].taxRate'],
    [{ taxRate: '7.12345' }, 'lines[3].taxRate'],
    [{ taxBehaviour: 'BOTH' as TaxBehaviour }, 'lines[3].taxBehaviour'],
    [{ description: '   ' }, 'lines[3].description'],
    [{ description: 'x'.repeat(501) }, 'lines[3].description'],
    [{ discount: { amount: '10.01' } }, 'lines[3].discount.amount'],
    [{ discount: { amount: '-1.00' } }, 'lines[3].discount.amount'],
    [{ discount: { amount: '-0' } }, 'lines[3].discount.amount'],
    [{ discount: { percent: '100.5' } }, 'lines[3].discount.percent'],
    [{ discount: { percent: '-5' } }, 'lines[3].discount.percent'],
    [{ discount: { percent: '5', amount: '1.00' } as never }, 'lines[3].discount'],
    [{ discount: {} as never }, 'lines[3].discount'],
    // 10^9 × 92,233,720,368,547,758.07 is far past a BIGINT.
    [{ quantity: '1000000000', unitPrice: '92233720368547758.07' }, 'lines[3]'],
    // Within range before tax, past it with 19% added.
    [{ quantity: '1', unitPrice: '92233720368547758.07', taxRate: '19' }, 'lines[3]'],
  ])('%j is refused as %s', (overrides, field) => {
    const error = refusal(withFourth(overrides));
    expect(error.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect(error.details.field).toBe(field);
  });

  it('refuses a JPY price with decimals, a KWD price with four, and an unknown currency', () => {
    const inJpy = () => computeInvoiceAmounts({ currency: 'JPY', lines: [line({ unitPrice: '10' }), line({ unitPrice: '1.5' })] });
    expect(refusal(inJpy).details.field).toBe('lines[1].unitPrice');
    expect(refusal(withFourth({ unitPrice: '1.2345' }, 'KWD')).details.field).toBe('lines[3].unitPrice');
    expect(refusal(() => computeInvoiceAmounts({ currency: 'XYZ', lines: [valid] })).details.field).toBe('currency');
  });

  it('refuses lines whose sum is past the largest amount although each line is within it', () => {
    const half = line({ quantity: '1', unitPrice: '50000000000000000.00' });
    const error = refusal(() => computeInvoiceAmounts({ currency: 'USD', lines: [half, half] }));
    expect(error.details.field).toBe('lines');
    expect(error.details.max).toBe(MAX_MINOR_UNITS.toString());
  });
});

describe('random invoices add up exactly (seeded)', () => {
  const CURRENCIES: Record<string, number> = { JPY: 0, USD: 2, KWD: 3 };
  const RATES = ['0', '19', '7.7', '8.875', '5.5', '25', '2.1', '10', '0.5'];
  const QUANTITY_SCALE = 1_000_000n;
  const PERCENT_SCALE = 1_000_000n; // 100 × 10^4: a rate or percent with 4 decimals, as an integer.

  function randomDecimal(random: () => number, maxWhole: number, decimals: number): string {
    const whole = Math.floor(random() * maxWhole);
    if (decimals === 0 || random() < 0.3) return String(Math.max(whole, 1));
    const fraction = String(Math.floor(random() * 10 ** decimals)).padStart(decimals, '0');
    return `${whole}.${fraction}`;
  }

  /** A decimal string as an integer with `decimals` decimals: "7.7", 4 → 77000n. */
  function scaled(text: string, decimals: number): bigint {
    const [whole, fraction = ''] = text.split('.');
    return BigInt(whole + fraction.padEnd(decimals, '0'));
  }

  // Plain checks rather than expect() in the loop: tens of thousands of expect() calls cost seconds.
  function same(actual: bigint, expected: bigint, what: string): void {
    if (actual !== expected) throw new Error(`${what}: ${actual} instead of ${expected}`);
  }

  /** −1/2 < value − numerator/denominator ≤ 1/2: numerator/denominator rounded half up. */
  function roundedHalfUp(value: bigint, numerator: bigint, denominator: bigint, what: string): void {
    const twiceError = 2n * value * denominator - 2n * numerator; // 2 × (value − exact) × denominator
    if (twiceError > denominator || twiceError <= -denominator) throw new Error(`${what}: ${value} is not ${numerator}/${denominator} rounded half up`);
  }

  it('3000 invoices: lines sum to totals, per rate too; inclusive totals are what was entered; each rounding is half up', () => {
    const random = seededRandom(11);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
    for (let invoice = 0; invoice < 3000; invoice += 1) {
      const currency = pick(Object.keys(CURRENCIES));
      const exponent = CURRENCIES[currency];
      const lines: InvoiceLineInput[] = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, index) => {
        const quantity = pick(['0.333333', '7', '1.5', randomDecimal(random, 1000, 6)]);
        const unitPrice = randomDecimal(random, 100000, exponent);
        const taxBehaviour: TaxBehaviour = random() < 0.5 ? 'INCLUSIVE' : 'EXCLUSIVE';
        const roll = random();
        const discount = roll < 0.2 ? { percent: pick(['10', '12.5', '33.3333', '100', '0']) } : roll < 0.3 ? { amount: '0' } : undefined;
        return { description: `Line ${index}`, quantity, unitPrice, taxRate: pick(RATES), taxBehaviour, discount };
      });
      const result = computeInvoiceAmounts({ currency, lines });

      const sum = (pickAmount: (l: (typeof result.lines)[number]) => bigint, of = result.lines) => of.reduce((total, l) => total + pickAmount(l), 0n);
      same(sum((l) => l.totalMinor), result.totalMinor, `invoice ${invoice}: Σ line totals`);
      same(sum((l) => l.taxMinor), result.taxTotalMinor, `invoice ${invoice}: Σ line taxes`);
      same(sum((l) => l.netMinor), result.subtotalMinor, `invoice ${invoice}: Σ line nets`);
      same(sum((l) => l.discountMinor), result.discountTotalMinor, `invoice ${invoice}: Σ line discounts`);
      same(result.subtotalMinor + result.taxTotalMinor, result.totalMinor, `invoice ${invoice}: subtotal + tax`);
      for (const group of result.taxByRate) {
        const ofRate = result.lines.filter((l) => l.taxRate === group.rate);
        same(sum((l) => l.taxMinor, ofRate), group.taxMinor, `invoice ${invoice}: Σ taxes at ${group.rate}%`);
        same(sum((l) => l.netMinor, ofRate), group.taxableMinor, `invoice ${invoice}: Σ nets at ${group.rate}%`);
      }
      same(result.taxByRate.reduce((total, group) => total + group.taxMinor, 0n), result.taxTotalMinor, `invoice ${invoice}: Σ tax per rate`);

      const inclusive = result.lines.filter((l) => l.taxBehaviour === 'INCLUSIVE');
      same(sum((l) => l.totalMinor, inclusive), sum((l) => l.grossMinor - l.discountMinor, inclusive), `invoice ${invoice}: Σ inclusive totals`);
      const inclusiveUndiscounted = inclusive.filter((l) => l.discountMinor === 0n);
      same(sum((l) => l.totalMinor, inclusiveUndiscounted), sum((l) => l.grossMinor, inclusiveUndiscounted), `invoice ${invoice}: Σ undiscounted inclusive totals`);

      result.lines.forEach((l, index) => {
        const entered = lines[index];
        const unitPriceMinor = scaled(entered.unitPrice, exponent);
        const rate = scaled(entered.taxRate, 4);
        same(l.unitPriceMinor, unitPriceMinor, `invoice ${invoice} line ${index} unit price`);
        roundedHalfUp(l.grossMinor, scaled(entered.quantity, 6) * unitPriceMinor, QUANTITY_SCALE, `invoice ${invoice} line ${index} gross`);
        if (entered.discount?.percent !== undefined) roundedHalfUp(l.discountMinor, l.grossMinor * scaled(entered.discount.percent, 4), PERCENT_SCALE, `invoice ${invoice} line ${index} discount`);
        same(l.netMinor + l.taxMinor, l.totalMinor, `invoice ${invoice} line ${index} net + tax`);
        if (l.netMinor < 0n || l.taxMinor < 0n) throw new Error(`invoice ${invoice} line ${index}: a negative net or tax`);
        if (l.taxBehaviour === 'EXCLUSIVE') {
          same(l.netMinor, l.grossMinor - l.discountMinor, `invoice ${invoice} line ${index} net`);
          roundedHalfUp(l.taxMinor, l.netMinor * rate, PERCENT_SCALE, `invoice ${invoice} line ${index} tax`);
        } else {
          same(l.totalMinor, l.grossMinor - l.discountMinor, `invoice ${invoice} line ${index} total`);
          roundedHalfUp(l.netMinor, l.totalMinor * PERCENT_SCALE, PERCENT_SCALE + rate, `invoice ${invoice} line ${index} net`);
        }
      });
    }
  });

  it('gives the same amounts for the same input, every time', () => {
    const input = { currency: 'KWD', lines: [line({ quantity: '0.333333', unitPrice: '12.345', taxRate: '8.875', taxBehaviour: 'INCLUSIVE' })] };
    expect(computeInvoiceAmounts(input)).toEqual(computeInvoiceAmounts(input));
  });
});
