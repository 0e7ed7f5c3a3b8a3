import fs from 'node:fs';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ErrorCode, validationError } from '../common/errors';
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
import { sendRestError } from './rest-errors';
import { DEFAULT_SPOOL_DIRECTORY, spoolRequestBody } from './statement-spool';

export interface StatementUploadOptions {
  /** The largest file the upload takes, decoded (STATEMENT_UPLOAD_MAX_BYTES; GraphQL's importBankStatement takes 2 MB). */
  maxBytes: number;
  /** The largest camt or OFX file, which is read whole (STATEMENT_XML_MAX_BYTES); CSV and MT940 stream. */
  wholeDocumentMaxBytes: number;
  /** Where uploads are spooled while they are imported (STATEMENT_SPOOL_DIR). */
  spoolDirectory?: string;
}

/** Bytes read from the spool file at a time. */
const SPOOL_READ_CHUNK = 256 * 1024;
/** The CSV mapping as a header, when not in the query string. */
export const CSV_MAPPING_HEADER = 'reckon-csv-mapping';
/**
 * The idempotency operation of the upload: its keys are apart from those of the GraphQL mutation
 * (whose fingerprint covers the document's selection set, which an upload has none of).
 */
const OPERATION = 'upload:importBankStatement';

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
 * a GraphQL document should carry (up to STATEMENT_UPLOAD_MAX_BYTES, 1 GiB by default; gzip or
 * deflate Content-Encoding accepted). The body is spooled to a temporary file as it arrives and
 * imported from it as a stream, so a file of a million lines never sits in memory. `?format=` names
 * the format; a CSV file's mapping comes as JSON in `?csvMapping=` or the Reckon-Csv-Mapping header.
 * Authenticated like /graphql (Authorization: Bearer …, scope reconciliation:write) before a byte of
 * the body is read, idempotent with the Idempotency-Key header, and answered once the lines are
 * imported and matched with the same JSON as importBankStatement's payload; errors as
 * `{ error: { code, message, details, requestId } }` with the code's HTTP status.
 */
