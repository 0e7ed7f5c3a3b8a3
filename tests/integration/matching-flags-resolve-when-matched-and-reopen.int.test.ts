import {
  AcknowledgeReconciliationFlagDocument,
  MatchStatementLineDocument,
  ReconciliationFlagsDocument,
  ReconciliationFlagWithHistoryDocument,
  type ReconciliationFlagWithHistoryFragment,
  ResolveReconciliationFlagDocument,
  StatementLineMatchDocument,
  UnmatchStatementLineDocument,
} from '../generated/graphql';
import type { GraphQLClient } from '../helpers/graphql-client';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { books, daysFromToday, eventually, flagsOf, importCsv, linesOf, post } from '../helpers/matching-fixtures';

/**
 * A flag raised by matching ends when its item is matched, automatically or by hand: RESOLVED by the
 * system with resolution MATCHED, the step naming the match. Undoing the match by hand is the cause
 * returning: the flag REOPENS with one more occurrence. A cause that merely persists (the sweep
 * finding the same unmatched item every minute) is not a new occurrence.
 */

let unique = 0;
const ref = (label: string) => `${label}-${process.pid}-${++unique}-4417`;

async function flagWithHistory(client: GraphQLClient, id: string): Promise<ReconciliationFlagWithHistoryFragment> {
  const { node } = await client.ok(ReconciliationFlagWithHistoryDocument, { id });
  return node as ReconciliationFlagWithHistoryFragment;
}

const steps = (flag: ReconciliationFlagWithHistoryFragment) => flag.history.edges.map((edge) => edge.node);

