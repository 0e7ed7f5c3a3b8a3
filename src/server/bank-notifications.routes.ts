import { AuditActorKind } from '../modules/audit/audit.types';
import type { AuditActor } from './audit-http';
import crypto from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ErrorCode, validationError } from '../common/errors';
import { idKindOf } from '../common/ids';
import { SIGNATURE_HEADER, type SignatureRefusal, verifyRequestSignature } from '../common/request-signature';
import { isConnectionError, isStatementTimeout, statementTimeoutError } from '../db/transaction';
import { importResultJson } from '../modules/reconciliation/import-result-json';
import type { BankNotification } from '../modules/reconciliation/reconciliation.service';
import type { Services } from '../services/services';
import { sendRestError } from './rest-errors';
import { accessRecordOf } from './access-log';

/** A camt.054 of a busy day's entries fits well within this; GraphQL's importBankStatement takes as much. */
export const NOTIFICATION_BODY_LIMIT_BYTES = 2 * 1024 * 1024;
const UNAUTHENTICATED_MESSAGE = 'invalid signature';

/**
 * Checked against when the id names no bank account with a notification secret, so that an unknown id
 * costs the same HMAC as a known one and its answer comes no faster. Never matches: nobody knows it.
 */
const DECOY_SECRET = `bnsec_${crypto.randomBytes(32).toString('base64url')}`;

/** Why a request was not authenticated, for the logs only: the caller always reads "invalid signature". */
type Refusal = 'malformed_bank_account_id' | 'unknown_bank_account' | SignatureRefusal;

/** The id as logged: it comes from the URL, so it is cut to a length no real id exceeds. */
function loggedIdOf(bankAccountId: string): string {
  return bankAccountId.slice(0, 64);
}

/** What the Content-Type says the body is; null for anything else. Read from the header itself, so an empty body still has a type. */
function kindOf(req: Request): BankNotification['kind'] | null {
  const mediaType = (req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType === 'application/json') return 'PUSH';
  if (mediaType === 'application/xml' || mediaType === 'text/xml') return 'CAMT054';
  return null;
}

/**
 * POST /bank-accounts/:id/notifications: the bank's real-time notifications, a camt.054 debit/credit
 * notification (application/xml or text/xml) or a single-transaction JSON push (application/json, see
 * transaction-push.ts), signed with the account's notification secret exactly as gateway events are
 * (src/common/request-signature.ts). Their lines are stored as statement lines and matched at once;
 * the closing statement confirms them later.
 *
 * There is no API key: the signature authenticates the request, and names the tenant through the
 * bank account. Every failure to authenticate (no such account, another tenant's, a bad, missing or
 * stale signature) gets the same 401, so account ids cannot be probed. The same notification again
 * (banks retry) stores nothing and answers 200 with its lines counted as duplicates.
 */
