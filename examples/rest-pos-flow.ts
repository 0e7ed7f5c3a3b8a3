/**
 * A point-of-sale terminal's payment flow over Reckon's REST interface, written against the types
 * openapi-typescript generates from the OpenAPI document (client/src/rest/reckon-rest.ts, from
 * schema/openapi.json: `npm run codegen:rest`) and sent with openapi-fetch.
 *
 * CI type-checks this file against freshly generated types, so a change to the document that would
 * break a client written against it (a renamed field, path or error code) fails CI;
 * tests/integration/rest-pos-flow-example-runs.int.test.ts runs it against a live server.
 *
 * Run it yourself: RECKON_URL=http://localhost:4000 RECKON_API_KEY=rk_live_… npx ts-node examples/rest-pos-flow.ts
 */
import { randomUUID } from 'node:crypto';
import createClient from 'openapi-fetch';
import type { components, paths } from '../client/src/rest/reckon-rest';

export type Problem = components['schemas']['Problem'];
export type ErrorCode = components['schemas']['ErrorCode'];
export type Payment = components['schemas']['Payment'];
export type Refund = components['schemas']['Refund'];

/** A refusal from the API: the RFC 9457 problem it answered, with its stable code. */
export class ReckonProblem extends Error {
  readonly code: ErrorCode;

  constructor(
    readonly problem: Problem,
    readonly status: number,
  ) {
    super(`${problem.code}: ${problem.detail} (request ${problem.requestId})`);
    this.name = 'ReckonProblem';
    this.code = problem.code;
  }
}

/** The client: every call carries the API key; paths, parameters, bodies and answers are typed. */
export function createReckonRestClient(baseUrl: string, apiKey: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
}

/**
 * A call's data, or its problem thrown as a ReckonProblem. openapi-fetch answers `{ data }` for a
 * 2xx and `{ error }` (here always a Problem) otherwise.
 */
function dataOf<T>(result: { data?: T; error?: Problem; response: Response }): T {
  if (result.error !== undefined) throw new ReckonProblem(result.error, result.response.status);
  if (result.data === undefined) throw new Error(`${result.response.url} answered ${result.response.status} without a body`);
  return result.data;
}

export interface PosFlowOptions {
  /** The server's origin, e.g. http://localhost:4000 (the paths carry /v1). */
  baseUrl: string;
  apiKey: string;
  /** The terminal's order number: the idempotency keys derive from it, so a restarted terminal resends the same keys. */
  orderId?: string;
  /** Card tokens as the terminal reads them, tried in turn while the gateway declines them. */
  paymentTokens: string[];
  /** The sale (25.00 USD), what is captured when the order is served (20.00), and what is refunded later (5.00). */
  amounts?: { authorize: string; capture: string; refund: string; currency: string };
  /** The page size when listing payments. */
  pageSize?: number;
}

export interface PosFlowResult {
  declines: { token: string; declineCode: unknown }[];
  authorized: Payment;
  captured: Payment;
  /** Whether resending the capture with its key answered the stored result (Idempotent-Replayed: true). */
  captureReplayed: boolean;
  refund: Refund;
  /** The payment as read after the refund. */
  payment: Payment;
  /** The ids of every payment listed, page by page, and how many pages that took. */
  listedPaymentIds: string[];
  pages: number;
}

export async function runPosFlow(options: PosFlowOptions): Promise<PosFlowResult> {
  const reckon = createReckonRestClient(options.baseUrl, options.apiKey);
  const orderId = options.orderId ?? randomUUID();
  const amounts = options.amounts ?? { authorize: '25.00', capture: '20.00', refund: '5.00', currency: 'USD' };
  const keyOf = (step: string) => `pos-${orderId}-${step}`;

  // 1. Authorize without capturing: the customer is still at the table. A declined card is a
  //    problem with code GATEWAY_DECLINED (details.declineCode says why): ask for another card.
  const declines: PosFlowResult['declines'] = [];
  let authorized: Payment | undefined;
  for (const [attempt, token] of options.paymentTokens.entries()) {
    try {
      authorized = dataOf(
        await reckon.POST('/v1/payments', {
          params: { header: { 'Idempotency-Key': keyOf(`authorize-${attempt}`) } },
          body: { amount: amounts.authorize, currency: amounts.currency, paymentToken: token, capture: false, externalRef: `order-${orderId}-${attempt}` },
        }),
      );
      break;
    } catch (error) {
      if (!(error instanceof ReckonProblem) || error.code !== 'GATEWAY_DECLINED') throw error;
      declines.push({ token, declineCode: error.problem.details?.declineCode });
    }
  }
  if (!authorized) throw new Error(`Every card was declined for order ${orderId}`);
  const paymentId = authorized.id;

  // 2. Capture part of it when the order is served. A retry after a lost answer sends the same key,
  //    and the server answers the first result again instead of capturing twice.
  const capture = () =>
    reckon.POST('/v1/payments/{paymentId}/capture', {
      params: { path: { paymentId }, header: { 'Idempotency-Key': keyOf('capture') } },
      body: { amount: amounts.capture },
    });
  const captured = dataOf(await capture());
  const resent = await capture();
  dataOf(resent);
  const captureReplayed = resent.response.headers.get('Idempotent-Replayed') === 'true';

  // 3. Refund part of the capture: one item came back.
  const refund = dataOf(
    await reckon.POST('/v1/payments/{paymentId}/refunds', {
      params: { path: { paymentId }, header: { 'Idempotency-Key': keyOf('refund-1') } },
      body: { amount: amounts.refund, reason: 'One item returned' },
    }),
  );

  // 4. Read the payment back: captured and refunded amounts, and what is still refundable.
  const payment = dataOf(await reckon.GET('/v1/payments/{paymentId}', { params: { path: { paymentId } } }));

  // 5. List the payments, newest first, following nextCursor until there are no more.
  const listedPaymentIds: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = dataOf(
      await reckon.GET('/v1/payments', {
        params: { query: { limit: options.pageSize ?? 2, ...(cursor ? { starting_after: cursor } : {}) } },
      }),
    );
    pages += 1;
    listedPaymentIds.push(...page.data.map((listed) => listed.id));
    cursor = page.hasMore ? (page.nextCursor ?? undefined) : undefined;
  } while (cursor);

  return { declines, authorized, captured, captureReplayed, refund, payment, listedPaymentIds, pages };
}

if (require.main === module) {
  const baseUrl = process.env.RECKON_URL ?? 'http://localhost:4000';
  const apiKey = process.env.RECKON_API_KEY;
  if (!apiKey) throw new Error('Set RECKON_API_KEY to a key with the payments:write scope');
  // The simulator gateway's tokens: the first card is declined, the second approved.
  runPosFlow({ baseUrl, apiKey, paymentTokens: ['tok_decline_insufficient_funds', 'tok_approve'] }).then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (error: unknown) => {
      console.error(error instanceof ReckonProblem ? error.problem : error);
      process.exitCode = 1;
    },
  );
}