export function bankStatementRoutes(
  services: Services,
  log: Logger,
  authenticate: (req: Request, requestId: string) => Promise<RequestContext>,
  options: StatementUploadOptions,
): express.Router {
  const router = express.Router();

  const failed = (res: Response, error: unknown) => {
    const requestId = res.locals.requestId;
    if (error instanceof AppError) {
      log.info({ requestId, code: error.code, location: error.details.location }, 'statement upload refused');
      const headers: Record<string, string> =
        error.code === ErrorCode.UNAUTHENTICATED ? { 'WWW-Authenticate': 'Bearer realm="reckon"' } : error.code === ErrorCode.RATE_LIMITED && typeof error.details.retryAfterSeconds === 'number' ? { 'Retry-After': String(error.details.retryAfterSeconds) } : {};
      sendRestError(res, error, headers);
      return;
    }
    if (isStatementTimeout(error)) {
      log.warn({ requestId }, 'statement upload ran past its statement time limit');
      sendRestError(res, statementTimeoutError(error));
      return;
    }
    if (isConnectionError(error)) {
      log.warn({ requestId, err: error }, 'statement upload failed: database unavailable');
      sendRestError(res, new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable; nothing was imported. Retry later with the same Idempotency-Key.'));
      return;
    }
    log.error({ err: error, requestId }, 'statement upload failed');
    sendRestError(res, new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
  };

  router.post('/bank-accounts/:id/statements', async (req, res) => {
    const requestId = String(res.locals.requestId);
    let spooled: Awaited<ReturnType<typeof spoolRequestBody>> | null = null;
    // The answer goes out once the spool file is gone: a client that reads it finds nothing left behind.
    let reply: () => void = () => undefined;
    try {
      const ctx = await authenticate(req, requestId);
      if (!allowsScope(ctx.principal.scopes, Scope.RECONCILIATION_WRITE)) throw insufficientScopeError(Scope.RECONCILIATION_WRITE);
      const bankAccountId = String(req.params.id);
      const format = formatOf(req);
      const rawMapping = csvMappingOf(req);
      const csvMapping = rawMapping === null ? null : toCsvMapping(rawMapping);
      // Before the body is read: a wrong id costs the client no upload.
      await services.reconciliation.getBankAccount(ctx.principal.tenantId, bankAccountId);
      const body = await spoolRequestBody(req, { maxBytes: options.maxBytes, directory: options.spoolDirectory ?? DEFAULT_SPOOL_DIRECTORY });
      spooled = body;
      // A large file: its statements run under the long statement limit, as imports do.
      const run = (handle?: Parameters<typeof services.reconciliation.importStatementStream>[2]) =>
        withLongStatements(() =>
          services.reconciliation.importStatementStream(
            ctx.principal.tenantId,
            {
              bankAccountId,
              format,
              csvMapping,
              byteLength: body.byteLength,
              encoding: body.encoding,
              wholeDocumentLimitBytes: options.wholeDocumentMaxBytes,
              open: () => fs.createReadStream(body.path, { highWaterMark: SPOOL_READ_CHUNK }),
            },
            handle,
          ),
        );

      const keyHeader = req.header('idempotency-key');
      const imported = (result: Awaited<ReturnType<typeof run>>) =>
        log.info(
          { requestId, tenantId: ctx.principal.tenantId, bankAccountId, format, bytes: body.byteLength, importedLineCount: result.importedLineCount, duplicateLineCount: result.duplicateLineCount, confirmedLineCount: result.confirmedLineCount },
          'statement uploaded',
        );
      if (keyHeader === undefined) {
        const result = await run();
        imported(result);
        reply = () => res.status(200).set('Cache-Control', 'no-store').json(importResultJson(result));
        return;
      }
      const key = requireIdempotencyKey(keyHeader, 'Idempotency-Key');
      const scope = { tenantId: ctx.principal.tenantId, credentialId: ctx.principal.credentialId, operation: OPERATION, key };
      // The body's hash stands for the body: a fingerprint digests every leaf it is given.
      const claim = await services.idempotency.claim(scope, fingerprintOf(OPERATION, { input: { bankAccountId, format, contentSha256: body.sha256, csvMapping } }, ''));
      if (claim.kind === 'replay') {
        const { outcome } = claim;
        if (outcome.error) throw new AppError(outcome.error.code, outcome.error.message, outcome.error.details);
        const answer =
          outcome.responseJson ?? JSON.stringify(importResultJson(await services.reconciliation.importResultOf(ctx.principal.tenantId, outcome.resultRef as ImportResultRef)));
        log.info({ requestId, tenantId: ctx.principal.tenantId, bankAccountId, format, replayed: true }, 'statement upload replayed');
        reply = () => res.status(200).set({ 'Cache-Control': 'no-store', 'Idempotency-Replayed': 'true', 'Content-Type': 'application/json; charset=utf-8' }).send(answer);
        return;
      }
      let answer: string;
      try {
        const result = await run(claim.handle);
        imported(result);
        answer = JSON.stringify(importResultJson(result));
      } catch (error) {
        // Nothing was decided (a refused file, an outage): the key is free again.
        await services.idempotency.release(claim.handle).catch(() => undefined);
        throw error;
      }
      await services.idempotency.storeResponse(claim.handle, answer).catch(() => undefined);
      reply = () => res.status(200).set({ 'Cache-Control': 'no-store', 'Content-Type': 'application/json; charset=utf-8' }).send(answer);
    } catch (error) {
      reply = () => failed(res, error);
    } finally {
      await spooled?.remove().catch((error: unknown) => log.warn({ err: error, requestId }, 'a spooled statement file could not be deleted'));
      reply();
    }
  });

  return router;
}
