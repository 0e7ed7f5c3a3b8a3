import { AuditActorKind } from '../modules/audit/audit.types';
import type { AuditActor } from './audit-http';
import crypto from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ErrorCode, errorCodeTraits } from '../common/errors';
import { idKindOf } from '../common/ids';
import { isConnectionError } from '../db/transaction';
import {
  GATEWAY_SIGNATURE_HEADER,
  type GatewaySignatureRefusal,
  parseGatewayEventBody,
  verifyGatewayEventSignature,
} from '../modules/payments/gateway-event-signature';
import type { GatewayEvent } from '../modules/payments/gateways/payment-gateway';
import type { Services } from '../services/services';
import { accessRecordOf } from './access-log';

/** Events are small JSON documents; anything larger is not one. */
const BODY_LIMIT = '64kb';
const UNAUTHENTICATED_MESSAGE = 'invalid signature';
const UNAVAILABLE_MESSAGE = 'The database is unavailable; the event was not recorded. Send it again later.';

/**
 * Checked against when the gateway id names no enabled gateway, so that an unknown id costs the same
 * HMAC as a known one and its answer comes no faster. Never matches: nobody knows it.
 */
const DECOY_SECRET = `gwsec_${crypto.randomBytes(32).toString('base64url')}`;

/** Why a request was not authenticated, for the logs only: the caller always reads "invalid signature". */
type Refusal = 'malformed_gateway_id' | 'unknown_gateway' | GatewaySignatureRefusal;

/** The id as logged: it comes from the URL, so it is cut to a length no real id exceeds. */
function loggedIdOf(gatewayId: string): string {
  return gatewayId.slice(0, 64);
}

function sendError(res: Response, status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  const retryable = errorCodeTraits(code).retryable;
  // Counted under reckon_errors_total by the HTTP metrics middleware.
  res.locals.errorCode = code;
  res
    .status(status)
    .set({ 'Cache-Control': 'no-store', ...headers })
    .json({ error: { code, message, ...(retryable ? { retryable } : {}), requestId: res.locals.requestId } });
}

/**
 * Content-Type must be application/json (any parameters, such as charset, allowed). Read from the
 * header itself rather than with req.is(), which answers null for an empty body: an empty JSON body is
 * still JSON-typed and is refused later, for its signature or as unreadable.
 */
