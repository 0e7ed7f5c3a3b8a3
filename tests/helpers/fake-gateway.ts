import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';

/**
 * A payment gateway speaking the HTTP gateway protocol (see src/modules/payments/gateways/http-gateway.ts)
 * on a loopback port, with faults a test can order: slow answers, 5xx, dropped connections, and the
 * nastiest one, a charge made whose answer never arrives. It keeps the books (authorizations actually
 * made, captures, voids, refunds) so that a test can assert that retries charged exactly once.
 *
 * Tokens: `tok_approve` approves (visa 4242), `tok_decline` is declined with INSUFFICIENT_FUNDS, any
 * other token is refused (422). The fee of a capture is 2.9% rounded half up plus 30 minor units.
 */
export type FakeGatewayOperation = 'authorize' | 'capture' | 'void' | 'refund';
/** What a fault may be limited to: one operation, or the status checks. */
export type FakeGatewayTarget = FakeGatewayOperation | 'status';

export interface FaultOptions {
  /** How many matching requests the fault applies to; 1 by default. */
  times?: number;
  /** Only requests of this operation (or only status checks); every request by default. */
  operation?: FakeGatewayTarget;
}

export interface FakePayment {
  currency: string;
  authorizedAmountMinor: bigint;
  capturedAmountMinor: bigint;
  refundedAmountMinor: bigint;
  voided: boolean;
  captureCount: number;
  refundCount: number;
}

export interface FakeGatewayStats {
  /** Every request received, faulted ones included. */
  requestCount: number;
  requestsByTarget: Record<FakeGatewayTarget, number>;
  /** Authorizations actually made. */
  chargeCount: number;
  captureCount: number;
  voidCount: number;
  refundCount: number;
  payments: Record<string, FakePayment>;
}

type Fault =
  | { kind: 'slow'; ms: number }
  | { kind: 'fail5xx' }
  | { kind: 'dropConnection' }
  | { kind: 'timeoutAfterCharge' }
  | { kind: 'malformedAnswer'; status: number; body: string };

interface QueuedFault {
  fault: Fault;
  remaining: number;
  target: FakeGatewayTarget | undefined;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface OperationRecord {
  fingerprint: string;
  answer: Answer;
}

const OPERATIONS: readonly FakeGatewayOperation[] = ['authorize', 'capture', 'void', 'refund'];
const BASE_PATH = '/v1';
const MAX_BODY_BYTES = 64 * 1024;
const AMOUNT = /^[1-9]\d{0,18}$/;
const CURRENCY = /^[A-Z]{3}$/;

export class FakeGateway {
  readonly secret = `fake_sk_${randomBytes(12).toString('hex')}`;
  private readonly server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private faults: QueuedFault[] = [];
  private readonly records = new Map<string, OperationRecord>();
  private readonly inProgress = new Set<string>();
  private readonly payments = new Map<string, FakePayment>();
  private paymentSequence = 0;
  private refundSequence = 0;
  private counters = { requestCount: 0, chargeCount: 0, captureCount: 0, voidCount: 0, refundCount: 0 };
  private requestsByTarget: Record<FakeGatewayTarget, number> = { authorize: 0, capture: 0, void: 0, refund: 0, status: 0 };
  private port = 0;

  private constructor() {
    this.server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent && !response.destroyed) send(response, { status: 500, body: { status: 'error', message: String(error) } });
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<FakeGateway> {
    const gateway = new FakeGateway();
    await new Promise<void>((resolve, reject) => {
      gateway.server.once('error', reject);
      gateway.server.listen(0, '127.0.0.1', () => {
        gateway.server.off('error', reject);
        gateway.port = (gateway.server.address() as net.AddressInfo).port;
        resolve();
      });
    });
    return gateway;
  }

  /** The base URL to give the adapter; it has a path, as real gateways' API roots do. */
  get url(): string {
    return `http://127.0.0.1:${this.port}${BASE_PATH}`;
  }

  /** Answers after `ms`, and only then does the operation; a retry meanwhile gets 409 (in progress). */
  slow(ms: number, options: FaultOptions = {}): void {
    this.queue({ kind: 'slow', ms }, options);
  }

  /** Answers 503 without doing anything. */
  fail5xx(options: FaultOptions = {}): void {
    this.queue({ kind: 'fail5xx' }, options);
  }

  /** Reads the request, then destroys the connection without doing anything or answering. */
  dropConnection(options: FaultOptions = {}): void {
    this.queue({ kind: 'dropConnection' }, options);
  }

