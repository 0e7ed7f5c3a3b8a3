import { AppError } from '../../src/common/errors';
import { creditedQuantities, creditOfAmount, creditOfLines, uncreditedByRate } from '../../src/modules/invoicing/credit-note-amounts';
import type { CreditNoteLineRecord } from '../../src/modules/invoicing/credit-notes.types';
import { computeInvoiceAmounts, type InvoiceLineInput, type TaxRateTotal } from '../../src/modules/invoicing/invoice-amounts';
import type { InvoiceLineRecord } from '../../src/modules/invoicing/invoices.types';
import { seededRandom } from '../helpers/concurrency';

/** An invoice's stored lines, as finalisation computes and stores them. */
function invoiceOf(currency: string, inputs: InvoiceLineInput[]): { lines: InvoiceLineRecord[]; taxByRate: TaxRateTotal[]; totalMinor: bigint } {
  const amounts = computeInvoiceAmounts({ currency, lines: inputs });
  const lines = amounts.lines.map((line, position) => ({
    position,
    ...line,
    discountPercent: inputs[position].discount?.percent ?? null,
    discountAmountInputMinor: inputs[position].discount?.amount !== undefined ? line.discountMinor : null,
  }));
  return { lines, taxByRate: amounts.taxByRate, totalMinor: amounts.totalMinor };
}

const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);

describe('credit notes of lines', () => {
  const invoice = invoiceOf('USD', [
    { description: 'Consulting', quantity: '3', unitPrice: '33.33', taxRate: '19', taxBehaviour: 'EXCLUSIVE' },
    { description: 'Licence', quantity: '7', unitPrice: '1.99', taxRate: '7.7', taxBehaviour: 'INCLUSIVE', discount: { percent: '12.5' } },
    { description: 'Cable', quantity: '2.5', unitPrice: '1.23', taxRate: '5', taxBehaviour: 'EXCLUSIVE', discount: { amount: '0.07' } },
  ]);

  it('credits a line in random pieces that add up to exactly the line, for every line and rate', () => {
    const random = seededRandom(11);
    for (let run = 0; run < 50; run += 1) {
      const notes: CreditNoteLineRecord[][] = [];
      for (const line of invoice.lines) {
        // Quantities in millionths, as the API takes them: exact, no floats.
        let left = BigInt(Math.round(Number(line.quantity) * 1_000_000));
        while (left > 0n) {
          const piece = 1n + BigInt(Math.floor(random() * Number(left)));
          const quantity = piece === left && random() < 0.5 ? undefined : `${piece / 1_000_000n}.${(piece % 1_000_000n).toString().padStart(6, '0')}`;
          const note = creditOfLines('USD', invoice.lines, creditedQuantities(notes), [{ position: line.position, quantity }]);
          for (const credited of note.lines!) expect(credited.netMinor >= 0n && credited.taxMinor >= 0n).toBe(true);
          notes.push(note.lines!);
          left -= piece;
        }
      }
      for (const line of invoice.lines) {
        const ofLine = notes.flat().filter((credited) => credited.position === line.position);
        expect([sum(ofLine.map((c) => c.netMinor)), sum(ofLine.map((c) => c.taxMinor)), sum(ofLine.map((c) => c.totalMinor))]).toEqual([line.netMinor, line.taxMinor, line.totalMinor]);
      }
    }
  });

  it('refuses more than is left of a line, a line credited in full, and positions it does not have', () => {
    const refusedField = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        if (error instanceof AppError) return error.details.field;
        throw error;
      }
      throw new Error('expected a refusal');
    };
    const once = creditOfLines('USD', invoice.lines, new Map(), [{ position: 0, quantity: '2' }]);
    const credited = creditedQuantities([once.lines]);
    expect(refusedField(() => creditOfLines('USD', invoice.lines, credited, [{ position: 0, quantity: '1.000001' }]))).toBe('lines[0].quantity');
    expect(creditOfLines('USD', invoice.lines, credited, [{ position: 0 }]).lines![0].quantity).toBe('1');
    const full = creditedQuantities([once.lines, creditOfLines('USD', invoice.lines, credited, [{ position: 0 }]).lines]);
    expect(refusedField(() => creditOfLines('USD', invoice.lines, full, [{ position: 0 }]))).toBe('lines[0].position');
    expect(refusedField(() => creditOfLines('USD', invoice.lines, new Map(), [{ position: 3 }]))).toBe('lines[0].position');
    expect(refusedField(() => creditOfLines('USD', invoice.lines, new Map(), [{ position: 1 }, { position: 1 }]))).toBe('lines[1].position');
  });
});

describe('credit notes of an amount', () => {
  it('splits by largest remainder: 1000 JPY over 8% (1100) and 10% (1099)', () => {
    const note = creditOfAmount(1000n, [
      { rate: '8', taxableMinor: 1019n, taxMinor: 81n },
      { rate: '10', taxableMinor: 999n, taxMinor: 100n },
    ]);
    expect(note.taxByRate).toEqual([
      { rate: '8', taxableMinor: 463n, taxMinor: 37n },
      { rate: '10', taxableMinor: 455n, taxMinor: 45n },
    ]);
    expect(note.totalMinor).toBe(1000n);
  });

  it('adds up exactly, never takes a rate past what it has left, and ends exactly on the invoice', () => {
    const random = seededRandom(7);
    const invoice = invoiceOf('KWD', [
      { description: 'A', quantity: '3', unitPrice: '1.111', taxRate: '19', taxBehaviour: 'EXCLUSIVE' },
      { description: 'B', quantity: '1.5', unitPrice: '2.999', taxRate: '7.7', taxBehaviour: 'INCLUSIVE' },
      { description: 'C', quantity: '1', unitPrice: '0.500', taxRate: '0', taxBehaviour: 'EXCLUSIVE' },
    ]);
    for (let run = 0; run < 100; run += 1) {
      const notes: TaxRateTotal[][] = [];
      let left = invoice.totalMinor;
      while (left > 0n) {
        const amount = left === 1n ? 1n : 1n + BigInt(Math.floor(random() * Number(left)));
        const uncredited = uncreditedByRate(invoice.taxByRate, notes);
        const note = creditOfAmount(amount, uncredited);
        expect(note.subtotalMinor + note.taxTotalMinor).toBe(amount);
        for (const group of note.taxByRate) {
          const of = uncredited.find((candidate) => candidate.rate === group.rate)!;
          expect(group.taxableMinor >= 0n && group.taxMinor >= 0n && group.taxableMinor <= of.taxableMinor && group.taxMinor <= of.taxMinor).toBe(true);
        }
        notes.push(note.taxByRate);
        left -= amount;
      }
      expect(uncreditedByRate(invoice.taxByRate, notes).every((group) => group.taxableMinor === 0n && group.taxMinor === 0n)).toBe(true);
    }
  });
});