export function bankNotificationRoutes(services: Services, log: Logger): express.Router {
  const router = express.Router();

  const refuse = (res: Response, bankAccountId: string, reason: Refusal) => {
    log.info({ bankAccountId: loggedIdOf(bankAccountId), reason, requestId: res.locals.requestId }, 'bank notification refused');
    sendRestError(res, new AppError(ErrorCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE), { 'WWW-Authenticate': `${SIGNATURE_HEADER} realm="reckon"` });
  };

  const failed = (res: Response, bankAccountId: string, error: unknown) => {
    const requestId = res.locals.requestId;
    if (isConnectionError(error) || (error instanceof AppError && error.code === ErrorCode.SERVICE_UNAVAILABLE)) {
      log.warn({ bankAccountId, requestId, err: error }, 'bank notification not stored: database unavailable');
      sendRestError(res, new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable; the notification was not stored. Send it again later.'));
      return;
    }
    if (error instanceof AppError) {
      // The body is the bank's own, correctly signed: the message names the field or element at fault
      // for its developers; the log keeps where, never the values.
      log.info({ bankAccountId, requestId, code: error.code, field: error.details.field, location: error.details.location }, 'bank notification refused');
      sendRestError(res, error);
      return;
    }
    if (isStatementTimeout(error)) {
      log.warn({ bankAccountId, requestId }, 'bank notification ran past its statement time limit');
      sendRestError(res, statementTimeoutError(error));
      return;
    }
    log.error({ bankAccountId, requestId, err: error }, 'bank notification failed');
    sendRestError(res, new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
  };

  router.post(
    '/bank-accounts/:id/notifications',
    (req, res, next) => {
      if (kindOf(req) !== null) {
        next();
        return;
      }
      log.info({ bankAccountId: loggedIdOf(String(req.params.id)), reason: 'unsupported_media_type', requestId: res.locals.requestId }, 'bank notification refused');
      sendRestError(res, validationError('Content-Type must be application/xml or text/xml (camt.054) or application/json (a transaction push)', { field: 'Content-Type' }), {}, 415);
    },
    // The raw bytes: the signature covers the body exactly as sent, so compressed bodies are refused.
    express.raw({ type: () => true, limit: NOTIFICATION_BODY_LIMIT_BYTES, inflate: false }),
    async (req, res) => {
      const bankAccountId = String(req.params.id);
      const kind = kindOf(req) as BankNotification['kind'];
      const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      try {
        const wellFormed = idKindOf(bankAccountId) === 'bankAccount';
        // No credential: the per-credential limit applies per bank account, as it does per gateway for
        // gateway events. Banks retry a 429 later, as they retry any delivery that failed.
        const retryAfterSeconds = wellFormed ? await services.requestRateLimiter.consume(`bank-notifications:${bankAccountId}`) : 0;
        if (retryAfterSeconds > 0) {
          log.info({ bankAccountId, reason: 'rate_limited', requestId: res.locals.requestId }, 'bank notification refused');
          sendRestError(res, new AppError(ErrorCode.RATE_LIMITED, `Too many notifications for this bank account; retry after ${retryAfterSeconds} s`, { retryAfterSeconds }), {
            'Retry-After': String(retryAfterSeconds),
          });
          return;
        }
        const known = wellFormed ? await services.reconciliation.notificationSecretOf(bankAccountId) : null;
        const nowSeconds = Math.floor(services.clock.now().getTime() / 1000);
        const verdict = verifyRequestSignature(known?.secret ?? DECOY_SECRET, rawBody, req.header(SIGNATURE_HEADER), nowSeconds);
        if (!known) {
          refuse(res, bankAccountId, wellFormed ? 'unknown_bank_account' : 'malformed_bank_account_id');
          return;
        }
        if (!verdict.ok) {
          refuse(res, bankAccountId, verdict.reason);
          return;
        }
        // Signed: the tenant it belongs to goes in the access line.
        accessRecordOf(res).tenantId = known.tenantId;
        res.locals.auditActor = { tenantId: known.tenantId, actorKind: AuditActorKind.BANK, credentialId: bankAccountId } satisfies AuditActor;

        let notification: BankNotification;
        if (kind === 'PUSH') {
          let json: unknown;
          try {
            json = JSON.parse(rawBody.toString('utf8'));
          } catch {
            throw validationError('The body is not valid JSON', { field: 'body' });
          }
          notification = { kind, json };
        } else {
          notification = { kind, content: rawBody };
        }
        const result = await services.reconciliation.receiveNotification(known.tenantId, bankAccountId, notification);
        log.info(
          {
            tenantId: known.tenantId,
            bankAccountId,
            kind,
            bytes: rawBody.length,
            importedLineCount: result.importedLineCount,
            duplicateLineCount: result.duplicateLineCount,
            statementIds: result.statements.map((statement) => statement.id),
            requestId: res.locals.requestId,
          },
          'bank notification received',
        );
        res.status(200).set('Cache-Control', 'no-store').json(importResultJson(result));
      } catch (error) {
        failed(res, bankAccountId, error);
      }
    },
  );

  // A body the raw parser refuses (too large, compressed, cut short) is answered in this route's JSON
  // shape, not with Express's default page. Only for this route's paths: the statement upload under
  // the same prefix has its own.
  const refuseUnreadableBody: express.ErrorRequestHandler = (error: { type?: unknown }, req, res, next) => {
    if (res.headersSent || !/^\/[^/]+\/notifications\/?$/.test(req.path)) {
      next(error);
      return;
    }
    const bankAccountId = loggedIdOf(req.path.split('/')[1] ?? '');
    log.info({ bankAccountId, reason: String(error.type ?? 'unreadable_body'), requestId: res.locals.requestId }, 'bank notification refused');
    if (error.type === 'entity.too.large') sendRestError(res, new AppError(ErrorCode.QUERY_TOO_LARGE, `The body is larger than ${NOTIFICATION_BODY_LIMIT_BYTES / 1024 / 1024} MB`));
    else if (error.type === 'encoding.unsupported') sendRestError(res, validationError('Content-Encoding is not accepted; send the body uncompressed', { field: 'body' }), {}, 415);
    else sendRestError(res, validationError('The request body could not be read', { field: 'body' }));
  };
  router.use('/bank-accounts', refuseUnreadableBody);

  return router;
}
