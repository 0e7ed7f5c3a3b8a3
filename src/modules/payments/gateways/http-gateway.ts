/**
 * The generic JSON-over-HTTP gateway adapter, and the protocol a third party implements to be one.
 *
 * Protocol, version 1
 * ===================
 *
 * Every request carries:
 *   Authorization: Bearer <apiSecret>
 *   Idempotency-Key: <key>            1 to 255 printable ASCII characters, spaces only inside
 *   Content-Type: application/json    (on POST)
 *   Accept: application/json
 *
 * Amounts are JSON strings of decimal digits in the currency's minor units ("amountMinor": "1234" is
 * 12.34 USD), never JSON numbers, which lose precision past 2^53. Currencies are ISO 4217 codes.
 *
 *   POST {baseUrl}/authorize  {"amountMinor", "currency", "paymentToken", "reference"}
 *   POST {baseUrl}/capture    {"gatewayPaymentId", "amountMinor", "currency"}
 *   POST {baseUrl}/void       {"gatewayPaymentId"}
 *   POST {baseUrl}/refund     {"gatewayPaymentId", "amountMinor", "currency"}
 *
 * The gateway must be idempotent per (operation, Idempotency-Key): a request with a key it has seen
 * answers what the first one answered without doing anything again. Reckon retries with the same key
 * whenever an outcome is unknown, so this is what keeps a customer from being charged twice.
 *
 * Answers:
 *   200 {"status": "succeeded", ...}   done. Fields by operation:
 *       authorize: "gatewayPaymentId" (required, 1-255 printable ASCII), "card": {"brand", "last4"} or null
 *                  ("brand" 1-32 characters of letters, digits, space, "_" or "-"; "last4" exactly 4 digits)
 *       capture:   "feeMinor" (decimal string, 0 when absent)
 *       refund:    "gatewayRefundId" (required, 1-255 printable ASCII)
 *       capture, void, refund may echo "gatewayPaymentId"; if they do it must be the one sent.
 *   402 {"status": "declined", "declineCode": "...", "message": "..."}   refused, definitely not done.
 *       declineCode is one of INSUFFICIENT_FUNDS, EXPIRED_CARD, FRAUD_SUSPECTED, DO_NOT_HONOR,
 *       GATEWAY_REJECTED; another value is read as DO_NOT_HONOR.
 *   408, 409, 425, 429   not done yet, or still in progress under this key (409 is how a gateway says
 *       "this key is being processed right now"): the outcome is unknown and Reckon retries later.
 *   any other 4xx        the request itself was refused (bad secret, bad parameters, key reused with
 *       other parameters): definitely not done. Reckon reports GATEWAY_REJECTED.
 *   5xx, a timeout, a reset or refused connection, a redirect, or a 200 that is not valid as above:
 *       the outcome is unknown. Reckon retries with the same key, or asks for the status.
 *
 *   GET {baseUrl}/operations/{operation}/{Idempotency-Key, URL-encoded}   (operation: authorize|capture|void|refund)
 *       200 and 402 as above: what the operation with this key did.
 *       404 {"status": "not_found"}: the gateway never received an operation with this key, so nothing
 *           happened. The body is required: a bare 404 (a proxy's, a wrong path's) is not proof of that.
 *       anything else: unknown (a refused status check says nothing about the operation).
 *
 * Answers larger than 64 KiB are not read. Each attempt, connection and answer included, must finish
 * within the credentials' timeoutMs.
 *
 * The adapter never trusts an answer: every field is checked, and an answer that does not fit is an
 * unknown outcome with a reason. Neither the apiSecret nor the payment token appears in any reason or
 * message it produces; a gateway's own decline message is cleaned of both before it is passed on.
 */
import { validationError } from '../../../common/errors';
import { MAX_MINOR_UNITS } from '../../../common/money';
import {
  type AuthorizeRequest,
  type Authorization,
  type Capture,
  type CaptureRequest,
  DeclineCode,
  type GatewayCard,
  type GatewayCredentials,
  GatewayKind,
  type GatewayOperation,
  type GatewayOutcome,
  type GatewayRefund,
  type OperationStatus,
  type PaymentGateway,
  type RefundRequest,
  type StatusRequest,
  type VoidRequest,
} from './payment-gateway';

export type HttpGatewayCredentials = Extract<GatewayCredentials, { kind: GatewayKind.HTTP }>;

