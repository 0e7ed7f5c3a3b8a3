import fc from 'fast-check';
import { type BooksDigest, takeBooksDigest } from '../helpers/books-digest';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';
import { SchemaArbitraries } from '../helpers/json-schema-arbitrary';
import { assertLedgerInvariants } from '../helpers/ledger-invariants';
import { type Json, originOf, RestClient } from '../helpers/rest-client';
import { codesOfResponse, type DocumentOperation, DocumentValidators, keyOf, operationsOf, pathWith } from '../helpers/rest-document';
import { buildRestWorld, type RestWorld } from '../helpers/rest-world';

/**
 * Bodies generated from the OpenAPI document's own request schemas, of the right shape with wrong
 * values and of the wrong shape, sent to every operation that takes one, with real and made-up ids
 * in the path: the server never answers 5xx, refuses with a problem+json carrying a documented code
 * and the request id, and a refusal leaves every table as it was. A body that happens to be valid
 * may change the books; the snapshot is taken again after it.
 *
 * The run is seeded: RECKON_FUZZ_SEED replays a failure (fast-check prints the seed and path),
 * RECKON_FUZZ_RUNS sets the bodies per operation.
 */
const SEED = Number(process.env.RECKON_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.RECKON_FUZZ_RUNS ?? 8);

/**
 * What any request writes, whatever its outcome: the audit trail (a refusal is audited) and the
 * credential's last use. Idempotency records are not here: the fuzzer sends no Idempotency-Key.
 */
const WRITTEN_BY_EVERY_REQUEST = { ignoredTables: /^audit_/, ignoredColumns: /^last_used_at$/ };

/**
 * A decline is the gateway's answer, not a refusal of the request: the payment attempt and its events
 * are recorded (as over GraphQL) and the answer is 402. The books must still be untouched.
 */
const RECORDED_OUTCOMES = new Set(['GATEWAY_DECLINED']);
const LEDGER_TABLES = ['accounts', 'journal_entries', 'postings'];

function ledgerOf(digest: BooksDigest): Record<string, string> {
  return Object.fromEntries(LEDGER_TABLES.map((table) => [table, digest.digests[table]]));
}

describeEachDatabase('REST: fuzzed bodies never get a 5xx and a refusal changes nothing', (kind) => {
  let app: TestApp;
  let rest: RestClient;
  let document: Json;
  let validators: DocumentValidators;
  let world: RestWorld;
  let errorCodes: Set<string>;

  beforeAll(async () => {
    // The payment jobs and the invoice-overdue sweep stay idle; the reconciliation sweep (every minute,
    // not configurable) is run by the test itself before each snapshot, so its timer finds nothing to do.
    app = await startTestApp(kind, { env: { PAYMENT_JOBS_INTERVAL_MS: '3600000', INVOICE_OVERDUE_SWEEP_MS: '86400000' } });
    rest = new RestClient(originOf(app.url), app.apiKey);
    document = (await rest.get('/openapi.json')).body;
    validators = new DocumentValidators(document);
    errorCodes = new Set(document.components.schemas.ErrorCode.enum);
    world = await buildRestWorld(app, rest);
  });

  afterAll(async () => {
    await app?.close();
  });

  /** The books once the background work a change may start (matching, aging into flags) is done. */
  async function settledDigest(): Promise<BooksDigest> {
    await app.runtime.services.matching.sweep();
    return digest();
  }
  const digest = () => takeBooksDigest(app.runtime.dataSource, WRITTEN_BY_EVERY_REQUEST);

  function bodySchemaOf(operation: DocumentOperation): Json | undefined {
    return operation.operation.requestBody?.content?.['application/json']?.schema;
  }

  test('every operation with a body: status < 500, refusals are documented problems, and refusals change nothing', async () => {
    const knownIds = Object.values(world.ids).filter((id) => /^[a-z]+_/.test(id));
    const arbitraries = new SchemaArbitraries(document, { knownIds: [...knownIds, ...Object.values(world.spare), world.gatewayId, world.cashAccountId] });
    const operations = operationsOf(document).filter((operation) => ['post', 'patch', 'put'].includes(operation.method) && bodySchemaOf(operation));
    expect(operations.length).toBeGreaterThanOrEqual(25);
    let before: BooksDigest = await settledDigest();
    const refusals = new Map<string, number>();

    for (const operation of operations) {
      const schema = bodySchemaOf(operation);
      const parameterNames = (operation.path.match(/\{(\w+)\}/g) ?? []).map((part) => part.slice(1, -1));
      // A real id of the parameter's own kind mostly, then another kind's, one nobody issued, or any string.
      const params = fc.record(
        Object.fromEntries(
          parameterNames.map((name) => [
            name,
            fc.oneof(
              { weight: 6, arbitrary: fc.constant(world.ids[name]) },
              { weight: 1, arbitrary: fc.constantFrom(...knownIds) },
              { weight: 1, arbitrary: fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/).map((ulid) => `${world.ids[name].split('_')[0]}_${ulid}`) },
              { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
            ),
          ]),
        ),
      );
      const body = fc.oneof({ weight: 1, arbitrary: arbitraries.shapedBy(schema) }, { weight: 1, arbitrary: arbitraries.offSchema(schema) });

      await fc.assert(
        fc.asyncProperty(params, body, async (pathParams, requestBody) => {
          const path = pathWith(operation.path, pathParams as Record<string, string>);
          const response = await rest.call(operation.method.toUpperCase(), path, { body: requestBody });
          const context = `${keyOf(operation)} ${path} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 1000)}`;
          expect({ context, serverError: response.status >= 500 }).toEqual({ context, serverError: false });
          if (response.status < 400) {
            before = await settledDigest();
            return;
          }
          refusals.set(response.body.code, (refusals.get(response.body.code) ?? 0) + 1);
          expect({ context, contentType: response.contentType.split(';')[0] }).toEqual({ context, contentType: 'application/problem+json' });
          expect({ context, documentedCode: errorCodes.has(response.body.code) }).toEqual({ context, documentedCode: true });
          expect({ context, requestId: response.body.requestId }).toEqual({ context, requestId: response.headers.get('x-request-id') });
          expect({ context, problem: validators.problemErrors(response.body) }).toEqual({ context, problem: null });
          // And a refusal the operation declares: its status, and the code among that status's codes.
          const declared = operation.operation.responses[String(response.status)];
          expect({ context, declaredCodes: declared ? codesOfResponse(document, declared) : [] }).toEqual({ context, declaredCodes: expect.arrayContaining([response.body.code]) });
          const after = await digest();
          if (RECORDED_OUTCOMES.has(response.body.code)) {
            expect({ context, ledger: ledgerOf(after) }).toEqual({ context, ledger: ledgerOf(before) });
            before = await settledDigest();
            return;
          }
          expect({ context, rows: after.rows, digests: after.digests }).toEqual({ context, rows: before.rows, digests: before.digests });
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
    }
    // The bodies got past the schema check too: refusals came from the services (an unknown id, a state), not only from ajv.
    expect({ codes: [...refusals.keys()].sort(), validationOnly: refusals.size < 2 }).toEqual({ codes: expect.arrayContaining(['VALIDATION_FAILED']), validationOnly: false });
    await assertLedgerInvariants(app.runtime.dataSource, app.client);
  });
});
