import crypto from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ErrorCode, errorCodeTraits, validationError } from '../common/errors';
import { withLongStatements } from '../db/statement-scope';
import { isConnectionError, isStatementTimeout, statementTimeoutError } from '../db/transaction';
import type { RequestContext } from '../graphql/context';
import { allowsScope, insufficientScopeError, Scope } from '../modules/auth/scopes';
import { fingerprintOf } from '../modules/idempotency/fingerprint';
import { requireIdempotencyKey } from '../modules/idempotency/idempotency.service';
import { toCsvMapping } from '../modules/reconciliation/csv-mapping';
import { importResultJson } from '../modules/reconciliation/import-result-json';
import { StatementFormat } from '../modules/reconciliation/importers/statement-types';
import type { ImportResultRef } from '../modules/reconciliation/reconciliation.service';
import type { Services } from '../services/services';

/** The largest statement file the upload takes (GraphQL's importBankStatement takes 2 MB). */
export const STATEMENT_UPLOAD_LIMIT_BYTES = 20 * 1024 * 1024;
/** The CSV mapping as a header, when not in the query string. */
export const CSV_MAPPING_HEADER = 'reckon-csv-mapping';
/**
 * The idempotency operation of the upload: its keys are apart from those of the GraphQL mutation
 * (whose fingerprint covers the document's selection set, which an upload has none of).
 */
const OPERATION = 'upload:importBankStatement';

function sendError(res: Response, error: AppError, headers: Record<string, string> = {}): void {
  const { httpStatus, retryable } = errorCodeTraits(error.code);
  res
    .status(httpStatus)
    .set({ 'Cache-Control': 'no-store', ...headers })
    .json({
      error: {
        code: error.code,
        message: error.message,
        ...(retryable ? { retryable } : {}),
        ...(Object.keys(error.details).length ? { details: error.details } : {}),
        requestId: res.locals.requestId,
      },
    });
}

function formatOf(req: Request): StatementFormat {
  const given = typeof req.query.format === 'string' ? req.query.format.toUpperCase() : '';
  if (!(Object.values(StatementFormat) as string[]).includes(given)) {
    throw validationError(`?format= must be one of ${Object.values(StatementFormat).join(', ')}`, { field: 'format' });
  }
  return given as StatementFormat;
}

function csvMappingOf(req: Request): unknown {
  const text = typeof req.query.csvMapping === 'string' ? req.query.csvMapping : req.header(CSV_MAPPING_HEADER);
  if (text === undefined || text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw validationError(`The CSV mapping (?csvMapping= or the ${CSV_MAPPING_HEADER} header) is not JSON`, { field: 'csvMapping' });
  }
}

/**
 * POST /bank-accounts/:id/statements: a statement file as the raw request body, for files larger than
 * a GraphQL document should carry (up to 20 MB). `?format=` names the format; a CSV file's mapping
 * comes as JSON in `?csvMapping=` or the Reckon-Csv-Mapping header. Authenticated like /graphql
 * (Authorization: Bearer …, scope reconciliation:write), idempotent with the Idempotency-Key header,
 * and answered with the same JSON as importBankStatement's payload; errors as
 * `{ error: { code, message, details, requestId } }` with the code's HTTP status.
 */
