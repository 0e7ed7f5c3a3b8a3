import { differingPaths, fingerprintOf } from '../../src/modules/idempotency/fingerprint';

const input = {
  input: {
    description: 'sale',
    lines: [
      { accountId: 'acct_A', direction: 'DEBIT', amount: '10.00', currency: 'USD' },
      { accountId: 'acct_B', direction: 'CREDIT', amount: '10.00', currency: 'USD' },
    ],
    metadata: { b: 1, a: 2 },
  },
  idempotencyKey: 'key-0001',
};

describe('idempotency fingerprints', () => {
  it('ignore key order and the idempotency key itself', () => {
    const reordered = { idempotencyKey: 'another-key', input: { ...input.input, metadata: { a: 2, b: 1 } } };
    expect(differingPaths(fingerprintOf('postJournalEntry', input, 'sel'), fingerprintOf('postJournalEntry', reordered, 'sel'))).toEqual([]);
  });

  it('name the argument that differs', () => {
    const changed = structuredClone(input);
    changed.input.lines[1].amount = '10.01';
    expect(differingPaths(fingerprintOf('f', input, 's'), fingerprintOf('f', changed, 's'))).toEqual(['input.lines[1].amount']);
  });

  it('tell a missing argument, an extra line, another field and another selection set apart', () => {
    const base = fingerprintOf('f', input, 's');
    const { description: _d, ...withoutDescription } = input.input;
    expect(differingPaths(base, fingerprintOf('f', { input: withoutDescription }, 's'))).toEqual(['input.description']);
    const extra = structuredClone(input);
    extra.input.lines.push({ accountId: 'acct_C', direction: 'DEBIT', amount: '1.00', currency: 'USD' });
    expect(differingPaths(base, fingerprintOf('f', extra, 's'))).toEqual(expect.arrayContaining(['input.lines.length', 'input.lines[2].amount']));
    expect(differingPaths(base, fingerprintOf('g', input, 's'))).toEqual(['(field)']);
    expect(differingPaths(base, fingerprintOf('f', input, 't'))).toEqual(['(selection set)']);
  });

  it('distinguish a string from a number and null from absent', () => {
    expect(differingPaths(fingerprintOf('f', { a: '1' }, 's'), fingerprintOf('f', { a: 1 }, 's'))).toEqual(['a']);
    expect(differingPaths(fingerprintOf('f', { a: null }, 's'), fingerprintOf('f', {}, 's'))).toEqual(['a']);
  });
});