  /** Does the operation and records it, then never answers: the socket is held until the client gives up. */
  timeoutAfterCharge(options: FaultOptions = {}): void {
    this.queue({ kind: 'timeoutAfterCharge' }, options);
  }

  /**
   * Does the operation and records it, then answers `body` instead of the real answer: a string is sent
   * as it is, anything else as JSON. The status is 200 unless given.
   */
  malformedAnswer(body: unknown, options: FaultOptions & { status?: number } = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    this.queue({ kind: 'malformedAnswer', status: options.status ?? 200, body: text }, options);
  }

  resetFaults(): void {
    this.faults = [];
  }

  stats(): FakeGatewayStats {
    const payments: Record<string, FakePayment> = {};
    for (const [id, payment] of this.payments) payments[id] = { ...payment };
    return { ...this.counters, requestsByTarget: { ...this.requestsByTarget }, payments };
  }

  /** Stops listening and ends every connection, the held ones included, and every pending slow answer. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private queue(fault: Fault, options: FaultOptions): void {
    const times = options.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError(`times must be a positive integer, got ${times}`);
    this.faults.push({ fault, remaining: times, target: options.operation });
  }

  private takeFault(target: FakeGatewayTarget): Fault | null {
    const queued = this.faults.find((candidate) => candidate.target === undefined || candidate.target === target);
    if (!queued) return null;
    queued.remaining -= 1;
    if (queued.remaining === 0) this.faults = this.faults.filter((candidate) => candidate !== queued);
    return queued.fault;
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    this.counters.requestCount += 1;
    const raw = await readBody(request);
    const route = parseRoute(request.method, request.url);
    if (!route) return send(response, { status: 404, body: { status: 'error', message: 'No such route.' } });
    const target: FakeGatewayTarget = route.kind === 'status' ? 'status' : route.operation;
    this.requestsByTarget[target] += 1;

    const fault = this.takeFault(target);
    if (fault?.kind === 'dropConnection') {
      request.socket.destroy();
      return;
    }
    if (fault?.kind === 'fail5xx') return send(response, { status: 503, body: { status: 'error', message: 'Service unavailable.' } });

    if (request.headers.authorization !== `Bearer ${this.secret}`) {
      return send(response, { status: 401, body: { status: 'error', message: 'Invalid API secret.' } });
    }
    const key = route.kind === 'status' ? route.key : request.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0 || key.length > 255) {
      return send(response, { status: 400, body: { status: 'error', message: 'An Idempotency-Key header is required.' } });
    }
    const recordKey = `${route.operation}:${key}`;
    if (this.inProgress.has(recordKey)) {
      return send(response, { status: 409, body: { status: 'in_progress', message: 'A request with this key is in progress.' } });
    }

    if (fault?.kind === 'slow') {
      // Only an operation is "in progress" while it is slow; a slow status check holds nothing.
      const holdsKey = route.kind === 'operation';
      if (holdsKey) this.inProgress.add(recordKey);
      try {
        await this.delay(fault.ms);
      } finally {
        if (holdsKey) this.inProgress.delete(recordKey);
      }
    }

    const answer = route.kind === 'status' ? this.statusOf(recordKey) : this.perform(route.operation, recordKey, raw);
    if (fault?.kind === 'timeoutAfterCharge') return; // The socket stays open until the client aborts or close().
    if (fault?.kind === 'malformedAnswer') {
      response.writeHead(fault.status, { 'content-type': 'application/json' });
      response.end(fault.body);
      return;
    }
    send(response, answer);
  }

  private statusOf(recordKey: string): Answer {
    return this.records.get(recordKey)?.answer ?? { status: 404, body: { status: 'not_found' } };
  }

  private perform(operation: FakeGatewayOperation, recordKey: string, raw: string): Answer {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      return refused(400, 'The body must be a JSON object.');
    }
    const fingerprint = JSON.stringify([body.amountMinor, body.currency, body.paymentToken, body.reference, body.gatewayPaymentId]);
    const record = this.records.get(recordKey);
    if (record) {
      return record.fingerprint === fingerprint ? record.answer : refused(422, 'This Idempotency-Key was used with other parameters.');
    }
    const invalid = invalidBody(operation, body);
    if (invalid) return refused(400, invalid);
    const answer = this.apply(operation, body);
    this.records.set(recordKey, { fingerprint, answer });
    return answer;
  }

  private apply(operation: FakeGatewayOperation, body: Record<string, unknown>): Answer {
    const amountMinor = typeof body.amountMinor === 'string' ? BigInt(body.amountMinor) : 0n;
    const currency = body.currency as string;
    if (operation === 'authorize') {
      if (body.paymentToken === 'tok_decline') {
        return { status: 402, body: { status: 'declined', declineCode: 'INSUFFICIENT_FUNDS', message: 'Insufficient funds.' } };
      }
      if (body.paymentToken !== 'tok_approve') return refused(422, 'Unknown payment token.');
      this.paymentSequence += 1;
      const gatewayPaymentId = `fake_pay_${this.paymentSequence}`;
      this.payments.set(gatewayPaymentId, {
        currency,
        authorizedAmountMinor: amountMinor,
        capturedAmountMinor: 0n,
        refundedAmountMinor: 0n,
        voided: false,
        captureCount: 0,
        refundCount: 0,
      });
      this.counters.chargeCount += 1;
      return { status: 200, body: { status: 'succeeded', gatewayPaymentId, card: { brand: 'visa', last4: '4242' } } };
    }

    const gatewayPaymentId = body.gatewayPaymentId as string;
    const payment = this.payments.get(gatewayPaymentId);
    if (!payment) return refused(422, 'No such payment.');
    if (operation !== 'void' && currency !== payment.currency) return refused(422, 'Currency mismatch.');
    switch (operation) {
      case 'capture': {
        if (payment.voided || payment.captureCount > 0) return refused(422, 'The payment cannot be captured.');
        if (amountMinor > payment.authorizedAmountMinor) return refused(422, 'The capture exceeds the authorization.');
        payment.capturedAmountMinor = amountMinor;
        payment.captureCount += 1;
        this.counters.captureCount += 1;
        const feeMinor = (amountMinor * 29n + 500n) / 1000n + 30n;
        return { status: 200, body: { status: 'succeeded', gatewayPaymentId, feeMinor: feeMinor.toString() } };
      }
      case 'void': {
        if (payment.voided || payment.captureCount > 0) return refused(422, 'The payment cannot be voided.');
        payment.voided = true;
        this.counters.voidCount += 1;
        return { status: 200, body: { status: 'succeeded', gatewayPaymentId } };
      }
      case 'refund': {
        if (amountMinor > payment.capturedAmountMinor - payment.refundedAmountMinor) return refused(422, 'The refund exceeds what is refundable.');
        payment.refundedAmountMinor += amountMinor;
        payment.refundCount += 1;
        this.counters.refundCount += 1;
        this.refundSequence += 1;
        return { status: 200, body: { status: 'succeeded', gatewayPaymentId, gatewayRefundId: `fake_re_${this.refundSequence}` } };
      }
    }
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }
}

type Route = { kind: 'operation'; operation: FakeGatewayOperation } | { kind: 'status'; operation: FakeGatewayOperation; key: string };

function parseRoute(method: string | undefined, url: string | undefined): Route | null {
  if (!url?.startsWith(`${BASE_PATH}/`)) return null;
  const parts = url.slice(BASE_PATH.length + 1).split('/');
  const operation = OPERATIONS.find((candidate) => candidate === parts[0] || candidate === parts[1]);
  if (!operation) return null;
  if (method === 'POST' && parts.length === 1) return { kind: 'operation', operation };
  if (method === 'GET' && parts.length === 3 && parts[0] === 'operations' && parts[1] === operation) {
    try {
      return { kind: 'status', operation, key: decodeURIComponent(parts[2]) };
    } catch {
      return null;
    }
  }
  return null;
}

function invalidBody(operation: FakeGatewayOperation, body: Record<string, unknown>): string | null {
  if (operation === 'authorize') {
    if (typeof body.paymentToken !== 'string' || typeof body.reference !== 'string') return 'paymentToken and reference are required.';
  } else if (typeof body.gatewayPaymentId !== 'string') {
    return 'gatewayPaymentId is required.';
  }
  if (operation === 'void') return null;
  if (typeof body.amountMinor !== 'string' || !AMOUNT.test(body.amountMinor)) return 'amountMinor must be a positive decimal string.';
  if (typeof body.currency !== 'string' || !CURRENCY.test(body.currency)) return 'currency must be an ISO 4217 code.';
  return null;
}

function refused(status: number, message: string): Answer {
  return { status, body: { status: 'rejected', message } };
}

function send(response: http.ServerResponse, answer: Answer): void {
  response.writeHead(answer.status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(answer.body));
}

async function readBody(request: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