export const DEFAULT_HTTP_GATEWAY_TIMEOUT_MS = 10_000;
export const MIN_HTTP_GATEWAY_TIMEOUT_MS = 100;
export const MAX_HTTP_GATEWAY_TIMEOUT_MS = 60_000;
const MIN_API_SECRET_LENGTH = 8;
const MAX_API_SECRET_LENGTH = 512;
const MAX_BASE_URL_LENGTH = 2048;
const MAX_ANSWER_BYTES = 64 * 1024;
const MAX_ID_LENGTH = 255;
const MAX_MESSAGE_LENGTH = 500;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const DECIMAL_DIGITS = /^(0|[1-9]\d*)$/;
const CARD_BRAND = /^[A-Za-z0-9 _-]{1,32}$/;
const CARD_LAST4 = /^\d{4}$/;
/** 408, 409, 425 and 429 say "not now" or "still in progress", never "refused": the outcome is open. */
const UNKNOWN_CLIENT_STATUSES = new Set([408, 409, 425, 429]);
const DECLINE_CODES = new Set<string>(Object.values(DeclineCode));

/**
 * Validates HTTP gateway credentials as an administrator enters them. https is required so that the
 * secret and the payment tokens never cross a network in clear; plain http is allowed to a loopback
 * address only when the caller says so (tests, a gateway sidecar). The URL may carry no userinfo,
 * query or fragment: credentials belong in apiSecret, and the adapter appends paths to the URL.
 */
export function parseHttpGatewayCredentials(
  input: { baseUrl: string; apiSecret: string; timeoutMs?: number | null },
  options: { allowLoopbackHttp: boolean },
): HttpGatewayCredentials {
  return {
    kind: GatewayKind.HTTP,
    baseUrl: parseBaseUrl(input.baseUrl, options.allowLoopbackHttp),
    apiSecret: parseApiSecret(input.apiSecret),
    timeoutMs: parseTimeoutMs(input.timeoutMs),
  };
}