function isJsonContentType(req: Request): boolean {
  const mediaType = (req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  return mediaType === 'application/json';
}

/**
 * POST /webhooks/gateways/:gatewayId: events a payment gateway reports on its own (disputes opened,
 * won, lost), signed with the gateway's webhook secret (see gateway-event-signature.ts for the scheme).
 *
 * There is no credential: the signature authenticates the request, and it names the tenant through
 * the gateway. Every failure to authenticate (no such gateway, a disabled one, a bad, missing or
 * stale signature) gets the same 401, so gateway ids cannot be probed. Each event is applied once per
 * (gateway, event id); a repeat answers 200 `duplicate`, so a gateway's retries are harmless.
 */
export function gatewayWebhookRoutes(services: Services, log: Logger): express.Router {
  const router = express.Router();

  const refuse = (res: Response, gatewayId: string, reason: Refusal) => {
    log.info({ gatewayId: loggedIdOf(gatewayId), reason, requestId: res.locals.requestId }, 'gateway event refused');
    sendError(res, 401, ErrorCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE, { 'WWW-Authenticate': `${GATEWAY_SIGNATURE_HEADER} realm="reckon"` });
  };

  const failed = (res: Response, gatewayId: string, error: unknown) => {
    if (isConnectionError(error) || (error instanceof AppError && error.code === ErrorCode.SERVICE_UNAVAILABLE)) {
      log.warn({ gatewayId, requestId: res.locals.requestId, err: error }, 'gateway event not recorded: database unavailable');
      sendError(res, 503, ErrorCode.SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE);
      return;
    }
    if (error instanceof AppError) {
      log.info({ gatewayId, requestId: res.locals.requestId, code: error.code }, 'gateway event refused by a business rule');
      sendError(res, errorCodeTraits(error.code).httpStatus, error.code, error.message);
      return;
    }
    log.error({ gatewayId, requestId: res.locals.requestId, err: error }, 'gateway event failed');
    sendError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
  };

  router.post(
    '/webhooks/gateways/:gatewayId',
    (req, res, next) => {
      if (isJsonContentType(req)) {
        next();
        return;
      }
      log.info({ gatewayId: loggedIdOf(String(req.params.gatewayId)), reason: 'unsupported_media_type', requestId: res.locals.requestId }, 'gateway event refused');
      sendError(res, 415, ErrorCode.VALIDATION_FAILED, 'Content-Type must be application/json');
    },
    // The raw bytes, not parsed JSON: the signature covers the body exactly as sent. Compressed bodies
    // are refused (415) so that "exactly as sent" has one meaning.
    express.raw({ type: 'application/json', limit: BODY_LIMIT, inflate: false }),
    async (req, res) => {
      const gatewayId = String(req.params.gatewayId);
      const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      try {
        // A malformed id needs no lookup; it still gets the same answer as an unknown one.
        const wellFormed = idKindOf(gatewayId) === 'paymentGateway';
        // The route has no credential, so the per-credential limit applies per gateway id: a flood of
        // events (or of forgeries) for one gateway costs at most RATE_LIMIT_PER_SECOND lookups a second.
        // Gateways retry a 429 later, as they retry any delivery that failed.
        const retryAfterSeconds = wellFormed ? await services.requestRateLimiter.consume(`gateway-events:${gatewayId}`) : 0;
        if (retryAfterSeconds > 0) {
          log.info({ gatewayId, reason: 'rate_limited', requestId: res.locals.requestId }, 'gateway event refused');
          sendError(res, 429, ErrorCode.RATE_LIMITED, `Too many events for this gateway; retry after ${retryAfterSeconds} s`, {
            'Retry-After': String(retryAfterSeconds),
          });
          return;
        }
        const known = wellFormed ? await services.payments.gateways.webhookSecretOf(gatewayId) : null;
        const nowSeconds = Math.floor(services.clock.now().getTime() / 1000);
        const verdict = verifyGatewayEventSignature(known?.secret ?? DECOY_SECRET, rawBody, req.header(GATEWAY_SIGNATURE_HEADER), nowSeconds);
        if (!known) {
          refuse(res, gatewayId, wellFormed ? 'unknown_gateway' : 'malformed_gateway_id');
          return;
        }
        if (!verdict.ok) {
          refuse(res, gatewayId, verdict.reason);
          return;
        }
        // Signed: the tenant it belongs to goes in the access line.
        accessRecordOf(res).tenantId = known.tenantId;
        res.locals.auditActor = { tenantId: known.tenantId, actorKind: AuditActorKind.GATEWAY, credentialId: gatewayId } satisfies AuditActor;

        let event: GatewayEvent;
        try {
          event = parseGatewayEventBody(JSON.parse(rawBody.toString('utf8')));
        } catch (error) {
          const appError = error instanceof AppError ? error : null;
          const field = typeof appError?.details.field === 'string' ? appError.details.field : 'body';
          // The body is the gateway's own, correctly signed: its message helps its developers, and is
          // only ever about the shape, never an echo of the values.
          log.info({ gatewayId, reason: 'invalid_body', field, requestId: res.locals.requestId }, 'gateway event refused');
          sendError(res, 400, ErrorCode.VALIDATION_FAILED, appError ? appError.message : 'The body is not valid JSON');
          return;
        }

        const result = await services.payments.applyGatewayEvent(gatewayId, known.tenantId, event);
        log.info(
          {
            gatewayId,
            eventId: event.id,
            eventType: event.type,
            status: result.status,
            ...(result.status === 'ignored' ? { ignoredBecause: result.reason } : {}),
            requestId: res.locals.requestId,
          },
          'gateway event received',
        );
        res.status(200).set('Cache-Control', 'no-store').json(result);
      } catch (error) {
        failed(res, gatewayId, error);
      }
    },
  );

  // A body the raw parser refuses (too large, compressed, cut short) is answered in this route's JSON
  // shape, not with Express's default HTML page and its stack trace.
  const refuseUnreadableBody: express.ErrorRequestHandler = (error: { status?: unknown; type?: unknown }, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    // Mounted on the prefix, this handler has no :gatewayId parameter; the rest of the path is the id.
    const gatewayId = loggedIdOf(req.path.replace(/^\//, ''));
    log.info({ gatewayId, reason: String(error.type ?? 'unreadable_body'), requestId: res.locals.requestId }, 'gateway event refused');
    if (error.type === 'entity.too.large') sendError(res, 413, ErrorCode.QUERY_TOO_LARGE, `The body is larger than ${BODY_LIMIT}`);
    else if (error.type === 'encoding.unsupported') sendError(res, 415, ErrorCode.VALIDATION_FAILED, 'Content-Encoding is not accepted; send the body uncompressed');
    else sendError(res, 400, ErrorCode.VALIDATION_FAILED, 'The request body could not be read');
  };
  router.use('/webhooks/gateways', refuseUnreadableBody);

  return router;
}