describeEachDatabase('flags raised by matching resolve when their item is matched and reopen when it is unmatched', (kind) => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp(kind);
  }, 60_000);
  afterAll(() => app.close());

  it('resolves a line’s and a posting’s UNMATCHED flags when a late counterpart is matched automatically, naming the match and its rule', async () => {
    const b = await books(app.client);
    const lineRef = ref('INV');
    const imported = await importCsv(app.client, b.bankAccountId, [{ date: daysFromToday(-30), amount: '123.45', reference: lineRef, text: 'Paid long ago' }]);
    const [line] = await linesOf(app.client, imported.statements[0].id);
    const [lineFlag] = await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_STATEMENT_LINE');
    expect(lineFlag).toMatchObject({ status: 'OPEN', details: { statementLineIds: [line.id] } });

    // The posting arrives late: matched when it is written, and the line's flag ends with it.
    const posting = await post(app.client, b, '123.45', daysFromToday(-30), lineRef);
    const matched = await eventually(
      async () => (await app.client.ok(StatementLineMatchDocument, { id: line.id })).node,
      (node) => node !== null && 'matchStatus' in node && node.matchStatus === 'MATCHED',
      'the late posting to be matched',
    );
    const matchId = matched !== null && 'match' in matched ? matched.match!.id : '';
    const resolvedLine = await flagWithHistory(app.client, lineFlag.id);
    expect(resolvedLine).toMatchObject({ status: 'RESOLVED', occurrenceCount: 1 });
    expect(steps(resolvedLine).map((s) => [s.action, s.statusFrom, s.statusTo, s.resolution, s.actorCredentialId])).toEqual([
      ['RAISED', null, 'OPEN', null, null],
      ['RESOLVED', 'OPEN', 'RESOLVED', 'MATCHED', null],
    ]);
    expect(steps(resolvedLine)[1].details).toEqual({ matchId, rule: 'REFERENCE', origin: 'AUTOMATIC', statementLineIds: [line.id], postingIds: [posting] });

    // A posting aged past its window, then matched by a statement imported later.
    const postingRef = ref('PAY');
    const lonely = await post(app.client, b, '-77.10', daysFromToday(-40), postingRef);
    await app.runtime.services.matching.sweep();
    const [postingFlag] = await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_LEDGER_ENTRY');
    expect(postingFlag).toMatchObject({ status: 'OPEN', occurrenceCount: 1, details: { postingIds: [lonely] } });
    const later = await importCsv(app.client, b.bankAccountId, [{ date: daysFromToday(-39), amount: '-77.10', reference: postingRef, text: 'Supplier' }]);
    const [laterLine] = await linesOf(app.client, later.statements[0].id);
    expect(laterLine.match).toMatchObject({ rule: 'REFERENCE', postings: [{ id: lonely }] });
    const resolvedPosting = await flagWithHistory(app.client, postingFlag.id);
    expect(resolvedPosting.status).toBe('RESOLVED');
    expect(steps(resolvedPosting).at(-1)).toMatchObject({ resolution: 'MATCHED', details: { matchId: laterLine.match!.id, rule: 'REFERENCE', postingIds: [lonely] } });

    // Sweeps over what is matched change nothing.
    await app.runtime.services.matching.sweep();
    expect(await flagWithHistory(app.client, postingFlag.id)).toEqual(resolvedPosting);
    expect(await flagWithHistory(app.client, lineFlag.id)).toEqual(resolvedLine);
  });

  it('resolves an AMBIGUOUS_MATCH naming several postings when its line is matched by hand, recording who matched and the note', async () => {
    const b = await books(app.client);
    const twins = [await post(app.client, b, '70.00', daysFromToday(-2)), await post(app.client, b, '70.00', daysFromToday(-2))];
    const imported = await importCsv(app.client, b.bankAccountId, [{ date: daysFromToday(-1), amount: '70.00', text: 'Transfer' }]);
    const [line] = await linesOf(app.client, imported.statements[0].id);
    const [ambiguous] = await flagsOf(app.client, b.bankAccountId, 'AMBIGUOUS_MATCH');
    expect(ambiguous.details).toMatchObject({ statementLineIds: [line.id], postingIds: [...twins].sort() });

    const { matchStatementLine } = await app.client.ok(MatchStatementLineDocument, {
      input: { statementLineId: line.id, postingIds: [twins[1]], note: 'the second transfer' },
      idempotencyKey: ref('match'),
    });
    const flag = await flagWithHistory(app.client, ambiguous.id);
    expect(flag.status).toBe('RESOLVED');
    expect(steps(flag).at(-1)).toMatchObject({
      action: 'RESOLVED',
      resolution: 'MATCHED',
      actorCredentialId: matchStatementLine.match.createdBy,
      note: 'the second transfer',
      details: { matchId: matchStatementLine.match.id, rule: 'MANUAL', origin: 'MANUAL', statementLineIds: [line.id], postingIds: [twins[1]] },
    });
    expect(matchStatementLine.match.createdBy).toMatch(/^key_/);
    // The other twin is within its window: nothing more is flagged.
    expect((await flagsOf(app.client, b.bankAccountId)).map((f) => [f.kind, f.status])).toEqual([['AMBIGUOUS_MATCH', 'RESOLVED']]);
  });

  it('reopens both flags with occurrence 2 when a match by hand is undone, and no later sweep, acknowledgement or replay counts another occurrence', async () => {
    const b = await books(app.client);
    const imported = await importCsv(app.client, b.bankAccountId, [{ date: daysFromToday(-30), amount: '80.00', text: 'Two months late' }]);
    const [line] = await linesOf(app.client, imported.statements[0].id);
    // Weeks before the line: outside any window, so only a person pairs them.
    const posting = await post(app.client, b, '80.00', daysFromToday(-75));
    await app.runtime.services.matching.sweep();
    const [lineFlag] = await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_STATEMENT_LINE');
    const [postingFlag] = await flagsOf(app.client, b.bankAccountId, 'UNMATCHED_LEDGER_ENTRY');
    expect([lineFlag.details.statementLineIds, postingFlag.details.postingIds]).toEqual([[line.id], [posting]]);

    // Another tenant can neither match this line nor see its flags.
    const other = await app.createTenant('Matching flags other');
    expect(await other.client.errorCode(MatchStatementLineDocument, { input: { statementLineId: line.id, postingIds: [posting] }, idempotencyKey: ref('k') })).toBe('NOT_FOUND');
    expect(await other.client.errorCode(ReconciliationFlagsDocument, { first: 10, filter: { bankAccountId: b.bankAccountId } })).toBe('NOT_FOUND');
    expect((await other.client.ok(ReconciliationFlagsDocument, { first: 10 })).reconciliationFlags.totalCount).toBe(0);

    const { matchStatementLine } = await app.client.ok(MatchStatementLineDocument, {
      input: { statementLineId: line.id, postingIds: [posting], note: 'paid late' },
      idempotencyKey: ref('match'),
    });
    const { match } = matchStatementLine;
    for (const id of [lineFlag.id, postingFlag.id]) {
      const flag = await flagWithHistory(app.client, id);
      expect(flag).toMatchObject({ status: 'RESOLVED', occurrenceCount: 1 });
      expect(steps(flag).at(-1)).toMatchObject({
        resolution: 'MATCHED',
        actorCredentialId: match.createdBy,
        note: 'paid late',
        details: { matchId: match.id, rule: 'MANUAL', origin: 'MANUAL', statementLineIds: [line.id], postingIds: [posting] },
      });
    }
    // MATCHED is the system's to record.
    const refused = await app.client.request(ResolveReconciliationFlagDocument, { input: { flagId: lineFlag.id, resolution: 'MATCHED' } });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'resolution' } });

    const unmatch = { input: { statementLineId: line.id, note: 'wrong payer' }, idempotencyKey: ref('unmatch') };
    await app.client.ok(UnmatchStatementLineDocument, unmatch);
    await app.client.ok(UnmatchStatementLineDocument, unmatch);
    const reopened = await Promise.all([lineFlag.id, postingFlag.id].map((id) => flagWithHistory(app.client, id)));
    for (const flag of reopened) {
      expect(flag).toMatchObject({ status: 'OPEN', occurrenceCount: 2 });
      expect(steps(flag).map((s) => [s.action, s.statusFrom, s.statusTo, s.occurrenceCount])).toEqual([
        ['RAISED', null, 'OPEN', 1],
        ['RESOLVED', 'OPEN', 'RESOLVED', 1],
        ['REOPENED', 'RESOLVED', 'OPEN', 2],
      ]);
      const sequences = steps(flag).map((s) => Number(s.sequence));
      expect([...sequences].sort((x, y) => x - y)).toEqual(sequences);
      expect(new Set(sequences).size).toBe(3);
    }
    expect(steps(reopened[0])[2].details).toMatchObject({ statementLineIds: [line.id], amount: '80.00' });
    expect(steps(reopened[1])[2].details).toMatchObject({ postingIds: [posting], amount: '80.00' });

    // The cause persists: sweeps find it again and count nothing, whatever the flag's status.
    await app.runtime.services.matching.sweep();
    await app.runtime.services.matching.sweep();
    expect(await flagWithHistory(app.client, lineFlag.id)).toEqual(reopened[0]);
    await app.client.ok(AcknowledgeReconciliationFlagDocument, { input: { flagId: lineFlag.id } });
    await app.client.ok(ResolveReconciliationFlagDocument, { input: { flagId: postingFlag.id, resolution: 'ACCEPTED', note: 'booked twice by mistake' } });
    const [acknowledged, accepted] = await Promise.all([lineFlag.id, postingFlag.id].map((id) => flagWithHistory(app.client, id)));
    await app.runtime.services.matching.sweep();
    expect(await flagWithHistory(app.client, lineFlag.id)).toEqual(acknowledged);
    expect(await flagWithHistory(app.client, postingFlag.id)).toEqual(accepted);
    expect([acknowledged.status, acknowledged.occurrenceCount, accepted.status, accepted.occurrenceCount]).toEqual(['ACKNOWLEDGED', 2, 'RESOLVED', 2]);
  });
});