function parseBaseUrl(raw: string, allowLoopbackHttp: boolean): string {
  const field = 'baseUrl';
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_BASE_URL_LENGTH) {
    throw validationError(`baseUrl must be a URL of 1 to ${MAX_BASE_URL_LENGTH} characters`, { field });
  }
  if (raw.trim() !== raw || /[\s\\]/.test(raw)) throw validationError('baseUrl must not contain spaces or backslashes', { field });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw validationError('baseUrl is not a valid absolute URL such as https://gateway.example/v1', { field });
  }
  // The raw text is checked as well as the parsed URL: "https://host/?" parses to an empty query.
  if (raw.includes('?') || raw.includes('#')) throw validationError('baseUrl must not have a query or a fragment', { field });
  if (url.username !== '' || url.password !== '' || /^[^:]+:\/\/[^/]*@/.test(raw)) {
    throw validationError('baseUrl must not contain a user name or password; put the secret in apiSecret', { field });
  }
  if (url.protocol === 'http:') {
    if (!allowLoopbackHttp || !LOOPBACK_HOSTS.has(url.hostname)) {
      throw validationError('baseUrl must use https (plain http is allowed only to localhost, and only when enabled)', { field });
    }
  } else if (url.protocol !== 'https:') {
    throw validationError('baseUrl must use https', { field });
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function parseApiSecret(raw: string): string {
  const field = 'apiSecret';
  // The message never quotes the secret, not even part of it.
  if (typeof raw !== 'string' || raw.length < MIN_API_SECRET_LENGTH || raw.length > MAX_API_SECRET_LENGTH || !PRINTABLE_ASCII.test(raw)) {
    throw validationError(
      `apiSecret must be ${MIN_API_SECRET_LENGTH} to ${MAX_API_SECRET_LENGTH} printable ASCII characters without spaces`,
      { field },
    );
  }
  return raw;
}

function parseTimeoutMs(raw: number | null | undefined): number {
  if (raw === null || raw === undefined) return DEFAULT_HTTP_GATEWAY_TIMEOUT_MS;
  if (!Number.isInteger(raw) || raw < MIN_HTTP_GATEWAY_TIMEOUT_MS || raw > MAX_HTTP_GATEWAY_TIMEOUT_MS) {
    throw validationError(`timeoutMs must be a whole number from ${MIN_HTTP_GATEWAY_TIMEOUT_MS} to ${MAX_HTTP_GATEWAY_TIMEOUT_MS}`, {
      field: 'timeoutMs',
      min: MIN_HTTP_GATEWAY_TIMEOUT_MS,
      max: MAX_HTTP_GATEWAY_TIMEOUT_MS,
    });
  }
  return raw;
}

/** What one HTTP exchange produced, before it is read as an outcome. */
type Exchange = { kind: 'answered'; status: number; body: unknown; bodyParsed: boolean } | { kind: 'failed'; reason: string };

type Declined = { kind: 'declined'; declineCode: DeclineCode; message: string };
type Unknown = { kind: 'unknown'; reason: string };

export class HttpGateway implements PaymentGateway {
  readonly kind = GatewayKind.HTTP;
  private readonly baseUrl: string;

  constructor(private readonly credentials: HttpGatewayCredentials) {
    this.baseUrl = credentials.baseUrl.replace(/\/+$/, '');
  }

  async authorize(request: AuthorizeRequest): Promise<GatewayOutcome<Authorization>> {
    const body = {
      amountMinor: request.amountMinor.toString(),
      currency: request.currency,
      paymentToken: request.paymentToken,
      reference: request.reference,
    };
    const exchange = await this.send('POST', '/authorize', request.idempotencyKey, body);
    return this.readOperationAnswer(exchange, 'authorize', [request.paymentToken], (answer) => readAuthorization(answer));
  }

  async capture(request: CaptureRequest): Promise<GatewayOutcome<Capture>> {
    const body = { gatewayPaymentId: request.gatewayPaymentId, amountMinor: request.amountMinor.toString(), currency: request.currency };
    const exchange = await this.send('POST', '/capture', request.idempotencyKey, body);
    return this.readOperationAnswer(exchange, 'capture', [], (answer) => readCapture(answer, request.gatewayPaymentId));
  }

  async void(request: VoidRequest): Promise<GatewayOutcome<Record<string, never>>> {
    const exchange = await this.send('POST', '/void', request.idempotencyKey, { gatewayPaymentId: request.gatewayPaymentId });
    return this.readOperationAnswer(exchange, 'void', [], (answer) => readVoid(answer, request.gatewayPaymentId));
  }

  async refund(request: RefundRequest): Promise<GatewayOutcome<GatewayRefund>> {
    const body = { gatewayPaymentId: request.gatewayPaymentId, amountMinor: request.amountMinor.toString(), currency: request.currency };
    const exchange = await this.send('POST', '/refund', request.idempotencyKey, body);
    return this.readOperationAnswer(exchange, 'refund', [], (answer) => readRefund(answer, request.gatewayPaymentId));
  }

  async fetchStatus(request: StatusRequest): Promise<OperationStatus> {
    const path = `/operations/${request.operation}/${encodeURIComponent(request.idempotencyKey)}`;
    const exchange = await this.send('GET', path, request.idempotencyKey, null);
    if (exchange.kind === 'failed') return { kind: 'unknown', reason: exchange.reason };
    const what = `the status of ${request.operation}`;
    if (exchange.status === 404) {
      if (isRecord(exchange.body) && exchange.body.status === 'not_found') return { kind: 'not_found' };
      return { kind: 'unknown', reason: `${what}: HTTP 404 without {"status":"not_found"}, which is no proof that nothing happened` };
    }
    if (exchange.status === 402) return this.readDecline(exchange, []);
    if (exchange.status !== 200) return { kind: 'unknown', reason: `${what}: HTTP ${exchange.status}` };
    const answer = readSucceededBody(exchange);
    if (!answer.ok) return invalidAnswer(what, answer.reason);
    switch (request.operation) {
      case 'authorize': {
        const authorization = readAuthorization(answer.value);
        return authorization.ok ? { kind: 'succeeded', authorization: authorization.value } : invalidAnswer(what, authorization.reason);
      }
      case 'capture': {
        const capture = readCapture(answer.value, null);
        return capture.ok ? { kind: 'succeeded', capture: capture.value } : invalidAnswer(what, capture.reason);
      }
      case 'void': {
        const voided = readVoid(answer.value, null);
        return voided.ok ? { kind: 'succeeded' } : invalidAnswer(what, voided.reason);
      }
      case 'refund': {
        const refund = readRefund(answer.value, null);
        return refund.ok ? { kind: 'succeeded', refund: refund.value } : invalidAnswer(what, refund.reason);
      }
    }
  }

  private readOperationAnswer<T>(
    exchange: Exchange,
    operation: GatewayOperation,
    secretsInRequest: string[],
    read: (answer: Record<string, unknown>) => Read<T>,
  ): GatewayOutcome<T> {
    if (exchange.kind === 'failed') return { kind: 'unknown', reason: exchange.reason };
    const { status } = exchange;
    if (status === 200) {
      const answer = readSucceededBody(exchange);
      if (!answer.ok) return invalidAnswer(operation, answer.reason);
      const value = read(answer.value);
      return value.ok ? { kind: 'succeeded', value: value.value } : invalidAnswer(operation, value.reason);
    }
    if (status === 402) return this.readDecline(exchange, secretsInRequest);
    if (status >= 400 && status < 500 && !UNKNOWN_CLIENT_STATUSES.has(status)) {
      const gatewayMessage = isRecord(exchange.body) && typeof exchange.body.message === 'string' ? exchange.body.message : '';
      const cleaned = this.clean(gatewayMessage, secretsInRequest);
      return {
        kind: 'declined',
        declineCode: DeclineCode.GATEWAY_REJECTED,
        message: `The gateway refused the ${operation} request (HTTP ${status})${cleaned ? `: ${cleaned}` : '.'}`,
      };
    }
    return { kind: 'unknown', reason: `${operation}: HTTP ${status}` };
  }

  /** A 402 is a decline by protocol, whatever its body: retrying it could only be refused again. */
  private readDecline(exchange: Exchange & { kind: 'answered' }, secretsInRequest: string[]): Declined {
    const body = isRecord(exchange.body) ? exchange.body : {};
    const declineCode =
      typeof body.declineCode === 'string' && DECLINE_CODES.has(body.declineCode) ? (body.declineCode as DeclineCode) : DeclineCode.DO_NOT_HONOR;
    const message = this.clean(typeof body.message === 'string' ? body.message : '', secretsInRequest);
    return { kind: 'declined', declineCode, message: message || 'The gateway declined the payment.' };
  }

  /**
   * A gateway's message is shown to API clients: it is cut short, stripped of control characters, and
   * cleaned of the secret and the payment token in case the gateway echoes them.
   */
  private clean(message: string, secretsInRequest: string[]): string {
    let cleaned = message.replace(/\p{Cc}+/gu, ' ').trim();
    for (const secret of [this.credentials.apiSecret, ...secretsInRequest]) {
      if (secret.length > 0) cleaned = cleaned.split(secret).join('[redacted]');
    }
    return cleaned.length > MAX_MESSAGE_LENGTH ? `${cleaned.slice(0, MAX_MESSAGE_LENGTH)}…` : cleaned;
  }

  private async send(method: 'GET' | 'POST', path: string, idempotencyKey: string, body: Record<string, string> | null): Promise<Exchange> {
    if (!isValidIdempotencyKey(idempotencyKey)) {
      // Not sent at all, so definitely not done; a 400 stands for what the gateway would have answered.
      const message = `the idempotency key must be 1 to ${MAX_ID_LENGTH} printable ASCII characters`;
      return { kind: 'answered', status: 400, body: { message }, bodyParsed: true };
    }
    const controller = new AbortController();
    const timeoutMs = this.credentials.timeoutMs;
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.credentials.apiSecret}`,
          'idempotency-key': idempotencyKey,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        // A redirect would carry the secret to wherever the gateway points: never follow one.
        redirect: 'manual',
        signal: controller.signal,
      });
      const text = await readAnswerText(response);
      if (text === null) return { kind: 'failed', reason: `${describePath(path)}: the answer is larger than ${MAX_ANSWER_BYTES} bytes` };
      let parsed: unknown = null;
      let bodyParsed = false;
      try {
        parsed = JSON.parse(text);
        bodyParsed = true;
      } catch {
        parsed = null;
      }
      return { kind: 'answered', status: response.status, body: parsed, bodyParsed };
    } catch (error) {
      if (controller.signal.aborted) return { kind: 'failed', reason: `${describePath(path)}: no answer within ${timeoutMs} ms` };
      return { kind: 'failed', reason: `${describePath(path)}: ${describeNetworkError(error)}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A field-by-field reading of an answer: the value, or why the answer does not fit the protocol. */
type Read<T> = { ok: true; value: T } | { ok: false; reason: string };

function ok<T>(value: T): Read<T> {
  return { ok: true, value };
}

function bad(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** The body of a 200, if it is a JSON object with status "succeeded". */
function readSucceededBody(exchange: Exchange & { kind: 'answered' }): Read<Record<string, unknown>> {
  if (!exchange.bodyParsed) return bad('the answer is not JSON');
  if (!isRecord(exchange.body)) return bad('the answer is not a JSON object');
  if (exchange.body.status !== 'succeeded') return bad('"status" is not "succeeded"');
  return ok(exchange.body);
}

function readAuthorization(answer: Record<string, unknown>): Read<Authorization> {
  const gatewayPaymentId = answer.gatewayPaymentId;
  if (!isValidId(gatewayPaymentId)) return bad(`"gatewayPaymentId" must be 1 to ${MAX_ID_LENGTH} printable ASCII characters`);
  const card = readCard(answer.card);
  return card.ok ? ok({ gatewayPaymentId, card: card.value }) : card;
}

function readCard(raw: unknown): Read<GatewayCard | null> {
  if (raw === undefined || raw === null) return ok(null);
  if (!isRecord(raw)) return bad('"card" must be an object or null');
  if (typeof raw.brand !== 'string' || !CARD_BRAND.test(raw.brand)) return bad('"card.brand" must be 1 to 32 letters, digits, spaces, "_" or "-"');
  if (typeof raw.last4 !== 'string' || !CARD_LAST4.test(raw.last4)) return bad('"card.last4" must be exactly 4 digits');
  return ok({ brand: raw.brand, last4: raw.last4 });
}

function readCapture(answer: Record<string, unknown>, gatewayPaymentId: string | null): Read<Capture> {
  const echo = checkEcho(answer, gatewayPaymentId);
  if (echo) return echo;
  if (answer.feeMinor === undefined || answer.feeMinor === null) return ok({ feeMinor: 0n });
  const feeMinor = readMinor(answer.feeMinor);
  if (feeMinor === null) return bad('"feeMinor" must be a string of decimal digits, not negative, within 64 bits');
  return ok({ feeMinor });
}

function readVoid(answer: Record<string, unknown>, gatewayPaymentId: string | null): Read<Record<string, never>> {
  return checkEcho(answer, gatewayPaymentId) ?? ok({});
}

function readRefund(answer: Record<string, unknown>, gatewayPaymentId: string | null): Read<GatewayRefund> {
  const echo = checkEcho(answer, gatewayPaymentId);
  if (echo) return echo;
  if (!isValidId(answer.gatewayRefundId)) return bad(`"gatewayRefundId" must be 1 to ${MAX_ID_LENGTH} printable ASCII characters`);
  return ok({ gatewayRefundId: answer.gatewayRefundId });
}

/** An answer about another payment than the one asked about is not an answer to this request. */
function checkEcho(answer: Record<string, unknown>, gatewayPaymentId: string | null): { ok: false; reason: string } | null {
  if (answer.gatewayPaymentId === undefined || answer.gatewayPaymentId === null) return null;
  if (!isValidId(answer.gatewayPaymentId)) return bad('"gatewayPaymentId" is malformed');
  if (gatewayPaymentId !== null && answer.gatewayPaymentId !== gatewayPaymentId) return bad('"gatewayPaymentId" names another payment');
  return null;
}

function readMinor(raw: unknown): bigint | null {
  if (typeof raw !== 'string' || raw.length > 19 || !DECIMAL_DIGITS.test(raw)) return null;
  const value = BigInt(raw);
  return value <= MAX_MINOR_UNITS ? value : null;
}

/**
 * Reads at most MAX_ANSWER_BYTES of the answer, or null past that: a gateway that streams without end
 * must not fill Reckon's memory. The timeout's abort signal also ends a slow body.
 */
async function readAnswerText(response: Response): Promise<string | null> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > MAX_ANSWER_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    return null;
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Names what failed without quoting anything that could hold a secret: only error codes are kept
 * (ECONNREFUSED, UND_ERR_SOCKET…), never messages, which may carry headers or URLs.
 */
function describeNetworkError(error: unknown): string {
  const codes: string[] = [];
  let current: unknown = error;
  // Duck-typed rather than `instanceof Error`: fetch's errors may come from another realm (test sandboxes).
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes.length > 0 ? `the connection failed (${codes.join(', ')})` : 'the connection failed';
}

function describePath(path: string): string {
  // A status path holds the idempotency key; the operation name is enough in a reason.
  return path.startsWith('/operations/') ? `GET ${path.split('/').slice(0, 3).join('/')}` : `POST ${path}`;
}

function invalidAnswer(what: string, reason: string): Unknown {
  return { kind: 'unknown', reason: `${what}: HTTP 200 with an invalid answer: ${reason}` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isValidId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ID_LENGTH && PRINTABLE_ASCII.test(value);
}

/** Printable ASCII, inner spaces allowed (client keys may have them), none at the ends (HTTP trims them). */
function isValidIdempotencyKey(value: string): boolean {
  return value.length <= MAX_ID_LENGTH && /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value);
}