export function bankStatementRoutes(
  services: Services,
  log: Logger,
  authenticate: (req: Request, requestId: string) => Promise<RequestContext>,
): express.Router {
  const router = express.Router();

  const failed = (res: Response, error: unknown) => {
    const requestId = res.locals.requestId;
    if (error instanceof AppError) {
      log.info({ requestId, code: error.code, location: error.details.location }, 'statement upload refused');
      const headers: Record<string, string> =
        error.code === ErrorCode.UNAUTHENTICATED ? { 'WWW-Authenticate': 'Bearer realm="reckon"' } : error.code === ErrorCode.RATE_LIMITED && typeof error.details.retryAfterSeconds === 'number' ? { 'Retry-After': String(error.details.retryAfterSeconds) } : {};
      sendError(res, error, headers);
      return;
    }
    if (isStatementTimeout(error)) {
      log.warn({ requestId }, 'statement upload ran past its statement time limit');
      sendError(res, statementTimeoutError(error));
      return;
    }
    if (isConnectionError(error)) {
      log.warn({ requestId, err: error }, 'statement upload failed: database unavailable');
      sendError(res, new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable; nothing was imported. Retry later with the same Idempotency-Key.'));
      return;
    }
    log.error({ err: error, requestId }, 'statement upload failed');
    sendError(res, new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
  };

  router.post(
    '/bank-accounts/:id/statements',
    express.raw({ type: () => true, limit: STATEMENT_UPLOAD_LIMIT_BYTES }),
    async (req, res) => {
      const requestId = String(res.locals.requestId);
      try {
        const ctx = await authenticate(req, requestId);
        if (!allowsScope(ctx.principal.scopes, Scope.RECONCILIATION_WRITE)) throw insufficientScopeError(Scope.RECONCILIATION_WRITE);
        const bankAccountId = String(req.params.id);
        const format = formatOf(req);
        const rawMapping = csvMappingOf(req);
        const csvMapping = rawMapping === null ? null : toCsvMapping(rawMapping);
        const content = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        // A file of up to 20 MB: its statements run under the long statement limit, as imports do.
        const run = (handle?: Parameters<typeof services.reconciliation.importStatement>[2]) =>
          withLongStatements(() => services.reconciliation.importStatement(ctx.principal.tenantId, { bankAccountId, format, content, csvMapping }, handle));

        const keyHeader = req.header('idempotency-key');
        const imported = (result: Awaited<ReturnType<typeof run>>) =>
          log.info(
            { requestId, tenantId: ctx.principal.tenantId, bankAccountId, format, bytes: content.length, importedLineCount: result.importedLineCount, duplicateLineCount: result.duplicateLineCount, confirmedLineCount: result.confirmedLineCount },
            'statement uploaded',
          );
        if (keyHeader === undefined) {
          const result = await run();
          imported(result);
          res.status(200).set('Cache-Control', 'no-store').json(importResultJson(result));
          return;
        }
        const key = requireIdempotencyKey(keyHeader, 'Idempotency-Key');
        const scope = { tenantId: ctx.principal.tenantId, credentialId: ctx.principal.credentialId, operation: OPERATION, key };
        // The body's hash stands for the body: a fingerprint digests every leaf it is given.
        const contentSha256 = crypto.createHash('sha256').update(content).digest('hex');
        const claim = await services.idempotency.claim(scope, fingerprintOf(OPERATION, { input: { bankAccountId, format, contentSha256, csvMapping } }, ''));
        if (claim.kind === 'replay') {
          const { outcome } = claim;
          if (outcome.error) throw new AppError(outcome.error.code, outcome.error.message, outcome.error.details);
          const body =
            outcome.responseJson ?? JSON.stringify(importResultJson(await services.reconciliation.importResultOf(ctx.principal.tenantId, outcome.resultRef as ImportResultRef)));
          log.info({ requestId, tenantId: ctx.principal.tenantId, bankAccountId, format, replayed: true }, 'statement upload replayed');
          res.status(200).set({ 'Cache-Control': 'no-store', 'Idempotency-Replayed': 'true', 'Content-Type': 'application/json; charset=utf-8' }).send(body);
          return;
        }
        let body: string;
        try {
          const result = await run(claim.handle);
          imported(result);
          body = JSON.stringify(importResultJson(result));
        } catch (error) {
          // Nothing was decided (a refused file, an outage): the key is free again.
          await services.idempotency.release(claim.handle).catch(() => undefined);
          throw error;
        }
        await services.idempotency.storeResponse(claim.handle, body).catch(() => undefined);
        res.status(200).set({ 'Cache-Control': 'no-store', 'Content-Type': 'application/json; charset=utf-8' }).send(body);
      } catch (error) {
        failed(res, error);
      }
    },
  );

  // A body the raw parser refuses (too large, an unknown encoding, cut short) is answered in this
  // route's JSON shape, not with Express's default page.
  const refuseUnreadableBody: express.ErrorRequestHandler = (error: { type?: unknown }, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error.type === 'entity.too.large') {
      sendError(res, new AppError(ErrorCode.QUERY_TOO_LARGE, `The file is larger than ${STATEMENT_UPLOAD_LIMIT_BYTES / 1024 / 1024} MB; split it by period`));
    } else if (error.type === 'encoding.unsupported') {
      sendError(res, validationError('This Content-Encoding is not accepted; send the file as it is, or gzip/deflate', { field: 'body' }));
    } else {
      sendError(res, validationError('The request body could not be read', { field: 'body' }));
    }
  };
  router.use('/bank-accounts', refuseUnreadableBody);

  return router;
}
